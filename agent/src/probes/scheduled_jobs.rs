//! Probe `scheduled-jobs`: cron jobs, systemd timers and the backup jobs among them.
//!
//! Sources (Debian/Ubuntu and RHEL/Fedora layouts):
//! - `/etc/crontab` and `/etc/cron.d/*`: system format, with a user field;
//! - user crontabs `/var/spool/cron/crontabs/<user>` (Debian) and
//!   `/var/spool/cron/<user>` (RHEL): no user field, the file name is the user;
//! - `/etc/anacrontab` (`period delay job-id command`);
//! - `/etc/cron.{hourly,daily,weekly,monthly}/`: script *names* only (never contents);
//! - systemd timers enabled by a link in a `*.wants/` directory (mostly
//!   `timers.target.wants`), with `OnCalendar=` (and the other trigger settings)
//!   read from the unit file and its drop-ins, and the `ExecStart=` of the unit
//!   they trigger.
//!
//! Cron syntax handled: comments, blank lines, `NAME=value` environment lines
//! (never reported: they often hold secrets such as `RESTIC_PASSWORD`), `@reboot`
//! / `@daily`-style specials, five-field schedules, CRLF. Cron has no line
//! continuations, so none are joined.
//!
//! Commands are reported redacted (`--password=…`, `PGPASSWORD=…`, `-p<secret>`,
//! URL credentials → `***`) and cut to 200 characters. A job is a *backup job*
//! when its command, script or unit names a known backup tool (restic, borg,
//! duplicity, rsnapshot, bacula, pg_dump, mysqldump, …), or copies with tar/rsync
//! to a path mentioning "backup"; enabled backup agents (bacula-fd, bareos-fd,
//! veeamservice, …) count too. Debian's own `dpkg-db-backup` timer does not.

use super::common::reader::Reader;
use super::common::systemd::{self, UnitTree};
use super::Outcome;
use crate::hostroot::HostRoot;
use serde::Serialize;
use std::collections::BTreeSet;

/// The probe's schema: id, version, controls and every field (in core).
pub use evident_core::schema::probes::scheduled_jobs::SCHEMA;

/// Longest command reported.
pub const MAX_COMMAND_CHARS: usize = 200;

const PERIODS: &[&str] = &["hourly", "daily", "weekly", "monthly"];

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

/// Programs that are backup tools whatever their arguments.
const BACKUP_TOOLS: &[&str] = &[
    "restic",
    "borg",
    "borgmatic",
    "duplicity",
    "duply",
    "rsnapshot",
    "bacula",
    "bconsole",
    "bareos",
    "amdump",
    "amanda",
    "veeam",
    "veeamconfig",
    "rclone",
    "duplicati",
    "duplicati-cli",
    "pg_dump",
    "pg_dumpall",
    "pg_basebackup",
    "pgbackrest",
    "barman",
    "wal-g",
    "wal-e",
    "mysqldump",
    "mariadb-dump",
    "mariabackup",
    "xtrabackup",
    "mydumper",
    "mongodump",
    "btrbk",
    "kopia",
    "tarsnap",
    "bup",
    "burp",
    "syncoid",
    "urbackupclientctl",
    "automysqlbackup",
    "autopostgresqlbackup",
    "backupninja",
    "backup-manager",
    "zfs-autobackup",
    "dsmc",
];

/// Copy tools that count when the command mentions "backup".
const COPY_TOOLS: &[&str] = &["tar", "rsync", "cp", "scp", "zfs", "btrfs", "dd", "cpio"];

/// Enabled units that are backup agents (base names).
const BACKUP_AGENTS: &[&str] = &[
    "bacula-fd",
    "bareos-fd",
    "veeamservice",
    "urbackupclientbackend",
    "dsmcad",
    "networker",
    "acronis_mms",
    "amanda",
];

/// Names that contain "backup" but are not backups of the host's data.
const NOT_BACKUPS: &[&str] = &["dpkg-db-backup"];

/// One cron or anacron job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CronJob {
    /// Defining file.
    pub source: String,
    /// User.
    pub user: String,
    /// Schedule.
    pub schedule: String,
    /// Redacted, truncated command.
    pub command: String,
    /// Runs a backup tool.
    pub backup: bool,
}

