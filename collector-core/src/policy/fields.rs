//! Which top-level fields of each probe variable a policy set's expressions
//! read, so that evaluation converts only those to CEL values (a
//! `packages` blob with a full inventory is ~70 KB of JSON, of which the
//! rules read a few scalars).
//!
//! The scan is textual and conservative: every occurrence of the variable
//! as an identifier must be `var.field` with `field` not called as a
//! method (`var.all(…)`, `var.exists(…)` iterate the whole map); anything
//! else — `var[…]`, `size(var)`, `var` passed or compared whole, a method
//! call — means the whole value is converted. Occurrences inside string
//! literals are counted too (they can only add fields or force the whole
//! value, never drop one), so a projection never hides a field an
//! expression reads.

use std::collections::{BTreeSet, HashMap};

/// The fields of `var` that `src` reads: `Some(fields)` when every
/// occurrence is a plain `var.field` access, `None` when the whole value
/// may be needed.
pub(crate) fn fields_read(src: &str, var: &str) -> Option<BTreeSet<String>> {
    let b = src.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut out = BTreeSet::new();
    let mut from = 0;
    while let Some(at) = src[from..].find(var).map(|i| i + from) {
        from = at + var.len();
        let before = at.checked_sub(1).map(|i| b[i]);
        let after = b.get(from).copied();
        if before.is_some_and(ident) || after.is_some_and(ident) {
            continue;
        }
        let mut i = from;
        let skip_ws = |mut i: usize| {
            while b.get(i).is_some_and(|c| c.is_ascii_whitespace()) {
                i += 1;
            }
            i
        };
        i = skip_ws(i);
        if b.get(i) != Some(&b'.') {
            return None;
        }
        i = skip_ws(i + 1);
        let start = i;
        while b.get(i).copied().is_some_and(ident) {
            i += 1;
        }
        if start == i {
            return None;
        }
        let field = &src[start..i];
        if b.get(skip_ws(i)) == Some(&b'(') {
            return None;
        }
        out.insert(field.to_string());
    }
    Some(out)
}

/// Union over `sources` of [`fields_read`]: None as soon as one needs the
/// whole value.
pub(crate) fn fields_read_by<'a>(
    sources: impl IntoIterator<Item = &'a str>,
    var: &str,
) -> Option<BTreeSet<String>> {
    let mut all = BTreeSet::new();
    for s in sources {
        all.extend(fields_read(s, var)?);
    }
    Some(all)
}

/// Per probe variable the set reads, the fields every expression of the
/// set reads of it (None: the whole value).
pub(crate) fn probe_fields(set: &super::PolicySet) -> HashMap<String, Option<BTreeSet<String>>> {
    let sources: Vec<&str> = set.expressions().map(|e| e.source()).collect();
    set.used_probes
        .iter()
        .filter(|p| p.as_str() != "host")
        .map(|p| {
            let var = super::probe_variable(p);
            let fields = fields_read_by(sources.iter().copied(), &var);
            (var, fields)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any text (multi-byte characters next to the variable included)
        /// is scanned without a panic, and every field found follows
        /// `var.` in it.
        #[test]
        fn any_source_scans_without_panicking(
            src in "(packages|\\.|[a-z_]{1,4}|é|→| |\\(|\\[|'){0,24}",
        ) {
            if let Some(fields) = fields_read(&src, "packages") {
                for f in fields {
                    prop_assert!(src.contains(&f));
                }
            }
            let _ = fields_read(&src, "é");
        }
    }

    fn set(v: &[&str]) -> Option<BTreeSet<String>> {
        Some(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn plain_field_reads_are_projected() {
        let src = r#"packages.last_update != null && timestamp(packages.last_update) >= collected_day - duration("720h")"#;
        assert_eq!(fields_read(src, "packages"), set(&["last_update"]));
        assert_eq!(
            fields_read(
                "has(packages.x) && packages . y.z == 1 && packages.w.exists(a, a > 1)",
                "packages"
            ),
            set(&["w", "x", "y"])
        );
        // Other identifiers that contain the name are not occurrences.
        assert_eq!(
            fields_read("mypackages.a == packages_x.b", "packages"),
            set(&[])
        );
        assert_eq!(
            fields_read("sshd.permitrootlogin == 'no'", "packages"),
            set(&[])
        );
    }

    #[test]
    fn anything_but_a_plain_field_read_needs_the_whole_value() {
        for src in [
            "size(packages) > 0",
            "packages['last_update'] != null",
            "packages.all(k, k != 'x')",
            "packages.exists (k, k == 'x')",
            "packages == {}",
            "f(packages)",
            "packages.",
            "packages",
            // A string literal naming the variable: conservative.
            "x == 'packages'",
        ] {
            assert_eq!(fields_read(src, "packages"), None, "{src}");
        }
        assert_eq!(
            fields_read_by(["packages.a == 1", "size(packages) > 1"], "packages"),
            None
        );
        assert_eq!(
            fields_read_by(["packages.a == 1", "packages.b == 2"], "packages"),
            set(&["a", "b"])
        );
    }
}
