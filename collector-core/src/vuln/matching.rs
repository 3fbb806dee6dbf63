//! Matching a host's inventory against a snapshot index: per source package
//! and installed source version, the CVEs the distribution records as
//! affecting it on the host's release, with the fixed version when there is
//! one. Pure and deterministic (sorted output).

use super::index::{Entry, Release, SnapshotIndex, Status, Urgency};
use super::inventory::{Inventory, InventoryPackage};
use super::version::{compare, validate, Scheme};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// One CVE affecting one installed source package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageFinding {
    /// CVE id.
    pub cve: String,
    /// Source package.
    pub source: String,
    /// Installed source version.
    pub installed: String,
    /// Installed binary packages built from it, sorted.
    pub packages: Vec<String>,
    /// The distribution's status (`fixed` means a fix exists and is not
    /// installed: actionable).
    pub status: Status,
    /// The fixed version, when one exists.
    pub fixed_version: Option<String>,
    /// Urgency.
    pub urgency: Urgency,
}

/// A package whose version could not be ordered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnknownVersion {
    /// Source package (or binary when no source is known).
    pub package: String,
    /// The version string, as reported or as the feed wrote it.
    pub version: String,
    /// Why it cannot be ordered.
    pub error: String,
}

/// A host's result against one snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostMatch {
    /// The snapshot release the host was filed under (`None`: the snapshot
    /// has nothing for its distribution/release, and `note` says so).
    pub release: Option<Release>,
    /// Why nothing could be matched (empty when matching ran).
    pub note: String,
    /// Source packages looked at.
    pub sources_checked: usize,
    /// Affecting CVEs, sorted by source then CVE.
    pub findings: Vec<PackageFinding>,
    /// Versions that could not be ordered (package or feed side).
    pub unknown_versions: Vec<UnknownVersion>,
    /// CVEs that affect the running kernel but are fixed by an installed
    /// newer kernel: a reboot is pending for them.
    pub kernel_reboot_pending: Vec<String>,
    /// Whether the running kernel's package was found in the inventory
    /// (live hosts only), so `kernel_reboot_pending` means something.
    pub kernel_checked: bool,
}

impl HostMatch {
    /// Open CVEs with a fix available (the actionable ones).
    pub fn actionable(&self) -> impl Iterator<Item = &PackageFinding> {
        self.findings.iter().filter(|f| f.status == Status::Fixed)
    }

    /// Open CVEs without a fix.
    pub fn unfixed(&self) -> impl Iterator<Item = &PackageFinding> {
        self.findings.iter().filter(|f| f.status != Status::Fixed)
    }
}

/// The (source, source version) a package is filed under in feeds. Debian's
/// signed kernel images come from `linux-signed-<arch>` (version `X+N`) but
/// the tracker files kernel CVEs under `linux` with the image's version.
pub(crate) fn feed_source(inv: &Inventory, p: &InventoryPackage) -> (String, String) {
    if inv.manager != "rpm" && p.source.starts_with("linux-signed") {
        return ("linux".into(), p.version.clone());
    }
    let source = if p.source.is_empty() {
        &p.name
    } else {
        &p.source
    };
    let version = if p.source_version.is_empty() {
        &p.version
    } else {
        &p.source_version
    };
    (source.clone(), version.clone())
}

/// Every (source package, source version) the inventory holds, as feeds
/// file them (the keys findings are reported under): what "the affected
/// version is still installed" means when first-seen times are walked back
/// through a host's inventory history.
pub fn installed_sources(inv: &Inventory) -> std::collections::BTreeSet<(String, String)> {
    inv.inventory.iter().map(|p| feed_source(inv, p)).collect()
}