/// A script in a cron.<period> directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeriodicScript {
    /// hourly | daily | weekly | monthly.
    pub period: String,
    /// Script name.
    pub name: String,
    /// Looks like a backup.
    pub backup: bool,
}

/// An enabled systemd timer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Timer {
    /// Timer unit.
    pub name: String,
    /// OnCalendar= values.
    pub on_calendar: Vec<String>,
    /// All trigger settings.
    pub schedule: String,
    /// Triggered unit.
    pub unit: String,
    /// First ExecStart= of the triggered unit, redacted.
    pub command: String,
    /// Looks like a backup.
    pub backup: bool,
}

/// A backup found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupJob {
    /// cron | periodic | timer | agent.
    pub kind: String,
    /// Where.
    pub name: String,
    /// Which tool.
    pub tool: String,
}

/// What the probe reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ScheduledJobsFacts {
    /// Cron files exist.
    pub cron_present: bool,
    /// Jobs.
    pub jobs: Vec<CronJob>,
    /// `jobs.len()`.
    pub job_count: usize,
    /// Users with a spool crontab.
    pub user_crontabs: Vec<String>,
    /// Periodic scripts.
    pub periodic_scripts: Vec<PeriodicScript>,
    /// Enabled timers.
    pub timers: Vec<Timer>,
    /// `timers.len()`.
    pub timer_count: usize,
    /// Backups found.
    pub backup_jobs: Vec<BackupJob>,
    /// `!backup_jobs.is_empty()`.
    pub backup_configured: bool,
    /// Unreadable paths.
    pub unreadable: Vec<String>,
}

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

fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "pass",
        "pwd",
        "secret",
        "token",
        "key",
        "credential",
        "auth",
        "cookie",
    ]
    .iter()
    .any(|w| n.contains(w))
}

/// Redact one `scheme://user:pass@host` inside a token.
fn redact_url(token: &str) -> String {
    let Some(i) = token.find("://") else {
        return token.to_string();
    };
    let (head, rest) = token.split_at(i + 3);
    let authority_end = rest.find(['/', '?', '#', ' ']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return token.to_string();
    };
    let userinfo = match userinfo.split_once(':') {
        Some((user, _)) => format!("{user}:***"),
        None => "***".to_string(),
    };
    format!("{head}{userinfo}@{host}{tail}")
}

/// Redact secrets in a command and cut it to [`MAX_COMMAND_CHARS`] characters.
pub fn redact_command(command: &str) -> String {
    let lower = command.to_ascii_lowercase();
    let mysql = lower.contains("mysql") || lower.contains("mariadb");
    let sshpass = lower.contains("sshpass");
    let mut out = String::with_capacity(command.len());
    let mut redact_next = false;
    let mut in_quote: Option<char> = None;
    let mut first = true;
    for token in command.split_whitespace() {
        if !first {
            out.push(' ');
        }
        first = false;
        if let Some(q) = in_quote {
            // Still inside a redacted quoted value.
            if token.ends_with(q) {
                in_quote = None;
            }
            out.push_str("***");
            continue;
        }
        if redact_next && !token.starts_with('-') {
            redact_next = false;
            out.push_str("***");
            in_quote = open_quote(token);
            continue;
        }
        redact_next = false;
        let t = redact_token(token, mysql, sshpass, &mut redact_next, &mut in_quote);
        out.push_str(&redact_url(&t));
    }
    truncate(&out)
}

/// The quote a value opens and does not close, if any.
fn open_quote(value: &str) -> Option<char> {
    let q = value.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let closed = value.len() > 1 && value.ends_with(q);
    (!closed).then_some(q)
}

fn redact_token(
    token: &str,
    mysql: bool,
    sshpass: bool,
    redact_next: &mut bool,
    in_quote: &mut Option<char>,
) -> String {
    if let Some(opt) = token.strip_prefix("--") {
        return match opt.split_once('=') {
            Some((name, value)) if is_secret_name(name) => {
                *in_quote = open_quote(value);
                format!("--{name}=***")
            }
            Some(_) => token.to_string(),
            None => {
                *redact_next = is_secret_name(opt) && !opt.contains("file");
                token.to_string()
            }
        };
    }
    if token.starts_with('-') {
        if mysql && token.len() > 2 && token.starts_with("-p") {
            return "-p***".into();
        }
        if sshpass && token == "-p" {
            *redact_next = true;
        }
        return token.to_string();
    }
    if let Some((name, value)) = token.split_once('=') {
        let bare = name.trim_start_matches(['"', '\'']);
        if !bare.is_empty()
            && bare
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            && is_secret_name(bare)
        {
            *in_quote = open_quote(value);
            return format!("{name}=***");
        }
    }
    token.to_string()
}

