//! The scan pipeline: collect the probes the policies need, build evidence,
//! evaluate. Used by `evident-agent scan`.

use crate::collect::{collect, CollectError};
use crate::hostroot::HostRoot;
use chrono::{DateTime, Utc};
use evident_core::policy::{evaluate, Evaluation, PolicySet};
use evident_core::Evidence;

/// Collect what `set` needs (plus `host`) under `root` and evaluate it.
pub fn scan(
    set: &PolicySet,
    root: &HostRoot,
    now: DateTime<Utc>,
) -> Result<(Evidence, Evaluation), CollectError> {
    let mut needed = set.probes_needed();
    if !needed.iter().any(|p| p == "host") {
        needed.insert(0, "host".to_string());
    }
    let collected = collect(root, &needed)?;
    let evidence = Evidence::from_collected(&collected, now);
    let evaluation = evaluate(set, &evidence);
    Ok((evidence, evaluation))
}
