//! Probe `accounts`: local users, uid-0 accounts, password state and ageing,
//! privileged groups, sudo rules, login.defs, and PAM password quality,
//! history, lockout and hashing.
//!
//! Reads (all through [`HostRoot`]):
//! - `/etc/passwd`, `/etc/shadow`, `/etc/group` (every distro). The shadow
//!   hash is reduced to a state (`set` / `locked` / `none` / `empty`) and its
//!   algorithm name at parse time; no hash is ever kept or reported. When
//!   `/etc/shadow` cannot be read (an unprivileged scan) the probe still
//!   reports, with `shadow_readable: false` and password state `unknown`.
//! - `/etc/login.defs` (shadow-utils defaults apply when a key is absent).
//! - `/etc/sudoers` with `#include`, `@include`, `#includedir`, `@includedir`
//!   (files in an included directory are read in sorted order, skipping names
//!   that end in `~` or contain a `.`, as sudo does), comments, backslash line
//!   continuations, `User_Alias` / `Cmnd_Alias` expansion, tags (`NOPASSWD:`)
//!   and `Defaults !authenticate`.
//! - PAM: `/etc/pam.d/common-password`, `common-auth` (Debian/Ubuntu) and
//!   `system-auth`, `password-auth` (RHEL family; authselect symlinks are
//!   followed inside the root), `/etc/security/pwquality.conf` plus
//!   `pwquality.conf.d/*.conf`, `/etc/security/faillock.conf`,
//!   `/etc/security/pwhistory.conf`. Module arguments override the
//!   configuration files, as the modules do.

mod login_defs;
mod pam;
mod passwd;
mod sudoers;
mod text;
mod users;

pub use login_defs::{parse_login_defs, LoginDefs};
pub use pam::{analyse_pam, parse_kv_conf, parse_pam, PamConfigs, PamFacts, PamLine};
pub use passwd::{
    parse_group, parse_passwd, parse_shadow, password_state, GroupEntry, PasswdEntry,
    PasswordState, ShadowEntry,
};
pub use sudoers::{
    analyse_sudo, parse_sudoers, SudoFacts, SudoInclude, SudoRule, SudoersFile, UserSpec,
};
pub use users::{build_facts, Inputs};

use super::common::reader::Reader;
use super::Outcome;
use crate::hostroot::HostRoot;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// The probe's schema: id, version, controls and every field (in core).
pub use evident_core::schema::probes::accounts::SCHEMA;

/// Everything the probe reports.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct AccountsFacts {
    /// Whether /etc/shadow was read.
    pub shadow_readable: bool,
    /// First uid of regular users.
    pub uid_min: u32,
    /// Every account.
    pub users: Vec<User>,
    /// Accounts with uid 0.
    pub uid0_accounts: Vec<String>,
    /// Accounts with an empty password.
    pub empty_password_accounts: Vec<String>,
    /// Accounts with an interactive shell.
    pub interactive_users: Vec<String>,
    /// System accounts (not root) with an interactive shell.
    pub interactive_system_accounts: Vec<String>,
    /// Accounts a password login is possible for.
    pub password_login_accounts: Vec<String>,
    /// Accounts with a weak hash.
    pub weak_hash_accounts: Vec<String>,
    /// Uids used more than once.
    pub duplicate_uids: Vec<u32>,
    /// User names used more than once.
    pub duplicate_user_names: Vec<String>,
    /// Group names used more than once.
    pub duplicate_group_names: Vec<String>,
    /// sudo, wheel, admin, adm.
    pub privileged_groups: Vec<PrivilegedGroup>,
    /// Sudo configuration.
    pub sudo: SudoFacts,
    /// login.defs.
    pub login_defs: LoginDefs,
    /// PAM stacks.
    pub pam: PamFacts,
    /// Algorithm new passwords get.
    pub password_hash_algorithm: String,
    /// Inputs that could not be read.
    pub unreadable_files: Vec<String>,
    /// Inputs refused for lack of permission (an unprivileged scan).
    pub permission_denied: Vec<String>,
}

