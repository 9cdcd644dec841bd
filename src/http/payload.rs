//! Payloads the protocol endpoints need that poem-openapi does not ship: a form body read as
//! raw OAuth parameters (so repeated parameters can be refused and errors keep the RFC
//! shape), and prepared JSON bytes served as they are.

use std::marker::PhantomData;

use bytes::Bytes;
use poem::http::header;
use poem::{IntoResponse, Request, RequestBody, Response};
use poem_openapi::payload::{ParsePayload, Payload};
use poem_openapi::registry::{MetaMediaType, MetaRequest, MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};

use super::errors;
use super::extract::MAX_FORM_BYTES;
use crate::oauth::error::OAuthError;
use crate::oauth::params::Params;

/// An `application/x-www-form-urlencoded` body, documented by the fields of `T` and read as
/// raw parameters.
pub struct OAuthForm<T> {
    pub params: Params,
    _doc: PhantomData<fn() -> T>,
}

fn is_form(content_type: &str) -> bool {
    content_type.split(';').next().is_some_and(|essence| {
        essence
            .trim()
            .eq_ignore_ascii_case("application/x-www-form-urlencoded")
    })
}

fn refuse(description: &'static str) -> poem::Error {
    poem::Error::from_response(errors::token_error(
        &OAuthError::invalid_request(description),
        false,
    ))
}

impl<T: Type> Payload for OAuthForm<T> {
    const CONTENT_TYPE: &'static str = "application/x-www-form-urlencoded";

    fn check_content_type(content_type: &str) -> bool {
        is_form(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Type> ParsePayload for OAuthForm<T> {
    const IS_REQUIRED: bool = true;

    async fn from_request(_request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let bytes = body
            .take()?
            .into_bytes_limit(MAX_FORM_BYTES)
            .await
            .map_err(|_| refuse("The request body is too large or unreadable."))?;
        let params = Params::parse(&bytes);
        if params.too_many() {
            return Err(poem::Error::from_response(errors::token_error(
                &crate::oauth::params::too_many(),
                false,
            )));
        }
        Ok(Self {
            params,
            _doc: PhantomData,
        })
    }
}

impl<'a, T: Type> ApiExtractor<'a> for OAuthForm<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        <Self as Payload>::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: <Self as Payload>::CONTENT_TYPE,
                schema: <Self as Payload>::schema_ref(),
            }],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        match request.content_type() {
            Some(ct) if is_form(ct) => <Self as ParsePayload>::from_request(request, body).await,
            _ => Err(refuse(
                "The body must be application/x-www-form-urlencoded.",
            )),
        }
    }
}

/// JSON bytes prepared once (discovery, JWKS), documented by the schema of `T`.
pub struct Prepared<T> {
    bytes: Bytes,
    _doc: PhantomData<fn() -> T>,
}

impl<T> Prepared<T> {
    pub fn new(bytes: Bytes) -> Self {
        Self {
            bytes,
            _doc: PhantomData,
        }
    }
}

impl<T: Type> Payload for Prepared<T> {
    const CONTENT_TYPE: &'static str = "application/json";

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Send> IntoResponse for Prepared<T> {
    fn into_response(self) -> Response {
        Response::builder()
            .header(header::CONTENT_TYPE, "application/json")
            .body(self.bytes)
    }
}
