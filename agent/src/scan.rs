//! The scan pipeline: collect the probes the policies need, build evidence,
//! evaluate; and the scan's exit code. Used by `evident-agent scan`.
//!
//! [`load_and_scan`] compiles the policies (CEL parsing is most of a warm
//! scan's CPU time) while the probes run on other threads: the probes a
//! valid policy reads are exactly those its rules list in `requires` (the
//! loader rejects a rule reading an unlisted probe), and those lists are
//! read from the TOML first, without compiling anything. The evidence is
//! the same as collecting after loading: only the probes the loaded set
//! needs are kept, and any it needs that were not guessed are collected
//! then.

use crate::collect::{collect, CollectError};
use crate::hostroot::HostRoot;
use chrono::{DateTime, Utc};
use evident_core::evidence::CollectedProbe;
use evident_core::policy::{evaluate, Evaluation, PolicySet, PolicySource};
use evident_core::Evidence;

/// Why a scan could not run.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Policies(#[from] evident_policies::LoadError),
    #[error(transparent)]
    Collect(#[from] CollectError),
}

/// The probes a scan collects for `set`: what its rules read, plus `host`.
/// Data the collector derives (`vulns`) is not collected here: rules
/// reading it are no-evidence in a scan.
fn needed(mut probes: Vec<String>) -> Vec<String> {
    probes.retain(|p| {
        !evident_core::schema::probes::DERIVED
            .iter()
            .any(|d| d.id == p)
    });
    if !probes.iter().any(|p| p == "host") {
        probes.insert(0, "host".to_string());
    }
    probes
}

/// Collect what `set` needs (plus `host`) under `root` and evaluate it.
pub fn scan(
    set: &PolicySet,
    root: &HostRoot,
    now: DateTime<Utc>,
) -> Result<(Evidence, Evaluation), CollectError> {
    let collected = collect(root, &needed(set.probes_needed()))?;
    let evidence = Evidence::from_collected(&collected, now);
    let evaluation = evaluate(set, &evidence);
    Ok((evidence, evaluation))
}

/// Load `sources` and scan `root` with them, running the probes the policy
/// files declare while the policies compile (see the module comment). The
/// result is the same as [`scan`] after [`evident_policies::Sources::load`].
pub fn load_and_scan(
    sources: &evident_policies::Sources,
    root: &HostRoot,
    now: DateTime<Utc>,
) -> Result<(PolicySet, Evidence, Evaluation), ScanError> {
    let (set, early) = std::thread::scope(|s| {
        // The guess (a TOML parse) is made on the probes' side too.
        let early = s.spawn(|| collect(root, &needed(declared_probes(&sources.policies))));
        let set = sources.load();
        let early = match early.join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        (set, early)
    });
    let set = set?;
    let want = needed(set.probes_needed());
    let collected: Vec<CollectedProbe> = match early {
        Ok(all) if want.iter().all(|id| all.iter().any(|c| c.probe == *id)) => all
            .into_iter()
            .filter(|c| want.contains(&c.probe))
            .collect(),
        _ => collect(root, &want)?,
    };
    let evidence = Evidence::from_collected(&collected, now);
    let evaluation = evaluate(&set, &evidence);
    Ok((set, evidence, evaluation))
}

