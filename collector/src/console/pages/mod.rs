//! One module per console page. Handlers take the [`Session`] (which
//! redirects to sign-in without one), read latest state through the
//! services and stores, and render with maud (every value escaped).

use crate::service::App;
use std::collections::BTreeMap;

pub mod admin;
pub mod alerts;
pub mod control;
pub mod download;
pub mod fleet;
pub mod host;
pub mod matrix;
pub mod review;
pub mod vulns;

/// Rule ids per control (rules of the loaded policies), optionally only
/// those of `policy` and of `severity`.
pub fn rules_by_control(
    app: &App,
    policy: Option<&str>,
    severity: Option<&str>,
) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (p, r) in app.policies.rules() {
        if policy.is_some_and(|x| x != p.id) || severity.is_some_and(|x| x != r.severity.as_str()) {
            continue;
        }
        for c in &r.controls {
            out.entry(c.clone()).or_default().push(r.id.clone());
        }
    }
    out
}

/// An empty query value is no filter.
pub fn nonempty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}
