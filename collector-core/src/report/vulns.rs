//! The vulnerability section of a review report (issue #18): per host the
//! CVEs its latest evidence carries — open (since when, the fix, the
//! distribution's status and urgency) or waived (with the waiver) — and a
//! fleet table of the CVEs affecting the most hosts. Built from the
//! `vulns` data the collector's ingest and `verify` compute
//! (`vuln::basis::vulns_entry`), before CVE waivers, with the waivers of
//! the policy files the host's results cite.

use crate::policy::waiver::{Waiver, WaiverRef};
use crate::vuln::probe::apply_cve_waivers;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// How many CVEs the fleet table lists.
pub const FLEET_TOP: usize = 50;

/// One CVE on one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CveRow {
    /// CVE id.
    pub cve: String,
    /// Source package.
    pub source: String,
    /// Installed binary packages built from it.
    pub packages: Vec<String>,
    /// Installed source version.
    pub installed: String,
    /// First fixed version (none: no fix yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_version: Option<String>,
    /// Distribution status (`fixed` = a fix exists and is not installed).
    pub status: String,
    /// Urgency.
    pub urgency: String,
    /// When it was first matched on this host (RFC 3339).
    pub first_seen: String,
    /// Days from first seen to the evidence's collection.
    pub age_days: i64,
    /// The CVE waiver that covers it on this host, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waived: Option<WaiverRef>,
}

impl CveRow {
    /// Whether a fixed version exists.
    pub fn fix_available(&self) -> bool {
        self.fixed_version.is_some()
    }
}

/// One host's CVEs (its latest statement).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostCves {
    /// Agent id.
    pub agent: String,
    /// Host name.
    pub hostname: String,
    /// Sequence of the statement matched.
    pub sequence: u64,
    /// When it was collected.
    pub collected_at: DateTime<Utc>,
    /// Snapshot digest matched against.
    pub snapshot: String,
    /// Release it was filed under (empty: nothing matched, see `note`).
    pub release: String,
    /// Why nothing was matched.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    /// Affecting CVEs, open and waived, sorted by source then CVE.
    pub cves: Vec<CveRow>,
    /// Open (not waived) with a fix.
    pub actionable: usize,
    /// Open without a fix.
    pub unfixed: usize,
    /// Waived.
    pub waived: usize,
    /// CVEs fixed by an installed kernel that is not running yet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kernel_reboot_pending: Vec<String>,
    /// Versions that could not be ordered (never guessed).
    #[serde(default)]
    pub unknown_versions: usize,
}

/// One CVE across the fleet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetCve {
    /// CVE id.
    pub cve: String,
    /// Source packages it affects, sorted.
    pub sources: Vec<String>,
    /// Hosts where it is open (not waived).
    pub open_hosts: usize,
    /// Hosts where it is waived.
    pub waived_hosts: usize,
    /// Highest urgency seen.
    pub urgency: String,
    /// Whether a fix exists on some host's release.
    pub fix_available: bool,
    /// Earliest first-seen over the hosts (RFC 3339).
    pub first_seen: String,
}

/// The report's vulnerability section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VulnSection {
    /// Snapshots the hosts were matched against (digest, format, source,
    /// import time).
    pub snapshots: Vec<SnapshotRef>,
    /// Per host with vulnerability evidence, by host name.
    pub hosts: Vec<HostCves>,
    /// The CVEs affecting the most hosts (open first, then waived), at
    /// most [`FLEET_TOP`].
    pub fleet: Vec<FleetCve>,
    /// Distinct CVEs open on some host.
    pub distinct_open: usize,
}

/// A snapshot named by the section.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SnapshotRef {
    /// sha256 of the feed.
    pub digest: String,
    /// `debian-tracker` or `osv`.
    pub format: String,
    /// Where it came from.
    pub source: String,
    /// When it was imported (RFC 3339).
    pub imported_at: String,
}

fn rank(urgency: &str) -> u8 {
    match urgency {
        "critical" => 6,
        "high" => 5,
        "medium" => 4,
        "low" => 3,
        "unimportant" => 2,
        "end-of-life" => 1,
        _ => 0,
    }
}

fn text(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or("").to_string()
}

/// One host's rows from its `vulns` data as computed before CVE waivers
/// (`data`), with `waivers` applied as evaluation applies them (host name,
/// the evidence's collection day).
pub fn host_cves(
    agent: &str,
    hostname: &str,
    sequence: u64,
    collected_at: DateTime<Utc>,
    data: &Value,
    waivers: &[Waiver],
) -> HostCves {
    let mut after = data.clone();
    apply_cve_waivers(&mut after, waivers, hostname, collected_at.date_naive());
    let mut waived: BTreeMap<(String, String), WaiverRef> = BTreeMap::new();
    for w in after
        .get("waived")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let expires = text(w, "expires").parse().unwrap_or_default();
        waived.insert(
            (text(w, "cve"), text(w, "source")),
            WaiverRef {
                justification: text(w, "justification"),
                approver: text(w, "approver"),
                expires,
            },
        );
    }
    let cves: Vec<CveRow> = data
        .get("open")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|f| {
            let (cve, source) = (text(f, "cve"), text(f, "source"));
            CveRow {
                waived: waived.get(&(cve.clone(), source.clone())).cloned(),
                cve,
                source,
                packages: f
                    .get("packages")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect(),
                installed: text(f, "installed"),
                fixed_version: f
                    .get("fixed_version")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                status: text(f, "status"),
                urgency: text(f, "urgency"),
                first_seen: text(f, "first_seen"),
                age_days: f.get("age_days").and_then(Value::as_i64).unwrap_or(0),
            }
        })
        .collect();
    let open = || cves.iter().filter(|c| c.waived.is_none());
    HostCves {
        agent: agent.to_string(),
        hostname: hostname.to_string(),
        sequence,
        collected_at,
        snapshot: text(data, "snapshot"),
        release: text(data, "release"),
        note: text(data, "note"),
        actionable: open().filter(|c| c.fix_available()).count(),
        unfixed: open().filter(|c| !c.fix_available()).count(),
        waived: cves.iter().filter(|c| c.waived.is_some()).count(),
        kernel_reboot_pending: data
            .get("kernel_reboot_pending")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        unknown_versions: data
            .get("unknown_versions")
            .and_then(Value::as_array)
            .map_or(0, Vec::len),
        cves,
    }
}

