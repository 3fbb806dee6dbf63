//! Frameworks on the review side: reading the user's mapping files and
//! attribute file (the embedded NIST mappings are always loaded), the SoA's
//! cross-references, and filtering or grouping a report by attribute.
//! Mappings are taken at review time, from the database or a bundle alike
//! (a bundle carries evidence, not mappings); every framework report names
//! the digest of each mapping file it used.

use super::error::{io, ReviewError};
use evident_core::framework::attributes::{self, Attributes};
use evident_core::framework::{embedded_sources, FrameworkSet, MappingSource};
use evident_core::report::{Report, SoaRow};
use evident_core::Catalog;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Largest mapping or attribute file read.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

fn read_capped(p: &Path) -> Result<Vec<u8>, ReviewError> {
    let meta = std::fs::metadata(p).map_err(io(p))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(ReviewError::Invalid(format!(
            "{}: larger than {MAX_FILE_BYTES} bytes",
            p.display()
        )));
    }
    std::fs::read(p).map_err(io(p))
}

/// The mapping files under `paths`: a file as given, a directory's
/// `*.toml` and `*.csv` files (not recursive), in name order; a file
/// reached twice (the config's directory also given as --mappings) once.
pub fn mapping_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ReviewError> {
    let mut out: Vec<PathBuf> = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(io(p))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| {
                    f.is_file()
                        && f.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                            e.eq_ignore_ascii_case("toml") || e.eq_ignore_ascii_case("csv")
                        })
                })
                .collect();
            files.sort();
            out.extend(files);
        } else if p.is_file() {
            out.push(p.clone());
        } else {
            return Err(ReviewError::Invalid(format!(
                "{}: no such mapping file or directory",
                p.display()
            )));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|p| seen.insert(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())));
    Ok(out)
}

/// The embedded NIST mappings plus the user's files under `paths`.
pub fn load_frameworks(paths: &[PathBuf]) -> Result<FrameworkSet, ReviewError> {
    if paths.is_empty() {
        return Ok(FrameworkSet::embedded().clone());
    }
    let mut sources = embedded_sources();
    for f in mapping_files(paths)? {
        sources.push(MappingSource {
            name: f.display().to_string(),
            bytes: read_capped(&f)?,
        });
    }
    FrameworkSet::load(&sources, Catalog::annex_a())
        .map_err(|e| ReviewError::Invalid(format!("mapping files refused:\n{e}")))
}

/// The user's attribute file, validated (93 controls, known values).
pub fn load_attributes(path: &Path) -> Result<Attributes, ReviewError> {
    let bytes = read_capped(path)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| ReviewError::Invalid(format!("{}: not UTF-8", path.display())))?;
    let name = path.display().to_string();
    Attributes::parse(&name, &text, Catalog::annex_a()).map_err(|e| {
        ReviewError::Invalid(format!(
            "attribute file refused:\n{}",
            e.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        ))
    })
}

/// Fill each SoA row's cross-references in every loaded framework.
pub fn annotate_soa(rows: &mut [SoaRow], set: &FrameworkSet) {
    let all = set.all_cross_references();
    for r in rows {
        if let Some(x) = all.get(&r.id) {
            r.cross_references = x.clone();
        }
    }
}

/// Parse `--attribute` values (canonical spelling), naming an unknown one.
pub fn attribute_values(values: &[String]) -> Result<Vec<&'static str>, ReviewError> {
    values
        .iter()
        .map(|v| {
            attributes::canonical(v).ok_or_else(|| {
                ReviewError::Invalid(format!(
                    "unknown attribute value `{v}` (known: {})",
                    attributes::SCHEMA
                        .iter()
                        .flat_map(|(_, vals)| vals.iter().copied())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
        })
        .collect()
}

/// Keep only the controls that carry every one of `values`; the status
/// counts follow (hosts, themes and provenance are left as they are).
pub fn filter_report(r: &mut Report, attrs: &Attributes, values: &[&str]) {
    r.controls
        .retain(|c| values.iter().all(|v| attrs.has(&c.id, v)));
    let mut counts = BTreeMap::new();
    for c in &r.controls {
        *counts.entry(c.status.clone()).or_default() += 1;
    }
    r.status_counts = counts;
}

/// One attribute value with the statuses of its controls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttributeGroup {
    /// The value (`#Detective`).
    pub value: String,
    /// Controls carrying it.
    pub controls: Vec<String>,
    /// Control status → number of controls.
    pub status_counts: BTreeMap<String, usize>,
}

/// Group the report's controls by the values of attribute type `ty`.
pub fn group_report(
    r: &Report,
    attrs: &Attributes,
    ty: &str,
) -> Result<Vec<AttributeGroup>, ReviewError> {
    let Some((_, values)) = attributes::SCHEMA.iter().find(|(t, _)| *t == ty) else {
        return Err(ReviewError::Invalid(format!(
            "unknown attribute type `{ty}` (known: {})",
            attributes::SCHEMA
                .iter()
                .map(|(t, _)| *t)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    };
    Ok(values
        .iter()
        .map(|v| {
            let mut g = AttributeGroup {
                value: v.to_string(),
                controls: Vec::new(),
                status_counts: BTreeMap::new(),
            };
            for c in r.controls.iter().filter(|c| attrs.has(&c.id, v)) {
                g.controls.push(c.id.clone());
                *g.status_counts.entry(c.status.clone()).or_default() += 1;
            }
            g
        })
        .collect())
}
