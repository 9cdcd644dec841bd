//! What operators watch, per instance, as plain atomics cheap enough for the hot paths, and
//! their Prometheus text rendering for `GET /metrics`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The endpoints requests are counted under. A fixed list keeps the label set bounded
/// whatever paths clients invent.
pub const ENDPOINTS: [&str; 16] = [
    "discovery",
    "jwks",
    "authorize",
    "token",
    "userinfo",
    "logout",
    "device_authorization",
    "device",
    "introspect",
    "revoke",
    "admin",
    "healthz",
    "metrics",
    "openapi",
    "docs",
    "other",
];

/// The grants tokens are counted under, in `GrantType` order.
pub const GRANTS: [&str; 4] = [
    "authorization_code",
    "refresh_token",
    "client_credentials",
    "device_code",
];

/// Upper bounds of the latency histogram buckets, in seconds: from a tenth of a millisecond,
/// since discovery, JWKS and most token requests are answered in well under one.
const BUCKETS: [f64; 15] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    10.0,
];

/// Status classes requests are counted under: 1xx-3xx, 4xx, 5xx.
const CLASSES: [&str; 3] = ["2xx_3xx", "4xx", "5xx"];

#[derive(Debug, Default)]
pub struct Metrics {
    /// A dead refresh token was presented outside the grace window: its family was revoked.
    pub refresh_reuse_detected: AtomicU64,
    /// An authorization code was redeemed a second time: its grant was revoked.
    pub code_reuse_detected: AtomicU64,
    /// Wrong username or password at a login form.
    pub login_failures: AtomicU64,
    /// Logins refused because an account or IP reached its failure limit.
    pub login_throttled: AtomicU64,
    /// Client authentications refused because a client id or IP reached its failure limit.
    pub client_auth_throttled: AtomicU64,
    /// Device user-code entries refused because a session or IP guessed too often.
    pub device_code_throttled: AtomicU64,
    /// Key rotations this instance performed (scheduled or through the admin API).
    pub key_rotations: AtomicU64,
    /// Back-channel logout tokens this instance delivered.
    pub logout_delivered: AtomicU64,
    /// Deliveries this instance tried that did not get through (each is tried again).
    pub logout_attempts_failed: AtomicU64,
    /// Deliveries given up: refused by the app, or not through within `logout.retry_for`.
    pub logout_given_up: AtomicU64,
    /// Successful token responses, per grant (`GRANTS` order).
    tokens_issued: [AtomicU64; GRANTS.len()],
    requests: [Endpoint; ENDPOINTS.len()],
}

#[derive(Debug, Default)]
struct Endpoint {
    by_class: [AtomicU64; CLASSES.len()],
    /// Cumulative counts per bucket are computed at render time; these are per-bucket.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_micros: AtomicU64,
}

