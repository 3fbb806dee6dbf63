//! What an evaluation's results depend on, so that callers (ingest, offline
//! `verify`) evaluate identical evidence once and share the results.
//!
//! Results under one [`PolicySet`] depend on the probe entries (their data
//! by digest, status and reason); on the collection time only through the
//! waivers current on its day, on the day when an expression reads
//! `collected_day`, or exactly when an expression reads `collected_at`; on
//! the host facts only when an expression reads `host`,
//! and otherwise on the host only through the waivers whose host globs
//! match its name. An unchanged host therefore keeps one key from day to
//! day (until a waiver expires), and hosts sending the same data share one
//! when no expression reads `host`.

use super::coverage::AttestationInput;
use super::waiver::Waiver;
use super::{Expr, PolicySet};
use crate::digest::{sha256_digest, Digest};
use crate::evidence::{HostFacts, Statement};
use serde::Serialize;

impl PolicySet {
    fn expressions(&self) -> impl Iterator<Item = &Expr> {
        self.policies().iter().flat_map(|p| {
            p.applies_to.iter().chain(p.rules.iter().flat_map(|r| {
                std::iter::once(&r.check)
                    .chain(r.applies_to.iter())
                    .chain(r.known_when.iter())
            }))
        })
    }

    fn reads_variable(&self, name: &str) -> bool {
        self.expressions()
            .any(|e| e.program.references().has_variable(name))
    }

    /// Whether any expression reads `collected_at` (results then depend on
    /// the exact time, not only the day).
    pub fn reads_collected_at(&self) -> bool {
        self.reads_variable("collected_at")
    }

    /// Whether any expression reads `collected_day` (results then depend
    /// on the collection day).
    pub fn reads_collected_day(&self) -> bool {
        self.reads_variable("collected_day")
    }

    /// Whether any expression reads `host`.
    pub fn reads_host(&self) -> bool {
        self.reads_variable("host")
    }
}

/// Computes evaluation keys for one policy set (what the set reads is
/// worked out once, at construction).
#[derive(Debug, Clone)]
pub struct EvalKeys {
    exact_time: bool,
    day: bool,
    host: bool,
    /// The set's waivers (host globs and expiry).
    waivers: Vec<Waiver>,
}

/// (id, version, status, digest, reason) of one probe entry: everything
/// evaluation reads of it (not its duration).
type ProbeKey<'a> = (&'a str, u32, &'a str, Option<Digest>, Option<&'a str>);

#[derive(Serialize)]
struct Key<'a> {
    host: Option<&'a HostFacts>,
    /// Per waiver: (applies to this host, current on the collection day).
    waivers: Vec<(bool, bool)>,
    probes: Vec<ProbeKey<'a>>,
    /// The exact time, when read.
    at: Option<String>,
    /// The attestations evaluation was given (digests), and the collection
    /// day when there are any (whether one is current depends on the day)
    /// or when an expression reads `collected_day`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    attestations: Vec<&'a Digest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    day: Option<String>,
}

impl EvalKeys {
    /// The keys of evaluations under `set`.
    pub fn new(set: &PolicySet) -> EvalKeys {
        EvalKeys {
            exact_time: set.reads_collected_at(),
            day: set.reads_collected_day(),
            host: set.reads_host(),
            waivers: set.waivers().to_vec(),
        }
    }

    /// Whether results depend on the exact collection time.
    pub fn exact_time(&self) -> bool {
        self.exact_time
    }

    /// The key of evaluating `st` (with its blobs) under the set: equal keys,
    /// equal results.
    pub fn key(&self, st: &Statement) -> Digest {
        self.key_with(st, &[])
    }