/// Whether `entry` affects `installed`; an error names the version that
/// could not be ordered.
fn affects(scheme: Scheme, installed: &str, e: &Entry) -> Result<bool, (String, String)> {
    let cmp = |other: &str| {
        compare(scheme, installed, other).map_err(|err| {
            let bad = if validate(scheme, installed).is_err() {
                installed
            } else {
                other
            };
            (bad.to_string(), err.to_string())
        })
    };
    if e.status == Status::NotAffected {
        return Ok(false);
    }
    if !e.versions.is_empty() {
        for v in &e.versions {
            if cmp(v)? == Ordering::Equal {
                return Ok(true);
            }
        }
        return Ok(false);
    }
    if let Some(i) = &e.introduced {
        if cmp(i)? == Ordering::Less {
            return Ok(false);
        }
    }
    if let Some(f) = &e.fixed {
        return Ok(cmp(f)? == Ordering::Less);
    }
    if let Some(l) = &e.last_affected {
        return Ok(cmp(l)? != Ordering::Greater);
    }
    Ok(true)
}

/// Match one host's inventory against a snapshot.
pub fn match_host(inv: &Inventory, index: &SnapshotIndex) -> HostMatch {
    let mut out = HostMatch::default();
    if !inv.inventory_collected {
        out.note = "the packages probe did not read the installed inventory".into();
        return out;
    }
    let keys = inv.release_keys();
    let Some((release, rel)) = keys
        .iter()
        .find_map(|k| index.releases.get(k).map(|r| (k, r)))
    else {
        let covered: Vec<String> = index.releases.keys().map(ToString::to_string).collect();
        let shown = if covered.len() > 8 {
            format!(
                "{}, … ({} releases)",
                covered[..8].join(", "),
                covered.len()
            )
        } else {
            covered.join(", ")
        };
        out.note = format!(
            "the snapshot has no data for {} (it covers {}): nothing matched",
            inv.describe(),
            if shown.is_empty() { "nothing" } else { &shown }
        );
        return out;
    };
    let Some(scheme) = Scheme::for_distro(&release.distro) else {
        out.note = format!("no version ordering is known for {}", release.distro);
        return out;
    };
    out.release = Some(release.clone());
    // Group installed binaries by (source, source version).
    let mut groups: BTreeMap<(String, String), Vec<&str>> = BTreeMap::new();
    for p in &inv.inventory {
        groups.entry(feed_source(inv, p)).or_default().push(&p.name);
    }
    out.sources_checked = groups.len();
    for ((source, installed), mut bins) in groups {
        if let Err(e) = validate(scheme, &installed) {
            out.unknown_versions.push(UnknownVersion {
                package: source.clone(),
                version: installed.clone(),
                error: e.to_string(),
            });
            continue;
        }
        let Some(entries) = rel.packages.get(&source) else {
            continue;
        };
        bins.sort_unstable();
        bins.dedup();
        let mut seen: Vec<&str> = Vec::new();
        for e in entries {
            if seen.contains(&e.cve.as_str()) {
                continue;
            }
            match affects(scheme, &installed, e) {
                Ok(true) => {
                    seen.push(&e.cve);
                    out.findings.push(PackageFinding {
                        cve: e.cve.clone(),
                        source: source.clone(),
                        installed: installed.clone(),
                        packages: bins.iter().map(|b| (*b).to_string()).collect(),
                        status: e.status,
                        fixed_version: e.fixed.clone(),
                        urgency: e.urgency,
                    });
                }
                Ok(false) => {}
                Err((version, error)) => {
                    let u = UnknownVersion {
                        package: source.clone(),
                        version,
                        error,
                    };
                    if !out.unknown_versions.contains(&u) {
                        out.unknown_versions.push(u);
                    }
                }
            }
        }
    }
    out.findings
        .sort_by(|a, b| (&a.source, &a.installed, &a.cve).cmp(&(&b.source, &b.installed, &b.cve)));
    out.kernel_checked = inv.running_kernel().is_some();
    out.kernel_reboot_pending = reboot_pending(inv, scheme, &out.findings);
    out
}

