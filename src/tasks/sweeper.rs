//! Removes expired codes, pending requests, sessions, device codes, grants (with their refresh
//! tokens), revocation entries and rate-limit counters, every few minutes. Every instance may
//! sweep; deleting what is already gone costs nothing.

use crate::state::AppState;
use crate::store::sweep::{self, Swept};
use crate::store::StoreError;

/// How often each instance sweeps.
pub const PERIOD: std::time::Duration = std::time::Duration::from_secs(300);

pub async fn sweep_once(state: &AppState) -> Result<Swept, StoreError> {
    // Through the pool: a sweep may delete many rows, which should not run on a thread that
    // serves requests (the requests' own writes meanwhile wait, or go through the pool too).
    sweep::expired(state.db.pool(), state.clock.now()).await
}

pub async fn run(state: AppState) {
    let mut ticker = tokio::time::interval(PERIOD);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match sweep_once(&state).await {
            Ok(swept) if swept != Swept::default() => {
                tracing::info!(?swept, "expired rows removed")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "sweeping expired rows failed; will retry"),
        }
    }
}
