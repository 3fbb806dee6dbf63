//! Probe `firewall`: which host firewall is configured and enabled at boot,
//! and its default policies for incoming and forwarded traffic.
//!
//! Reads:
//! - nftables: `/etc/nftables.conf` (Debian/Ubuntu) or `/etc/sysconfig/nftables.conf`
//!   (RHEL family) and the files it `include`s; base chains such as
//!   `chain input { type filter hook input priority 0; policy drop; }`;
//! - iptables persistent rules: `/etc/iptables/rules.v4` and `rules.v6`
//!   (Debian `iptables-persistent`), `/etc/sysconfig/iptables` and `ip6tables`
//!   (RHEL `iptables-services`), in `iptables-save` format (`:INPUT DROP [0:0]`);
//! - ufw: `/etc/ufw/ufw.conf` (`ENABLED=yes`), `/etc/default/ufw`
//!   (`DEFAULT_INPUT_POLICY="DROP"`), rules in `/etc/ufw/user.rules` and `user6.rules`;
//! - firewalld: `/etc/firewalld/firewalld.conf` (`DefaultZone=`) and the zone file
//!   `/etc/firewalld/zones/<zone>.xml`, else `/usr/lib/firewalld/zones/<zone>.xml`
//!   (its `target`, services and ports);
//! - enablement at boot: unit links in `/etc/systemd/system/*.wants/`
//!   (`nftables.service`, `netfilter-persistent.service`, `iptables.service`,
//!   `ufw.service`, `firewalld.service`), masked units excluded;
//! - live only: loaded iptables tables from `/proc/net/ip_tables_names` and
//!   `/proc/net/ip6_tables_names`.
//!
//! The active firewall is the first *enabled* one of firewalld, ufw, nftables,
//! iptables; rules loaded by hand at run time are not seen from files.

use super::common::reader::Reader;
use super::common::systemd;
use super::Outcome;
use crate::hostroot::HostRoot;
use serde::Serialize;
use std::collections::BTreeMap;

/// The probe's schema: id, version, controls and every field (in core).
pub use evident_core::schema::probes::firewall::SCHEMA;

/// Everything the probe reports.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FirewallFacts {
    /// Active firewall.
    pub active_firewall: String,
    /// A firewall is active.
    pub enabled: bool,
    /// Default input policy.
    pub default_input_policy: String,
    /// Default forward policy.
    pub default_forward_policy: String,
    /// nftables.
    pub nftables: NftFacts,
    /// iptables.
    pub iptables: IptablesFacts,
    /// ufw.
    pub ufw: UfwFacts,
    /// firewalld.
    pub firewalld: FirewalldFacts,
    /// Live state read.
    pub runtime_collected: bool,
    /// Loaded iptables tables.
    pub runtime_iptables_tables: Vec<String>,
    /// Loaded ip6tables tables.
    pub runtime_ip6tables_tables: Vec<String>,
    /// Unreadable files.
    pub unreadable: Vec<String>,
}

/// nftables facts.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NftFacts {
    /// Config exists.
    pub installed: bool,
    /// Unit enabled.
    pub enabled: bool,
    /// Config file.
    pub config_file: String,
    /// Included files.
    pub included_files: Vec<String>,
    /// Input policy.
    pub input_policy: String,
    /// Forward policy.
    pub forward_policy: String,
    /// Output policy.
    pub output_policy: String,
    /// Chains.
    pub chains: u64,
    /// Rules.
    pub rules_count: u64,
}

/// iptables facts.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct IptablesFacts {
    /// v4 rules file exists.
    pub rules_present: bool,
    /// Unit enabled.
    pub enabled: bool,
    /// v4 rules file.
    pub config_file: String,
    /// INPUT.
    pub input_policy: String,
    /// FORWARD.
    pub forward_policy: String,
    /// OUTPUT.
    pub output_policy: String,
    /// -A rules in filter.
    pub rules_count: u64,
    /// v6 rules file exists.
    pub ipv6_rules_present: bool,
    /// v6 INPUT.
    pub ipv6_input_policy: String,
}

/// ufw facts.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UfwFacts {
    /// ufw.conf exists.
    pub installed: bool,
    /// ENABLED=yes.
    pub enabled: bool,
    /// ufw.service enabled.
    pub service_enabled: bool,
    /// DEFAULT_INPUT_POLICY.
    pub default_input_policy: String,
    /// DEFAULT_FORWARD_POLICY.
    pub default_forward_policy: String,
    /// DEFAULT_OUTPUT_POLICY.
    pub default_output_policy: String,
    /// User rules.
    pub user_rules_count: u64,
}

