//! The SoA exclusions file (`soa.toml`): where it is looked for, and
//! reading it.

use super::error::{io, ReviewError};
use crate::config::Config;
use evident_core::report::SoaFile;
use evident_core::Catalog;
use std::path::{Path, PathBuf};

/// `explicit`, else `soa.toml` in the data directory or a configured
/// policy directory (the first that exists), else none.
pub fn locate(explicit: Option<&Path>, dir: &Path, config: &Config) -> Option<PathBuf> {
    match explicit {
        Some(p) => Some(p.to_path_buf()),
        None => std::iter::once(dir.join("soa.toml"))
            .chain(
                config
                    .policy_paths
                    .iter()
                    .map(|p| Config::path(dir, p).join("soa.toml")),
            )
            .find(|p| p.is_file()),
    }
}

/// Read the exclusions at `path` (none: every control applies).
pub fn load(path: Option<&Path>) -> Result<SoaFile, ReviewError> {
    let Some(p) = path else {
        return Ok(SoaFile::default());
    };
    let text = std::fs::read_to_string(p).map_err(io(p))?;
    SoaFile::parse(&text, Catalog::annex_a())
        .map_err(|e| ReviewError::Invalid(format!("{}: {e}", p.display())))
}
