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
//!
//! Results depend on the day only through the rules that read
//! `collected_day` (when no policy gate reads it, no expression reads
//! `collected_at` and no attestation is given). [`EvalKeys::day_free_key`]
//! is a second key with those rules' *results* in place of the day: the
//! results of the whole set are equal whenever it is, so a caller
//! evaluates the few day-reading rules (on only the probes they read, see
//! [`EvalKeys::day_probes`]) and reuses everything else across a day
//! boundary when their results did not change.

use super::coverage::AttestationInput;
use super::eval::{evaluate_rules, RuleResult};
use super::fields::fields_read_by;
use super::waiver::Waiver;
use super::{probe_variable, Expr, PolicySet, Rule};
use crate::digest::{sha256_json_digest, Digest};
use crate::evidence::{Evidence, HostFacts, Statement};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

impl PolicySet {
    /// Every expression of the set: policy gates, rule checks, rule gates.
    pub(super) fn expressions(&self) -> impl Iterator<Item = &Expr> {
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

fn rule_expressions(r: &Rule) -> impl Iterator<Item = &Expr> {
    std::iter::once(&r.check)
        .chain(r.applies_to.iter())
        .chain(r.known_when.iter())
}

/// The rules that read `collected_day` and the probes they (and their
/// policies' gates) read; None when the day cannot be keyed apart: a
/// policy gate reads the day, or an expression reads the exact time.
fn day_split(set: &PolicySet) -> Option<DaySplit> {
    if !set.reads_collected_day() || set.reads_collected_at() {
        return None;
    }
    let reads_day = |e: &Expr| e.program.references().has_variable("collected_day");
    let mut rules = BTreeSet::new();
    let mut exprs: Vec<&Expr> = Vec::new();
    let mut probes: BTreeSet<String> = BTreeSet::new();
    for p in set.policies() {
        if p.applies_to.as_ref().is_some_and(reads_day) {
            return None;
        }
        let day_rules: Vec<&Rule> = p
            .rules
            .iter()
            .filter(|r| rule_expressions(r).any(reads_day))
            .collect();
        if day_rules.is_empty() {
            continue;
        }
        exprs.extend(p.applies_to.iter());
        for r in day_rules {
            rules.insert(r.id.clone());
            probes.extend(r.requires.iter().cloned());
            exprs.extend(rule_expressions(r));
        }
    }
    // Whatever else those expressions read (the `host` probe's data is
    // part of the `host` variable).
    let candidates = set.used_probes.iter().map(String::as_str).chain(["host"]);
    for probe in candidates {
        let var = probe_variable(probe);
        if exprs
            .iter()
            .any(|e| e.program.references().has_variable(&var))
        {
            probes.insert(probe.to_string());
        }
    }
    let sources: Vec<&str> = exprs.iter().map(|e| e.source()).collect();
    let fields = probes
        .iter()
        .map(|p| {
            let var = probe_variable(p);
            (p.clone(), fields_read_by(sources.iter().copied(), &var))
        })
        .collect();
    Some(DaySplit {
        rules,
        probes: probes.into_iter().collect(),
        fields,
    })
}

/// See [`EvalKeys::day_free_key`].
#[derive(Debug, Clone)]
struct DaySplit {
    /// Ids of the rules reading `collected_day`.
    rules: BTreeSet<String>,
    /// Probes they read (sorted).
    probes: Vec<String>,
    /// Per probe, the fields of its data those rules (and their policies'
    /// gates) read; None: the whole value.
    fields: BTreeMap<String, Option<BTreeSet<String>>>,
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
    /// The day-reading rules, when they can be keyed apart.
    day_split: Option<DaySplit>,
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
    /// In a day-free key: the results of the rules reading the day.
    #[serde(skip_serializing_if = "Option::is_none")]
    day_rules: Option<Vec<&'a RuleResult>>,
}

impl EvalKeys {
    /// The keys of evaluations under `set`.
    pub fn new(set: &PolicySet) -> EvalKeys {
        EvalKeys {
            exact_time: set.reads_collected_at(),
            day: set.reads_collected_day(),
            host: set.reads_host(),
            waivers: set.waivers().to_vec(),
            day_split: day_split(set),
        }
    }

    /// The probes the rules reading `collected_day` need (their evidence
    /// for [`EvalKeys::day_results`]); None when results cannot be keyed
    /// apart from the day (see [`EvalKeys::day_free_key`]).
    pub fn day_probes(&self) -> Option<&[String]> {
        self.day_split.as_ref().map(|d| d.probes.as_slice())
    }

    /// The fields of `probe`'s data the day-reading rules read (None: the
    /// whole value, or `probe` is not one they read): an evidence projected
    /// to these ([`crate::Evidence::project_blob`]) gives
    /// [`EvalKeys::day_results`] what a whole one gives.
    pub fn day_fields(&self, probe: &str) -> Option<&BTreeSet<String>> {
        self.day_split.as_ref()?.fields.get(probe)?.as_ref()
    }

    /// Whether `rule` is one of the rules keyed apart (it reads `collected_day`).
    pub fn is_day_rule(&self, rule: &Rule) -> bool {
        self.day_split
            .as_ref()
            .is_some_and(|d| d.rules.contains(&rule.id))
    }

    /// `st` with only the probe entries the day-reading rules need (None:
    /// no split). Its evidence is enough for [`EvalKeys::day_results`].
    pub fn day_statement(&self, st: &Statement) -> Option<Statement> {
        let split = self.day_split.as_ref()?;
        let mut st = st.clone();
        st.predicate
            .probes
            .retain(|e| split.probes.binary_search(&e.id).is_ok());
        Some(st)
    }

    /// The results of the day-reading rules on `evidence` (which needs only
    /// the probes of [`EvalKeys::day_probes`]), as a full evaluation gives them.
    pub fn day_results(&self, set: &PolicySet, evidence: &Evidence) -> Vec<RuleResult> {
        if self.day_split.is_none() {
            return Vec::new();
        }
        evaluate_rules(set, evidence, |r| self.is_day_rule(r))
    }

    /// The day-free key of `st`: [`EvalKeys::key_with`] with, instead of
    /// the collection day, the results `rules` of a full evaluation or of
    /// [`EvalKeys::day_results`] (only the day-reading rules of it are
    /// taken). Equal day-free keys, equal results, whatever the days. None
    /// when the set cannot key the day apart or `attestations` are given
    /// (whether one is current depends on the day).
    pub fn day_free_key<'a>(
        &self,
        st: &Statement,
        attestations: &[AttestationInput],
        rules: impl IntoIterator<Item = &'a RuleResult>,
    ) -> Option<Digest> {
        let split = self.day_split.as_ref()?;
        if !attestations.is_empty() {
            return None;
        }
        let day_rules = rules
            .into_iter()
            .filter(|r| split.rules.contains(&r.id))
            .collect();
        Some(self.digest(st, attestations, false, Some(day_rules)))
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
        let day = self.day || !attestations.is_empty();
        self.digest(st, attestations, day, None)
    }

    fn digest(
        &self,
        st: &Statement,
        attestations: &[AttestationInput],
        day: bool,
        day_rules: Option<Vec<&RuleResult>>,
    ) -> Digest {
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
            day: day.then(|| p.collected_at.date_naive().to_string()),
            day_rules,
        };
        sha256_json_digest(&key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::digest::sha256_digest;
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

    /// A set whose day-reading rule reads another probe than the plain
    /// rule (`packages`, like the bundled `packages.recently-updated`).
    fn day_set(waivers: &str) -> PolicySet {
        let text = format!(
            "{PLAIN}[[rule]]\nid = \"pkg.recent\"\ntitle = \"r\"\ncontrols = [\"A.8.8\"]\nseverity = \"medium\"\nrequires = [\"packages\"]\ncheck = 'packages.last_update != null && timestamp(packages.last_update) >= collected_day - duration(\"720h\")'\n"
        );
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

    /// A statement with an `sshd` and a `packages` probe, and their blobs.
    fn two_probes(host: &str, at: &str, root: &str) -> (Statement, Vec<Vec<u8>>) {
        let sshd = format!("{{\"permitrootlogin\":\"{root}\"}}").into_bytes();
        let packages = br#"{"last_update":"2026-11-01T10:00:00Z"}"#.to_vec();
        let mut st = statement(host, at, &sshd, 5);
        st.predicate.probes.push(ProbeEntry {
            id: "packages".into(),
            version: 1,
            status: ProbeStatus::Ok,
            duration_us: 7,
            digest: Some(sha256_digest(&packages)),
            reason: None,
        });
        (st, vec![sshd, packages])
    }

    fn evidence_of(st: &Statement, blobs: &[Vec<u8>]) -> crate::Evidence {
        crate::Evidence::from_statement(st, |d| {
            blobs
                .iter()
                .find(|b| sha256_digest(b) == *d)
                .map(Vec::as_slice)
        })
        .unwrap()
    }

    #[test]
    fn day_fields_are_those_the_day_rules_read() {
        // Another rule reads the inventory's names: the day rules do not.
        let text = format!(
            "{PLAIN}[[rule]]\nid = \"pkg.recent\"\ntitle = \"r\"\ncontrols = [\"A.8.8\"]\nseverity = \"medium\"\nrequires = [\"packages\"]\ncheck = 'packages.last_update != null && timestamp(packages.last_update) >= collected_day - duration(\"720h\")'\n[[rule]]\nid = \"pkg.no-telnet\"\ntitle = \"t\"\ncontrols = [\"A.8.8\"]\nseverity = \"low\"\nrequires = [\"packages\"]\ncheck = '!(\"telnet\" in packages.installed_names)'\n"
        );
        let s = PolicySet::load(
            &[PolicySource::new("t.toml", text.as_bytes())],
            Catalog::annex_a(),
        )
        .unwrap();
        let k = EvalKeys::new(&s);
        let only = |f: &[&str]| f.iter().map(|x| x.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(k.day_fields("packages"), Some(&only(&["last_update"])));
        assert_eq!(
            s.fields_converted("packages"),
            Some(&only(&["installed_names", "last_update"]))
        );
        assert_eq!(k.day_fields("sshd"), None);
        // Day results on the evidence projected to those fields are the
        // full evidence's.
        let (st, blobs) = two_probes("web-1", "2026-11-20T10:00:00Z", "no");
        let mut blobs = blobs;
        blobs[1] = br#"{"last_update":"2026-11-01T10:00:00Z","installed_names":["bash","telnet"]}"#
            .to_vec();
        let mut st = st;
        st.predicate.probes[1].digest = Some(sha256_digest(&blobs[1]));
        let full = evidence_of(&st, &blobs);
        let part = k.day_statement(&st).unwrap();
        let projected = crate::Evidence::from_statement_with(&part, |probe, d| {
            let b = blobs.iter().find(|b| sha256_digest(b) == *d).unwrap();
            crate::Evidence::project_blob(probe, d, b, k.day_fields(probe))
        })
        .unwrap();
        assert_eq!(
            projected.probes["packages"].data,
            Some(serde_json::json!({"last_update": "2026-11-01T10:00:00Z"}))
        );
        assert_eq!(k.day_results(&s, &projected), k.day_results(&s, &full));
        assert_eq!(k.day_results(&s, &full).len(), 1);
    }

    #[test]
    fn equal_day_free_keys_mean_equal_results_across_days() {
        let waiver = "[[waiver]]\nrule = \"ssh.root-login\"\nhosts = [\"bastion-*\"]\njustification = \"j\"\napprover = \"a\"\nexpires = 2026-11-20\n";
        for waivers in ["", waiver] {
            let s = day_set(waivers);
            let k = EvalKeys::new(&s);
            assert_eq!(k.day_probes(), Some(["packages".to_string()].as_slice()));
            let mut seen: Vec<(Digest, Vec<u8>)> = Vec::new();
            let mut distinct = std::collections::BTreeSet::new();
            for host in ["web-1", "bastion-1"] {
                for root in ["no", "yes"] {
                    for day in 15..=30 {
                        for hour in ["00:00:00", "23:59:59"] {
                            let at = format!("2026-11-{day:02}T{hour}Z");
                            let (st, blobs) = two_probes(host, &at, root);
                            let full = crate::evaluate(&s, &evidence_of(&st, &blobs));
                            // The day part alone, on the day-reading rules' probes only.
                            let part = k.day_statement(&st).unwrap();
                            assert_eq!(part.predicate.probes.len(), 1);
                            let day = k.day_results(&s, &evidence_of(&part, &blobs));
                            assert_eq!(day.len(), 1);
                            let from_full = k.day_free_key(&st, &[], &full.rules).unwrap();
                            assert_eq!(from_full, k.day_free_key(&st, &[], &day).unwrap());
                            assert_ne!(from_full, k.key(&st));
                            let results = serde_json::to_vec(
                                &crate::bundle::RecordedResults::from_evaluation(full),
                            )
                            .unwrap();
                            for (key, r) in &seen {
                                if *key == from_full {
                                    assert_eq!(r, &results, "{host} {at} {root}");
                                }
                            }
                            distinct.insert(from_full);
                            seen.push((from_full, results));
                        }
                    }
                }
            }
            // The day rule passes all month, so the keys are one per sshd
            // data (and, with the waiver, per host match × waiver current
            // or expired): the day itself is not in them.
            let expected = if waivers.is_empty() { 2 } else { 8 };
            assert_eq!(distinct.len(), expected, "waivers: {waivers:?}");
        }
    }

    #[test]
    fn the_day_rule_turning_changes_the_day_free_key() {
        let s = day_set("");
        let k = EvalKeys::new(&s);
        let key = |at: &str| {
            let (st, blobs) = two_probes("web-1", at, "no");
            let part = k.day_statement(&st).unwrap();
            let day = k.day_results(&s, &evidence_of(&part, &blobs));
            k.day_free_key(&st, &[], &day).unwrap()
        };
        // 30 days after 2026-11-01T10:00: passes on Dec 1st (day start
        // 00:00 minus 720 h is Nov 1st 00:00), fails on Dec 2nd.
        assert_eq!(key("2026-11-15T00:00:00Z"), key("2026-12-01T12:00:00Z"));
        assert_ne!(key("2026-12-01T12:00:00Z"), key("2026-12-02T00:00:00Z"));
        assert_eq!(key("2026-12-02T00:00:00Z"), key("2026-12-09T00:00:00Z"));
    }

    #[test]
    fn no_day_free_key_when_the_day_cannot_be_keyed_apart() {
        // No rule reads the day.
        let k = EvalKeys::new(&set(None, ""));
        assert!(k.day_probes().is_none());
        let st = statement("web-1", "2026-11-20T10:00:00Z", b"{}", 5);
        assert!(k.day_free_key(&st, &[], &[]).is_none());
        // The exact time is read.
        let both = set(
            Some("collected_at > timestamp(\"2026-01-01T00:00:00Z\") && collected_day > timestamp(\"2026-01-01T00:00:00Z\")"),
            "",
        );
        assert!(EvalKeys::new(&both).day_probes().is_none());
        // Attestations given: their currency depends on the day.
        let s = day_set("");
        let k = EvalKeys::new(&s);
        let (st, _) = two_probes("web-1", "2026-11-20T10:00:00Z", "no");
        let a = AttestationInput {
            control: "A.5.1".into(),
            digest: Digest([3; 32]),
            signed_at: "2026-11-01T00:00:00Z".parse().unwrap(),
            expires: "2027-01-01".parse().unwrap(),
        };
        assert!(k.day_free_key(&st, std::slice::from_ref(&a), &[]).is_none());
    }
}
