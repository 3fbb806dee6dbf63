//! Update times as facts (RFC 3339, mtime fallbacks).

use super::PackagesFacts;
use crate::hostroot::HostRoot;
use chrono::{DateTime, Utc};

pub(super) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub(super) fn from_mtime(secs: i64) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp(secs, 0)
}

// ---------------------------------------------------------------- assembly

/// Times gathered for the dpkg/rpm paths (from logs or mtimes).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateTimes {
    /// Candidate (time, source) pairs preferred in order of trust; the newest wins.
    pub upgrades: Vec<(DateTime<Utc>, &'static str)>,
    /// Fallback when there is no upgrade evidence.
    pub fallback: Option<(DateTime<Utc>, &'static str)>,
    /// Last list refresh.
    pub lists_refreshed: Option<DateTime<Utc>>,
}

/// Fill the time fields of `facts`.
pub fn apply_times(facts: &mut PackagesFacts, times: &UpdateTimes) {
    let chosen = times
        .upgrades
        .iter()
        .copied()
        .max_by_key(|(t, _)| *t)
        .or(times.fallback);
    if let Some((t, src)) = chosen {
        facts.last_update = Some(rfc3339(t));
        facts.last_update_source = src.to_string();
    }
    if let Some(t) = times.lists_refreshed {
        facts.lists_refreshed = Some(rfc3339(t));
    }
}

pub(super) fn mtime(root: &HostRoot, path: &str) -> Option<DateTime<Utc>> {
    root.metadata(path)
        .ok()
        .flatten()
        .and_then(|m| from_mtime(m.mtime))
}
