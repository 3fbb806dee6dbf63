//! sudoers parsing (logical lines, aliases, Defaults, user specifications)
//! and the analysis of who may run what, with or without a password.

use super::passwd::{GroupEntry, PasswdEntry};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// What one sudoers file holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SudoersFile {
    /// `#include`/`@include` targets (as written) and `#includedir` targets, in order.
    pub includes: Vec<SudoInclude>,
    /// Alias name → members (User_Alias, Runas_Alias, Host_Alias, Cmnd_Alias share one namespace here).
    pub aliases: BTreeMap<String, Vec<String>>,
    /// Scopes of `Defaults… !authenticate` (`ALL` for a global Defaults line).
    pub no_authenticate: Vec<String>,
    /// User specifications.
    pub specs: Vec<UserSpec>,
}

/// An include directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SudoInclude {
    /// `#include file` / `@include file`.
    File(String),
    /// `#includedir dir` / `@includedir dir`.
    Dir(String),
}

/// One user specification line, before alias expansion.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserSpec {
    /// User list entries.
    pub users: Vec<String>,
    /// Host list as written.
    pub hosts: String,
    /// Run-as list of the first command (without parentheses).
    pub runas: String,
    /// Commands with their NOPASSWD state.
    pub commands: Vec<(String, bool)>,
}

/// Join backslash-continued lines and drop comments (keeping `#include`, `#includedir` and `#uid`).
pub(super) fn sudoers_logical_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for raw in text.lines() {
        let raw = raw.trim_end_matches('\r');
        if let Some(head) = raw.strip_suffix('\\') {
            cur.push_str(head);
            cur.push(' ');
            continue;
        }
        cur.push_str(raw);
        let line = strip_sudo_comment(&cur);
        if !line.trim().is_empty() {
            out.push(line.trim().to_string());
        }
        cur.clear();
    }
    let line = strip_sudo_comment(&cur);
    if !line.trim().is_empty() {
        out.push(line.trim().to_string());
    }
    out
}

pub(super) fn strip_sudo_comment(line: &str) -> String {
    let t = line.trim_start();
    if t.starts_with("#include") {
        return t.to_string();
    }
    let mut out = String::with_capacity(line.len());
    let mut prev: Option<char> = None;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '#' && prev != Some('\\') {
            let uid_ref = chars.peek().is_some_and(char::is_ascii_digit)
                && prev.is_none_or(|p| p.is_whitespace() || matches!(p, ',' | '(' | ':' | '!'));
            if !uid_ref {
                break;
            }
        }
        out.push(c);
        prev = Some(c);
    }
    out
}

pub(super) const ALIAS_KEYWORDS: &[&str] = &[
    "User_Alias",
    "Runas_Alias",
    "Host_Alias",
    "Cmnd_Alias",
    "Cmd_Alias",
];

/// Parse one sudoers file (includes are returned, not followed).
pub fn parse_sudoers(text: &str) -> SudoersFile {
    let mut f = SudoersFile::default();
    for line in sudoers_logical_lines(text) {
        let mut words = line.splitn(2, char::is_whitespace);
        let first = words.next().unwrap_or("");
        let rest = words.next().unwrap_or("").trim();
        match first {
            "#include" | "@include" => f.includes.push(SudoInclude::File(unquote(rest))),
            "#includedir" | "@includedir" => f.includes.push(SudoInclude::Dir(unquote(rest))),
            k if ALIAS_KEYWORDS.contains(&k) => parse_alias(rest, &mut f.aliases),
            k if k.starts_with("Defaults") => {
                // `Defaults:alice, bob !authenticate`: the scope list may hold spaces after commas.
                let normalized = line.replace(", ", ",");
                let mut words = normalized.splitn(2, char::is_whitespace);
                let keyword = words.next().unwrap_or("");
                parse_defaults(keyword, words.next().unwrap_or(""), &mut f.no_authenticate);
            }
            _ => {
                if let Some(spec) = parse_user_spec(&line) {
                    f.specs.push(spec);
                }
            }
        }
    }
    f
}

pub(super) fn unquote(s: &str) -> String {
    let s = s.trim();
    s.strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .unwrap_or(s)
        .to_string()
}

