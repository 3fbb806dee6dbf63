//! Tests of `logging`.

use super::*;
use crate::probes::common::testutil::tree;

macro_rules! fx {
    ($p:literal) => {
        include_str!(concat!("../../../tests/fixtures/logging/", $p))
    };
}

pub(crate) fn debian12_hardened() -> tempfile::TempDir {
    tree(
        &[
            ("/etc/systemd/journald.conf", fx!("debian12/journald.conf")),
            (
                "/etc/systemd/journald.conf.d/60-hardening.conf",
                fx!("debian12/60-hardening.conf"),
            ),
            ("/etc/rsyslog.conf", fx!("debian12/rsyslog.conf")),
            (
                "/etc/rsyslog.d/90-remote.conf",
                fx!("debian12/90-remote.conf"),
            ),
            ("/etc/audit/auditd.conf", fx!("debian12/auditd.conf")),
            (
                "/etc/audit/rules.d/50-identity.rules",
                fx!("debian12/50-identity.rules"),
            ),
            (
                "/etc/audit/rules.d/50-scope.rules",
                fx!("debian12/50-scope.rules"),
            ),
            (
                "/etc/audit/rules.d/50-exec.rules",
                fx!("debian12/50-exec.rules"),
            ),
            (
                "/etc/audit/rules.d/99-finalize.rules",
                fx!("debian12/99-finalize.rules"),
            ),
            ("/etc/audit/audit.rules", fx!("debian12/audit.rules")),
            ("/etc/logrotate.conf", fx!("debian12/logrotate.conf")),
            (
                "/etc/logrotate.d/rsyslog",
                fx!("debian12/logrotate.d-rsyslog"),
            ),
            ("/etc/logrotate.d/apt", fx!("debian12/logrotate.d-apt")),
            ("/etc/logrotate.d/wtmp", fx!("debian12/logrotate.d-wtmp")),
            (
                "/etc/logrotate.d/apt.dpkg-old",
                "/var/log/x {\n rotate 0\n}\n",
            ),
        ],
        &["/var/log/journal"],
    )
}

pub(crate) fn weak() -> tempfile::TempDir {
    tree(
        &[
            ("/etc/systemd/journald.conf", fx!("weak/journald.conf")),
            ("/etc/audit/auditd.conf", fx!("weak/auditd.conf")),
            ("/etc/logrotate.conf", fx!("weak/logrotate.conf")),
        ],
        &[],
    )
}

#[test]
fn hardened_debian12() {
    let dir = debian12_hardened();
    let f = gather(&HostRoot::offline(dir.path()));
    assert!(f.unreadable.is_empty(), "{:?}", f.unreadable);
    let j = &f.journald;
    assert!(j.config_present && j.persistent && j.journal_dir_exists);
    assert_eq!(j.storage, "persistent");
    assert_eq!(j.system_max_use, "2G");
    assert_eq!(j.max_retention_days, 365);
    assert_eq!(j.forward_to_syslog, Some(true));
    assert!(j.compress);
    assert!(f.rsyslog.installed && !f.syslog_ng.installed);
    assert!(f.remote_forwarding);
    assert_eq!(f.remote_targets.len(), 1);
    let t = &f.remote_targets[0];
    assert_eq!(
        (t.host.as_str(), t.port, t.protocol.as_str(), t.tls),
        ("logs.example.internal", 6514, "tls", true)
    );
    assert_eq!(t.file, "/etc/rsyslog.d/90-remote.conf");
    let a = &f.auditd;
    assert!(a.installed && a.immutable);
    assert_eq!(a.max_log_file_action, "keep_logs");
    assert_eq!((a.max_log_file, a.num_logs), (32, 10));
    assert_eq!(a.disk_full_action, "halt");
    // audit.rules repeats rules.d: counted once.
    assert_eq!(a.rules_count, 14);
    for p in [
        "/etc/passwd",
        "/etc/shadow",
        "/etc/group",
        "/etc/gshadow",
        "/usr/bin/chcon",
    ] {
        assert!(a.watched_paths.iter().any(|w| w == p), "{p}");
    }
    assert_eq!(
        a.syscalls,
        vec!["adjtimex", "clock_settime", "execve", "settimeofday"]
    );
    assert!(a.keys.contains(&"perm_chng".to_string()));
    let l = &f.logrotate;
    assert_eq!(
        (l.global_frequency.as_str(), l.global_rotate),
        ("weekly", 4)
    );
    assert_eq!(l.global_retention_days, 28);
    assert_eq!(l.syslog_log, "/var/log/syslog");
    assert_eq!(l.syslog_retention_days, 91);
    assert!(l
        .entries
        .iter()
        .all(|e| e.file != "/etc/logrotate.d/apt.dpkg-old"));
    let wtmp = l
        .entries
        .iter()
        .find(|e| e.paths == ["/var/log/wtmp"])
        .unwrap();
    assert_eq!(
        (wtmp.retention_days, wtmp.frequency.as_str()),
        (30, "monthly")
    );
}

