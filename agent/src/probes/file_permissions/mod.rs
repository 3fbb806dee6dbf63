//! Probe `file-permissions`: mode and owner of sensitive files, against CIS-like maxima.
//!
//! Reads metadata only (`stat`, following links inside the root), never the
//! contents of shadow files or keys. Owner and group names come from the root's
//! own `/etc/passwd` and `/etc/group` (`name:x:id:…`), so an image is judged by
//! its own accounts.
//!
//! Files and expected maxima (Debian/Ubuntu and RHEL defaults both comply):
//! | path | category | expected |
//! | --- | --- | --- |
//! | /etc/passwd, /etc/group | passwd | 0644 root:root |
//! | /etc/shadow, /etc/gshadow | shadow | 0640 root:root or root:shadow (RHEL ships 0000) |
//! | /etc/ssh/sshd_config | sshd_config | 0600 root:root |
//! | /etc/ssh/ssh_host_*_key | ssh_host_key | 0600 root:root, or 0640 root:ssh_keys (RHEL) |
//! | /etc/sudoers, /etc/sudoers.d/* | sudoers | 0440 root:root |
//! | /etc/sudoers.d | sudoers | 0755 root:root (directory) |
//! | /etc/crontab | crontab | 0600 root:root |
//! | /etc/cron.{d,hourly,daily,weekly,monthly} | cron_dir | 0700 root:root |
//! | /boot/grub/grub.cfg (Debian), /boot/grub2/grub.cfg (RHEL) | grub | 0600 root:root |
//! | /var/log | log_dir | 0775 root:root, root:syslog or root:adm |
//!
//! Beyond that fixed list, `tree_scan` walks the trees that hold what root
//! runs and how the system is configured ([`PRIVILEGED_TREES`]: `/etc` with
//! cron, sudoers.d, sshd_config.d, systemd, profile.d, sysctl.d, modprobe.d
//! and PAM; the program directories; the systemd unit directories; the cron
//! spool) without following links, for regular files anyone may write and
//! directories anyone may write without the sticky bit. It is bounded
//! ([`TREE_SCAN_LIMIT`] entries in all, [`TREE_SCAN_REPORTED`] paths
//! reported) and says when it stopped early (`truncated`) or could not list
//! a directory (`unlisted`), so a partial scan is never read as a clean one.
//!
//! A file is `compliant` when it has no permission bit (setuid/setgid/sticky
//! included) beyond the maximum, is owned by uid 0, and its group is one of the
//! allowed ones. A missing file is reported with `exists: false` and counts as
//! compliant (there is nothing to protect).

mod tree_scan;

pub use tree_scan::{
    is_world_writable_finding, scan_trees, TreeScan, WritableEntry, PRIVILEGED_TREES,
    TREE_SCAN_LIMIT, TREE_SCAN_REPORTED,
};

use super::Outcome;
use crate::hostroot::{FileMeta, HostRoot};
use serde::Serialize;
use std::collections::BTreeMap;

/// The probe's schema: id, version, controls and every field (in core).
pub use evident_core::schema::probes::file_permissions::SCHEMA;

/// One accepted combination of maximum mode and groups.
#[derive(Debug, Clone, Copy)]
struct Allowed {
    max: u32,
    groups: &'static [&'static str],
}

#[derive(Debug, Clone, Copy)]
struct Expectation {
    category: &'static str,
    allowed: &'static [Allowed],
}

const ROOT: &[&str] = &["root"];

const fn one(category: &'static str, allowed: &'static [Allowed]) -> Expectation {
    Expectation { category, allowed }
}

const PASSWD: Expectation = one(
    "passwd",
    &[Allowed {
        max: 0o644,
        groups: ROOT,
    }],
);
const SHADOW: Expectation = one(
    "shadow",
    &[Allowed {
        max: 0o640,
        groups: &["root", "shadow"],
    }],
);
const SSHD: Expectation = one(
    "sshd_config",
    &[Allowed {
        max: 0o600,
        groups: ROOT,
    }],
);
const HOST_KEY: Expectation = one(
    "ssh_host_key",
    &[
        Allowed {
            max: 0o600,
            groups: ROOT,
        },
        Allowed {
            max: 0o640,
            groups: &["ssh_keys"],
        },
    ],
);
const SUDOERS: Expectation = one(
    "sudoers",
    &[Allowed {
        max: 0o440,
        groups: ROOT,
    }],
);
const SUDOERS_DIR: Expectation = one(
    "sudoers",
    &[Allowed {
        max: 0o755,
        groups: ROOT,
    }],
);
const CRONTAB: Expectation = one(
    "crontab",
    &[Allowed {
        max: 0o600,
        groups: ROOT,
    }],
);
const CRON_DIR: Expectation = one(
    "cron_dir",
    &[Allowed {
        max: 0o700,
        groups: ROOT,
    }],
);
const GRUB: Expectation = one(
    "grub",
    &[Allowed {
        max: 0o600,
        groups: ROOT,
    }],
);
const LOG_DIR: Expectation = one(
    "log_dir",
    &[Allowed {
        max: 0o775,
        groups: &["root", "syslog", "adm"],
    }],
);