/// The section from every host's rows (any order) and the snapshots cited.
pub fn section(mut hosts: Vec<HostCves>, mut snapshots: Vec<SnapshotRef>) -> VulnSection {
    hosts.sort_by(|a, b| (&a.hostname, &a.agent).cmp(&(&b.hostname, &b.agent)));
    snapshots.sort();
    snapshots.dedup();
    let mut fleet: BTreeMap<&str, FleetCve> = BTreeMap::new();
    for h in &hosts {
        // A CVE counts once per host even when it affects two sources.
        let mut seen: BTreeMap<&str, bool> = BTreeMap::new();
        for c in &h.cves {
            let f = fleet.entry(&c.cve).or_insert_with(|| FleetCve {
                cve: c.cve.clone(),
                sources: Vec::new(),
                open_hosts: 0,
                waived_hosts: 0,
                urgency: c.urgency.clone(),
                fix_available: false,
                first_seen: c.first_seen.clone(),
            });
            if !f.sources.contains(&c.source) {
                f.sources.push(c.source.clone());
                f.sources.sort();
            }
            if rank(&c.urgency) > rank(&f.urgency) {
                f.urgency = c.urgency.clone();
            }
            f.fix_available |= c.fix_available();
            if c.first_seen < f.first_seen {
                f.first_seen = c.first_seen.clone();
            }
            let open = seen.entry(&c.cve).or_insert(false);
            *open |= c.waived.is_none();
        }
        for (cve, open) in seen {
            if let Some(f) = fleet.get_mut(cve) {
                if open {
                    f.open_hosts += 1;
                } else {
                    f.waived_hosts += 1;
                }
            }
        }
    }
    let distinct_open = fleet.values().filter(|f| f.open_hosts > 0).count();
    let mut fleet: Vec<FleetCve> = fleet.into_values().collect();
    fleet.sort_by(|a, b| {
        (b.open_hosts, b.waived_hosts, rank(&b.urgency))
            .cmp(&(a.open_hosts, a.waived_hosts, rank(&a.urgency)))
            .then_with(|| a.cve.cmp(&b.cve))
    });
    fleet.truncate(FLEET_TOP);
    VulnSection {
        snapshots,
        hosts,
        fleet,
        distinct_open,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::waiver::WaiverTarget;
    use serde_json::json;

    fn data(cves: &[(&str, &str, Option<&str>, &str)]) -> Value {
        let open: Vec<Value> = cves
            .iter()
            .map(|(cve, src, fixed, urgency)| {
                json!({"cve": cve, "source": src, "packages": [format!("lib{src}")],
                       "installed": "1.0-1", "fixed_version": fixed,
                       "fix_available": fixed.is_some(), "status": if fixed.is_some() {"fixed"} else {"open"},
                       "urgency": urgency, "first_seen": "2026-01-01T00:00:00Z", "age_days": 30})
            })
            .collect();
        json!({"snapshot": "sha256:ab", "release": "debian:bookworm", "note": "",
               "open": open, "open_count": cves.len(), "waived": [],
               "kernel_reboot_pending": [], "unknown_versions": []})
    }

    #[test]
    fn hosts_show_open_and_waived_cves_and_the_fleet_ranks_by_hosts() {
        let at: DateTime<Utc> = "2026-01-31T00:00:00Z".parse().unwrap();
        let w = Waiver {
            target: WaiverTarget::Cve("CVE-2".into()),
            hosts: vec![glob::Pattern::new("web-*").unwrap()],
            justification: "not reachable".into(),
            approver: "ciso".into(),
            expires: "2026-12-31".parse().unwrap(),
            line: 1,
        };
        let two = data(&[
            ("CVE-1", "openssl", Some("3.0.14-1"), "high"),
            ("CVE-2", "zlib", None, "low"),
        ]);
        let web = host_cves("a1", "web-1", 7, at, &two, std::slice::from_ref(&w));
        assert_eq!((web.actionable, web.unfixed, web.waived), (1, 0, 1));
        assert_eq!(web.cves[1].waived.as_ref().unwrap().approver, "ciso");
        let db = host_cves("a2", "db-1", 3, at, &two, std::slice::from_ref(&w));
        assert_eq!((db.actionable, db.unfixed, db.waived), (1, 1, 0));
        let one = data(&[("CVE-3", "glibc", None, "critical")]);
        let app = host_cves("a3", "app-1", 1, at, &one, &[]);
        let s = section(vec![web, db, app], vec![]);
        assert_eq!(s.hosts[0].hostname, "app-1");
        let order: Vec<(&str, usize, usize)> = s
            .fleet
            .iter()
            .map(|f| (f.cve.as_str(), f.open_hosts, f.waived_hosts))
            .collect();
        assert_eq!(
            order,
            vec![("CVE-1", 2, 0), ("CVE-2", 1, 1), ("CVE-3", 1, 0)]
        );
        assert_eq!(s.distinct_open, 3);
        assert!(s.fleet[0].fix_available && !s.fleet[1].fix_available);
    }
}