    /// The key of evaluating `st` with `attestations` (hybrid controls):
    /// equal keys, equal results.
    pub fn key_with(&self, st: &Statement, attestations: &[AttestationInput]) -> Digest {
        let p = &st.predicate;
        let key = Key {
            host: self.host.then_some(&p.host),
            waivers: self
                .waivers
                .iter()
                .map(|w| {
                    (
                        w.matches_host(&p.host.hostname),
                        w.current_on(p.collected_at.date_naive()),
                    )
                })
                .collect(),
            probes: p
                .probes
                .iter()
                .map(|e| {
                    (
                        e.id.as_str(),
                        e.version,
                        e.status.as_str(),
                        e.digest,
                        e.reason.as_deref(),
                    )
                })
                .collect(),
            at: self.exact_time.then(|| p.collected_at.to_rfc3339()),
            attestations: attestations.iter().map(|a| &a.digest).collect(),
            day: (self.day || !attestations.is_empty())
                .then(|| p.collected_at.date_naive().to_string()),
        };
        sha256_digest(&serde_json::to_vec(&key).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::evidence::{AgentInfo, Predicate, ProbeEntry, ProbeStatus, Schedule};
    use crate::policy::PolicySource;

    const PLAIN: &str = r#"
[policy]
id = "t"
version = "1"
title = "T"
[[rule]]
id = "ssh.root-login"
title = "No root login"
controls = ["A.8.5"]
severity = "high"
requires = ["sshd"]
check = 'sshd.permitrootlogin == "no"'
"#;

    fn set(extra_rule_check: Option<&str>, waivers: &str) -> PolicySet {
        let mut text = PLAIN.to_string();
        if let Some(check) = extra_rule_check {
            text.push_str(&format!(
                "[[rule]]\nid = \"x\"\ntitle = \"x\"\ncontrols = [\"A.8.5\"]\nseverity = \"low\"\nrequires = [\"sshd\"]\ncheck = '{check}'\n"
            ));
        }
        let set = PolicySet::load(
            &[PolicySource::new("t.toml", text.as_bytes())],
            Catalog::annex_a(),
        )
        .unwrap();
        if waivers.is_empty() {
            set
        } else {
            set.with_waivers("w.toml", waivers.as_bytes()).unwrap()
        }
    }

    fn statement(host: &str, at: &str, blob: &[u8], duration_us: u64) -> Statement {
        Statement::new(Predicate {
            agent: AgentInfo {
                id: format!("agent-{host}"),
                version: "0.1.0".into(),
            },
            host: HostFacts {
                hostname: host.into(),
                os_family: "linux".into(),
                ..Default::default()
            },
            sequence: 1,
            previous: None,
            gap: None,
            collected_at: at.parse().unwrap(),
            schedule: Schedule {
                cron: "0 * * * * *".into(),
                interval_seconds: 3600,
            },
            probes: vec![ProbeEntry {
                id: "sshd".into(),
                version: 1,
                status: ProbeStatus::Ok,
                duration_us,
                digest: Some(sha256_digest(blob)),
                reason: None,
            }],
        })
    }

    #[test]
    fn same_data_shares_a_key_across_hosts_days_and_durations() {
        let s = set(None, "");
        assert!(!s.reads_collected_at() && !s.reads_host());
        let k = EvalKeys::new(&s);
        let a = k.key(&statement("web-1", "2026-11-20T10:00:00Z", b"{}", 5));
        assert_eq!(
            a,
            k.key(&statement("web-2", "2026-11-21T11:00:00Z", b"{}", 9))
        );
        assert_ne!(
            a,
            k.key(&statement("web-1", "2026-11-20T10:00:00Z", b"{\"a\":1}", 5))
        );
    }

    #[test]
    fn reading_host_or_time_makes_them_part_of_the_key() {
        let s = set(Some("host.os_family == \"linux\""), "");
        assert!(s.reads_host() && !s.reads_collected_at());
        let k = EvalKeys::new(&s);
        assert_ne!(
            k.key(&statement("web-1", "2026-11-20T10:00:00Z", b"{}", 5)),
            k.key(&statement("web-2", "2026-11-20T10:00:00Z", b"{}", 5))
        );
        let s = set(
            Some("collected_at > timestamp(\"2026-01-01T00:00:00Z\")"),
            "",
        );
        assert!(s.reads_collected_at() && !s.reads_host());
        let k = EvalKeys::new(&s);
        assert!(k.exact_time());
        assert_ne!(
            k.key(&statement("web-1", "2026-11-20T10:00:00Z", b"{}", 5)),
            k.key(&statement("web-1", "2026-11-20T10:00:01Z", b"{}", 5))
        );
    }

    #[test]
    fn reading_the_collection_day_keys_on_the_day_only() {
        let s = set(
            Some("collected_day - timestamp(\"2026-11-01T00:00:00Z\") < duration(\"480h\")"),
            "",
        );
        assert!(s.reads_collected_day() && !s.reads_collected_at());
        let k = EvalKeys::new(&s);
        assert!(!k.exact_time());
        let at = |t: &str| k.key(&statement("web-1", t, b"{}", 5));
        assert_eq!(at("2026-11-20T00:00:00Z"), at("2026-11-20T23:59:59Z"));
        assert_ne!(at("2026-11-20T23:59:59Z"), at("2026-11-21T00:00:00Z"));
        // And the result does follow the day: 19 days after the 1st holds,
        // 20 days does not.
        let eval = |t: &str| {
            let st = statement("web-1", t, b"{}", 5);
            let ev = crate::Evidence::from_statement(&st, |_| Some(b"{}".as_slice())).unwrap();
            crate::evaluate(&s, &ev)
                .rules
                .into_iter()
                .find(|r| r.id == "x")
                .unwrap()
                .status
        };
        use crate::policy::RuleStatus;
        assert_eq!(eval("2026-11-20T23:59:59Z"), RuleStatus::Pass);
        assert_eq!(eval("2026-11-21T00:00:00Z"), RuleStatus::Fail);
    }

    #[test]
    fn waivers_key_on_matching_hosts_and_expiry() {
        let s = set(
            None,
            "[[waiver]]\nrule = \"ssh.root-login\"\nhosts = [\"bastion-*\"]\njustification = \"j\"\napprover = \"a\"\nexpires = 2026-12-31\n",
        );
        let k = EvalKeys::new(&s);
        let day = |host: &str, at: &str| k.key(&statement(host, at, b"{}", 1));
        assert_eq!(
            day("web-1", "2026-12-01T00:00:00Z"),
            day("web-2", "2026-12-30T00:00:00Z")
        );
        assert_ne!(
            day("web-1", "2026-12-01T00:00:00Z"),
            day("bastion-1", "2026-12-01T00:00:00Z")
        );
        assert_eq!(
            day("bastion-1", "2026-12-01T00:00:00Z"),
            day("bastion-2", "2026-12-31T23:00:00Z")
        );
        assert_ne!(
            day("bastion-1", "2026-12-31T23:00:00Z"),
            day("bastion-1", "2027-01-01T00:00:00Z")
        );
    }
}
