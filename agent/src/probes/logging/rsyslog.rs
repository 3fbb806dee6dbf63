//! rsyslog forwarding: `action(type="omfwd")` and legacy `@`/`@@` actions,
//! with the legacy TLS directives.

use super::syntax::{find_calls, parse_bool, parse_kv_args, strip_hash_comments};
use super::ForwardTarget;

/// Remote destinations in one rsyslog file. `legacy_tls` is whether
/// `$ActionSendStreamDriverMode 1` appears in any rsyslog file (it makes
/// legacy `@@` actions use TLS).
pub fn parse_rsyslog(text: &str, legacy_tls: bool) -> Vec<ForwardTarget> {
    let mut out = Vec::new();
    let cleaned = strip_hash_comments(text);
    // Legacy selector/action lines.
    for line in cleaned.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('$') || line.contains("action(") {
            continue;
        }
        let Some(action) = line.split_whitespace().find(|t| t.starts_with('@')) else {
            continue;
        };
        if let Some(t) = parse_legacy_action(action, legacy_tls) {
            out.push(t);
        }
    }
    // RainerScript action(...) blocks, possibly spanning lines.
    for args in find_calls(&cleaned, "action") {
        let kv = parse_kv_args(&args);
        let ty = kv
            .get("type")
            .map(|s| s.to_ascii_lowercase())
            .unwrap_or_default();
        let Some(host) = kv.get("target").filter(|h| !h.is_empty()) else {
            continue;
        };
        let mode_tls = kv.get("streamdrivermode").is_some_and(|m| m.trim() == "1");
        let (protocol, tls, default_port) = match ty.as_str() {
            "omfwd" => {
                let p = kv
                    .get("protocol")
                    .map(|s| s.to_ascii_lowercase())
                    .unwrap_or_else(|| "udp".into());
                let tls = p == "tcp" && mode_tls;
                (if tls { "tls".to_string() } else { p }, tls, 514)
            }
            "omrelp" => {
                let tls = kv.get("tls").is_some_and(|v| parse_bool(v) == Some(true));
                ("relp".to_string(), tls, 514)
            }
            _ => continue,
        };
        let port = kv
            .get("port")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or(default_port);
        out.push(ForwardTarget {
            daemon: "rsyslog".into(),
            host: host.clone(),
            port,
            protocol,
            tls,
            file: String::new(),
        });
    }
    out
}

/// Whether an rsyslog file turns on TLS for legacy actions.
pub fn rsyslog_legacy_tls(text: &str) -> bool {
    strip_hash_comments(text).lines().any(|l| {
        let mut it = l.split_whitespace();
        matches!(
            (it.next(), it.next()),
            (Some(k), Some("1")) if k.eq_ignore_ascii_case("$ActionSendStreamDriverMode")
        )
    })
}

pub(super) fn parse_legacy_action(action: &str, legacy_tls: bool) -> Option<ForwardTarget> {
    let (proto, rest) = if let Some(r) = action.strip_prefix("@@") {
        ("tcp", r)
    } else {
        ("udp", action.strip_prefix('@')?)
    };
    // Options such as (o) or (z9) come first; a template may follow `;`.
    let rest = match rest.strip_prefix('(') {
        Some(r) => r.split_once(')').map(|(_, after)| after).unwrap_or(""),
        None => rest,
    };
    let rest = rest.split(';').next().unwrap_or("");
    let (host, port) = if let Some(r) = rest.strip_prefix('[') {
        let (h, after) = r.split_once(']')?;
        (h.to_string(), after.strip_prefix(':').unwrap_or(""))
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h.to_string(), p),
            _ => (rest.to_string(), ""),
        }
    };
    if host.is_empty() {
        return None;
    }
    let tls = proto == "tcp" && legacy_tls;
    Some(ForwardTarget {
        daemon: "rsyslog".into(),
        host,
        port: port.trim().parse().unwrap_or(514),
        protocol: if tls { "tls".into() } else { proto.into() },
        tls,
        file: String::new(),
    })
}
