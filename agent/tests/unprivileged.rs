//! A scan by an unprivileged user has no false failure and no false pass:
//! what Debian keeps from other users (`/etc/shadow`, `/etc/gshadow`, the
//! sudoers files, `/etc/audit`, the crontab spool) is refused through the
//! probes' `Reader` (the tests run as root, where `chmod 000` changes
//! nothing), and every rule that depends on it reads `no-evidence` with a
//! "run the scan as root" hint instead of `fail` or `pass`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test crate: failing loudly is the point

use chrono::TimeZone as _;
use evident_agent::hostroot::HostRoot;
use evident_agent::probes::common::reader::Reader;
use evident_agent::probes::{accounts, logging, Outcome};
use evident_core::evidence::{ProbeData, ProbeStatus};
use evident_core::policy::{evaluate, RuleStatus};
use std::fs;
use std::path::Path;

/// What a non-root process cannot read on a stock Debian 12 host.
const DENIED: &[&str] = &[
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/sudoers",
    "/etc/sudoers.d",
    "/etc/audit",
    "/var/spool/cron/crontabs",
];

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dest);
        } else {
            fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// A weak Debian 12 host (empty password, NOPASSWD sudo, weak hash) with
/// the hardened audit configuration.
fn host(dir: &Path) {
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    copy_tree(&fx.join("accounts/debian12-weak"), dir);
    fs::create_dir_all(dir.join("etc/audit/rules.d")).unwrap();
    fs::copy(
        fx.join("logging/debian12/auditd.conf"),
        dir.join("etc/audit/auditd.conf"),
    )
    .unwrap();
    for r in ["50-identity.rules", "50-exec.rules", "99-finalize.rules"] {
        fs::copy(
            fx.join("logging/debian12").join(r),
            dir.join("etc/audit/rules.d").join(r),
        )
        .unwrap();
    }
}

fn data(outcome: Outcome) -> ProbeData {
    let Outcome::Ok(v) = outcome else {
        panic!("{outcome:?}")
    };
    ProbeData {
        version: 1,
        status: ProbeStatus::Ok,
        reason: None,
        data: Some(v),
    }
}

#[test]
fn an_unprivileged_scan_has_no_false_failure_and_no_false_pass() {
    let dir = tempfile::tempdir().unwrap();
    host(dir.path());
    let root = HostRoot::offline(dir.path());
    let set = evident_policies::bundled_set().unwrap();
    let now = chrono::Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
    let (mut evidence, privileged) = evident_agent::scan::scan(&set, &root, now).unwrap();

    evidence.probes.insert(
        "accounts".into(),
        data(accounts::collect_with(
            &mut Reader::new(&root).denying(DENIED),
        )),
    );
    evidence.probes.insert(
        "logging".into(),
        data(logging::collect_with(Reader::new(&root).denying(DENIED))),
    );
    let unprivileged = evaluate(&set, &evidence);

    let status = |ev: &evident_core::policy::Evaluation, id: &str| {
        ev.rules.iter().find(|r| r.id == id).unwrap().status
    };
    let mut checked = 0;
    for r in &unprivileged.rules {
        let before = status(&privileged, &r.id);
        match r.status {
            RuleStatus::Fail => assert_eq!(before, RuleStatus::Fail, "false failure: {}", r.id),
            RuleStatus::Pass => assert_eq!(before, RuleStatus::Pass, "false pass: {}", r.id),
            _ => {}
        }
        checked += 1;
    }
    assert!(checked >= 60, "{checked}");

    // As root these fail; unprivileged they cannot be decided, and say why.
    for id in [
        "accounts.no-empty-passwords",
        "accounts.sudo-nopasswd",
        "logging.auditd-installed",
        "logging.audit-identity-files",
    ] {
        let priv_status = status(&privileged, id);
        let r = unprivileged.rules.iter().find(|r| r.id == id).unwrap();
        assert_eq!(
            r.status,
            RuleStatus::NoEvidence,
            "{id} (root: {priv_status:?})"
        );
        let msg = r.message.as_deref().unwrap();
        assert!(msg.contains("run the scan as root"), "{id}: {msg}");
    }
    assert_eq!(
        status(&privileged, "accounts.no-empty-passwords"),
        RuleStatus::Fail
    );
    assert_eq!(
        status(&privileged, "accounts.sudo-nopasswd"),
        RuleStatus::Fail
    );
    assert_eq!(
        status(&privileged, "logging.auditd-installed"),
        RuleStatus::Pass
    );
    // What the unprivileged scan can see still fails: the second uid-0 account.
    assert_eq!(
        status(&unprivileged, "accounts.no-extra-uid0"),
        RuleStatus::Fail
    );
    // And it exits 1 for that finding, not 2: no rule errored.
    assert!(
        unprivileged.rule_errors().is_empty(),
        "{:?}",
        unprivileged.rule_errors()
    );
}

/// A probe outcome as the evidence carries it (a failed probe is `error`
/// with its reason).
fn probe_data(outcome: Outcome) -> ProbeData {
    match outcome {
        Outcome::Error(reason) => ProbeData {
            version: 1,
            status: ProbeStatus::Error,
            reason: Some(reason),
            data: None,
        },
        other => data(other),
    }
}

/// The hardened Debian 12 sshd plus ufw enabled at boot, dropping incoming
/// traffic.
fn sshd_and_ufw_host(dir: &Path) {
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    copy_tree(&fx.join("sshd/debian12-hardened"), dir);
    fs::create_dir_all(dir.join("etc/ufw")).unwrap();
    fs::create_dir_all(dir.join("etc/default")).unwrap();
    fs::write(dir.join("etc/ufw/ufw.conf"), "ENABLED=yes\n").unwrap();
    fs::copy(
        fx.join("firewall/ubuntu/user.rules"),
        dir.join("etc/ufw/user.rules"),
    )
    .unwrap();
    fs::write(
        dir.join("etc/default/ufw"),
        "DEFAULT_INPUT_POLICY=\"DROP\"\nDEFAULT_FORWARD_POLICY=\"DROP\"\n",
    )
    .unwrap();
    let wants = dir.join("etc/systemd/system/multi-user.target.wants");
    fs::create_dir_all(&wants).unwrap();
    std::os::unix::fs::symlink("/lib/systemd/system/ufw.service", wants.join("ufw.service"))
        .unwrap();
}

/// CIS hardening makes `sshd_config` (or a drop-in directory) 0600/0700, and
/// ufw keeps its user rules 0640: an unprivileged scan cannot see sshd's
/// effective settings or the firewall's rules, so every sshd and firewall
/// rule reads `no-evidence` with the "run the scan as root" hint, where a
/// scan as root decides them.
#[test]
fn refused_sshd_and_firewall_configuration_is_no_evidence_not_a_verdict() {
    use evident_agent::probes::{firewall, sshd};
    let dir = tempfile::tempdir().unwrap();
    sshd_and_ufw_host(dir.path());
    let root = HostRoot::offline(dir.path());
    let set = evident_policies::bundled_set().unwrap();
    let now = chrono::Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
    let (evidence, privileged) = evident_agent::scan::scan(&set, &root, now).unwrap();
    let status = |ev: &evident_core::policy::Evaluation, id: &str| {
        ev.rules.iter().find(|r| r.id == id).unwrap().status
    };
    // As root, the hardened sshd and the ufw default-deny pass.
    for id in [
        "ssh.root-login",
        "ssh.password-auth",
        "firewall.enabled",
        "firewall.default-deny-input",
    ] {
        assert_eq!(status(&privileged, id), RuleStatus::Pass, "{id}");
    }
    for denied in [
        &["/etc/ssh/sshd_config", "/etc/ufw/user.rules"][..],
        &["/etc/ssh/sshd_config.d", "/etc/ufw"][..],
    ] {
        let mut ev = evidence.clone();
        ev.probes.insert(
            "sshd".into(),
            probe_data(sshd::collect_with(&mut Reader::new(&root).denying(denied))),
        );
        ev.probes.insert(
            "firewall".into(),
            probe_data(firewall::collect_with(Reader::new(&root).denying(denied))),
        );
        let unprivileged = evaluate(&set, &ev);
        for r in &unprivileged.rules {
            let before = status(&privileged, &r.id);
            match r.status {
                RuleStatus::Fail => assert_eq!(before, RuleStatus::Fail, "false failure: {}", r.id),
                RuleStatus::Pass => assert_eq!(before, RuleStatus::Pass, "false pass: {}", r.id),
                _ => {}
            }
        }
        let mut undecided = 0;
        for r in unprivileged
            .rules
            .iter()
            .filter(|r| r.id.starts_with("ssh.") || r.id.starts_with("firewall."))
        {
            assert_eq!(r.status, RuleStatus::NoEvidence, "{} ({denied:?})", r.id);
            let msg = r.message.as_deref().unwrap();
            assert!(msg.contains("run the scan as root"), "{}: {msg}", r.id);
            undecided += 1;
        }
        assert!(undecided >= 10, "{undecided}");
    }
}
