//! iptables persistent rules in `iptables-save` format.

use super::facts::IptablesFacts;
use std::collections::BTreeMap;

/// Policies and rule count of the filter table in `iptables-save` output.
pub fn parse_iptables_save(text: &str) -> IptablesFacts {
    let mut f = IptablesFacts {
        input_policy: "unknown".into(),
        forward_policy: "unknown".into(),
        output_policy: "unknown".into(),
        ..IptablesFacts::default()
    };
    let mut table = String::new();
    let mut policies: BTreeMap<String, String> = BTreeMap::new();
    let mut final_input: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(t) = line.strip_prefix('*') {
            table = t.trim().to_string();
            continue;
        }
        if table != "filter" {
            continue;
        }
        if let Some(decl) = line.strip_prefix(':') {
            let mut it = decl.split_whitespace();
            if let (Some(chain), Some(pol)) = (it.next(), it.next()) {
                policies.insert(chain.to_string(), pol.to_ascii_lowercase());
            }
        } else if let Some(rule) = line.strip_prefix("-A ") {
            f.rules_count += 1;
            let toks: Vec<&str> = rule.split_whitespace().collect();
            if toks.first() == Some(&"INPUT") {
                final_input = unconditional_target(toks.get(1..).unwrap_or(&[]));
            }
        }
    }
    let get = |c: &str| {
        policies
            .get(c)
            .map(|p| match p.as_str() {
                "accept" | "drop" => p.clone(),
                _ => "unknown".to_string(),
            })
            .unwrap_or_else(|| "unknown".to_string())
    };
    f.input_policy = match (get("INPUT").as_str(), final_input) {
        ("accept", Some(v)) => v,
        (p, _) => p.to_string(),
    };
    f.forward_policy = get("FORWARD");
    f.output_policy = get("OUTPUT");
    f
}

/// `-j DROP` / `-j REJECT …` with no match (comments allowed) → its verdict.
fn unconditional_target(toks: &[&str]) -> Option<String> {
    let mut it = toks.iter().copied();
    let mut verdict = None;
    while let Some(t) = it.next() {
        match t {
            "-j" => {
                verdict = match it.next() {
                    Some("DROP") => Some("drop".to_string()),
                    Some("REJECT") => Some("reject".to_string()),
                    _ => return None,
                };
            }
            "-m" => {
                if it.next() != Some("comment") {
                    return None;
                }
            }
            "--comment" => {
                // The comment may be quoted and contain spaces.
                let mut c = it.next().unwrap_or("");
                if c.starts_with('"') && !(c.len() > 1 && c.ends_with('"')) {
                    while !c.ends_with('"') {
                        match it.next() {
                            Some(n) => c = n,
                            None => break,
                        }
                    }
                }
            }
            "--reject-with" => {
                it.next();
            }
            _ => return None,
        }
    }
    verdict
}
