//! The `vulns` data bound to CEL (schema: `schema::probes::vulns`): a
//! [`HostMatch`] with first-seen times and ages, and CVE waivers applied.

use super::index::FeedFormat;
use super::matching::HostMatch;
use crate::evidence::{ProbeData, ProbeStatus};
use crate::policy::waiver::{Waiver, WaiverTarget};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// When each (CVE, source package) was first matched on the host.
pub type FirstSeen = BTreeMap<(String, String), DateTime<Utc>>;

/// The `vulns` probe data of one host: findings get their first-seen time
/// (from `first_seen`, else `collected_at`: seen for the first time now)
/// and their age at `collected_at`.
pub fn probe_data(
    m: &HostMatch,
    snapshot: &str,
    format: FeedFormat,
    first_seen: &FirstSeen,
    collected_at: DateTime<Utc>,
) -> Value {
    let open: Vec<Value> = m
        .findings
        .iter()
        .map(|f| {
            let seen = first_seen
                .get(&(f.cve.clone(), f.source.clone()))
                .copied()
                .unwrap_or(collected_at)
                .min(collected_at);
            json!({
                "cve": f.cve,
                "source": f.source,
                "packages": f.packages,
                "installed": f.installed,
                "fixed_version": f.fixed_version,
                "fix_available": f.fixed_version.is_some(),
                "status": f.status.as_str(),
                "urgency": f.urgency.as_str(),
                "first_seen": seen.to_rfc3339_opts(SecondsFormat::Secs, true),
                "age_days": (collected_at - seen).num_days(),
            })
        })
        .collect();
    let actionable = m.actionable().count();
    json!({
        "snapshot": snapshot,
        "feed_format": format.as_str(),
        "matched": m.release.is_some(),
        "release": m.release.as_ref().map(ToString::to_string).unwrap_or_default(),
        "note": m.note,
        "sources_checked": m.sources_checked,
        "open_count": open.len(),
        "actionable_count": actionable,
        "unfixed_count": open.len() - actionable,
        "open": open,
        "kernel_reboot_pending": m.kernel_reboot_pending,
        "kernel_checked": m.kernel_checked,
        "unknown_versions": m.unknown_versions,
        "waived": [],
    })
}

/// The `vulns` entry of a host's evidence: `ok` with the data, or
/// `unsupported` with the reason (no snapshot imported, no inventory).
pub fn probe_entry(data: Result<Value, String>) -> ProbeData {
    match data {
        Ok(v) => ProbeData {
            version: crate::schema::probes::vulns::SCHEMA.version,
            status: ProbeStatus::Ok,
            reason: None,
            data: Some(v),
        },
        Err(reason) => ProbeData {
            version: crate::schema::probes::vulns::SCHEMA.version,
            status: ProbeStatus::Unsupported,
            reason: Some(reason),
            data: None,
        },
    }
}