/// firewalld facts.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FirewalldFacts {
    /// Installed.
    pub installed: bool,
    /// Unit enabled.
    pub enabled: bool,
    /// DefaultZone.
    pub default_zone: String,
    /// Zone file.
    pub zone_file: String,
    /// Zone target.
    pub zone_target: String,
    /// Services.
    pub services: Vec<String>,
    /// Ports.
    pub ports: Vec<String>,
}

// ---------------------------------------------------------------- nftables

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

// ---------------------------------------------------------------- iptables

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

// ---------------------------------------------------------------- ufw

/// Parse `/etc/ufw/ufw.conf` and `/etc/default/ufw`; `rules` are the texts of user.rules files.
pub fn parse_ufw(conf: &str, defaults: &str, rules: &[&str]) -> UfwFacts {
    let conf = shell_vars(conf);
    let defs = shell_vars(defaults);
    let pol = |k: &str| match defs.get(k).map(|v| v.to_ascii_lowercase()) {
        Some(v) if matches!(v.as_str(), "drop" | "reject" | "accept") => v,
        _ => "unknown".to_string(),
    };
    UfwFacts {
        installed: true,
        enabled: conf
            .get("ENABLED")
            .is_some_and(|v| v.eq_ignore_ascii_case("yes")),
        service_enabled: false,
        default_input_policy: pol("DEFAULT_INPUT_POLICY"),
        default_forward_policy: pol("DEFAULT_FORWARD_POLICY"),
        default_output_policy: pol("DEFAULT_OUTPUT_POLICY"),
        user_rules_count: rules
            .iter()
            .flat_map(|t| t.lines())
            .filter(|l| l.trim_start().starts_with("### tuple ###"))
            .count() as u64,
    }
}

