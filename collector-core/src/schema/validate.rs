//! Checking a probe's real output against its schema.

use super::{FieldType, ProbeSchema};
use serde_json::Value;
use std::collections::BTreeSet;
use std::fmt;

/// One way the data departs from the schema (paths use `[]` for list
/// elements and `{}` for the values of a map).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mismatch {
    /// A member the schema does not document.
    Undocumented(String),
    /// A documented, non-nullable field absent from the data.
    Missing(String),
    /// A value of the wrong type.
    WrongType {
        /// Where.
        path: String,
        /// The documented type.
        expected: String,
        /// The JSON kind found.
        found: &'static str,
    },
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::Undocumented(p) => write!(f, "`{p}` is not documented"),
            Mismatch::Missing(p) => write!(f, "`{p}` is documented but missing"),
            Mismatch::WrongType {
                path,
                expected,
                found,
            } => write!(f, "`{path}` is {found}, documented as {expected}"),
        }
    }
}

/// Check `data` (the probe's whole output) against `schema`. Each problem is
/// reported once, however many list elements show it.
pub(super) fn check(schema: &ProbeSchema, data: &Value) -> Vec<Mismatch> {
    let mut out = BTreeSet::new();
    check_value(schema, "", &FieldType::Object, data, &mut out);
    out.into_iter().collect()
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Number(n) if n.is_f64() => "a float",
        Value::Number(_) => "an int",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn check_value(
    schema: &ProbeSchema,
    path: &str,
    ty: &FieldType,
    v: &Value,
    out: &mut BTreeSet<Mismatch>,
) {
    let wrong = |out: &mut BTreeSet<Mismatch>| {
        out.insert(Mismatch::WrongType {
            path: path.to_string(),
            expected: ty.to_string(),
            found: kind(v),
        });
    };
    match (ty, v) {
        (FieldType::Any, _) => {}
        (FieldType::Nullable(_), Value::Null) => {}
        (FieldType::Nullable(inner), _) => check_value(schema, path, inner, v, out),
        (FieldType::Str, Value::String(_)) | (FieldType::Bool, Value::Bool(_)) => {}
        (FieldType::Int, Value::Number(n)) if n.is_i64() || n.is_u64() => {}
        (FieldType::Float, Value::Number(_)) => {}
        (FieldType::List(inner), Value::Array(items)) => {
            let elem = format!("{path}[]");
            for item in items {
                check_value(schema, &elem, inner, item, out);
            }
        }
        (FieldType::Map(inner), Value::Object(members)) => {
            let elem = format!("{path}{{}}");
            for value in members.values() {
                check_value(schema, &elem, inner, value, out);
            }
        }
        (FieldType::Object, Value::Object(members)) => {
            for (key, value) in members {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match schema.field(&child) {
                    Some(f) => check_value(schema, &child, &f.ty, value, out),
                    None => {
                        out.insert(Mismatch::Undocumented(child));
                    }
                }
            }
            for f in schema.children(path) {
                let name = f.path.rsplit('.').next().unwrap_or(f.path);
                if !members.contains_key(name) && !f.ty.is_nullable() {
                    out.insert(Mismatch::Missing(f.path.to_string()));
                }
            }
        }
        _ => wrong(out),
    }
}
