//! `/healthz`: 200 when the database answers, 503 when it does not. `/metrics`: this
//! instance's counters in the Prometheus text format.

use poem::http::{header, StatusCode};
use poem::web::Data;
use poem::{handler, Response};

use crate::state::AppState;

#[handler]
pub async fn healthz(Data(state): Data<&AppState>) -> Response {
    let (status, body) = match state.db.pool().ping().await {
        Ok(()) => (StatusCode::OK, r#"{"status":"ok"}"#),
        Err(e) => {
            tracing::warn!(error = %e, "health check: the database does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                r#"{"status":"unavailable"}"#,
            )
        }
    };
    Response::builder()
        .status(status)
        .content_type("application/json")
        .header(header::CACHE_CONTROL, "no-store")
        .body(body)
}

#[handler]
pub async fn metrics(Data(state): Data<&AppState>) -> Response {
    Response::builder()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store")
        .body(state.metrics.render(state.passwords.moved()))
}
