//! Predicate v2: parsing both versions, the [`Content`] of a run and the
//! pure resolution of an unchanged run against it.

use super::{
    AgentInfo, EvidenceError, HostFacts, Predicate, ProbeEntry, ProbeStatus, Schedule,
    SequenceRange, Statement, Subject, PREDICATE_TYPE, PREDICATE_TYPE_V2, STATEMENT_TYPE,
};
use crate::digest::{sha256_digest, Digest};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What stays the same while a host does not change: host facts, schedule
/// and every probe entry without its duration. Its canonical bytes (this
/// struct serialised as JSON, fields in declaration order) are stored and
/// shipped as a blob; an unchanged run names their digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Content {
    /// Host facts.
    pub host: HostFacts,
    /// The agent's schedule.
    pub schedule: Schedule,
    /// Probe entries in statement order.
    pub probes: Vec<ContentEntry>,
}

/// A probe entry without its duration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentEntry {
    /// Probe id.
    pub id: String,
    /// Probe version.
    pub version: u32,
    /// Outcome.
    pub status: ProbeStatus,
    /// Digest of the probe's data blob.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    /// Why not `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Content {
    /// The content of a (full) predicate.
    pub fn of(p: &Predicate) -> Content {
        Content {
            host: p.host.clone(),
            schedule: p.schedule.clone(),
            probes: p
                .probes
                .iter()
                .map(|e| ContentEntry {
                    id: e.id.clone(),
                    version: e.version,
                    status: e.status,
                    digest: e.digest,
                    reason: e.reason.clone(),
                })
                .collect(),
        }
    }

    /// The canonical bytes (the content blob).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Digest of the canonical bytes.
    pub fn digest(&self) -> Digest {
        sha256_digest(&self.to_bytes())
    }

    /// Parse a content blob, checking it against the digest that names it.
    pub fn from_blob(expected: &Digest, bytes: &[u8]) -> Result<Content, EvidenceError> {
        let bad = |reason: String| EvidenceError::BadContent {
            digest: *expected,
            reason,
        };
        let actual = sha256_digest(bytes);
        if &actual != expected {
            return Err(bad(format!("its bytes hash to {actual}")));
        }
        serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))
    }
}

/// A statement as it travels, either version, either form.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WireStatement {
    #[serde(rename = "_type")]
    pub type_: String,
    pub subject: Vec<Subject>,
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    pub predicate: WirePredicate,
}

/// The predicate as it travels: v1 and full v2 have host, schedule and
/// probes; an unchanged v2 run has `unchanged` instead. Field order is the
/// order [`Predicate`] serialises in, so a full v2 statement is byte-for-byte
/// the v1 shape with another type.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WirePredicate {
    pub agent: AgentInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<HostFacts>,
    pub sequence: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Digest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gap: Option<SequenceRange>,
    pub collected_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probes: Option<Vec<ProbeEntry>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unchanged: Option<Digest>,
}

/// An unchanged v2 run before resolution: everything it signs but the content.
#[derive(Debug, Clone, PartialEq)]
pub struct Unchanged {
    /// The in-toto subject.
    pub subject: Vec<Subject>,
    /// Which agent.
    pub agent: AgentInfo,
    /// Sequence.
    pub sequence: u64,
    /// Previous envelope digest.
    pub previous: Option<Digest>,
    /// Declared gap.
    pub gap: Option<SequenceRange>,
    /// Collection time.
    pub collected_at: DateTime<Utc>,
    /// Digest of the [`Content`] it repeats.
    pub content: Digest,
}

impl Unchanged {
    /// The complete statement this run stands for, given its content
    /// (already checked against [`Unchanged::content`]). Probe durations
    /// were not re-sent and read 0.
    pub fn resolve(self, content: &Content) -> Statement {
        Statement {
            type_: STATEMENT_TYPE.to_string(),
            subject: self.subject,
            predicate_type: PREDICATE_TYPE_V2.to_string(),
            predicate: Predicate {
                agent: self.agent,
                host: content.host.clone(),
                sequence: self.sequence,
                previous: self.previous,
                gap: self.gap,
                collected_at: self.collected_at,
                schedule: content.schedule.clone(),
                probes: content
                    .probes
                    .iter()
                    .map(|e| ProbeEntry {
                        id: e.id.clone(),
                        version: e.version,
                        status: e.status,
                        duration_us: 0,
                        digest: e.digest,
                        reason: e.reason.clone(),
                    })
                    .collect(),
            },
        }
    }
}

/// A parsed statement payload.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// v1 or full v2: complete (boxed: it is much larger than the other form).
    Full(Box<Statement>),
    /// An unchanged v2 run (needs its content blob).
    Unchanged(Unchanged),
}

