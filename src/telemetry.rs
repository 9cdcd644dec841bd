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
                    // Colours are escape sequences: they would have to pass the escaping.
                    .with_ansi(false)
                    .with_writer(|| EscapingStderr),
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

/// Standard error for text logs, with every control character inside a line escaped (`\n`,
/// `\r`, `\t`, `\u{1b}`): a logged value (a client id, a username) can never start a line
/// of its own and forge an entry, nor send escape sequences to a terminal. The formatter
/// writes each event in one call, ending with its own newline, which is kept.
struct EscapingStderr;

impl std::io::Write for EscapingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let (body, newline) = match text.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (text.as_ref(), ""),
        };
        let mut line = escape_controls(body);
        line.push_str(newline);
        std::io::stderr().lock().write_all(line.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// `text` with its control characters written as Rust escapes.
fn escape_controls(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape_controls;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape_controls("plain: é"), "plain: é");
        assert_eq!(
            escape_controls("a\nb\r\tc\u{1b}[31m"),
            "a\\nb\\r\\tc\\u{1b}[31m"
        );
    }
}
