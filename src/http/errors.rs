//! The one place that turns protocol errors into HTTP: JSON bodies and status codes for the
//! token endpoint (RFC 6749 5.2), `WWW-Authenticate: Bearer` for protected resources
//! (RFC 6750 3). Internal failures are opaque 500s (their cause was logged where it happened).

use poem::http::{header, StatusCode};
use poem::Response;
use serde_json::json;

use crate::oauth::error::{ErrorCode, OAuthError};

fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidClient | ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
        ErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    }
}

fn body(error: &OAuthError) -> String {
    json!({ "error": error.code.as_str(), "error_description": error.description }).to_string()
}

/// A token-endpoint error (RFC 6749 5.2). `invalid_client` is a 401; it names the Basic
/// scheme in `WWW-Authenticate` only when the client tried Basic (`tried_basic`), as RFC 6749
/// 5.2 asks. A client that sent its credentials in the body gets no challenge, so its library
/// reports the error and its description instead of an authentication challenge.
pub fn token_error(error: &OAuthError, tried_basic: bool) -> Response {
    let mut builder = Response::builder()
        .status(status_of(error.code))
        .content_type("application/json")
        .header(header::CACHE_CONTROL, "no-store")
        .header(header::PRAGMA, "no-cache");
    if error.code == ErrorCode::InvalidClient && tried_basic {
        builder = builder.header(
            header::WWW_AUTHENTICATE,
            "Basic realm=\"oidcd\", charset=\"UTF-8\"",
        );
    }
    if error.code == ErrorCode::TemporarilyUnavailable {
        builder = builder.header(header::RETRY_AFTER, "5");
    }
    builder.body(body(error))
}

/// A protected-resource error, for a request that may have used DPoP: a refused proof is a
/// 401 with the `DPoP` challenge naming the accepted algorithms (RFC 9449 7.1), and
/// `dpop_nonce` goes out as `DPoP-Nonce` (RFC 9449 9). Anything else is [`bearer_error`].
pub fn resource_error(error: Option<&OAuthError>, dpop_nonce: Option<&str>) -> Response {
    let mut response = match error {
        Some(e)
            if matches!(
                e.code,
                ErrorCode::InvalidDpopProof | ErrorCode::UseDpopNonce
            ) =>
        {
            let description = e.description.replace(['"', '\\'], "'");
            Response::builder()
                .status(StatusCode::UNAUTHORIZED)
                .content_type("application/json")
                .header(header::CACHE_CONTROL, "no-store")
                .header(
                    header::WWW_AUTHENTICATE,
                    format!(
                        "DPoP error=\"{}\", error_description=\"{description}\", algs=\"{}\"",
                        e.code.as_str(),
                        crate::oauth::dpop::ALGS.join(" ")
                    ),
                )
                .body(body(e))
        }
        other => bearer_error(other),
    };
    if let Some(value) = dpop_nonce.and_then(|n| poem::http::HeaderValue::from_str(n).ok()) {
        response.headers_mut().insert("dpop-nonce", value);
    }
    response
}

/// A protected-resource error (RFC 6750 3). `None` means the request carried no token at
/// all: a bare challenge without an error code (RFC 6750 3.1), with the usual JSON body so
/// every 401 has one shape.
pub fn bearer_error(error: Option<&OAuthError>) -> Response {
    let Some(error) = error else {
        return Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .content_type("application/json")
            .header(header::WWW_AUTHENTICATE, "Bearer realm=\"oidcd\"")
            .header(header::CACHE_CONTROL, "no-store")
            .body(body(&OAuthError::invalid_token(
                "No access token was presented.",
            )));
    };
    let status = status_of(error.code);
    let mut builder = Response::builder()
        .status(status)
        .content_type("application/json")
        .header(header::CACHE_CONTROL, "no-store");
    if matches!(
        error.code,
        ErrorCode::InvalidToken | ErrorCode::InsufficientScope | ErrorCode::InvalidRequest
    ) {
        let description = error.description.replace(['"', '\\'], "'");
        builder = builder.header(
            header::WWW_AUTHENTICATE,
            format!(
                "Bearer realm=\"oidcd\", error=\"{}\", error_description=\"{description}\"",
                error.code.as_str()
            ),
        );
    }
    builder.body(body(error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_maps_to_its_status_and_challenge() {
        let cases = [
            (ErrorCode::InvalidRequest, 400),
            (ErrorCode::InvalidClient, 401),
            (ErrorCode::InvalidGrant, 400),
            (ErrorCode::UnauthorizedClient, 400),
            (ErrorCode::UnsupportedGrantType, 400),
            (ErrorCode::InvalidScope, 400),
            (ErrorCode::ServerError, 500),
            (ErrorCode::TemporarilyUnavailable, 503),
        ];
        for (code, status) in cases {
            for tried_basic in [false, true] {
                let r = token_error(&OAuthError::new(code, "x"), tried_basic);
                assert_eq!(r.status().as_u16(), status, "{code:?}");
                assert_eq!(
                    r.headers().contains_key(header::WWW_AUTHENTICATE),
                    code == ErrorCode::InvalidClient && tried_basic
                );
                assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
            }
        }
        let r = bearer_error(Some(&OAuthError::invalid_token("expired")));
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(r.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_token\""));
        let r = bearer_error(Some(&OAuthError::new(ErrorCode::InsufficientScope, "x")));
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = bearer_error(None);
        assert_eq!(
            r.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"oidcd\""
        );
    }
}
