//! `[drift]` and `[[sink]]` in `config.toml`.

pub use super::sink::config::{SinkCommon, SinkConfig};
use serde::{Deserialize, Serialize};

/// `[drift]`: stale evidence, flapping and the background loops.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriftConfig {
    /// A host is stale when silent longer than its schedule interval times this factor.
    #[serde(default = "default_stale_factor")]
    pub stale_factor: f64,
    /// How often stale hosts are looked for, in ms.
    #[serde(default = "default_stale_check")]
    pub stale_check_ms: u64,
    /// Flapping window, in seconds.
    #[serde(default = "default_flap_window")]
    pub flap_window_seconds: u64,
    /// More transitions than this within the window: the alert stays open, marked flapping.
    #[serde(default = "default_flap_threshold")]
    pub flap_threshold: u32,
    /// How often the outbox is polled when idle, in ms.
    #[serde(default = "default_poll")]
    pub outbox_poll_ms: u64,
}

// `Config` is `Eq`; the factor is validated finite, so equality is total.
impl Eq for DriftConfig {}

fn default_stale_factor() -> f64 {
    2.0
}
fn default_stale_check() -> u64 {
    30_000
}
fn default_flap_window() -> u64 {
    3600
}
fn default_flap_threshold() -> u32 {
    4
}
fn default_poll() -> u64 {
    500
}

impl DriftConfig {
    /// Whether every setting has its default (then `init` leaves `[drift]` out).
    pub fn is_default(&self) -> bool {
        *self == DriftConfig::default()
    }
}

impl Default for DriftConfig {
    fn default() -> Self {
        DriftConfig {
            stale_factor: default_stale_factor(),
            stale_check_ms: default_stale_check(),
            flap_window_seconds: default_flap_window(),
            flap_threshold: default_flap_threshold(),
            outbox_poll_ms: default_poll(),
        }
    }
}

/// Check `[drift]` and every `[[sink]]`.
pub fn validate(drift: &DriftConfig, sinks: &[SinkConfig]) -> Result<(), String> {
    if !drift.stale_factor.is_finite() || !(1.0..=1000.0).contains(&drift.stale_factor) {
        return Err("drift.stale_factor must be between 1 and 1000".into());
    }
    if !(10..=3_600_000).contains(&drift.stale_check_ms) {
        return Err("drift.stale_check_ms must be between 10 and 3600000".into());
    }
    if !(1..=30 * 86_400).contains(&drift.flap_window_seconds) {
        return Err("drift.flap_window_seconds must be between 1 and 2592000".into());
    }
    if drift.flap_threshold < 2 {
        return Err("drift.flap_threshold must be at least 2".into());
    }
    if !(10..=60_000).contains(&drift.outbox_poll_ms) {
        return Err("drift.outbox_poll_ms must be between 10 and 60000".into());
    }
    let mut names = std::collections::BTreeSet::new();
    for s in sinks {
        let who = format!("sink `{}`", s.common.name);
        if s.common.name.is_empty()
            || s.common.name.len() > 64
            || !names.insert(s.common.name.as_str())
        {
            return Err(format!(
                "{who}: names must be unique and 1 to 64 characters"
            ));
        }
        s.kind
            .config()
            .validate()
            .map_err(|e| format!("{who}: {e}"))?;
        let s = &s.common;
        for sev in &s.severities {
            if evident_core::policy::Severity::parse(sev).is_none() {
                return Err(format!("{who}: unknown severity `{sev}`"));
            }
        }
        for k in &s.kinds {
            if !matches!(k.as_str(), "drift" | "stale" | "integrity") {
                return Err(format!(
                    "{who}: unknown kind `{k}` (drift, stale, integrity)"
                ));
            }
        }
        if !(100..=120_000).contains(&s.timeout_ms) {
            return Err(format!("{who}: timeout_ms must be between 100 and 120000"));
        }
        if s.retry_initial_ms == 0 || s.retry_max_ms < s.retry_initial_ms {
            return Err(format!("{who}: need 0 < retry_initial_ms <= retry_max_ms"));
        }
        if !(1..=1000).contains(&s.max_attempts) {
            return Err(format!("{who}: max_attempts must be between 1 and 1000"));
        }
        if !(1..=30 * 86_400).contains(&s.max_age_seconds) {
            return Err(format!(
                "{who}: max_age_seconds must be between 1 and 2592000"
            ));
        }
    }
    Ok(())
}

