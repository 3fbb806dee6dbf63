//! The bundled policies, embedded into both binaries at build time, and the
//! loading of policy directories from disk (the I/O the pure core leaves out).
//!
//! A policy directory holds policy files (`*.toml`), test files
//! (`*_test.toml`, run by `evident-collector policy test`) with their evidence
//! fixtures, and optionally `waivers.toml` and `soa.toml`.

use evident_core::policy::testcase::{self, CaseOutcome};
use evident_core::policy::{is_policy_file, LoadErrors, PolicySet, PolicySource};
use evident_core::Catalog;
use std::path::{Path, PathBuf};

/// The bundled policy files: (file name, contents).
pub const BUNDLED: &[(&str, &str)] = &[(
    "linux-baseline.toml",
    include_str!("../linux-baseline.toml"),
)];

/// Why policies could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}: no policy files found")]
    Empty(String),
    #[error("{0}")]
    Policy(#[from] LoadErrors),
}

/// The bundled policies as sources named `bundled:<file>`.
pub fn bundled_sources() -> Vec<PolicySource> {
    BUNDLED
        .iter()
        .map(|(name, text)| PolicySource::new(format!("bundled:{name}"), text.as_bytes()))
        .collect()
}

/// The bundled policies, loaded.
pub fn bundled_set() -> Result<PolicySet, LoadError> {
    Ok(PolicySet::load(&bundled_sources(), Catalog::annex_a())?)
}

/// What a set of paths holds.
#[derive(Debug, Default)]
pub struct Discovered {
    /// Policy files, read.
    pub policies: Vec<PolicySource>,
    /// Test files (`*_test.toml`).
    pub tests: Vec<PathBuf>,
    /// `waivers.toml`, when a directory holds one.
    pub waivers: Option<PathBuf>,
}

/// Walk files and directories (recursively, sorted, skipping hidden entries
/// and `catalog`/`frameworks`/`fixtures` directories) and read every policy file.
pub fn discover(paths: &[PathBuf]) -> Result<Discovered, LoadError> {
    let mut found = Discovered::default();
    for path in paths {
        walk(path, true, &mut found)?;
    }
    Ok(found)
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> LoadError + '_ {
    move |source| LoadError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn walk(path: &Path, explicit: bool, found: &mut Discovered) -> Result<(), LoadError> {
    let meta = std::fs::metadata(path).map_err(io_err(path))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if meta.is_dir() {
        if !explicit
            && (name.starts_with('.')
                || name == "catalog"
                || name == "frameworks"
                || name == "fixtures"
                || name == "src")
        {
            return Ok(());
        }
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(io_err(path))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        entries.sort();
        for e in entries {
            walk(&e, false, found)?;
        }
        return Ok(());
    }
    if name.ends_with("_test.toml") {
        found.tests.push(path.to_path_buf());
    } else if name == "waivers.toml" {
        found.waivers = Some(path.to_path_buf());
    } else if (explicit && name.ends_with(".toml")) || (!explicit && is_policy_file(&name)) {
        let bytes = std::fs::read(path).map_err(io_err(path))?;
        found
            .policies
            .push(PolicySource::new(path.display().to_string(), bytes));
    }
    Ok(())
}

/// The exact files a policy set is built from: what the collector keeps and
/// exports so that results can be re-evaluated from the same bytes later.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// Policy files, in load order.
    pub policies: Vec<PolicySource>,
    /// The waivers file, if any.
    pub waivers: Option<PolicySource>,
}

impl Sources {
    /// Compile into a policy set (waivers attached).
    pub fn load(&self) -> Result<PolicySet, LoadError> {
        let set = PolicySet::load(&self.policies, Catalog::annex_a())?;
        match &self.waivers {
            None => Ok(set),
            Some(w) => Ok(set.with_waivers(&w.name, &w.bytes)?),
        }
    }
}

