//! Logging: `tracing` to standard error, as text or JSON lines. Request lines carry a
//! request id, the method, the path (never the query string) and the status; no
//! handler logs a password, cookie or token.

use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, Settings};

pub fn init(settings: &Settings) {
    let filter = EnvFilter::try_new(&settings.log).unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a person at a terminal: a log file or a collector gets plain
    // text, and no request pays for escape codes nobody sees.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_target(false);
    // A second initialisation (tests start many servers in one process) is harmless.
    let _ = match settings.log_format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// The span of one request: its id, and the kind and outcome of its credential check
/// when it has one (filled in by `auth::traced`).
pub fn request_span(request_id: &str) -> tracing::Span {
    tracing::info_span!(
        "request",
        request_id = %request_id,
        credential = tracing::field::Empty,
        outcome = tracing::field::Empty
    )
}