/// One account.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct User {
    /// Login name.
    pub name: String,
    /// Uid.
    pub uid: u32,
    /// Primary gid.
    pub gid: u32,
    /// Home directory.
    pub home: String,
    /// Login shell.
    pub shell: String,
    /// Whether the shell allows a login.
    pub interactive: bool,
    /// Password state, never the hash.
    pub password: String,
    /// Hash algorithm name.
    pub hash_algorithm: String,
    /// Last change, days since the epoch.
    pub last_change_days: Option<i64>,
    /// Minimum age.
    pub min_days: Option<i64>,
    /// Maximum age.
    pub max_days: Option<i64>,
    /// Warning period.
    pub warn_days: Option<i64>,
    /// Inactivity period.
    pub inactive_days: Option<i64>,
    /// Expiry date, days since the epoch.
    pub expire_days: Option<i64>,
}

/// A privileged group.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct PrivilegedGroup {
    /// Name.
    pub name: String,
    /// Gid.
    pub gid: u32,
    /// Members (explicit and primary).
    pub members: Vec<String>,
}

const PAM_FILES: &[&str] = &[
    "/etc/pam.d/common-password",
    "/etc/pam.d/common-auth",
    "/etc/pam.d/system-auth",
    "/etc/pam.d/password-auth",
];

/// Read sudoers and its includes in the order sudo does.
fn collect_sudo(r: &mut Reader<'_>, users: &[PasswdEntry], groups: &[GroupEntry]) -> SudoFacts {
    let mut files = Vec::new();
    let mut seen = BTreeSet::new();
    let present = r.root.exists("/etc/sudoers");
    let before = r.unreadable.len();
    read_sudoers_file(r, "/etc/sudoers", 0, &mut seen, &mut files);
    let unreadable = r.unreadable.split_off(before);
    let mut facts = analyse_sudo(&files, users, groups);
    facts.present = present;
    facts.unreadable_files = unreadable;
    facts
}

fn read_sudoers_file(
    r: &mut Reader<'_>,
    path: &str,
    depth: usize,
    seen: &mut BTreeSet<String>,
    files: &mut Vec<(String, SudoersFile)>,
) {
    if depth > 8 || !seen.insert(path.to_string()) {
        return;
    }
    let Some(text) = r.read(path) else {
        return;
    };
    let parsed = parse_sudoers(&text);
    let includes = parsed.includes.clone();
    files.push((path.to_string(), parsed));
    let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("/etc");
    let absolute = |p: &str| {
        if p.starts_with('/') {
            p.to_string()
        } else {
            format!("{dir}/{p}")
        }
    };
    for inc in includes {
        match inc {
            SudoInclude::File(p) => {
                read_sudoers_file(r, &absolute(&p), depth + 1, seen, files);
            }
            SudoInclude::Dir(d) => {
                let d = absolute(&d);
                let names = r.names(&d);
                for n in names
                    .iter()
                    .filter(|n| !n.ends_with('~') && !n.contains('.'))
                {
                    let p = format!("{}/{n}", d.trim_end_matches('/'));
                    read_sudoers_file(r, &p, depth + 1, seen, files);
                }
            }
        }
    }
}

fn collect_pam(r: &mut Reader<'_>) -> PamFacts {
    let mut stack = Vec::new();
    let mut files = Vec::new();
    for path in PAM_FILES {
        if let Some(t) = r.read(path) {
            stack.extend(parse_pam(&t));
            files.push((*path).to_string());
        }
    }
    let mut conf = PamConfigs::default();
    if let Some(t) = r.read("/etc/security/pwquality.conf") {
        conf.pwquality = parse_kv_conf(&t);
    }
    for p in r.glob("/etc/security/pwquality.conf.d/*.conf") {
        if let Some(t) = r.read(&p) {
            conf.pwquality.extend(parse_kv_conf(&t));
        }
    }
    if let Some(t) = r.read("/etc/security/faillock.conf") {
        conf.faillock = parse_kv_conf(&t);
    }
    if let Some(t) = r.read("/etc/security/pwhistory.conf") {
        conf.pwhistory = parse_kv_conf(&t);
    }
    let mut facts = analyse_pam(&stack, &conf);
    facts.present = !files.is_empty();
    facts.files = files;
    facts
}

/// Collect under `root`.
pub fn collect(root: &HostRoot) -> Outcome {
    collect_with(&mut Reader::new(root))
}

