//! `/etc/login.defs` with shadow-utils defaults for absent keys.

use super::text::lines;
use serde::Serialize;

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

pub(super) fn umask_restrictive(umask: &str) -> bool {
    u32::from_str_radix(umask.trim(), 8)
        .map(|m| m & 0o027 == 0o027)
        .unwrap_or(false)
}

// ---------------------------------------------------------------- sudoers