fn truncate(s: &str) -> String {
    if s.chars().count() <= MAX_COMMAND_CHARS {
        return s.to_string();
    }
    let mut t: String = s.chars().take(MAX_COMMAND_CHARS).collect();
    t.push('…');
    t
}

/// The backup tool a command (or a script/unit name) runs, if any.
pub fn backup_tool(command: &str) -> Option<String> {
    let lower = command.to_ascii_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| c.is_whitespace() || ";|&()`'\"$<>{}=".contains(c))
        .filter(|w| !w.is_empty())
        .map(|w| w.rsplit('/').next().unwrap_or(w))
        .collect();
    for w in &words {
        let stem = w.strip_suffix(".sh").unwrap_or(w);
        if BACKUP_TOOLS.contains(&stem) {
            return Some(stem.to_string());
        }
        if stem == "etcdctl" && words.contains(&"snapshot") {
            return Some("etcdctl".into());
        }
    }
    let mentions_backup =
        lower.contains("backup") && !NOT_BACKUPS.iter().any(|n| lower.contains(n));
    if mentions_backup {
        if let Some(tool) = words.iter().find(|w| COPY_TOOLS.contains(w)) {
            return Some((*tool).to_string());
        }
        // A program or script whose own name says backup (`/usr/local/bin/db-backup.sh`).
        let first = words.first().copied().unwrap_or("");
        let program = if [
            "sh",
            "bash",
            "/bin/sh",
            "nice",
            "ionice",
            "flock",
            "run-parts",
        ]
        .contains(&first)
        {
            words.iter().find(|w| w.contains("backup")).copied()
        } else {
            Some(first)
        };
        if program.is_some_and(|p| p.contains("backup")) {
            return Some("script".into());
        }
    }
    None
}

/// Settings of a timer unit relevant here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimerUnit {
    /// OnCalendar= values (an empty assignment resets the list).
    pub on_calendar: Vec<String>,
    /// Every trigger setting as `Key=value`.
    pub triggers: Vec<String>,
    /// Unit=.
    pub unit: Option<String>,
}