/// The probes the rules of `sources` list in `requires`, known ones only,
/// read from the TOML without compiling anything (a file that does not
/// parse contributes nothing; loading it reports the error).
fn declared_probes(sources: &[PolicySource]) -> Vec<String> {
    #[derive(serde::Deserialize, Default)]
    #[serde(default)]
    struct File {
        rule: Vec<Rule>,
    }
    #[derive(serde::Deserialize, Default)]
    #[serde(default)]
    struct Rule {
        requires: Vec<String>,
    }
    let mut out: Vec<String> = sources
        .iter()
        .filter_map(|s| std::str::from_utf8(&s.bytes).ok())
        .filter_map(|t| toml::from_str::<File>(t).ok())
        .flat_map(|f| f.rule.into_iter().flat_map(|r| r.requires))
        .filter(|id| crate::probes::find(id).is_some())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The exit code of a scan: 2 when a rule ended in `error` (the policy is
/// broken for this host, so the result proves nothing), 1 when a rule
/// failed, 0 otherwise.
pub fn exit_code(evaluation: &Evaluation) -> u8 {
    if !evaluation.rule_errors().is_empty() {
        2
    } else if evaluation.has_failures() {
        1
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use evident_core::policy::{RuleResult, RuleStatus, Severity, Summary};

    /// Loading while collecting gives the same evidence and evaluation as
    /// loading first, for the bundled policies, a policy needing fewer
    /// probes, and one whose `requires` cannot be guessed from the TOML.
    #[test]
    fn loading_while_collecting_gives_the_same_scan() {
        let root = HostRoot::offline(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/packages/debian12-weak"
        ));
        let now: DateTime<Utc> = "2026-11-20T10:00:00Z".parse().unwrap();
        let small = "[policy]\nid = \"p\"\nversion = \"1\"\ntitle = \"t\"\n\n[[rule]]\nid = \"r\"\ntitle = \"t\"\ncontrols = [\"A.8.8\"]\nseverity = \"low\"\nrequires = [\"packages\"]\ncheck = \"packages.pending_updates == 0\"\n";
        let bundled = evident_policies::read_sources(&[], None).unwrap();
        let custom = evident_policies::Sources {
            policies: vec![PolicySource::new("p.toml", small)],
            waivers: None,
        };
        for sources in [bundled, custom] {
            let set = sources.load().unwrap();
            let (ev1, eval1) = scan(&set, &root, now).unwrap();
            let (_, ev2, eval2) = load_and_scan(&sources, &root, now).unwrap();
            assert_eq!(ev1, ev2);
            assert_eq!(
                serde_json::to_string(&eval1).unwrap(),
                serde_json::to_string(&eval2).unwrap()
            );
        }
        assert_eq!(
            declared_probes(&[PolicySource::new("p.toml", small)]),
            ["packages"]
        );
        // Broken TOML guesses nothing; loading reports it.
        let broken = evident_policies::Sources {
            policies: vec![PolicySource::new(
                "b.toml",
                "[[rule]\nrequires = [\"sshd\"]",
            )],
            waivers: None,
        };
        assert!(declared_probes(&broken.policies).is_empty());
        assert!(matches!(
            load_and_scan(&broken, &root, now),
            Err(ScanError::Policies(_))
        ));
    }

    fn with(statuses: &[RuleStatus]) -> Evaluation {
        Evaluation {
            host: Default::default(),
            collected_at: "2026-11-20T10:00:00Z".parse().unwrap(),
            policies: vec![],
            waivers: None,
            controls: vec![],
            rules: statuses
                .iter()
                .enumerate()
                .map(|(i, s)| RuleResult {
                    id: format!("r{i}"),
                    policy: "p".into(),
                    title: String::new(),
                    controls: vec![],
                    severity: Severity::Low,
                    status: *s,
                    underlying: None,
                    message: Some("check failed: no such key: nope".into()),
                    remediation: None,
                    waiver: None,
                })
                .collect(),
            expired_waivers: vec![],
            summary: Summary::default(),
        }
    }

    #[test]
    fn errors_exit_2_failures_1_otherwise_0() {
        use RuleStatus::*;
        assert_eq!(
            exit_code(&with(&[Pass, NotApplicable, Waived, NoEvidence])),
            0
        );
        assert_eq!(exit_code(&with(&[Pass, Fail])), 1);
        let broken = with(&[Fail, Error]);
        assert_eq!(exit_code(&broken), 2);
        assert_eq!(
            broken.rule_errors(),
            vec!["rule `r1` (p) errored: check failed: no such key: nope"]
        );
    }
}
