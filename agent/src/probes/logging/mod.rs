//! Probe `logging`: where system logs go, how long they are kept, and what
//! the kernel audit subsystem records.
//!
//! Reads, on Debian/Ubuntu and RHEL-family hosts alike:
//! - journald: `/etc/systemd/journald.conf`, then drop-ins from
//!   `/usr/lib/systemd/journald.conf.d/*.conf`, `/run/systemd/journald.conf.d/*.conf`
//!   and `/etc/systemd/journald.conf.d/*.conf` (sorted by file name, later wins;
//!   a file in `/etc` masks one of the same name in `/usr/lib`), plus whether
//!   `/var/log/journal` exists (`Storage=auto` + that directory = persistent);
//! - rsyslog: `/etc/rsyslog.conf` and `/etc/rsyslog.d/*.conf` (legacy `*.* @@host:514`
//!   actions, RainerScript `action(type="omfwd" …)`/`omrelp`, TLS via `StreamDriverMode`);
//! - syslog-ng: `/etc/syslog-ng/syslog-ng.conf` and `/etc/syslog-ng/conf.d/*.conf`
//!   (`destination d { network("host" transport("tls")) }`, `tcp(`, `udp(`, `syslog(`);
//! - systemd-journal-upload: `/etc/systemd/journal-upload.conf` `URL=`;
//! - auditd: `/etc/audit/auditd.conf` and the rules in `/etc/audit/rules.d/*.rules`
//!   and `/etc/audit/audit.rules` (identical rules counted once, since augenrules
//!   compiles the former into the latter); installed when dpkg says so (or the
//!   `auditd` binary exists; with no package database, when auditd.conf
//!   exists), never because a configuration left by `apt remove` is there;
//! - logrotate: `/etc/logrotate.conf` and `/etc/logrotate.d/*`.
//!
//! Everything comes from configuration files, so the probe works the same under
//! `--root`. Files that cannot be read are listed in `unreadable`.

mod auditd;
mod journald;
mod logrotate;
mod rsyslog;
mod syntax;
mod syslog_ng;

pub use auditd::{parse_audit_rules, parse_auditd_conf};
pub use journald::{
    journald_facts, parse_journal_upload, parse_journald, parse_timespan_secs, JournaldSettings,
};
pub use logrotate::{logrotate_facts, parse_logrotate, LogrotateFile};
pub use rsyslog::{parse_rsyslog, rsyslog_legacy_tls};
pub use syslog_ng::parse_syslog_ng;

use super::common::presence::Packages;
use super::common::reader::Reader;
use super::Outcome;
use crate::hostroot::HostRoot;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// The probe's schema: id, version, controls and every field (in core).
pub use evident_core::schema::probes::logging::SCHEMA;

// ---------------------------------------------------------------- facts

/// Everything the probe reports.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LoggingFacts {
    /// journald settings.
    pub journald: JournaldFacts,
    /// rsyslog presence.
    pub rsyslog: DaemonFacts,
    /// syslog-ng presence.
    pub syslog_ng: DaemonFacts,
    /// Whether any remote destination exists.
    pub remote_forwarding: bool,
    /// Remote destinations.
    pub remote_targets: Vec<ForwardTarget>,
    /// auditd configuration and rules.
    pub auditd: AuditdFacts,
    /// logrotate retention.
    pub logrotate: LogrotateFacts,
    /// Files that could not be read.
    pub unreadable: Vec<String>,
    /// Files and directories refused for lack of permission (an unprivileged scan).
    pub permission_denied: Vec<String>,
}

/// Effective journald settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JournaldFacts {
    /// A journald config file exists.
    pub config_present: bool,
    /// Storage= (default auto).
    pub storage: String,
    /// /var/log/journal exists.
    pub journal_dir_exists: bool,
    /// Journal survives reboots.
    pub persistent: bool,
    /// SystemMaxUse= raw.
    pub system_max_use: String,
    /// MaxRetentionSec= raw.
    pub max_retention_sec: String,
    /// MaxRetentionSec= in days (0 = no limit).
    pub max_retention_days: u64,
    /// ForwardToSyslog= (None = unset).
    pub forward_to_syslog: Option<bool>,
    /// Compress=.
    pub compress: bool,
}

impl Default for JournaldFacts {
    fn default() -> Self {
        JournaldFacts {
            config_present: false,
            storage: "auto".into(),
            journal_dir_exists: false,
            persistent: false,
            system_max_use: String::new(),
            max_retention_sec: String::new(),
            max_retention_days: 0,
            forward_to_syslog: None,
            compress: true,
        }
    }
}

/// A syslog daemon's presence.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DaemonFacts {
    /// Main config file exists.
    pub installed: bool,
    /// Files read.
    pub files: Vec<String>,
}

/// One remote log destination.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ForwardTarget {
    /// rsyslog | syslog-ng | journal-upload.
    pub daemon: String,
    /// Host.
    pub host: String,
    /// Port.
    pub port: u32,
    /// udp | tcp | relp | tls | http | https.
    pub protocol: String,
    /// Encrypted transport.
    pub tls: bool,
    /// Defining file (set by `collect`; empty from the parsers).
    pub file: String,
}