/// Collect through `r` (tests pass a reader that refuses some paths, as an
/// unprivileged scan is refused `/etc/shadow` and the sudoers files).
pub fn collect_with(r: &mut Reader<'_>) -> Outcome {
    let passwd = match r.read("/etc/passwd") {
        Some(t) => parse_passwd(&t),
        None if r.unreadable.is_empty() => {
            return Outcome::Unsupported("no /etc/passwd under the root".into())
        }
        None => return Outcome::Error(r.unreadable.join("; ")),
    };
    let group = match r.read("/etc/group") {
        Some(t) => parse_group(&t),
        None if r.unreadable.is_empty() => Vec::new(),
        None => return Outcome::Error(r.unreadable.join("; ")),
    };
    let shadow = r.read("/etc/shadow").map(|t| parse_shadow(&t));
    let login_defs = r
        .read("/etc/login.defs")
        .map(|t| parse_login_defs(&t))
        .unwrap_or_default();
    let sudo = collect_sudo(r, &passwd, &group);
    let pam = collect_pam(r);
    let mut facts = build_facts(Inputs {
        passwd,
        shadow,
        group,
        login_defs,
        sudo,
        pam,
    });
    facts.unreadable_files = std::mem::take(&mut r.unreadable);
    facts.permission_denied = std::mem::take(&mut r.denied);
    Outcome::from_facts(&facts)
}

