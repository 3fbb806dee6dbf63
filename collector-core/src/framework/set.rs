//! The set of loaded frameworks: the embedded NIST mappings plus the
//! user's files (new frameworks first, then refinements), and the
//! cross-references of a control in every framework.

use super::model::{
    embedded_sources, Framework, MappingError, MappingErrorKind, MappingErrors, MappingSource,
    Parsed,
};
use crate::catalog::Catalog;
use std::collections::BTreeMap;

/// The loaded frameworks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FrameworkSet {
    frameworks: Vec<Framework>,
}

impl FrameworkSet {
    /// Load `sources` (the embedded ones first, as [`embedded_sources`]
    /// gives them, then the user's) against `catalog`: every framework
    /// file first, then every refinement. All errors of all files at once.
    pub fn load(sources: &[MappingSource], catalog: &Catalog) -> Result<Self, MappingErrors> {
        let mut errors = Vec::new();
        let mut parsed = Vec::new();
        for src in sources {
            match parse(src, catalog) {
                Ok(p) => parsed.push(p),
                Err(mut e) => errors.append(&mut e),
            }
        }
        let mut set = FrameworkSet::default();
        let mut refinements = Vec::new();
        for p in parsed {
            if p.refines.is_some() {
                refinements.push(p);
                continue;
            }
            if let Some(first) = set.get(&p.framework.id) {
                errors.push(MappingError {
                    file: p.framework.files[0].name.clone(),
                    line: 1,
                    kind: MappingErrorKind::DuplicateFramework(
                        p.framework.id.clone(),
                        first.files[0].name.clone(),
                    ),
                });
                continue;
            }
            set.frameworks.push(p.framework);
        }
        // Pairs refined so far: (framework, element, control) → where.
        let mut refined: BTreeMap<(String, String, String), String> = BTreeMap::new();
        for p in refinements {
            let Some((target, line)) = p.refines.clone() else {
                continue;
            };
            let file = p.framework.files[0].clone();
            let ids = set.ids().join(", ");
            let Some(fw) = set.frameworks.iter_mut().find(|f| f.id == target) else {
                errors.push(MappingError {
                    file: file.name.clone(),
                    line,
                    kind: MappingErrorKind::UnknownFramework(target, ids),
                });
                continue;
            };
            fw.files.push(file.clone());
            for (req, line) in p.framework.requirements.into_iter().zip(p.lines) {
                let Some(base) = fw.requirements.iter_mut().find(|r| r.id == req.id) else {
                    errors.push(MappingError {
                        file: file.name.clone(),
                        line,
                        kind: MappingErrorKind::UnknownElement {
                            framework: target.clone(),
                            element: req.id.clone(),
                        },
                    });
                    continue;
                };
                for pair in req.annex_a {
                    let key = (target.clone(), req.id.clone(), pair.control.clone());
                    if let Some(first) = refined.get(&key) {
                        errors.push(MappingError {
                            file: file.name.clone(),
                            line,
                            kind: MappingErrorKind::DuplicatePair {
                                element: req.id.clone(),
                                control: pair.control.clone(),
                                first: first.clone(),
                            },
                        });
                        continue;
                    }
                    refined.insert(key, pair.from.clone());
                    match base.annex_a.iter_mut().find(|b| b.control == pair.control) {
                        Some(b) => *b = pair,
                        None => base.annex_a.push(pair),
                    }
                }
                for c in req.clauses {
                    if !base.clauses.contains(&c) {
                        base.clauses.push(c);
                    }
                }
            }
        }
        if errors.is_empty() {
            Ok(set)
        } else {
            Err(MappingErrors(errors))
        }
    }

    /// The embedded NIST mappings only.
    pub fn embedded() -> &'static FrameworkSet {
        static SET: std::sync::OnceLock<FrameworkSet> = std::sync::OnceLock::new();
        SET.get_or_init(|| {
            // A unit test loads the embedded files; empty is the unreachable fallback.
            FrameworkSet::load(&embedded_sources(), Catalog::annex_a()).unwrap_or_default()
        })
    }

    /// A framework by id.
    pub fn get(&self, id: &str) -> Option<&Framework> {
        self.frameworks.iter().find(|f| f.id == id)
    }

    /// Every framework, in load order.
    pub fn frameworks(&self) -> &[Framework] {
        &self.frameworks
    }

    /// Framework ids in load order.
    pub fn ids(&self) -> Vec<String> {
        self.frameworks.iter().map(|f| f.id.clone()).collect()
    }

    /// Per framework, the requirements mapped to `control`.
    pub fn cross_references(&self, control: &str) -> BTreeMap<String, Vec<String>> {
        let mut out = BTreeMap::new();
        for f in &self.frameworks {
            let ids: Vec<String> = f
                .requirements
                .iter()
                .filter(|r| r.annex_a.iter().any(|p| p.control == control))
                .map(|r| r.id.clone())
                .collect();
            if !ids.is_empty() {
                out.insert(f.id.clone(), ids);
            }
        }
        out
    }

    /// Every control's cross-references at once (control → framework → ids).
    pub fn all_cross_references(&self) -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
        let mut out: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
        for f in &self.frameworks {
            for r in &f.requirements {
                for p in &r.annex_a {
                    out.entry(p.control.clone())
                        .or_default()
                        .entry(f.id.clone())
                        .or_default()
                        .push(r.id.clone());
                }
            }
        }
        out
    }
}

fn parse(src: &MappingSource, catalog: &Catalog) -> Result<Parsed, Vec<MappingError>> {
    let digest = crate::sha256_digest(&src.bytes).to_string();
    let text = std::str::from_utf8(&src.bytes).map_err(|e| {
        let valid = src.bytes.get(..e.valid_up_to()).unwrap_or_default();
        vec![MappingError {
            file: src.name.clone(),
            line: valid.iter().filter(|&&b| b == b'\n').count() + 1,
            kind: MappingErrorKind::Syntax("file is not valid UTF-8".into()),
        }]
    })?;
    let lower = src.name.to_ascii_lowercase();
    if lower.ends_with(".csv") {
        super::csv::parse(&src.name, text, &digest, catalog)
    } else {
        super::load::parse_toml(&src.name, text, &digest, catalog)
    }
}
