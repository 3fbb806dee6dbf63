//! `evident-agent status`: the daemon's health from its state file and spool
//! directory, read without changing anything (safe while the daemon runs).

use crate::spool::{summarize, Summary};
use crate::state::{State, StateError};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::path::Path;

/// Everything `status` reports.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    /// The collector the agent delivers to.
    pub collector: String,
    /// Agent id, when enrolled.
    pub agent_id: Option<String>,
    /// Key id, when enrolled.
    pub key_id: Option<String>,
    /// Whether a key exists.
    pub key_present: bool,
    /// When the last run finished, and its sequence.
    pub last_run: Option<DateTime<Utc>>,
    /// Sequence of the last run.
    pub last_run_sequence: Option<u64>,
    /// When the collector last acknowledged a statement.
    pub last_delivery: Option<DateTime<Utc>>,
    /// Its sequence.
    pub last_delivered_sequence: Option<u64>,
    /// Statements delivered in total.
    pub delivered_total: u64,
    /// Bytes sent for the last delivered statement.
    pub last_bytes_sent: u64,
    /// Statements waiting in the spool.
    pub spool_depth: usize,
    /// Their size in bytes.
    pub spool_bytes: u64,
    /// Oldest and newest spooled sequence.
    pub spool_range: Option<(u64, u64)>,
    /// Files in `spool/corrupt/`.
    pub corrupt_files: usize,
    /// Statements refused for good by the collector.
    pub rejected_total: u64,
    /// Sequences lost and not yet declared to the collector.
    pub pending_gap: Option<(u64, u64)>,
    /// Ranges ever dropped.
    pub dropped: Vec<(u64, u64)>,
    /// Set when delivery is stopped (the collector refused the key).
    pub delivery_stopped: Option<String>,
    /// The last error.
    pub last_error: Option<String>,
    /// When it happened.
    pub last_error_at: Option<DateTime<Utc>>,
    /// Bytes free (for unprivileged users) on the state directory's file
    /// system; None when unknown.
    pub disk_free_bytes: Option<u64>,
}

/// Below this, the state directory's disk counts as full (a statement and
/// its state update need a few hundred KB).
pub const DISK_FULL_BELOW: u64 = 1024 * 1024;

