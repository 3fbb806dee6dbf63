//! syslog-ng network destinations.

use super::syntax::{balanced, find_calls, strip_hash_comments};
use super::ForwardTarget;

/// Remote destinations in a syslog-ng configuration.
pub fn parse_syslog_ng(text: &str) -> Vec<ForwardTarget> {
    let cleaned = strip_hash_comments(text);
    let lower = cleaned.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(pos) = lower.get(from..).and_then(|s| s.find("destination")) {
        let start = from + pos;
        from = start + "destination".len();
        let after = cleaned.get(from..).unwrap_or("");
        // destination NAME { ... };
        let trimmed = after.trim_start();
        let name_len = trimmed
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.'))
            .unwrap_or(trimmed.len());
        if name_len == 0 {
            continue;
        }
        let after_name = trimmed.get(name_len..).unwrap_or("").trim_start();
        if !after_name.starts_with('{') {
            continue;
        }
        let open = cleaned.len() - after_name.len() + 1;
        let Some((body, end)) = balanced(&cleaned, open, '{', '}') else {
            break;
        };
        from = end;
        for (driver, default_proto) in [
            ("network", "tcp"),
            ("syslog", "tcp"),
            ("tcp6", "tcp"),
            ("udp6", "udp"),
            ("tcp", "tcp"),
            ("udp", "udp"),
        ] {
            for args in find_calls(&body, driver) {
                if let Some(t) = syslog_ng_driver(&args, default_proto) {
                    out.push(t);
                }
            }
        }
    }
    out
}

pub(super) fn syslog_ng_driver(args: &str, default_proto: &str) -> Option<ForwardTarget> {
    let first = args.trim_start();
    let host = first
        .strip_prefix('"')
        .and_then(|r| r.split_once('"'))
        .map(|(h, _)| h.to_string())
        .or_else(|| {
            first
                .strip_prefix('\'')
                .and_then(|r| r.split_once('\''))
                .map(|(h, _)| h.to_string())
        })?;
    if host.is_empty() {
        return None;
    }
    let unquote = |s: &str| {
        s.trim()
            .trim_matches('"')
            .trim_matches('\'')
            .to_ascii_lowercase()
    };
    let transport = find_calls(args, "transport")
        .first()
        .map(|t| unquote(t))
        .unwrap_or_else(|| default_proto.to_string());
    let tls = transport == "tls";
    let port = find_calls(args, "port")
        .first()
        .and_then(|p| unquote(p).parse().ok())
        .unwrap_or(if tls { 6514 } else { 514 });
    Some(ForwardTarget {
        daemon: "syslog-ng".into(),
        host,
        port,
        protocol: transport,
        tls,
        file: String::new(),
    })
}
