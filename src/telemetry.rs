//! Logging: `tracing` to stderr, filtered by the `log` setting (`OIDCD_LOG`), as text or as one
//! JSON object per line (`OIDCD_LOG_FORMAT`). Lines written while a request is handled carry
//! its id (the `request` span).

use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

use crate::config::LogFormat;

/// Installs the global subscriber. The filter was checked with the configuration; should it
/// still not parse, logging falls back to `info` and says so.
pub fn init(filter: &str, format: LogFormat) {
    let (targets, bad) = match filter.parse::<Targets>() {
        Ok(t) => (t, false),
        Err(_) => (Targets::new().with_default(tracing::Level::INFO), true),
    };
    let registry = tracing_subscriber::registry().with(targets);
    let _ = match format {
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                    .with_writer(std::io::stderr),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
    if bad {
        tracing::warn!(
            filter,
            "the log filter (OIDCD_LOG) is not valid; logging at info"
        );
    }
}
