//! The error type of the review side.

use crate::store::StoreError;
use std::path::Path;

/// Why a review operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("policies: {0}")]
    Policies(#[from] evident_policies::LoadError),
    #[error("{0}")]
    Invalid(String),
}

/// Map an I/O error on `path`.
pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ReviewError + '_ {
    move |source| ReviewError::Io {
        path: path.display().to_string(),
        source,
    }
}
