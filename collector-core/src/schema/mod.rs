//! The probe schema: the single source of what every probe reports.
//!
//! Each probe (one file under [`probes`]) has an id, a version bumped when the
//! shape of its data changes, the Annex A controls it serves, a description
//! and every field of its data: a dotted path (`users[].name` for the
//! elements of a list), a [`FieldType`] and one doc line. The agent's probes
//! produce data matching it (a test runs every probe on every fixture root
//! and checks the output with [`ProbeSchema::check`]), the policy loader
//! resolves every field a CEL expression reads with [`resolve`], and
//! `evident-agent probes` and `docs/probes.md` print it.
//!
//! Paths: `.` separates object members, `[]` after a name stands for "any
//! element of this list". Below a `map` the next segment is a key (any
//! name); below `any` every path is accepted.

mod docs;
pub mod probes;
mod validate;

pub use docs::markdown;
pub use probes::PROBES;
pub use validate::Mismatch;

use std::fmt;

/// The type of a field's value as it appears in the JSON data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// A string.
    Str,
    /// `true` / `false`.
    Bool,
    /// An integer.
    Int,
    /// Any number.
    Float,
    /// A list whose elements have this type (`x[]` documents them).
    List(&'static FieldType),
    /// An object whose members are documented as fields (`x.member`).
    Object,
    /// An object keyed by data (sysctl names, keywords) with values of this type.
    Map(&'static FieldType),
    /// This type or `null` (no value known).
    Nullable(&'static FieldType),
    /// Any JSON value (e.g. an sshd keyword inside a Match block: string, int or list).
    Any,
}

impl FieldType {
    /// The type without a `Nullable` wrapper.
    pub fn non_null(&self) -> &FieldType {
        match self {
            FieldType::Nullable(inner) => inner.non_null(),
            other => other,
        }
    }

    /// Whether `null` is a valid value.
    pub fn is_nullable(&self) -> bool {
        matches!(self, FieldType::Nullable(_) | FieldType::Any)
    }

    /// Whether the value is a list.
    pub fn is_list(&self) -> bool {
        matches!(self.non_null(), FieldType::List(_))
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldType::Str => f.write_str("string"),
            FieldType::Bool => f.write_str("bool"),
            FieldType::Int => f.write_str("int"),
            FieldType::Float => f.write_str("float"),
            FieldType::List(t) => write!(f, "list<{t}>"),
            FieldType::Object => f.write_str("object"),
            FieldType::Map(t) => write!(f, "map<string, {t}>"),
            FieldType::Nullable(t) => write!(f, "{t}|null"),
            FieldType::Any => f.write_str("any"),
        }
    }
}

/// One documented field of a probe's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSchema {
    /// Dotted path in the data (`permitrootlogin`, `users[].name`, `sudo.rules`).
    pub path: &'static str,
    /// Its type.
    pub ty: FieldType,
    /// What it means, one line.
    pub doc: &'static str,
}

impl FieldSchema {
    /// A field (used by the per-probe tables).
    pub const fn new(path: &'static str, ty: FieldType, doc: &'static str) -> FieldSchema {
        FieldSchema { path, ty, doc }
    }
}

/// What a probe is and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeSchema {
    /// Stable id (`sshd`, `file-permissions`).
    pub id: &'static str,
    /// Bumped when the shape of the data changes.
    pub version: u32,
    /// One line on what it collects.
    pub description: &'static str,
    /// Annex A controls it provides evidence for.
    pub controls: &'static [&'static str],
    /// Every field of its data, parents before their members.
    pub fields: &'static [FieldSchema],
}

/// Why a field path does not resolve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// No probe has this id or CEL variable.
    #[error("unknown probe `{name}`{}", hint(suggestion))]
    UnknownProbe {
        /// The name as written.
        name: String,
        /// The closest probe id, if one is close.
        suggestion: Option<&'static str>,
    },
    /// The probe documents no such field.
    #[error("probe `{probe}` has no field `{path}`{}", hint(suggestion))]
    UnknownField {
        /// The probe id.
        probe: &'static str,
        /// The path as asked.
        path: String,
        /// The closest documented field, if one is close.
        suggestion: Option<&'static str>,
    },
    /// `[]` applied to something that is not a list, or a member of a scalar.
    #[error("`{path}` in probe `{probe}`: {at} is a {ty}, not {wanted}")]
    WrongShape {
        /// The probe id.
        probe: &'static str,
        /// The path as asked.
        path: String,
        /// The prefix that has the wrong shape.
        at: String,
        /// Its type.
        ty: FieldType,
        /// What the path needs it to be (`a list`, `an object`).
        wanted: &'static str,
    },
}

fn hint(s: &Option<&'static str>) -> String {
    match s {
        Some(s) => format!(" (did you mean `{s}`?)"),
        None => String::new(),
    }
}

/// The CEL variable a probe's data is bound to (`file-permissions` → `file_permissions`).
pub fn variable(probe_id: &str) -> String {
    probe_id.replace('-', "_")
}

/// Every probe and every derived data set (`vulns`) policies may read.
fn readable() -> impl Iterator<Item = &'static ProbeSchema> {
    PROBES.iter().chain(probes::DERIVED).copied()
}

/// A probe (or derived data set, `vulns`) by id (`file-permissions`).
pub fn probe(id: &str) -> Option<&'static ProbeSchema> {
    readable().find(|p| p.id == id)
}