/// Move the open CVEs that a current CVE waiver covers for `hostname` on
/// `today` from `open` to `waived` (counts updated). Pure; applied by
/// evaluation, so ingest and offline `verify` agree.
pub fn apply_cve_waivers(data: &mut Value, waivers: &[Waiver], hostname: &str, today: NaiveDate) {
    let applicable: Vec<(&str, &Waiver)> = waivers
        .iter()
        .filter_map(|w| match &w.target {
            WaiverTarget::Cve(c) => Some((c.as_str(), w)),
            _ => None,
        })
        .filter(|(_, w)| w.matches_host(hostname) && w.current_on(today))
        .collect();
    if applicable.is_empty() {
        return;
    }
    let Some(obj) = data.as_object_mut() else {
        return;
    };
    let Some(Value::Array(open)) = obj.remove("open") else {
        return;
    };
    let mut kept = Vec::new();
    let mut waived = Vec::new();
    for f in open {
        let cve = f.get("cve").and_then(Value::as_str).unwrap_or("");
        match applicable.iter().find(|(c, _)| *c == cve) {
            Some((_, w)) => waived.push(json!({
                "cve": cve,
                "source": f.get("source").cloned().unwrap_or(Value::Null),
                "justification": w.justification,
                "approver": w.approver,
                "expires": w.expires.to_string(),
            })),
            None => kept.push(f),
        }
    }
    let actionable = kept
        .iter()
        .filter(|f| f.get("fix_available") == Some(&Value::Bool(true)))
        .count();
    obj.insert("open_count".into(), json!(kept.len()));
    obj.insert("actionable_count".into(), json!(actionable));
    obj.insert("unfixed_count".into(), json!(kept.len() - actionable));
    obj.insert("open".into(), Value::Array(kept));
    obj.insert("waived".into(), Value::Array(waived));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vuln::index::{Release, Status, Urgency};
    use crate::vuln::matching::PackageFinding;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn data_matches_the_schema_and_ages_come_from_first_seen() {
        let m = HostMatch {
            release: Some(Release::new("debian", "bookworm")),
            sources_checked: 3,
            findings: vec![
                PackageFinding {
                    cve: "CVE-2024-1".into(),
                    source: "openssl".into(),
                    installed: "3.0.11-1".into(),
                    packages: vec!["libssl3".into()],
                    status: Status::Fixed,
                    fixed_version: Some("3.0.14-1".into()),
                    urgency: Urgency::High,
                },
                PackageFinding {
                    cve: "CVE-2024-2".into(),
                    source: "openssl".into(),
                    installed: "3.0.11-1".into(),
                    packages: vec!["libssl3".into()],
                    status: Status::Open,
                    fixed_version: None,
                    urgency: Urgency::Low,
                },
            ],
            ..HostMatch::default()
        };
        let mut seen = FirstSeen::new();
        seen.insert(
            ("CVE-2024-1".into(), "openssl".into()),
            t("2026-01-01T00:00:00Z"),
        );
        let v = probe_data(
            &m,
            "sha256:00",
            FeedFormat::DebianTracker,
            &seen,
            t("2026-01-20T12:00:00Z"),
        );
        let schema = &crate::schema::probes::vulns::SCHEMA;
        assert_eq!(schema.check(&v), vec![]);
        assert_eq!(v["open"][0]["age_days"], 19);
        assert_eq!(v["open"][1]["age_days"], 0);
        assert_eq!(v["actionable_count"], 1);
        assert_eq!(v["unfixed_count"], 1);
        assert_eq!(v["release"], "debian:bookworm");
    }

    #[test]
    fn a_current_cve_waiver_moves_the_cve_to_waived_on_matching_hosts_only() {
        let data = || {
            json!({"open": [
                {"cve": "CVE-2024-1086", "source": "linux", "fix_available": true},
                {"cve": "CVE-2024-2", "source": "openssl", "fix_available": false}
            ], "open_count": 2, "actionable_count": 1, "unfixed_count": 1, "waived": []})
        };
        let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let w = Waiver {
            target: WaiverTarget::Cve("CVE-2024-1086".into()),
            hosts: vec![glob::Pattern::new("build-*").unwrap()],
            justification: "nf_tables not loaded".into(),
            approver: "ciso@example.com".into(),
            expires: day("2027-03-31"),
            line: 1,
        };
        let mut v = data();
        apply_cve_waivers(
            &mut v,
            std::slice::from_ref(&w),
            "build-7",
            day("2027-01-01"),
        );
        assert_eq!(v["open_count"], 1);
        assert_eq!(v["actionable_count"], 0);
        assert_eq!(v["open"][0]["cve"], "CVE-2024-2");
        assert_eq!(v["waived"][0]["cve"], "CVE-2024-1086");
        assert_eq!(v["waived"][0]["approver"], "ciso@example.com");
        assert_eq!(v["waived"][0]["expires"], "2027-03-31");
        // Another host, or after expiry: nothing changes.
        for (host, on) in [("web-1", "2027-01-01"), ("build-7", "2027-04-01")] {
            let mut v = data();
            apply_cve_waivers(&mut v, std::slice::from_ref(&w), host, day(on));
            assert_eq!(v, data(), "{host} {on}");
        }
    }

    #[test]
    fn cve_waivers_load_from_the_waivers_file_and_bad_ids_are_refused() {
        const POLICY: &str = "[policy]\nid = \"t\"\nversion = \"1\"\ntitle = \"T\"\n[[rule]]\nid = \"r\"\ntitle = \"R\"\ncontrols = [\"A.8.8\"]\nseverity = \"high\"\nrequires = [\"vulns\"]\ncheck = 'vulns.open_count == 0'\n";
        let set = crate::policy::PolicySet::load(
            &[crate::policy::PolicySource::new(
                "t.toml",
                POLICY.as_bytes(),
            )],
            crate::catalog::Catalog::annex_a(),
        )
        .unwrap();
        let ok = "[[waiver]]\ncve = \"CVE-2024-1086\"\njustification = \"x\"\napprover = \"y\"\nexpires = 2027-01-01\n";
        let s = set.clone().with_waivers("w.toml", ok.as_bytes()).unwrap();
        assert!(matches!(&s.waivers()[0].target, WaiverTarget::Cve(c) if c == "CVE-2024-1086"));
        // Evaluation applies it: the one open CVE is waived on build-7 only.
        let ev = |host: &str| crate::evidence::Evidence {
            host: crate::evidence::HostFacts {
                hostname: host.into(),
                os_family: "linux".into(),
                ..Default::default()
            },
            collected_at: t("2026-06-01T00:00:00Z"),
            probes: [(
                "vulns".to_string(),
                probe_entry(Ok(
                    json!({"open": [{"cve": "CVE-2024-1086", "fix_available": true}],
                    "open_count": 1, "actionable_count": 1, "unfixed_count": 0, "waived": []}),
                )),
            )]
            .into_iter()
            .collect(),
        };
        let hosts = ok.replace("cve =", "hosts = [\"build-*\"]\ncve =");
        let s = set
            .clone()
            .with_waivers("w.toml", hosts.as_bytes())
            .unwrap();
        let status = |host: &str| crate::policy::evaluate(&s, &ev(host)).rules[0].status;
        assert_eq!(status("build-7"), crate::policy::RuleStatus::Pass);
        assert_eq!(status("web-1"), crate::policy::RuleStatus::Fail);
        let bad = ok.replace("CVE-2024-1086", "CVE 2024");
        assert!(set.with_waivers("w.toml", bad.as_bytes()).is_err());
    }
}