#[test]
fn an_unprivileged_scan_says_the_audit_configuration_was_refused() {
    // Debian ships /etc/audit 0750 root: a non-root scan cannot read it.
    let dir = debian12_hardened();
    let root = HostRoot::offline(dir.path());
    let f = gather_with(Reader::new(&root).denying(&["/etc/audit"]));
    assert!(!f.auditd.installed);
    assert_eq!(f.auditd.rules_count, 0);
    assert_eq!(
        f.permission_denied,
        vec![
            "/etc/audit/auditd.conf",
            "/etc/audit/rules.d",
            "/etc/audit/audit.rules"
        ]
    );
    let full = gather(&root);
    assert!(full.auditd.installed && full.auditd.rules_count > 0);
    assert!(full.permission_denied.is_empty());
}

#[test]
fn rhel9_legacy_forwarding_and_default_retention() {
    let dir = tree(
        &[
            ("/etc/rsyslog.conf", fx!("rhel9/rsyslog.conf")),
            ("/etc/audit/auditd.conf", fx!("rhel9/auditd.conf")),
            ("/etc/audit/audit.rules", fx!("rhel9/audit.rules")),
            ("/etc/logrotate.conf", fx!("rhel9/logrotate.conf")),
            ("/etc/logrotate.d/rsyslog", fx!("rhel9/logrotate.d-rsyslog")),
        ],
        &[],
    );
    let f = gather(&HostRoot::offline(dir.path()));
    assert!(!f.journald.config_present && !f.journald.persistent);
    assert_eq!(f.journald.storage, "auto");
    assert_eq!(f.remote_targets.len(), 2, "{:?}", f.remote_targets);
    let t = &f.remote_targets[0];
    assert_eq!(
        (t.host.as_str(), t.port, t.protocol.as_str(), t.tls),
        ("loghost.corp.example", 10514, "tcp", false)
    );
    let u = &f.remote_targets[1];
    assert_eq!(
        (u.host.as_str(), u.port, u.protocol.as_str()),
        ("2001:db8::514", 514, "udp")
    );
    assert_eq!(f.auditd.rules_count, 0);
    assert!(!f.auditd.immutable);
    assert_eq!(f.auditd.max_log_file_action, "rotate");
    assert_eq!(f.logrotate.syslog_log, "/var/log/messages");
    assert_eq!(f.logrotate.syslog_retention_days, 28);
}

#[test]
fn syslog_ng_destinations() {
    let t = parse_syslog_ng(fx!("rhel9/syslog-ng.conf"));
    let got: Vec<(&str, u32, &str, bool)> = t
        .iter()
        .map(|t| (t.host.as_str(), t.port, t.protocol.as_str(), t.tls))
        .collect();
    assert_eq!(
        got,
        vec![
            ("logs.example.org", 6514, "tls", true),
            ("2001:db8::10", 1514, "tcp", false),
            ("192.0.2.10", 514, "udp", false),
        ]
    );
}