impl Parsed {
    /// Parse and check statement type, predicate type and shape.
    pub fn from_bytes(bytes: &[u8]) -> Result<Parsed, EvidenceError> {
        let w: WireStatement = serde_json::from_slice(bytes)?;
        if w.type_ != STATEMENT_TYPE {
            return Err(EvidenceError::StatementType(w.type_));
        }
        let v2 = match w.predicate_type.as_str() {
            PREDICATE_TYPE => false,
            PREDICATE_TYPE_V2 => true,
            _ => return Err(EvidenceError::PredicateType(w.predicate_type)),
        };
        let p = w.predicate;
        match (p.host, p.schedule, p.probes, p.unchanged) {
            (Some(host), Some(schedule), Some(probes), None) => {
                Ok(Parsed::Full(Box::new(Statement {
                    type_: w.type_,
                    subject: w.subject,
                    predicate_type: w.predicate_type,
                    predicate: Predicate {
                        agent: p.agent,
                        host,
                        sequence: p.sequence,
                        previous: p.previous,
                        gap: p.gap,
                        collected_at: p.collected_at,
                        schedule,
                        probes,
                    },
                })))
            }
            (None, None, None, Some(content)) if v2 => Ok(Parsed::Unchanged(Unchanged {
                subject: w.subject,
                agent: p.agent,
                sequence: p.sequence,
                previous: p.previous,
                gap: p.gap,
                collected_at: p.collected_at,
                content,
            })),
            (_, _, _, Some(_)) if !v2 => Err(EvidenceError::Shape(
                "`unchanged` needs predicate type v2".into(),
            )),
            _ => Err(EvidenceError::Shape(
                "a predicate has either `host`, `schedule` and `probes`, or (v2) only `unchanged`"
                    .into(),
            )),
        }
    }

    /// Sequence, whichever the form.
    pub fn sequence(&self) -> u64 {
        match self {
            Parsed::Full(s) => s.predicate.sequence,
            Parsed::Unchanged(u) => u.sequence,
        }
    }

    /// Blobs this payload names directly: probe data of a full statement,
    /// the content blob of an unchanged run.
    pub fn direct_blobs(&self) -> Vec<Digest> {
        match self {
            Parsed::Full(s) => s.blob_digests(),
            Parsed::Unchanged(u) => vec![u.content],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::sample_predicate;
    use super::*;
    use crate::evidence::Evidence;

    #[test]
    fn unchanged_run_resolves_to_the_same_evidence() {
        let blob = br#"{"permitrootlogin":"no"}"#;
        let full = Statement::new_v2(sample_predicate(blob));
        let bytes = full.to_bytes();
        assert_eq!(Statement::from_bytes(&bytes).unwrap(), full);
        let mut next = full.clone();
        next.predicate.sequence += 1;
        next.predicate.collected_at += chrono::Duration::hours(1);
        let compact = next.to_unchanged_bytes();
        assert!(
            compact.len() < bytes.len(),
            "{} vs {}",
            compact.len(),
            bytes.len()
        );
        let content = Content::of(&full.predicate).to_bytes();
        let digest = sha256_digest(&content);
        assert_eq!(full.content_digest(), digest);
        let err = Statement::from_bytes(&compact).unwrap_err();
        assert!(
            matches!(err, EvidenceError::Unresolved(d) if d == digest),
            "{err}"
        );
        let resolved =
            Statement::from_bytes_with(&compact, |d| (*d == digest).then_some(&content[..]))
                .unwrap();
        assert_eq!(resolved.predicate.sequence, next.predicate.sequence);
        assert_eq!(resolved.predicate.collected_at, next.predicate.collected_at);
        assert_eq!(
            resolved.predicate.probes[0].digest,
            full.predicate.probes[0].digest
        );
        assert_eq!(resolved.predicate.probes[0].duration_us, 0);
        assert_eq!(resolved.content_digest(), digest);
        let lookup = |d: &Digest| (*d == sha256_digest(blob)).then_some(&blob[..]);
        let a = Evidence::from_statement(&resolved, lookup).unwrap();
        let mut b = Evidence::from_statement(&full, lookup).unwrap();
        b.collected_at = a.collected_at;
        assert_eq!(a, b);
    }

    #[test]
    fn tampered_or_missing_content_is_refused() {
        let full = Statement::new_v2(sample_predicate(b"{}"));
        let compact = full.to_unchanged_bytes();
        let err = Statement::from_bytes_with(&compact, |_| None).unwrap_err();
        assert!(matches!(err, EvidenceError::Unresolved(_)), "{err}");
        let mut other = full.clone();
        other.predicate.host.hostname = "other".into();
        let wrong = Content::of(&other.predicate).to_bytes();
        let err = Statement::from_bytes_with(&compact, |_| Some(&wrong[..])).unwrap_err();
        assert!(matches!(err, EvidenceError::BadContent { .. }), "{err}");
    }

    #[test]
    fn v1_stays_v1_and_shapes_are_checked() {
        let v1 = Statement::new(sample_predicate(b"{}"));
        let back = Statement::from_bytes(&v1.to_bytes()).unwrap();
        assert_eq!(back.predicate_type, PREDICATE_TYPE);
        assert_eq!(back, v1);
        // `unchanged` is a v2 field.
        let compact = v1.to_unchanged_bytes();
        let text = String::from_utf8(compact)
            .unwrap()
            .replace(PREDICATE_TYPE_V2, PREDICATE_TYPE);
        let err = Parsed::from_bytes(text.as_bytes()).unwrap_err();
        assert!(matches!(err, EvidenceError::Shape(_)), "{err}");
        // Neither complete nor unchanged.
        let text = String::from_utf8(v1.to_bytes())
            .unwrap()
            .replace("\"schedule\"", "\"x\"");
        assert!(Parsed::from_bytes(text.as_bytes()).is_err());
        // A full v1 statement's content digest is the one an upgraded agent names.
        let v2 = Statement::new_v2(sample_predicate(b"{}"));
        assert_eq!(v1.content_digest(), v2.content_digest());
    }
}
