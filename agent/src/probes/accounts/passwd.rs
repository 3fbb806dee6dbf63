//! `/etc/passwd`, `/etc/shadow` and `/etc/group` parsers; shadow hashes are
//! reduced to a state and an algorithm name at parse time.

use super::text::{lines, parse_opt_int};

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

pub(super) fn hash_algorithm(hash: &str) -> &'static str {
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

pub(super) fn is_weak_algorithm(a: &str) -> bool {
    matches!(
        a,
        "des" | "bsdicrypt" | "bigcrypt" | "md5" | "sunmd5" | "sha1crypt" | "unknown"
    )
}

/// The `:`-separated fields of a passwd/shadow/group line and its name;
/// None for a line without a name and for NIS `+`/`-` lines.
fn entry_fields(line: &str) -> Option<(Vec<&str>, &str)> {
    let f: Vec<&str> = line.split(':').collect();
    let name = f.first()?.trim();
    if name.is_empty() || name.starts_with('+') || name.starts_with('-') {
        return None;
    }
    Some((f, name))
}

/// Parse `/etc/passwd`. Malformed lines and NIS `+`/`-` lines are skipped.
pub fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    lines(text)
        .filter_map(|line| {
            let (f, name) = entry_fields(line)?;
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
            let (f, name) = entry_fields(line)?;
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
            let (f, name) = entry_fields(line)?;
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
