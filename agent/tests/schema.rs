//! The probe schema in `evident-core` is the truth about every probe's data:
//! every probe runs on every fixture root under `tests/fixtures` (and on an
//! empty root), and its real output is checked against the schema: every
//! member documented, every type right, no documented field missing unless
//! nullable. `docs/probes.md` is the schema rendered, and must be current.

#![allow(clippy::unwrap_used)]

use evident_agent::hostroot::HostRoot;
use evident_agent::probes::{self, REGISTRY};
use evident_core::evidence::ProbeStatus;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Directories holding a file-system tree (`etc/`, `usr/`, `var/`, …), at
/// any depth below `tests/fixtures`, in sorted order.
fn fixture_roots() -> Vec<PathBuf> {
    const TOP: &[&str] = &["etc", "usr", "var", "boot", "lib", "run", "proc"];
    let mut roots = Vec::new();
    let mut stack = vec![fixtures()];
    while let Some(dir) = stack.pop() {
        let entries: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_dir() && !p.is_symlink())
            .collect();
        if entries
            .iter()
            .any(|p| TOP.iter().any(|t| p.file_name().unwrap() == *t))
        {
            roots.push(dir);
        } else {
            stack.extend(entries);
        }
    }
    roots.sort();
    roots
}

#[test]
fn every_probe_output_on_every_fixture_root_matches_the_schema() {
    let empty = tempfile::tempdir().unwrap();
    let mut roots = fixture_roots();
    assert!(
        roots.len() >= 20,
        "found only {} fixture roots",
        roots.len()
    );
    roots.push(empty.path().to_path_buf());
    let mut problems = Vec::new();
    let mut checked = std::collections::BTreeMap::<&str, usize>::new();
    for root in &roots {
        let host = HostRoot::offline(root);
        for probe in REGISTRY {
            let out = probes::run(probe, &host);
            assert_eq!(out.version, probe.spec.version);
            if out.status != ProbeStatus::Ok {
                continue;
            }
            *checked.entry(probe.spec.id).or_default() += 1;
            let data = out.data.as_ref().unwrap();
            for m in probe.spec.check(data) {
                let rel = root.strip_prefix(fixtures()).unwrap_or(root);
                problems.push(format!("{} on {}: {m}", probe.spec.id, rel.display()));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // every probe produced data somewhere, so every schema was exercised
    for probe in REGISTRY {
        assert!(
            checked.get(probe.spec.id).copied().unwrap_or(0) > 0,
            "{} never produced data on a fixture root",
            probe.spec.id
        );
    }
}

#[test]
fn docs_probes_md_is_the_schema_rendered() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/probes.md");
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == evident_core::schema::markdown(),
        "docs/probes.md is not current: run `cargo run -p evident-agent -- probes --format markdown > docs/probes.md`"
    );
}