/// The fixed paths checked (host keys and sudoers.d files are added by globbing).
pub const PATHS: &[&str] = &[
    "/etc/passwd",
    "/etc/group",
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/ssh/sshd_config",
    "/etc/sudoers",
    "/etc/sudoers.d",
    "/etc/crontab",
    "/etc/cron.d",
    "/etc/cron.hourly",
    "/etc/cron.daily",
    "/etc/cron.weekly",
    "/etc/cron.monthly",
    "/boot/grub/grub.cfg",
    "/boot/grub2/grub.cfg",
    "/var/log",
];

fn expectation_for(path: &str) -> Option<Expectation> {
    Some(match path {
        "/etc/passwd" | "/etc/group" => PASSWD,
        "/etc/shadow" | "/etc/gshadow" => SHADOW,
        "/etc/ssh/sshd_config" => SSHD,
        "/etc/sudoers" => SUDOERS,
        "/etc/sudoers.d" => SUDOERS_DIR,
        "/etc/crontab" => CRONTAB,
        "/etc/cron.d" | "/etc/cron.hourly" | "/etc/cron.daily" | "/etc/cron.weekly"
        | "/etc/cron.monthly" => CRON_DIR,
        "/boot/grub/grub.cfg" | "/boot/grub2/grub.cfg" => GRUB,
        "/var/log" => LOG_DIR,
        p if p.starts_with("/etc/ssh/ssh_host_") && p.ends_with("_key") => HOST_KEY,
        p if p.starts_with("/etc/sudoers.d/") => SUDOERS,
        _ => return None,
    })
}

/// One checked path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileFact {
    /// Host path.
    pub path: String,
    /// Category.
    pub category: String,
    /// Exists.
    pub exists: bool,
    /// Directory.
    pub is_dir: bool,
    /// Octal mode.
    pub mode: String,
    /// Owner uid.
    pub uid: Option<u32>,
    /// Group gid.
    pub gid: Option<u32>,
    /// Owner name.
    pub owner: String,
    /// Group name.
    pub group: String,
    /// o+r.
    pub world_readable: bool,
    /// o+w.
    pub world_writable: bool,
    /// g+w.
    pub group_writable: bool,
    /// Any o bit.
    pub other_access: bool,
    /// Expected maximum.
    pub expected: String,
    /// Within the maximum.
    pub compliant: bool,
}

/// A non-compliant file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// Host path.
    pub path: String,
    /// Actual mode.
    pub mode: String,
    /// owner:group.
    pub owner: String,
    /// Expected maximum.
    pub expected: String,
}

/// What the probe reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FilePermissionsFacts {
    /// Checked paths.
    pub files: Vec<FileFact>,
    /// Non-compliant ones.
    pub violations: Vec<Violation>,
    /// World-writable ones.
    pub world_writable: Vec<String>,
    /// Existing checked paths.
    pub checked_count: usize,
    /// `violations.len()`.
    pub violation_count: usize,
    /// Metadata not readable.
    pub unreadable: Vec<String>,
    /// World-writable entries under the privileged trees.
    pub tree_scan: TreeScan,
}

/// `id → name` from `/etc/passwd` or `/etc/group` text (`name:x:id:…`).
pub fn parse_id_names(text: &str) -> BTreeMap<u32, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.split(':');
        let (Some(name), Some(_), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if let Ok(id) = id.trim().parse::<u32>() {
            // The first entry for an id wins, as getpwuid() does.
            out.entry(id).or_insert_with(|| name.to_string());
        }
    }
    out
}

fn describe(e: &Expectation) -> String {
    e.allowed
        .iter()
        .map(|a| format!("{:04o} root:{}", a.max, a.groups.join("|")))
        .collect::<Vec<_>>()
        .join(" or ")
}

fn name_of(names: &BTreeMap<u32, String>, id: u32) -> String {
    names.get(&id).cloned().unwrap_or_else(|| id.to_string())
}