/// Feed `input` to every parser (for cargo-fuzz); never panics.
pub fn fuzz_parse(input: &str) {
    let passwd = parse_passwd(input);
    let shadow = parse_shadow(input);
    let group = parse_group(input);
    let login_defs = parse_login_defs(input);
    let sudoers = parse_sudoers(input);
    let sudo = analyse_sudo(&[("fuzz".into(), sudoers)], &passwd, &group);
    let conf = PamConfigs {
        pwquality: parse_kv_conf(input),
        faillock: parse_kv_conf(input),
        pwhistory: BTreeMap::new(),
    };
    let pam = analyse_pam(&parse_pam(input), &conf);
    let _ = build_facts(Inputs {
        passwd,
        shadow: Some(shadow),
        group,
        login_defs,
        sudo,
        pam,
    });
    let _ = password_state(input);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn fixture_root(name: &str) -> HostRoot {
        HostRoot::offline(format!(
            "{}/tests/fixtures/accounts/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
    }

    fn collect_fixture(name: &str) -> Value {
        match collect(&fixture_root(name)) {
            Outcome::Ok(v) => v,
            other => panic!("{name}: {other:?}"),
        }
    }

    fn user<'a>(v: &'a Value, name: &str) -> &'a Value {
        v["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["name"] == name)
            .unwrap()
    }

    fn strings(v: &Value) -> Vec<&str> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect()
    }

    #[test]
    fn hardened_debian12() {
        let v = collect_fixture("debian12");
        assert_eq!(v["shadow_readable"], true);
        assert_eq!(strings(&v["uid0_accounts"]), ["root"]);
        assert!(strings(&v["empty_password_accounts"]).is_empty());
        assert!(strings(&v["interactive_system_accounts"]).is_empty());
        assert_eq!(strings(&v["interactive_users"]), ["root", "alice", "bob"]);
        assert_eq!(strings(&v["password_login_accounts"]), ["alice", "bob"]);
        let root = user(&v, "root");
        assert_eq!(root["password"], "none");
        let alice = user(&v, "alice");
        assert_eq!(alice["password"], "set");
        assert_eq!(alice["hash_algorithm"], "yescrypt");
        assert_eq!(alice["last_change_days"], 19920);
        assert_eq!(alice["max_days"], 365);
        assert_eq!(alice["min_days"], 1);
        assert_eq!(alice["inactive_days"], 30);
        assert_eq!(alice["expire_days"], Value::Null);
        assert_eq!(user(&v, "svc-backup")["password"], "locked");
        assert_eq!(user(&v, "systemd-network")["password"], "none");
        assert_eq!(user(&v, "sync")["interactive"], false);
        let sudo_group = v["privileged_groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["name"] == "sudo")
            .unwrap();
        assert_eq!(strings(&sudo_group["members"]), ["alice", "bob"]);
        // sudo: README is read (no dot), *.dpkg-old and *~ are skipped.
        assert_eq!(
            strings(&v["sudo"]["files"]),
            [
                "/etc/sudoers",
                "/etc/sudoers.d/10-hardening",
                "/etc/sudoers.d/20-backup",
                "/etc/sudoers.d/README"
            ]
        );
        assert!(strings(&v["sudo"]["nopasswd_entries"]).is_empty());
        assert_eq!(
            strings(&v["sudo"]["all_commands_entries"]),
            ["%sudo", "root"]
        );
        assert_eq!(
            strings(&v["sudo"]["all_commands_users"]),
            ["alice", "bob", "root"]
        );
        let backup = v["sudo"]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["who"] == "bob")
            .unwrap();
        assert_eq!(backup["runas"], "svc-backup");
        assert_eq!(backup["all_commands"], false);
        assert_eq!(
            strings(&backup["commands"]),
            [
                "/usr/bin/restic",
                "/usr/local/bin/run-backup --full",
                "/usr/local/bin/run-backup --incremental"
            ]
        );
        let ld = &v["login_defs"];
        assert_eq!(ld["pass_max_days"], 365);
        assert_eq!(ld["pass_min_days"], 1);
        assert_eq!(ld["pass_warn_age"], 14);
        assert_eq!(ld["umask"], "027");
        assert_eq!(ld["umask_restrictive"], true);
        assert_eq!(ld["encrypt_method"], "yescrypt");
        let pam = &v["pam"];
        assert_eq!(pam["pwquality"], true);
        assert_eq!(pam["minlen"], 14);
        assert_eq!(pam["minclass"], 4);
        assert_eq!(pam["complexity_required"], true);
        assert_eq!(pam["remember"], 5);
        assert_eq!(pam["lockout_module"], "faillock");
        assert_eq!(pam["lockout_deny"], 5);
        assert_eq!(pam["lockout_unlock_time"], 900);
        assert_eq!(pam["hash_algorithm"], "yescrypt");
        assert_eq!(pam["nullok"], false);
        assert_eq!(v["password_hash_algorithm"], "yescrypt");
        assert!(strings(&v["unreadable_files"]).is_empty());
    }

    #[test]
    fn weak_debian12() {
        let v = collect_fixture("debian12-weak");
        assert_eq!(strings(&v["uid0_accounts"]), ["root", "toor"]);
        assert_eq!(strings(&v["empty_password_accounts"]), ["guest"]);
        assert_eq!(strings(&v["interactive_system_accounts"]), ["postgres"]);
        assert_eq!(strings(&v["weak_hash_accounts"]), ["legacy"]);
        assert_eq!(user(&v, "legacy")["interactive"], true); // empty shell is /bin/sh
        assert_eq!(user(&v, "deploy")["password"], "locked");
        assert_eq!(user(&v, "root")["password"], "set");
        assert_eq!(
            strings(&v["sudo"]["files"]),
            [
                "/etc/sudoers",
                "/etc/sudoers.d/50-deploy",
                "/etc/sudoers.d/90-cloud-init-users",
                "/etc/sudoers.d/README",
                "/etc/sudoers.local"
            ]
        );
        assert_eq!(
            strings(&v["sudo"]["nopasswd_entries"]),
            ["admin", "deploy", "guest"]
        );
        assert_eq!(v["sudo"]["authenticate_disabled"], true);
        assert_eq!(
            strings(&v["sudo"]["all_commands_entries"]),
            ["%admin", "%sudo", "admin", "guest", "legacy", "root"]
        );
        let deploy = v["sudo"]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["who"] == "deploy")
            .unwrap();
        assert_eq!(deploy["all_commands"], false);
        assert_eq!(deploy["nopasswd"], true);
        assert_eq!(strings(&deploy["commands"]).len(), 3);
        let pam = &v["pam"];
        assert_eq!(pam["pwquality"], false);
        assert_eq!(pam["minlen"], 6);
        assert_eq!(pam["lockout_module"], "");
        assert_eq!(pam["lockout_deny"], 0);
        assert_eq!(pam["nullok"], true);
        assert_eq!(pam["remember"], 0);
        assert_eq!(v["login_defs"]["pass_max_days"], 99999);
        assert_eq!(v["login_defs"]["umask_restrictive"], false);
        assert_eq!(v["password_hash_algorithm"], "yescrypt");
    }

    #[test]
    fn rhel9_with_authselect_symlinks() {
        let v = collect_fixture("rhel9");
        assert!(strings(&v["interactive_system_accounts"]).is_empty());
        assert_eq!(user(&v, "cloud-user")["password"], "none");
        assert_eq!(user(&v, "sshd")["password"], "none");
        assert_eq!(user(&v, "root")["hash_algorithm"], "sha512");
        assert_eq!(user(&v, "root")["last_change_days"], Value::Null);
        assert_eq!(user(&v, "shutdown")["interactive"], false);
        let wheel = v["privileged_groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["name"] == "wheel")
            .unwrap();
        assert_eq!(strings(&wheel["members"]), ["cloud-user"]);
        let adm = v["privileged_groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["name"] == "adm")
            .unwrap();
        assert_eq!(strings(&adm["members"]), ["adm"]);
        assert_eq!(
            strings(&v["sudo"]["nopasswd_entries"]),
            ["#1001", "cloud-user"]
        );
        assert_eq!(
            strings(&v["sudo"]["all_commands_users"]),
            ["cloud-user", "root"]
        );
        let pam = &v["pam"];
        assert_eq!(
            strings(&pam["files"]),
            ["/etc/pam.d/system-auth", "/etc/pam.d/password-auth"]
        );
        assert_eq!(pam["pwquality"], true);
        assert_eq!(pam["minlen"], 8);
        assert_eq!(pam["complexity_required"], false);
        assert_eq!(pam["lockout_module"], "faillock");
        // password-auth's arguments come last and override faillock.conf defaults.
        assert_eq!(pam["lockout_deny"], 4);
        assert_eq!(pam["lockout_unlock_time"], 1200);
        assert_eq!(pam["hash_algorithm"], "sha512");
        assert_eq!(pam["nullok"], true);
        assert_eq!(v["login_defs"]["encrypt_method"], "sha512");
    }

    #[test]
    fn unreadable_shadow_reports_unknown_states() {
        let facts = build_facts(Inputs {
            passwd: parse_passwd("root:x:0:0:root:/root:/bin/bash\nold:${}:5:5::/:/bin/sh\n"),
            shadow: None,
            ..Inputs::default()
        });
        assert!(!facts.shadow_readable);
        assert_eq!(facts.users[0].password, "unknown");
        assert_eq!(facts.users[0].max_days, None);
    }

    #[test]
    fn an_unprivileged_scan_reports_what_it_was_refused() {
        // The weak fixture has an empty password (guest, in shadow) and NOPASSWD
        // rules in sudoers.d: refused both, the probe must not report them
        // absent but say it could not read them.
        let root = fixture_root("debian12-weak");
        let mut r = Reader::new(&root).denying(&["/etc/shadow", "/etc/sudoers.d"]);
        let Outcome::Ok(v) = collect_with(&mut r) else {
            panic!("collect failed");
        };
        assert_eq!(v["shadow_readable"], false);
        assert_eq!(user(&v, "guest")["password"], "unknown");
        assert!(strings(&v["empty_password_accounts"]).is_empty());
        assert_eq!(
            strings(&v["permission_denied"]),
            ["/etc/shadow", "/etc/sudoers.d"]
        );
        assert!(!strings(&v["sudo"]["unreadable_files"]).is_empty());
        assert!(strings(&v["sudo"]["unreadable_files"])
            .iter()
            .all(|m| m.contains("Permission denied")));
        // What stays readable is still reported.
        assert_eq!(strings(&v["uid0_accounts"]), ["root", "toor"]);
        // Privileged: nothing refused.
        let v = collect_fixture("debian12-weak");
        assert_eq!(v["shadow_readable"], true);
        assert!(strings(&v["permission_denied"]).is_empty());
        assert!(strings(&v["sudo"]["unreadable_files"]).is_empty());
    }

    #[test]
    fn missing_passwd_is_unsupported_and_garbage_does_not_panic() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            collect(&HostRoot::offline(dir.path())),
            Outcome::Unsupported(_)
        ));
        for input in [
            "",
            ":::::::",
            "\\",
            "#include",
            "a b = (",
            "x=\u{0}é:%:#:",
            "Defaults:",
            "User_Alias A = A\nA ALL = A",
            "[ ] [",
            "auth [",
        ] {
            fuzz_parse(input);
        }
    }
}
