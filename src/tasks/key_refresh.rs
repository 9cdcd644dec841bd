//! Re-reads the signing keys every `keys.cache_ttl`, so each instance sees a rotation made
//! elsewhere (another instance, the CLI) within that time.

use crate::state::AppState;

pub async fn run(state: AppState) {
    let period = state.config.keys.cache_ttl.as_duration();
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await; // the first tick is immediate; the keys were just loaded
    loop {
        ticker.tick().await;
        match state.keys.refresh(&state.db, state.clock.now()).await {
            Ok(true) => tracing::info!(
                active = %state.keys.current().signer().kid(),
                "signing keys changed; cache refreshed"
            ),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot refresh the signing keys; keeping the cached set")
            }
        }
    }
}
