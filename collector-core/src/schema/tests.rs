use super::*;
use serde_json::json;

#[test]
fn resolves_the_paths_policies_read() {
    assert_eq!(resolve("sshd.permitrootlogin"), Ok(FieldType::Str));
    assert_eq!(resolve("accounts.pam.minlen"), Ok(FieldType::Int));
    assert_eq!(
        resolve("sshd.match_blocks[].settings"),
        Ok(FieldType::Map(&FieldType::Any))
    );
    assert_eq!(
        resolve("sshd.match_blocks[].settings.permitrootlogin"),
        Ok(FieldType::Any)
    );
    assert_eq!(resolve("accounts.users[].name"), Ok(FieldType::Str));
    assert_eq!(
        resolve("accounts.users"),
        Ok(FieldType::List(&FieldType::Object))
    );
    // the CEL variable spelling of a probe id
    assert_eq!(
        resolve("file_permissions.violations[].path"),
        Ok(FieldType::Str)
    );
    // a map key is data: any name resolves to the map's value type
    assert_eq!(
        resolve("kernel.sysctl.kernel_randomize_va_space"),
        Ok(FieldType::Nullable(&FieldType::Int))
    );
    assert_eq!(resolve("sshd"), Ok(FieldType::Object));
}

#[test]
fn a_typo_is_an_error_with_a_suggestion() {
    assert_eq!(
        resolve("sshd.permitrotlogin"),
        Err(SchemaError::UnknownField {
            probe: "sshd",
            path: "permitrotlogin".into(),
            suggestion: Some("permitrootlogin"),
        })
    );
    assert_eq!(
        resolve("acounts.uid0_accounts"),
        Err(SchemaError::UnknownProbe {
            name: "acounts".into(),
            suggestion: Some("accounts"),
        })
    );
    let err = resolve("accounts.pam.minlenn").unwrap_err();
    assert_eq!(
        err.to_string(),
        "probe `accounts` has no field `pam.minlenn` (did you mean `pam.minlen`?)"
    );
    // nothing close: no suggestion
    assert!(matches!(
        resolve("sshd.zzzzzzzzzzzz"),
        Err(SchemaError::UnknownField {
            suggestion: None,
            ..
        })
    ));
}

#[test]
fn a_path_through_a_scalar_or_a_non_list_is_a_shape_error() {
    let e = resolve("sshd.permitrootlogin.x").unwrap_err();
    assert!(
        matches!(
            e,
            SchemaError::WrongShape {
                wanted: "an object",
                ..
            }
        ),
        "{e}"
    );
    let e = resolve("sshd.maxauthtries[]").unwrap_err();
    assert!(
        matches!(
            e,
            SchemaError::WrongShape {
                wanted: "a list",
                ..
            }
        ),
        "{e}"
    );
    // a list needs `[]` before its elements' members
    let e = resolve("accounts.users.name").unwrap_err();
    assert!(matches!(e, SchemaError::WrongShape { .. }), "{e}");
}

#[test]
fn the_schema_is_consistent() {
    let catalog = crate::Catalog::annex_a();
    let mut ids = std::collections::BTreeSet::new();
    for p in PROBES {
        assert!(ids.insert(p.variable()), "{}: duplicate id/variable", p.id);
        assert!(!p.description.is_empty(), "{}", p.id);
        assert!(!p.controls.is_empty(), "{}", p.id);
        for c in p.controls {
            assert!(catalog.get(c).is_some(), "{}: unknown control {c}", p.id);
        }
        assert!(!p.fields.is_empty(), "{} documents no fields", p.id);
        let mut seen = std::collections::BTreeSet::new();
        for f in p.fields {
            assert!(seen.insert(f.path), "{}.{} twice", p.id, f.path);
            assert!(!f.doc.is_empty(), "{}.{} has no doc", p.id, f.path);
            // every field's parent is documented (before it) as an object or a list of objects
            let parent = parent_of(f.path);
            if !parent.is_empty() {
                let ty = p.resolve(parent);
                assert!(
                    matches!(ty, Ok(t) if matches!(t.non_null(), FieldType::Object)),
                    "{}.{}: parent `{parent}` is {ty:?}",
                    p.id,
                    f.path
                );
                let (list, _) = strip_brackets(parent.rsplit('.').next().unwrap_or(parent));
                let parent_path = parent.trim_end_matches("[]");
                assert!(
                    seen.contains(parent_path),
                    "{}.{}: parent `{parent_path}` ({list}) documented after it",
                    p.id,
                    f.path
                );
            }
            assert_eq!(p.resolve(f.path), Ok(f.ty), "{}.{}", p.id, f.path);
        }
    }
}

#[test]
fn check_reports_undocumented_missing_and_mistyped_members() {
    let p = probe("accounts").unwrap();
    let data = json!({
        "shadow_readable": "yes",
        "users": [{"name": "root", "uid": 0, "surprise": 1}],
        "extra": true
    });
    let found = p.check(&data);
    assert!(
        found.contains(&Mismatch::Undocumented("extra".into())),
        "{found:?}"
    );
    assert!(
        found.contains(&Mismatch::Undocumented("users[].surprise".into())),
        "{found:?}"
    );
    assert!(
        found.contains(&Mismatch::Missing("users[].gid".into())),
        "{found:?}"
    );
    assert!(
        found.contains(&Mismatch::Missing("uid_min".into())),
        "{found:?}"
    );
    assert!(
        found.contains(&Mismatch::WrongType {
            path: "shadow_readable".into(),
            expected: "bool".into(),
            found: "a string",
        }),
        "{found:?}"
    );
    // nullable fields may be null or absent
    assert!(
        !found
            .iter()
            .any(|m| m.to_string().contains("last_change_days")),
        "{found:?}"
    );
}

#[test]
fn types_print_as_documented() {
    assert_eq!(
        FieldType::Map(&FieldType::Nullable(&FieldType::Int)).to_string(),
        "map<string, int|null>"
    );
    assert_eq!(FieldType::List(&FieldType::Str).to_string(), "list<string>");
}

#[test]
fn markdown_lists_every_probe_and_field() {
    let md = markdown();
    for p in PROBES {
        assert!(md.contains(&format!("## `{}`", p.id)), "{}", p.id);
        for f in p.fields {
            assert!(md.contains(&format!("`{}`", f.path)), "{}.{}", p.id, f.path);
        }
    }
    // pipes inside docs would break the table
    assert!(!md.contains("any \\| inet") || md.contains("\\|"));
}
