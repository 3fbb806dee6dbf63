//! The compact snapshot index both feed formats produce: release → source
//! package → entries (CVE, distribution status, fixed version, urgency).
//! It is what matching reads and what the collector stores per snapshot.

use super::version::Scheme;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A distribution release as feeds and hosts name it: the os-release `ID`
/// (lower case) and a codename or version (`debian:bookworm`, `debian:12`,
/// `ubuntu:22.04`, `almalinux:9`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Release {
    /// os-release `ID` (`debian`, `ubuntu`, `almalinux`, `rocky`).
    pub distro: String,
    /// Codename (`bookworm`) or version (`12`, `22.04`).
    pub name: String,
}

impl Release {
    /// A release from its two parts (both lower-cased).
    pub fn new(distro: &str, name: &str) -> Release {
        Release {
            distro: distro.trim().to_ascii_lowercase(),
            name: name.trim().to_ascii_lowercase(),
        }
    }
}

impl Serialize for Release {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Release {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Release, D::Error> {
        let s = String::deserialize(d)?;
        match s.split_once(':') {
            Some((a, b)) if !a.is_empty() && !b.is_empty() => Ok(Release::new(a, b)),
            _ => Err(serde::de::Error::custom(format!(
                "release {s:?} is not `distro:name`"
            ))),
        }
    }
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.distro, self.name)
    }
}

/// The distribution's verdict for a CVE in a source package on a release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Fixed in the entry's `fixed` version: hosts below it are affected.
    Fixed,
    /// Open, no fix on this release yet.
    Open,
    /// Open, minor: no security advisory planned (Debian `nodsa`, postponed).
    NoDsa,
    /// The distribution decided not to fix it (Debian `nodsa_reason: ignored`).
    WillNotFix,
    /// The package is no longer supported on this release.
    EndOfLife,
    /// Not yet triaged.
    Undetermined,
    /// The release's package was never affected.
    NotAffected,
}

impl Status {
    /// The name used in results and CEL (`fixed`, `no-dsa`, …).
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Fixed => "fixed",
            Status::Open => "open",
            Status::NoDsa => "no-dsa",
            Status::WillNotFix => "will-not-fix",
            Status::EndOfLife => "end-of-life",
            Status::Undetermined => "undetermined",
            Status::NotAffected => "not-affected",
        }
    }
}

/// How urgent the distribution rates a CVE (Debian urgency, OSV severity).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Urgency {
    /// Not rated (`not yet assigned`, missing, or a word Evident does not know).
    Unknown,
    /// Not a real-world risk (Debian `unimportant`, Ubuntu `negligible`).
    Unimportant,
    /// Low.
    Low,
    /// Medium (Red Hat `moderate`).
    Medium,
    /// High (Red Hat `important`).
    High,
    /// Critical.
    Critical,
    /// Debian `end-of-life`: no longer rated because no longer supported.
    EndOfLife,
}

impl Urgency {
    /// Read a feed's word (case-insensitive; the tracker's trailing `*` marks
    /// are dropped); unknown words are [`Urgency::Unknown`].
    pub fn parse(s: &str) -> Urgency {
        match s.trim().trim_end_matches('*').to_ascii_lowercase().as_str() {
            "unimportant" | "negligible" | "none" => Urgency::Unimportant,
            "low" => Urgency::Low,
            "medium" | "moderate" => Urgency::Medium,
            "high" | "important" => Urgency::High,
            "critical" => Urgency::Critical,
            "end-of-life" => Urgency::EndOfLife,
            _ => Urgency::Unknown,
        }
    }

    /// The name used in results and CEL (`high`, `not-assigned` for unknown).
    pub fn as_str(&self) -> &'static str {
        match self {
            Urgency::Unknown => "unknown",
            Urgency::Unimportant => "unimportant",
            Urgency::Low => "low",
            Urgency::Medium => "medium",
            Urgency::High => "high",
            Urgency::Critical => "critical",
            Urgency::EndOfLife => "end-of-life",
        }
    }
}

/// One CVE for one source package on one release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// CVE id (or the feed's own id when it names no CVE).
    pub cve: String,
    /// The distribution's status.
    pub status: Status,
    /// The first fixed version (status `fixed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
    /// The first affected version (OSV `introduced`; absent: every version
    /// before `fixed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introduced: Option<String>,
    /// The last affected version (OSV `last_affected`), inclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_affected: Option<String>,
    /// Exactly these versions are affected (OSV `versions` without ranges).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
    /// Urgency.
    pub urgency: Urgency,
}

