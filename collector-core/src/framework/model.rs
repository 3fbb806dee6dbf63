//! The mapping model: frameworks, their requirements, the (requirement,
//! Annex A control) pairs with a relationship, and the set of loaded
//! frameworks (the embedded NIST mappings plus the user's files).

use crate::catalog::Catalog;
use serde::{Deserialize, Serialize};

/// NIST CSF 2.0 → ISO/IEC 27001:2022 (NIST data, provenance in the file).
pub const NIST_CSF_2_0: &str = include_str!("../../../policies/frameworks/nist-csf-2.0.toml");
/// NIST SP 800-53 Rev. 5 → ISO/IEC 27001:2022 (NIST OLIR data).
pub const NIST_SP800_53R5: &str = include_str!("../../../policies/frameworks/nist-sp800-53r5.toml");

/// How a framework requirement relates to an Annex A control (the
/// requirement is the subject: "the requirement is a subset of the control").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Relationship {
    /// Same scope: the control's evidence covers the requirement.
    Equal,
    /// The requirement is a subset of the control: the control covers it.
    Subset,
    /// The requirement is a superset of the control: the control covers part.
    Superset,
    /// They overlap: the control covers part (NIST's pairs, by default).
    Intersects,
}

impl Relationship {
    /// Parse the names used by OLIR, CIS and this project (case-insensitive).
    pub fn parse(s: &str) -> Option<Relationship> {
        let t = s.trim().to_ascii_lowercase().replace(['_', ' '], "-");
        Some(match t.as_str() {
            "equal" | "equals" | "equivalent" | "equal-to" => Relationship::Equal,
            "subset" | "subset-of" => Relationship::Subset,
            "superset" | "superset-of" => Relationship::Superset,
            "intersects" | "intersect" | "intersects-with" => Relationship::Intersects,
            _ => return None,
        })
    }

    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Relationship::Equal => "equal",
            Relationship::Subset => "subset",
            Relationship::Superset => "superset",
            Relationship::Intersects => "intersects",
        }
    }

    /// Whether the control's evidence can cover the whole requirement.
    pub fn covers(self) -> bool {
        matches!(self, Relationship::Equal | Relationship::Subset)
    }
}

/// One (requirement, Annex A control) pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pair {
    /// Annex A control id (`A.5.1`).
    pub control: String,
    /// The relationship.
    pub relationship: Relationship,
    /// Whether a loaded file states the relationship (false: the default
    /// `intersects` of a mapping that gives none, such as NIST's).
    pub stated: bool,
    /// The file (and line) the relationship comes from.
    pub from: String,
}

/// A framework requirement (CSF function/category/subcategory, an SP 800-53
/// control, a CIS safeguard, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requirement {
    /// The framework's id for it (`GV.OC-01`, `AC-2(12)`, `4.1`).
    pub id: String,
    /// Title.
    pub title: String,
    /// Level (`function`, `category`, `subcategory`), when the framework has levels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// The enclosing element (category, else function), when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// SP 800-53 baseline, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    /// A note from the mapping file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Annex A controls it maps to.
    pub annex_a: Vec<Pair>,
    /// ISO/IEC 27001:2022 clause references (4–10) it maps to.
    pub clauses: Vec<String>,
}

/// A mapping file that went into a framework, by digest.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MappingFileRef {
    /// File name (embedded files: `embedded:<name>`).
    pub name: String,
    /// sha256 of its bytes.
    pub sha256: String,
    /// The framework it refines, for a file that only states relationships.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refines: Option<String>,
}

/// One framework and its mapping to ISO/IEC 27001:2022.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Framework {
    /// Id (`nist-csf-2.0`).
    pub id: String,
    /// Title.
    pub title: String,
    /// Where the mapping comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Its address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_url: Option<String>,
    /// Licence of the mapping data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    /// The files it was loaded from (the defining file first).
    pub files: Vec<MappingFileRef>,
    /// Requirements in file order.
    pub requirements: Vec<Requirement>,
}

