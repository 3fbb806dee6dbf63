//! `KEY=value` shell-variable files shared by ufw and firewalld configs.

use std::collections::BTreeMap;

/// `KEY=value` / `KEY="value"` lines.
pub(super) fn shell_vars(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = v.split(" #").next().unwrap_or("").trim();
            (
                k.trim().to_string(),
                v.trim_matches(['"', '\'']).to_string(),
            )
        })
        .collect()
}