pub(super) fn split_list(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev = ' ';
    for c in s.chars() {
        if c == ',' && prev != '\\' {
            out.push(cur.trim().to_string());
            cur.clear();
        } else {
            cur.push(c);
        }
        prev = c;
    }
    out.push(cur.trim().to_string());
    out.retain(|s| !s.is_empty());
    out
}

pub(super) fn parse_alias(rest: &str, aliases: &mut BTreeMap<String, Vec<String>>) {
    for def in rest.split(" : ").flat_map(|d| d.split(":\t")) {
        if let Some((name, members)) = def.split_once('=') {
            let name = name.trim();
            if !name.is_empty() {
                aliases.insert(name.to_string(), split_list(members));
            }
        }
    }
}

pub(super) fn parse_defaults(keyword: &str, rest: &str, no_auth: &mut Vec<String>) {
    // `Defaults:alice,bob !authenticate`, `Defaults !authenticate`; the scope may
    // also follow after whitespace in hand-written files (`Defaults: alice …`).
    let (scope, settings) = match keyword.strip_prefix("Defaults") {
        Some("") => ("ALL".to_string(), rest.to_string()),
        Some(s) if s.starts_with(':') => {
            let s = s.trim_start_matches(':');
            if s.is_empty() {
                let mut it = rest.splitn(2, char::is_whitespace);
                (
                    it.next().unwrap_or("").to_string(),
                    it.next().unwrap_or("").to_string(),
                )
            } else {
                (s.to_string(), rest.to_string())
            }
        }
        // Host (@), runas (>) and command (!) scoped defaults still disable
        // authentication for someone; count them as global.
        _ => ("ALL".to_string(), rest.to_string()),
    };
    for setting in split_list(&settings) {
        if setting.replace(char::is_whitespace, "") == "!authenticate" {
            no_auth.extend(split_list(&scope));
        }
    }
}

pub(super) const SUDO_TAGS: &[&str] = &[
    "NOPASSWD",
    "PASSWD",
    "NOEXEC",
    "EXEC",
    "SETENV",
    "NOSETENV",
    "LOG_INPUT",
    "NOLOG_INPUT",
    "LOG_OUTPUT",
    "NOLOG_OUTPUT",
    "MAIL",
    "NOMAIL",
    "FOLLOW",
    "NOFOLLOW",
    "INTERCEPT",
    "NOINTERCEPT",
];

pub(super) fn parse_user_spec(line: &str) -> Option<UserSpec> {
    let (lhs, rhs) = line.split_once('=')?;
    let normalized = lhs.replace(", ", ",").replace(" ,", ",");
    let mut tokens = normalized.split_whitespace();
    let users = split_list(tokens.next()?);
    let hosts: Vec<&str> = tokens.collect();
    if users.is_empty() || hosts.is_empty() {
        return None;
    }
    let mut spec = UserSpec {
        users,
        hosts: hosts.join(" "),
        ..UserSpec::default()
    };
    let mut nopasswd = false;
    let mut runas_seen = false;
    for item in split_list(rhs) {
        let mut rest = item.as_str().trim();
        loop {
            if let Some(r) = rest.strip_prefix('(') {
                let (runas, after) = r.split_once(')').unwrap_or((r, ""));
                if !runas_seen {
                    spec.runas = runas.trim().to_string();
                    runas_seen = true;
                }
                rest = after.trim_start();
                continue;
            }
            if let Some((word, after)) = rest.split_once(':') {
                let word = word.trim();
                if SUDO_TAGS.contains(&word) {
                    match word {
                        "NOPASSWD" => nopasswd = true,
                        "PASSWD" => nopasswd = false,
                        _ => {}
                    }
                    rest = after.trim_start();
                    continue;
                }
            }
            // Options such as ROLE=…, TYPE=…, CWD=…, TIMEOUT=…
            let head = rest.split_whitespace().next().unwrap_or("");
            if let Some((k, _)) = head.split_once('=') {
                if !k.is_empty() && k.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
                    rest = rest.get(head.len()..).unwrap_or("").trim_start();
                    continue;
                }
            }
            break;
        }
        if !rest.is_empty() {
            spec.commands.push((rest.to_string(), nopasswd));
        }
    }
    Some(spec)
}

