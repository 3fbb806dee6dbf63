//! systemd-journald configuration (`journald.conf` and drop-ins), timespans,
//! and `journal-upload.conf` forwarding.

use super::syntax::parse_bool;
use super::{ForwardTarget, JournaldFacts};
use std::collections::BTreeMap;

/// journald settings as written (later files win).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JournaldSettings {
    /// Key → value from the `[Journal]` section.
    pub values: BTreeMap<String, String>,
}

/// Parse journald.conf-style files in order (later values win).
pub fn parse_journald(texts: &[&str]) -> JournaldSettings {
    let mut out = JournaldSettings::default();
    for text in texts {
        let mut in_journal = true; // keys before any section header are accepted
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if line.starts_with('[') {
                in_journal = line.eq_ignore_ascii_case("[journal]");
                continue;
            }
            if !in_journal {
                continue;
            }
            if let Some((k, v)) = line.split_once('=') {
                out.values
                    .insert(k.trim().to_string(), v.trim().trim_matches('"').to_string());
            }
        }
    }
    out
}

/// Turn settings plus the presence of `/var/log/journal` into facts.
pub fn journald_facts(
    settings: &JournaldSettings,
    config_present: bool,
    dir_exists: bool,
) -> JournaldFacts {
    let get = |k: &str| settings.values.get(k).cloned().unwrap_or_default();
    let storage = match get("Storage").to_ascii_lowercase().as_str() {
        s @ ("persistent" | "volatile" | "none" | "auto") => s.to_string(),
        _ => "auto".to_string(),
    };
    let persistent = storage == "persistent" || (storage == "auto" && dir_exists);
    let max_retention_sec = get("MaxRetentionSec");
    let max_retention_days = parse_timespan_secs(&max_retention_sec)
        .map(|s| s / 86_400)
        .unwrap_or(0);
    JournaldFacts {
        config_present,
        storage,
        journal_dir_exists: dir_exists,
        persistent,
        system_max_use: get("SystemMaxUse"),
        max_retention_sec,
        max_retention_days,
        forward_to_syslog: settings
            .values
            .get("ForwardToSyslog")
            .and_then(|v| parse_bool(v)),
        compress: settings
            .values
            .get("Compress")
            .and_then(|v| parse_bool(v))
            .unwrap_or(true),
    }
}

/// Parse a systemd time span (`90d`, `1month`, `2w 3d`, `3600`) into seconds.
pub fn parse_timespan_secs(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    let mut chars = s.chars().peekable();
    let mut any = false;
    while chars.peek().is_some() {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut num = String::new();
        while let Some(c) = chars
            .peek()
            .copied()
            .filter(|c| c.is_ascii_digit() || *c == '.')
        {
            num.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut unit = String::new();
        while let Some(c) = chars.peek().copied().filter(|c| c.is_ascii_alphabetic()) {
            unit.push(c);
            chars.next();
        }
        if num.is_empty() {
            if unit.is_empty() {
                break;
            }
            return None;
        }
        let n: f64 = num.parse().ok()?;
        let mult: f64 = match unit.as_str() {
            "" | "s" | "sec" | "second" | "seconds" => 1.0,
            "ms" | "msec" | "us" | "usec" | "ns" | "nsec" => 0.0,
            "m" | "min" | "minute" | "minutes" => 60.0,
            "h" | "hr" | "hour" | "hours" => 3600.0,
            "d" | "day" | "days" => 86_400.0,
            "w" | "week" | "weeks" => 604_800.0,
            "M" | "month" | "months" => 2_629_800.0,
            "y" | "year" | "years" => 31_557_600.0,
            _ => return None,
        };
        // Bounded: n has at most the digits of a config line.
        let add = (n * mult).clamp(0.0, 1e15) as u64;
        total = total.saturating_add(add);
        any = true;
    }
    any.then_some(total)
}

// ---------------------------------------------------------------- rsyslog

/// `URL=` of systemd-journal-upload, as a target.
pub fn parse_journal_upload(text: &str) -> Option<ForwardTarget> {
    let settings = parse_journald_like(text, "[upload]");
    let url = settings.get("URL")?.trim().to_string();
    if url.is_empty() {
        return None;
    }
    let (scheme, rest) = url.split_once("://").unwrap_or(("https", url.as_str()));
    let hostport = rest.split('/').next().unwrap_or("");
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
            (h.trim_matches(['[', ']']).to_string(), p.parse().ok())
        }
        _ => (hostport.trim_matches(['[', ']']).to_string(), None),
    };
    let scheme = scheme.to_ascii_lowercase();
    Some(ForwardTarget {
        daemon: "journal-upload".into(),
        host,
        port: port.unwrap_or(19532),
        tls: scheme == "https",
        protocol: scheme,
        file: String::new(),
    })
}

pub(super) fn parse_journald_like(text: &str, section: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut in_sec = true;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') {
            in_sec = line.eq_ignore_ascii_case(section);
            continue;
        }
        if let (true, Some((k, v))) = (in_sec, line.split_once('=')) {
            out.insert(k.trim().to_string(), v.trim().to_string());
        }
    }
    out
}

// ---------------------------------------------------------------- auditd