/// Read the policy files under `paths` (or the bundled ones when `paths` is
/// empty) and the waivers (`waivers`, else a discovered `waivers.toml`).
pub fn read_sources(paths: &[PathBuf], waivers: Option<&Path>) -> Result<Sources, LoadError> {
    let (policies, discovered_waivers) = if paths.is_empty() {
        (bundled_sources(), None)
    } else {
        let found = discover(paths)?;
        if found.policies.is_empty() {
            let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
            return Err(LoadError::Empty(shown.join(", ")));
        }
        (found.policies, found.waivers)
    };
    let waivers = match waivers.map(Path::to_path_buf).or(discovered_waivers) {
        None => None,
        Some(w) => {
            let bytes = std::fs::read(&w).map_err(io_err(&w))?;
            Some(PolicySource::new(w.display().to_string(), bytes))
        }
    };
    Ok(Sources { policies, waivers })
}

/// Load the policies under `paths` (or the bundled ones when `paths` is
/// empty), attaching `waivers` (an explicit file, else a discovered `waivers.toml`).
pub fn load(paths: &[PathBuf], waivers: Option<&Path>) -> Result<PolicySet, LoadError> {
    read_sources(paths, waivers)?.load()
}

/// The outcome of one test file.
#[derive(Debug)]
pub struct TestFileOutcome {
    /// The test file.
    pub path: PathBuf,
    /// Per case, or the reason the file could not be run.
    pub result: Result<Vec<CaseOutcome>, String>,
}

/// Run every case of every test file against `set`. Fixture paths are
/// relative to the test file.
pub fn run_tests(set: &PolicySet, tests: &[PathBuf]) -> Vec<TestFileOutcome> {
    tests
        .iter()
        .map(|path| TestFileOutcome {
            path: path.clone(),
            result: run_test_file(set, path),
        })
        .collect()
}