#[test]
fn weak_host() {
    let dir = weak();
    let f = gather(&HostRoot::offline(dir.path()));
    assert_eq!(f.journald.storage, "volatile");
    assert!(!f.journald.persistent && !f.journald.compress);
    assert_eq!(f.journald.max_retention_days, 1);
    assert!(!f.rsyslog.installed && !f.remote_forwarding);
    assert_eq!(f.auditd.rules_count, 0);
    assert_eq!(f.auditd.disk_full_action, "ignore");
    assert_eq!(f.logrotate.global_retention_days, 3);
    assert_eq!(f.logrotate.entries.len(), 1);
    assert_eq!(f.logrotate.entries[0].retention_days, 30);
}

#[test]
fn a_config_file_left_by_a_removed_package_is_not_installed() {
    let conf = "*.* @@logs.example.com:514\n";
    let removed = tree(
        &[
            ("/etc/rsyslog.conf", conf),
            (
                "/var/lib/dpkg/status",
                "Package: rsyslog\nStatus: deinstall ok config-files\n\nPackage: systemd\nStatus: install ok installed\n",
            ),
        ],
        &[],
    );
    let f = gather(&HostRoot::offline(removed.path()));
    assert!(!f.rsyslog.installed && !f.remote_forwarding);
    let present = tree(
        &[
            ("/etc/rsyslog.conf", conf),
            (
                "/var/lib/dpkg/status",
                "Package: rsyslog\nStatus: install ok installed\n",
            ),
        ],
        &[],
    );
    let f = gather(&HostRoot::offline(present.path()));
    assert!(f.rsyslog.installed && f.remote_forwarding);
}

#[test]
fn empty_root_is_ok_with_nothing_installed() {
    let dir = tempfile::tempdir().unwrap();
    let out = collect(&HostRoot::offline(dir.path()));
    let Outcome::Ok(v) = out else {
        panic!("{out:?}")
    };
    assert_eq!(v["auditd"]["installed"], false);
    assert_eq!(v["journald"]["persistent"], false);
    assert_eq!(v["logrotate"]["installed"], false);
}

#[test]
fn spec_documents_every_emitted_field() {
    let dir = debian12_hardened();
    let Outcome::Ok(v) = collect(&HostRoot::offline(dir.path())) else {
        panic!()
    };
    let mut names = Vec::new();
    crate::probes::common::testutil::field_names(&v, "", &mut names);
    for n in names {
        assert!(
            SCHEMA.fields.iter().any(|f| f.path == n),
            "undocumented {n}"
        );
    }
}

#[test]
fn timespans_and_quirks() {
    assert_eq!(parse_timespan_secs("90d"), Some(90 * 86_400));
    assert_eq!(parse_timespan_secs("2w 1d"), Some(15 * 86_400));
    assert_eq!(parse_timespan_secs("3600"), Some(3600));
    assert_eq!(parse_timespan_secs("bogus"), None);
    assert_eq!(parse_timespan_secs(""), None);
    let s = parse_journald(&["[Journal]\nStorage=auto\n[Other]\nStorage=volatile\n"]);
    assert_eq!(journald_facts(&s, true, true).storage, "auto");
    assert!(journald_facts(&s, true, true).persistent);
    assert!(!journald_facts(&s, true, false).persistent);
    // Legacy TLS directive applies to @@ actions.
    let text = "$DefaultNetstreamDriver gtls\n$ActionSendStreamDriverMode 1\n*.* @@central:6514\n";
    let t = parse_rsyslog(text, rsyslog_legacy_tls(text));
    assert!(t[0].tls);
    let up = parse_journal_upload("[Upload]\nURL=https://logs.example:19532\n").unwrap();
    assert_eq!(
        (up.host.as_str(), up.port, up.tls),
        ("logs.example", 19532, true)
    );
}

#[test]
fn fuzz_inputs_do_not_panic() {
    for s in [
        "",
        "action(",
        "action(type=\"omfwd\" target=",
        "destination d {",
        "destination d { network(\"",
        "@",
        "*.* @@[",
        "*.* @@(o",
        "-w",
        "-a -S",
        "-e x",
        "{\n}\n}",
        "rotate -5\nweekly 0\n",
        "MaxRetentionSec=99999999999999999999999y",
        "[Journal]\nMaxRetentionSec=1é",
        "URL=://",
    ] {
        fuzz_parse(s);
    }
}
