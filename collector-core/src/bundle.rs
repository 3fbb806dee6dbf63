//! Evidence bundles for offline review: the manifest model and the complete
//! verification of a bundle's members, pure (no I/O, no clock).
//!
//! A bundle is a set of named members (path → exact bytes). Format v2
//! splits what grows with the statement count into pieces: the signed root
//! lists manifest pieces (`manifest/NNNNNN.json`, ≤ 4,096 members each)
//! and the statement index is in pieces (`index/NNNNNN.json`); v1 bundles
//! (one manifest, one `index.json`) still verify. The collector
//! writes them into one file (tar + zstd, see the collector's `export`); an
//! auditor's `verify` reads them back and hands them to [`verify`], which
//! checks, in order:
//!
//! 1. the manifest (`manifest.dsse.json`): a DSSE envelope signed by the
//!    collector's Ed25519 key (`collector.pub`), listing every other member
//!    with its sha256 and size — a missing, extra or altered member is named;
//! 2. the agents' enrollment records and public keys (`agents/*.json`);
//! 3. every envelope listed in `index.json`: its digest, its strict
//!    signature by the key of the agent it is filed under, its statement
//!    (agent id, sequence) and every blob it names (`blobs/<hex>`);
//! 4. each host's sequence and hash chain: gaps (sequences missing, naming
//!    the range; a gap the agent itself declared is a warning), forks (two
//!    envelopes for one sequence) and chain breaks (`previous` does not name
//!    the envelope before);
//! 5. the policies (`policies/index.json` + files, one per distinct sha256):
//!    every statement re-evaluated with exactly the files its recorded
//!    results (`results/<hex>.json`) cite, loaded from their bytes, and
//!    compared with those results; results recorded before and after a
//!    policy change each use their own version.
//!
//! Every problem becomes a [`Finding`] naming what is wrong; the bundle holds
//! only when there are no failures.
//!
//! 6. the alerts of the period (`alerts.json`, when present): every
//!    statement an alert cites is an envelope or a chain stub of the bundle.
//! 7. vulnerability results (issue #18): results carrying a `vulns` basis
//!    are re-evaluated with the `vulns` data rebuilt from the statement's
//!    inventory and the bundle's snapshot subset (`vulns/<hex>.json`), and
//!    the first-seen citations inside the bundle are checked.
//!
//! Layout (each submodule depends only on those listed before it):
//! `model` (member paths and records), `report` (findings), `manifest`
//! (manifest and agent checks), `chain` (envelopes, blobs, chains),
//! `vulns` (re-match, first-seen citations), `results` (re-evaluation),
//! `attestations`, `pruned`, `alerts`, `verify` (orchestration), `ordered`
//! (the same for a v2 bundle read in manifest order, holding one piece at a
//! time);
//! [`trust`] holds the pinned keys.

pub mod alerts;
pub mod trust;

mod attestations;
mod chain;
mod manifest;
mod model;
pub mod ordered;
mod parallel;
pub mod pruned;
mod report;
mod results;
mod verify;
mod vulns;

pub use attestations::check_attestations;
pub use chain::Progress;
pub use manifest::{check_entry, digests_of, Digests};
pub use model::*;
pub use parallel::{Parallel, Serial};
pub use report::{AttesterSummary, Checked, Finding, Report, Severity};
pub use results::{load_recorded_set, policy_files};
pub use trust::TrustedKey;
pub use verify::{verify, verify_pinned, CheckedEnvelope, EnvelopeChecker, Pins, Verifier};

/// Names the tests (`use super::*`) take from this module.
#[cfg(test)]
use {
    crate::catalog::Catalog,
    crate::digest::{sha256_digest, Digest},
    crate::dsse::{self, Envelope},
    crate::evidence::{Evidence, Statement, PAYLOAD_TYPE},
    crate::policy::{evaluate_with, AttestationInput, PolicySet, PolicySource},
    base64::engine::general_purpose::STANDARD as B64,
    base64::Engine as _,
    std::collections::BTreeMap,
};

#[cfg(test)]
mod tests;
