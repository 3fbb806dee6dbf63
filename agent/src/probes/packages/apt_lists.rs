//! apt package lists (`/var/lib/apt/lists/*_Packages`): candidate versions,
//! security lists and pending updates.

use super::dpkg::{parse_stanzas, DpkgInventory, Stanza, StanzaReader};
use super::version::compare_versions;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

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

impl Candidates {
    /// Add what one list offers (see [`read_newest`]), lists taken in the
    /// same order as their paragraphs would be: the result is the same as
    /// adding every paragraph of every list one by one (per key, the first
    /// of the newest versions wins either way).
    pub(super) fn merge(&mut self, list: &Newest, security: bool) {
        for (key, version) in list {
            let maps: &mut [&mut BTreeMap<(String, String), String>] = if security {
                &mut [&mut self.any, &mut self.security]
            } else {
                &mut [&mut self.any]
            };
            for m in maps.iter_mut() {
                match m.get(key) {
                    Some(v) if compare_versions(v, version) != Ordering::Less => {}
                    _ => {
                        m.insert(key.clone(), version.clone());
                    }
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

/// Bytes read from an apt list at a time (the list itself is ~48 MB on
/// Debian 12 and is never held whole: peak memory stays bounded).
pub(super) const CHUNK: usize = 256 * 1024;

/// The most of one list that is read.
pub(super) const MAX_LIST_BYTES: u64 = 512 * 1024 * 1024;

/// What one list offers the installed packages: (name, architecture) →
/// the newest version in that list (the first of equal ones).
pub(super) type Newest = BTreeMap<(String, String), String>;

/// Stream an apt list without loading it whole. A list has tens of thousands
/// of paragraphs and a host installs a few hundred packages, so each
/// `Package:` field is found with `memchr::memmem` and only the paragraphs
/// naming an installed package are parsed (through the same
/// [`StanzaReader`]). `path` only labels errors; `chunk` is the read size.
pub(super) fn read_newest(
    file: impl Read,
    path: &str,
    inv: &DpkgInventory,
    chunk: usize,
) -> Result<Newest, String> {
    let chunk = chunk.max(1);
    let mut reader = file.take(MAX_LIST_BYTES);
    let mut c = Candidates::default();
    let scan = ListScanner::new(inv);
    // `buf[..len]` holds what is read and not yet scanned: at most one
    // incomplete paragraph plus one chunk (a paragraph longer than the
    // buffer doubles it).
    let mut buf: Vec<u8> = vec![0; chunk * 2];
    let mut len = 0;
    loop {
        if buf.len() - len < chunk {
            buf.resize(buf.len() * 2, 0);
        }
        // Read straight into the buffer: no second copy.
        let n = match reader.read(buf.get_mut(len..).unwrap_or_default()) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("{path}: {e}")),
        };
        if n == 0 {
            break;
        }
        // Everything up to the last paragraph break is complete (a break
        // may straddle the previous read's end).
        let from = len.saturating_sub(1);
        len += n;
        let Some(end) = scan.last_break(buf.get(from..len).unwrap_or_default()) else {
            continue;
        };
        let done = from + end;
        scan.paragraphs(buf.get(..done).unwrap_or_default(), &mut |st| {
            c.add(st, false, inv)
        });
        buf.copy_within(done..len, 0);
        len -= done;
    }
    scan.paragraphs(buf.get(..len).unwrap_or_default(), &mut |st| {
        c.add(st, false, inv)
    });
    Ok(c.any)
}

/// Finds the paragraphs of an apt list that name an installed package.
struct ListScanner {
    names: std::collections::HashSet<Vec<u8>>,
    blank: memchr::memmem::Finder<'static>,
    blank_rev: memchr::memmem::FinderRev<'static>,
    package: memchr::memmem::Finder<'static>,
}

impl ListScanner {
    fn new(inv: &DpkgInventory) -> ListScanner {
        ListScanner {
            names: inv
                .installed
                .keys()
                .map(|(n, _)| n.as_bytes().to_vec())
                .collect(),
            blank: memchr::memmem::Finder::new(b"\n\n"),
            blank_rev: memchr::memmem::FinderRev::new(b"\n\n"),
            package: memchr::memmem::Finder::new(b"Package:"),
        }
    }

    /// The end (exclusive) of the last complete paragraph in `buf`.
    fn last_break(&self, buf: &[u8]) -> Option<usize> {
        memchr::memmem::rfind(buf, b"\n\n").map(|i| i + 2)
    }

    /// Call `out` with every paragraph of `text` that names an installed
    /// package. One pass of `memmem` over the text finds each `Package:`
    /// at a line start; a name not installed costs nothing more, and only
    /// the paragraph around an installed one (bounded by blank lines) goes
    /// line by line through the [`StanzaReader`] (which also splits
    /// paragraphs separated by whitespace-only lines).
    fn paragraphs(&self, text: &[u8], out: &mut dyn FnMut(Stanza)) {
        const FIELD: usize = "Package:".len();
        let mut pos = 0;
        while let Some(i) = self.package.find(text.get(pos..).unwrap_or_default()) {
            let at = pos + i;
            let value = text.get(at + FIELD..).unwrap_or_default();
            let line_end = memchr::memchr(b'\n', value).unwrap_or(value.len());
            pos = at + FIELD + line_end;
            let at_line_start = at == 0 || text.get(at - 1) == Some(&b'\n');
            let name = value.get(..line_end).unwrap_or_default().trim_ascii();
            if !at_line_start || !self.names.contains(name) {
                continue;
            }
            let start = self
                .blank_rev
                .rfind(text.get(..at).unwrap_or_default())
                .map_or(0, |j| j + 2);
            let end = self
                .blank
                .find(text.get(at..).unwrap_or_default())
                .map_or(text.len(), |j| at + j + 2);
            let mut sr = StanzaReader::default();
            for line in text
                .get(start..end)
                .unwrap_or_default()
                .split(|&b| b == b'\n')
            {
                if let Some(s) = sr.feed(&String::from_utf8_lossy(line)) {
                    out(s);
                }
            }
            if let Some(s) = sr.finish() {
                out(s);
            }
            // A paragraph is parsed once, however many names it holds.
            pos = pos.max(end);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_lists_agree_with_the_full_parse() {
        let mut inv = DpkgInventory::default();
        for (n, a, v) in [
            ("bash", "amd64", "5.2.15-2"),
            ("tzdata", "all", "2024a-0+deb12u1"),
            ("libc6", "amd64", "2.36-9"),
        ] {
            inv.installed
                .insert((n.to_string(), a.to_string()), v.to_string());
        }
        // Installed and not, multi-line fields, a whitespace-only separator,
        // a `Package:` inside a description, no final newline.
        let mut list = String::new();
        for i in 0..30000 {
            list.push_str(&format!(
                "Package: pkg{i}\nArchitecture: amd64\nVersion: 1.{i}\nDescription: x\n Package: bash\n\n"
            ));
        }
        list.push_str(
            "Package: bash\nVersion: 5.2.15-3\nArchitecture: amd64\nDescription: shell\n more\n\n",
        );
        list.push_str("Package: tzdata\nArchitecture: all\nVersion: 2024b-0+deb12u1\n \nPackage: libc6\nArchitecture: amd64\nVersion: 2.36-9+deb12u4\n\n");
        list.push_str("Package: pkg-last\nArchitecture: amd64\nVersion: 9");
        let mut streamed = Candidates::default();
        let newest = read_newest(list.as_bytes(), "x_security_Packages", &inv, CHUNK).unwrap();
        streamed.merge(&newest, true);
        let mut full = Candidates::default();
        add_packages_list(&mut full, "x_security_Packages", &list, &inv);
        assert_eq!(streamed, full);
        assert_eq!(streamed.security.len(), 3);
        assert_eq!(
            streamed.any[&("libc6".to_string(), "amd64".to_string())],
            "2.36-9+deb12u4"
        );
    }
}