/// Judge one path (pure): `meta` is `None` when it does not exist.
pub fn check_file(
    path: &str,
    meta: Option<&FileMeta>,
    users: &BTreeMap<u32, String>,
    groups: &BTreeMap<u32, String>,
) -> Option<FileFact> {
    let exp = expectation_for(path)?;
    let expected = describe(&exp);
    let Some(m) = meta else {
        return Some(FileFact {
            path: path.to_string(),
            category: exp.category.to_string(),
            exists: false,
            is_dir: false,
            mode: String::new(),
            uid: None,
            gid: None,
            owner: String::new(),
            group: String::new(),
            world_readable: false,
            world_writable: false,
            group_writable: false,
            other_access: false,
            expected,
            compliant: true,
        });
    };
    let perm = m.mode & 0o7777;
    let group = name_of(groups, m.gid);
    let compliant = m.uid == 0
        && exp.allowed.iter().any(|a| {
            let group_ok =
                a.groups.contains(&group.as_str()) || (a.groups.contains(&"root") && m.gid == 0);
            perm & !a.max == 0 && group_ok
        });
    Some(FileFact {
        path: path.to_string(),
        category: exp.category.to_string(),
        exists: true,
        is_dir: m.is_dir,
        mode: format!("{perm:04o}"),
        uid: Some(m.uid),
        gid: Some(m.gid),
        owner: name_of(users, m.uid),
        group,
        world_readable: perm & 0o004 != 0,
        world_writable: perm & 0o002 != 0,
        group_writable: perm & 0o020 != 0,
        other_access: perm & 0o007 != 0,
        expected,
        compliant,
    })
}

/// Judge every path (pure): `entries` are (host path, metadata or `None` when
/// missing); `passwd`/`group` are the root's account files.
pub fn evaluate(
    entries: &[(String, Option<FileMeta>)],
    passwd: &str,
    group: &str,
) -> FilePermissionsFacts {
    let users = parse_id_names(passwd);
    let groups = parse_id_names(group);
    let mut facts = FilePermissionsFacts::default();
    for (path, meta) in entries {
        let Some(f) = check_file(path, meta.as_ref(), &users, &groups) else {
            continue;
        };
        if f.exists && !f.compliant {
            facts.violations.push(Violation {
                path: f.path.clone(),
                mode: f.mode.clone(),
                owner: format!("{}:{}", f.owner, f.group),
                expected: f.expected.clone(),
            });
        }
        if f.world_writable {
            facts.world_writable.push(f.path.clone());
        }
        facts.checked_count += usize::from(f.exists);
        facts.files.push(f);
    }
    facts.violation_count = facts.violations.len();
    facts
}

/// Collect under `root`.
pub fn collect(root: &HostRoot) -> Outcome {
    let mut paths: Vec<String> = PATHS.iter().map(|p| (*p).to_string()).collect();
    let mut unreadable = Vec::new();
    for pattern in ["/etc/ssh/ssh_host_*_key", "/etc/sudoers.d/*"] {
        match root.glob(pattern) {
            Ok(found) => paths.extend(found),
            Err(e) => unreadable.push(e.to_string()),
        }
    }
    let mut entries = Vec::with_capacity(paths.len());
    for p in paths {
        match root.metadata(&p) {
            Ok(meta) => entries.push((p, meta)),
            Err(e) => unreadable.push(e.to_string()),
        }
    }
    if entries.iter().all(|(_, m)| m.is_none()) && unreadable.is_empty() {
        return Outcome::Unsupported("none of the checked files exist under the root".into());
    }
    let text = |p: &str| match root.read_to_string(p) {
        Ok(t) => t.unwrap_or_default(),
        Err(_) => String::new(),
    };
    let mut facts = evaluate(&entries, &text("/etc/passwd"), &text("/etc/group"));
    facts.unreadable = unreadable;
    facts.tree_scan = scan_trees(root, TREE_SCAN_LIMIT);
    Outcome::from_facts(&facts)
}