fn unit_assignments(text: &str, section: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') && line.ends_with(']') {
            current = line.trim_matches(|c| c == '[' || c == ']').to_string();
            continue;
        }
        if current != section {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            out.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

/// Apply a timer unit file or drop-in (`[Timer]` section) over `t`.
pub fn parse_timer_unit(text: &str, t: &mut TimerUnit) {
    for (k, v) in unit_assignments(text, "Timer") {
        match k.as_str() {
            "OnCalendar" if v.is_empty() => t.on_calendar.clear(),
            "OnCalendar" => t.on_calendar.push(v.clone()),
            "Unit" => t.unit = Some(v.clone()),
            _ => {}
        }
        let is_trigger = k.starts_with("On") || k == "RandomizedDelaySec";
        if is_trigger && k != "OnCalendar" {
            // An empty value resets a list; RandomizedDelaySec= holds one value.
            if v.is_empty() || k == "RandomizedDelaySec" {
                t.triggers.retain(|x| !x.starts_with(&format!("{k}=")));
            }
            if !v.is_empty() {
                t.triggers.push(format!("{k}={v}"));
            }
        }
    }
}

/// `ExecStart=` values of a service unit file (prefixes like `-`, `@`, `+`, `!` removed).
pub fn parse_exec_start(text: &str) -> Vec<String> {
    unit_assignments(text, "Service")
        .into_iter()
        .filter(|(k, _)| k == "ExecStart")
        .map(|(_, v)| v.trim_start_matches(['-', '@', '+', '!', ':']).to_string())
        .filter(|v| !v.is_empty())
        .collect()
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

/// Assemble the facts and the backup list (pure).
pub fn build_facts(
    jobs: Vec<CronJob>,
    user_crontabs: Vec<String>,
    periodic_scripts: Vec<PeriodicScript>,
    timers: Vec<Timer>,
    agents: Vec<String>,
) -> ScheduledJobsFacts {
    let mut backup_jobs = Vec::new();
    for j in &jobs {
        if j.backup {
            backup_jobs.push(BackupJob {
                kind: "cron".into(),
                name: j.source.clone(),
                tool: backup_tool(&j.command).unwrap_or_else(|| "unknown".into()),
            });
        }
    }
    for p in &periodic_scripts {
        if let Some(tool) = backup_tool(&p.name) {
            backup_jobs.push(BackupJob {
                kind: "periodic".into(),
                name: format!("/etc/cron.{}/{}", p.period, p.name),
                tool,
            });
        }
    }
    for t in &timers {
        if t.backup {
            let tool = backup_tool(&t.command)
                .or_else(|| backup_tool(&t.name))
                .or_else(|| backup_tool(&t.unit));
            backup_jobs.push(BackupJob {
                kind: "timer".into(),
                name: t.name.clone(),
                tool: tool.unwrap_or_else(|| "unknown".into()),
            });
        }
    }
    for a in agents {
        backup_jobs.push(BackupJob {
            kind: "agent".into(),
            tool: systemd::unit_base(&a).to_string(),
            name: a,
        });
    }
    ScheduledJobsFacts {
        cron_present: false,
        job_count: jobs.len(),
        jobs,
        user_crontabs,
        periodic_scripts,
        timer_count: timers.len(),
        timers,
        backup_configured: !backup_jobs.is_empty(),
        backup_jobs,
        unreadable: Vec::new(),
    }
}

fn spool_name_ok(n: &str) -> bool {
    !n.starts_with('.') && !n.starts_with("tmp.") && !n.ends_with('~')
}

fn read_cron(r: &mut Reader<'_>) -> (Vec<CronJob>, Vec<String>) {
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

fn read_timer(r: &mut Reader<'_>, name: &str) -> Timer {
    let mut tu = TimerUnit::default();
    if let Some(path) = systemd::find_unit_file(r.root, name) {
        if let Some(t) = r.read(&path) {
            parse_timer_unit(&t, &mut tu);
        }
    }
    let mut dropins = Vec::new();
    for dir in systemd::UNIT_DIRS.iter().rev() {
        let d = format!("{dir}/{name}.d");
        for n in r.names(&d) {
            if n.ends_with(".conf") {
                dropins.push((n.clone(), format!("{d}/{n}")));
            }
        }
    }
    dropins.sort();
    for (_, p) in dropins {
        if let Some(t) = r.read(&p) {
            parse_timer_unit(&t, &mut tu);
        }
    }
    let stem = name.strip_suffix(".timer").unwrap_or(name);
    let unit = tu.unit.clone().unwrap_or_else(|| format!("{stem}.service"));
    let command = systemd::find_unit_file(r.root, &unit)
        .and_then(|p| r.read(&p))
        .and_then(|t| parse_exec_start(&t).into_iter().next())
        .unwrap_or_default();
    let mut schedule: Vec<String> = tu
        .on_calendar
        .iter()
        .map(|c| format!("OnCalendar={c}"))
        .collect();
    schedule.extend(tu.triggers.iter().cloned());
    let backup = !NOT_BACKUPS.contains(&stem)
        && (backup_tool(&command).is_some()
            || backup_tool(name).is_some()
            || backup_tool(&unit).is_some());
    Timer {
        name: name.to_string(),
        on_calendar: tu.on_calendar,
        schedule: schedule.join("; "),
        unit,
        command: redact_command(&command),
        backup,
    }
}

/// Collect under `root`.
pub fn collect(root: &HostRoot) -> Outcome {
    if !root.exists("/etc") {
        return Outcome::Unsupported("no /etc under the root".into());
    }
    let mut r = Reader::new(root);
    let cron_present = ["/etc/crontab", "/etc/cron.d", "/var/spool/cron"]
        .iter()
        .any(|p| root.exists(p));
    let (jobs, users) = read_cron(&mut r);
    let mut periodic = Vec::new();
    for period in PERIODS {
        let names = r.names(&format!("/etc/cron.{period}"));
        periodic.extend(parse_periodic(period, &names));
    }
    let tree: UnitTree = systemd::read_unit_tree(root);
    r.unreadable.extend(tree.unreadable.iter().cloned());
    let timers: Vec<Timer> = tree
        .enabled
        .iter()
        .filter(|u| u.ends_with(".timer"))
        .map(|u| read_timer(&mut r, u))
        .collect();
    let agents: Vec<String> = tree
        .enabled
        .iter()
        .filter(|u| BACKUP_AGENTS.contains(&systemd::unit_base(u)))
        .cloned()
        .collect();
    let mut facts = build_facts(jobs, users, periodic, timers, agents);
    facts.cron_present = cron_present;
    facts.unreadable = r.unreadable;
    Outcome::from_facts(&facts)
}

/// Feed arbitrary text to every parser (for cargo-fuzz); never panics.
pub fn fuzz_parse(input: &str) {
    let _ = parse_crontab(input, "fuzz", None);
    let _ = parse_crontab(input, "fuzz", Some("u"));
    let _ = parse_anacrontab(input, "fuzz");
    let _ = redact_command(input);
    let _ = backup_tool(input);
    let mut t = TimerUnit::default();
    parse_timer_unit(input, &mut t);
    let _ = parse_exec_start(input);
    let names: Vec<String> = input.lines().map(str::to_string).collect();
    let _ = parse_periodic("daily", &names);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;
    use std::path::Path;

    const FX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/scheduled-jobs");
    const DEB_CRONTAB: &str =
        include_str!("../../tests/fixtures/scheduled-jobs/debian/etc/crontab");
    const RESTIC: &str =
        include_str!("../../tests/fixtures/scheduled-jobs/debian/etc/cron.d/restic");
    const POSTGRES: &str =
        include_str!("../../tests/fixtures/scheduled-jobs/debian/spool/postgres");
    const ANACRONTAB: &str = include_str!("../../tests/fixtures/scheduled-jobs/rhel/anacrontab");
    const RHEL_CRONTAB: &str = include_str!("../../tests/fixtures/scheduled-jobs/rhel/crontab");

    fn put(root: &Path, host: &str, fixture: &str) {
        let p = root.join(host.trim_start_matches('/'));
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::copy(format!("{FX}/{fixture}"), p).unwrap();
    }

    fn link(root: &Path, target: &str, at: &str) {
        let p = root.join(at.trim_start_matches('/'));
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        symlink(target, p).unwrap();
    }

    #[test]
    fn debian_system_crontab_has_four_jobs_and_no_env() {
        let jobs = parse_crontab(DEB_CRONTAB, "/etc/crontab", None);
        assert_eq!(jobs.len(), 4);
        assert_eq!(jobs[0].schedule, "17 * * * *");
        assert_eq!(jobs[0].user, "root");
        assert_eq!(
            jobs[0].command,
            "cd / && run-parts --report /etc/cron.hourly"
        );
        assert_eq!(jobs[2].schedule, "47 6 * * 7");
        assert!(jobs.iter().all(|j| !j.backup));
        assert!(parse_crontab(RHEL_CRONTAB, "/etc/crontab", None).is_empty());
    }

    #[test]
    fn crlf_cron_d_file_with_secrets_is_redacted() {
        let jobs = parse_crontab(RESTIC, "/etc/cron.d/restic", None);
        assert_eq!(jobs.len(), 2);
        let j = &jobs[0];
        assert!(j.backup);
        assert_eq!(j.user, "root");
        assert_eq!(
            j.command,
            "RESTIC_REPOSITORY=s3:https://backup:***@minio.example.com/host1 RESTIC_PASSWORD=*** *** *** /usr/bin/restic backup --one-file-system /srv /etc --exclude-caches"
        );
        assert_eq!(jobs[1].schedule, "@reboot");
        assert_eq!(jobs[1].command, "/usr/local/bin/warm-cache --token=***");
        let all = format!("{jobs:?}");
        for secret in ["hunter2", "S3cr3tKey", "horse", "abc123"] {
            assert!(!all.contains(secret), "{secret} leaked");
        }
    }

    #[test]
    fn user_crontab_pg_dump_and_mysqldump() {
        let jobs = parse_crontab(
            POSTGRES,
            "/var/spool/cron/crontabs/postgres",
            Some("postgres"),
        );
        assert_eq!(jobs.len(), 3, "{jobs:#?}");
        assert_eq!(jobs[0].user, "postgres");
        assert!(jobs[0]
            .command
            .starts_with("PGPASSWORD=*** pg_dumpall -h localhost"));
        assert!(jobs[0].backup);
        assert_eq!(
            backup_tool(POSTGRES.lines().nth(5).unwrap()).as_deref(),
            Some("pg_dumpall")
        );
        assert!(!jobs[1].backup);
        assert_eq!(jobs[2].schedule, "0 4 * * sun");
        assert!(jobs[2].command.contains("-p***") && !jobs[2].command.contains("TopSecret"));
        assert!(jobs[2].backup);
    }

    #[test]
    fn anacrontab_jobs() {
        let jobs = parse_anacrontab(ANACRONTAB, "/etc/anacrontab");
        let s: Vec<&str> = jobs.iter().map(|j| j.schedule.as_str()).collect();
        assert_eq!(s, vec!["anacron 1", "anacron 7", "anacron @monthly"]);
        assert_eq!(jobs[0].command, "nice run-parts /etc/cron.daily");
    }

    #[test]
    fn redaction_cases() {
        assert_eq!(
            redact_command("sshpass -p pw rsync a b"),
            "sshpass -p *** rsync a b"
        );
        assert_eq!(
            redact_command("curl https://tok@h/x"),
            "curl https://***@h/x"
        );
        assert_eq!(
            redact_command("x --password 'a b c' y"),
            "x --password *** *** *** y"
        );
        assert_eq!(redact_command("x --key-file=/k y"), "x --key-file=*** y");
        assert_eq!(redact_command("ls -la /tmp"), "ls -la /tmp");
        let long = "a".repeat(500);
        assert_eq!(redact_command(&long).chars().count(), MAX_COMMAND_CHARS + 1);
        assert_eq!(
            backup_tool("tar czf /backup/etc.tgz /etc").as_deref(),
            Some("tar")
        );
        assert_eq!(backup_tool("tar czf /tmp/x.tgz /etc"), None);
        assert_eq!(
            backup_tool("/usr/local/bin/nightly-backup.sh").as_deref(),
            Some("script")
        );
        assert_eq!(
            backup_tool("etcdctl snapshot save /var/lib/s.db").as_deref(),
            Some("etcdctl")
        );
        assert_eq!(backup_tool("/usr/libexec/dpkg/dpkg-db-backup"), None);
        assert_eq!(backup_tool("backupninja"), Some("backupninja".into()));
    }

    #[test]
    fn timer_units_and_dropins() {
        let mut t = TimerUnit::default();
        parse_timer_unit(
            include_str!("../../tests/fixtures/scheduled-jobs/units/apt-daily.timer"),
            &mut t,
        );
        parse_timer_unit(
            include_str!("../../tests/fixtures/scheduled-jobs/units/apt-daily-override.conf"),
            &mut t,
        );
        assert_eq!(t.on_calendar, vec!["*-*-* 02:30"]);
        assert_eq!(t.triggers, vec!["RandomizedDelaySec=0"]);
        let exec = parse_exec_start(include_str!(
            "../../tests/fixtures/scheduled-jobs/units/borgmatic.service"
        ));
        assert_eq!(exec.len(), 1);
        assert!(exec[0].starts_with("systemd-inhibit"));
    }

    /// A Debian 12 root: crontab, cron.d (one with a dot, ignored), a spool,
    /// periodic scripts, enabled timers (one masked, one with a drop-in).
    #[test]
    fn collect_debian_root() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        put(r, "/etc/crontab", "debian/etc/crontab");
        put(
            r,
            "/etc/cron.d/e2scrub_all",
            "debian/etc/cron.d/e2scrub_all",
        );
        put(r, "/etc/cron.d/restic", "debian/etc/cron.d/restic");
        put(r, "/etc/cron.d/restic.dpkg-old", "debian/etc/cron.d/restic");
        put(
            r,
            "/var/spool/cron/crontabs/postgres",
            "debian/spool/postgres",
        );
        for (period, name) in [
            ("daily", "logrotate"),
            ("daily", "dpkg"),
            ("daily", ".placeholder"),
            ("weekly", "man-db"),
            ("daily", "automysqlbackup"),
        ] {
            let p = r.join(format!("etc/cron.{period}"));
            fs::create_dir_all(&p).unwrap();
            fs::write(p.join(name), "#!/bin/sh\n").unwrap();
        }
        let usr = "/usr/lib/systemd/system";
        for u in [
            "borgmatic.timer",
            "borgmatic.service",
            "dpkg-db-backup.timer",
            "dpkg-db-backup.service",
            "apt-daily.timer",
            "logrotate.timer",
            "fstrim.timer",
        ] {
            put(r, &format!("{usr}/{u}"), &format!("units/{u}"));
            if u.ends_with(".timer") {
                link(
                    r,
                    &format!("{usr}/{u}"),
                    &format!("/etc/systemd/system/timers.target.wants/{u}"),
                );
            }
        }
        put(
            r,
            "/etc/systemd/system/apt-daily.timer.d/override.conf",
            "units/apt-daily-override.conf",
        );
        link(r, "/dev/null", "/etc/systemd/system/fstrim.timer");
        // A backup agent enabled as a service.
        fs::write(
            r.join("usr/lib/systemd/system/bareos-fd.service"),
            "[Service]\nExecStart=/usr/sbin/bareos-fd -f\n",
        )
        .unwrap();
        link(
            r,
            "/usr/lib/systemd/system/bareos-fd.service",
            "/etc/systemd/system/multi-user.target.wants/bareos-fd.service",
        );

        let Outcome::Ok(v) = collect(&HostRoot::offline(r)) else {
            panic!()
        };
        assert_eq!(v["cron_present"], true);
        assert_eq!(v["job_count"], 4 + 2 + 2 + 3);
        assert_eq!(v["user_crontabs"], serde_json::json!(["postgres"]));
        let periodic: Vec<&str> = v["periodic_scripts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            periodic,
            vec!["automysqlbackup", "dpkg", "logrotate", "man-db"]
        );
        let timers: Vec<&str> = v["timers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            timers,
            vec![
                "apt-daily.timer",
                "borgmatic.timer",
                "dpkg-db-backup.timer",
                "logrotate.timer"
            ]
        );
        assert_eq!(
            v["timers"][0]["on_calendar"],
            serde_json::json!(["*-*-* 02:30"])
        );
        assert_eq!(v["timers"][1]["backup"], true);
        assert_eq!(v["timers"][1]["unit"], "borgmatic.service");
        assert_eq!(
            v["timers"][1]["schedule"],
            "OnCalendar=daily; RandomizedDelaySec=3h"
        );
        assert_eq!(v["timers"][2]["backup"], false);
        let backups: Vec<(String, String)> = v["backup_jobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b["kind"].as_str().unwrap().to_string(),
                    b["tool"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let expect: Vec<(String, String)> = [
            ("cron", "restic"),
            ("cron", "pg_dumpall"),
            ("cron", "mysqldump"),
            ("periodic", "automysqlbackup"),
            ("timer", "borgmatic"),
            ("agent", "bareos-fd"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(backups, expect);
        assert_eq!(v["backup_configured"], true);
        let text = v.to_string();
        for secret in ["hunter2", "S3cr3tKey", "horse", "s3cret", "TopSecret"] {
            assert!(!text.contains(secret), "{secret} leaked");
        }
    }

    #[test]
    fn rhel_root_without_backups() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        put(r, "/etc/crontab", "rhel/crontab");
        put(r, "/etc/cron.d/0hourly", "rhel/0hourly");
        put(r, "/etc/anacrontab", "rhel/anacrontab");
        fs::create_dir_all(r.join("var/spool/cron")).unwrap();
        let Outcome::Ok(v) = collect(&HostRoot::offline(r)) else {
            panic!()
        };
        assert_eq!(v["job_count"], 4);
        assert_eq!(v["backup_configured"], false);
        assert_eq!(v["backup_jobs"], serde_json::json!([]));
        assert_eq!(v["timers"], serde_json::json!([]));
    }

    #[test]
    fn empty_root_and_fuzz() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            collect(&HostRoot::offline(dir.path())),
            Outcome::Unsupported(_)
        ));
        for s in [
            "",
            "@",
            "@reboot",
            "* * * * *",
            "* * * * * u",
            "=",
            "a=b",
            "x://@",
            "--password='",
            "-p",
            "[Timer]\nOnCalendar=",
            "é ü --token=ü€",
        ] {
            fuzz_parse(s);
        }
        fuzz_parse(RESTIC);
    }
}
