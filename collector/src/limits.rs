//! `[limits]` in `config.toml`: what hostile clients get. Freshness of
//! evidence (clock skew, maximum age, the cap on an agent's declared
//! interval, absurd sequence jumps), connection timeouts and the connection
//! cap, enrollment attempts per source address and per-agent quotas; plus
//! [`Windows`], the bounded fixed-window counter the rate limits share.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

/// The largest request body `max_body_bytes` may be set to (`config.rs`).
pub const MAX_BODY_BYTES_CEILING: usize = 256 * 1024 * 1024;

/// The largest probe blob an ingest request can carry at any configuration:
/// blobs travel base64-encoded inside the body, so at most three quarters
/// of [`MAX_BODY_BYTES_CEILING`]. The store refuses to decompress a stored
/// blob declaring more (`store/blob.rs`) and stores anything larger raw.
pub const MAX_BLOB_BYTES: usize = MAX_BODY_BYTES_CEILING / 4 * 3;

/// `[limits]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Evidence collected further in the future than this (seconds, by the
    /// collector's clock) is refused.
    #[serde(default = "d_skew")]
    pub max_clock_skew_seconds: u64,
    /// Evidence collected longer ago than this (seconds) is refused: it
    /// never resolves a stale alert nor reads as current.
    #[serde(default = "d_age")]
    pub max_evidence_age_seconds: u64,
    /// The stale window is the agent's declared interval, capped at this
    /// (seconds): an agent can shorten it, never stretch it.
    #[serde(default = "d_interval")]
    pub max_stale_interval_seconds: u64,
    /// A sequence further ahead of the host's last than this is refused as
    /// an integrity event (the host's view never freezes on it).
    #[serde(default = "d_jump")]
    pub max_sequence_jump: u64,
    /// Enrollment attempts per source address per minute (then 429).
    #[serde(default = "d_enroll_rate")]
    pub enroll_attempts_per_minute: u32,
    /// Statements one agent may send per minute (then 429 and an alert).
    #[serde(default = "d_statements")]
    pub statements_per_minute: u32,
    /// Request bytes one agent may send per day (then 429 and an alert).
    #[serde(default = "d_bytes")]
    pub bytes_per_day: u64,
    /// Most client connections open at once; more are closed at once.
    /// Also kept below the process's file descriptor limit.
    #[serde(default = "d_conns")]
    pub max_client_connections: u32,
    /// A TLS handshake, and then the first request's headers, must arrive
    /// within this (ms).
    #[serde(default = "d_header")]
    pub header_timeout_ms: u64,
    /// A request body must arrive within this (ms).
    #[serde(default = "d_body")]
    pub body_timeout_ms: u64,
}

fn d_skew() -> u64 {
    300
}
fn d_age() -> u64 {
    30 * 86_400
}
fn d_interval() -> u64 {
    86_400
}
fn d_jump() -> u64 {
    1_000_000
}
fn d_enroll_rate() -> u32 {
    30
}
fn d_statements() -> u32 {
    600
}
fn d_bytes() -> u64 {
    512 * 1024 * 1024
}
fn d_conns() -> u32 {
    768
}
fn d_header() -> u64 {
    10_000
}
fn d_body() -> u64 {
    30_000
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_clock_skew_seconds: d_skew(),
            max_evidence_age_seconds: d_age(),
            max_stale_interval_seconds: d_interval(),
            max_sequence_jump: d_jump(),
            enroll_attempts_per_minute: d_enroll_rate(),
            statements_per_minute: d_statements(),
            bytes_per_day: d_bytes(),
            max_client_connections: d_conns(),
            header_timeout_ms: d_header(),
            body_timeout_ms: d_body(),
        }
    }
}

impl LimitsConfig {
    /// Whether every setting has its default (then `init` leaves `[limits]` out).
    pub fn is_default(&self) -> bool {
        *self == LimitsConfig::default()
    }

