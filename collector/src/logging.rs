//! Log output: `text` (human key=value lines, the default) or `json` (one
//! object per line with stable fields: `timestamp` RFC 3339 UTC, `level`,
//! `target`, `message` and the event's own fields at the top level), on
//! stderr; `RUST_LOG` filters (default `info`). Chosen by `--log-format`,
//! else `EVIDENT_LOG_FORMAT`, else `[log] format` in `config.toml` (for
//! `serve`), else `text`.

/// Errors print once with their chain (shared with the agent).
pub use evident_core::error_chain;
use serde::{Deserialize, Serialize};

/// `text` or `json`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `[log]` in `config.toml`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `text` (default) or `json`.
    #[serde(default)]
    pub format: LogFormat,
}

impl LogConfig {
    /// Whether every setting has its default (then `init` leaves `[log]` out).
    pub fn is_default(&self) -> bool {
        *self == LogConfig::default()
    }
}

/// Install the global subscriber (once; later calls do nothing).
pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_target(false)
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_target(true)
            .try_init(),
    };
}
