//! What `report`, `soa` and `isms` share about frameworks: `--mappings`
//! (besides the embedded NIST mappings and the config's `mapping_paths`),
//! `--attributes` (or the config's `attributes`), and the ISMS checklist.

use super::source::{Loaded, SourceArgs};
use anyhow::Result;
use clap::Args;
use evident_collector::config::Config;
use evident_collector::review::{framework, model};
use evident_core::framework::attributes::Attributes;
use evident_core::framework::isms::{self, IsmsRow};
use evident_core::framework::FrameworkSet;
use std::path::PathBuf;

/// Framework arguments.
#[derive(Args, Debug, Clone, Default)]
pub struct FrameworkArgs {
    /// Mapping files or directories (`*.toml` in the embedded format, or
    /// `*.csv` such as a CIS Controls mapping), loaded besides the embedded
    /// NIST CSF 2.0 and SP 800-53 Rev. 5 mappings and the config's
    /// `mapping_paths` (repeatable).
    #[arg(long = "mappings", value_name = "DIR")]
    pub mappings: Vec<PathBuf>,
    /// Your ISO/IEC 27002 attribute values (TOML, all 93 controls), to
    /// filter (--attribute) or group (--group-by) by (default: the config's
    /// `attributes`).
    #[arg(long, value_name = "FILE")]
    pub attributes: Option<PathBuf>,
}

impl FrameworkArgs {
    /// The mapping paths: the config's (database source) then --mappings.
    fn paths(&self, loaded: &Loaded, src: &SourceArgs) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = match &loaded.config {
            Some(c) => c
                .mapping_paths
                .iter()
                .map(|p| Config::path(&src.dir.dir, p))
                .collect(),
            None => Vec::new(),
        };
        out.extend(self.mappings.iter().cloned());
        out
    }

    /// Every loaded framework.
    pub fn frameworks(&self, loaded: &Loaded, src: &SourceArgs) -> Result<FrameworkSet> {
        Ok(framework::load_frameworks(&self.paths(loaded, src))?)
    }

    /// The attribute overlay, when a file is given or configured.
    pub fn attributes(&self, loaded: &Loaded, src: &SourceArgs) -> Result<Option<Attributes>> {
        let path = self.attributes.clone().or_else(|| {
            loaded
                .config
                .as_ref()
                .and_then(|c| c.attributes.as_ref())
                .map(|p| Config::path(&src.dir.dir, p))
        });
        Ok(path.map(|p| framework::load_attributes(&p)).transpose()?)
    }
}

/// The ISMS checklist over what was loaded (attestations signed by `now`).
pub fn checklist(loaded: &Loaded) -> Vec<IsmsRow> {
    let atts = model::attestations(&loaded.members, loaded.now);
    isms::checklist(&atts, loaded.now)
}
