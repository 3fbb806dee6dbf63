//! Applying one keyword's arguments to a scope (global or a Match block),
//! with sshd's value parsers (flags, choices, integers, scaled sizes, IPQoS).

use super::algorithms::validate_algs;
use super::keywords::*;
use super::lexer::{convtime, split_commas};
use serde_json::Value;
use std::collections::HashMap;

/// A stored value.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Val {
    Str(String),
    Num(i64),
    List(Vec<String>),
    Ports(Vec<i64>),
}

impl Val {
    pub(super) fn to_json(&self) -> Value {
        match self {
            Val::Str(s) => Value::String(s.clone()),
            Val::Num(n) => Value::from(*n),
            Val::List(l) => Value::from(l.clone()),
            Val::Ports(p) => Value::from(p.clone()),
        }
    }
}

/// Settings of one scope (global, or one Match block).
#[derive(Debug, Default, Clone)]
pub(super) struct Scope {
    pub(super) vals: HashMap<&'static str, Val>,
    /// Order keywords were first set (for Match block output).
    pub(super) order: Vec<&'static str>,
    /// Queued ListenAddress entries: (address, port or 0).
    pub(super) listen: Vec<(String, u16)>,
    /// MaxStartups begin, rate, full (-1 = unset).
    pub(super) maxstartups: (i64, i64, i64),
    /// RekeyLimit bytes and interval, set independently.
    pub(super) rekey: (Option<u64>, Option<i64>),
}

impl Scope {
    pub(super) fn new() -> Scope {
        Scope {
            maxstartups: (-1, -1, -1),
            ..Scope::default()
        }
    }

    pub(super) fn is_set(&self, name: &'static str) -> bool {
        self.vals.contains_key(name)
    }

    pub(super) fn set_first(&mut self, name: &'static str, v: Val) {
        if !self.vals.contains_key(name) {
            self.vals.insert(name, v);
            self.order.push(name);
        }
    }

    pub(super) fn append(&mut self, name: &'static str, items: Vec<String>) {
        if !self.vals.contains_key(name) {
            self.order.push(name);
        }
        match self
            .vals
            .entry(name)
            .or_insert_with(|| Val::List(Vec::new()))
        {
            Val::List(l) => l.extend(items),
            other => *other = Val::List(items),
        }
    }
}

pub(super) fn first(args: &[String]) -> Result<&str, String> {
    args.first()
        .map(String::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| "missing argument".to_string())
}

pub(super) fn extra(args: &[String], n: usize) -> Result<(), String> {
    if args.len() > n {
        Err("garbage at end of line".into())
    } else {
        Ok(())
    }
}

pub(super) fn parse_int(s: &str) -> Result<i64, String> {
    s.parse::<i64>()
        .ok()
        .filter(|n| *n >= 0 && *n <= i64::from(i32::MAX))
        .ok_or_else(|| format!("invalid integer value {s}"))
}

