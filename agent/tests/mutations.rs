//! The mutation corpus: realistic single changes to a fixture host root, each
//! with the exact set of rules of the bundled baseline it must flip (change
//! status), plus harmless changes (comments, whitespace, keyword case,
//! `.bak`/`~`/`.disabled`/`.dpkg-old` files, values overridden elsewhere) that
//! must flip nothing.
//!
//! The base root is the union of the fixture roots under `tests/fixtures`
//! (hardened Debian 12 sshd, accounts, kernel, scheduled jobs, packages); each
//! case copies it, applies its change, scans both with the bundled policies,
//! and compares the rule statuses. A case fails when a rule flips that should
//! not, or one that should does not. (File-permission rules also check the
//! owner, which depends on who runs the tests; they are left to the
//! file-permissions probe's own tests.)

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test crate: failing loudly is the point

use chrono::TimeZone as _;
use evident_agent::hostroot::HostRoot;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        let ty = e.file_type().unwrap();
        if ty.is_dir() {
            copy_tree(&e.path(), &dest);
        } else if ty.is_symlink() {
            let _ = fs::remove_file(&dest);
            std::os::unix::fs::symlink(fs::read_link(e.path()).unwrap(), &dest).unwrap();
        } else {
            fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// The base host: several fixture roots laid over each other.
fn base_root(dir: &Path) {
    for part in [
        "packages/debian12",
        "accounts/debian12",
        "kernel",
        "scheduled-jobs/debian",
        "sshd/debian12-hardened",
    ] {
        copy_tree(&fixtures().join(part), dir);
    }
    // systemd's enablement links live here (cases enable units in it).
    fs::create_dir_all(dir.join("etc/systemd/system/multi-user.target.wants")).unwrap();
}

fn statuses(root: &Path) -> BTreeMap<String, String> {
    let set = evident_policies::bundled_set().unwrap();
    let now = chrono::Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
    let (_, evaluation) = evident_agent::scan::scan(&set, &HostRoot::offline(root), now).unwrap();
    evaluation
        .rules
        .iter()
        .map(|r| (r.id.clone(), r.status.as_str().to_string()))
        .collect()
}

fn write(root: &Path, path: &str, text: &str) {
    let p = root.join(path.trim_start_matches('/'));
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

fn append(root: &Path, path: &str, text: &str) {
    let p = root.join(path.trim_start_matches('/'));
    let mut old = fs::read_to_string(&p).unwrap_or_default();
    old.push_str(text);
    fs::write(p, old).unwrap();
}

fn replace(root: &Path, path: &str, from: &str, to: &str) {
    let p = root.join(path.trim_start_matches('/'));
    let old = fs::read_to_string(&p).unwrap();
    assert!(old.contains(from), "{path} has no `{from}`");
    fs::write(p, old.replacen(from, to, 1)).unwrap();
}

fn chmod(root: &Path, path: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let p = root.join(path.trim_start_matches('/'));
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

fn mkdir(root: &Path, path: &str, mode: u32) {
    fs::create_dir_all(root.join(path.trim_start_matches('/'))).unwrap();
    chmod(root, path, mode);
}

/// Add `package` to dpkg's status database with `status`.
fn dpkg_entry(root: &Path, package: &str, status: &str) {
    append(
        root,
        "/var/lib/dpkg/status",
        &format!("\nPackage: {package}\nStatus: {status}\nVersion: 1.0-1\nArchitecture: all\n"),
    );
}

/// Enable `unit` at boot the way `systemctl enable` does (a link in
/// multi-user.target.wants), with its unit file.
fn enable_unit(root: &Path, unit: &str) {
    write(
        root,
        &format!("/usr/lib/systemd/system/{unit}"),
        "[Service]\nExecStart=/bin/true\n",
    );
    let wants = root.join("etc/systemd/system/multi-user.target.wants");
    fs::create_dir_all(&wants).unwrap();
    std::os::unix::fs::symlink(format!("/usr/lib/systemd/system/{unit}"), wants.join(unit))
        .unwrap();
}

/// ufw configured to drop incoming traffic and enabled at boot; dpkg says `status`.
fn ufw(root: &Path, status: &str) {
    dpkg_entry(root, "ufw", status);
    write(root, "/etc/ufw/ufw.conf", "ENABLED=yes\nLOGLEVEL=low\n");
    write(
        root,
        "/etc/default/ufw",
        "DEFAULT_INPUT_POLICY=\"DROP\"\nDEFAULT_FORWARD_POLICY=\"DROP\"\nDEFAULT_OUTPUT_POLICY=\"ACCEPT\"\n",
    );
    enable_unit(root, "ufw.service");
}

/// firewalld with the `drop` zone as default, enabled at boot; dpkg says `status`.
fn firewalld(root: &Path, status: &str) {
    dpkg_entry(root, "firewalld", status);
    write(root, "/etc/firewalld/firewalld.conf", "DefaultZone=drop\n");
    write(
        root,
        "/etc/firewalld/zones/drop.xml",
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<zone target=\"DROP\">\n  <short>Drop</short>\n</zone>\n",
    );
    enable_unit(root, "firewalld.service");
}

/// auditd keeping its logs, acting on a full disk, with one rule; dpkg says `status`.
fn auditd(root: &Path, status: &str) {
    dpkg_entry(root, "auditd", status);
    write(
        root,
        "/etc/audit/auditd.conf",
        "max_log_file = 8\nnum_logs = 5\nmax_log_file_action = keep_logs\nspace_left_action = email\nadmin_space_left_action = single\ndisk_full_action = suspend\n",
    );
    write(
        root,
        "/etc/audit/rules.d/50-time.rules",
        "-a always,exit -F arch=b64 -S adjtimex -S settimeofday -k time-change\n",
    );
}

/// Every ssh rule of the baseline.
const SSH_RULES: &[&str] = &[
    "ssh.root-login",
    "ssh.password-auth",
    "ssh.empty-passwords",
    "ssh.max-auth-tries",
    "ssh.x11-forwarding",
    "ssh.hostbased-auth",
    "ssh.ignore-rhosts",
    "ssh.user-environment",
    "ssh.login-grace-time",
    "ssh.idle-timeout",
    "ssh.log-level",
    "ssh.weak-ciphers",
    "ssh.weak-macs",
    "ssh.weak-kex",
    "ssh.host-keys",
];

/// One case: a name, the change, and the rules it must flip.
struct Case {
    name: &'static str,
    change: fn(&Path),
    flips: &'static [&'static str],
}

const SSHD: &str = "/etc/ssh/sshd_config";
const CIS: &str = "/etc/ssh/sshd_config.d/00-cis.conf";

fn cases() -> Vec<Case> {
    vec![
        // ------------------------------------------- presence and absence
        Case {
            name: "sshd: openssh-server removed by apt, its configuration left behind",
            change: |r| {
                replace(
                    r,
                    "/var/lib/dpkg/status",
                    "Package: openssh-server\nStatus: install ok installed",
                    "Package: openssh-server\nStatus: deinstall ok config-files",
                )
            },
            // Every ssh rule becomes not-applicable (none passes or fails on a leftover file).
            flips: SSH_RULES,
        },
        Case {
            name: "firewall: ufw installed, enabled at boot, dropping incoming traffic",
            change: |r| ufw(r, "install ok installed"),
            flips: &["firewall.enabled", "firewall.default-deny-input"],
        },
        Case {
            name: "harmless firewall: ufw removed by apt, its enabled configuration and unit link left behind",
            change: |r| ufw(r, "deinstall ok config-files"),
            flips: &[],
        },
        Case {
            name: "firewall: firewalld installed and enabled, default zone drop",
            change: |r| firewalld(r, "install ok installed"),
            flips: &["firewall.enabled", "firewall.default-deny-input"],
        },
        Case {
            name: "harmless firewall: firewalld removed by apt, firewalld.conf, zone and unit link left behind",
            change: |r| firewalld(r, "deinstall ok config-files"),
            flips: &[],
        },
        Case {
            name: "logging: auditd installed with rules, keeping its logs and acting on a full disk",
            change: |r| auditd(r, "install ok installed"),
            flips: &[
                "logging.auditd-installed",
                "logging.audit-logs-kept",
                "logging.audit-disk-full",
            ],
        },
        Case {
            name: "harmless logging: auditd removed by apt, auditd.conf and its rules left behind",
            change: |r| auditd(r, "deinstall ok config-files"),
            flips: &[],
        },
        Case {
            name: "backup: the restic binary the cron job runs is not installed",
            change: |r| fs::remove_file(r.join("usr/bin/restic")).unwrap(),
            flips: &["backup.configured"],
        },
        Case {
            name: "harmless backup: a cron line naming borg, which is not installed",
            change: |r| {
                write(
                    r,
                    "/etc/cron.d/borg",
                    "0 3 * * * root borg create /mnt/backup::{now} /srv\n",
                )
            },
            flips: &[],
        },
        Case {
            name: "perm: a world-writable script in /etc/profile.d",
            change: |r| {
                write(r, "/etc/profile.d/zz-local.sh", "umask 022\n");
                chmod(r, "/etc/profile.d/zz-local.sh", 0o666);
            },
            flips: &["perm.privileged-trees-not-world-writable"],
        },
        Case {
            name: "perm: /usr/local/bin writable by every user",
            change: |r| mkdir(r, "/usr/local/bin", 0o777),
            flips: &["perm.privileged-trees-not-world-writable"],
        },
        Case {
            name: "harmless perm: a shared directory with the sticky bit, a world-writable link",
            change: |r| {
                mkdir(r, "/etc/shared", 0o1777);
                std::os::unix::fs::symlink("/tmp", r.join("etc/tmp-link")).unwrap();
            },
            flips: &[],
        },
        // ---------------------------------------------------------- sshd
        Case {
            name: "sshd: drop-in sorting first enables root login",
            change: |r| {
                write(
                    r,
                    "/etc/ssh/sshd_config.d/00-aaa.conf",
                    "PermitRootLogin yes\n",
                )
            },
            flips: &["ssh.root-login"],
        },
        Case {
            name: "sshd: Match block re-enables root login for an address range",
            change: |r| {
                append(
                    r,
                    CIS,
                    "Match Address 10.0.0.0/8\n    PermitRootLogin yes\n",
                )
            },
            flips: &["ssh.root-login"],
        },
        Case {
            name: "sshd: Match block re-enables password authentication for a user",
            change: |r| {
                append(
                    r,
                    CIS,
                    "Match User deploy\n    PasswordAuthentication yes\n",
                )
            },
            flips: &["ssh.password-auth"],
        },
        Case {
            name: "sshd: drop-in sorting first enables passwords",
            change: |r| {
                write(
                    r,
                    "/etc/ssh/sshd_config.d/00-aaa.conf",
                    "PasswordAuthentication yes\n",
                )
            },
            flips: &["ssh.password-auth"],
        },
        Case {
            name: "sshd: empty passwords allowed",
            change: |r| {
                replace(
                    r,
                    CIS,
                    "PermitEmptyPasswords no",
                    "PermitEmptyPasswords yes",
                )
            },
            flips: &["ssh.empty-passwords"],
        },
        Case {
            name: "sshd: MaxAuthTries raised",
            change: |r| replace(r, CIS, "MaxAuthTries 4", "MaxAuthTries 10"),
            flips: &["ssh.max-auth-tries"],
        },
        Case {
            name: "sshd: LogLevel quiet",
            change: |r| replace(r, CIS, "LogLevel VERBOSE", "LogLevel QUIET"),
            flips: &["ssh.log-level"],
        },
        Case {
            name: "sshd: host-based authentication",
            change: |r| {
                replace(
                    r,
                    CIS,
                    "HostbasedAuthentication no",
                    "HostbasedAuthentication yes",
                )
            },
            flips: &["ssh.hostbased-auth"],
        },
        Case {
            name: "sshd: rhosts honoured",
            change: |r| replace(r, CIS, "IgnoreRhosts yes", "IgnoreRhosts no"),
            flips: &["ssh.ignore-rhosts"],
        },
        Case {
            name: "sshd: user environment",
            change: |r| {
                replace(
                    r,
                    CIS,
                    "PermitUserEnvironment no",
                    "PermitUserEnvironment yes",
                )
            },
            flips: &["ssh.user-environment"],
        },
        Case {
            name: "sshd: no idle timeout",
            change: |r| replace(r, CIS, "ClientAliveInterval 15m", "ClientAliveInterval 0"),
            flips: &["ssh.idle-timeout"],
        },
        Case {
            name: "sshd: CBC cipher added",
            change: |r| replace(r, CIS, "Ciphers chacha20", "Ciphers aes128-cbc,chacha20"),
            flips: &["ssh.weak-ciphers"],
        },
        Case {
            name: "sshd: legacy key exchange added",
            change: |r| {
                replace(
                    r,
                    CIS,
                    "KexAlgorithms sntrup",
                    "KexAlgorithms diffie-hellman-group1-sha1,sntrup",
                )
            },
            flips: &["ssh.weak-kex"],
        },
        Case {
            name: "sshd: grace time of 5 minutes",
            change: |r| replace(r, CIS, "LoginGraceTime 60", "LoginGraceTime 5m"),
            flips: &["ssh.login-grace-time"],
        },
        Case {
            name: "harmless sshd: comment and blank lines",
            change: |r| append(r, SSHD, "\n# PermitRootLogin yes\n   \n"),
            flips: &[],
        },
        Case {
            name: "harmless sshd: .bak drop-in is not included",
            change: |r| {
                write(
                    r,
                    "/etc/ssh/sshd_config.d/00-aaa.conf.bak",
                    "PermitRootLogin yes\n",
                )
            },
            flips: &[],
        },
        Case {
            name: "harmless sshd: keyword case",
            change: |r| replace(r, CIS, "PermitRootLogin no", "PERMITROOTLOGIN no"),
            flips: &[],
        },
        Case {
            name: "harmless sshd: later drop-in overridden by the first value",
            change: |r| {
                write(
                    r,
                    "/etc/ssh/sshd_config.d/99-zzz.conf",
                    "PermitRootLogin yes\n",
                )
            },
            flips: &[],
        },
        Case {
            name: "harmless sshd: Match block tightening a setting",
            change: |r| {
                append(
                    r,
                    CIS,
                    "Match Group sftponly\n    PermitRootLogin no\n    X11Forwarding no\n",
                )
            },
            flips: &[],
        },
        // ---------------------------------------------------------- accounts
        Case {
            name: "accounts: second uid-0 account",
            change: |r| append(r, "/etc/passwd", "toor:x:0:0:root:/root:/bin/bash\n"),
            flips: &["accounts.no-extra-uid0", "accounts.unique-ids"],
        },
        Case {
            name: "accounts: empty password field",
            change: |r| replace(r, "/etc/shadow", "daemon:*:", "daemon::"),
            flips: &["accounts.no-empty-passwords"],
        },
        Case {
            name: "accounts: %users NOPASSWD: ALL",
            change: |r| {
                write(
                    r,
                    "/etc/sudoers.d/50-users",
                    "%users ALL=(ALL) NOPASSWD: ALL\n",
                )
            },
            flips: &["accounts.sudo-nopasswd"],
        },
        Case {
            name: "accounts: Defaults:alice !authenticate with alice in %sudo",
            change: |r| {
                append(
                    r,
                    "/etc/sudoers.d/10-hardening",
                    "Defaults:alice !authenticate\n",
                )
            },
            flips: &["accounts.sudo-nopasswd"],
        },
        Case {
            name: "accounts: global Defaults !authenticate",
            change: |r| append(r, "/etc/sudoers.d/10-hardening", "Defaults !authenticate\n"),
            flips: &["accounts.sudo-nopasswd"],
        },
        Case {
            name: "accounts: passwords never expire",
            change: |r| {
                replace(
                    r,
                    "/etc/login.defs",
                    "PASS_MAX_DAYS\t365",
                    "PASS_MAX_DAYS\t99999",
                )
            },
            flips: &["accounts.password-max-age"],
        },
        Case {
            name: "accounts: no minimum password age",
            change: |r| replace(r, "/etc/login.defs", "PASS_MIN_DAYS\t1", "PASS_MIN_DAYS\t0"),
            flips: &["accounts.password-min-age"],
        },
        Case {
            name: "accounts: permissive umask",
            change: |r| replace(r, "/etc/login.defs", "UMASK\t\t027", "UMASK\t\t000"),
            flips: &["accounts.default-umask"],
        },
        Case {
            name: "harmless accounts: sudoers.d backup files are skipped",
            change: |r| {
                write(
                    r,
                    "/etc/sudoers.d/50-users~",
                    "%users ALL=(ALL) NOPASSWD: ALL\n",
                );
                write(
                    r,
                    "/etc/sudoers.d/50.users",
                    "%users ALL=(ALL) NOPASSWD: ALL\n",
                );
            },
            flips: &[],
        },
        Case {
            name: "harmless accounts: commented NOPASSWD rule",
            change: |r| {
                append(
                    r,
                    "/etc/sudoers.d/10-hardening",
                    "# %users ALL=(ALL) NOPASSWD: ALL\n",
                )
            },
            flips: &[],
        },
        Case {
            name: "harmless accounts: Defaults:carol !authenticate, carol has no sudo rule",
            change: |r| {
                append(
                    r,
                    "/etc/sudoers.d/10-hardening",
                    "Defaults:carol !authenticate\n",
                )
            },
            flips: &[],
        },
        // ---------------------------------------------------------- packages
        Case {
            name: "packages: the security source is removed from apt's sources",
            change: |r| {
                let p = "/etc/apt/sources.list.d/debian.sources";
                let t = fs::read_to_string(r.join(p.trim_start_matches('/'))).unwrap();
                let main = t.split("\n\n").next().unwrap().to_string();
                write(r, p, &(main + "\n"));
            },
            flips: &["packages.security-updates", "packages.security-source"],
        },
        Case {
            name: "packages: an apt source is marked trusted (no signature check)",
            change: |r| {
                write(
                    r,
                    "/etc/apt/sources.list.d/vendor.list",
                    "deb [trusted=yes] http://vendor.example/apt bookworm main\n",
                );
            },
            flips: &["packages.signed-sources"],
        },
        Case {
            name: "harmless packages: a disabled stanza and a deb-src line",
            change: |r| {
                append(
                    r,
                    "/etc/apt/sources.list.d/debian.sources",
                    "\nTypes: deb\nURIs: http://mirror.example/debian\nSuites: trixie\nComponents: main\nEnabled: no\n",
                );
                write(
                    r,
                    "/etc/apt/sources.list",
                    "deb-src http://deb.debian.org/debian bookworm main\n",
                );
            },
            flips: &[],
        },
        // ---------------------------------------------------------- kernel
        Case {
            name: "kernel: ASLR off in a late sysctl.d file",
            change: |r| {
                write(
                    r,
                    "/etc/sysctl.d/90-aslr.conf",
                    "kernel.randomize_va_space = 0\n",
                )
            },
            flips: &["kernel.aslr"],
        },
        Case {
            name: "kernel: kptr_restrict off",
            change: |r| write(r, "/etc/sysctl.d/90-x.conf", "kernel/kptr_restrict=0\n"),
            flips: &["kernel.kptr-restrict"],
        },
        Case {
            name: "kernel: dmesg readable by users",
            change: |r| write(r, "/etc/sysctl.d/90-x.conf", "kernel.dmesg_restrict = 0\n"),
            flips: &["kernel.dmesg-restrict"],
        },
        Case {
            name: "kernel: suid core dumps",
            change: |r| write(r, "/etc/sysctl.d/90-x.conf", "fs.suid_dumpable = 2\n"),
            flips: &["kernel.suid-dumpable"],
        },
        Case {
            name: "kernel: usb-storage blacklist removed",
            change: |r| {
                let p = r.join("etc/modprobe.d/cis.conf");
                let t = fs::read_to_string(&p).unwrap();
                let kept: String = t
                    .lines()
                    .filter(|l| !l.contains("usb-storage") && !l.contains("usb_storage"))
                    .map(|l| format!("{l}\n"))
                    .collect();
                fs::write(p, kept).unwrap();
            },
            flips: &["kernel.usb-storage-disabled"],
        },
        Case {
            name: "harmless kernel: .disabled sysctl file is not read",
            change: |r| {
                write(
                    r,
                    "/etc/sysctl.d/90-aslr.conf.disabled",
                    "kernel.randomize_va_space = 0\n",
                )
            },
            flips: &[],
        },
        Case {
            name: "harmless kernel: value overridden by a later file",
            change: |r| {
                write(
                    r,
                    "/etc/sysctl.d/10-early.conf",
                    "kernel.randomize_va_space = 0\n",
                )
            },
            flips: &[],
        },
        Case {
            name: "harmless kernel: whitespace and comments",
            change: |r| {
                append(
                    r,
                    "/etc/sysctl.d/60-hardening.conf",
                    "\n; kernel.randomize_va_space = 0\n#x\n",
                )
            },
            flips: &[],
        },
        Case {
            name: "kernel: hard links unprotected",
            change: |r| write(r, "/etc/sysctl.d/90-x.conf", "fs.protected_hardlinks = 0\n"),
            flips: &["kernel.protected-links"],
        },
        Case {
            name: "kernel: ptrace of any process of the same user",
            change: |r| {
                write(
                    r,
                    "/etc/sysctl.d/90-x.conf",
                    "kernel.yama.ptrace_scope = 0\n",
                )
            },
            flips: &["kernel.ptrace-scope"],
        },
    ]
}

#[test]
fn every_mutation_flips_exactly_its_rules() {
    let base_dir = tempfile::tempdir().unwrap();
    base_root(base_dir.path());
    let base = statuses(base_dir.path());
    assert!(base.len() >= 60, "only {} rules evaluated", base.len());
    let list = cases();
    assert!(list.len() >= 40, "the corpus has only {} cases", list.len());
    let mut names = BTreeSet::new();
    let mut failures = Vec::new();
    for case in &list {
        assert!(names.insert(case.name), "duplicate case {}", case.name);
        let dir = tempfile::tempdir().unwrap();
        base_root(dir.path());
        (case.change)(dir.path());
        let after = statuses(dir.path());
        let flipped: BTreeSet<&str> = base
            .iter()
            .filter(|(id, st)| after.get(*id) != Some(*st))
            .map(|(id, _)| id.as_str())
            .collect();
        let expected: BTreeSet<&str> = case.flips.iter().copied().collect();
        if flipped != expected {
            let detail: Vec<String> = flipped
                .iter()
                .map(|id| {
                    format!(
                        "{id}: {} -> {}",
                        base[*id],
                        after.get(*id).map_or("-", String::as_str)
                    )
                })
                .collect();
            failures.push(format!(
                "{}: expected {expected:?}, flipped [{}]",
                case.name,
                detail.join(", ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
