//! Automatic updates: apt configuration (`APT::Periodic`) and
//! `dnf-automatic.conf`.

use std::collections::BTreeMap;

/// Parse apt.conf syntax (`A::B "v";` and `A { B "v"; };`) into lowercased
/// `a::b` → value, later files and lines overriding earlier ones.
pub fn parse_apt_conf(text: &str, out: &mut BTreeMap<String, String>) {
    let mut stack: Vec<String> = Vec::new();
    let mut pending_key: Option<String> = None;
    for raw in text.lines() {
        let line = raw.trim();
        if line.starts_with('#') || line.starts_with("//") {
            continue;
        }
        let line = line.split(" //").next().unwrap_or("");
        let mut rest = line;
        while !rest.trim().is_empty() {
            rest = rest.trim_start();
            if let Some(r) = rest.strip_prefix('}') {
                stack.pop();
                rest = r.trim_start().trim_start_matches(';');
                continue;
            }
            if let Some(r) = rest.strip_prefix('{') {
                if let Some(k) = pending_key.take() {
                    stack.push(k);
                }
                rest = r;
                continue;
            }
            if let Some(r) = rest.strip_prefix('"') {
                let (value, after) = r.split_once('"').unwrap_or((r, ""));
                if let Some(k) = pending_key.take() {
                    let mut full = stack.clone();
                    full.push(k);
                    out.insert(full.join("::").to_ascii_lowercase(), value.to_string());
                }
                rest = after.trim_start().trim_start_matches(';');
                continue;
            }
            let end = rest
                .find(|c: char| c.is_whitespace() || matches!(c, '{' | '}' | '"' | ';'))
                .unwrap_or(rest.len());
            let word = rest.get(..end).unwrap_or("");
            rest = rest.get(end..).unwrap_or("");
            if let Some(r) = rest.strip_prefix(';') {
                rest = r;
            }
            if !word.is_empty() {
                pending_key = Some(word.to_string());
            }
        }
    }
}

/// Whether apt's periodic configuration has unattended upgrades on.
pub fn apt_unattended_enabled(conf: &BTreeMap<String, String>) -> bool {
    let enabled = conf
        .get("apt::periodic::enable")
        .is_none_or(|v| v.trim() != "0");
    let interval = conf
        .get("apt::periodic::unattended-upgrade")
        .map(|v| v.trim())
        .unwrap_or("0");
    let on = interval == "always"
        || interval
            .trim_end_matches(['d', 'h', 'm', 's'])
            .parse::<u64>()
            .is_ok_and(|n| n > 0);
    enabled && on
}

/// `apply_updates` of `/etc/dnf/automatic.conf` (`[commands]` section).
pub fn parse_dnf_automatic(text: &str) -> bool {
    let mut section = String::new();
    let mut apply = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(s) = line.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            section = s.trim().to_string();
            continue;
        }
        if section == "commands" {
            if let Some((k, v)) = line.split_once('=') {
                if k.trim() == "apply_updates" {
                    apply = matches!(
                        v.trim().to_ascii_lowercase().as_str(),
                        "yes" | "true" | "1" | "on"
                    );
                }
            }
        }
    }
    apply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apt_conf_scoping() {
        let mut c = BTreeMap::new();
        parse_apt_conf(
            "APT::Periodic { Enable \"1\"; Unattended-Upgrade \"1\"; };\n# c\nAPT::Periodic::Unattended-Upgrade \"7\"; // days\n",
            &mut c,
        );
        assert_eq!(c["apt::periodic::unattended-upgrade"], "7");
        assert!(apt_unattended_enabled(&c));
        c.insert("apt::periodic::enable".into(), "0".into());
        assert!(!apt_unattended_enabled(&c));
    }
}