/// The sudo part of the facts.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct SudoFacts {
    /// /etc/sudoers exists.
    pub present: bool,
    /// Files read.
    pub files: Vec<String>,
    /// Files that could not be read.
    pub unreadable_files: Vec<String>,
    /// Rules, one per principal.
    pub rules: Vec<SudoRule>,
    /// Principals with NOPASSWD.
    pub nopasswd_entries: Vec<String>,
    /// Principals with ALL commands.
    pub all_commands_entries: Vec<String>,
    /// Users with ALL commands, groups expanded.
    pub all_commands_users: Vec<String>,
    /// Some Defaults sets !authenticate.
    pub authenticate_disabled: bool,
}

/// One sudo grant.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct SudoRule {
    /// Principal.
    pub who: String,
    /// Hosts.
    pub hosts: String,
    /// Run-as.
    pub runas: String,
    /// Commands.
    pub commands: Vec<String>,
    /// Without password.
    pub nopasswd: bool,
    /// Grants ALL.
    pub all_commands: bool,
    /// Source file.
    pub file: String,
}

pub(super) fn expand_alias(
    name: &str,
    aliases: &BTreeMap<String, Vec<String>>,
    depth: usize,
    out: &mut Vec<String>,
) {
    match aliases.get(name) {
        Some(members) if depth < 8 => {
            for m in members {
                expand_alias(m, aliases, depth + 1, out);
            }
        }
        _ => out.push(name.to_string()),
    }
}

