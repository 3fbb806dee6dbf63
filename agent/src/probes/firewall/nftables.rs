//! nftables: parse `nft -f` scripts, follow `include`s, and the effective
//! policy of the base chains on each hook.

use super::facts::NftFacts;
use crate::probes::common::reader::Reader;

/// One nftables chain as parsed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NftChain {
    /// `family table chain`.
    pub key: String,
    /// Hook of a base chain (`input`, `forward`, …), "" for a regular chain.
    pub hook: String,
    /// `policy` (accept when unset).
    pub policy: String,
    /// Rules in it.
    pub rules: u64,
    /// Verdict of the last rule when that rule is unconditional drop/reject.
    pub final_verdict: Option<String>,
}

/// A parsed nftables file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NftRuleset {
    /// Chains in order of appearance.
    pub chains: Vec<NftChain>,
    /// `include` patterns.
    pub includes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
enum Block {
    Table(String),
    Chain(usize),
    Other,
}

/// Parse an nftables script (`nft -f` syntax).
pub fn parse_nft(text: &str) -> NftRuleset {
    let mut rs = NftRuleset::default();
    let mut stack: Vec<Block> = Vec::new();
    let mut stmt = String::new();
    let mut inline = 0usize; // depth of anonymous sets `{ 22, 80 }` inside a statement
    let mut in_q = false;
    let mut in_comment = false;
    for c in text.chars() {
        if in_comment {
            if c == '\n' {
                in_comment = false;
            } else {
                continue;
            }
        }
        if in_q {
            stmt.push(c);
            if c == '"' {
                in_q = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_q = true;
                stmt.push(c);
            }
            '#' => in_comment = true,
            '\\' => {} // line continuation
            ';' | '\n' | '\r' if inline == 0 => {
                finish_stmt(&mut rs, &stack, &stmt);
                stmt.clear();
            }
            '{' => {
                let opens_block =
                    inline == 0 && matches!(stack.last(), None | Some(Block::Table(_)));
                if opens_block {
                    let block = open_block(&mut rs, &stack, &stmt);
                    stack.push(block);
                    stmt.clear();
                } else {
                    inline += 1;
                    stmt.push(c);
                }
            }
            '}' => {
                if inline > 0 {
                    inline -= 1;
                    stmt.push(c);
                } else {
                    finish_stmt(&mut rs, &stack, &stmt);
                    stmt.clear();
                    stack.pop();
                }
            }
            _ => stmt.push(c),
        }
    }
    finish_stmt(&mut rs, &stack, &stmt);
    rs
}

fn words(stmt: &str) -> Vec<&str> {
    let mut w: Vec<&str> = stmt.split_whitespace().collect();
    if matches!(w.first(), Some(&("add" | "create"))) {
        w.remove(0);
    }
    w
}

fn open_block(rs: &mut NftRuleset, stack: &[Block], stmt: &str) -> Block {
    let w = words(stmt);
    let table = stack.iter().rev().find_map(|b| match b {
        Block::Table(t) => Some(t.clone()),
        _ => None,
    });
    match w.first().copied() {
        Some("table") => {
            let rest: Vec<&str> = w.iter().skip(1).copied().collect();
            // `table filter` means family ip.
            let name = if rest.len() == 1 {
                format!("ip {}", rest.join(" "))
            } else {
                rest.join(" ")
            };
            Block::Table(name)
        }
        Some("chain") => {
            let rest: Vec<&str> = w.iter().skip(1).copied().collect();
            let key = match (&table, rest.as_slice()) {
                (Some(t), [name]) => format!("{t} {name}"),
                (_, [table, name]) => format!("ip {table} {name}"),
                _ => rest.join(" "),
            };
            let idx = match rs.chains.iter().position(|c| c.key == key) {
                Some(i) => i,
                None => {
                    rs.chains.push(NftChain {
                        key,
                        policy: "accept".into(),
                        ..NftChain::default()
                    });
                    rs.chains.len() - 1
                }
            };
            Block::Chain(idx)
        }
        _ => Block::Other,
    }
}