/// CVEs of the running kernel's source version whose fixed version is at or
/// below the newest installed version of the same source.
fn reboot_pending(inv: &Inventory, scheme: Scheme, findings: &[PackageFinding]) -> Vec<String> {
    let Some(running) = inv.running_kernel() else {
        return Vec::new();
    };
    let (source, version) = feed_source(inv, running);
    let newest = inv
        .inventory
        .iter()
        .map(|p| feed_source(inv, p))
        .filter(|(s, _)| *s == source)
        .map(|(_, v)| v)
        .max_by(|a, b| compare(scheme, a, b).unwrap_or(Ordering::Equal));
    let Some(newest) = newest else {
        return Vec::new();
    };
    let mut out: Vec<String> = findings
        .iter()
        .filter(|f| f.source == source && f.installed == version)
        .filter(|f| {
            f.fixed_version.as_deref().is_some_and(|fx| {
                compare(scheme, fx, &newest).is_ok_and(|o| o != Ordering::Greater)
            })
        })
        .map(|f| f.cve.clone())
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vuln::feed::parse_debian_tracker;

    const TRACKER: &str = r#"{
      "openssl": {
        "CVE-2024-5535": {"releases": {"bookworm": {"status": "resolved", "fixed_version": "3.0.14-1~deb12u1", "urgency": "low"}}},
        "CVE-2023-5678": {"releases": {"bookworm": {"status": "resolved", "fixed_version": "3.0.11-1~deb12u2", "urgency": "medium"}}},
        "CVE-2010-0928": {"releases": {"bookworm": {"status": "open", "urgency": "unimportant"}}},
        "CVE-2022-0001": {"releases": {"bookworm": {"status": "resolved", "fixed_version": "0", "urgency": "high"}}}
      },
      "linux": {
        "CVE-2024-1086": {"releases": {"bookworm": {"status": "resolved", "fixed_version": "6.1.76-1", "urgency": "high"}}},
        "CVE-2024-9999": {"releases": {"bookworm": {"status": "resolved", "fixed_version": "6.1.130-1", "urgency": "high"}}}
      },
      "weird": {"CVE-2024-0003": {"releases": {"bookworm": {"status": "resolved", "fixed_version": "1.0 2", "urgency": "low"}}}}
    }"#;

    fn pkg(name: &str, version: &str, source: &str, sv: &str) -> InventoryPackage {
        InventoryPackage {
            name: name.into(),
            version: version.into(),
            arch: "amd64".into(),
            source: source.into(),
            source_version: sv.into(),
        }
    }

    fn host() -> Inventory {
        Inventory {
            manager: "dpkg".into(),
            inventory_collected: true,
            os_id: "debian".into(),
            os_version_id: "12".into(),
            os_codename: "bookworm".into(),
            kernel_running: Some("6.1.0-17-amd64".into()),
            inventory: vec![
                pkg("libssl3", "3.0.11-1~deb12u2", "openssl", "3.0.11-1~deb12u2"),
                pkg("openssl", "3.0.11-1~deb12u2", "openssl", "3.0.11-1~deb12u2"),
                pkg(
                    "linux-image-6.1.0-17-amd64",
                    "6.1.69-1",
                    "linux-signed-amd64",
                    "6.1.69+1",
                ),
                pkg(
                    "linux-image-6.1.0-18-amd64",
                    "6.1.76-1",
                    "linux-signed-amd64",
                    "6.1.76+1",
                ),
                pkg("weird", "1.0", "weird", "1.0"),
                pkg("broken", "1.0-", "broken", "1.0-"),
            ],
        }
    }

    #[test]
    fn findings_per_source_with_fix_status_and_reboot() {
        let ix = parse_debian_tracker(TRACKER.as_bytes(), "t.json").unwrap();
        let m = match_host(&host(), &ix);
        assert_eq!(m.release, Some(Release::new("debian", "bookworm")));
        assert_eq!(m.note, "");
        let got: Vec<(&str, &str, &str, Option<&str>)> = m
            .findings
            .iter()
            .map(|f| {
                (
                    f.source.as_str(),
                    f.installed.as_str(),
                    f.cve.as_str(),
                    f.fixed_version.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("linux", "6.1.69-1", "CVE-2024-1086", Some("6.1.76-1")),
                ("linux", "6.1.69-1", "CVE-2024-9999", Some("6.1.130-1")),
                ("linux", "6.1.76-1", "CVE-2024-9999", Some("6.1.130-1")),
                ("openssl", "3.0.11-1~deb12u2", "CVE-2010-0928", None),
                (
                    "openssl",
                    "3.0.11-1~deb12u2",
                    "CVE-2024-5535",
                    Some("3.0.14-1~deb12u1")
                ),
            ]
        );
        assert_eq!(m.findings[4].packages, ["libssl3", "openssl"]);
        assert_eq!(m.actionable().count(), 4);
        assert_eq!(m.unfixed().count(), 1);
        // The running kernel is vulnerable to CVE-2024-1086, fixed by the installed 6.1.76-1.
        assert_eq!(m.kernel_reboot_pending, ["CVE-2024-1086"]);
        assert!(m.kernel_checked);
        let unknown: Vec<(&str, &str)> = m
            .unknown_versions
            .iter()
            .map(|u| (u.package.as_str(), u.version.as_str()))
            .collect();
        assert_eq!(unknown, [("broken", "1.0-"), ("weird", "1.0 2")]);
    }

    #[test]
    fn another_distribution_matches_nothing_and_says_so() {
        let ix = parse_debian_tracker(TRACKER.as_bytes(), "t.json").unwrap();
        let mut h = host();
        h.os_id = "ubuntu".into();
        h.os_version_id = "22.04".into();
        h.os_codename = "jammy".into();
        let m = match_host(&h, &ix);
        assert!(m.findings.is_empty() && m.release.is_none());
        assert_eq!(
            m.note,
            "the snapshot has no data for ubuntu 22.04 (jammy) (it covers debian:bookworm): nothing matched"
        );
        h.inventory_collected = false;
        assert!(match_host(&h, &ix).note.contains("did not read"));
    }

    #[test]
    fn osv_ranges_introduced_and_last_affected() {
        let mut ix = SnapshotIndex::new(crate::vuln::index::FeedFormat::Osv);
        let rel = Release::new("almalinux", "9");
        let e = |introduced: Option<&str>,
                 fixed: Option<&str>,
                 last: Option<&str>,
                 versions: &[&str]| Entry {
            cve: "CVE-1".into(),
            status: if fixed.is_some() {
                Status::Fixed
            } else {
                Status::Open
            },
            fixed: fixed.map(Into::into),
            introduced: introduced.map(Into::into),
            last_affected: last.map(Into::into),
            versions: versions.iter().map(|v| (*v).to_string()).collect(),
            urgency: Urgency::High,
        };
        ix.push(
            rel.clone(),
            "a",
            e(Some("2.0-1.el9"), Some("2.0-5.el9"), None, &[]),
        );
        ix.push(rel.clone(), "b", e(None, None, Some("1:1.5-1.el9"), &[]));
        ix.push(rel.clone(), "c", e(None, None, None, &["3.0-1.el9"]));
        let inv = |v: &str| Inventory {
            manager: "rpm".into(),
            inventory_collected: true,
            os_id: "almalinux".into(),
            os_version_id: "9.4".into(),
            inventory: ["a", "b", "c"].iter().map(|n| pkg(n, v, n, v)).collect(),
            ..Inventory::default()
        };
        let cves = |v: &str| -> Vec<String> {
            match_host(&inv(v), &ix)
                .findings
                .iter()
                .map(|f| f.source.clone())
                .collect()
        };
        assert_eq!(cves("1.0-1.el9"), ["b"]); // before `introduced`; epoch 0 < 1
        assert_eq!(cves("2.0-3.el9"), ["a", "b"]);
        assert_eq!(cves("3.0-1.el9"), ["b", "c"]);
        assert_eq!(cves("1:1.5-1.el9"), ["b"]); // the epoch wins: past a's fix, b's last affected
    }
}
