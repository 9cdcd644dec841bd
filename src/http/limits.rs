//! Request limits applied before any handler runs, and the request timeout around it.
//!
//! hyper already refuses a request head over about 400 KiB or with over 100 headers (431); the
//! bounds here are tighter, fit what a browser or an OAuth client sends, and answer with the
//! protocol's JSON error shape. Parameter values have their own bound where they are read.

use std::time::Duration;

use poem::http::{header, StatusCode};
use poem::{Endpoint, IntoResponse as _, Middleware, Request, Response};
use serde_json::json;

/// The longest request target (path and query) accepted. An authorization request carrying
/// every parameter at its own bound stays well under it.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// The most header bytes (names and values) one request may carry.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

pub struct Limits {
    pub request_timeout: Duration,
}

impl<E: Endpoint> Middleware<E> for Limits {
    type Output = LimitsEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        LimitsEndpoint {
            inner,
            request_timeout: self.request_timeout,
        }
    }
}

pub struct LimitsEndpoint<E> {
    inner: E,
    request_timeout: Duration,
}

impl<E: Endpoint> Endpoint for LimitsEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Self::Output> {
        let target = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
        if target > MAX_URI_BYTES {
            return Ok(refusal(
                StatusCode::URI_TOO_LONG,
                "The request target is too long.",
            ));
        }
        let header_bytes: usize = req
            .headers()
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len())
            .sum();
        if header_bytes > MAX_HEADER_BYTES {
            return Ok(refusal(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "The request headers are too large.",
            ));
        }
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        match tokio::time::timeout(self.request_timeout, self.inner.call(req)).await {
            Ok(result) => result.map(|r| r.into_response()),
            Err(_) => {
                // Dropping the handler's future rolls back any transaction it held open.
                tracing::warn!(%method, %path, "request timed out");
                Ok(Response::builder()
                    .status(StatusCode::SERVICE_UNAVAILABLE)
                    .content_type("application/json")
                    .header(header::CACHE_CONTROL, "no-store")
                    .header(header::RETRY_AFTER, "5")
                    .body(
                        json!({
                            "error": "temporarily_unavailable",
                            "error_description": "The request took too long; retry shortly.",
                        })
                        .to_string(),
                    ))
            }
        }
    }
}

fn refusal(status: StatusCode, description: &str) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json")
        .header(header::CACHE_CONTROL, "no-store")
        .header(header::CONNECTION, "close")
        .body(json!({ "error": "invalid_request", "error_description": description }).to_string())
}