/// Feed arbitrary text to every parser (for cargo-fuzz); never panics.
pub fn fuzz_parse(input: &str) {
    let _ = evaluate(&[("/etc/shadow".to_string(), None)], input, input);
    for line in input.lines() {
        let _ = expectation_for(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    const DEB_PASSWD: &str = include_str!("../../../tests/fixtures/file-permissions/debian-passwd");
    const DEB_GROUP: &str = include_str!("../../../tests/fixtures/file-permissions/debian-group");
    const RHEL_PASSWD: &str = include_str!("../../../tests/fixtures/file-permissions/rhel-passwd");
    const RHEL_GROUP: &str = include_str!("../../../tests/fixtures/file-permissions/rhel-group");

    fn meta(mode: u32, uid: u32, gid: u32, is_dir: bool) -> Option<FileMeta> {
        Some(FileMeta {
            mode: mode | if is_dir { 0o040000 } else { 0o100000 },
            uid,
            gid,
            size: 1,
            mtime: 0,
            is_dir,
        })
    }

    fn e(path: &str, m: Option<FileMeta>) -> (String, Option<FileMeta>) {
        (path.to_string(), m)
    }

    /// Stock Debian 12 after CIS hardening.
    fn debian_hardened() -> Vec<(String, Option<FileMeta>)> {
        vec![
            e("/etc/passwd", meta(0o644, 0, 0, false)),
            e("/etc/group", meta(0o644, 0, 0, false)),
            e("/etc/shadow", meta(0o640, 0, 42, false)),
            e("/etc/gshadow", meta(0o640, 0, 42, false)),
            e("/etc/ssh/sshd_config", meta(0o600, 0, 0, false)),
            e("/etc/ssh/ssh_host_ed25519_key", meta(0o600, 0, 0, false)),
            e("/etc/ssh/ssh_host_rsa_key", meta(0o600, 0, 0, false)),
            e("/etc/sudoers", meta(0o440, 0, 0, false)),
            e("/etc/sudoers.d", meta(0o755, 0, 0, true)),
            e("/etc/sudoers.d/README", meta(0o440, 0, 0, false)),
            e("/etc/crontab", meta(0o600, 0, 0, false)),
            e("/etc/cron.d", meta(0o700, 0, 0, true)),
            e("/etc/cron.hourly", meta(0o700, 0, 0, true)),
            e("/etc/cron.daily", meta(0o700, 0, 0, true)),
            e("/etc/cron.weekly", meta(0o700, 0, 0, true)),
            e("/etc/cron.monthly", meta(0o700, 0, 0, true)),
            e("/boot/grub/grub.cfg", meta(0o400, 0, 0, false)),
            e("/boot/grub2/grub.cfg", None),
            e("/var/log", meta(0o755, 0, 0, true)),
        ]
    }

    #[test]
    fn hardened_debian_is_compliant() {
        let f = evaluate(&debian_hardened(), DEB_PASSWD, DEB_GROUP);
        assert_eq!(f.violations, vec![], "{:#?}", f.violations);
        assert_eq!(f.checked_count, 18);
        let shadow = f.files.iter().find(|x| x.path == "/etc/shadow").unwrap();
        assert_eq!(
            (
                shadow.mode.as_str(),
                shadow.owner.as_str(),
                shadow.group.as_str()
            ),
            ("0640", "root", "shadow")
        );
        let grub2 = f
            .files
            .iter()
            .find(|x| x.path == "/boot/grub2/grub.cfg")
            .unwrap();
        assert!(!grub2.exists && grub2.compliant && grub2.uid.is_none());
    }

    #[test]
    fn stock_debian_defaults_violate_cis_only_where_expected() {
        let mut entries = debian_hardened();
        for (p, m) in entries.iter_mut() {
            let stock = match p.as_str() {
                "/etc/ssh/sshd_config" | "/etc/crontab" => 0o644,
                "/etc/cron.d" | "/etc/cron.daily" | "/etc/cron.hourly" | "/etc/cron.weekly"
                | "/etc/cron.monthly" => 0o755,
                "/boot/grub/grub.cfg" => 0o444,
                _ => continue,
            };
            let old = m.clone().unwrap();
            *m = meta(stock, old.uid, old.gid, old.is_dir);
        }
        let f = evaluate(&entries, DEB_PASSWD, DEB_GROUP);
        let bad: Vec<&str> = f.violations.iter().map(|v| v.path.as_str()).collect();
        assert_eq!(bad.len(), 8, "{bad:?}");
        assert!(f.world_writable.is_empty());
        let v = &f.violations[0];
        assert_eq!(
            (
                v.path.as_str(),
                v.mode.as_str(),
                v.owner.as_str(),
                v.expected.as_str()
            ),
            (
                "/etc/ssh/sshd_config",
                "0644",
                "root:root",
                "0600 root:root"
            )
        );
    }

    #[test]
    fn rhel_shadow_0000_and_ssh_keys_group() {
        let entries = vec![
            e("/etc/shadow", meta(0o000, 0, 0, false)),
            e("/etc/ssh/ssh_host_ecdsa_key", meta(0o640, 0, 997, false)),
            // 0640 is only fine with the ssh_keys group.
            e("/etc/ssh/ssh_host_rsa_key", meta(0o640, 0, 0, false)),
            e("/boot/grub2/grub.cfg", meta(0o600, 0, 0, false)),
        ];
        let f = evaluate(&entries, RHEL_PASSWD, RHEL_GROUP);
        let c: Vec<bool> = f.files.iter().map(|x| x.compliant).collect();
        assert_eq!(c, vec![true, true, false, true]);
        assert_eq!(f.files[1].group, "ssh_keys");
        assert_eq!(f.files[1].expected, "0600 root:root or 0640 root:ssh_keys");
    }

    #[test]
    fn owners_setuid_world_writable_and_unknown_ids() {
        let entries = vec![
            e("/etc/shadow", meta(0o644, 0, 42, false)),
            e("/etc/passwd", meta(0o644, 1000, 0, false)),
            e("/etc/sudoers", meta(0o4440, 0, 0, false)),
            e("/var/log", meta(0o1777, 0, 0, true)),
            e("/etc/crontab", meta(0o600, 0, 4242, false)),
            e("/etc/motd", meta(0o777, 0, 0, false)),
        ];
        let f = evaluate(&entries, DEB_PASSWD, DEB_GROUP);
        assert_eq!(f.files.len(), 5, "unknown paths are skipped");
        assert!(f.files.iter().all(|x| !x.compliant));
        assert!(f.files[0].world_readable && !f.files[0].world_writable);
        assert_eq!(f.files[1].owner, "admin");
        assert_eq!(f.files[2].mode, "4440");
        assert_eq!(f.files[4].group, "4242");
        assert_eq!(f.world_writable, vec!["/var/log"]);
        assert_eq!(f.violation_count, 5);
        assert_eq!(f.violations[1].owner, "admin:root");
    }

    #[test]
    fn id_names_tolerate_crlf_comments_and_garbage() {
        let g = parse_id_names(RHEL_GROUP);
        assert_eq!(g.get(&997).map(String::as_str), Some("ssh_keys"));
        assert_eq!(g.get(&1000).map(String::as_str), Some("admin"));
        assert_eq!(g.len(), 5);
    }

    #[test]
    fn collect_over_a_temp_root() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        fs::create_dir_all(r.join("etc/ssh")).unwrap();
        fs::create_dir_all(r.join("etc/sudoers.d")).unwrap();
        fs::create_dir_all(r.join("var/log")).unwrap();
        fs::write(r.join("etc/passwd"), DEB_PASSWD).unwrap();
        fs::write(r.join("etc/group"), DEB_GROUP).unwrap();
        for (p, mode) in [
            ("etc/shadow", 0o640),
            ("etc/ssh/ssh_host_ed25519_key", 0o600),
            ("etc/ssh/ssh_host_ed25519_key.pub", 0o644),
            ("etc/sudoers.d/90-admin", 0o666),
            ("etc/ssh/sshd_config", 0o644),
        ] {
            fs::write(r.join(p), "x").unwrap();
            fs::set_permissions(r.join(p), fs::Permissions::from_mode(mode)).unwrap();
        }
        fs::set_permissions(r.join("var/log"), fs::Permissions::from_mode(0o755)).unwrap();
        let Outcome::Ok(v) = collect(&HostRoot::offline(r)) else {
            panic!()
        };
        let paths: Vec<&str> = v["files"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["exists"] == true)
            .map(|f| f["path"].as_str().unwrap())
            .collect();
        assert_eq!(
            paths,
            vec![
                "/etc/passwd",
                "/etc/group",
                "/etc/shadow",
                "/etc/ssh/sshd_config",
                "/etc/sudoers.d",
                "/var/log",
                "/etc/ssh/ssh_host_ed25519_key",
                "/etc/sudoers.d/90-admin"
            ]
        );
        assert_eq!(
            v["world_writable"],
            serde_json::json!(["/etc/sudoers.d/90-admin"])
        );
        let key = v["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["category"] == "ssh_host_key")
            .unwrap();
        assert_eq!(key["mode"], "0600");
        // Owners are whoever runs the test; the mode logic is what is checked here.
        let sshd = v["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["path"] == "/etc/ssh/sshd_config")
            .unwrap();
        assert!(sshd["world_readable"] == true && sshd["group_writable"] == false);
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
            ":",
            "::",
            "a:x:-1",
            "a:x:99999999999",
            "root:x:0:0\n/etc/shadow",
        ] {
            fuzz_parse(s);
        }
    }
}
