//! auditd: `auditd.conf` and audit rules.

use super::{AuditRules, AuditdFacts};

/// Parse `/etc/audit/auditd.conf`.
pub fn parse_auditd_conf(text: &str) -> AuditdFacts {
    let mut f = AuditdFacts {
        installed: true,
        ..AuditdFacts::default()
    };
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim().to_ascii_lowercase();
        match k.trim().to_ascii_lowercase().as_str() {
            "max_log_file" => f.max_log_file = v.parse().unwrap_or(0),
            "num_logs" => f.num_logs = v.parse().unwrap_or(0),
            "max_log_file_action" => f.max_log_file_action = v,
            "space_left_action" => f.space_left_action = v,
            "admin_space_left_action" => f.admin_space_left_action = v,
            "disk_full_action" => f.disk_full_action = v,
            _ => {}
        }
    }
    f
}

/// Parse one audit rules file, adding to `acc`.
pub fn parse_audit_rules(text: &str, acc: &mut AuditRules) {
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let toks: Vec<&str> = line.split_whitespace().collect();
        let Some(first) = toks.first().copied() else {
            continue;
        };
        match first {
            "-e" => {
                if let Some(v) = toks.get(1).and_then(|v| v.parse().ok()) {
                    acc.enable_flag = Some(v);
                }
                continue;
            }
            "-w" | "-a" | "-A" => {}
            _ => continue,
        }
        acc.rules.insert(toks.join(" "));
        let mut it = toks.iter().copied().peekable();
        while let Some(t) = it.next() {
            match t {
                "-w" => {
                    if let Some(p) = it.next() {
                        acc.watched_paths.insert(p.to_string());
                    }
                }
                "-S" => {
                    if let Some(s) = it.next() {
                        for sc in s.split(',').filter(|s| !s.is_empty()) {
                            acc.syscalls.insert(sc.to_string());
                        }
                    }
                }
                "-k" => {
                    if let Some(k) = it.next() {
                        acc.keys.insert(k.to_string());
                    }
                }
                "-F" => {
                    if let Some(field) = it.next() {
                        if let Some(p) = field
                            .strip_prefix("path=")
                            .or_else(|| field.strip_prefix("dir="))
                        {
                            acc.watched_paths.insert(p.to_string());
                        } else if let Some(k) = field.strip_prefix("key=") {
                            acc.keys.insert(k.to_string());
                        }
                    }
                }
                _ => {
                    if let Some(s) = t.strip_prefix("-S") {
                        for sc in s.split(',').filter(|s| !s.is_empty()) {
                            acc.syscalls.insert(sc.to_string());
                        }
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------- logrotate
