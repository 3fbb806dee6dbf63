//! The policy files a collector keeps by digest, so that an export carries
//! exactly the files each exported result cites.

use crate::store::PolicyFileRecord;
use evident_core::bundle::PolicyKind;
use evident_core::policy::PolicySource;
use evident_policies::Sources;

/// The store records of `sources` (kept by `serve` before it evaluates).
pub fn policy_records(sources: &Sources, now_ms: i64) -> Vec<PolicyFileRecord> {
    let record = |s: &PolicySource, kind: PolicyKind| PolicyFileRecord {
        digest: evident_core::sha256_digest(&s.bytes),
        name: s.name.clone(),
        kind: kind_name(kind).to_string(),
        data: s.bytes.clone(),
        first_loaded_at: now_ms,
    };
    sources
        .policies
        .iter()
        .map(|s| record(s, PolicyKind::Policy))
        .chain(
            sources
                .waivers
                .iter()
                .map(|w| record(w, PolicyKind::Waivers)),
        )
        .collect()
}

fn kind_name(kind: PolicyKind) -> &'static str {
    match kind {
        PolicyKind::Policy => "policy",
        PolicyKind::Waivers => "waivers",
    }
}