impl Framework {
    /// A requirement by id.
    pub fn get(&self, id: &str) -> Option<&Requirement> {
        self.requirements.iter().find(|r| r.id == id)
    }
}

/// One mapping file's bytes.
#[derive(Debug, Clone)]
pub struct MappingSource {
    /// File name for messages (a path, or `embedded:<name>`).
    pub name: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// The embedded NIST mappings.
pub fn embedded_sources() -> Vec<MappingSource> {
    vec![
        MappingSource {
            name: "embedded:nist-csf-2.0.toml".into(),
            bytes: NIST_CSF_2_0.as_bytes().to_vec(),
        },
        MappingSource {
            name: "embedded:nist-sp800-53r5.toml".into(),
            bytes: NIST_SP800_53R5.as_bytes().to_vec(),
        },
    ]
}

/// What is wrong with a mapping file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingErrorKind {
    #[error("{0}")]
    Syntax(String),
    #[error("unknown Annex A control `{0}` (ids are written A.5.1 … A.8.34)")]
    UnknownControl(String),
    #[error("`{0}` is not an ISO/IEC 27001:2022 clause reference (4 … 10, e.g. 6.1.2 or 4.2(a))")]
    UnknownClause(String),
    #[error("unknown relationship `{0}` (equal, subset, superset, intersects)")]
    UnknownRelationship(String),
    #[error("unknown element `{element}` of framework `{framework}`")]
    UnknownElement { framework: String, element: String },
    #[error("unknown framework `{0}` (loaded: {1})")]
    UnknownFramework(String, String),
    #[error("framework `{0}` is defined twice (also in {1})")]
    DuplicateFramework(String, String),
    #[error("element `{0}` is listed twice in this file")]
    DuplicateElement(String),
    #[error("pair ({element}, {control}) is given twice (first at {first})")]
    DuplicatePair {
        element: String,
        control: String,
        first: String,
    },
    #[error("missing {0}")]
    Missing(String),
}

/// A refused mapping file, with file and line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {kind}")]
pub struct MappingError {
    /// File name.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub kind: MappingErrorKind,
}

/// Every problem of every file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct MappingErrors(pub Vec<MappingError>);

/// A parsed file before it joins the set: a new framework, or
/// relationships stated for one already loaded.
pub(crate) struct Parsed {
    pub framework: Framework,
    /// `Some(id)`: only refines `id`; its requirements carry pairs whose
    /// relationship it states, each with the line it is on.
    pub refines: Option<(String, usize)>,
    /// Per requirement, its line (for refinements' unknown elements).
    pub lines: Vec<usize>,
}

/// Whether `s` is an ISO/IEC 27001:2022 clause reference: `4` … `10`, then
/// dot-separated numbers, then an optional `(x)` list item.
pub(crate) fn is_clause(s: &str) -> bool {
    let (head, item) = match s.split_once('(') {
        Some((h, rest)) => (h, Some(rest)),
        None => (s, None),
    };
    if let Some(rest) = item {
        let ok = rest
            .strip_suffix(')')
            .is_some_and(|x| x.len() == 1 && x.bytes().all(|b| b.is_ascii_lowercase()));
        if !ok {
            return false;
        }
    }
    let mut parts = head.split('.');
    let top = parts.next().and_then(|p| p.parse::<u32>().ok());
    if !matches!(top, Some(4..=10)) {
        return false;
    }
    parts.all(|p| !p.is_empty() && p.len() <= 2 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Check an Annex A id against the catalog.
pub(crate) fn check_control(control: &str, catalog: &Catalog) -> Result<String, MappingErrorKind> {
    let c = control.trim();
    match catalog.get(c) {
        Some(found) => Ok(found.id.clone()),
        None => Err(MappingErrorKind::UnknownControl(
            c.chars().take(40).collect(),
        )),
    }
}
