//! OSV records (<https://ossf.github.io/osv-schema/>), one JSON document
//! each: `affected[].package {ecosystem, name}` with `ranges[]` of type
//! `ECOSYSTEM` (`events`: `introduced`, `fixed`, `last_affected`) and
//! `versions[]`. Distribution ecosystems name a release (`Debian:12`,
//! `Ubuntu:22.04:LTS`, `AlmaLinux:9`, `Rocky Linux:9`); others (PyPI, npm,
//! `Ubuntu:Pro:*`, an ecosystem without a release) are skipped and counted.

use super::FeedError;
use crate::vuln::index::{Entry, Release, SnapshotIndex, Status, Urgency};
use serde::Deserialize;
use std::collections::BTreeMap;

/// What adding records skipped and kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OsvStats {
    /// Records read.
    pub records: usize,
    /// Withdrawn records (ignored).
    pub withdrawn: usize,
    /// `affected` items outside a known distribution release.
    pub skipped_affected: usize,
    /// Entries added.
    pub entries: usize,
}

#[derive(Deserialize)]
struct Record {
    id: String,
    #[serde(default)]
    withdrawn: Option<String>,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    upstream: Vec<String>,
    #[serde(default)]
    severity: Vec<Severity>,
    #[serde(default)]
    affected: Vec<Affected>,
    #[serde(default)]
    database_specific: Option<BTreeMap<String, serde_json::Value>>,
}

#[derive(Deserialize)]
struct Severity {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    score: String,
}

#[derive(Deserialize)]
struct Affected {
    package: Option<Package>,
    #[serde(default)]
    ranges: Vec<Range>,
    #[serde(default)]
    versions: Vec<String>,
    #[serde(default)]
    ecosystem_specific: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default)]
    database_specific: Option<BTreeMap<String, serde_json::Value>>,
}

#[derive(Deserialize)]
struct Package {
    ecosystem: String,
    name: String,
}

#[derive(Deserialize)]
struct Range {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    events: Vec<BTreeMap<String, String>>,
}

/// The release an OSV ecosystem names, if it is a known distribution's.
pub fn ecosystem_release(ecosystem: &str) -> Option<Release> {
    let mut parts = ecosystem.split(':');
    let distro = parts.next()?.trim().to_ascii_lowercase();
    let distro = match distro.as_str() {
        "debian" => "debian",
        "ubuntu" => "ubuntu",
        "almalinux" => "almalinux",
        "rocky linux" => "rocky",
        "red hat" => "rhel",
        "alpine" => "alpine",
        _ => return None,
    };
    let name = parts.next()?.trim();
    if name.is_empty() || name.eq_ignore_ascii_case("pro") {
        return None;
    }
    Some(Release::new(distro, name))
}

fn urgency_of(rec: &Record, aff: &Affected) -> Urgency {
    let word = |m: &Option<BTreeMap<String, serde_json::Value>>, k: &str| {
        m.as_ref()
            .and_then(|m| m.get(k))
            .and_then(|v| v.as_str())
            .map(Urgency::parse)
            .filter(|u| *u != Urgency::Unknown)
    };
    word(&aff.ecosystem_specific, "urgency")
        .or_else(|| word(&aff.ecosystem_specific, "severity"))
        .or_else(|| word(&aff.database_specific, "urgency"))
        .or_else(|| word(&aff.database_specific, "severity"))
        .or_else(|| word(&rec.database_specific, "severity"))
        .or_else(|| {
            rec.severity
                .iter()
                .filter(|s| !s.kind.starts_with("CVSS"))
                .map(|s| Urgency::parse(&s.score))
                .find(|u| *u != Urgency::Unknown)
        })
        .unwrap_or(Urgency::Unknown)
}

/// The CVE ids a record speaks for: its own id when it is a CVE (also as
/// `DEBIAN-CVE-…`, `UBUNTU-CVE-…`), else the CVEs among its aliases and
/// upstream ids, else its own id.
fn cves_of(rec: &Record) -> Vec<String> {
    let own = rec.id.find("CVE-").map(|at| &rec.id[at..]);
    if let Some(own) = own {
        return vec![own.to_string()];
    }
    let mut out: Vec<String> = rec
        .aliases
        .iter()
        .chain(&rec.upstream)
        .filter(|a| a.starts_with("CVE-"))
        .cloned()
        .collect();
    out.sort();
    out.dedup();
    if out.is_empty() {
        out.push(rec.id.clone());
    }
    out
}

