//! The admin API's JSON body: read with serde, so a member of the wrong type, a missing one or
//! an unknown one is refused in the admin API's own error shape, naming it.

use poem::{IntoResponse, Request, RequestBody};
use poem_openapi::payload::{ParsePayload, Payload};
use poem_openapi::registry::{MetaMediaType, MetaRequest, MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
use serde::de::DeserializeOwned;

use super::objects::AdminFailure;
use crate::http::extract::MAX_FORM_BYTES;

/// A JSON body documented by the schema of `T` and read with serde, so a member of the wrong
/// type, a missing one or an unknown one is a 400 that names it.
pub struct AdminJson<T>(pub T);

fn json_refusal(field: Option<&str>, reason: &str) -> poem::Error {
    poem::Error::from_response(AdminFailure::unparsable(field, reason).into_response())
}

impl<T: Type> Payload for AdminJson<T> {
    const CONTENT_TYPE: &'static str = "application/json";

    fn check_content_type(content_type: &str) -> bool {
        content_type
            .split(';')
            .next()
            .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Type + DeserializeOwned> ParsePayload for AdminJson<T> {
    const IS_REQUIRED: bool = true;

    async fn from_request(_request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let bytes = body
            .take()?
            .into_bytes_limit(MAX_FORM_BYTES)
            .await
            .map_err(|_| json_refusal(None, "The request body is too large or unreadable."))?;
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        serde_path_to_error::deserialize(de).map(Self).map_err(|e| {
            let path = e.path().to_string();
            let field = (path != ".").then_some(path);
            json_refusal(field.as_deref(), &e.inner().to_string())
        })
    }
}

impl<'a, T: Type + DeserializeOwned> ApiExtractor<'a> for AdminJson<T> {
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
            Some(ct) if <Self as Payload>::check_content_type(ct) => {
                <Self as ParsePayload>::from_request(request, body).await
            }
            _ => Err(json_refusal(None, "The body must be application/json.")),
        }
    }
}
