//! firewalld: the default zone and its zone XML file.

use super::vars::shell_vars;

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