/// Add one OSV record (`bytes`, named `file` in errors) to the index.
pub fn add_osv_record(
    index: &mut SnapshotIndex,
    file: &str,
    bytes: &[u8],
    stats: &mut OsvStats,
) -> Result<(), FeedError> {
    let rec: Record = serde_json::from_slice(bytes).map_err(|e| FeedError::from_json(file, &e))?;
    stats.records += 1;
    if rec.withdrawn.is_some() {
        stats.withdrawn += 1;
        return Ok(());
    }
    let cves = cves_of(&rec);
    for aff in &rec.affected {
        let Some(pkg) = &aff.package else {
            stats.skipped_affected += 1;
            continue;
        };
        let Some(release) = ecosystem_release(&pkg.ecosystem) else {
            stats.skipped_affected += 1;
            continue;
        };
        let urgency = urgency_of(&rec, aff);
        let mut spans: Vec<(Option<String>, Option<String>, Option<String>)> = Vec::new();
        for range in aff.ranges.iter().filter(|r| r.kind == "ECOSYSTEM") {
            let mut open: Option<Option<String>> = None;
            for ev in &range.events {
                if let Some(v) = ev.get("introduced") {
                    let v = (v != "0").then(|| v.clone());
                    if let Some(prev) = open.replace(v.clone()) {
                        // Two introductions in a row: the earlier one wins.
                        open = Some(prev);
                    }
                } else if let Some(f) = ev.get("fixed") {
                    spans.push((open.take().flatten(), Some(f.clone()), None));
                } else if let Some(l) = ev.get("last_affected") {
                    spans.push((open.take().flatten(), None, Some(l.clone())));
                }
            }
            if let Some(intro) = open {
                spans.push((intro, None, None));
            }
        }
        let listed = spans.is_empty() && !aff.versions.is_empty();
        if spans.is_empty() && !listed {
            stats.skipped_affected += 1;
            continue;
        }
        for cve in &cves {
            if listed {
                index.push(
                    release.clone(),
                    &pkg.name,
                    Entry {
                        cve: cve.clone(),
                        status: Status::Open,
                        fixed: None,
                        introduced: None,
                        last_affected: None,
                        versions: aff.versions.clone(),
                        urgency,
                    },
                );
                stats.entries += 1;
            }
            for (introduced, fixed, last) in &spans {
                index.push(
                    release.clone(),
                    &pkg.name,
                    Entry {
                        cve: cve.clone(),
                        status: if fixed.is_some() {
                            Status::Fixed
                        } else {
                            Status::Open
                        },
                        fixed: fixed.clone(),
                        introduced: introduced.clone(),
                        last_affected: last.clone(),
                        versions: Vec::new(),
                        urgency,
                    },
                );
                stats.entries += 1;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vuln::index::FeedFormat;

    const DEBIAN: &str = r#"{"id": "DEBIAN-CVE-2024-6387", "modified": "2024-07-02T00:00:00Z",
      "upstream": ["CVE-2024-6387"],
      "affected": [{"package": {"ecosystem": "Debian:12", "name": "openssh"},
        "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:9.2p1-2+deb12u3"}]}],
        "ecosystem_specific": {"urgency": "high"}},
        {"package": {"ecosystem": "PyPI", "name": "x"}}]}"#;

    const ALMA: &str = r#"{"id": "ALSA-2024:4312", "aliases": ["CVE-2024-6387"],
      "upstream": ["CVE-2024-6387", "CVE-2024-9999"],
      "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N"}],
      "database_specific": {"severity": "Important"},
      "affected": [{"package": {"ecosystem": "AlmaLinux:9", "name": "openssh"},
        "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "8.7p1-38.el9_4.1"}]}]}]}"#;

    #[test]
    fn distribution_records_become_entries() {
        let mut ix = SnapshotIndex::new(FeedFormat::Osv);
        let mut st = OsvStats::default();
        add_osv_record(&mut ix, "d.json", DEBIAN.as_bytes(), &mut st).unwrap();
        add_osv_record(&mut ix, "a.json", ALMA.as_bytes(), &mut st).unwrap();
        assert_eq!(st.records, 2);
        assert_eq!(st.skipped_affected, 1);
        let d = &ix.releases[&Release::new("debian", "12")].packages["openssh"][0];
        assert_eq!(d.cve, "CVE-2024-6387");
        assert_eq!(d.fixed.as_deref(), Some("1:9.2p1-2+deb12u3"));
        assert_eq!(d.introduced, None);
        assert_eq!(d.urgency, Urgency::High);
        let a = &ix.releases[&Release::new("almalinux", "9")].packages["openssh"];
        assert_eq!(a.len(), 2);
        assert_eq!(a[1].cve, "CVE-2024-9999");
        assert_eq!(a[0].urgency, Urgency::High);
    }

    #[test]
    fn ecosystems_name_releases() {
        assert_eq!(
            ecosystem_release("Ubuntu:22.04:LTS"),
            Some(Release::new("ubuntu", "22.04"))
        );
        assert_eq!(
            ecosystem_release("Rocky Linux:9"),
            Some(Release::new("rocky", "9"))
        );
        assert_eq!(ecosystem_release("Ubuntu:Pro:18.04:LTS"), None);
        assert_eq!(ecosystem_release("Debian"), None);
        assert_eq!(ecosystem_release("npm"), None);
    }

    #[test]
    fn broken_records_are_errors_with_their_position() {
        let mut ix = SnapshotIndex::new(FeedFormat::Osv);
        let mut st = OsvStats::default();
        for n in 0..DEBIAN.len() {
            let r = add_osv_record(&mut ix, "d.json", &DEBIAN.as_bytes()[..n], &mut st);
            assert!(matches!(r, Err(FeedError::Json { .. })), "{n}");
        }
        let e = add_osv_record(&mut ix, "d.json", br#"{"id": 5}"#, &mut st).unwrap_err();
        assert!(e.to_string().starts_with("d.json: line 1, column"), "{e}");
        assert_eq!(ix.entry_count(), 0);
    }
}
