//! Cron: system and user crontabs, anacrontab and `/etc/cron.<period>/` scripts.

use super::backup::backup_tool;
use super::facts::{CronJob, PeriodicScript};
use super::redact::redact_command;
use crate::probes::common::reader::Reader;
use std::collections::BTreeSet;

const SPECIALS: &[&str] = &[
    "@reboot",
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
];

/// Split off `n` whitespace-separated fields; returns them and the trimmed rest.
fn split_fields(line: &str, n: usize) -> Option<(Vec<&str>, &str)> {
    let mut fields = Vec::with_capacity(n);
    let mut rest = line.trim_start();
    for _ in 0..n {
        let end = rest.find(char::is_whitespace)?;
        let (field, tail) = rest.split_at(end);
        fields.push(field);
        rest = tail.trim_start();
    }
    Some((fields, rest.trim_end()))
}

/// Whether a line sets an environment variable (`MAILTO=root`, `SHELL = /bin/sh`).
fn is_env_line(line: &str) -> bool {
    let Some((name, _)) = line.split_once('=') else {
        return false;
    };
    let name = name.trim().trim_matches(|c| c == '"' || c == '\'');
    !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
}

const TIME_NAMES: &[&str] = &[
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec", "sun",
    "mon", "tue", "wed", "thu", "fri", "sat",
];

/// A cron time field: `*`, numbers, month/day names, with `,` lists, `-` ranges, `/` steps.
fn is_time_field(f: &str) -> bool {
    !f.is_empty()
        && f.split([',', '-', '/', '~']).all(|part| {
            part == "*"
                || (!part.is_empty() && part.chars().all(|c| c.is_ascii_digit()))
                || TIME_NAMES.contains(&part.to_ascii_lowercase().as_str())
        })
}

/// Parse a crontab. `file_user` is `None` for the system format (`/etc/crontab`,
/// `/etc/cron.d/*`, with a user field) and the spool file's user otherwise.
pub fn parse_crontab(text: &str, source: &str, file_user: Option<&str>) -> Vec<CronJob> {
    let user_fields = usize::from(file_user.is_none());
    let mut jobs = Vec::new();
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || is_env_line(line) {
            continue;
        }
        let (schedule, n_time) = if line.starts_with('@') {
            let special = line.split_whitespace().next().unwrap_or("");
            if !SPECIALS.contains(&special) {
                continue;
            }
            (special.to_string(), 1)
        } else {
            let Some((f, _)) = split_fields(line, 5) else {
                continue;
            };
            if !f.iter().all(|x| is_time_field(x)) {
                continue;
            }
            (f.join(" "), 5)
        };
        let Some((fields, command)) = split_fields(line, n_time + user_fields) else {
            continue;
        };
        if command.is_empty() {
            continue;
        }
        let user = match file_user {
            Some(u) => u.to_string(),
            None => fields.last().map(|s| s.to_string()).unwrap_or_default(),
        };
        jobs.push(job(source, &user, schedule, command));
    }
    jobs
}

fn job(source: &str, user: &str, schedule: String, command: &str) -> CronJob {
    CronJob {
        source: source.to_string(),
        user: user.to_string(),
        schedule,
        command: redact_command(command),
        backup: backup_tool(command).is_some(),
    }
}

/// Parse `/etc/anacrontab`: `period delay job-id command` lines (root's jobs).
pub fn parse_anacrontab(text: &str, source: &str) -> Vec<CronJob> {
    let mut jobs = Vec::new();
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || is_env_line(line) {
            continue;
        }
        let Some((f, command)) = split_fields(line, 3) else {
            continue;
        };
        let period = f.first().copied().unwrap_or("");
        let period_ok = period.chars().all(|c| c.is_ascii_digit()) || SPECIALS.contains(&period);
        if !period_ok || command.is_empty() {
            continue;
        }
        jobs.push(job(source, "root", format!("anacron {period}"), command));
    }
    jobs
}

/// Periodic scripts from the names in `/etc/cron.<period>`.
pub fn parse_periodic(period: &str, names: &[String]) -> Vec<PeriodicScript> {
    names
        .iter()
        .filter(|n| {
            !n.starts_with('.') && !n.ends_with('~') && !n.contains(".dpkg-") && !n.contains(".rpm")
        })
        .map(|n| PeriodicScript {
            period: period.to_string(),
            name: n.clone(),
            backup: backup_tool(n).is_some(),
        })
        .collect()
}

fn spool_name_ok(n: &str) -> bool {
    !n.starts_with('.') && !n.starts_with("tmp.") && !n.ends_with('~')
}

/// Every cron job on the host and the users with a spool crontab.
pub(super) fn read_cron(r: &mut Reader<'_>) -> (Vec<CronJob>, Vec<String>) {
    let mut jobs = Vec::new();
    if let Some(t) = r.read("/etc/crontab") {
        jobs.extend(parse_crontab(&t, "/etc/crontab", None));
    }
    for n in r.names("/etc/cron.d") {
        // cron ignores names with dots (Debian) and editor/package leftovers.
        if !spool_name_ok(&n) || n.contains('.') {
            continue;
        }
        let p = format!("/etc/cron.d/{n}");
        if let Some(t) = r.read(&p) {
            jobs.extend(parse_crontab(&t, &p, None));
        }
    }
    let mut users = BTreeSet::new();
    for dir in ["/var/spool/cron/crontabs", "/var/spool/cron"] {
        for n in r.names(dir) {
            let p = format!("{dir}/{n}");
            if !spool_name_ok(&n) || !r.is_file(&p) {
                continue;
            }
            if let Some(t) = r.read(&p) {
                users.insert(n.clone());
                jobs.extend(parse_crontab(&t, &p, Some(&n)));
            }
        }
    }
    if let Some(t) = r.read("/etc/anacrontab") {
        jobs.extend(parse_anacrontab(&t, "/etc/anacrontab"));
    }
    (jobs, users.into_iter().collect())
}
