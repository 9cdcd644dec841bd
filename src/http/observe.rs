//! Per-request observation: a request id on every log line written while the request is
//! handled (and on the response, `X-Request-Id`), and the request counted and timed for
//! `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use poem::http::HeaderValue;
use poem::{Endpoint, IntoResponse as _, Middleware, Request, Response};
use tracing::Instrument as _;

use super::forwarded::{self, ClientAddress};
use crate::config::{ForwardedHeader, TrustedProxies};
use crate::metrics::{self, Metrics};

pub const REQUEST_ID: &str = "x-request-id";

pub struct Observe {
    pub metrics: Arc<Metrics>,
    pub trusted_proxies: TrustedProxies,
    pub forwarded_header: ForwardedHeader,
}

impl<E: Endpoint> Middleware<E> for Observe {
    type Output = ObserveEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        ObserveEndpoint {
            inner,
            metrics: self.metrics.clone(),
            trusted_proxies: Arc::new(self.trusted_proxies.clone()),
            forwarded_header: self.forwarded_header,
        }
    }
}

pub struct ObserveEndpoint<E> {
    inner: E,
    metrics: Arc<Metrics>,
    trusted_proxies: Arc<TrustedProxies>,
    forwarded_header: ForwardedHeader,
}

/// A request id from a proxy in front is kept when it is short and plain; otherwise a
/// fresh one is made.
fn request_id(req: &Request) -> String {
    req.headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (1..=64).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
        .map_or_else(fresh_request_id, str::to_owned)
}

/// 32 hex digits: a random per-process prefix and a sequence number. Unique across instances
/// and restarts (the prefix) without a call to the system's random source per request.
fn fresh_request_id() -> String {
    static PREFIX: OnceLock<u64> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| {
        crate::crypto::random_bytes::<8>()
            .map(u64::from_ne_bytes)
            .unwrap_or_else(|_| u64::from(std::process::id()))
    });
    format!("{prefix:016x}{:016x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

impl<E: Endpoint> Endpoint for ObserveEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Self::Output> {
        let started = Instant::now();
        let id = request_id(&req);
        let client = req.remote_addr().as_socket_addr().map(|peer| {
            forwarded::client_address(
                peer.ip(),
                req.headers(),
                &self.trusted_proxies,
                self.forwarded_header,
            )
        });
        if let Some(client) = client {
            req.extensions_mut().insert(ClientAddress(client));
        }
        let endpoint = metrics::endpoint_of(req.uri().path());
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        // At error level so that it is enabled whatever the filter: every line logged while
        // the request is handled carries its id.
        let span = match client {
            Some(client) => tracing::error_span!("request", id = %id, client = %client),
            None => tracing::error_span!("request", id = %id),
        };
        let result = self.inner.call(req).instrument(span.clone()).await;
        let mut response = match result {
            Ok(r) => r.into_response(),
            Err(e) => e.into_response(),
        };
        let status = response.status().as_u16();
        let took = started.elapsed();
        self.metrics.observe(endpoint, status, took);
        span.in_scope(|| {
            let ms = took.as_secs_f64() * 1000.0;
            if status >= 500 {
                tracing::warn!(%method, %path, status, ms, "request failed");
            } else {
                tracing::debug!(%method, %path, status, ms, "request");
            }
        });
        if let Ok(value) = HeaderValue::from_str(&id) {
            response.headers_mut().insert(REQUEST_ID, value);
        }
        Ok(response)
    }
}