/// Comment lines for `to_toml`.
pub fn field_doc(key: &str) -> Option<&'static str> {
    Some(match key {
        "stale_factor" => "Stale when silent longer than the agent's interval times this.",
        "stale_check_ms" => "How often stale hosts are looked for, in ms.",
        "flap_window_seconds" => "Flapping window, in seconds.",
        "flap_threshold" => "More transitions than this in the window: one flapping alert.",
        "outbox_poll_ms" => "How often the alert outbox is polled when idle, in ms.",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    // Parsing goes through `Config`, which embeds these types.

    #[test]
    fn sinks_parse_and_are_validated() {
        let text = r#"
listen = "127.0.0.1:8443"
[drift]
stale_factor = 1.5
[[sink]]
name = "ops"
type = "webhook"
url = "http://127.0.0.1:9/hook"
secret_file = "hook.secret"
severities = ["high"]
[[sink]]
name = "log"
type = "log"
"#;
        let c: crate::config::Config = toml::from_str(text).unwrap();
        assert_eq!(c.sinks.len(), 2);
        c.validate().unwrap();
        let back: crate::config::Config = toml::from_str(&c.to_toml()).unwrap();
        assert_eq!(back, c);
        let mut bad = c.clone();
        bad.sinks[0].common.retry_initial_ms = 0;
        assert!(bad.validate().is_err());
        let mut bad = c.clone();
        bad.sinks[1].common.name = "ops".into();
        assert!(bad.validate().is_err());
        let mut bad = c;
        bad.drift.stale_factor = f64::NAN;
        assert!(bad.validate().is_err());
        assert!(toml::from_str::<crate::config::Config>("[drift]\nstale = 1").is_err());
        assert!(
            toml::from_str::<crate::config::Config>("[[sink]]\nname='a'\ntype='log'\nx=1").is_err()
        );
    }

    #[test]
    fn unknown_sink_keys_are_refused_by_name() {
        let parse = |sink: &str| {
            toml::from_str::<crate::config::Config>(&format!("[[sink]]\nname='a'\n{sink}"))
                .map_err(|e| e.to_string())
        };
        // A key of another kind: the log sink takes no url.
        let e = parse("type='log'\nurl='http://x'").unwrap_err();
        assert!(
            e.contains("sink `a`") && e.contains("unknown field `url`"),
            "{e}"
        );
        let e = parse("type='webhook'\nurl='http://x'\nsecret_file='s'\nsecrets='s'").unwrap_err();
        assert!(e.contains("unknown field `secrets`"), "{e}");
        let e = parse("type='pager'").unwrap_err();
        assert!(e.contains("unknown variant `pager`"), "{e}");
        let e = parse("type='webhook'\nurl='http://x'").unwrap_err();
        assert!(e.contains("missing field `secret_file`"), "{e}");
        // Wrong type of a common key is named too.
        let e = parse("type='log'\ntimeout_ms='x'").unwrap_err();
        assert!(e.contains("sink `a`"), "{e}");
        let c = toml::from_str::<crate::config::Config>(
            "[[sink]]\nname='s'\ntype='slack'\nurl='ftp://x'",
        )
        .unwrap();
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("url must be http:// or https://"), "{e}");
    }

    #[test]
    fn common_keys_list_matches_the_struct() {
        let full = super::SinkCommon {
            name: "n".into(),
            severities: vec!["high".into()],
            kinds: vec!["drift".into()],
            controls: vec!["A.8.5".into()],
            rules: vec!["r".into()],
            hosts: vec!["h".into()],
            timeout_ms: 1,
            retry_initial_ms: 1,
            retry_max_ms: 1,
            max_attempts: 1,
            max_age_seconds: 1,
        };
        let t = toml::Table::try_from(&full).unwrap();
        let mut keys: Vec<&str> = t.keys().map(String::as_str).collect();
        let mut want = crate::alerting::sink::config::COMMON_KEYS.to_vec();
        keys.sort_unstable();
        want.sort_unstable();
        assert_eq!(keys, want);
    }
}
