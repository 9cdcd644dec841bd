//! Logging: `tracing` to stderr, filtered by the `log` setting (`OIDCD_LOG`).

use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

/// Installs the global subscriber. An unparsable filter falls back to `info` and says so.
pub fn init(filter: &str) {
    let (targets, bad) = match filter.parse::<Targets>() {
        Ok(t) => (t, false),
        Err(_) => (Targets::new().with_default(tracing::Level::INFO), true),
    };
    let _ = tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(targets)
        .try_init();
    if bad {
        tracing::warn!(
            filter,
            "the log filter (OIDCD_LOG) is not valid; logging at info"
        );
    }
}
