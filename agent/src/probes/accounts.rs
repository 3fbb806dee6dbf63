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

use super::common::reader::read_noting as read_optional;
use super::Outcome;
use crate::hostroot::{HostRoot, ReadError};
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

/// One `/etc/passwd` line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PasswdEntry {
    /// Name.
    pub name: String,
    /// Second field reduced to a state (`x` means: see shadow).
    pub password: PasswordState,
    /// Uid.
    pub uid: u32,
    /// Gid.
    pub gid: u32,
    /// Home.
    pub home: String,
    /// Shell.
    pub shell: String,
}

/// One `/etc/shadow` line, without the hash.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ShadowEntry {
    /// Name.
    pub name: String,
    /// Password state.
    pub password: PasswordState,
    /// Fields 3–8.
    pub ageing: [Option<i64>; 6],
}

/// One `/etc/group` line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupEntry {
    /// Name.
    pub name: String,
    /// Gid.
    pub gid: u32,
    /// Member list.
    pub members: Vec<String>,
}

/// A password field reduced to what may be reported.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PasswordState {
    /// `set`, `locked`, `none`, `empty`, `shadow` (passwd `x`) or `unknown`.
    pub state: &'static str,
    /// Hash algorithm, empty when there is no hash.
    pub algorithm: &'static str,
}

/// Reduce a password field to its state and algorithm; the hash itself is dropped.
pub fn password_state(field: &str) -> PasswordState {
    let field = field.trim();
    if field.is_empty() {
        return PasswordState {
            state: "empty",
            algorithm: "",
        };
    }
    if field == "x" {
        return PasswordState {
            state: "shadow",
            algorithm: "",
        };
    }
    let (locked, hash) = match field.strip_prefix('!') {
        Some(rest) => (true, rest.trim_start_matches('!')),
        None => (false, field),
    };
    if hash.is_empty() || hash.starts_with('*') || hash == "x" {
        return PasswordState {
            state: "none",
            algorithm: "",
        };
    }
    PasswordState {
        state: if locked { "locked" } else { "set" },
        algorithm: hash_algorithm(hash),
    }
}

fn hash_algorithm(hash: &str) -> &'static str {
    let id = hash
        .strip_prefix('$')
        .and_then(|r| r.split_once('$'))
        .map(|(id, _)| id);
    match id {
        Some("y") => "yescrypt",
        Some("gy") => "gost-yescrypt",
        Some("7") => "scrypt",
        Some("6") => "sha512",
        Some("5") => "sha256",
        Some("2a" | "2b" | "2y" | "2x") => "bcrypt",
        Some("1") => "md5",
        Some("sha1") => "sha1crypt",
        Some("md5") => "sunmd5",
        Some(_) => "unknown",
        None if hash.len() == 13 => "des",
        None if hash.starts_with('_') && hash.len() == 20 => "bsdicrypt",
        None if hash.len() > 13 && hash.len() % 11 == 2 => "bigcrypt",
        None => "unknown",
    }
}

fn is_weak_algorithm(a: &str) -> bool {
    matches!(
        a,
        "des" | "bsdicrypt" | "bigcrypt" | "md5" | "sunmd5" | "sha1crypt" | "unknown"
    )
}

fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
}

fn parse_opt_int(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.is_empty() {
        None
    } else {
        s.parse().ok()
    }
}

/// Parse `/etc/passwd`. Malformed lines and NIS `+`/`-` lines are skipped.
pub fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    lines(text)
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            let name = f.first()?.trim();
            if name.is_empty() || name.starts_with('+') || name.starts_with('-') {
                return None;
            }
            Some(PasswdEntry {
                name: name.to_string(),
                password: password_state(f.get(1).copied().unwrap_or("")),
                uid: f.get(2)?.trim().parse().ok()?,
                gid: f.get(3)?.trim().parse().ok()?,
                home: f.get(5).copied().unwrap_or("").to_string(),
                shell: f.get(6).copied().unwrap_or("").trim().to_string(),
            })
        })
        .collect()
}

