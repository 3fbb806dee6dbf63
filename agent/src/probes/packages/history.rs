//! Last update times from `apt/history.log` and `dnf.rpm.log`.

use chrono::{DateTime, NaiveDateTime, Utc};

/// The newest time in apt's `history.log` of an entry that upgraded packages
/// (`End-Date`, else `Start-Date`). Times are read as UTC.
pub fn parse_apt_history(text: &str) -> Option<DateTime<Utc>> {
    let mut best: Option<NaiveDateTime> = None;
    let mut start = None;
    let mut end = None;
    let mut upgrade = false;
    let mut flush =
        |start: &mut Option<NaiveDateTime>, end: &mut Option<NaiveDateTime>, upgrade: &mut bool| {
            if *upgrade {
                if let Some(t) = end.or(*start) {
                    best = Some(best.map_or(t, |b| b.max(t)));
                }
            }
            *start = None;
            *end = None;
            *upgrade = false;
        };
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(v) = line.strip_prefix("Start-Date:") {
            flush(&mut start, &mut end, &mut upgrade);
            start = parse_apt_time(v);
        } else if let Some(v) = line.strip_prefix("End-Date:") {
            end = parse_apt_time(v);
        } else if line.starts_with("Upgrade:") {
            upgrade = true;
        }
    }
    flush(&mut start, &mut end, &mut upgrade);
    best.map(|t| t.and_utc())
}

pub(super) fn parse_apt_time(v: &str) -> Option<NaiveDateTime> {
    let joined: Vec<&str> = v.split_whitespace().collect();
    NaiveDateTime::parse_from_str(&joined.join(" "), "%Y-%m-%d %H:%M:%S").ok()
}

/// The newest time of an `Upgrade`/`Upgraded`/`Installed` line in `/var/log/dnf.rpm.log`.
pub fn parse_dnf_rpm_log(text: &str) -> Option<DateTime<Utc>> {
    text.lines()
        .filter(|l| l.contains(" Upgrade: ") || l.contains(" Upgraded: "))
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|ts| {
            DateTime::parse_from_str(ts, "%Y-%m-%dT%H:%M:%S%z")
                .or_else(|_| DateTime::parse_from_rfc3339(ts))
                .ok()
        })
        .map(|t| t.with_timezone(&Utc))
        .max()
}
