//! The collector's logic between HTTP and storage. Handlers in `http/` only
//! decode requests and call these functions.

use crate::metrics::Metrics;
use crate::store::Store;
use evident_core::PolicySet;
use sha2::{Digest as _, Sha256};
use std::sync::Arc;

pub mod access;
pub mod admin;
pub mod alerts;
pub mod compact;
pub mod enroll;
pub mod evals;
pub mod health;
pub mod ingest;
pub mod projections;
pub mod query;
pub mod recent;
pub mod retention;
pub mod vuln;
pub mod vuln_rematch;
pub mod vuln_state;
pub mod writer;

/// Everything a request needs.
pub struct App {
    /// Storage.
    pub store: Arc<dyn Store>,
    /// The loaded policies (compiled once).
    pub policies: Arc<PolicySet>,
    /// Ingest pipeline (caches + writer queue).
    pub ingest: ingest::Ingestor,
    /// Query helpers (parsed-results cache).
    pub query: query::Query,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// sha256 of the admin token.
    pub admin_token_hash: [u8; 32],
    /// New agents need approval.
    pub require_approval: bool,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Where "now" comes from.
    pub clock: crate::clock::Clock,
    /// The store's health (`/readyz`).
    pub health: Arc<health::Health>,
    /// `[limits]`: freshness, quotas, rate limits.
    pub limits: crate::limits::LimitsConfig,
    /// Enrollment attempts per source address (per minute).
    pub enroll_attempts: crate::limits::Windows<std::net::IpAddr>,
    /// Statements per agent (per minute).
    pub quota_statements: crate::limits::Windows<String>,
    /// Request bytes per agent (per day).
    pub quota_bytes: crate::limits::Windows<String>,
    /// Scoped API tokens recently looked up.
    pub access: access::AccessCache,
    /// The vulnerability snapshot in force and per-host CVE state.
    pub vuln: Arc<vuln_state::VulnState>,
    /// The data directory (the collector's signing key and `soa.toml`,
    /// read by the console's evidence review downloads).
    pub data_dir: Option<std::path::PathBuf>,
}

impl App {
    /// Whether `presented` is the admin token (compares digests in constant time).
    pub fn is_admin(&self, presented: &str) -> bool {
        let h: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        h.iter()
            .zip(self.admin_token_hash.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

/// `n` random bytes as lowercase hex, from the OS generator.
pub fn random_hex(n: usize) -> String {
    use rand_core::RngCore as _;
    let mut buf = vec![0u8; n];
    rand_core::OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

/// sha256 of a secret.
pub fn secret_hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// A fresh enrollment token: (id, secret to hand out).
pub fn new_enroll_token() -> (String, String) {
    let id = random_hex(8);
    let secret = format!("evt_{id}_{}", random_hex(24));
    (id, secret)
}
