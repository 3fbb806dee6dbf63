//! apt package lists (`/var/lib/apt/lists/*_Packages`): candidate versions,
//! security lists and pending updates.

use super::dpkg::{parse_stanzas, DpkgInventory, Stanza, StanzaReader};
use super::version::compare_versions;
use crate::hostroot::HostRoot;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};

/// Newest candidates seen in apt lists for installed packages.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Candidates {
    /// (name, arch) → newest version in any list.
    pub any: BTreeMap<(String, String), String>,
    /// (name, arch) → newest version in a security list.
    pub security: BTreeMap<(String, String), String>,
}

impl Candidates {
    /// Record the paragraphs of one list; only installed packages are kept.
    fn add(&mut self, s: Stanza, security: bool, inv: &DpkgInventory) {
        let key = (s.package, s.architecture);
        if !inv.installed.contains_key(&key) {
            return;
        }
        let maps: &mut [&mut BTreeMap<(String, String), String>] = if security {
            &mut [&mut self.any, &mut self.security]
        } else {
            &mut [&mut self.any]
        };
        for m in maps.iter_mut() {
            match m.get(&key) {
                Some(v) if compare_versions(v, &s.version) != Ordering::Less => {}
                _ => {
                    m.insert(key.clone(), s.version.clone());
                }
            }
        }
    }
}

/// Whether an apt list file name is a security list.
pub fn is_security_list(name: &str) -> bool {
    name.contains("security")
}

pub(super) fn is_ignored_list(name: &str) -> bool {
    name.contains("backports") || name.contains("experimental")
}

/// Record one apt `Packages` list given as text.
pub fn add_packages_list(c: &mut Candidates, list_name: &str, text: &str, inv: &DpkgInventory) {
    let security = is_security_list(list_name);
    for s in parse_stanzas(text) {
        c.add(s, security, inv);
    }
}

/// Pending updates: (all names, security names), sorted and unique.
pub fn pending_updates(inv: &DpkgInventory, c: &Candidates) -> (Vec<String>, Vec<String>) {
    let newer = |m: &BTreeMap<(String, String), String>| -> Vec<String> {
        inv.installed
            .iter()
            .filter(|(k, v)| {
                m.get(*k)
                    .is_some_and(|cand| compare_versions(cand, v) == Ordering::Greater)
            })
            .map(|((n, _), _)| n.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    (newer(&c.any), newer(&c.security))
}

// ---------------------------------------------------------------- logs, configs

/// Stream an apt list through the stanza reader without loading it whole.
pub(super) fn stream_list(
    root: &HostRoot,
    path: &str,
    c: &mut Candidates,
    inv: &DpkgInventory,
) -> Result<(), String> {
    let real = root.resolve(path).map_err(|e| e.to_string())?;
    let file = std::fs::File::open(&real).map_err(|e| format!("{path}: {e}"))?;
    let mut reader = BufReader::new(file.take(512 * 1024 * 1024));
    let security = is_security_list(path.rsplit('/').next().unwrap_or(path));
    let mut sr = StanzaReader::default();
    let mut buf = Vec::with_capacity(256);
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| format!("{path}: {e}"))?;
        if n == 0 {
            break;
        }
        // Only a few ASCII fields matter; skip lines that cannot hold them.
        let first = buf.first().copied().unwrap_or(b'\n');
        if !matches!(first, b'P' | b'A' | b'V' | b'\n' | b'\r') {
            continue;
        }
        let line = String::from_utf8_lossy(&buf);
        if let Some(s) = sr.feed(&line) {
            c.add(s, security, inv);
        }
    }
    if let Some(s) = sr.finish() {
        c.add(s, security, inv);
    }
    Ok(())
}
