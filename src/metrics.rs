//! Counters of events operators watch. Each instance counts its own; they are plain atomics,
//! cheap enough for the hot paths.

use std::sync::atomic::{AtomicU64, Ordering};

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
}

impl Metrics {
    pub fn incr(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