/// auditd configuration and rules.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AuditdFacts {
    /// auditd.conf exists.
    pub installed: bool,
    /// max_log_file (MB).
    pub max_log_file: u64,
    /// num_logs.
    pub num_logs: u64,
    /// max_log_file_action.
    pub max_log_file_action: String,
    /// space_left_action.
    pub space_left_action: String,
    /// admin_space_left_action.
    pub admin_space_left_action: String,
    /// disk_full_action.
    pub disk_full_action: String,
    /// Rule files read.
    pub rules_files: Vec<String>,
    /// Distinct rules.
    pub rules_count: u64,
    /// Watched paths.
    pub watched_paths: Vec<String>,
    /// Syscalls.
    pub syscalls: Vec<String>,
    /// Keys.
    pub keys: Vec<String>,
    /// `-e 2`.
    pub immutable: bool,
}

/// Parsed audit rules (before they are merged into [`AuditdFacts`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditRules {
    /// Normalised rule lines (watch and syscall rules only).
    pub rules: BTreeSet<String>,
    /// Watched paths.
    pub watched_paths: BTreeSet<String>,
    /// Syscalls.
    pub syscalls: BTreeSet<String>,
    /// Keys.
    pub keys: BTreeSet<String>,
    /// Last `-e` value seen.
    pub enable_flag: Option<u8>,
}

/// logrotate retention.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LogrotateFacts {
    /// logrotate.conf exists.
    pub installed: bool,
    /// Global frequency.
    pub global_frequency: String,
    /// Global rotate.
    pub global_rotate: u64,
    /// Global retention estimate.
    pub global_retention_days: u64,
    /// Main syslog file found.
    pub syslog_log: String,
    /// Its retention estimate.
    pub syslog_retention_days: u64,
    /// Blocks.
    pub entries: Vec<LogrotateEntry>,
}

/// One logrotate block.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LogrotateEntry {
    /// Paths.
    pub paths: Vec<String>,
    /// Effective frequency.
    pub frequency: String,
    /// Effective rotate.
    pub rotate: u64,
    /// Retention estimate.
    pub retention_days: u64,
    /// File.
    pub file: String,
}

/// Directives of one logrotate scope (global or a block).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RotateSettings {
    /// Frequency keyword.
    pub frequency: Option<String>,
    /// rotate N.
    pub rotate: Option<u64>,
    /// maxage N (days).
    pub maxage: Option<u64>,
}

// ---------------------------------------------------------------- journald

/// journald drop-ins in systemd order: by file name, `/etc` masking `/run` masking `/usr/lib`.
fn dropins(r: &mut Reader<'_>, dirs: &[&str], pattern: &str) -> Vec<String> {
    let mut by_name: BTreeMap<String, String> = BTreeMap::new();
    // Lowest priority first, so higher-priority directories overwrite.
    for dir in dirs.iter().rev() {
        for p in r.glob(&format!("{dir}/{pattern}")) {
            let name = p.rsplit('/').next().unwrap_or("").to_string();
            by_name.insert(name, p);
        }
    }
    by_name.into_values().collect()
}

/// Collect under `root`.
pub fn collect(root: &HostRoot) -> Outcome {
    Outcome::from_facts(&gather(root))
}

/// Collect through `r` (tests pass a reader that refuses what an
/// unprivileged scan is refused, such as Debian's 0750 `/etc/audit`).
pub fn collect_with(r: Reader<'_>) -> Outcome {
    Outcome::from_facts(&gather_with(r))
}

fn gather(root: &HostRoot) -> LoggingFacts {
    gather_with(Reader::new(root))
}

