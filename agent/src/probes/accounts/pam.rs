//! PAM stacks and the pwquality / faillock / pwhistory configuration files:
//! password quality, history, lockout and hashing.

use super::text::lines;
use serde::Serialize;
use std::collections::BTreeMap;

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

pub(super) fn arg_value<'a>(args: &'a [String], key: &str) -> Option<&'a str> {
    args.iter()
        .rev()
        .find_map(|a| a.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

pub(super) const HASH_OPTIONS: &[&str] = &[
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