/// Parse `/etc/shadow`, keeping only password states and ageing fields.
pub fn parse_shadow(text: &str) -> Vec<ShadowEntry> {
    lines(text)
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            let name = f.first()?.trim();
            if name.is_empty() || name.starts_with('+') || name.starts_with('-') {
                return None;
            }
            let field = |i: usize| f.get(i).and_then(|s| parse_opt_int(s));
            Some(ShadowEntry {
                name: name.to_string(),
                password: password_state(f.get(1).copied().unwrap_or("")),
                ageing: [field(2), field(3), field(4), field(5), field(6), field(7)],
            })
        })
        .collect()
}

/// Parse `/etc/group`.
pub fn parse_group(text: &str) -> Vec<GroupEntry> {
    lines(text)
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            let name = f.first()?.trim();
            if name.is_empty() || name.starts_with('+') || name.starts_with('-') {
                return None;
            }
            Some(GroupEntry {
                name: name.to_string(),
                gid: f.get(2)?.trim().parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .map(String::from)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// The login.defs settings the probe reports.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LoginDefs {
    /// File exists.
    pub present: bool,
    /// PASS_MAX_DAYS.
    pub pass_max_days: i64,
    /// PASS_MIN_DAYS.
    pub pass_min_days: i64,
    /// PASS_WARN_AGE.
    pub pass_warn_age: i64,
    /// UID_MIN.
    pub uid_min: u32,
    /// UMASK as written.
    pub umask: String,
    /// UMASK is 027 or stricter.
    pub umask_restrictive: bool,
    /// ENCRYPT_METHOD lowercased.
    pub encrypt_method: String,
}

impl Default for LoginDefs {
    fn default() -> Self {
        LoginDefs {
            present: false,
            pass_max_days: 99999,
            pass_min_days: 0,
            pass_warn_age: 7,
            uid_min: 1000,
            umask: "022".into(),
            umask_restrictive: false,
            encrypt_method: String::new(),
        }
    }
}

/// Parse `/etc/login.defs` (`KEY value` lines; the last occurrence wins).
pub fn parse_login_defs(text: &str) -> LoginDefs {
    let mut d = LoginDefs {
        present: true,
        ..LoginDefs::default()
    };
    for line in lines(text) {
        let mut parts = line.split_whitespace();
        let (Some(key), Some(value)) = (parts.next(), parts.next()) else {
            continue;
        };
        let value = value.trim_matches('"');
        match key {
            "PASS_MAX_DAYS" => d.pass_max_days = value.parse().unwrap_or(d.pass_max_days),
            "PASS_MIN_DAYS" => d.pass_min_days = value.parse().unwrap_or(d.pass_min_days),
            "PASS_WARN_AGE" => d.pass_warn_age = value.parse().unwrap_or(d.pass_warn_age),
            "UID_MIN" => d.uid_min = value.parse().unwrap_or(d.uid_min),
            "UMASK" => d.umask = value.to_string(),
            "ENCRYPT_METHOD" => d.encrypt_method = value.to_ascii_lowercase(),
            _ => {}
        }
    }
    d.umask_restrictive = umask_restrictive(&d.umask);
    d
}

fn umask_restrictive(umask: &str) -> bool {
    u32::from_str_radix(umask.trim(), 8)
        .map(|m| m & 0o027 == 0o027)
        .unwrap_or(false)
}

// ---------------------------------------------------------------- sudoers

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
fn sudoers_logical_lines(text: &str) -> Vec<String> {
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

fn strip_sudo_comment(line: &str) -> String {
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

const ALIAS_KEYWORDS: &[&str] = &[
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

fn unquote(s: &str) -> String {
    let s = s.trim();
    s.strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .unwrap_or(s)
        .to_string()
}

fn split_list(s: &str) -> Vec<String> {
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

fn parse_alias(rest: &str, aliases: &mut BTreeMap<String, Vec<String>>) {
    for def in rest.split(" : ").flat_map(|d| d.split(":\t")) {
        if let Some((name, members)) = def.split_once('=') {
            let name = name.trim();
            if !name.is_empty() {
                aliases.insert(name.to_string(), split_list(members));
            }
        }
    }
}

fn parse_defaults(keyword: &str, rest: &str, no_auth: &mut Vec<String>) {
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

const SUDO_TAGS: &[&str] = &[
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

fn parse_user_spec(line: &str) -> Option<UserSpec> {
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

fn expand_alias(
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

fn group_members(name: &str, users: &[PasswdEntry], groups: &[GroupEntry]) -> BTreeSet<String> {
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

/// One PAM rule line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PamLine {
    /// `auth`, `account`, `password`, `session` (a leading `-` removed).
    pub kind: String,
    /// Module file name (`pam_unix.so`).
    pub module: String,
    /// Arguments.
    pub args: Vec<String>,
}

/// Parse a PAM file (`type control module args`, bracketed controls, `-type`, `@include` ignored).
pub fn parse_pam(text: &str) -> Vec<PamLine> {
    let mut out = Vec::new();
    for line in lines(text) {
        let line = line.trim();
        if line.starts_with('@') {
            continue;
        }
        let Some((kind, rest)) = line.split_once(char::is_whitespace) else {
            continue;
        };
        let rest = rest.trim_start();
        let after_control = if rest.starts_with('[') {
            rest.split_once(']').map(|(_, r)| r).unwrap_or("")
        } else {
            rest.split_once(char::is_whitespace)
                .map(|(_, r)| r)
                .unwrap_or("")
        };
        let mut words = after_control.split_whitespace();
        let Some(module) = words.next() else {
            continue;
        };
        let module = module.rsplit('/').next().unwrap_or(module).to_string();
        out.push(PamLine {
            kind: kind.trim_start_matches('-').to_ascii_lowercase(),
            module,
            args: words.map(String::from).collect(),
        });
    }
    out
}

/// Parse a `key = value` configuration file (pwquality.conf, faillock.conf,
/// pwhistory.conf). A bare word (`even_deny_root`) maps to an empty value.
pub fn parse_kv_conf(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in lines(text) {
        let (k, v) = line.split_once('=').unwrap_or((line, ""));
        out.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    out
}

/// The PAM part of the facts.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct PamFacts {
    /// Any stack file exists.
    pub present: bool,
    /// Files read.
    pub files: Vec<String>,
    /// pam_pwquality in a password stack.
    pub pwquality: bool,
    /// pam_cracklib in a password stack.
    pub cracklib: bool,
    /// Effective minimum length.
    pub minlen: i64,
    /// Digit credit.
    pub dcredit: i64,
    /// Upper-case credit.
    pub ucredit: i64,
    /// Lower-case credit.
    pub lcredit: i64,
    /// Other credit.
    pub ocredit: i64,
    /// Minimum classes.
    pub minclass: i64,
    /// Three or more classes required.
    pub complexity_required: bool,
    /// Password history depth.
    pub remember: i64,
    /// faillock / tally2 / "".
    pub lockout_module: String,
    /// Attempts before lockout.
    pub lockout_deny: i64,
    /// Unlock time in seconds.
    pub lockout_unlock_time: i64,
    /// pam_unix hash option.
    pub hash_algorithm: String,
    /// pam_unix nullok in auth.
    pub nullok: bool,
}

/// Configuration files next to the PAM stacks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PamConfigs {
    /// pwquality.conf then pwquality.conf.d/*.conf merged (later wins).
    pub pwquality: BTreeMap<String, String>,
    /// faillock.conf.
    pub faillock: BTreeMap<String, String>,
    /// pwhistory.conf.
    pub pwhistory: BTreeMap<String, String>,
}

fn arg_value<'a>(args: &'a [String], key: &str) -> Option<&'a str> {
    args.iter()
        .rev()
        .find_map(|a| a.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

const HASH_OPTIONS: &[&str] = &[
    "yescrypt",
    "gost_yescrypt",
    "sha512",
    "sha256",
    "blowfish",
    "bigcrypt",
    "md5",
];

/// Evaluate PAM stacks (all lines of the files read) with their configuration files.
pub fn analyse_pam(stack: &[PamLine], conf: &PamConfigs) -> PamFacts {
    let mut p = PamFacts::default();
    let password = || stack.iter().filter(|l| l.kind == "password");
    let auth = || stack.iter().filter(|l| l.kind == "auth");
    let quality =
        password().find(|l| l.module == "pam_pwquality.so" || l.module == "pam_cracklib.so");
    p.pwquality = password().any(|l| l.module == "pam_pwquality.so");
    p.cracklib = password().any(|l| l.module == "pam_cracklib.so");
    let int = |s: Option<&str>| s.and_then(|v| v.trim().parse::<i64>().ok());
    if let Some(q) = quality {
        let from_conf = |k: &str| {
            if q.module == "pam_pwquality.so" {
                int(conf.pwquality.get(k).map(String::as_str))
            } else {
                None
            }
        };
        let get = |k: &str, default: i64| {
            int(arg_value(&q.args, k))
                .or_else(|| from_conf(k))
                .unwrap_or(default)
        };
        let default_minlen = if q.module == "pam_cracklib.so" { 9 } else { 8 };
        p.minlen = get("minlen", default_minlen);
        p.dcredit = get("dcredit", if q.module == "pam_cracklib.so" { 1 } else { 0 });
        p.ucredit = get("ucredit", if q.module == "pam_cracklib.so" { 1 } else { 0 });
        p.lcredit = get("lcredit", if q.module == "pam_cracklib.so" { 1 } else { 0 });
        p.ocredit = get("ocredit", if q.module == "pam_cracklib.so" { 1 } else { 0 });
        p.minclass = get("minclass", 0);
        let negative = [p.dcredit, p.ucredit, p.lcredit, p.ocredit]
            .iter()
            .filter(|c| **c < 0)
            .count();
        p.complexity_required = p.minclass >= 3 || negative >= 3;
    } else if let Some(unix) = password().find(|l| l.module == "pam_unix.so") {
        p.minlen = int(arg_value(&unix.args, "minlen")).unwrap_or(6);
    }
    let history = password().find(|l| l.module == "pam_pwhistory.so");
    let history_remember = history.map(|h| {
        int(arg_value(&h.args, "remember"))
            .or_else(|| int(conf.pwhistory.get("remember").map(String::as_str)))
            .unwrap_or(10)
    });
    let unix_remember = password()
        .filter(|l| l.module == "pam_unix.so")
        .filter_map(|l| int(arg_value(&l.args, "remember")))
        .max();
    p.remember = history_remember
        .into_iter()
        .chain(unix_remember)
        .max()
        .unwrap_or(0);
    if let Some(unix) = password().find(|l| l.module == "pam_unix.so") {
        if let Some(h) = unix
            .args
            .iter()
            .rev()
            .find(|a| HASH_OPTIONS.contains(&a.as_str()))
        {
            p.hash_algorithm = match h.as_str() {
                "gost_yescrypt" => "gost-yescrypt".into(),
                "blowfish" => "bcrypt".into(),
                other => other.into(),
            };
        }
    }
    p.nullok = auth().any(|l| l.module == "pam_unix.so" && l.args.iter().any(|a| a == "nullok"));
    let faillock: Vec<&PamLine> = auth().filter(|l| l.module == "pam_faillock.so").collect();
    let tally: Vec<&PamLine> = auth().filter(|l| l.module == "pam_tally2.so").collect();
    if !faillock.is_empty() {
        p.lockout_module = "faillock".into();
        let get = |k: &str, default: i64| {
            faillock
                .iter()
                .rev()
                .find_map(|l| int(arg_value(&l.args, k)))
                .or_else(|| int(conf.faillock.get(k).map(String::as_str)))
                .unwrap_or(default)
        };
        p.lockout_deny = get("deny", 3);
        p.lockout_unlock_time = get("unlock_time", 600);
    } else if !tally.is_empty() {
        p.lockout_module = "tally2".into();
        let get = |k: &str| tally.iter().rev().find_map(|l| int(arg_value(&l.args, k)));
        p.lockout_deny = get("deny").unwrap_or(0);
        p.lockout_unlock_time = get("unlock_time").unwrap_or(0);
    }
    p
}

// ---------------------------------------------------------------- assembly

const NON_LOGIN_SHELLS: &[&str] = &[
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

fn is_interactive(shell: &str) -> bool {
    !NON_LOGIN_SHELLS.contains(&shell)
}

const PRIVILEGED_GROUPS: &[&str] = &["sudo", "wheel", "admin", "adm"];

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

fn duplicates<T: Ord + Clone>(items: impl Iterator<Item = T>) -> Vec<T> {
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

const PAM_FILES: &[&str] = &[
    "/etc/pam.d/common-password",
    "/etc/pam.d/common-auth",
    "/etc/pam.d/system-auth",
    "/etc/pam.d/password-auth",
];

/// Read an optional file; errors are recorded in `unreadable` and treated as absent.
/// Read sudoers and its includes in the order sudo does.
fn collect_sudo(root: &HostRoot, users: &[PasswdEntry], groups: &[GroupEntry]) -> SudoFacts {
    let mut files = Vec::new();
    let mut unreadable = Vec::new();
    let mut seen = BTreeSet::new();
    let present = root.exists("/etc/sudoers");
    read_sudoers_file(
        root,
        "/etc/sudoers",
        0,
        &mut seen,
        &mut files,
        &mut unreadable,
    );
    let mut facts = analyse_sudo(&files, users, groups);
    facts.present = present;
    facts.unreadable_files = unreadable;
    facts
}

fn read_sudoers_file(
    root: &HostRoot,
    path: &str,
    depth: usize,
    seen: &mut BTreeSet<String>,
    files: &mut Vec<(String, SudoersFile)>,
    unreadable: &mut Vec<String>,
) {
    if depth > 8 || !seen.insert(path.to_string()) {
        return;
    }
    let text = match root.read_to_string(path) {
        Ok(Some(t)) => t,
        Ok(None) => return,
        Err(e) => {
            unreadable.push(e.to_string());
            return;
        }
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
                read_sudoers_file(root, &absolute(&p), depth + 1, seen, files, unreadable);
            }
            SudoInclude::Dir(d) => {
                let d = absolute(&d);
                let names = match root.read_dir(&d) {
                    Ok(n) => n.unwrap_or_default(),
                    Err(e) => {
                        unreadable.push(e.to_string());
                        continue;
                    }
                };
                for n in names
                    .iter()
                    .filter(|n| !n.ends_with('~') && !n.contains('.'))
                {
                    let p = format!("{}/{n}", d.trim_end_matches('/'));
                    read_sudoers_file(root, &p, depth + 1, seen, files, unreadable);
                }
            }
        }
    }
}

fn collect_pam(root: &HostRoot, unreadable: &mut Vec<String>) -> PamFacts {
    let mut stack = Vec::new();
    let mut files = Vec::new();
    for path in PAM_FILES {
        if let Some(t) = read_optional(root, path, unreadable) {
            stack.extend(parse_pam(&t));
            files.push((*path).to_string());
        }
    }
    let mut conf = PamConfigs::default();
    if let Some(t) = read_optional(root, "/etc/security/pwquality.conf", unreadable) {
        conf.pwquality = parse_kv_conf(&t);
    }
    match root.glob("/etc/security/pwquality.conf.d/*.conf") {
        Ok(paths) => {
            for p in paths {
                if let Some(t) = read_optional(root, &p, unreadable) {
                    conf.pwquality.extend(parse_kv_conf(&t));
                }
            }
        }
        Err(e) => unreadable.push(e.to_string()),
    }
    if let Some(t) = read_optional(root, "/etc/security/faillock.conf", unreadable) {
        conf.faillock = parse_kv_conf(&t);
    }
    if let Some(t) = read_optional(root, "/etc/security/pwhistory.conf", unreadable) {
        conf.pwhistory = parse_kv_conf(&t);
    }
    let mut facts = analyse_pam(&stack, &conf);
    facts.present = !files.is_empty();
    facts.files = files;
    facts
}

fn required(root: &HostRoot, path: &str) -> Result<Option<String>, String> {
    root.read_to_string(path)
        .map_err(|e: ReadError| e.to_string())
}

/// Collect under `root`.
pub fn collect(root: &HostRoot) -> Outcome {
    let passwd = match required(root, "/etc/passwd") {
        Ok(Some(t)) => parse_passwd(&t),
        Ok(None) => return Outcome::Unsupported("no /etc/passwd under the root".into()),
        Err(e) => return Outcome::Error(e),
    };
    let group = match required(root, "/etc/group") {
        Ok(t) => parse_group(&t.unwrap_or_default()),
        Err(e) => return Outcome::Error(e),
    };
    let mut unreadable = Vec::new();
    let shadow = match root.read_to_string("/etc/shadow") {
        Ok(Some(t)) => Some(parse_shadow(&t)),
        Ok(None) => None,
        Err(e) => {
            unreadable.push(e.to_string());
            None
        }
    };
    let login_defs = read_optional(root, "/etc/login.defs", &mut unreadable)
        .map(|t| parse_login_defs(&t))
        .unwrap_or_default();
    let sudo = collect_sudo(root, &passwd, &group);
    let pam = collect_pam(root, &mut unreadable);
    let mut facts = build_facts(Inputs {
        passwd,
        shadow,
        group,
        login_defs,
        sudo,
        pam,
    });
    facts.unreadable_files = unreadable;
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
    fn password_states_never_keep_the_hash() {
        let cases = [
            ("$y$j9T$abc$def", "set", "yescrypt"),
            ("$6$salt$hash", "set", "sha512"),
            ("$6$rounds=5000$salt$hash", "set", "sha512"),
            ("!$6$salt$hash", "locked", "sha512"),
            ("!!$6$salt$hash", "locked", "sha512"),
            ("$1$salt$hash", "set", "md5"),
            ("$2b$12$abcdefghijklmnopqrstuv", "set", "bcrypt"),
            ("abcdefghijklm", "set", "des"),
            ("*", "none", ""),
            ("!", "none", ""),
            ("!!", "none", ""),
            ("!*", "none", ""),
            ("*LK*", "none", ""),
            ("", "empty", ""),
            ("x", "shadow", ""),
        ];
        for (field, state, alg) in cases {
            let s = password_state(field);
            assert_eq!((s.state, s.algorithm), (state, alg), "{field}");
        }
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

    #[test]
    fn pam_cracklib_and_tally2() {
        let text = "password requisite pam_cracklib.so try_first_pass retry=3 minlen=12 dcredit=-1 ucredit=-1 lcredit=-1\r\n\
            password sufficient /lib/security/pam_unix.so md5 shadow remember=24\r\n\
            auth required pam_tally2.so deny=5 onerr=fail unlock_time=900\r\n";
        let p = analyse_pam(&parse_pam(text), &PamConfigs::default());
        assert!(p.cracklib && !p.pwquality);
        assert_eq!(p.minlen, 12);
        assert!(p.complexity_required);
        assert_eq!(p.remember, 24);
        assert_eq!(p.hash_algorithm, "md5");
        assert_eq!(
            (
                p.lockout_module.as_str(),
                p.lockout_deny,
                p.lockout_unlock_time
            ),
            ("tally2", 5, 900)
        );
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

        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("etc");
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::write(etc.join("passwd"), "root:x:0:0:root:/root:/bin/bash\n").unwrap();
        std::fs::write(etc.join("shadow"), "root:$6$s$h:19000:0:99999:7:::\n").unwrap();
        std::fs::set_permissions(etc.join("shadow"), std::fs::Permissions::from_mode(0o000))
            .unwrap();
        let readable_anyway = std::fs::read(etc.join("shadow")).is_ok(); // running as root
        let Outcome::Ok(v) = collect(&HostRoot::offline(dir.path())) else {
            panic!("collect failed");
        };
        if !readable_anyway {
            assert_eq!(v["shadow_readable"], false);
            assert_eq!(v["users"][0]["password"], "unknown");
            assert_eq!(strings(&v["unreadable_files"]).len(), 1);
        }
        assert_eq!(v["sudo"]["present"], false);
        assert_eq!(v["login_defs"]["pass_max_days"], 99999);
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