/// The entries of one release, by source package name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseIndex {
    /// Source package → entries, in feed order.
    pub packages: BTreeMap<String, Vec<Entry>>,
}

/// Which feed format a snapshot came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FeedFormat {
    /// The Debian Security Tracker JSON.
    DebianTracker,
    /// OSV records.
    Osv,
}

impl FeedFormat {
    /// `debian-tracker` / `osv`.
    pub fn as_str(&self) -> &'static str {
        match self {
            FeedFormat::DebianTracker => "debian-tracker",
            FeedFormat::Osv => "osv",
        }
    }
}

/// A whole snapshot, compacted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotIndex {
    /// Its format.
    pub format: FeedFormat,
    /// Release → its entries.
    pub releases: BTreeMap<Release, ReleaseIndex>,
}

impl SnapshotIndex {
    /// An empty index of a format.
    pub fn new(format: FeedFormat) -> SnapshotIndex {
        SnapshotIndex {
            format,
            releases: BTreeMap::new(),
        }
    }

    /// Add an entry.
    pub fn push(&mut self, release: Release, source: &str, entry: Entry) {
        let rel = self.releases.entry(release).or_default();
        match rel.packages.get_mut(source) {
            Some(v) => v.push(entry),
            None => {
                rel.packages.insert(source.to_string(), vec![entry]);
            }
        }
    }

    /// Number of entries over all releases.
    pub fn entry_count(&self) -> usize {
        self.releases
            .values()
            .flat_map(|r| r.packages.values())
            .map(Vec::len)
            .sum()
    }

    /// Distinct CVE ids over all releases.
    pub fn cve_count(&self) -> usize {
        let mut ids: Vec<&str> = self
            .releases
            .values()
            .flat_map(|r| r.packages.values())
            .flatten()
            .map(|e| e.cve.as_str())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids.len()
    }

    /// The version ordering of a release (by its distribution).
    pub fn scheme(release: &Release) -> Option<Scheme> {
        Scheme::for_distro(&release.distro)
    }

    /// The subset an evaluation needs: only these releases and source
    /// packages (what a bundle carries so `verify` can re-run the match).
    pub fn subset<'a>(
        &self,
        wanted: impl IntoIterator<Item = (&'a Release, &'a str)>,
    ) -> SnapshotIndex {
        let mut out = SnapshotIndex::new(self.format);
        for (rel, src) in wanted {
            let Some(ri) = self.releases.get(rel) else {
                // Keep the release present (empty) so the subset still says
                // the snapshot covers it.
                continue;
            };
            let target = out.releases.entry(rel.clone()).or_default();
            if let Some(entries) = ri.packages.get(src) {
                target.packages.insert(src.to_string(), entries.clone());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urgency_words_of_every_feed() {
        assert_eq!(Urgency::parse("low**"), Urgency::Low);
        assert_eq!(Urgency::parse("not yet assigned"), Urgency::Unknown);
        assert_eq!(Urgency::parse("Important"), Urgency::High);
        assert_eq!(Urgency::parse("negligible"), Urgency::Unimportant);
        assert_eq!(Urgency::parse("end-of-life"), Urgency::EndOfLife);
        assert!(Urgency::High > Urgency::Medium && Urgency::Critical > Urgency::High);
    }

    #[test]
    fn a_subset_keeps_only_what_is_asked_and_the_releases_covered() {
        let mut ix = SnapshotIndex::new(FeedFormat::DebianTracker);
        let e = |cve: &str| Entry {
            cve: cve.into(),
            status: Status::Open,
            fixed: None,
            introduced: None,
            last_affected: None,
            versions: vec![],
            urgency: Urgency::Low,
        };
        let bw = Release::new("debian", "bookworm");
        ix.push(bw.clone(), "openssl", e("CVE-1"));
        ix.push(bw.clone(), "glibc", e("CVE-2"));
        ix.push(Release::new("debian", "trixie"), "openssl", e("CVE-3"));
        let sub = ix.subset([(&bw, "openssl"), (&bw, "zlib")]);
        assert_eq!(sub.entry_count(), 1);
        assert_eq!(sub.releases.len(), 1);
        assert!(sub.releases[&bw].packages.contains_key("openssl"));
        assert_eq!(ix.cve_count(), 3);
    }
}
