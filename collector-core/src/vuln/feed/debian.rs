//! The Debian Security Tracker JSON
//! (`https://security-tracker.debian.org/tracker/data/json`):
//! `{source: {CVE: {description, scope, debianbug, releases: {codename:
//! {status, repositories, fixed_version, urgency, nodsa, nodsa_reason}}}}}`.
//!
//! Streamed through serde visitors: no value tree of the ~50 MB file is
//! built, only the compact index (descriptions are skipped).

use super::FeedError;
use crate::vuln::index::{Entry, FeedFormat, Release, SnapshotIndex, Status, Urgency};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use std::fmt;
use std::io::Read;

/// Parse a whole tracker file from `reader` (`file` names it in errors).
/// Malformed or truncated input is an error with its line and column; a
/// tracker with no entry at all is refused as empty.
pub fn parse_debian_tracker<R: Read>(reader: R, file: &str) -> Result<SnapshotIndex, FeedError> {
    let mut index = SnapshotIndex::new(FeedFormat::DebianTracker);
    let mut de =
        serde_json::Deserializer::from_reader(std::io::BufReader::with_capacity(1 << 16, reader));
    Top(&mut index)
        .deserialize(&mut de)
        .and_then(|()| de.end())
        .map_err(|e| FeedError::from_json(file, &e))?;
    if index.releases.is_empty() {
        return Err(FeedError::Empty {
            file: file.to_string(),
            message: "the tracker holds no release entry".into(),
        });
    }
    Ok(index)
}

struct Top<'a>(&'a mut SnapshotIndex);

impl<'de> DeserializeSeed<'de> for Top<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Top<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of source packages")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(source) = map.next_key::<String>()? {
            map.next_value_seed(Package {
                index: self.0,
                source: &source,
            })?;
        }
        Ok(())
    }
}

struct Package<'a> {
    index: &'a mut SnapshotIndex,
    source: &'a str,
}

impl<'de> DeserializeSeed<'de> for Package<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Package<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "an object of CVEs for source package {:?}", self.source)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(cve) = map.next_key::<String>()? {
            map.next_value_seed(Cve {
                index: self.index,
                source: self.source,
                cve: &cve,
            })?;
        }
        Ok(())
    }
}

struct Cve<'a> {
    index: &'a mut SnapshotIndex,
    source: &'a str,
    cve: &'a str,
}

impl<'de> DeserializeSeed<'de> for Cve<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Cve<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "an object for {} in {:?}", self.cve, self.source)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == "releases" {
                map.next_value_seed(Releases {
                    index: &mut *self.index,
                    source: self.source,
                    cve: self.cve,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

struct Releases<'a> {
    index: &'a mut SnapshotIndex,
    source: &'a str,
    cve: &'a str,
}

/// One release's record of a CVE.
#[derive(Deserialize)]
struct ReleaseEntry {
    status: String,
    #[serde(default)]
    fixed_version: Option<String>,
    #[serde(default)]
    urgency: Option<String>,
    #[serde(default)]
    nodsa: Option<String>,
    #[serde(default)]
    nodsa_reason: Option<String>,
}

impl<'de> DeserializeSeed<'de> for Releases<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Releases<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "an object of releases for {} in {:?}",
            self.cve, self.source
        )
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(release) = map.next_key::<String>()? {
            let r: ReleaseEntry = map.next_value()?;
            let entry = entry(self.cve, &r).map_err(|m| {
                de::Error::custom(format!("{} {} {release}: {m}", self.source, self.cve))
            })?;
            self.index
                .push(Release::new("debian", &release), self.source, entry);
        }
        Ok(())
    }
}

