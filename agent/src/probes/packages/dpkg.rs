//! dpkg: deb822 stanzas, `/var/lib/dpkg/status` and the installed inventory.

use std::collections::{BTreeMap, BTreeSet};

/// Collects `Package`, `Architecture`, `Version`, `Status` of RFC 822 paragraphs fed line by line.
#[derive(Debug, Default)]
pub(super) struct StanzaReader {
    cur: Stanza,
}

/// The fields of one paragraph the probe uses.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Stanza {
    /// Package.
    pub package: String,
    /// Architecture.
    pub architecture: String,
    /// Version.
    pub version: String,
    /// Status (dpkg status only).
    pub status: String,
    /// Source (`name` or `name (version)`; empty when the source is the binary).
    pub source: String,
}

impl StanzaReader {
    /// Feed one line; returns a finished paragraph at a blank line.
    pub(super) fn feed(&mut self, line: &str) -> Option<Stanza> {
        let line = line.trim_end_matches(['\r', '\n']);
        if line.trim().is_empty() {
            return self.finish();
        }
        if line.starts_with([' ', '\t']) {
            return None; // continuation line of a multi-line field
        }
        if let Some((k, v)) = line.split_once(':') {
            let v = v.trim();
            match k {
                "Package" => self.cur.package = v.to_string(),
                "Architecture" => self.cur.architecture = v.to_string(),
                "Version" => self.cur.version = v.to_string(),
                "Status" => self.cur.status = v.to_string(),
                "Source" => self.cur.source = v.to_string(),
                _ => {}
            }
        }
        None
    }

    pub(super) fn finish(&mut self) -> Option<Stanza> {
        let s = std::mem::take(&mut self.cur);
        (!s.package.is_empty()).then_some(s)
    }
}

/// Parse RFC 822 package paragraphs (dpkg status, apt `Packages` lists).
pub fn parse_stanzas(text: &str) -> Vec<Stanza> {
    let mut r = StanzaReader::default();
    let mut out: Vec<Stanza> = text.lines().filter_map(|l| r.feed(l)).collect();
    out.extend(r.finish());
    out
}

/// The dpkg inventory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DpkgInventory {
    /// (name, arch) → version of installed packages.
    pub installed: BTreeMap<(String, String), String>,
    /// Names in a broken state.
    pub partial: BTreeSet<String>,
    /// (name, arch) → the `Source:` field of installed packages that have one.
    pub sources: BTreeMap<(String, String), String>,
}

/// Parse `/var/lib/dpkg/status`.
pub fn parse_dpkg_status(text: &str) -> DpkgInventory {
    let mut inv = DpkgInventory::default();
    for s in parse_stanzas(text) {
        let state = s.status.split_whitespace().nth(2).unwrap_or("");
        match state {
            "installed" | "triggers-pending" | "triggers-awaited" => {
                if !s.source.is_empty() {
                    inv.sources
                        .insert((s.package.clone(), s.architecture.clone()), s.source);
                }
                inv.installed.insert((s.package, s.architecture), s.version);
            }
            "half-installed" | "unpacked" | "half-configured" => {
                inv.partial.insert(s.package);
            }
            _ => {}
        }
    }
    inv
}

// ---------------------------------------------------------------- collect
