//! Mapping files in CSV, one row per (element, Annex A control) pair, in
//! the layout of the CIS Controls v8 → ISO/IEC 27001:2022 mapping (which
//! CIS licenses to its members; the project ships none of it) or with
//! plain column names. `# key: value` lines before the header name the
//! framework:
//!
//! ```text
//! # framework: cis-controls-v8
//! # title: CIS Critical Security Controls v8
//! CIS Control,CIS Safeguard,Asset Type,Security Function,Title,Relationship,ISO/IEC 27001:2022 Control
//! 4,4.1,Applications,Protect,Establish and Maintain a Secure Configuration Process,Subset,A.8.9
//! ```
//!
//! `# refines: nist-csf-2.0` instead of `# framework:` states relationships
//! for pairs of a framework already loaded. Columns (case-insensitive):
//! the element (`element`, `requirement`, `CIS Safeguard`), its `title`,
//! the control (`control`, `annex_a`, any header naming 27001), the
//! `relationship`, and optionally the group (`category`, `CIS Control`),
//! `clause`, `level`. An empty control cell lists the element unmapped.

use super::model::{
    check_control, is_clause, Framework, MappingError, MappingErrorKind, MappingFileRef, Pair,
    Parsed, Relationship, Requirement,
};
use crate::catalog::Catalog;
use std::collections::BTreeMap;

#[derive(Default)]
struct Columns {
    element: Option<usize>,
    title: Option<usize>,
    control: Option<usize>,
    relationship: Option<usize>,
    group: Option<usize>,
    clause: Option<usize>,
    level: Option<usize>,
}

fn columns(header: &::csv::StringRecord) -> Columns {
    let mut c = Columns::default();
    for (i, h) in header.iter().enumerate() {
        let h = h.trim().to_ascii_lowercase();
        let slot = match h.as_str() {
            "element" | "requirement" | "id" | "cis safeguard" | "safeguard" => &mut c.element,
            "title" | "safeguard title" | "name" => &mut c.title,
            "relationship" => &mut c.relationship,
            "category" | "group" | "cis control" => &mut c.group,
            "clause" | "clauses" => &mut c.clause,
            "level" => &mut c.level,
            "control" | "annex_a" | "annex a" => &mut c.control,
            _ if h.contains("27001") => &mut c.control,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(i);
        }
    }
    c
}

