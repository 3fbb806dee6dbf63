//! The probe reference (`docs/probes.md`), rendered from the schema.

use super::{ProbeSchema, PROBES};
use std::fmt::Write as _;

/// Markdown reference of every probe and field (`docs/probes.md` is this text;
/// `evident-agent probes --format markdown` prints it).
pub fn markdown() -> String {
    let mut out = String::from(
        "# Probes\n\n\
         <!-- Generated from the probe schema (collector-core/src/schema/) by\n     \
         `evident-agent probes --format markdown > docs/probes.md`; do not edit by hand:\n     \
         a test fails when this file is not current. -->\n\n\
         Every probe the agent runs, the Annex A controls it serves, and every field of\n\
         its data. In a policy, a probe's data is the CEL variable named after its id\n\
         (`-` becomes `_`); fields are written as paths: `users[].name` is the `name` of\n\
         every element of the list `users`; below a `map` the next name is a key.\n",
    );
    for p in PROBES {
        probe_section(&mut out, p);
    }
    out
}

fn probe_section(out: &mut String, p: &ProbeSchema) {
    let _ = write!(
        out,
        "\n## `{}`\n\n{}\n\n- version: {}\n- CEL variable: `{}`\n- controls: {}\n\n\
         | Field | Type | Meaning |\n|---|---|---|\n",
        p.id,
        p.description,
        p.version,
        p.variable(),
        p.controls.join(", "),
    );
    for f in p.fields {
        let _ = writeln!(
            out,
            "| `{}` | `{}` | {} |",
            f.path,
            cell(&f.ty.to_string()),
            cell(f.doc)
        );
    }
}

/// Escape a table cell (`|` would end it, a newline would end the row).
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}
