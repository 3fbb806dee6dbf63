//! The part of a snapshot that a set of inventories needs
//! ([`SnapshotSubset`]): what an evidence bundle carries
//! (`vulns/<snapshot hex>.json`) so that an auditor's `verify` re-runs the
//! match offline, and what `verify --feed` compares with the full feed.
//!
//! A subset lists, per release, every source package it was asked for
//! (`wanted`, also those the feed has nothing for) and holds exactly the
//! snapshot's entries for those; it keeps every release the snapshot
//! covers (empty when no inventory needs it), so matching files a host under
//! the same release and writes the same note as against the full snapshot.

use super::index::{FeedFormat, Release, SnapshotIndex};
use super::inventory::Inventory;
use super::matching::feed_source;
use crate::digest::Digest;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The (release, source package) pairs inventories look up: per release key
/// a host may be filed under, its source packages as feeds name them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs {
    /// Release → source packages.
    pub by_release: BTreeMap<Release, BTreeSet<String>>,
}

impl Needs {
    /// Add what `inv` looks up (nothing when its inventory was not read).
    pub fn add(&mut self, inv: &Inventory) {
        if !inv.inventory_collected {
            return;
        }
        let sources: BTreeSet<String> = inv
            .inventory
            .iter()
            .map(|p| feed_source(inv, p).0)
            .collect();
        for key in inv.release_keys() {
            self.by_release
                .entry(key)
                .or_default()
                .extend(sources.iter().cloned());
        }
    }

    /// Number of (release, source) pairs.
    pub fn len(&self) -> usize {
        self.by_release.values().map(BTreeSet::len).sum()
    }

    /// Whether nothing is needed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A snapshot's entries for the (release, source package) pairs a bundle's
/// inventories need, with the snapshot's identity (the bundle member
/// `vulns/<hex>.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotSubset {
    /// sha256 of the snapshot (the feed as imported).
    pub snapshot: Digest,
    /// Where the snapshot came from (file path or URL).
    pub source: String,
    /// RFC 3339 time it was imported.
    pub imported_at: String,
    /// Per release the snapshot covers, the source packages looked up
    /// (those without entries included).
    pub wanted: BTreeMap<Release, BTreeSet<String>>,
    /// The snapshot's entries for exactly those, and every release it
    /// covers (empty where nothing was wanted).
    pub index: SnapshotIndex,
}

/// Member path of the subset of snapshot `d`.
pub fn subset_path(d: &Digest) -> String {
    format!("vulns/{}.json", d.hex())
}

impl SnapshotSubset {
    /// Extract from the full snapshot `full` what `needs` asks for.
    /// Memory: proportional to the subset.
    pub fn extract(
        full: &SnapshotIndex,
        needs: &Needs,
        snapshot: Digest,
        source: &str,
        imported_at: &str,
    ) -> SnapshotSubset {
        let mut index = SnapshotIndex::new(full.format);
        let mut wanted = BTreeMap::new();
        for (release, ri) in &full.releases {
            let target = index.releases.entry(release.clone()).or_default();
            let Some(sources) = needs.by_release.get(release) else {
                continue;
            };
            for s in sources {
                if let Some(entries) = ri.packages.get(s) {
                    target.packages.insert(s.clone(), entries.clone());
                }
            }
            wanted.insert(release.clone(), sources.clone());
        }
        SnapshotSubset {
            snapshot,
            source: source.to_string(),
            imported_at: imported_at.to_string(),
            wanted,
            index,
        }
    }

    /// The feed format.
    pub fn format(&self) -> FeedFormat {
        self.index.format
    }

    /// Problems of the member itself: entries for packages not listed as
    /// wanted, wanted releases the index does not cover.
    pub fn consistency(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (release, ri) in &self.index.releases {
            let wanted = self.wanted.get(release);
            for s in ri.packages.keys() {
                if !wanted.is_some_and(|w| w.contains(s)) {
                    out.push(format!(
                        "holds entries for {s} on {release}, which it does not list as looked up"
                    ));
                }
            }
        }
        for release in self.wanted.keys() {
            if !self.index.releases.contains_key(release) {
                out.push(format!(
                    "lists packages looked up on {release}, a release it does not cover"
                ));
            }
        }
        out
    }