/// Collect through `r` (tests refuse paths as an unprivileged scan is refused them).
fn gather_with(mut r: Reader<'_>) -> LoggingFacts {
    let root = r.root;
    let mut facts = LoggingFacts::default();

    // journald
    let mut texts = Vec::new();
    if let Some(t) = r.read("/etc/systemd/journald.conf") {
        texts.push(t);
    }
    let dirs = [
        "/etc/systemd/journald.conf.d",
        "/run/systemd/journald.conf.d",
        "/usr/local/lib/systemd/journald.conf.d",
        "/usr/lib/systemd/journald.conf.d",
    ];
    for p in dropins(&mut r, &dirs, "*.conf") {
        if let Some(t) = r.read(&p) {
            texts.push(t);
        }
    }
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    facts.journald = journald_facts(
        &parse_journald(&refs),
        !texts.is_empty(),
        root.metadata("/var/log/journal")
            .ok()
            .flatten()
            .is_some_and(|m| m.is_dir),
    );

    // Installed means dpkg says so when the root has a dpkg database (a
    // removed package leaves its configuration behind); elsewhere the main
    // configuration file stands for the package.
    let packages = Packages::read(&mut r, &["rsyslog", "syslog-ng-core", "auditd"]);
    let installed = |package: &str, config: &str| match packages.dpkg_installed(package) {
        Some(yes) => yes,
        None => root.exists(config),
    };

    // rsyslog
    let mut targets = Vec::new();
    if installed("rsyslog", "/etc/rsyslog.conf") && root.exists("/etc/rsyslog.conf") {
        facts.rsyslog.installed = true;
        let mut files = vec!["/etc/rsyslog.conf".to_string()];
        files.extend(r.glob("/etc/rsyslog.d/*.conf"));
        let texts: Vec<(String, String)> = files
            .iter()
            .filter_map(|f| r.read(f).map(|t| (f.clone(), t)))
            .collect();
        let legacy_tls = texts.iter().any(|(_, t)| rsyslog_legacy_tls(t));
        for (f, t) in &texts {
            for mut tg in parse_rsyslog(t, legacy_tls) {
                tg.file.clone_from(f);
                targets.push(tg);
            }
        }
        facts.rsyslog.files = texts.into_iter().map(|(f, _)| f).collect();
    }

    // syslog-ng
    if installed("syslog-ng-core", "/etc/syslog-ng/syslog-ng.conf")
        && root.exists("/etc/syslog-ng/syslog-ng.conf")
    {
        facts.syslog_ng.installed = true;
        let mut files = vec!["/etc/syslog-ng/syslog-ng.conf".to_string()];
        files.extend(r.glob("/etc/syslog-ng/conf.d/*.conf"));
        for f in files {
            if let Some(t) = r.read(&f) {
                for mut tg in parse_syslog_ng(&t) {
                    tg.file.clone_from(&f);
                    targets.push(tg);
                }
                facts.syslog_ng.files.push(f);
            }
        }
    }

    // systemd-journal-upload
    let upload = "/etc/systemd/journal-upload.conf";
    if let Some(mut tg) = r.read(upload).and_then(|t| parse_journal_upload(&t)) {
        tg.file = upload.to_string();
        targets.push(tg);
    }
    facts.remote_forwarding = !targets.is_empty();
    facts.remote_targets = targets;

    // auditd
    if let Some(t) = r.read("/etc/audit/auditd.conf") {
        facts.auditd = parse_auditd_conf(&t);
    }
    let mut rules = AuditRules::default();
    let mut rule_files = r.glob("/etc/audit/rules.d/*.rules");
    rule_files.push("/etc/audit/audit.rules".to_string());
    for f in rule_files {
        if let Some(t) = r.read(&f) {
            parse_audit_rules(&t, &mut rules);
            facts.auditd.rules_files.push(f);
        }
    }
    facts.auditd.rules_count = rules.rules.len() as u64;
    facts.auditd.watched_paths = rules.watched_paths.into_iter().collect();
    facts.auditd.syscalls = rules.syscalls.into_iter().collect();
    facts.auditd.keys = rules.keys.into_iter().collect();
    facts.auditd.immutable = rules.enable_flag == Some(2);
    // Installed is what dpkg or rpm says (`apt remove auditd` leaves
    // auditd.conf and the rules behind); the configuration stands for the
    // package only on a root without a package database.
    facts.auditd.installed = packages
        .presence(
            &r,
            "auditd",
            &["/usr/sbin/auditd", "/sbin/auditd"],
            &["/etc/audit/auditd.conf"],
        )
        .0;

    // logrotate
    if let Some(t) = r.read("/etc/logrotate.conf") {
        let main = parse_logrotate(&t);
        let mut files = vec![("/etc/logrotate.conf".to_string(), main.clone())];
        for f in r.glob("/etc/logrotate.d/*") {
            // Skip package-manager leftovers, as logrotate's tabooext does.
            if [
                ".dpkg-old",
                ".dpkg-dist",
                ".dpkg-new",
                ".rpmsave",
                ".rpmorig",
                ".rpmnew",
                ".disabled",
                "~",
                ".bak",
                ".swp",
            ]
            .iter()
            .any(|ext| f.ends_with(ext))
            {
                continue;
            }
            if root.metadata(&f).ok().flatten().is_some_and(|m| m.is_dir) {
                continue;
            }
            if let Some(t) = r.read(&f) {
                files.push((f, parse_logrotate(&t)));
            }
        }
        facts.logrotate = logrotate_facts(&main, &files);
    }

    facts.unreadable = r.unreadable;
    facts.permission_denied = r.denied;
    facts
}

/// Feed `input` to every parser (for cargo-fuzz); must never panic.
pub fn fuzz_parse(input: &str) {
    let s = parse_journald(&[input]);
    let _ = journald_facts(&s, true, true);
    let _ = parse_timespan_secs(input);
    let _ = parse_rsyslog(input, rsyslog_legacy_tls(input));
    let _ = parse_syslog_ng(input);
    let _ = parse_journal_upload(input);
    let _ = parse_auditd_conf(input);
    let mut acc = AuditRules::default();
    parse_audit_rules(input, &mut acc);
    let lr = parse_logrotate(input);
    let _ = logrotate_facts(&lr, &[("x".into(), lr.clone())]);
}

#[cfg(test)]
pub(crate) mod tests;