/// `KEY=value` / `KEY="value"` lines.
fn shell_vars(text: &str) -> BTreeMap<String, String> {
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

// ---------------------------------------------------------------- firewalld

/// `DefaultZone=` from firewalld.conf (public when unset).
pub fn parse_firewalld_conf(text: &str) -> String {
    shell_vars(text)
        .get("DefaultZone")
        .filter(|z| !z.is_empty())
        .cloned()
        .unwrap_or_else(|| "public".to_string())
}

/// Target, services and ports of a firewalld zone XML file.
pub fn parse_firewalld_zone(xml: &str) -> (String, Vec<String>, Vec<String>) {
    let cleaned = strip_between(&strip_between(xml, "<!--", "-->"), "<rule", "</rule>");
    let mut target = "default".to_string();
    let mut services = Vec::new();
    let mut ports = Vec::new();
    for tag in cleaned.split('<').skip(1) {
        let tag = tag.split('>').next().unwrap_or("");
        let name = tag.split_whitespace().next().unwrap_or("");
        match name {
            "zone" => {
                if let Some(t) = xml_attr(tag, "target") {
                    target = t;
                }
            }
            "service" => services.extend(xml_attr(tag, "name")),
            "port" => {
                if let (Some(p), Some(proto)) = (xml_attr(tag, "port"), xml_attr(tag, "protocol")) {
                    ports.push(format!("{p}/{proto}"));
                }
            }
            _ => {}
        }
    }
    (target, services, ports)
}

fn strip_between(s: &str, open: &str, close: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(open) {
        out.push_str(rest.get(..i).unwrap_or(""));
        let after = rest.get(i..).unwrap_or("");
        rest = match after.find(close) {
            Some(j) => after.get(j + close.len()..).unwrap_or(""),
            None => "",
        };
    }
    out.push_str(rest);
    out
}

fn xml_attr(tag: &str, attr: &str) -> Option<String> {
    let mut rest = tag;
    while let Some(i) = rest.find(attr) {
        let before_ok = rest
            .get(..i)
            .and_then(|b| b.chars().last())
            .is_none_or(char::is_whitespace);
        let after = rest.get(i + attr.len()..).unwrap_or("").trim_start();
        if let (true, Some(v)) = (before_ok, after.strip_prefix('=')) {
            let v = v.trim_start();
            let q = v.chars().next()?;
            if q == '"' || q == '\'' {
                return v.get(1..)?.split(q).next().map(str::to_string);
            }
        }
        rest = rest.get(i + attr.len()..).unwrap_or("");
    }
    None
}

/// Map a firewalld zone target to a policy word.
pub fn firewalld_policy(target: &str) -> String {
    match target {
        "DROP" => "drop",
        "ACCEPT" => "accept",
        "default" | "%%REJECT%%" | "REJECT" => "reject",
        _ => "unknown",
    }
    .to_string()
}

// ---------------------------------------------------------------- collect

/// Collect under `root`.
pub fn collect(root: &HostRoot) -> Outcome {
    Outcome::from_facts(&gather(root, root.is_live()))
}

fn gather(root: &HostRoot, live: bool) -> FirewallFacts {
    let mut r = Reader::new(root);
    let units = systemd::enabled_units(root);
    let enabled = |names: &[&str]| units.iter().any(|u| names.contains(&u.as_str()));
    let mut f = FirewallFacts::default();

    // nftables
    f.nftables.input_policy = "unknown".into();
    f.nftables.forward_policy = "unknown".into();
    f.nftables.output_policy = "unknown".into();
    if let Some((path, text)) = r.first(&["/etc/nftables.conf", "/etc/sysconfig/nftables.conf"]) {
        f.nftables = nft_facts(&mut r, &path, &text);
    }
    f.nftables.enabled = enabled(&["nftables.service"]);

    // iptables
    f.iptables = IptablesFacts {
        input_policy: "unknown".into(),
        forward_policy: "unknown".into(),
        output_policy: "unknown".into(),
        ipv6_input_policy: "unknown".into(),
        ..IptablesFacts::default()
    };
    if let Some((path, text)) = r.first(&["/etc/iptables/rules.v4", "/etc/sysconfig/iptables"]) {
        f.iptables = IptablesFacts {
            rules_present: true,
            config_file: path,
            ipv6_input_policy: "unknown".into(),
            ..parse_iptables_save(&text)
        };
    }
    if let Some((_, text)) = r.first(&["/etc/iptables/rules.v6", "/etc/sysconfig/ip6tables"]) {
        f.iptables.ipv6_rules_present = true;
        f.iptables.ipv6_input_policy = parse_iptables_save(&text).input_policy;
    }
    f.iptables.enabled = enabled(&["netfilter-persistent.service", "iptables.service"]);

    // ufw
    f.ufw = UfwFacts {
        default_input_policy: "unknown".into(),
        default_forward_policy: "unknown".into(),
        default_output_policy: "unknown".into(),
        ..UfwFacts::default()
    };
    if let Some(conf) = r.read("/etc/ufw/ufw.conf") {
        let defaults = r.read("/etc/default/ufw").unwrap_or_default();
        let rules: Vec<String> = ["/etc/ufw/user.rules", "/etc/ufw/user6.rules"]
            .iter()
            .filter_map(|p| r.read(p))
            .collect();
        let refs: Vec<&str> = rules.iter().map(String::as_str).collect();
        f.ufw = parse_ufw(&conf, &defaults, &refs);
    }
    f.ufw.service_enabled = enabled(&["ufw.service"]);

    // firewalld
    let conf = r.read("/etc/firewalld/firewalld.conf");
    f.firewalld.installed = conf.is_some() || root.exists("/usr/lib/firewalld");
    if f.firewalld.installed {
        let zone = conf
            .as_deref()
            .map_or_else(|| "public".to_string(), parse_firewalld_conf);
        let safe = !zone.contains('/') && !zone.contains("..");
        let zone_paths = [
            format!("/etc/firewalld/zones/{zone}.xml"),
            format!("/usr/lib/firewalld/zones/{zone}.xml"),
        ];
        let found = if safe {
            zone_paths
                .iter()
                .find_map(|p| r.read(p).map(|t| (p.clone(), t)))
        } else {
            None
        };
        f.firewalld.zone_target = "unknown".into();
        if let Some((p, xml)) = found {
            let (target, services, ports) = parse_firewalld_zone(&xml);
            f.firewalld.zone_file = p;
            f.firewalld.zone_target = target;
            f.firewalld.services = services;
            f.firewalld.ports = ports;
        }
        f.firewalld.default_zone = zone;
    }
    f.firewalld.enabled = enabled(&["firewalld.service"]);

    // Which one is in charge.
    let (active, input, forward) = if f.firewalld.installed && f.firewalld.enabled {
        let p = firewalld_policy(&f.firewalld.zone_target);
        ("firewalld", p.clone(), p)
    } else if f.ufw.installed && f.ufw.enabled && f.ufw.service_enabled {
        (
            "ufw",
            f.ufw.default_input_policy.clone(),
            f.ufw.default_forward_policy.clone(),
        )
    } else if f.nftables.installed && f.nftables.enabled {
        (
            "nftables",
            f.nftables.input_policy.clone(),
            f.nftables.forward_policy.clone(),
        )
    } else if f.iptables.rules_present && f.iptables.enabled {
        (
            "iptables",
            f.iptables.input_policy.clone(),
            f.iptables.forward_policy.clone(),
        )
    } else {
        ("none", "unknown".to_string(), "unknown".to_string())
    };
    f.active_firewall = active.to_string();
    f.enabled = active != "none";
    f.default_input_policy = input;
    f.default_forward_policy = forward;

    if live {
        f.runtime_collected = true;
        for (path, out) in [
            ("/proc/net/ip_tables_names", &mut f.runtime_iptables_tables),
            (
                "/proc/net/ip6_tables_names",
                &mut f.runtime_ip6tables_tables,
            ),
        ] {
            if let Some(t) = r.read(path) {
                *out = t.split_whitespace().map(str::to_string).collect();
                out.sort();
            }
        }
    }
    f.unreadable = r.unreadable;
    f
}

fn nft_facts(r: &mut Reader<'_>, path: &str, text: &str) -> NftFacts {
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
        installed: true,
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

/// Feed `input` to every parser (for cargo-fuzz); must never panic.
pub fn fuzz_parse(input: &str) {
    let rs = parse_nft(input);
    let _ = nft_hook_policy(&rs.chains, "input");
    let _ = parse_iptables_save(input);
    let _ = parse_ufw(input, input, &[input]);
    let _ = parse_firewalld_conf(input);
    let _ = parse_firewalld_zone(input);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::probes::common::testutil::{field_names, link, tree};

    macro_rules! fx {
        ($p:literal) => {
            include_str!(concat!("../../tests/fixtures/firewall/", $p))
        };
    }

    /// Debian 12 with nftables enabled, default-drop input.
    pub(crate) fn debian12_nftables() -> tempfile::TempDir {
        let dir = tree(
            &[
                ("/etc/nftables.conf", fx!("debian12/nftables.conf")),
                (
                    "/etc/nftables.d/50-monitoring.nft",
                    fx!("debian12/50-monitoring.nft"),
                ),
            ],
            &[],
        );
        link(
            &dir,
            "/lib/systemd/system/nftables.service",
            "/etc/systemd/system/sysinit.target.wants/nftables.service",
        );
        dir
    }

    #[test]
    fn debian12_nftables_default_drop() {
        let dir = debian12_nftables();
        let f = gather(&HostRoot::offline(dir.path()), false);
        assert!(f.unreadable.is_empty(), "{:?}", f.unreadable);
        assert_eq!(f.active_firewall, "nftables");
        assert!(f.enabled);
        assert_eq!(f.default_input_policy, "drop");
        assert_eq!(f.default_forward_policy, "drop");
        assert_eq!(f.nftables.output_policy, "accept");
        assert_eq!(
            f.nftables.included_files,
            vec!["/etc/nftables.d/50-monitoring.nft"]
        );
        assert_eq!(f.nftables.chains, 3);
        assert_eq!(f.nftables.rules_count, 9);
        assert!(!f.runtime_collected && f.runtime_iptables_tables.is_empty());
    }

    #[test]
    fn debian_default_nftables_accepts_and_is_not_enabled() {
        let dir = tree(
            &[("/etc/nftables.conf", fx!("debian12/nftables-default.conf"))],
            &[],
        );
        let f = gather(&HostRoot::offline(dir.path()), false);
        assert_eq!(f.active_firewall, "none");
        assert!(!f.enabled);
        assert_eq!(f.default_input_policy, "unknown");
        assert_eq!(f.nftables.input_policy, "accept");
        assert!(f.nftables.installed && !f.nftables.enabled);
    }

    #[test]
    fn iptables_persistent_and_rhel_reject_rule() {
        let f = parse_iptables_save(fx!("debian12/rules.v4"));
        assert_eq!(
            (f.input_policy.as_str(), f.forward_policy.as_str()),
            ("drop", "drop")
        );
        assert_eq!(f.rules_count, 4);
        let r = parse_iptables_save(fx!("rhel9/iptables"));
        assert_eq!(r.input_policy, "reject");
        assert_eq!(r.forward_policy, "accept");
        let dir = tree(&[("/etc/sysconfig/iptables", fx!("rhel9/iptables"))], &[]);
        link(
            &dir,
            "/usr/lib/systemd/system/iptables.service",
            "/etc/systemd/system/multi-user.target.wants/iptables.service",
        );
        let f = gather(&HostRoot::offline(dir.path()), false);
        assert_eq!(f.active_firewall, "iptables");
        assert_eq!(f.default_input_policy, "reject");
        assert_eq!(f.iptables.config_file, "/etc/sysconfig/iptables");
    }

    #[test]
    fn ubuntu_ufw() {
        let dir = tree(
            &[
                ("/etc/ufw/ufw.conf", fx!("ubuntu/ufw.conf")),
                ("/etc/default/ufw", fx!("ubuntu/default-ufw")),
                ("/etc/ufw/user.rules", fx!("ubuntu/user.rules")),
                ("/etc/ufw/user6.rules", fx!("ubuntu/user6.rules")),
                ("/etc/nftables.conf", fx!("debian12/nftables-default.conf")),
            ],
            &[],
        );
        link(
            &dir,
            "/lib/systemd/system/ufw.service",
            "/etc/systemd/system/multi-user.target.wants/ufw.service",
        );
        let f = gather(&HostRoot::offline(dir.path()), false);
        assert_eq!(f.active_firewall, "ufw");
        assert_eq!(f.default_input_policy, "drop");
        assert_eq!(f.ufw.default_output_policy, "accept");
        assert_eq!(f.ufw.user_rules_count, 3);
        // ENABLED=no: installed, not active.
        let off = parse_ufw("ENABLED=no\n", fx!("ubuntu/default-ufw"), &[]);
        assert!(off.installed && !off.enabled);
    }

    #[test]
    fn rhel9_firewalld_public_zone() {
        let dir = tree(
            &[
                ("/etc/firewalld/firewalld.conf", fx!("rhel9/firewalld.conf")),
                (
                    "/usr/lib/firewalld/zones/public.xml",
                    fx!("rhel9/public.xml"),
                ),
                (
                    "/usr/lib/firewalld/zones/trusted.xml",
                    fx!("rhel9/trusted.xml"),
                ),
            ],
            &[],
        );
        link(
            &dir,
            "/usr/lib/systemd/system/firewalld.service",
            "/etc/systemd/system/multi-user.target.wants/firewalld.service",
        );
        let f = gather(&HostRoot::offline(dir.path()), true);
        assert_eq!(f.active_firewall, "firewalld");
        assert_eq!(f.default_input_policy, "reject");
        assert_eq!(f.firewalld.zone_target, "default");
        assert_eq!(
            f.firewalld.services,
            vec!["ssh", "dhcpv6-client", "cockpit"]
        );
        assert_eq!(f.firewalld.ports, vec!["8443/tcp"]);
        assert_eq!(f.firewalld.zone_file, "/usr/lib/firewalld/zones/public.xml");
        assert!(f.runtime_collected);
        let (t, _, _) = parse_firewalld_zone(fx!("rhel9/trusted.xml"));
        assert_eq!(firewalld_policy(&t), "accept");
    }

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

    #[test]
    fn empty_root_and_fields_documented() {
        let dir = tempfile::tempdir().unwrap();
        let Outcome::Ok(v) = collect(&HostRoot::offline(dir.path())) else {
            panic!()
        };
        assert_eq!(v["active_firewall"], "none");
        assert_eq!(v["enabled"], false);
        let mut names = Vec::new();
        field_names(&v, "", &mut names);
        for n in names {
            assert!(
                SCHEMA.fields.iter().any(|f| f.path == n),
                "undocumented {n}"
            );
        }
        for s in [
            "",
            "{",
            "}",
            "chain x {",
            "table {{{",
            "\"",
            "-A INPUT -m",
            "<zone target=",
            "<port port=\"1\"",
            ":INPUT",
            "include",
        ] {
            fuzz_parse(s);
        }
    }
}