    /// Whether matching `inv` against this subset gives what it gives
    /// against the full snapshot: every source package `inv` looks up on
    /// the release it is filed under was looked up. `Err` names what is
    /// missing.
    pub fn covers(&self, inv: &Inventory) -> Result<(), String> {
        if !inv.inventory_collected {
            return Ok(());
        }
        let Some(release) = inv
            .release_keys()
            .into_iter()
            .find(|k| self.index.releases.contains_key(k))
        else {
            return Ok(());
        };
        let wanted = self.wanted.get(&release);
        let mut missing: Vec<String> = inv
            .inventory
            .iter()
            .map(|p| feed_source(inv, p).0)
            .filter(|s| !wanted.is_some_and(|w| w.contains(s)))
            .collect();
        missing.sort();
        missing.dedup();
        if missing.is_empty() {
            return Ok(());
        }
        let n = missing.len();
        missing.truncate(5);
        Err(format!(
            "the snapshot subset does not cover {n} source package(s) on {release} ({}{})",
            missing.join(", "),
            if n > 5 { ", …" } else { "" }
        ))
    }

    /// Compare with the full feed an auditor supplies (`digest` is its
    /// sha256 as the collector computes it, `full` its index): same digest,
    /// format and releases, and for every package looked up the same
    /// entries. Each difference is named.
    pub fn check_feed(&self, digest: &Digest, full: &SnapshotIndex) -> Vec<String> {
        let mut out = Vec::new();
        if *digest != self.snapshot {
            out.push(format!(
                "the feed's digest is {digest}, not the cited snapshot {}",
                self.snapshot
            ));
            return out;
        }
        if full.format != self.index.format {
            out.push(format!(
                "the feed is {}, the subset {}",
                full.format.as_str(),
                self.index.format.as_str()
            ));
        }
        let ours: Vec<&Release> = self.index.releases.keys().collect();
        let theirs: Vec<&Release> = full.releases.keys().collect();
        if ours != theirs {
            out.push(format!(
                "the feed covers {} release(s), the subset {}",
                theirs.len(),
                ours.len()
            ));
        }
        for (release, sources) in &self.wanted {
            let mine = self.index.releases.get(release);
            let feed = full.releases.get(release);
            for s in sources {
                let a = mine.and_then(|r| r.packages.get(s));
                let b = feed.and_then(|r| r.packages.get(s));
                if a != b {
                    out.push(format!(
                        "{s} on {release}: the subset has {} entries, the feed {}{}",
                        a.map_or(0, Vec::len),
                        b.map_or(0, Vec::len),
                        if a.map_or(0, Vec::len) == b.map_or(0, Vec::len) {
                            " (different)"
                        } else {
                            ""
                        }
                    ));
                }
            }
        }
        out.extend(self.consistency());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vuln::feed::parse_debian_tracker;
    use crate::vuln::inventory::InventoryPackage;
    use crate::vuln::match_host;

    const TRACKER: &str = r#"{
      "openssl": {"CVE-2024-5535": {"releases": {
          "bookworm": {"status": "resolved", "fixed_version": "3.0.14-1~deb12u1", "urgency": "high"},
          "trixie": {"status": "resolved", "fixed_version": "3.3.1-1", "urgency": "high"}}}},
      "glibc": {"CVE-2024-2961": {"releases": {
          "bookworm": {"status": "resolved", "fixed_version": "2.36-9+deb12u7", "urgency": "high"}}}},
      "zlib": {"CVE-2023-45853": {"releases": {
          "bookworm": {"status": "open", "urgency": "low"}}}}
    }"#;

    fn inv(codename: &str, pkgs: &[(&str, &str, &str)]) -> Inventory {
        Inventory {
            manager: "dpkg".into(),
            inventory_collected: true,
            os_id: "debian".into(),
            os_version_id: "12".into(),
            os_codename: codename.into(),
            inventory: pkgs
                .iter()
                .map(|(n, s, v)| InventoryPackage {
                    name: (*n).into(),
                    version: (*v).into(),
                    arch: "amd64".into(),
                    source: (*s).into(),
                    source_version: (*v).into(),
                })
                .collect(),
            kernel_running: None,
        }
    }

