//! Scheduled key rotation: each instance checks now and then whether the active key has
//! served its interval. The conditional updates in `keys::rotation::rotate` let exactly one
//! instance rotate; the others see the result at their next key refresh.

use crate::keys::rotation::{self, Rotation};
use crate::keys::KeyError;
use crate::state::AppState;

/// One check: rotates if due, removes retired keys past their publication, and refreshes this
/// instance's key cache when something changed.
pub async fn tick(state: &AppState) -> Result<Option<Rotation>, KeyError> {
    let now = state.clock.now();
    let rotated = rotation::rotate_if_due(
        &state.db,
        state.keys.kek(),
        &state.config.keys,
        &state.config.lifetimes,
        now,
    )
    .await?;
    if rotated.is_some() {
        crate::metrics::Metrics::incr(&state.metrics.key_rotations);
        state.keys.refresh(&state.db, now).await?;
    }
    Ok(rotated)
}

pub async fn run(state: AppState) {
    let period = state
        .config
        .keys
        .cache_ttl
        .as_duration()
        .min(std::time::Duration::from_secs(60));
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match tick(&state).await {
            Ok(Some(r)) => {
                tracing::info!(activated = %r.activated, retired = %r.retired, "scheduled key rotation")
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "scheduled key rotation failed; will retry"),
        }
    }
}
