//! The ISO/IEC 27002:2022 attribute overlay. ISO owns the table of which
//! control carries which attribute value, so only its schema is shipped
//! here (the five attribute types and their values); users who hold the
//! standard load their values from a TOML file, one `[[control]]` per
//! Annex A control:
//!
//! ```toml
//! [[control]]
//! id = "A.8.16"
//! control_type = ["#Detective"]
//! properties = ["#Confidentiality", "#Integrity", "#Availability"]
//! concepts = ["#Detect"]
//! capabilities = ["#Information_security_event_management"]
//! domains = ["#Defence"]
//! ```
//!
//! The file must list all 93 controls, each once, with known values only.

use super::model::{MappingError, MappingErrorKind};
use crate::catalog::Catalog;
use crate::policy::line_of;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use toml::Spanned;

/// The attribute types and their allowed values.
pub const SCHEMA: &[(&str, &[&str])] = &[
    (
        "control_type",
        &["#Preventive", "#Detective", "#Corrective"],
    ),
    (
        "properties",
        &["#Confidentiality", "#Integrity", "#Availability"],
    ),
    (
        "concepts",
        &["#Identify", "#Protect", "#Detect", "#Respond", "#Recover"],
    ),
    (
        "capabilities",
        &[
            "#Governance",
            "#Asset_management",
            "#Information_protection",
            "#Human_resource_security",
            "#Physical_security",
            "#System_and_network_security",
            "#Application_security",
            "#Secure_configuration",
            "#Identity_and_access_management",
            "#Threat_and_vulnerability_management",
            "#Continuity",
            "#Supplier_relationships_security",
            "#Legal_and_compliance",
            "#Information_security_event_management",
            "#Information_security_assurance",
        ],
    ),
    (
        "domains",
        &[
            "#Governance_and_Ecosystem",
            "#Protection",
            "#Defence",
            "#Resilience",
        ],
    ),
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    control: Vec<Spanned<RawControl>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawControl {
    id: Spanned<String>,
    #[serde(default)]
    control_type: Vec<Spanned<String>>,
    #[serde(default)]
    properties: Vec<Spanned<String>>,
    #[serde(default)]
    concepts: Vec<Spanned<String>>,
    #[serde(default)]
    capabilities: Vec<Spanned<String>>,
    #[serde(default)]
    domains: Vec<Spanned<String>>,
}

/// Attribute values per control (control id → values, all types together).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attributes {
    values: BTreeMap<String, BTreeMap<&'static str, BTreeSet<String>>>,
}

/// The attribute type a value belongs to.
pub fn type_of(value: &str) -> Option<&'static str> {
    SCHEMA
        .iter()
        .find(|(_, vals)| vals.iter().any(|v| v.eq_ignore_ascii_case(value)))
        .map(|(t, _)| *t)
}

/// Canonical spelling of a value (`#detective` → `#Detective`).
pub fn canonical(value: &str) -> Option<&'static str> {
    let v = if value.starts_with('#') {
        value.to_string()
    } else {
        format!("#{value}")
    };
    SCHEMA
        .iter()
        .flat_map(|(_, vals)| vals.iter())
        .find(|x| x.eq_ignore_ascii_case(&v))
        .copied()
}

impl Attributes {
    /// Parse and validate a user's attribute file against `catalog`.
    pub fn parse(file: &str, text: &str, catalog: &Catalog) -> Result<Self, Vec<MappingError>> {
        let err = |offset: usize, kind: MappingErrorKind| MappingError {
            file: file.to_string(),
            line: line_of(text, offset),
            kind,
        };
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            vec![err(
                e.span().map(|s| s.start).unwrap_or(0),
                MappingErrorKind::Syntax(e.message().trim().to_string()),
            )]
        })?;
        let mut errors = Vec::new();
        let mut values: BTreeMap<String, BTreeMap<&'static str, BTreeSet<String>>> =
            BTreeMap::new();
        for c in raw.control {
            let at = c.span().start;
            let c = c.into_inner();
            let id = c.id.get_ref().trim().to_string();
            if catalog.get(&id).is_none() {
                errors.push(err(
                    c.id.span().start,
                    MappingErrorKind::UnknownControl(id.chars().take(40).collect()),
                ));
                continue;
            }
            if values.contains_key(&id) {
                errors.push(err(at, MappingErrorKind::DuplicateElement(id)));
                continue;
            }
            let mut per_type = BTreeMap::new();
            for (ty, list) in [
                ("control_type", &c.control_type),
                ("properties", &c.properties),
                ("concepts", &c.concepts),
                ("capabilities", &c.capabilities),
                ("domains", &c.domains),
            ] {
                let allowed = SCHEMA
                    .iter()
                    .find(|(t, _)| *t == ty)
                    .map(|(_, v)| *v)
                    .unwrap_or_default();
                let mut set = BTreeSet::new();
                for v in list {
                    match allowed.iter().find(|a| a.eq_ignore_ascii_case(v.get_ref())) {
                        Some(a) => {
                            set.insert(a.to_string());
                        }
                        None => errors.push(err(
                            v.span().start,
                            MappingErrorKind::Syntax(format!(
                                "unknown {ty} value `{}` (known: {})",
                                v.get_ref().chars().take(40).collect::<String>(),
                                allowed.join(", ")
                            )),
                        )),
                    }
                }
                if set.is_empty() {
                    errors.push(err(at, MappingErrorKind::Missing(format!("{ty} of {id}"))));
                }
                per_type.insert(ty, set);
            }
            values.insert(id, per_type);
        }
        let missing: Vec<&str> = catalog
            .controls()
            .iter()
            .map(|c| c.id.as_str())
            .filter(|id| !values.contains_key(*id))
            .collect();
        if !missing.is_empty() {
            errors.push(MappingError {
                file: file.to_string(),
                line: line_of(text, text.len()),
                kind: MappingErrorKind::Missing(format!(
                    "{} of the {} Annex A controls: {}",
                    missing.len(),
                    catalog.len(),
                    missing.join(", ")
                )),
            });
        }
        if errors.is_empty() {
            Ok(Attributes { values })
        } else {
            Err(errors)
        }
    }

    /// Whether `control` carries `value` (canonical spelling).
    pub fn has(&self, control: &str, value: &str) -> bool {
        self.values
            .get(control)
            .is_some_and(|t| t.values().any(|s| s.contains(value)))
    }

    /// The values of one type for `control`.
    pub fn values(&self, control: &str, ty: &str) -> Vec<String> {
        self.values
            .get(control)
            .and_then(|t| t.get(ty))
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }
}