    fn full() -> SnapshotIndex {
        parse_debian_tracker(TRACKER.as_bytes(), "t.json").unwrap()
    }

    #[test]
    fn a_subset_matches_like_the_full_snapshot_and_holds_only_what_is_needed() {
        let full = full();
        let a = inv(
            "bookworm",
            &[
                ("libssl3", "openssl", "3.0.11-1~deb12u2"),
                ("bash", "bash", "5.2.15-2+b2"),
            ],
        );
        let other = inv("buster", &[("zlib1g", "zlib", "1:1.2.11")]);
        let mut needs = Needs::default();
        needs.add(&a);
        needs.add(&other);
        let d = crate::sha256_digest(b"feed");
        let sub = SnapshotSubset::extract(&full, &needs, d, "t.json", "2026-01-01T00:00:00.000Z");
        // glibc and zlib are not needed on bookworm; bash has no entries.
        assert_eq!(sub.index.entry_count(), 1);
        assert!(sub.wanted[&Release::new("debian", "bookworm")].contains("bash"));
        // Every release of the snapshot is kept, so notes and filing agree.
        assert_eq!(sub.index.releases.len(), full.releases.len());
        assert_eq!(match_host(&a, &sub.index), match_host(&a, &full));
        assert_eq!(match_host(&other, &sub.index), match_host(&other, &full));
        assert_eq!(sub.covers(&a), Ok(()));
        assert!(sub.consistency().is_empty());
        // A host with a package nobody looked up is not covered.
        let b = inv("bookworm", &[("libc6", "glibc", "2.36-9+deb12u4")]);
        let err = sub.covers(&b).unwrap_err();
        assert!(
            err.contains("glibc") && err.contains("debian:bookworm"),
            "{err}"
        );
        // Round trip as a member.
        let bytes = serde_json::to_vec(&sub).unwrap();
        assert_eq!(
            serde_json::from_slice::<SnapshotSubset>(&bytes).unwrap(),
            sub
        );
        assert_eq!(subset_path(&d), format!("vulns/{}.json", d.hex()));
    }

    #[test]
    fn the_feed_check_names_each_difference() {
        let full = full();
        let a = inv(
            "bookworm",
            &[
                ("libssl3", "openssl", "3.0.11-1~deb12u2"),
                ("zlib1g", "zlib", "1:1.2.13"),
            ],
        );
        let mut needs = Needs::default();
        needs.add(&a);
        let d = crate::sha256_digest(b"feed");
        let sub = SnapshotSubset::extract(&full, &needs, d, "t.json", "x");
        assert_eq!(sub.check_feed(&d, &full), Vec::<String>::new());
        // Another feed.
        let other = crate::sha256_digest(b"other");
        assert!(sub.check_feed(&other, &full)[0].contains("not the cited snapshot"));
        // An entry dropped from the subset (both of openssl's), one altered.
        let mut dropped = sub.clone();
        let bw = Release::new("debian", "bookworm");
        dropped
            .index
            .releases
            .get_mut(&bw)
            .unwrap()
            .packages
            .remove("openssl");
        let msgs = dropped.check_feed(&d, &full);
        assert!(
            msgs.iter()
                .any(|m| m.contains("openssl on debian:bookworm")),
            "{msgs:?}"
        );
        let mut altered = sub.clone();
        altered
            .index
            .releases
            .get_mut(&bw)
            .unwrap()
            .packages
            .get_mut("zlib")
            .unwrap()[0]
            .status = crate::vuln::Status::NotAffected;
        let msgs = altered.check_feed(&d, &full);
        assert!(
            msgs.iter()
                .any(|m| m.contains("zlib") && m.contains("different")),
            "{msgs:?}"
        );
        // Entries smuggled in for a package nobody looked up.
        let mut extra = sub.clone();
        extra
            .index
            .releases
            .get_mut(&bw)
            .unwrap()
            .packages
            .insert("glibc".into(), full.releases[&bw].packages["glibc"].clone());
        assert!(extra.consistency()[0].contains("glibc"));
    }
}
