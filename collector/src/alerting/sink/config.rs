//! `[[sink]]` in `config.toml`: the keys every sink takes ([`SinkCommon`])
//! and its kind's own ([`SinkKind`]), parsed so that unknown keys are refused.

use super::SinkKind;
use serde::{Deserialize, Serialize};

/// `[[sink]]`: the settings every sink has, plus its kind's own
/// (`type = "webhook"` and the keys that kind takes, see
/// [`SinkKind`]). Parsing refuses keys neither the
/// common part nor the kind knows, naming the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SinkConfig {
    /// Name, filters and retry settings.
    #[serde(flatten)]
    pub common: SinkCommon,
    /// `type` and the kind's own keys.
    #[serde(flatten)]
    pub kind: SinkKind,
}

/// The keys of `[[sink]]` every kind takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkCommon {
    /// Unique name (outbox rows refer to it).
    pub name: String,
    /// Only these severities (empty: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub severities: Vec<String>,
    /// Only these kinds: drift, stale, integrity (empty: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<String>,
    /// Only alerts about these controls (e.g. `A.8.5`; empty: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub controls: Vec<String>,
    /// Only alerts about these rules (ids; empty: all). With `controls`
    /// too, an alert about either passes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<String>,
    /// Only these hosts, by host name or agent id (empty: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// Per-attempt timeout, in ms.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// First retry delay, in ms (doubles per attempt, with jitter).
    #[serde(default = "default_retry_initial")]
    pub retry_initial_ms: u64,
    /// Longest retry delay, in ms.
    #[serde(default = "default_retry_max")]
    pub retry_max_ms: u64,
    /// Attempts before a notification is given up on (marked failed).
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Age (since it was queued), in seconds, after which a notification
    /// is given up on instead of retried.
    #[serde(default = "default_max_age")]
    pub max_age_seconds: u64,
}

/// The keys [`SinkCommon`] takes (a test keeps this in step with the struct).
pub(crate) const COMMON_KEYS: [&str; 11] = [
    "name",
    "severities",
    "kinds",
    "controls",
    "rules",
    "hosts",
    "timeout_ms",
    "retry_initial_ms",
    "retry_max_ms",
    "max_attempts",
    "max_age_seconds",
];

impl<'de> Deserialize<'de> for SinkConfig {
    // serde cannot combine `flatten` with `deny_unknown_fields`, so the table
    // is split by hand: the common keys go to `SinkCommon`, the rest (with
    // `type`) to the tagged `SinkKind`; both refuse keys they do not know.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut rest = toml::Table::deserialize(d)?;
        let name = match rest.get("name") {
            Some(toml::Value::String(n)) => format!("sink `{n}`"),
            _ => "sink".to_string(),
        };
        let mut common = toml::Table::new();
        for k in COMMON_KEYS {
            if let Some(v) = rest.remove(k) {
                common.insert(k.to_string(), v);
            }
        }
        let common: SinkCommon = toml::Value::Table(common)
            .try_into()
            .map_err(|e| D::Error::custom(format!("{name}: {e}")))?;
        let kind: SinkKind = toml::Value::Table(rest)
            .try_into()
            .map_err(|e| D::Error::custom(format!("{name}: {e}")))?;
        Ok(SinkConfig { common, kind })
    }
}

fn default_timeout() -> u64 {
    5000
}
fn default_retry_initial() -> u64 {
    1000
}
fn default_retry_max() -> u64 {
    300_000
}
fn default_max_attempts() -> u32 {
    12
}
fn default_max_age() -> u64 {
    86_400
}
