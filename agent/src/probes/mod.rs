//! The probes: one module per probe, registered in [`REGISTRY`].
//!
//! Like an osquery table, each probe has a schema (id, version, description,
//! the Annex A controls it serves, every field with its type and a doc line),
//! kept in `evident_core::schema` so the policy loader reads the same one, and
//! a pure `parse_*` function over file contents that is tested on fixtures,
//! kept apart from the `collect` function that reads files through a
//! [`HostRoot`]. Probes never run a shell and never report a secret.

use crate::hostroot::HostRoot;
use evident_core::evidence::{CollectedProbe, ProbeStatus};
pub use evident_core::schema::{FieldSchema, FieldType, ProbeSchema};
use std::time::Instant;

pub mod common;

pub mod accounts;
pub mod crypto;
pub mod file_permissions;
pub mod firewall;
pub mod host;
pub mod kernel;
pub mod logging;
pub mod mac;
pub mod malware;
pub mod network;
pub mod packages;
pub mod scheduled_jobs;
pub mod services;
pub mod sshd;
pub mod time;

/// What one probe run produced.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Data collected.
    Ok(serde_json::Value),
    /// The host does not have the thing the probe looks at.
    Unsupported(String),
    /// Needs a live system (e.g. under a foreign `--root`).
    NotCollected(String),
    /// The probe failed.
    Error(String),
}

impl Outcome {
    /// Serialise typed facts into an `Ok` outcome.
    pub fn from_facts<T: serde::Serialize>(facts: &T) -> Outcome {
        match serde_json::to_value(facts) {
            Ok(v) => Outcome::Ok(v),
            Err(e) => Outcome::Error(format!("could not serialise facts: {e}")),
        }
    }
}

/// A registered probe.
#[derive(Debug, Clone, Copy)]
pub struct Probe {
    /// Its schema (in core).
    pub spec: &'static ProbeSchema,
    /// Collects its data under a root.
    pub collect: fn(&HostRoot) -> Outcome,
    /// Feeds arbitrary text to every parser of the probe; never panics (the
    /// `probes` cargo-fuzz target calls it for every registered probe).
    pub fuzz: fn(&str),
}

/// A registry entry for the probe module `$m` (its `SCHEMA`, `collect` and
/// `fuzz_parse`).
macro_rules! probe {
    ($m:ident) => {
        Probe {
            spec: &$m::SCHEMA,
            collect: $m::collect,
            fuzz: $m::fuzz_parse,
        }
    };
}

/// Every probe, in the order they run and are reported (the order of
/// `evident_core::schema::PROBES`; a test checks they agree). Adding a probe
/// is its module plus one line here (and its schema file plus one line in
/// core).
pub static REGISTRY: &[Probe] = &[
    probe!(host),
    probe!(packages),
    probe!(sshd),
    probe!(accounts),
    probe!(logging),
    probe!(time),
    probe!(firewall),
    probe!(network),
    probe!(kernel),
    probe!(mac),
    probe!(crypto),
    probe!(malware),
    probe!(file_permissions),
    probe!(services),
    probe!(scheduled_jobs),
];

/// Look a probe up by id.
pub fn find(id: &str) -> Option<&'static Probe> {
    REGISTRY.iter().find(|p| p.spec.id == id)
}

/// Run one probe, timing it. A panic inside a probe cannot happen by
/// construction (no unwrap/expect/indexing), so no catch_unwind is needed.
pub fn run(probe: &Probe, root: &HostRoot) -> CollectedProbe {
    let start = Instant::now();
    let outcome = (probe.collect)(root);
    let duration_us = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
    let (status, reason, data) = match outcome {
        Outcome::Ok(v) => (ProbeStatus::Ok, None, Some(v)),
        Outcome::Unsupported(r) => (ProbeStatus::Unsupported, Some(r), None),
        Outcome::NotCollected(r) => (ProbeStatus::NotCollected, Some(r), None),
        Outcome::Error(r) => (ProbeStatus::Error, Some(r), None),
    };
    CollectedProbe {
        probe: probe.spec.id.to_string(),
        version: probe.spec.version,
        status,
        duration_us,
        reason,
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_matches_the_schema() {
        let ids: Vec<&str> = REGISTRY.iter().map(|p| p.spec.id).collect();
        let schema: Vec<&str> = evident_core::schema::probe_ids().collect();
        assert_eq!(ids, schema);
        for (p, s) in REGISTRY.iter().zip(evident_core::schema::PROBES) {
            assert!(std::ptr::eq(p.spec, *s), "{}", p.spec.id);
        }
    }

    #[test]
    fn every_spec_is_documented_and_maps_to_catalog_controls() {
        let catalog = evident_core::Catalog::annex_a();
        for p in REGISTRY {
            let s = p.spec;
            assert!(!s.description.is_empty(), "{}", s.id);
            assert!(!s.controls.is_empty(), "{}", s.id);
            for c in s.controls {
                assert!(catalog.get(c).is_some(), "{}: unknown control {c}", s.id);
            }
            assert!(!s.fields.is_empty(), "{} documents no fields", s.id);
            for f in s.fields {
                assert!(!f.doc.is_empty(), "{}.{} has no doc", s.id, f.path);
            }
        }
    }

    #[test]
    fn every_probe_fuzz_entry_survives_garbage() {
        for p in REGISTRY {
            for input in ["", "\0\u{1}[*=", "a = b\n[x\n-", "#\n\n\\\n"] {
                (p.fuzz)(input);
            }
        }
    }

    #[test]
    fn every_probe_survives_an_empty_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = HostRoot::offline(dir.path());
        for p in REGISTRY {
            let out = run(p, &root);
            assert_eq!(out.probe, p.spec.id);
            if out.status != ProbeStatus::Ok {
                assert!(out.reason.is_some(), "{} gave no reason", p.spec.id);
            }
        }
    }
}
