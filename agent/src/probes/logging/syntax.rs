//! Brace/parenthesis syntax helpers shared by the rsyslog and syslog-ng
//! parsers (comments, calls, balanced groups, `key=value` arguments).

use std::collections::BTreeMap;

/// Remove `#` comments outside double quotes.
pub(super) fn strip_hash_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut in_q = false;
        for c in line.chars() {
            match c {
                '"' => in_q = !in_q,
                '#' if !in_q => break,
                _ => {}
            }
            out.push(c);
        }
        out.push('\n');
    }
    out
}

/// The argument text of every `name(...)` call (case-insensitive, balanced
/// parentheses, quotes respected).
pub(super) fn find_calls(text: &str, name: &str) -> Vec<String> {
    let lower = text.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(pos) = lower.get(from..).and_then(|s| s.find(name)) {
        let start = from + pos;
        from = start + name.len();
        let before_ok = lower
            .get(..start)
            .and_then(|s| s.chars().last())
            .is_none_or(|c| !c.is_ascii_alphanumeric() && c != '_');
        let after = lower.get(from..).unwrap_or("");
        let trimmed = after.trim_start();
        if !before_ok || !trimmed.starts_with('(') {
            continue;
        }
        let open = from + (after.len() - trimmed.len()) + 1;
        if let Some((args, end)) = balanced(text, open, '(', ')') {
            out.push(args);
            from = end;
        }
    }
    out
}

/// Text between `open` (just after the opening bracket) and its matching close.
pub(super) fn balanced(text: &str, open: usize, lb: char, rb: char) -> Option<(String, usize)> {
    let body = text.get(open..)?;
    let mut depth = 1usize;
    let mut in_q = false;
    for (i, c) in body.char_indices() {
        match c {
            '"' => in_q = !in_q,
            c if c == lb && !in_q => depth += 1,
            c if c == rb && !in_q => {
                depth -= 1;
                if depth == 0 {
                    return Some((body.get(..i)?.to_string(), open + i + 1));
                }
            }
            _ => {}
        }
    }
    None
}

/// `key="value" key2="v"` → lower-case keys.
pub(super) fn parse_kv_args(args: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = args;
    while let Some((k, after)) = rest.split_once('=') {
        let key = k
            .split(|c: char| c.is_whitespace() || c == ',')
            .next_back()
            .unwrap_or("")
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (val, next) = if let Some(q) = after.strip_prefix('"') {
            match q.split_once('"') {
                Some((v, n)) => (v, n),
                None => (q, ""),
            }
        } else {
            let end = after
                .find(|c: char| c.is_whitespace() || c == ',')
                .unwrap_or(after.len());
            (
                after.get(..end).unwrap_or(""),
                after.get(end..).unwrap_or(""),
            )
        };
        if !key.is_empty() {
            out.insert(key, val.to_string());
        }
        rest = next;
    }
    out
}

// ---------------------------------------------------------------- syslog-ng

pub(super) fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "yes" | "true" | "on" | "y" | "t" => Some(true),
        "0" | "no" | "false" | "off" | "n" | "f" => Some(false),
        _ => None,
    }
}
