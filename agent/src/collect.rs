//! Running probes: all of them, or a chosen subset, over one host root.

use crate::hostroot::HostRoot;
use crate::probes::{self, REGISTRY};
use evident_core::evidence::CollectedProbe;

/// Why a collection request is invalid.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("unknown probe `{0}` (run `evident-agent probes` for the list)")]
    UnknownProbe(String),
}

/// Run the probes named in `only` (every probe when empty), in registry order.
pub fn collect(root: &HostRoot, only: &[String]) -> Result<Vec<CollectedProbe>, CollectError> {
    if let Some(unknown) = only.iter().find(|id| probes::find(id).is_none()) {
        return Err(CollectError::UnknownProbe(unknown.clone()));
    }
    Ok(REGISTRY
        .iter()
        .filter(|p| only.is_empty() || only.iter().any(|id| id == p.spec.id))
        .map(|p| probes::run(p, root))
        .collect())
}