/// Apply one keyword line to a scope.
pub(super) fn apply(scope: &mut Scope, k: &Kw, args: &[String], rest: &str) -> Result<(), String> {
    let name = k.name;
    match k.kind {
        Flag => {
            let a = first(args)?;
            let v = multi(FLAG, a)?;
            scope.set_first(name, Val::Str(v.into()));
            extra(args, 1)
        }
        Multi(table) => {
            let a = first(args)?;
            let v = multi(table, a)?;
            scope.set_first(name, Val::Str(v.into()));
            extra(args, 1)
        }
        Int => {
            let n = parse_int(first(args)?)?;
            scope.set_first(name, Val::Num(n));
            extra(args, 1)
        }
        Time => {
            let a = first(args)?;
            let n = convtime(a).ok_or_else(|| format!("invalid time value {a}"))?;
            scope.set_first(name, Val::Num(n));
            extra(args, 1)
        }
        TimeOrNone => {
            let a = first(args)?;
            let v = if a.eq_ignore_ascii_case("none") {
                "none".to_string()
            } else {
                convtime(a)
                    .ok_or_else(|| format!("invalid time value {a}"))?
                    .to_string()
            };
            scope.set_first(name, Val::Str(v));
            extra(args, 1)
        }
        Str => {
            let a = first(args)?;
            scope.set_first(name, Val::Str(a.to_string()));
            extra(args, 1)
        }
        Rest => {
            first(args)?;
            scope.set_first(name, Val::Str(rest.to_string()));
            Ok(())
        }
        Octal => {
            let a = first(args)?;
            let n = u32::from_str_radix(a, 8)
                .ok()
                .filter(|n| *n <= 0o777)
                .ok_or_else(|| format!("bad mask {a}"))?;
            scope.set_first(name, Val::Str(format!("0{n:o}")));
            extra(args, 1)
        }
        LineList => {
            first(args)?;
            let mut list = args.to_vec();
            if name == "permitlisten" {
                for e in &mut list {
                    if !e.contains(':') && e != "any" && e != "none" {
                        *e = format!("*:{e}");
                    }
                }
            }
            scope.set_first(name, Val::List(list));
            Ok(())
        }
        Accum => {
            first(args)?;
            if name == "acceptenv" && args.iter().any(|a| a.contains('=')) {
                return Err("invalid environment name".into());
            }
            scope.append(name, args.to_vec());
            Ok(())
        }
        SetEnv => {
            first(args)?;
            if args.iter().any(|a| !a.contains('=')) {
                return Err("invalid environment".into());
            }
            if !scope.is_set(name) {
                let mut list: Vec<String> = Vec::new();
                for a in args {
                    let n = a.split('=').next().unwrap_or_default();
                    if !list.iter().any(|e| e.split('=').next() == Some(n)) {
                        list.push(a.clone());
                    }
                }
                scope.set_first(name, Val::List(list));
            }
            Ok(())
        }
        Subsystem => {
            let sname = first(args)?;
            let cmd = args.get(1).filter(|c| !c.is_empty());
            let Some(_) = cmd else {
                return Err("missing subsystem command".into());
            };
            if let Some(Val::List(l)) = scope.vals.get(name) {
                if l.iter().any(|e| e.split(' ').next() == Some(sname)) {
                    return Err(format!("subsystem '{sname}' already defined"));
                }
            }
            scope.append(name, vec![args.join(" ")]);
            Ok(())
        }
        Port => {
            let a = first(args)?;
            let p = a
                .parse::<i64>()
                .ok()
                .filter(|p| (1..=65535).contains(p))
                .ok_or_else(|| format!("bad port number {a}"))?;
            if !scope.vals.contains_key(name) {
                scope.order.push(name);
            }
            match scope
                .vals
                .entry(name)
                .or_insert_with(|| Val::Ports(Vec::new()))
            {
                Val::Ports(v) => v.push(p),
                other => *other = Val::Ports(vec![p]),
            }
            extra(args, 1)
        }
        Listen => {
            let a = first(args)?;
            let (addr, port) = parse_listen(a)?;
            if let Some(r) = args.get(1) {
                if r != "rdomain" || args.get(2).is_none() {
                    return Err("bad ListenAddress syntax".into());
                }
            }
            scope.listen.push((addr, port));
            if !scope.vals.contains_key(name) {
                scope.order.push(name);
                scope.vals.insert(name, Val::List(Vec::new()));
            }
            Ok(())
        }
        MaxStartups => {
            let a = first(args)?;
            let parts: Vec<&str> = a.split(':').collect();
            let nums: Vec<i64> = parts.iter().filter_map(|p| p.parse().ok()).collect();
            match nums.as_slice() {
                [b, r, f] if parts.len() == 3 && b <= f && (1..=100).contains(r) && *b > 0 => {
                    scope.maxstartups = (*b, *r, *f);
                }
                [b] if parts.len() == 1 && *b > 0 => {
                    scope.maxstartups = (*b, scope.maxstartups.1, *b);
                }
                _ => return Err(format!("bad MaxStartups spec {a}")),
            }
            if !scope.vals.contains_key(name) {
                scope.order.push(name);
            }
            let (b, r, f) = scope.maxstartups;
            let r = if r < 0 { 30 } else { r };
            scope.vals.insert(name, Val::Str(format!("{b}:{r}:{f}")));
            extra(args, 1)
        }
        PerSourceMax => {
            let a = first(args)?;
            let v = if a == "none" {
                "none".to_string()
            } else {
                parse_int(a)?.to_string()
            };
            scope.set_first(name, Val::Str(v));
            extra(args, 1)
        }
        NetBlock => {
            let a = first(args)?;
            let (v4, v6) = match a.split_once(':') {
                Some((x, y)) => (x, y),
                None => (a, "0"),
            };
            let v4n: i64 = v4.parse().map_err(|_| format!("bad netblock {a}"))?;
            let v6n: i64 = v6.parse().map_err(|_| format!("bad netblock {a}"))?;
            if !(0..=32).contains(&v4n) || !(0..=128).contains(&v6n) {
                return Err(format!("bad netblock {a}"));
            }
            scope.set_first(name, Val::Str(format!("{v4n}:{v6n}")));
            extra(args, 1)
        }
        Rekey => {
            let a = first(args)?;
            let bytes = if a == "default" {
                0
            } else {
                scan_scaled(a).ok_or_else(|| format!("bad RekeyLimit {a}"))?
            };
            if scope.rekey.0.is_none() {
                scope.rekey.0 = Some(bytes);
            }
            if let Some(t) = args.get(1) {
                let secs = if t == "none" || t == "default" {
                    0
                } else {
                    convtime(t).ok_or_else(|| format!("bad RekeyLimit time {t}"))?
                };
                if scope.rekey.1.is_none() {
                    scope.rekey.1 = Some(secs);
                }
            }
            let v = format!(
                "{} {}",
                scope.rekey.0.unwrap_or(0),
                scope.rekey.1.unwrap_or(0)
            );
            if !scope.vals.contains_key(name) {
                scope.order.push(name);
            }
            scope.vals.insert(name, Val::Str(v));
            extra(args, 2)
        }
        IpQos => {
            let a = first(args)?;
            let q1 = ipqos(a).ok_or_else(|| format!("bad IPQoS value {a}"))?;
            let q2 = match args.get(1) {
                Some(b) => ipqos(b).ok_or_else(|| format!("bad IPQoS value {b}"))?,
                None => q1.clone(),
            };
            scope.set_first(name, Val::Str(format!("{q1} {q2}")));
            extra(args, 2)
        }
        PubkeyOpts => {
            let (mut touch, mut verify) = (false, false);
            for a in args {
                match a.as_str() {
                    "none" => {}
                    "touch-required" => touch = true,
                    "verify-required" => verify = true,
                    other => return Err(format!("unsupported option {other}")),
                }
            }
            let mut v = Vec::new();
            if touch {
                v.push("touch-required");
            }
            if verify {
                v.push("verify-required");
            }
            let s = if v.is_empty() {
                "none".to_string()
            } else {
                v.join(" ")
            };
            scope.set_first(name, Val::Str(s));
            Ok(())
        }
        Alg(class) => {
            let a = first(args)?;
            validate_algs(class, a)?;
            scope.set_first(name, Val::Str(a.to_string()));
            extra(args, 1)
        }
        Commas => {
            let a = first(args)?;
            scope.set_first(name, Val::List(split_commas(a)));
            extra(args, 1)
        }
        UserEnv => {
            let a = first(args)?;
            let v = match a.to_ascii_lowercase().as_str() {
                "yes" => "yes".to_string(),
                "no" => "no".to_string(),
                _ => a.to_string(),
            };
            scope.set_first(name, Val::Str(v));
            extra(args, 1)
        }
        Unsupported => Err(format!("setting {name} not supported on this platform")),
    }
}

