//! `evident-core`: the pure heart of Evident.
//!
//! Everything the agent and the collector agree on lives here: the evidence
//! model (an in-toto Statement with Evident's predicate and content-addressed
//! blobs), DSSE envelope signing and strict verification with Ed25519, the
//! ISO/IEC 27001:2022 Annex A catalog, and the TOML + CEL policy engine.
//!
//! Invariant: this crate does no I/O. It never touches the file system, the
//! network, a database, a clock or tokio. Callers hand it bytes and get values
//! back, which is what makes evaluation reproducible offline by an auditor.

pub mod attestation;
pub mod bundle;
pub mod catalog;
pub mod digest;
pub mod drift;
pub mod dsse;
mod error_chain;
pub mod evidence;
pub mod framework;
pub mod policy;
pub mod report;
pub mod schema;
pub mod vuln;
pub mod wire;

pub use catalog::{Catalog, Control, Theme};
pub use digest::{sha256_digest, Digest};
pub use dsse::{Envelope, EnvelopeError, Signer};
pub use error_chain::error_chain;
pub use evidence::{Evidence, ProbeEntry, ProbeStatus, Statement};
pub use policy::{evaluate, Evaluation, PolicySet};