pub(crate) fn parse(
    file: &str,
    text: &str,
    digest: &str,
    catalog: &Catalog,
) -> Result<Parsed, Vec<MappingError>> {
    let err = |line: usize, kind: MappingErrorKind| MappingError {
        file: file.to_string(),
        line,
        kind,
    };
    // Leading `# key: value` lines.
    let mut meta: BTreeMap<String, (String, usize)> = BTreeMap::new();
    let mut skipped = 0usize;
    let mut body_at = 0usize;
    for line in text.split_inclusive('\n') {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix('#') {
            if let Some((k, v)) = rest.split_once(':') {
                meta.insert(
                    k.trim().to_ascii_lowercase(),
                    (v.trim().to_string(), skipped + 1),
                );
            }
        } else if !t.is_empty() {
            break;
        }
        skipped += 1;
        body_at += line.len();
    }
    let body = text.get(body_at..).unwrap_or_default();
    let refines = meta.get("refines").cloned();
    let id = match (meta.get("framework"), &refines) {
        (Some((id, _)), _) if !id.is_empty() => id.clone(),
        (_, Some((r, _))) if !r.is_empty() => r.clone(),
        _ => {
            return Err(vec![err(
                1,
                MappingErrorKind::Missing(
                    "a `# framework: <id>` (or `# refines: <id>`) line before the header".into(),
                ),
            )])
        }
    };
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .trim(::csv::Trim::All)
        .from_reader(body.as_bytes());
    let header_line = skipped + 1;
    let header = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            return Err(vec![err(
                header_line,
                MappingErrorKind::Syntax(e.to_string()),
            )])
        }
    };
    let cols = columns(&header);
    let Some(element_col) = cols.element else {
        return Err(vec![err(
            header_line,
            MappingErrorKind::Missing("an element column (`element` or `CIS Safeguard`)".into()),
        )]);
    };
    let Some(control_col) = cols.control else {
        return Err(vec![err(
            header_line,
            MappingErrorKind::Missing(
                "a control column (`control` or `ISO/IEC 27001:2022 Control`)".into(),
            ),
        )]);
    };
    if refines.is_some() && cols.relationship.is_none() {
        return Err(vec![err(
            header_line,
            MappingErrorKind::Missing(
                "a `relationship` column (a refining file states relationships)".into(),
            ),
        )]);
    }
    let mut errors = Vec::new();
    let mut order: Vec<String> = Vec::new();
    let mut reqs: BTreeMap<String, (Requirement, usize)> = BTreeMap::new();
    for rec in reader.records() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let line = e
                    .position()
                    .map(|p| usize::try_from(p.line()).unwrap_or(0) + skipped)
                    .unwrap_or(header_line);
                errors.push(err(line, MappingErrorKind::Syntax(e.to_string())));
                continue;
            }
        };
        let line = rec
            .position()
            .map(|p| usize::try_from(p.line()).unwrap_or(0) + skipped)
            .unwrap_or(header_line);
        let cell = |i: Option<usize>| i.and_then(|i| rec.get(i)).unwrap_or("").to_string();
        let element = cell(Some(element_col));
        if element.is_empty() {
            errors.push(err(line, MappingErrorKind::Missing("element id".into())));
            continue;
        }
        let rel_text = cell(cols.relationship);
        let (relationship, stated) = if rel_text.is_empty() {
            if refines.is_some() {
                errors.push(err(
                    line,
                    MappingErrorKind::Missing(format!("relationship for `{element}`")),
                ));
                continue;
            }
            (Relationship::Intersects, false)
        } else {
            match Relationship::parse(&rel_text) {
                Some(r) => (r, true),
                None => {
                    errors.push(err(
                        line,
                        MappingErrorKind::UnknownRelationship(rel_text.chars().take(40).collect()),
                    ));
                    continue;
                }
            }
        };
        if !reqs.contains_key(&element) {
            order.push(element.clone());
            let group = cell(cols.group);
            reqs.insert(
                element.clone(),
                (
                    Requirement {
                        id: element.clone(),
                        title: cell(cols.title),
                        level: Some(cell(cols.level)).filter(|s| !s.is_empty()),
                        parent: Some(group).filter(|g| !g.is_empty() && *g != element),
                        baseline: None,
                        note: None,
                        annex_a: Vec::new(),
                        clauses: Vec::new(),
                    },
                    line,
                ),
            );
        }
        let Some((req, _)) = reqs.get_mut(&element) else {
            continue;
        };
        let clause = cell(cols.clause);
        if !clause.is_empty() {
            if is_clause(&clause) {
                if !req.clauses.contains(&clause) {
                    req.clauses.push(clause);
                }
            } else {
                errors.push(err(
                    line,
                    MappingErrorKind::UnknownClause(clause.chars().take(40).collect()),
                ));
            }
        }
        let control = cell(Some(control_col));
        if control.is_empty() {
            continue;
        }
        match check_control(&control, catalog) {
            Err(kind) => errors.push(err(line, kind)),
            Ok(control) => {
                if let Some(first) = req.annex_a.iter().find(|p| p.control == control) {
                    errors.push(err(
                        line,
                        MappingErrorKind::DuplicatePair {
                            element: element.clone(),
                            control,
                            first: first.from.clone(),
                        },
                    ));
                    continue;
                }
                req.annex_a.push(Pair {
                    control,
                    relationship,
                    stated,
                    from: format!("{file}:{line}"),
                });
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut requirements = Vec::new();
    let mut lines = Vec::new();
    for id in order {
        if let Some((r, line)) = reqs.remove(&id) {
            requirements.push(r);
            lines.push(line);
        }
    }
    let get = |k: &str| {
        meta.get(k)
            .map(|(v, _)| v.clone())
            .filter(|v| !v.is_empty())
    };
    Ok(Parsed {
        framework: Framework {
            id: id.clone(),
            title: get("title").unwrap_or_else(|| id.clone()),
            source: get("source"),
            source_url: get("source_url").or_else(|| get("source-url")),
            license: get("license"),
            files: vec![MappingFileRef {
                name: file.to_string(),
                sha256: digest.to_string(),
                refines: refines.as_ref().map(|(r, _)| r.clone()),
            }],
            requirements,
        },
        refines,
        lines,
    })
}