/// Combine parsed sudoers files (in read order) into the reported facts.
/// `users`/`groups` expand `%group` principals into `all_commands_users`.
pub fn analyse_sudo(
    files: &[(String, SudoersFile)],
    users: &[PasswdEntry],
    groups: &[GroupEntry],
) -> SudoFacts {
    let mut aliases = BTreeMap::new();
    let mut no_auth: Vec<String> = Vec::new();
    for (_, f) in files {
        aliases.extend(f.aliases.clone());
        no_auth.extend(f.no_authenticate.iter().cloned());
    }
    let mut no_auth_expanded = Vec::new();
    for n in &no_auth {
        expand_alias(n, &aliases, 0, &mut no_auth_expanded);
    }
    let mut facts = SudoFacts {
        authenticate_disabled: !no_auth.is_empty(),
        files: files.iter().map(|(p, _)| p.clone()).collect(),
        ..SudoFacts::default()
    };
    for (path, f) in files {
        for spec in &f.specs {
            let mut commands = Vec::new();
            let mut nopasswd = false;
            for (c, np) in &spec.commands {
                let mut expanded = Vec::new();
                expand_alias(c, &aliases, 0, &mut expanded);
                nopasswd |= np;
                commands.extend(expanded);
            }
            let all_commands = commands.iter().any(|c| c == "ALL");
            let mut who = Vec::new();
            for u in &spec.users {
                if !u.starts_with('!') {
                    expand_alias(u, &aliases, 0, &mut who);
                }
            }
            for w in who.into_iter().filter(|w| !w.starts_with('!')) {
                let no_auth_here = no_auth_expanded.iter().any(|s| s == "ALL" || *s == w);
                facts.rules.push(SudoRule {
                    nopasswd: nopasswd || no_auth_here,
                    who: w,
                    hosts: spec.hosts.clone(),
                    runas: spec.runas.clone(),
                    commands: commands.clone(),
                    all_commands,
                    file: path.clone(),
                });
            }
        }
    }
    let set = |pred: fn(&SudoRule) -> bool| -> Vec<String> {
        facts
            .rules
            .iter()
            .filter(|r| pred(r))
            .map(|r| r.who.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    facts.nopasswd_entries = set(|r| r.nopasswd);
    // `Defaults:alice !authenticate` with `%sudo ALL=(ALL) ALL` and alice in
    // sudo: alice runs commands without a password through the group rule.
    let mut via_group: BTreeSet<String> = BTreeSet::new();
    for scope in no_auth_expanded
        .iter()
        .filter(|s| *s != "ALL" && !s.starts_with(['%', '#']))
    {
        let granted = facts.rules.iter().any(|r| {
            r.who
                .strip_prefix('%')
                .map(|g| g.trim_start_matches(':'))
                .is_some_and(|g| group_members(g, users, groups).contains(scope))
        });
        if granted {
            via_group.insert(scope.clone());
        }
    }
    if !via_group.is_empty() {
        let mut all: BTreeSet<String> = facts.nopasswd_entries.iter().cloned().collect();
        all.extend(via_group);
        facts.nopasswd_entries = all.into_iter().collect();
    }
    facts.all_commands_entries = set(|r| r.all_commands);
    let mut all_users = BTreeSet::new();
    for who in &facts.all_commands_entries {
        if let Some(g) = who.strip_prefix('%') {
            let g = g.trim_start_matches(':');
            all_users.extend(group_members(g, users, groups));
        } else if let Some(uid) = who.strip_prefix('#') {
            let uid: Option<u32> = uid.parse().ok();
            all_users.extend(
                users
                    .iter()
                    .filter(|u| Some(u.uid) == uid)
                    .map(|u| u.name.clone()),
            );
        } else if who == "ALL" {
            all_users.extend(users.iter().map(|u| u.name.clone()));
        } else {
            all_users.insert(who.clone());
        }
    }
    facts.all_commands_users = all_users.into_iter().collect();
    facts
}

pub(super) fn group_members(
    name: &str,
    users: &[PasswdEntry],
    groups: &[GroupEntry],
) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for g in groups.iter().filter(|g| g.name == name) {
        out.extend(g.members.iter().cloned());
        out.extend(
            users
                .iter()
                .filter(|u| u.gid == g.gid)
                .map(|u| u.name.clone()),
        );
    }
    out
}

// ---------------------------------------------------------------- PAM

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probes::accounts::passwd::{parse_group, parse_passwd};

    #[test]
    fn defaults_user_no_authenticate_through_a_group_rule_is_passwordless() {
        let f = parse_sudoers(
            "%sudo ALL=(ALL:ALL) ALL\nDefaults:alice !authenticate\nDefaults:carol !authenticate\n",
        );
        let users = parse_passwd(
            "alice:x:1000:1000::/home/alice:/bin/bash\nbob:x:1001:1001::/home/bob:/bin/bash\ncarol:x:1002:1002::/home/carol:/bin/bash\n",
        );
        let groups = parse_group("sudo:x:27:alice,bob\nalice:x:1000:\n");
        let facts = analyse_sudo(&[("/etc/sudoers".into(), f)], &users, &groups);
        // alice is in sudo and needs no password; carol is not in sudo (no rule grants her)
        assert_eq!(facts.nopasswd_entries, vec!["alice"]);
        assert!(facts.authenticate_disabled);
    }

    #[test]
    fn sudoers_syntax_quirks() {
        let text = "Defaults:alice, bob !authenticate\n\
            User_Alias ADMINS = alice, \\\n  carol : WEB = www\n\
            Cmnd_Alias SHELLS = /bin/sh, /bin/bash\n\
            ADMINS, %ops host1, host2 = (ALL : ALL) NOEXEC: NOPASSWD: /usr/bin/less, PASSWD: ALL\n\
            dave ALL = ROLE=sysadm_r TYPE=sysadm_t (root) SHELLS # comment\n\
            erin ALL=!/usr/bin/su\n\
            #1000 ALL=(ALL) ALL\n\
            # plain comment = with equals\n";
        let f = parse_sudoers(text);
        assert_eq!(f.no_authenticate, ["alice", "bob"]);
        assert_eq!(f.aliases["ADMINS"], ["alice", "carol"]);
        assert_eq!(f.aliases["WEB"], ["www"]);
        assert_eq!(f.specs.len(), 4);
        let first = &f.specs[0];
        assert_eq!(first.users, ["ADMINS", "%ops"]);
        assert_eq!(first.hosts, "host1,host2");
        assert_eq!(first.runas, "ALL : ALL");
        assert_eq!(
            first.commands,
            [
                ("/usr/bin/less".to_string(), true),
                ("ALL".to_string(), false)
            ]
        );
        assert_eq!(f.specs[1].commands, [("SHELLS".to_string(), false)]);
        assert_eq!(f.specs[1].runas, "root");
        assert_eq!(f.specs[3].users, ["#1000"]);
        let facts = analyse_sudo(&[("/etc/sudoers".into(), f)], &[], &[]);
        assert_eq!(facts.nopasswd_entries, ["%ops", "alice", "carol"]);
        let dave = facts.rules.iter().find(|r| r.who == "dave").unwrap();
        assert_eq!(dave.commands, ["/bin/sh", "/bin/bash"]);
        let erin = facts.rules.iter().find(|r| r.who == "erin").unwrap();
        assert!(!erin.all_commands);
    }
}