pub(super) fn multi(table: &[(&str, &'static str)], a: &str) -> Result<&'static str, String> {
    table
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(a))
        .map(|(_, v)| *v)
        .ok_or_else(|| format!("unsupported option \"{a}\""))
}

/// `scan_scaled`: `1G` → 1073741824 (powers of 1024).
pub(super) fn scan_scaled(s: &str) -> Option<u64> {
    let (num, mult) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m: u64 = match c.to_ascii_uppercase() {
                'B' => 1,
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                'P' => 1 << 50,
                'E' => 1 << 60,
                _ => return None,
            };
            (s.get(..i)?, m)
        }
        _ => (s, 1),
    };
    num.parse::<u64>().ok()?.checked_mul(mult)
}

pub(super) const IPQOS: &[(&str, u32)] = &[
    ("af11", 0x28),
    ("af12", 0x30),
    ("af13", 0x38),
    ("af21", 0x48),
    ("af22", 0x50),
    ("af23", 0x58),
    ("af31", 0x68),
    ("af32", 0x70),
    ("af33", 0x78),
    ("af41", 0x88),
    ("af42", 0x90),
    ("af43", 0x98),
    ("cs0", 0x00),
    ("cs1", 0x20),
    ("cs2", 0x40),
    ("cs3", 0x60),
    ("cs4", 0x80),
    ("cs5", 0xa0),
    ("cs6", 0xc0),
    ("cs7", 0xe0),
    ("ef", 0xb8),
    ("le", 0x01),
    ("lowdelay", 0x10),
    ("throughput", 0x08),
    ("reliability", 0x04),
];

pub(super) fn ipqos(s: &str) -> Option<String> {
    if s.eq_ignore_ascii_case("none") {
        return Some("none".into());
    }
    if let Some((n, _)) = IPQOS.iter().find(|(n, _)| n.eq_ignore_ascii_case(s)) {
        return Some((*n).to_string());
    }
    let v = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u32::from_str_radix(h, 16).ok()?
    } else if s.len() > 1 && s.starts_with('0') {
        u32::from_str_radix(s.get(1..)?, 8).ok()?
    } else {
        s.parse().ok()?
    };
    if v > 255 {
        return None;
    }
    Some(
        IPQOS
            .iter()
            .find(|(_, x)| *x == v)
            .map_or_else(|| format!("0x{v:02x}"), |(n, _)| (*n).to_string()),
    )
}

/// Parse a ListenAddress argument into (address, port; 0 = every Port).
pub(super) fn parse_listen(a: &str) -> Result<(String, u16), String> {
    let colons = a.matches(':').count();
    if !a.contains('[') && colons >= 2 {
        return Ok((a.to_string(), 0));
    }
    let (host, port) = if let Some(r) = a.strip_prefix('[') {
        let (h, after) = r.split_once(']').ok_or("bad address:port usage")?;
        match after.strip_prefix(':') {
            Some(p) => (h, Some(p)),
            None if after.is_empty() => (h, None),
            None => return Err("bad address:port usage".into()),
        }
    } else {
        match a.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (a, None),
        }
    };
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("bad port number {p}"))?,
        None => 0,
    };
    Ok((host.to_string(), port))
}
