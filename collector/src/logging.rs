//! Log output: `text` (human key=value lines, the default) or `json` (one
//! object per line with stable fields: `timestamp` RFC 3339 UTC, `level`,
//! `target`, `message` and the event's own fields at the top level), on
//! stderr; `RUST_LOG` filters (default `info`). Chosen by `--log-format`,
//! else `EVIDENT_LOG_FORMAT`, else `[log] format` in `config.toml` (for
//! `serve`), else `text`.

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

/// An error and its causes on one line, `outer: cause: root cause`, each
/// message once: a cause whose text the line already holds (a wrapper that
/// repeats its source, as sqlx's and many `#[error("…: {0}")]` errors do) is
/// skipped. What the binaries print at their edge.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut line = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let msg = c.to_string();
        if !msg.is_empty() && !line.contains(&msg) {
            line.push_str(": ");
            line.push_str(&msg);
        }
        cur = c.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct Leaf(&'static str);

    #[derive(Debug, thiserror::Error)]
    #[error("database: {0}")]
    struct Repeats(#[source] Leaf);

    #[derive(Debug, thiserror::Error)]
    #[error("opening the store")]
    struct Context(#[source] Repeats);

    #[test]
    fn each_message_of_the_chain_is_printed_once() {
        let e = Context(Repeats(Leaf("unable to open database file")));
        let line = error_chain(&e);
        assert_eq!(
            line,
            "opening the store: database: unable to open database file"
        );
        assert_eq!(line.matches("unable to open database file").count(), 1);
        // anyhow's own `{:#}` repeats it: what this function is for.
        let any = anyhow::Error::new(Context(Repeats(Leaf("unable to open database file"))));
        assert_eq!(format!("{any:#}").matches("unable to open").count(), 2);
        assert_eq!(error_chain(any.as_ref()), line);
    }
}