fn finish_stmt(rs: &mut NftRuleset, stack: &[Block], stmt: &str) {
    let w = words(stmt);
    let Some(first) = w.first().copied() else {
        return;
    };
    let Some(Block::Chain(idx)) = stack.last() else {
        if first == "include" {
            if let Some(p) = w.get(1) {
                rs.includes.push(p.trim_matches('"').to_string());
            }
        }
        return;
    };
    let Some(chain) = rs.chains.get_mut(*idx) else {
        return;
    };
    match first {
        "type" => {
            if let Some(pos) = w.iter().position(|x| *x == "hook") {
                chain.hook = w.get(pos + 1).unwrap_or(&"").to_string();
            }
        }
        "policy" => {
            chain.policy = match w.get(1).copied() {
                Some(p @ ("accept" | "drop")) => p.to_string(),
                _ => "unknown".to_string(),
            };
        }
        "comment" | "devices" => {}
        _ => {
            chain.rules += 1;
            let unconditional = matches!(first, "drop" | "reject" | "counter" | "log");
            chain.final_verdict = if unconditional {
                w.iter()
                    .find(|x| matches!(**x, "drop" | "reject"))
                    .map(|v| v.to_string())
            } else {
                None
            };
        }
    }
}

/// Effective policy of the base chains on `hook`: drop beats reject beats accept.
pub fn nft_hook_policy(chains: &[NftChain], hook: &str) -> String {
    let mut best = "accept";
    for c in chains.iter().filter(|c| c.hook == hook) {
        let p = match (c.policy.as_str(), c.final_verdict.as_deref()) {
            ("accept", Some(v)) => v,
            (p, _) => p,
        };
        best = match (best, p) {
            ("drop", _) | (_, "drop") => "drop",
            ("unknown", _) | (_, "unknown") => "unknown",
            ("reject", _) | (_, "reject") => "reject",
            _ => "accept",
        };
    }
    best.to_string()
}

/// nftables facts from the config file at `path` and the files it includes.
pub(super) fn nft_facts(r: &mut Reader<'_>, path: &str, text: &str) -> NftFacts {
    let mut rs = parse_nft(text);
    let mut included = Vec::new();
    // Includes may include more files; bounded to stop cycles.
    let mut queue = std::mem::take(&mut rs.includes);
    let mut seen = 0;
    while let Some(pattern) = queue.pop() {
        seen += 1;
        if seen > 64 {
            break;
        }
        let files = if pattern.contains('*') || pattern.contains('?') {
            r.root.glob(&pattern).unwrap_or_default()
        } else {
            vec![pattern]
        };
        for file in files {
            if included.contains(&file) {
                continue;
            }
            if let Some(t) = r.read(&file) {
                let sub = parse_nft(&t);
                queue.extend(sub.includes);
                merge_chains(&mut rs.chains, sub.chains);
                included.push(file);
            }
        }
    }
    NftFacts {
        // Decided by the caller from the package database.
        installed: true,
        installed_by: String::new(),
        enabled: false,
        config_file: path.to_string(),
        included_files: included,
        input_policy: nft_hook_policy(&rs.chains, "input"),
        forward_policy: nft_hook_policy(&rs.chains, "forward"),
        output_policy: nft_hook_policy(&rs.chains, "output"),
        chains: rs.chains.len() as u64,
        rules_count: rs.chains.iter().map(|c| c.rules).sum(),
    }
}

fn merge_chains(into: &mut Vec<NftChain>, more: Vec<NftChain>) {
    for c in more {
        match into.iter_mut().find(|x| x.key == c.key) {
            Some(x) => {
                if !c.hook.is_empty() {
                    x.hook = c.hook;
                }
                if c.policy != "accept" {
                    x.policy = c.policy;
                }
                x.rules += c.rules;
                if c.rules > 0 {
                    x.final_verdict = c.final_verdict;
                }
            }
            None => into.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nft_quirks() {
        let rs = parse_nft(
            "add table inet t\nadd chain inet t in { type filter hook input priority 0 ; policy accept ; }\n\
             table ip filter { chain INPUT { type filter hook input priority 0; tcp dport 22 accept; reject with icmp type port-unreachable } }",
        );
        assert_eq!(rs.chains.len(), 2);
        assert_eq!(nft_hook_policy(&rs.chains, "input"), "reject");
        assert_eq!(nft_hook_policy(&rs.chains, "forward"), "accept");
    }
}
