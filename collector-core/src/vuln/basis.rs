//! What the `vulns` data of one evaluation was computed from, besides the
//! statement itself and the snapshot ([`VulnBasis`], recorded in
//! `RecordedResults.vulns`), and the one function that computes it
//! ([`vulns_entry`]): the collector's ingest and an auditor's offline
//! `verify` both call it, so they derive the same `vulns` data.
//!
//! CVE waivers are not applied here: evaluation applies the policy set's
//! current CVE waivers to `vulns` (`policy::eval`), so the waivers that count
//! are those of the policy files the results cite.

use super::index::{FeedFormat, SnapshotIndex};
use super::inventory::Inventory;
use super::matching::{match_host, HostMatch};
use super::probe::{probe_data, probe_entry, FirstSeen};
use crate::digest::Digest;
use crate::evidence::{Evidence, ProbeData, ProbeStatus};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// The probe id of the derived vulnerability data.
pub const VULNS: &str = "vulns";

/// When one (CVE, source package) was first seen on the host: the signed
/// statement that shows it (see docs/vulnerabilities.md, "First seen").
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FirstSeenRef {
    /// CVE (or advisory) id.
    pub cve: String,
    /// Source package it affects.
    pub source_package: String,
    /// RFC 3339 collection time of that statement.
    pub at: String,
    /// Its sequence on the host.
    pub sequence: u64,
    /// Its envelope digest.
    pub statement: Digest,
}

/// Everything, besides the statement and the snapshot, that the `vulns`
/// data of an evaluation was computed from. Pure data; old results without
/// it still parse (`RecordedResults.vulns` is optional).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VulnBasis {
    /// sha256 of the stored snapshot (the feed as imported).
    pub snapshot: Digest,
    /// Where the snapshot came from (file path or URL).
    pub source: String,
    /// `debian-tracker` or `osv`.
    pub format: String,
    /// RFC 3339 time it was imported.
    pub imported_at: String,
    /// First-seen times of the open findings, sorted by (cve, source package).
    #[serde(default)]
    pub first_seen: Vec<FirstSeenRef>,
}

impl VulnBasis {
    /// The feed format named by `format` (unknown names read as the tracker).
    pub fn feed_format(&self) -> FeedFormat {
        match self.format.as_str() {
            "osv" => FeedFormat::Osv,
            _ => FeedFormat::DebianTracker,
        }
    }

    /// The first-seen times by (cve, source package); an unreadable time is
    /// left out (the finding then reads as seen at the collection time).
    pub fn first_seen_map(&self) -> FirstSeen {
        self.first_seen
            .iter()
            .filter_map(|f| {
                DateTime::parse_from_rfc3339(&f.at).ok().map(|t| {
                    (
                        (f.cve.clone(), f.source_package.clone()),
                        t.with_timezone(&Utc),
                    )
                })
            })
            .collect()
    }
}