fn run_test_file(set: &PolicySet, path: &Path) -> Result<Vec<CaseOutcome>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let cases =
        testcase::parse_tests(&path.display().to_string(), &bytes).map_err(|e| e.to_string())?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut fixtures: std::collections::BTreeMap<String, evident_core::Evidence> =
        Default::default();
    let mut out = Vec::new();
    for case in &cases {
        let fixture = match &case.evidence {
            None => None,
            Some(rel) => {
                if !fixtures.contains_key(rel) {
                    let fpath = dir.join(rel);
                    let fbytes = std::fs::read(&fpath).map_err(|e| {
                        format!(
                            "{}:{}: case `{}`: {}: {e}",
                            path.display(),
                            case.line,
                            case.name,
                            fpath.display()
                        )
                    })?;
                    let ev = testcase::parse_fixture(&fbytes).map_err(|e| {
                        format!(
                            "{}:{}: case `{}`: {}: {e}",
                            path.display(),
                            case.line,
                            case.name,
                            fpath.display()
                        )
                    })?;
                    fixtures.insert(rel.clone(), ev);
                }
                fixtures.get(rel).cloned()
            }
        };
        let evidence = testcase::case_evidence(case, fixture);
        out.push(testcase::run_case(set, case, &evidence));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `policy check policies/` reads the policies, not the catalog or the
    /// framework mappings beside them.
    #[test]
    fn the_policies_directory_yields_only_policies() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        assert!(dir.join("frameworks/nist-csf-2.0.toml").is_file());
        let found = discover(&[dir]).unwrap();
        let names: Vec<&str> = found.policies.iter().map(|p| p.name.as_str()).collect();
        assert!(!names.is_empty());
        assert!(
            names.iter().all(|n| n.ends_with("linux-baseline.toml")),
            "{names:?}"
        );
    }

    #[test]
    fn bundled_policies_load() {
        let set = bundled_set().unwrap();
        assert!(!set.policies().is_empty());
        assert!(set.policies()[0].source.name.starts_with("bundled:"));
    }

    /// Every control a bundled rule maps to has a coverage declaration with a
    /// rationale line; partial ones say what is not covered (the loader
    /// enforces the statement); the hybrid controls need their attestation.
    #[test]
    fn every_bundled_control_has_coverage_and_a_rationale() {
        use evident_core::policy::Coverage;
        let set = bundled_set().unwrap();
        assert!(
            set.undeclared_controls().is_empty(),
            "{:?}",
            set.undeclared_controls()
        );
        for policy in set.policies() {
            let touched: std::collections::BTreeSet<&str> = policy
                .rules
                .iter()
                .flat_map(|r| r.controls.iter().map(String::as_str))
                .collect();
            for control in &touched {
                let decl = policy
                    .controls
                    .iter()
                    .find(|d| d.control == *control)
                    .unwrap_or_else(|| panic!("{}: no [[control]] for {control}", policy.id));
                let rationale = decl.rationale.as_deref().unwrap_or_default();
                assert!(
                    rationale.len() > 40,
                    "{control}: rationale too short: {rationale:?}"
                );
                assert!(
                    !rationale.contains('\n'),
                    "{control}: rationale is one line"
                );
                if decl.coverage == Coverage::Partial {
                    let st = decl.statement.as_deref().unwrap_or_default();
                    assert!(st.contains("Not covered"), "{control}: {st}");
                }
            }
            assert_eq!(policy.controls.len(), touched.len(), "{}", policy.id);
        }
        // Hybrid controls (rules + a signed attestation) named by the design.
        for (control, days) in [("A.8.13", 90), ("A.8.8", 90)] {
            let c = set.coverage(control).unwrap();
            assert_eq!(
                c.attestation.as_ref().unwrap().max_age_days,
                days,
                "{control}"
            );
        }
        // Controls decided by a single rule are declared partial.
        let mut per_control: std::collections::BTreeMap<&str, usize> = Default::default();
        for (_, r) in set.rules() {
            for c in &r.controls {
                *per_control.entry(c.as_str()).or_default() += 1;
            }
        }
        for (control, n) in per_control {
            if n == 1 {
                assert_eq!(
                    set.coverage(control).unwrap().coverage,
                    Coverage::Partial,
                    "{control}"
                );
            }
        }
    }

    /// The auditor's mapping corrections (issue 12, item 3).
    #[test]
    fn bundled_mappings_follow_the_auditors_corrections() {
        let set = bundled_set().unwrap();
        let controls = |id: &str| set.rule(id).unwrap().controls.clone();
        assert!(!controls("host.machine-id").contains(&"A.5.9".to_string()));
        assert!(controls("accounts.default-umask").contains(&"A.8.3".to_string()));
        assert!(!controls("accounts.default-umask").contains(&"A.5.15".to_string()));
        for id in ["firewall.enabled", "firewall.default-deny-input"] {
            assert!(controls(id).contains(&"A.8.20".to_string()), "{id}");
            assert!(!controls(id).contains(&"A.8.22".to_string()), "{id}");
        }
        assert!(!controls("ssh.user-environment").contains(&"A.8.2".to_string()));
        let legacy = controls("packages.no-legacy-insecure");
        assert!(legacy.contains(&"A.8.21".to_string()) && legacy.contains(&"A.8.20".to_string()));
        assert!(!legacy.contains(&"A.8.19".to_string()));
        for id in [
            "accounts.no-extra-uid0",
            "accounts.no-empty-passwords",
            "accounts.sudo-nopasswd",
        ] {
            assert!(controls(id).contains(&"A.5.18".to_string()), "{id}");
        }
        assert!(set
            .controls_covered()
            .iter()
            .all(|c| c != "A.8.22" && c != "A.5.9"));
    }

    #[test]
    fn discovery_sorts_and_classifies_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::create_dir_all(p.join("catalog")).unwrap();
        std::fs::create_dir_all(p.join(".git")).unwrap();
        std::fs::write(p.join("catalog/annex-a-2022.toml"), "x").unwrap();
        std::fs::write(p.join(".git/x.toml"), "x").unwrap();
        std::fs::write(p.join("b.toml"), "b").unwrap();
        std::fs::write(p.join("a.toml"), "a").unwrap();
        std::fs::write(p.join("a_test.toml"), "").unwrap();
        std::fs::write(p.join("waivers.toml"), "").unwrap();
        std::fs::write(p.join("soa.toml"), "").unwrap();
        let found = discover(&[p.to_path_buf()]).unwrap();
        let names: Vec<&str> = found
            .policies
            .iter()
            .map(|s| s.name.rsplit('/').next().unwrap())
            .collect();
        assert_eq!(names, vec!["a.toml", "b.toml"]);
        assert_eq!(found.tests.len(), 1);
        assert!(found.waivers.is_some());
    }

    #[test]
    fn missing_path_and_empty_dir_are_errors() {
        assert!(matches!(
            load(&[PathBuf::from("/nonexistent/evident")], None),
            Err(LoadError::Io { .. })
        ));
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            load(&[dir.path().to_path_buf()], None),
            Err(LoadError::Empty(_))
        ));
    }
}
