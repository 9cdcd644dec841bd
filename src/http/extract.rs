//! Reading requests: parameters from the query or a form body (bounded), client credentials
//! from `Authorization: Basic`, bearer tokens.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use poem::http::{header, HeaderMap, Method};
use poem::{Body, Request};

use crate::oauth::client_auth::Credentials;
use crate::oauth::error::OAuthError;
use crate::oauth::params::Params;

/// The client's IP address: the connection's peer, or behind a trusted proxy the address
/// the proxy forwarded (`http::forwarded`).
pub fn client_ip(req: &Request) -> String {
    match req.extensions().get::<super::forwarded::ClientAddress>() {
        Some(address) => address.0.to_string(),
        None => req
            .remote_addr()
            .as_socket_addr()
            .map(|a| a.ip().to_canonical().to_string())
            .unwrap_or_default(),
    }
}

/// Largest form body accepted.
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// The request's parameters: the query string for GET, the form body for POST (which must be
/// `application/x-www-form-urlencoded`).
pub async fn params(req: &Request, body: Body) -> Result<Params, OAuthError> {
    if req.method() == Method::POST {
        form(req.headers(), body).await
    } else {
        let query = req.uri().query().unwrap_or_default();
        if query.len() > MAX_FORM_BYTES {
            return Err(OAuthError::invalid_request("The query string is too long."));
        }
        bounded(Params::parse(query.as_bytes()))
    }
}

/// Refuses a request with more parameters than the protocol uses, before anything else.
fn bounded(params: Params) -> Result<Params, OAuthError> {
    if params.too_many() {
        return Err(crate::oauth::params::too_many());
    }
    Ok(params)
}

/// A form-encoded body.
pub async fn form(headers: &HeaderMap, body: Body) -> Result<Params, OAuthError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(OAuthError::invalid_request(
            "The body must be application/x-www-form-urlencoded.",
        ));
    }
    let bytes = body
        .into_bytes_limit(MAX_FORM_BYTES)
        .await
        .map_err(|_| OAuthError::invalid_request("The request body is too large or unreadable."))?;
    bounded(Params::parse(&bytes))
}

/// Client credentials: `Authorization: Basic` (RFC 6749 2.3.1: id and secret are
/// form-encoded before base64), `client_id` / `client_secret` in the body, and a client
/// assertion (`client_assertion_type`, `client_assertion`; RFC 7521 4.2).
pub fn credentials(headers: &HeaderMap, params: &Params) -> Result<Credentials, OAuthError> {
    let basic =
        match headers.get(header::AUTHORIZATION) {
            None => None,
            Some(value) => {
                let value = value.to_str().map_err(|_| malformed_basic())?;
                match value.split_once(' ') {
                    Some((scheme, encoded)) if scheme.eq_ignore_ascii_case("basic") => {
                        Some(parse_basic(encoded.trim())?)
                    }
                    _ => return Err(OAuthError::invalid_client(
                        "Only Basic client authentication is accepted in the Authorization header.",
                    )),
                }
            }
        };
    Ok(Credentials {
        basic,
        client_id: params.get("client_id").map(str::to_owned),
        client_secret: params.get("client_secret").map(str::to_owned),
        assertion_type: params.get("client_assertion_type").map(str::to_owned),
        assertion: params.get("client_assertion").map(str::to_owned),
        ..Credentials::default()
    })
}

fn malformed_basic() -> OAuthError {
    OAuthError::invalid_client("The Basic credentials are malformed.")
}

pub fn parse_basic(encoded: &str) -> Result<(String, String), OAuthError> {
    if encoded.len() > 2048 {
        return Err(malformed_basic());
    }
    let decoded = STANDARD.decode(encoded).map_err(|_| malformed_basic())?;
    let text = String::from_utf8(decoded).map_err(|_| malformed_basic())?;
    let (id, secret) = text.split_once(':').ok_or_else(malformed_basic)?;
    let decode = |s: &str| -> Result<String, OAuthError> {
        // application/x-www-form-urlencoded: '+' is a space, %XX an escape.
        let pairs: Vec<(String, String)> = form_urlencoded::parse(format!("v={s}").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        match pairs.as_slice() {
            [(_, v)] => Ok(v.clone()),
            _ => Err(malformed_basic()),
        }
    };
    let id = decode(id)?;
    if id.is_empty() {
        return Err(malformed_basic());
    }
    Ok((id, decode(secret)?))
}

/// An access token from `Authorization: Bearer` (or `DPoP`) or, for form POSTs, the `access_token` body
/// parameter (RFC 6750 2.1, 2.2). `Ok(None)` when the request carries none.
pub fn bearer(headers: &HeaderMap, form: Option<&Params>) -> Result<Option<Presented>, OAuthError> {
    let from_header = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(value) => {
            let value = value.to_str().map_err(|_| {
                OAuthError::invalid_request("The Authorization header is malformed.")
            })?;
            match value.split_once(' ') {
                Some((scheme, token))
                    if (scheme.eq_ignore_ascii_case("bearer")
                        || scheme.eq_ignore_ascii_case("dpop"))
                        && !token.trim().is_empty() =>
                {
                    Some(Presented {
                        token: token.trim().to_owned(),
                        dpop: scheme.eq_ignore_ascii_case("dpop"),
                    })
                }
                _ => {
                    return Err(OAuthError::invalid_request(
                        "The Authorization header is not a Bearer or DPoP token.",
                    ))
                }
            }
        }
    };
    let from_body = form
        .and_then(|f| f.get("access_token"))
        .map(|token| Presented {
            token: token.to_owned(),
            dpop: false,
        });
    match (from_header, from_body) {
        (Some(_), Some(_)) => Err(OAuthError::invalid_request(
            "Send the access token once, not in the header and the body.",
        )),
        (a, b) => Ok(a.or(b)),
    }
}

/// An access token as presented: `Bearer` (RFC 6750), or `DPoP` with a proof (RFC 9449 7.1).
#[derive(Debug)]
pub struct Presented {
    pub token: String,
    pub dpop: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        let encoded = STANDARD.encode("my%20client:s%3Acr+t");
        assert_eq!(
            parse_basic(&encoded).unwrap(),
            ("my client".to_owned(), "s:cr t".to_owned())
        );
        for bad in [
            "!!!",
            &STANDARD.encode("no-colon"),
            &STANDARD.encode(":secret"),
        ] {
            assert!(parse_basic(bad).is_err(), "{bad}");
        }
    }
}