/// RFC 3339 in UTC with milliseconds (the store's resolution), as
/// [`FirstSeenRef::at`] and [`VulnBasis::imported_at`] write it.
pub fn rfc3339_ms(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The packages inventory of `evidence`, or why there is none.
pub fn inventory_of(evidence: &Evidence) -> Result<Inventory, String> {
    let Some(p) = evidence.probes.get("packages") else {
        return Err("the packages probe was not collected".into());
    };
    match (&p.status, &p.data) {
        (ProbeStatus::Ok, Some(data)) => Inventory::from_probe(data),
        _ => Err(format!(
            "the packages probe did not report an inventory ({})",
            p.reason.as_deref().unwrap_or("no reason given")
        )),
    }
}

/// The `vulns` entry of `evidence` against `index` (the snapshot `basis`
/// names, or its subset for this host) with `basis`'s first-seen times:
/// exactly what the collector's ingest adds to the evidence before
/// evaluating. Pure.
pub fn vulns_entry(evidence: &Evidence, index: &SnapshotIndex, basis: &VulnBasis) -> ProbeData {
    let m = inventory_of(evidence).map(|inv| match_host(&inv, index));
    vulns_entry_from_match(
        m.as_ref().map_err(Clone::clone),
        basis,
        evidence.collected_at,
    )
}

/// [`vulns_entry`] from a match already computed (ingest caches matches by
/// inventory and snapshot digest); `Err` is why there is no inventory.
pub fn vulns_entry_from_match(
    m: Result<&HostMatch, String>,
    basis: &VulnBasis,
    collected_at: DateTime<Utc>,
) -> ProbeData {
    probe_entry(m.map(|m| {
        probe_data(
            m,
            &basis.snapshot.to_string(),
            basis.feed_format(),
            &basis.first_seen_map(),
            collected_at,
        )
    }))
}

/// `evidence` with its `vulns` entry (as [`vulns_entry`]).
pub fn with_vulns(mut evidence: Evidence, index: &SnapshotIndex, basis: &VulnBasis) -> Evidence {
    let entry = vulns_entry(&evidence, index, basis);
    evidence.probes.insert(VULNS.to_string(), entry);
    evidence
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::HostFacts;
    use crate::vuln::feed::parse_debian_tracker;
    use serde_json::json;

    const TRACKER: &str = r#"{"openssl": {
        "CVE-2024-5535": {"releases": {"bookworm": {"status": "resolved", "fixed_version": "3.0.14-1~deb12u1", "urgency": "high"}}}
    }}"#;

    fn evidence(version: &str) -> Evidence {
        let packages = json!({
            "manager": "dpkg", "inventory_collected": true, "os_id": "debian",
            "os_version_id": "12", "os_codename": "bookworm",
            "inventory": [{"name": "libssl3", "version": version, "arch": "amd64",
                           "source": "openssl", "source_version": version}],
            "kernel_running": null
        });
        Evidence {
            host: HostFacts {
                hostname: "web-1".into(),
                ..Default::default()
            },
            collected_at: "2026-02-01T00:00:00Z".parse().unwrap(),
            probes: [(
                "packages".to_string(),
                ProbeData {
                    version: 3,
                    status: ProbeStatus::Ok,
                    reason: None,
                    data: Some(packages),
                },
            )]
            .into_iter()
            .collect(),
        }
    }

    fn basis(first_seen: Vec<FirstSeenRef>) -> VulnBasis {
        VulnBasis {
            snapshot: crate::sha256_digest(b"feed"),
            source: "t.json".into(),
            format: "debian-tracker".into(),
            imported_at: "2026-01-01T00:00:00.000Z".into(),
            first_seen,
        }
    }

    #[test]
    fn the_entry_matches_the_inventory_and_takes_ages_from_the_basis() {
        let ix = parse_debian_tracker(TRACKER.as_bytes(), "t.json").unwrap();
        let ev = evidence("3.0.11-1~deb12u2");
        let fresh = vulns_entry(&ev, &ix, &basis(vec![]));
        let d = fresh.data.as_ref().unwrap();
        assert_eq!(d["open"][0]["cve"], "CVE-2024-5535");
        assert_eq!(d["open"][0]["age_days"], 0);
        assert_eq!(d["snapshot"], crate::sha256_digest(b"feed").to_string());
        let seen = FirstSeenRef {
            cve: "CVE-2024-5535".into(),
            source_package: "openssl".into(),
            at: "2026-01-10T00:00:00.000Z".into(),
            sequence: 3,
            statement: crate::sha256_digest(b"st"),
        };
        let b = basis(vec![seen]);
        let aged = vulns_entry(&ev, &ix, &b);
        assert_eq!(aged.data.as_ref().unwrap()["open"][0]["age_days"], 22);
        // The same entry from a match computed elsewhere.
        let inv = inventory_of(&ev).unwrap();
        let m = match_host(&inv, &ix);
        assert_eq!(vulns_entry_from_match(Ok(&m), &b, ev.collected_at), aged);
        // Fixed version installed: nothing open.
        let fixed = vulns_entry(&evidence("3.0.14-1~deb12u1"), &ix, &b);
        assert_eq!(fixed.data.unwrap()["open_count"], 0);
        // No inventory: unsupported with the reason.
        let mut none = ev.clone();
        none.probes.clear();
        let e = with_vulns(none, &ix, &b);
        assert_eq!(e.probes[VULNS].status, ProbeStatus::Unsupported);
        assert!(e.probes[VULNS]
            .reason
            .as_deref()
            .unwrap()
            .contains("not collected"));
    }

    #[test]
    fn the_basis_is_serde_stable() {
        let b = basis(vec![]);
        let v = serde_json::to_value(&b).unwrap();
        assert_eq!(v["format"], "debian-tracker");
        let back: VulnBasis = serde_json::from_value(v).unwrap();
        assert_eq!(back, b);
    }
}