/// The tracker's record as an index entry: `resolved` with fixed version
/// `0` is not-affected, `resolved` with a version is fixed in it; `open` is
/// end-of-life (urgency `end-of-life`), will-not-fix (`nodsa_reason:
/// ignored`), no-dsa (`nodsa` set) or open; `undetermined` stays so.
fn entry(cve: &str, r: &ReleaseEntry) -> Result<Entry, String> {
    let urgency = Urgency::parse(r.urgency.as_deref().unwrap_or(""));
    let fixed = r
        .fixed_version
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty());
    let (status, fixed) = match r.status.as_str() {
        "resolved" => match fixed {
            None | Some("0") => (Status::NotAffected, None),
            Some(v) => (Status::Fixed, Some(v.to_string())),
        },
        "open" => {
            let status = if urgency == Urgency::EndOfLife {
                Status::EndOfLife
            } else if r.nodsa_reason.as_deref() == Some("ignored") {
                Status::WillNotFix
            } else if r.nodsa.is_some() || r.nodsa_reason.is_some() {
                Status::NoDsa
            } else {
                Status::Open
            };
            (status, None)
        }
        "undetermined" => (Status::Undetermined, None),
        other => return Err(format!("unknown status {other:?}")),
    };
    Ok(Entry {
        cve: cve.to_string(),
        status,
        fixed,
        introduced: None,
        last_affected: None,
        versions: Vec::new(),
        urgency,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vuln::feed::HashingReader;

    const SAMPLE: &str = r#"{
      "openssl": {
        "CVE-2024-5535": {"description": "SSL_select_next_proto buffer overread", "scope": "remote",
          "releases": {
            "bookworm": {"status": "resolved", "repositories": {"bookworm": "3.0.15-1~deb12u1"}, "fixed_version": "3.0.14-1~deb12u1", "urgency": "not yet assigned"},
            "bullseye": {"status": "open", "repositories": {"bullseye": "1.1.1w-0+deb11u1"}, "urgency": "not yet assigned", "nodsa": "Minor issue", "nodsa_reason": "postponed"},
            "sid": {"status": "resolved", "repositories": {"sid": "3.3.2-1"}, "fixed_version": "3.3.1-1", "urgency": "not yet assigned"}
          }},
        "CVE-2023-0001": {"releases": {"bookworm": {"status": "resolved", "fixed_version": "0", "urgency": "unimportant"}}}
      },
      "linux": {
        "CVE-2024-1086": {"description": "nf_tables use-after-free", "debianbug": 1234,
          "releases": {"bookworm": {"status": "resolved", "fixed_version": "6.1.76-1", "urgency": "high"},
                       "buster": {"status": "open", "urgency": "end-of-life"}}},
        "CVE-2019-0002": {"releases": {"bookworm": {"status": "open", "urgency": "low", "nodsa": "", "nodsa_reason": "ignored"}}},
        "TEMP-0000000-ABCDEF": {"releases": {"bookworm": {"status": "undetermined", "urgency": "unimportant"}}}
      }
    }"#;

    #[test]
    fn the_tracker_becomes_the_compact_index() {
        let ix = parse_debian_tracker(SAMPLE.as_bytes(), "t.json").unwrap();
        let bw = &ix.releases[&Release::new("debian", "bookworm")];
        let ssl = &bw.packages["openssl"];
        assert_eq!(ssl[0].cve, "CVE-2024-5535");
        assert_eq!(ssl[0].status, Status::Fixed);
        assert_eq!(ssl[0].fixed.as_deref(), Some("3.0.14-1~deb12u1"));
        assert_eq!(ssl[0].urgency, Urgency::Unknown);
        assert_eq!(ssl[1].status, Status::NotAffected);
        let linux = &bw.packages["linux"];
        assert_eq!(linux[0].urgency, Urgency::High);
        assert_eq!(linux[1].status, Status::WillNotFix);
        assert_eq!(linux[2].status, Status::Undetermined);
        let bull = &ix.releases[&Release::new("debian", "bullseye")];
        assert_eq!(bull.packages["openssl"][0].status, Status::NoDsa);
        let buster = &ix.releases[&Release::new("debian", "buster")];
        assert_eq!(buster.packages["linux"][0].status, Status::EndOfLife);
        assert_eq!(ix.entry_count(), 8);
        assert_eq!(ix.cve_count(), 5);
    }

    #[test]
    fn every_truncation_is_an_error_with_a_position_never_a_panic() {
        for n in 0..SAMPLE.len() {
            if !SAMPLE.is_char_boundary(n) || SAMPLE[n..].trim().is_empty() {
                continue;
            }
            match parse_debian_tracker(&SAMPLE.as_bytes()[..n], "t.json") {
                Err(FeedError::Json { line, column, .. }) => {
                    assert!(line >= 1 && column <= SAMPLE.len(), "{n}")
                }
                Err(FeedError::Empty { .. }) => {}
                other => panic!("truncated at {n}: {other:?}"),
            }
        }
        let e = parse_debian_tracker(&SAMPLE.as_bytes()[..300], "t.json").unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("t.json: truncated at line"), "{text}");
    }

    #[test]
    fn wrong_shapes_and_unknown_statuses_are_refused_with_their_place() {
        let bad = r#"{"openssl": {"CVE-1": {"releases": {"bookworm": {"status": "fixed-ish"}}}}}"#;
        let e = parse_debian_tracker(bad.as_bytes(), "t.json").unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("openssl CVE-1 bookworm: unknown status \"fixed-ish\""),
            "{text}"
        );
        assert!(text.contains("line 1, column"), "{text}");
        for bad in [
            "[]",
            "{\"a\": []}",
            "{\"a\": {\"CVE-1\": {\"releases\": {\"bookworm\": {}}}}}",
            "{} x",
        ] {
            assert!(
                matches!(
                    parse_debian_tracker(bad.as_bytes(), "t.json"),
                    Err(FeedError::Json { .. })
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            parse_debian_tracker("{}".as_bytes(), "t.json"),
            Err(FeedError::Empty { .. })
        ));
    }

    #[test]
    fn the_hashing_reader_digests_exactly_what_was_parsed() {
        let mut r = HashingReader::new(SAMPLE.as_bytes());
        parse_debian_tracker(&mut r, "t.json").unwrap();
        let (digest, n) = r.finish();
        assert_eq!(n, SAMPLE.len() as u64);
        assert_eq!(digest, crate::digest::sha256_digest(SAMPLE.as_bytes()));
    }
}
