//! logrotate: `logrotate.conf`, `logrotate.d/*` and effective retention.

use super::{LogrotateEntry, LogrotateFacts, RotateSettings};

/// One file's logrotate content: top-level settings and blocks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogrotateFile {
    /// Top-level directives.
    pub global: RotateSettings,
    /// `(paths, settings)` per block.
    pub blocks: Vec<(Vec<String>, RotateSettings)>,
}

/// Parse a logrotate configuration file.
pub fn parse_logrotate(text: &str) -> LogrotateFile {
    let mut out = LogrotateFile::default();
    let mut current: Option<(Vec<String>, RotateSettings)> = None;
    let mut in_script = false;
    let mut pending: Vec<String> = Vec::new();
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let first = line.split_whitespace().next().unwrap_or("");
        if in_script {
            if first == "endscript" {
                in_script = false;
            }
            continue;
        }
        if matches!(
            first,
            "postrotate" | "prerotate" | "firstaction" | "lastaction" | "preremove"
        ) {
            in_script = true;
            continue;
        }
        if let Some(head) = line.strip_suffix('{') {
            let mut paths = std::mem::take(&mut pending);
            paths.extend(
                head.split_whitespace()
                    .map(|p| p.trim_matches('"').to_string()),
            );
            current = Some((paths, RotateSettings::default()));
            continue;
        }
        // Paths of a block may stand on their own lines before its `{`.
        if current.is_none() && (line.starts_with('/') || line.starts_with('"')) {
            pending.extend(
                line.split_whitespace()
                    .map(|p| p.trim_matches('"').to_string()),
            );
            continue;
        }
        if line == "}" {
            if let Some(b) = current.take() {
                out.blocks.push(b);
            }
            continue;
        }
        let target = match current.as_mut() {
            Some((_, s)) => s,
            None => &mut out.global,
        };
        apply_rotate_directive(target, line);
        // A closing brace on the same line as a directive.
        if line.ends_with('}') {
            if let Some(b) = current.take() {
                out.blocks.push(b);
            }
        }
    }
    out
}

pub(super) fn apply_rotate_directive(s: &mut RotateSettings, line: &str) {
    let mut it = line.trim_end_matches('}').split_whitespace();
    match it.next() {
        Some(f @ ("hourly" | "daily" | "weekly" | "monthly" | "yearly")) => {
            s.frequency = Some(f.to_string());
        }
        Some("rotate") => {
            if let Some(n) = it.next().and_then(|n| n.parse::<i64>().ok()) {
                s.rotate = Some(u64::try_from(n).unwrap_or(0));
            }
        }
        Some("maxage") => s.maxage = it.next().and_then(|n| n.parse().ok()),
        _ => {}
    }
}

pub(super) fn period_days(freq: &str) -> u64 {
    match freq {
        "weekly" => 7,
        "monthly" => 30,
        "yearly" => 365,
        // hourly logs still rotate at most as often as logrotate runs (daily by default)
        _ => 1,
    }
}

pub(super) fn retention(freq: &str, rotate: u64, maxage: Option<u64>) -> u64 {
    let days = rotate.saturating_mul(period_days(freq));
    match maxage {
        Some(m) if m < days => m,
        _ => days,
    }
}

/// Combine `logrotate.conf` and the `logrotate.d` files (`(name, parsed)`) into facts.
pub fn logrotate_facts(main: &LogrotateFile, files: &[(String, LogrotateFile)]) -> LogrotateFacts {
    let g = &main.global;
    let gfreq = g.frequency.clone().unwrap_or_default();
    let grot = g.rotate.unwrap_or(0);
    let mut facts = LogrotateFacts {
        installed: true,
        global_frequency: gfreq.clone(),
        global_rotate: grot,
        global_retention_days: retention(&gfreq, grot, g.maxage),
        ..LogrotateFacts::default()
    };
    for (name, file) in files {
        for (paths, s) in &file.blocks {
            let freq = s.frequency.clone().unwrap_or_else(|| gfreq.clone());
            let rot = s.rotate.unwrap_or(grot);
            facts.entries.push(LogrotateEntry {
                paths: paths.clone(),
                frequency: freq.clone(),
                rotate: rot,
                retention_days: retention(&freq, rot, s.maxage.or(g.maxage)),
                file: name.clone(),
            });
        }
    }
    facts.syslog_retention_days = facts.global_retention_days;
    'outer: for wanted in ["/var/log/syslog", "/var/log/messages"] {
        for e in &facts.entries {
            if e.paths.iter().any(|p| p == wanted) {
                facts.syslog_log = wanted.to_string();
                facts.syslog_retention_days = e.retention_days;
                break 'outer;
            }
        }
    }
    facts
}

// ---------------------------------------------------------------- collect
