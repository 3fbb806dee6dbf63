//! A probe blob parsed as far as an evaluation reads it: of a JSON
//! object, only the named top-level fields are built, the others checked
//! for syntax and skipped (see `Evidence::from_statement_projected`).

/// A probe blob as JSON; of an object, only the top-level fields in `keep`
/// when given (the others are checked for syntax and skipped). Text that
/// is not UTF-8 or not an object is parsed whole, so it fails or reads as
/// before. A skipped field is checked for syntax only: a number beyond
/// `f64` or nesting deeper than 128 levels there, which a whole parse
/// refuses, is skipped — which is why only blobs already accepted whole
/// (by ingest's full evaluation of the run that sent them) are parsed so.
pub(super) fn parse_blob(
    bytes: &[u8],
    keep: Option<&std::collections::BTreeSet<String>>,
) -> Result<serde_json::Value, serde_json::Error> {
    use serde::de::Deserializer as _;
    let (Some(keep), Ok(text)) = (keep, std::str::from_utf8(bytes)) else {
        return serde_json::from_slice(bytes);
    };
    if text.trim_start().as_bytes().first() != Some(&b'{') {
        return serde_json::from_slice(bytes);
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let value = (&mut de).deserialize_map(Keep(keep))?;
    de.end()?;
    Ok(value)
}

/// Visits a JSON object keeping the fields it names.
struct Keep<'k>(&'k std::collections::BTreeSet<String>);

impl<'de> serde::de::Visitor<'de> for Keep<'_> {
    type Value = serde_json::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> Result<serde_json::Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(key) = map.next_key_seed(KeyIn(self.0))? {
            match key {
                Some(k) => {
                    out.insert(k, map.next_value()?);
                }
                None => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(serde_json::Value::Object(out))
    }
}

/// A key, owned only when it is one of the kept fields.
struct KeyIn<'k>(&'k std::collections::BTreeSet<String>);

impl<'de> serde::de::DeserializeSeed<'de> for KeyIn<'_> {
    type Value = Option<String>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Option<String>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> serde::de::Visitor<'de> for KeyIn<'_> {
    type Value = Option<String>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Option<String>, E> {
        Ok(self.0.contains(v).then(|| v.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// JSON-ish text: objects of a few known keys, arrays, strings with
    /// escapes, numbers, and raw bytes spliced in.
    fn jsonish() -> impl Strategy<Value = Vec<u8>> {
        let leaf = prop_oneof![
            Just("null".to_string()),
            Just("true".to_string()),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<f64>().prop_map(|n| n.to_string()),
            "[a-z\\\"\\\\]{0,6}".prop_map(|s| format!("\"{s}\"")),
        ];
        let value = leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                prop::collection::vec(("(a|b|last_update|x\\\\\\\\y)", inner), 0..4).prop_map(
                    |v| {
                        let f: Vec<String> =
                            v.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                        format!("{{{}}}", f.join(","))
                    }
                ),
            ]
        });
        (
            value,
            prop::collection::vec(any::<u8>(), 0..3),
            any::<usize>(),
        )
            .prop_map(|(text, noise, at)| {
                let mut b = text.into_bytes();
                let at = at % (b.len() + 1);
                b.splice(at..at, noise);
                b
            })
    }

    proptest! {
        /// Whatever the bytes: no panic, and a projected parse succeeds
        /// exactly when a whole one does, giving the whole value's kept
        /// fields (or the whole value, for what is not an object).
        #[test]
        fn a_projection_is_the_whole_parse_restricted(bytes in jsonish()) {
            let keep: std::collections::BTreeSet<String> =
                ["last_update".into(), "x\\y".into()].into();
            let whole = serde_json::from_slice::<serde_json::Value>(&bytes);
            let got = parse_blob(&bytes, Some(&keep));
            match whole {
                Err(e) => {
                    // Skipped values are checked for syntax only (see
                    // `parse_blob`): only range and depth may differ.
                    let e = e.to_string();
                    let lenient = e.contains("number out of range") || e.contains("recursion limit");
                    prop_assert!(got.is_err() || lenient, "{e}");
                }
                Ok(serde_json::Value::Object(o)) => {
                    let want: serde_json::Map<String, serde_json::Value> = o
                        .into_iter()
                        .filter(|(k, _)| keep.contains(k))
                        .collect();
                    prop_assert_eq!(got.ok(), Some(serde_json::Value::Object(want)));
                }
                Ok(other) => prop_assert_eq!(got.ok(), Some(other)),
            }
        }
    }

    /// A projected blob keeps exactly the named top-level fields with
    /// their whole values; what is not an object, not UTF-8 or not JSON
    /// reads (or fails) as a whole parse does.
    #[test]
    fn a_projected_blob_keeps_the_fields_read_and_fails_as_a_whole_parse() {
        let keep: std::collections::BTreeSet<String> =
            ["last_update".into(), "name\"q".into()].into();
        let blob = br#" {"packages":[{"name":"openssl","v":[1,{"x":null}]}],"last_update":"2026-11-20T00:00:00Z","name\"q":{"a":[1.5,-2]},"big":123456789012345678901234567890}"#;
        let whole: serde_json::Value = serde_json::from_slice(blob).unwrap();
        let got = parse_blob(blob, Some(&keep)).unwrap();
        let want = serde_json::json!({
            "last_update": whole["last_update"],
            "name\"q": whole["name\"q"],
        });
        assert_eq!(got, want);
        assert_eq!(parse_blob(blob, None).unwrap(), whole);
        // Duplicate keys: the last one wins, as in a whole parse.
        let dup = br#"{"last_update":1,"last_update":2}"#;
        assert_eq!(parse_blob(dup, Some(&keep)).unwrap()["last_update"], 2);
        // Not an object: whole.
        assert_eq!(
            parse_blob(b"[1,2]", Some(&keep)).unwrap(),
            serde_json::json!([1, 2])
        );
        // Broken JSON in a skipped field, trailing bytes, bad UTF-8: errors,
        // as a whole parse gives them.
        for bad in [
            &br#"{"packages":[1,},"last_update":"x"}"#[..],
            br#"{"last_update":"x"} x"#,
            b"{\"packages\":\"\xff\",\"last_update\":\"x\"}",
            br#"{"packages":"unterminated}"#,
        ] {
            assert!(serde_json::from_slice::<serde_json::Value>(bad).is_err());
            assert!(parse_blob(bad, Some(&keep)).is_err(), "{bad:?}");
        }
    }
}