impl Metrics {
    pub fn incr(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// A token response for `grant` (one of `GRANTS`).
    pub fn token_issued(&self, grant: &str) {
        if let Some(i) = GRANTS.iter().position(|g| *g == grant) {
            if let Some(counter) = self.tokens_issued.get(i) {
                Self::incr(counter);
            }
        }
    }

    /// One finished request.
    pub fn observe(&self, endpoint: usize, status: u16, took: Duration) {
        let Some(e) = self.requests.get(endpoint) else {
            return;
        };
        let class = match status {
            500.. => 2,
            400..=499 => 1,
            _ => 0,
        };
        if let Some(c) = e.by_class.get(class) {
            Self::incr(c);
        }
        let seconds = took.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(BUCKETS.len());
        if let Some(b) = e.buckets.get(bucket) {
            Self::incr(b);
        }
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        e.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// The Prometheus text exposition format (version 0.0.4).
    /// The Prometheus text; `hashes_moved` is the password hasher's count of hashes moved off
    /// its starved background lane.
    pub fn render(&self, hashes_moved: u64) -> String {
        let mut out = String::with_capacity(8 * 1024);
        let counters: [(&str, &str, &AtomicU64); 10] = [
            (
                "oidcd_refresh_token_reuse_total",
                "Dead refresh tokens presented outside the grace window (family revoked).",
                &self.refresh_reuse_detected,
            ),
            (
                "oidcd_code_reuse_total",
                "Authorization codes redeemed a second time (grant revoked).",
                &self.code_reuse_detected,
            ),
            (
                "oidcd_login_failures_total",
                "Wrong username or password at a login form.",
                &self.login_failures,
            ),
            (
                "oidcd_login_throttled_total",
                "Logins refused because an account or IP reached its failure limit.",
                &self.login_throttled,
            ),
            (
                "oidcd_client_auth_throttled_total",
                "Client authentications refused because a client or IP reached its limit.",
                &self.client_auth_throttled,
            ),
            (
                "oidcd_device_code_throttled_total",
                "Device user-code entries refused because a session or IP guessed too often.",
                &self.device_code_throttled,
            ),
            (
                "oidcd_key_rotations_total",
                "Signing key rotations performed by this instance.",
                &self.key_rotations,
            ),
            (
                "oidcd_logout_deliveries_total",
                "Back-channel logout tokens delivered by this instance.",
                &self.logout_delivered,
            ),
            (
                "oidcd_logout_delivery_failures_total",
                "Back-channel logout deliveries that did not get through (tried again).",
                &self.logout_attempts_failed,
            ),
            (
                "oidcd_logout_deliveries_given_up_total",
                "Back-channel logout deliveries given up (refused, or past logout.retry_for).",
                &self.logout_given_up,
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                Self::get(value)
            );
        }
        let _ = writeln!(
            out,
            "# HELP oidcd_password_hashes_moved_total Password hashes sent to the fallback \
             threads because busy cores starved the background ones.\n\
             # TYPE oidcd_password_hashes_moved_total counter\n\
             oidcd_password_hashes_moved_total {hashes_moved}"
        );
        out.push_str(
            "# HELP oidcd_tokens_issued_total Successful token responses, per grant.\n\
             # TYPE oidcd_tokens_issued_total counter\n",
        );
        for (grant, value) in GRANTS.iter().zip(&self.tokens_issued) {
            let _ = writeln!(
                out,
                "oidcd_tokens_issued_total{{grant=\"{grant}\"}} {}",
                Self::get(value)
            );
        }
        out.push_str(
            "# HELP oidcd_http_requests_total Finished requests, per endpoint and status class.\n\
             # TYPE oidcd_http_requests_total counter\n",
        );
        for (name, e) in ENDPOINTS.iter().zip(&self.requests) {
            for (class, value) in CLASSES.iter().zip(&e.by_class) {
                let _ = writeln!(
                    out,
                    "oidcd_http_requests_total{{endpoint=\"{name}\",status=\"{class}\"}} {}",
                    Self::get(value)
                );
            }
        }
        out.push_str(
            "# HELP oidcd_http_request_duration_seconds Time from request to response, per endpoint.\n\
             # TYPE oidcd_http_request_duration_seconds histogram\n",
        );
        for (name, e) in ENDPOINTS.iter().zip(&self.requests) {
            let mut cumulative = 0;
            for (i, count) in e.buckets.iter().enumerate() {
                cumulative += Self::get(count);
                let le = BUCKETS
                    .get(i)
                    .map_or_else(|| "+Inf".to_owned(), |b| b.to_string());
                let _ = writeln!(
                    out,
                    "oidcd_http_request_duration_seconds_bucket{{endpoint=\"{name}\",le=\"{le}\"}} {cumulative}"
                );
            }
            let sum = Self::get(&e.sum_micros) as f64 / 1e6;
            let _ = writeln!(
                out,
                "oidcd_http_request_duration_seconds_sum{{endpoint=\"{name}\"}} {sum}\n\
                 oidcd_http_request_duration_seconds_count{{endpoint=\"{name}\"}} {cumulative}"
            );
        }
        out
    }
}

/// The `ENDPOINTS` index a request path is counted under.
pub fn endpoint_of(path: &str) -> usize {
    let name = match path {
        "/.well-known/openid-configuration" | "/.well-known/oauth-authorization-server" => {
            "discovery"
        }
        "/jwks.json" => "jwks",
        "/oauth/authorize" => "authorize",
        "/oauth/token" => "token",
        "/oauth/userinfo" => "userinfo",
        "/oauth/logout" => "logout",
        "/oauth/device_authorization" => "device_authorization",
        "/device" => "device",
        "/oauth/introspect" => "introspect",
        "/oauth/revoke" => "revoke",
        "/healthz" => "healthz",
        "/metrics" => "metrics",
        "/openapi.json" => "openapi",
        p if p.starts_with("/admin/") => "admin",
        p if p == "/docs" || p.starts_with("/docs/") => "docs",
        _ => "other",
    };
    ENDPOINTS
        .iter()
        .position(|e| *e == name)
        .unwrap_or(ENDPOINTS.len() - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_maps_to_a_listed_endpoint() {
        assert_eq!(ENDPOINTS[endpoint_of("/oauth/token")], "token");
        assert_eq!(ENDPOINTS[endpoint_of("/admin/clients/x")], "admin");
        assert_eq!(ENDPOINTS[endpoint_of("/docs/index.css")], "docs");
        assert_eq!(ENDPOINTS[endpoint_of("/nowhere")], "other");
    }

    #[test]
    fn the_histogram_is_cumulative_and_counts_every_request() {
        let m = Metrics::default();
        let token = endpoint_of("/oauth/token");
        m.observe(token, 200, Duration::from_micros(500));
        m.observe(token, 400, Duration::from_millis(30));
        m.observe(token, 503, Duration::from_secs(20));
        let text = m.render(0);
        for line in [
            "oidcd_http_requests_total{endpoint=\"token\",status=\"2xx_3xx\"} 1",
            "oidcd_http_requests_total{endpoint=\"token\",status=\"4xx\"} 1",
            "oidcd_http_requests_total{endpoint=\"token\",status=\"5xx\"} 1",
            "oidcd_http_request_duration_seconds_bucket{endpoint=\"token\",le=\"0.00025\"} 0",
            "oidcd_http_request_duration_seconds_bucket{endpoint=\"token\",le=\"0.0005\"} 1",
            "oidcd_http_request_duration_seconds_bucket{endpoint=\"token\",le=\"0.001\"} 1",
            "oidcd_http_request_duration_seconds_bucket{endpoint=\"token\",le=\"0.05\"} 2",
            "oidcd_http_request_duration_seconds_bucket{endpoint=\"token\",le=\"10\"} 2",
            "oidcd_http_request_duration_seconds_bucket{endpoint=\"token\",le=\"+Inf\"} 3",
            "oidcd_http_request_duration_seconds_count{endpoint=\"token\"} 3",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
    }
}