    /// Check every field.
    pub fn validate(&self) -> Result<(), String> {
        let check = |ok: bool, m: &str| {
            if ok {
                Ok(())
            } else {
                Err(format!("limits: {m}"))
            }
        };
        check(
            self.max_clock_skew_seconds <= 86_400,
            "max_clock_skew_seconds must be at most 86400",
        )?;
        check(
            (3600..=10 * 365 * 86_400).contains(&self.max_evidence_age_seconds),
            "max_evidence_age_seconds must be between 3600 and 315360000",
        )?;
        check(
            (60..=366 * 86_400).contains(&self.max_stale_interval_seconds),
            "max_stale_interval_seconds must be between 60 and 31622400",
        )?;
        check(
            (1..=1u64 << 40).contains(&self.max_sequence_jump),
            "max_sequence_jump must be between 1 and 2^40",
        )?;
        check(
            self.enroll_attempts_per_minute >= 1,
            "enroll_attempts_per_minute must be at least 1",
        )?;
        check(
            self.statements_per_minute >= 1,
            "statements_per_minute must be at least 1",
        )?;
        check(
            self.bytes_per_day >= 1024 * 1024,
            "bytes_per_day must be at least 1048576",
        )?;
        check(
            (16..=1_000_000).contains(&self.max_client_connections),
            "max_client_connections must be between 16 and 1000000",
        )?;
        check(
            (100..=600_000).contains(&self.header_timeout_ms),
            "header_timeout_ms must be between 100 and 600000",
        )?;
        check(
            (100..=3_600_000).contains(&self.body_timeout_ms),
            "body_timeout_ms must be between 100 and 3600000",
        )
    }
}

/// The comment `init` writes above each `[limits]` key.
pub fn field_doc(key: &str) -> Option<&'static str> {
    Some(match key {
        "max_clock_skew_seconds" => "Evidence from further in the future (s) is refused.",
        "max_evidence_age_seconds" => "Evidence collected longer ago (s) is refused.",
        "max_stale_interval_seconds" => {
            "Cap on an agent's declared interval for the stale window (s)."
        }
        "max_sequence_jump" => {
            "A sequence this far ahead of the last is refused (integrity event)."
        }
        "enroll_attempts_per_minute" => "Enrollment attempts per source address per minute.",
        "statements_per_minute" => "Statements per agent per minute (then 429 and an alert).",
        "bytes_per_day" => "Request bytes per agent per day (then 429 and an alert).",
        "max_client_connections" => "Most client connections at once (kept below the fd limit).",
        "header_timeout_ms" => "TLS handshake and first request headers must arrive within (ms).",
        "body_timeout_ms" => "A request body must arrive within (ms).",
        _ => return None,
    })
}

/// Fixed-window counters per key (source address, agent id), bounded: when
/// more than `cap` keys are tracked, windows that ended are dropped, then
/// everything (a flood of new keys cannot grow memory).
#[derive(Debug)]
pub struct Windows<K> {
    window_ms: i64,
    cap: usize,
    map: Mutex<HashMap<K, (i64, u64)>>,
}

impl<K: Hash + Eq + Clone> Windows<K> {
    /// Windows of `window_ms`, tracking at most `cap` keys.
    pub fn new(window_ms: i64, cap: usize) -> Windows<K> {
        Windows {
            window_ms,
            cap,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// Add `amount` for `key` at `now` (ms); the window's total after it.
    pub fn add(&self, key: &K, amount: u64, now: i64) -> u64 {
        let Ok(mut m) = self.map.lock() else {
            return 0;
        };
        if m.len() >= self.cap && !m.contains_key(key) {
            let w = self.window_ms;
            m.retain(|_, (start, _)| now < start.saturating_add(w));
            if m.len() >= self.cap {
                m.clear();
            }
        }
        let e = m.entry(key.clone()).or_insert((now, 0));
        if now >= e.0.saturating_add(self.window_ms) || now < e.0 {
            *e = (now, 0);
        }
        e.1 = e.1.saturating_add(amount);
        e.1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bad_values_are_named() {
        assert!(LimitsConfig::default().validate().is_ok());
        let bad = LimitsConfig {
            max_evidence_age_seconds: 5,
            ..LimitsConfig::default()
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .contains("max_evidence_age_seconds"));
    }

    #[test]
    fn windows_count_per_key_and_reset() {
        let w = Windows::new(60_000, 2);
        assert_eq!(w.add(&"a", 1, 0), 1);
        assert_eq!(w.add(&"a", 1, 10), 2);
        assert_eq!(w.add(&"b", 5, 10), 5);
        // A new window starts after 60 s.
        assert_eq!(w.add(&"a", 1, 60_000), 1);
        // A third key past the cap drops ended windows (b's), keeping a's.
        assert_eq!(w.add(&"c", 1, 60_011), 1);
        assert_eq!(w.add(&"a", 1, 60_012), 2);
        // With every window live, a new key past the cap clears them all.
        assert_eq!(w.add(&"d", 1, 60_013), 1);
        assert_eq!(w.add(&"a", 1, 60_014), 1);
    }
}
