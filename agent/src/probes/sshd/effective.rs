//! Effective settings: defaults for unset keywords, `ListenAddress` /
//! `Port` combination, and final values per scope.

use super::algorithms::{all_list, assemble};
use super::keywords::{lookup, Kind::*, Kw, KEYWORDS, PC, PL, PN, PW};
use super::lexer::split_commas;
use super::settings::{Scope, Val};
use serde_json::{Map, Value};
use std::net::{Ipv4Addr, Ipv6Addr};

/// Format one address the way sshd -T prints it.
pub(super) fn fmt_listen(host: &str, port: u16) -> String {
    if let Ok(v6) = host.parse::<Ipv6Addr>() {
        return format!("[{v6}]:{port}");
    }
    if let Ok(v4) = host.parse::<Ipv4Addr>() {
        return format!("{v4}:{port}");
    }
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// sshd's listen address list: each (address, port) group prepended in turn.
pub(super) fn listen_addresses(
    queued: &[(String, u16)],
    ports: &[i64],
    family: &str,
) -> Vec<String> {
    let mut groups: Vec<Vec<String>> = Vec::new();
    let mut add = |host: Option<&str>, port: u16| {
        let g = match host {
            None => match family {
                "inet" => vec![format!("0.0.0.0:{port}")],
                "inet6" => vec![format!("[::]:{port}")],
                _ => vec![format!("[::]:{port}"), format!("0.0.0.0:{port}")],
            },
            Some(h) => vec![fmt_listen(h, port)],
        };
        groups.push(g);
    };
    let ports: Vec<u16> = ports
        .iter()
        .filter_map(|p| u16::try_from(*p).ok())
        .collect();
    if queued.is_empty() {
        for p in &ports {
            add(None, *p);
        }
    } else {
        for (h, p) in queued {
            if *p > 0 {
                add(Some(h), *p);
            } else {
                for port in &ports {
                    add(Some(h), *port);
                }
            }
        }
    }
    groups.into_iter().rev().flatten().collect()
}

/// Turn a printed default into a value of the keyword's type.
pub(super) fn default_val(k: &Kw, def: &str) -> Val {
    match (k.kind, k.print) {
        (Port, _) => Val::Ports(def.split(' ').filter_map(|p| p.parse().ok()).collect()),
        (Int | Time, _) => Val::Num(def.parse().unwrap_or(0)),
        (_, PC) => Val::List(split_commas(def)),
        (_, PW | PL) => Val::List(def.split(' ').map(str::to_string).collect()),
        _ => Val::Str(def.to_string()),
    }
}

/// Compute the effective global settings (with defaults) of a scope.
pub(super) fn finalize_global(scope: &Scope) -> Map<String, Value> {
    let mut out = Map::new();
    for k in KEYWORDS {
        if k.print == PN {
            continue;
        }
        let v = match k.kind {
            Alg(class) => {
                let spec = match scope.vals.get(k.name) {
                    Some(Val::Str(s)) => Some(s.as_str()),
                    _ => None,
                };
                Val::List(assemble(spec, k.default.unwrap_or(""), all_list(class)))
            }
            Listen => {
                let ports = match scope.vals.get("port") {
                    Some(Val::Ports(p)) => p.clone(),
                    _ => vec![22],
                };
                let fam = match scope.vals.get("addressfamily") {
                    Some(Val::Str(s)) => s.as_str(),
                    _ => "any",
                };
                Val::List(listen_addresses(&scope.listen, &ports, fam))
            }
            _ => match (scope.vals.get(k.name), k.default) {
                (Some(v), _) => v.clone(),
                (None, Some(d)) => default_val(k, d),
                (None, None) => Val::List(Vec::new()),
            },
        };
        out.insert(k.name.to_string(), v.to_json());
    }
    out
}

/// Settings set in a Match block, in the order first set.
pub(super) fn finalize_block(scope: &Scope) -> Map<String, Value> {
    let mut out = Map::new();
    for name in &scope.order {
        let Some(v) = scope.vals.get(name) else {
            continue;
        };
        let v = match (lookup(name).map(|k| k.kind), v) {
            (Some(Alg(_)), Val::Str(s)) => Val::List(split_commas(s)),
            _ => v.clone(),
        };
        out.insert((*name).to_string(), v.to_json());
    }
    out
}