/// A probe (or derived data set) by id or by CEL variable (`file_permissions`).
pub fn probe_by_name(name: &str) -> Result<&'static ProbeSchema, SchemaError> {
    readable()
        .find(|p| p.id == name || variable(p.id) == name)
        .ok_or_else(|| SchemaError::UnknownProbe {
            name: name.to_string(),
            suggestion: closest(name, readable().map(|p| p.id)),
        })
}

/// Every probe id, in registry order.
pub fn probe_ids() -> impl Iterator<Item = &'static str> {
    PROBES.iter().map(|p| p.id)
}

/// Resolve `probe.path` (`sshd.permitrootlogin`, `accounts.pam.minlen`,
/// `sshd.match_blocks[].settings`) to its type. The first segment is a probe
/// id or its CEL variable.
pub fn resolve(full_path: &str) -> Result<FieldType, SchemaError> {
    let (name, rest) = full_path.split_once('.').unwrap_or((full_path, ""));
    let probe = probe_by_name(name)?;
    if rest.is_empty() {
        return Ok(FieldType::Object);
    }
    probe.resolve(rest)
}

impl ProbeSchema {
    /// The CEL variable its data is bound to.
    pub fn variable(&self) -> String {
        variable(self.id)
    }

    /// The documented field at exactly this path.
    pub fn field(&self, path: &str) -> Option<&'static FieldSchema> {
        // `self` may be a copy; look the field up in the static table.
        self.fields.iter().find(|f| f.path == path)
    }

    /// Every documented path, in order (for "did you mean" and listings).
    pub fn field_names(&self) -> impl Iterator<Item = &'static str> {
        self.fields.iter().map(|f| f.path)
    }

    /// The documented paths directly below `parent` (`""` for the top level,
    /// `users[]` for the members of a list's elements).
    pub fn children<'a>(&self, parent: &'a str) -> impl Iterator<Item = &'static FieldSchema> + 'a {
        self.fields
            .iter()
            .filter(move |f| parent_of(f.path) == parent)
    }

    /// The closest documented path to `path`, if one is close enough to be a typo.
    pub fn suggest(&self, path: &str) -> Option<&'static str> {
        closest(path, self.field_names())
    }

    /// Resolve a path inside this probe's data to its type. `x[]` is an
    /// element of list `x`; a segment below a `map` is a key.
    pub fn resolve(&self, path: &str) -> Result<FieldType, SchemaError> {
        let mut ty = FieldType::Object;
        let mut prefix = String::new();
        let mut segments = path.split('.').peekable();
        while let Some(seg) = segments.next() {
            let (name, elements) = strip_brackets(seg);
            match ty.non_null() {
                FieldType::Any => return Ok(FieldType::Any),
                FieldType::Map(value) => {
                    // The key is data; any `[]` applies to the value.
                    ty = **value;
                    push(&mut prefix, name);
                }
                FieldType::Object => {
                    push(&mut prefix, name);
                    let field = self
                        .field(&prefix)
                        .ok_or_else(|| SchemaError::UnknownField {
                            probe: self.id,
                            path: path.to_string(),
                            suggestion: self.suggest(&prefix),
                        })?;
                    ty = field.ty;
                }
                other => {
                    return Err(SchemaError::WrongShape {
                        probe: self.id,
                        path: path.to_string(),
                        at: display_prefix(&prefix),
                        ty: *other,
                        wanted: "an object",
                    })
                }
            }
            for _ in 0..elements {
                match ty.non_null() {
                    FieldType::List(inner) => {
                        ty = **inner;
                        prefix.push_str("[]");
                    }
                    FieldType::Any => return Ok(FieldType::Any),
                    other => {
                        return Err(SchemaError::WrongShape {
                            probe: self.id,
                            path: path.to_string(),
                            at: display_prefix(&prefix),
                            ty: *other,
                            wanted: "a list",
                        })
                    }
                }
            }
            if segments.peek().is_none() {
                return Ok(ty);
            }
        }
        Ok(ty)
    }

    /// Check one run's data against the schema: every member documented,
    /// every type right, no documented field missing unless nullable.
    pub fn check(&self, data: &serde_json::Value) -> Vec<Mismatch> {
        validate::check(self, data)
    }
}

/// `users[].name` → `users[]`; `sudo.rules` → `sudo`; `hostname` → ``.
fn parent_of(path: &str) -> &str {
    path.rfind('.').map_or("", |i| &path[..i])
}

/// `users[][]` → (`users`, 2).
fn strip_brackets(seg: &str) -> (&str, usize) {
    let mut name = seg;
    let mut n = 0;
    while let Some(s) = name.strip_suffix("[]") {
        name = s;
        n += 1;
    }
    (name, n)
}

fn push(prefix: &mut String, name: &str) {
    if !prefix.is_empty() {
        prefix.push('.');
    }
    prefix.push_str(name);
}

fn display_prefix(prefix: &str) -> String {
    if prefix.is_empty() {
        "the probe's data".to_string()
    } else {
        format!("`{prefix}`")
    }
}

/// The candidate nearest to `name` by edit distance, when near enough to be
/// a typo (at most a third of the name's length, at least 1, at most 3 edits).
fn closest(name: &str, candidates: impl Iterator<Item = &'static str>) -> Option<&'static str> {
    let limit = (name.chars().count() / 3).clamp(1, 3);
    candidates
        .map(|c| (strsim::levenshtein(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests;
