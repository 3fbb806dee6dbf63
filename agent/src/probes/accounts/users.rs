//! Assembles the accounts facts (users, uid-0 accounts, privileged groups)
//! from the parsed inputs.

use super::login_defs::LoginDefs;
use super::pam::PamFacts;
use super::passwd::{is_weak_algorithm, GroupEntry, PasswdEntry, PasswordState, ShadowEntry};
use super::sudoers::{group_members, SudoFacts};
use super::{AccountsFacts, PrivilegedGroup, User};
use std::collections::BTreeMap;

pub(super) const NON_LOGIN_SHELLS: &[&str] = &[
    "/usr/sbin/nologin",
    "/sbin/nologin",
    "/bin/false",
    "/usr/bin/false",
    "/bin/sync",
    "/usr/bin/sync",
    "/sbin/shutdown",
    "/usr/sbin/shutdown",
    "/sbin/halt",
    "/usr/sbin/halt",
    "/dev/null",
    "/bin/true",
    "/usr/bin/true",
];

pub(super) fn is_interactive(shell: &str) -> bool {
    !NON_LOGIN_SHELLS.contains(&shell)
}

pub(super) const PRIVILEGED_GROUPS: &[&str] = &["sudo", "wheel", "admin", "adm"];

/// Inputs of [`build_facts`], each already parsed.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// /etc/passwd.
    pub passwd: Vec<PasswdEntry>,
    /// /etc/shadow, `None` when unreadable.
    pub shadow: Option<Vec<ShadowEntry>>,
    /// /etc/group.
    pub group: Vec<GroupEntry>,
    /// login.defs (defaults when absent).
    pub login_defs: LoginDefs,
    /// Sudo facts.
    pub sudo: SudoFacts,
    /// PAM facts.
    pub pam: PamFacts,
}

/// Assemble the facts from parsed inputs.
pub fn build_facts(inp: Inputs) -> AccountsFacts {
    let uid_min = inp.login_defs.uid_min;
    let shadow_map: BTreeMap<&str, &ShadowEntry> = inp
        .shadow
        .iter()
        .flatten()
        .map(|s| (s.name.as_str(), s))
        .collect();
    let mut f = AccountsFacts {
        shadow_readable: inp.shadow.is_some(),
        uid_min,
        ..AccountsFacts::default()
    };
    for p in &inp.passwd {
        let sh = shadow_map.get(p.name.as_str());
        let state = match (p.password.state, sh, inp.shadow.is_some()) {
            ("shadow", Some(s), _) => s.password.clone(),
            ("shadow", None, true) => PasswordState {
                state: "none",
                algorithm: "",
            },
            ("shadow", None, false) => PasswordState {
                state: "unknown",
                algorithm: "",
            },
            _ => p.password.clone(),
        };
        let age = sh.map(|s| s.ageing).unwrap_or_default();
        let user = User {
            name: p.name.clone(),
            uid: p.uid,
            gid: p.gid,
            home: p.home.clone(),
            shell: p.shell.clone(),
            interactive: is_interactive(&p.shell),
            password: state.state.to_string(),
            hash_algorithm: state.algorithm.to_string(),
            last_change_days: age[0],
            min_days: age[1],
            max_days: age[2],
            warn_days: age[3],
            inactive_days: age[4],
            expire_days: age[5],
        };
        if user.uid == 0 {
            f.uid0_accounts.push(user.name.clone());
        }
        if user.password == "empty" {
            f.empty_password_accounts.push(user.name.clone());
        }
        if matches!(user.password.as_str(), "set" | "empty") {
            f.password_login_accounts.push(user.name.clone());
        }
        if !user.hash_algorithm.is_empty() && is_weak_algorithm(&user.hash_algorithm) {
            f.weak_hash_accounts.push(user.name.clone());
        }
        if user.interactive {
            f.interactive_users.push(user.name.clone());
            if user.uid < uid_min && user.uid != 0 && user.name != "root" && user.uid != 65534 {
                f.interactive_system_accounts.push(user.name.clone());
            }
        }
        f.users.push(user);
    }
    f.duplicate_uids = duplicates(inp.passwd.iter().map(|p| p.uid));
    f.duplicate_user_names = duplicates(inp.passwd.iter().map(|p| p.name.clone()));
    f.duplicate_group_names = duplicates(inp.group.iter().map(|g| g.name.clone()));
    for name in PRIVILEGED_GROUPS {
        if let Some(g) = inp.group.iter().find(|g| g.name == *name) {
            f.privileged_groups.push(PrivilegedGroup {
                name: g.name.clone(),
                gid: g.gid,
                members: group_members(name, &inp.passwd, &inp.group)
                    .into_iter()
                    .collect(),
            });
        }
    }
    f.password_hash_algorithm = if inp.pam.hash_algorithm.is_empty() {
        inp.login_defs.encrypt_method.clone()
    } else {
        inp.pam.hash_algorithm.clone()
    };
    f.login_defs = inp.login_defs;
    f.sudo = inp.sudo;
    f.pam = inp.pam;
    f
}

pub(super) fn duplicates<T: Ord + Clone>(items: impl Iterator<Item = T>) -> Vec<T> {
    let mut seen = BTreeMap::new();
    for i in items {
        *seen.entry(i).or_insert(0u32) += 1;
    }
    seen.into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(k, _)| k)
        .collect()
}

// ---------------------------------------------------------------- collect