fn disk_free(dir: &Path) -> Option<u64> {
    let st = rustix::fs::statvfs(dir).ok()?;
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

/// Read the status of the agent whose state lives in `state_dir`.
pub fn read(collector: &str, state_dir: &Path) -> Result<Status, StateError> {
    let state = State::load(state_dir)?;
    let Summary {
        depth,
        bytes,
        range,
        corrupt_files,
    } = summarize(&state_dir.join("spool"));
    Ok(Status {
        collector: collector.to_string(),
        agent_id: state.agent_id,
        key_id: state.key_id,
        key_present: crate::signer::exists(state_dir),
        last_run: state.last_run,
        last_run_sequence: state.last_run_sequence,
        last_delivery: state.last_delivery,
        last_delivered_sequence: state.last_delivered_sequence,
        delivered_total: state.delivered_total,
        last_bytes_sent: state.last_bytes_sent,
        spool_depth: depth,
        spool_bytes: bytes,
        spool_range: range,
        corrupt_files,
        rejected_total: state.rejected_total,
        pending_gap: state.pending_gap.map(|g| (g.from, g.to)),
        dropped: state.dropped.iter().map(|g| (g.from, g.to)).collect(),
        delivery_stopped: state.delivery_stopped,
        last_error: state.last_error,
        last_error_at: state.last_error_at,
        disk_free_bytes: disk_free(state_dir),
    })
}

impl Status {
    /// Whether the agent is healthy enough for monitoring (`status` exits 1 otherwise).
    pub fn healthy(&self) -> bool {
        self.delivery_stopped.is_none() && self.agent_id.is_some() && !self.disk_full()
    }

    /// The error that makes delivery currently failing: the last error when
    /// it is about delivery or enrollment and no delivery succeeded since.
    pub fn delivery_failure(&self) -> Option<&str> {
        let e = self.last_error.as_deref()?;
        let about_delivery = e.starts_with("delivery") || e.starts_with("enrollment");
        let since_success = match (self.last_error_at, self.last_delivery) {
            (Some(err), Some(ok)) => err >= ok,
            (_, None) => true,
            (None, Some(_)) => false,
        };
        (about_delivery && since_success).then_some(e)
    }

    /// The `delivery:` line: `ok` only when nothing says otherwise.
    pub fn delivery_summary(&self) -> String {
        if let Some(m) = &self.delivery_stopped {
            return format!("STOPPED: {m}");
        }
        if let Some(e) = self.delivery_failure() {
            return format!("FAILING (retrying): {e}");
        }
        if self.last_delivery.is_none() {
            return if self.spool_depth > 0 {
                "pending: nothing delivered yet".into()
            } else {
                "nothing to deliver yet".into()
            };
        }
        "ok".into()
    }

    /// Whether the state directory's disk is (nearly) full.
    pub fn disk_full(&self) -> bool {
        self.disk_free_bytes.is_some_and(|b| b < DISK_FULL_BELOW)
    }

    /// A human-readable report.
    pub fn render(&self) -> String {
        let t = |d: &Option<DateTime<Utc>>| {
            d.map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_else(|| "never".into())
        };
        let seq = |s: &Option<u64>| s.map(|s| format!(" (sequence {s})")).unwrap_or_default();
        let mut out = String::new();
        let mut line = |k: &str, v: String| out.push_str(&format!("{k:<16} {v}\n"));
        line("collector:", self.collector.clone());
        line(
            "agent:",
            match (&self.agent_id, &self.key_id) {
                (Some(a), Some(k)) => format!("{a} (key {k})"),
                (Some(a), None) => a.clone(),
                _ if self.key_present => "not enrolled (key generated)".into(),
                _ => "not enrolled".into(),
            },
        );
        line(
            "last run:",
            format!("{}{}", t(&self.last_run), seq(&self.last_run_sequence)),
        );
        line(
            "last delivery:",
            format!(
                "{}{}",
                t(&self.last_delivery),
                seq(&self.last_delivered_sequence)
            ),
        );
        line(
            "delivered:",
            format!(
                "{} statements (last {} bytes)",
                self.delivered_total, self.last_bytes_sent
            ),
        );
        line(
            "spool:",
            format!(
                "{} statements, {} bytes{}",
                self.spool_depth,
                self.spool_bytes,
                self.spool_range
                    .map(|(a, b)| format!(" (sequences {a}..={b})"))
                    .unwrap_or_default()
            ),
        );
        if self.corrupt_files > 0 || self.rejected_total > 0 {
            line(
                "set aside:",
                format!(
                    "{} corrupt spool files, {} rejected statements",
                    self.corrupt_files, self.rejected_total
                ),
            );
        }
        if !self.dropped.is_empty() {
            let r: Vec<String> = self
                .dropped
                .iter()
                .map(|(a, b)| format!("{a}..={b}"))
                .collect();
            line("dropped:", r.join(", "));
        }
        line("delivery:", self.delivery_summary());
        if let Some(free) = self.disk_free_bytes {
            line(
                "disk:",
                if self.disk_full() {
                    format!("FULL: {free} bytes free on the state directory's file system; the service waits and retries with backoff")
                } else {
                    format!("{free} bytes free")
                },
            );
        }
        if let Some(e) = &self.last_error {
            line("last error:", format!("{} ({})", e, t(&self.last_error_at)));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    fn delivery_line(s: &Status) -> String {
        s.render()
            .lines()
            .find(|l| l.starts_with("delivery:"))
            .unwrap_or_default()
            .to_string()
    }

    #[test]
    fn delivery_is_not_ok_beside_a_newer_delivery_error() {
        let mut s = Status {
            agent_id: Some("a1".into()),
            last_delivery: at("2026-01-01T10:00:00Z"),
            last_error: Some("delivery of sequence 7: connection refused".into()),
            last_error_at: at("2026-01-01T11:00:00Z"),
            spool_depth: 3,
            ..Status::default()
        };
        let line = delivery_line(&s);
        assert!(line.contains("FAILING"), "{line}");
        assert!(line.contains("connection refused"), "{line}");
        assert!(!line.ends_with(" ok"), "{line}");

        // A later success makes the old error history, not the state.
        s.last_delivery = at("2026-01-01T12:00:00Z");
        assert!(delivery_line(&s).ends_with(" ok"), "{}", delivery_line(&s));

        // An error about collection says nothing about delivery.
        s.last_error = Some("collection: probe timed out".into());
        s.last_error_at = at("2026-01-01T13:00:00Z");
        assert!(delivery_line(&s).ends_with(" ok"), "{}", delivery_line(&s));

        // Enrollment failing before any delivery is a delivery failure.
        let never = Status {
            last_error: Some("enrollment: connection refused".into()),
            last_error_at: at("2026-01-01T11:00:00Z"),
            spool_depth: 1,
            ..Status::default()
        };
        assert!(
            delivery_line(&never).contains("FAILING"),
            "{}",
            delivery_line(&never)
        );

        // Stopped wins over everything.
        s.delivery_stopped = Some("collector refused the agent key (403)".into());
        assert!(
            delivery_line(&s).contains("STOPPED"),
            "{}",
            delivery_line(&s)
        );
    }

    #[test]
    fn nothing_delivered_yet_is_not_called_ok() {
        let pending = Status {
            spool_depth: 2,
            ..Status::default()
        };
        assert!(
            delivery_line(&pending).contains("pending"),
            "{}",
            delivery_line(&pending)
        );
        let empty = Status::default();
        assert!(
            !delivery_line(&empty).ends_with(" ok"),
            "{}",
            delivery_line(&empty)
        );
    }
}
