//! Mapping files in TOML: the embedded NIST format (`[framework]` and
//! `[[requirement]]` tables), also used by users; a file whose
//! `[framework]` says `refines = "<id>"` only states relationships for
//! pairs of a framework already loaded.

use super::model::{
    check_control, is_clause, Framework, MappingError, MappingErrorKind, MappingFileRef, Pair,
    Parsed, Relationship, Requirement,
};
use crate::catalog::Catalog;
use crate::policy::line_of;
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    framework: Spanned<RawHeader>,
    #[serde(default)]
    requirement: Vec<Spanned<RawRequirement>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeader {
    id: Option<String>,
    refines: Option<String>,
    title: Option<String>,
    source: Option<String>,
    source_url: Option<String>,
    derived_from: Option<String>,
    source_sha256: Option<String>,
    license: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequirement {
    id: Spanned<String>,
    source_id: Option<String>,
    level: Option<String>,
    function: Option<String>,
    category: Option<String>,
    title: Option<String>,
    description: Option<String>,
    baseline: Option<String>,
    note: Option<String>,
    relationship: Option<Spanned<String>>,
    #[serde(default)]
    annex_a: Vec<Spanned<String>>,
    #[serde(default)]
    clauses: Vec<Spanned<String>>,
}

pub(crate) fn parse_toml(
    file: &str,
    text: &str,
    digest: &str,
    catalog: &Catalog,
) -> Result<Parsed, Vec<MappingError>> {
    let err = |offset: usize, kind: MappingErrorKind| MappingError {
        file: file.to_string(),
        line: line_of(text, offset),
        kind,
    };
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let offset = e.span().map(|s| s.start).unwrap_or(0);
        vec![err(
            offset,
            MappingErrorKind::Syntax(e.message().trim().to_string()),
        )]
    })?;
    let header_at = raw.framework.span().start;
    let header = raw.framework.into_inner();
    let mut errors = Vec::new();
    let refines = header.refines.clone().filter(|s| !s.trim().is_empty());
    let id = match (&header.id, &refines) {
        (Some(id), _) if !id.trim().is_empty() => id.trim().to_string(),
        (_, Some(r)) => r.trim().to_string(),
        _ => {
            return Err(vec![err(
                header_at,
                MappingErrorKind::Missing("`id` (or `refines`) in [framework]".into()),
            )])
        }
    };
    if refines.is_none() && header.title.as_deref().is_none_or(|t| t.trim().is_empty()) {
        errors.push(err(
            header_at,
            MappingErrorKind::Missing("`title` in [framework]".into()),
        ));
    }
    let _ = (&header.derived_from, &header.source_sha256);
    let mut requirements = Vec::new();
    let mut lines = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for raw_req in raw.requirement {
        let at = raw_req.span().start;
        let r = raw_req.into_inner();
        let rid = r.id.get_ref().trim().to_string();
        let id_at = r.id.span().start;
        if rid.is_empty() {
            errors.push(err(
                id_at,
                MappingErrorKind::Missing("requirement `id`".into()),
            ));
            continue;
        }
        if seen.insert(rid.clone(), at).is_some() {
            errors.push(err(id_at, MappingErrorKind::DuplicateElement(rid.clone())));
            continue;
        }
        let (relationship, stated) = match &r.relationship {
            None => (Relationship::Intersects, false),
            Some(s) => match Relationship::parse(s.get_ref()) {
                Some(rel) => (rel, true),
                None => {
                    errors.push(err(
                        s.span().start,
                        MappingErrorKind::UnknownRelationship(
                            s.get_ref().chars().take(40).collect(),
                        ),
                    ));
                    continue;
                }
            },
        };
        if refines.is_some() && !stated {
            errors.push(err(
                at,
                MappingErrorKind::Missing(format!(
                    "`relationship` for `{rid}` (a refining file states relationships)"
                )),
            ));
        }
        let mut pairs: Vec<Pair> = Vec::new();
        for c in &r.annex_a {
            let c_at = c.span().start;
            match check_control(c.get_ref(), catalog) {
                Err(kind) => errors.push(err(c_at, kind)),
                Ok(control) => {
                    if let Some(first) = pairs.iter().find(|p| p.control == control) {
                        errors.push(err(
                            c_at,
                            MappingErrorKind::DuplicatePair {
                                element: rid.clone(),
                                control,
                                first: first.from.clone(),
                            },
                        ));
                        continue;
                    }
                    pairs.push(Pair {
                        control,
                        relationship,
                        stated,
                        from: format!("{file}:{}", line_of(text, c_at)),
                    });
                }
            }
        }
        let mut clauses = Vec::new();
        for c in &r.clauses {
            let v = c.get_ref().trim().to_string();
            if !is_clause(&v) {
                errors.push(err(
                    c.span().start,
                    MappingErrorKind::UnknownClause(v.chars().take(40).collect()),
                ));
            } else if !clauses.contains(&v) {
                clauses.push(v);
            }
        }
        let _ = (&r.source_id, &r.description);
        lines.push(line_of(text, at));
        requirements.push(Requirement {
            title: r.title.unwrap_or_default(),
            level: r.level,
            parent: r
                .category
                .filter(|c| *c != rid)
                .or(r.function.filter(|f| *f != rid)),
            baseline: r.baseline,
            note: r.note,
            annex_a: pairs,
            clauses,
            id: rid,
        });
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Parsed {
        framework: Framework {
            id: id.clone(),
            title: header.title.unwrap_or_else(|| id.clone()),
            source: header.source,
            source_url: header.source_url,
            license: header.license,
            files: vec![MappingFileRef {
                name: file.to_string(),
                sha256: digest.to_string(),
                refines: refines.clone(),
            }],
            requirements,
        },
        refines: refines.map(|r| (r.trim().to_string(), line_of(text, header_at))),
        lines,
    })
}
