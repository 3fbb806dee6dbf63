//! The evidence model: what one collection run on one host says.
//!
//! A run is an in-toto Statement v1 whose predicate (type [`PREDICATE_TYPE`])
//! names the agent, the host, the run's place in the agent's hash chain and
//! one entry per probe. Each probe's data travels beside the statement as a
//! content-addressed blob: the exact JSON bytes the agent hashed. Nothing is
//! ever re-serialised before hashing.
//!
//! Two predicate versions are accepted (see `docs/protocol.md`):
//! - v1 ([`PREDICATE_TYPE`]): every statement lists every probe entry.
//! - v2 ([`PREDICATE_TYPE_V2`]): a statement is either *full* (the same
//!   fields as v1) or *unchanged*: instead of host facts, schedule and probe
//!   entries it carries the digest of their [`Content`], which must equal an
//!   earlier run's. The content's canonical bytes travel as a blob like any
//!   probe data, so an unchanged run stays an individually signed, chained
//!   statement that resolves (and verifies) against that blob alone.
//!
//! This is a wire format and therefore an API boundary: changing a field
//! means a new predicate type version.

use crate::digest::{sha256_digest, Digest};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

mod projected;
mod v2;
pub use v2::{Content, ContentEntry, Parsed, Unchanged};
use v2::{WirePredicate, WireStatement};

/// The in-toto Statement type this crate produces and accepts.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// Evident's first predicate type (every statement complete).
pub const PREDICATE_TYPE: &str = "https://evident.dev/evidence/v1";
/// Evident's second predicate type: full, or unchanged (content by digest).
pub const PREDICATE_TYPE_V2: &str = "https://evident.dev/evidence/v2";
/// The DSSE payload type of a statement.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// An in-toto Statement v1 carrying Evident's evidence predicate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    /// Always [`STATEMENT_TYPE`].
    #[serde(rename = "_type")]
    pub type_: String,
    /// The host the evidence is about (name `host:<hostname>`, digest of its machine id).
    pub subject: Vec<Subject>,
    /// [`PREDICATE_TYPE`] or [`PREDICATE_TYPE_V2`].
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    /// The evidence itself.
    pub predicate: Predicate,
}

/// An in-toto subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subject {
    /// `host:<hostname>`.
    pub name: String,
    /// Algorithm → lowercase hex digest.
    pub digest: BTreeMap<String, String>,
}

/// Evident's predicate: one collection run of one agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Predicate {
    /// Which agent produced the run.
    pub agent: AgentInfo,
    /// Stable facts identifying the host.
    pub host: HostFacts,
    /// Per-agent sequence number, strictly increasing, persisted before signing.
    pub sequence: u64,
    /// Digest of the previous envelope's exact bytes (`None` for the first run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Digest>,
    /// Sequence numbers the agent had to drop (spool overflow) since the previous run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gap: Option<SequenceRange>,
    /// When the run was collected (UTC).
    pub collected_at: DateTime<Utc>,
    /// The agent's schedule, so the collector knows when the next run is due.
    pub schedule: Schedule,
    /// One entry per probe that was part of the run.
    pub probes: Vec<ProbeEntry>,
}

/// Identity and version of the agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentInfo {
    /// The id the collector assigned at enrollment (or `local` for a local scan).
    pub id: String,
    /// The agent's version (semver).
    pub version: String,
}

/// Facts that identify the host the evidence is about.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostFacts {
    /// The host name.
    pub hostname: String,
    /// `/etc/machine-id`, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_id: Option<String>,
    /// `linux` for every host this version supports.
    pub os_family: String,
    /// `ID` from os-release (`debian`, `ubuntu`, `rhel`, …).
    #[serde(default)]
    pub os_id: String,
    /// `VERSION_ID` from os-release.
    #[serde(default)]
    pub os_version: String,
    /// Kernel release, when collected on a live system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
    /// CPU architecture (`x86_64`, `aarch64`).
    #[serde(default)]
    pub arch: String,
}

/// A closed range of sequence numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SequenceRange {
    /// First sequence number of the range.
    pub from: u64,
    /// Last sequence number of the range (inclusive).
    pub to: u64,
}

/// When the agent collects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// The default cron expression.
    pub cron: String,
    /// The longest expected time between two runs, in seconds.
    pub interval_seconds: u64,
}

/// How a probe fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProbeStatus {
    /// Data was collected.
    Ok,
    /// The probe failed; `reason` says why.
    Error,
    /// The host does not have what the probe looks at.
    Unsupported,
    /// The fact needs a live system (e.g. under a foreign `--root`).
    NotCollected,
}

impl ProbeStatus {
    /// The wire name (`ok`, `error`, `unsupported`, `not-collected`).
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeStatus::Ok => "ok",
            ProbeStatus::Error => "error",
            ProbeStatus::Unsupported => "unsupported",
            ProbeStatus::NotCollected => "not-collected",
        }
    }
}

/// One probe's entry in a statement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeEntry {
    /// Probe id (`sshd`, `accounts`, …).
    pub id: String,
    /// Probe version: bumped when the shape of its data changes.
    pub version: u32,
    /// Outcome.
    pub status: ProbeStatus,
    /// Time the probe took, in microseconds.
    pub duration_us: u64,
    /// Digest of the probe's data blob (present when status is `ok`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    /// Why the probe is not `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Why a statement or its blobs cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    #[error("statement is not valid JSON of the expected shape: {0}")]
    Json(#[from] serde_json::Error),
    #[error("statement `_type` is `{0}`, expected `{STATEMENT_TYPE}`")]
    StatementType(String),
    #[error("predicate type `{0}` is not supported (expected `{PREDICATE_TYPE}` or `{PREDICATE_TYPE_V2}`)")]
    PredicateType(String),
    #[error("statement shape: {0}")]
    Shape(String),
    #[error("unchanged run: the content blob {0} it refers to is missing")]
    Unresolved(Digest),
    #[error("unchanged run: content blob {digest} is not valid: {reason}")]
    BadContent { digest: Digest, reason: String },
    #[error("probe `{probe}` refers to blob {digest}, which is missing")]
    MissingBlob { probe: String, digest: Digest },
    #[error("blob for probe `{probe}` does not match its digest {expected} (got {actual})")]
    BlobDigest {
        probe: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("blob for probe `{probe}` is not JSON: {source}")]
    BlobJson {
        probe: String,
        source: serde_json::Error,
    },
    #[error("probe `{0}` is `ok` but names no data digest")]
    NoDigest(String),
    #[error("probe `{0}` appears twice in the statement")]
    DuplicateProbe(String),
}

impl Statement {
    /// Build a statement for `predicate`, deriving the subject from its host facts.
    pub fn new(predicate: Predicate) -> Statement {
        let id_material = predicate
            .host
            .machine_id
            .clone()
            .unwrap_or_else(|| predicate.host.hostname.clone());
        let mut digest = BTreeMap::new();
        digest.insert(
            "sha256".to_string(),
            sha256_digest(id_material.as_bytes()).hex(),
        );
        Statement {
            type_: STATEMENT_TYPE.to_string(),
            subject: vec![Subject {
                name: format!("host:{}", predicate.host.hostname),
                digest,
            }],
            predicate_type: PREDICATE_TYPE.to_string(),
            predicate,
        }
    }

    /// The JSON bytes to sign.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising plain data structures to a Vec cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parse and check a complete statement (v1, or a full v2). An
    /// unchanged v2 run is [`EvidenceError::Unresolved`]: use
    /// [`Statement::from_bytes_with`] or [`Parsed::from_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Statement, EvidenceError> {
        match Parsed::from_bytes(bytes)? {
            Parsed::Full(st) => Ok(*st),
            Parsed::Unchanged(u) => Err(EvidenceError::Unresolved(u.content)),
        }
    }

    /// Parse any supported statement, resolving an unchanged run through
    /// `blob` (which must give the content blob it names).
    pub fn from_bytes_with<'a>(
        bytes: &[u8],
        blob: impl Fn(&Digest) -> Option<&'a [u8]>,
    ) -> Result<Statement, EvidenceError> {
        match Parsed::from_bytes(bytes)? {
            Parsed::Full(st) => Ok(*st),
            Parsed::Unchanged(u) => {
                let bytes = blob(&u.content).ok_or(EvidenceError::Unresolved(u.content))?;
                let content = Content::from_blob(&u.content, bytes)?;
                Ok(u.resolve(&content))
            }
        }
    }

    /// A v2 statement (full form) for `predicate`.
    pub fn new_v2(predicate: Predicate) -> Statement {
        Statement {
            predicate_type: PREDICATE_TYPE_V2.to_string(),
            ..Statement::new(predicate)
        }
    }

    /// The digest of this run's [`Content`].
    pub fn content_digest(&self) -> Digest {
        Content::of(&self.predicate).digest()
    }

    /// The JSON bytes to sign for this run as an *unchanged* v2 statement:
    /// everything but host facts, schedule and probe entries, which are
    /// replaced by the digest of their [`Content`].
    pub fn to_unchanged_bytes(&self) -> Vec<u8> {
        let p = &self.predicate;
        let wire = WireStatement {
            type_: STATEMENT_TYPE.to_string(),
            subject: self.subject.clone(),
            predicate_type: PREDICATE_TYPE_V2.to_string(),
            predicate: WirePredicate {
                agent: p.agent.clone(),
                host: None,
                sequence: p.sequence,
                previous: p.previous,
                gap: p.gap,
                collected_at: p.collected_at,
                schedule: None,
                probes: None,
                unchanged: Some(self.content_digest()),
            },
        };
        serde_json::to_vec(&wire).unwrap_or_default()
    }

    /// Every blob digest the statement refers to, in probe order.
    pub fn blob_digests(&self) -> Vec<Digest> {
        self.predicate
            .probes
            .iter()
            .filter_map(|p| p.digest)
            .collect()
    }
}

/// One probe's outcome as the policy engine sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeData {
    /// Probe version.
    pub version: u32,
    /// Outcome.
    pub status: ProbeStatus,
    /// Why not `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The data, when `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

/// Everything evaluation needs from one run: host facts, time and probe data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The host.
    pub host: HostFacts,
    /// When the evidence was collected; waivers expire relative to this.
    pub collected_at: DateTime<Utc>,
    /// Probe id → outcome.
    pub probes: BTreeMap<String, ProbeData>,
}

impl Evidence {
    /// Assemble evidence from a statement and a blob lookup, checking every
    /// blob against its digest.
    pub fn from_statement<'a>(
        statement: &Statement,
        blob: impl Fn(&Digest) -> Option<&'a [u8]>,
    ) -> Result<Evidence, EvidenceError> {
        Evidence::from_statement_projected(statement, blob, |_| None)
    }

    /// [`Evidence::from_statement`] keeping, of each probe whose blob is a
    /// JSON object, only the top-level fields `fields(probe id)` names
    /// (`None`: the whole value): what an evaluation that reads only those
    /// fields needs (`PolicySet::fields_converted`), without building the
    /// rest (a full package inventory is ~70 KB of JSON). The blob is
    /// still checked against its digest and as UTF-8 JSON.
    pub fn from_statement_projected<'a, 'f>(
        statement: &Statement,
        blob: impl Fn(&Digest) -> Option<&'a [u8]>,
        fields: impl Fn(&str) -> Option<&'f std::collections::BTreeSet<String>>,
    ) -> Result<Evidence, EvidenceError> {
        Evidence::from_statement_with(statement, |probe, digest| {
            let bytes = blob(digest).ok_or_else(|| EvidenceError::MissingBlob {
                probe: probe.to_string(),
                digest: *digest,
            })?;
            Evidence::project_blob(probe, digest, bytes, fields(probe))
        })
    }

    /// The data of `probe` from its blob `bytes`: checked against `digest`,
    /// then parsed keeping, of a JSON object, only the top-level fields
    /// `fields` names (`None`: the whole value), as
    /// [`Evidence::from_statement_projected`] does for each probe.
    pub fn project_blob(
        probe: &str,
        digest: &Digest,
        bytes: &[u8],
        fields: Option<&std::collections::BTreeSet<String>>,
    ) -> Result<serde_json::Value, EvidenceError> {
        check_blob(probe, digest, bytes)?;
        projected::parse_blob(bytes, fields).map_err(|source| EvidenceError::BlobJson {
            probe: probe.to_string(),
            source,
        })
    }

    /// Assemble evidence from a statement, the data of each probe that
    /// names a blob given by `data(probe id, digest)` (for example
    /// [`Evidence::project_blob`] of the blob, or a projection made
    /// earlier of the same blob under the same fields).
    pub fn from_statement_with(
        statement: &Statement,
        mut data: impl FnMut(&str, &Digest) -> Result<serde_json::Value, EvidenceError>,
    ) -> Result<Evidence, EvidenceError> {
        let mut probes = BTreeMap::new();
        for entry in &statement.predicate.probes {
            let value = match (entry.status, entry.digest) {
                (ProbeStatus::Ok, None) => return Err(EvidenceError::NoDigest(entry.id.clone())),
                (_, Some(digest)) => Some(data(&entry.id, &digest)?),
                (_, None) => None,
            };
            let previous = probes.insert(
                entry.id.clone(),
                ProbeData {
                    version: entry.version,
                    status: entry.status,
                    reason: entry.reason.clone(),
                    data: value,
                },
            );
            if previous.is_some() {
                return Err(EvidenceError::DuplicateProbe(entry.id.clone()));
            }
        }
        Ok(Evidence {
            host: statement.predicate.host.clone(),
            collected_at: statement.predicate.collected_at,
            probes,
        })
    }
}

/// One probe's output as `evident-agent collect --format json` prints it.
/// Policy test fixtures use the same shape, so real collector output can be
/// dropped into a test directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectedProbe {
    /// Probe id.
    pub probe: String,
    /// Probe version.
    pub version: u32,
    /// Outcome.
    pub status: ProbeStatus,
    /// Time taken, in microseconds.
    #[serde(default)]
    pub duration_us: u64,
    /// Why not `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The data, when `ok`.
    #[serde(default)]
    pub data: Option<serde_json::Value>,
}

impl HostFacts {
    /// Host facts from the `host` probe's data (fields `hostname`, `machine_id`,
    /// `os_family`, `os_id`, `os_version`, `kernel`, `arch`).
    pub fn from_host_probe(data: &serde_json::Value) -> HostFacts {
        let s = |k: &str| data.get(k).and_then(|v| v.as_str()).map(str::to_string);
        HostFacts {
            hostname: s("hostname").unwrap_or_else(|| "unknown".into()),
            machine_id: s("machine_id"),
            os_family: s("os_family").unwrap_or_else(|| "linux".into()),
            os_id: s("os_id").unwrap_or_default(),
            os_version: s("os_version").unwrap_or_default(),
            kernel: s("kernel"),
            arch: s("arch").unwrap_or_default(),
        }
    }
}

impl Evidence {
    /// Evidence from collected probe outputs (host facts come from the `host` probe).
    pub fn from_collected(collected: &[CollectedProbe], collected_at: DateTime<Utc>) -> Evidence {
        let host = collected
            .iter()
            .find(|p| p.probe == "host" && p.status == ProbeStatus::Ok)
            .and_then(|p| p.data.as_ref())
            .map(HostFacts::from_host_probe)
            .unwrap_or_else(|| HostFacts {
                hostname: "unknown".into(),
                os_family: "linux".into(),
                ..HostFacts::default()
            });
        let probes = collected
            .iter()
            .map(|p| {
                (
                    p.probe.clone(),
                    ProbeData {
                        version: p.version,
                        status: p.status,
                        reason: p.reason.clone(),
                        data: if p.status == ProbeStatus::Ok {
                            p.data.clone()
                        } else {
                            None
                        },
                    },
                )
            })
            .collect();
        Evidence {
            host,
            collected_at,
            probes,
        }
    }
}

/// Check that `bytes` hash to `expected`.
pub fn check_blob(probe: &str, expected: &Digest, bytes: &[u8]) -> Result<(), EvidenceError> {
    let actual = sha256_digest(bytes);
    if &actual != expected {
        return Err(EvidenceError::BlobDigest {
            probe: probe.to_string(),
            expected: *expected,
            actual,
        });
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample_predicate(blob: &[u8]) -> Predicate {
        Predicate {
            agent: AgentInfo {
                id: "agent-1".into(),
                version: "0.1.0".into(),
            },
            host: HostFacts {
                hostname: "web-1".into(),
                machine_id: Some("0123456789abcdef0123456789abcdef".into()),
                os_family: "linux".into(),
                os_id: "debian".into(),
                os_version: "12".into(),
                kernel: Some("6.1.0-18-amd64".into()),
                arch: "x86_64".into(),
            },
            sequence: 7,
            previous: Some(sha256_digest(b"previous envelope")),
            gap: None,
            collected_at: "2026-11-20T10:00:00Z".parse().unwrap(),
            schedule: Schedule {
                cron: "0 */15 * * * *".into(),
                interval_seconds: 900,
            },
            probes: vec![
                ProbeEntry {
                    id: "sshd".into(),
                    version: 1,
                    status: ProbeStatus::Ok,
                    duration_us: 412,
                    digest: Some(sha256_digest(blob)),
                    reason: None,
                },
                ProbeEntry {
                    id: "time".into(),
                    version: 1,
                    status: ProbeStatus::NotCollected,
                    duration_us: 3,
                    digest: None,
                    reason: Some("needs a live system".into()),
                },
            ],
        }
    }

    #[test]
    fn statement_round_trips_and_builds_evidence() {
        let blob = br#"{"permitrootlogin":"no"}"#;
        let st = Statement::new(sample_predicate(blob));
        let bytes = st.to_bytes();
        let back = Statement::from_bytes(&bytes).unwrap();
        assert_eq!(back, st);
        assert_eq!(back.subject[0].name, "host:web-1");
        let ev =
            Evidence::from_statement(&back, |d| (*d == sha256_digest(blob)).then_some(&blob[..]))
                .unwrap();
        assert_eq!(
            ev.probes["sshd"].data.as_ref().unwrap()["permitrootlogin"],
            "no"
        );
        assert_eq!(ev.probes["time"].status, ProbeStatus::NotCollected);
    }

    #[test]
    fn tampered_blob_and_missing_blob_are_rejected() {
        let blob = br#"{"permitrootlogin":"no"}"#;
        let st = Statement::new(sample_predicate(blob));
        let tampered = br#"{"permitrootlogin":"yes"}"#;
        let err = Evidence::from_statement(&st, |_| Some(&tampered[..])).unwrap_err();
        assert!(matches!(err, EvidenceError::BlobDigest { .. }), "{err}");
        let err = Evidence::from_statement(&st, |_| None).unwrap_err();
        assert!(matches!(err, EvidenceError::MissingBlob { .. }), "{err}");
    }

    /// Through a statement: only the probe given fields is projected.
    #[test]
    fn evidence_from_a_statement_projects_only_the_probes_given_fields() {
        let keep: std::collections::BTreeSet<String> = ["last_update".into()].into();
        let blob = br#"{"packages":[{"name":"openssl"}],"last_update":"2026-11-20T00:00:00Z"}"#;
        let st = Statement::new(sample_predicate(blob));
        let ev = Evidence::from_statement_projected(
            &st,
            |_| Some(&blob[..]),
            |p| (p == "sshd").then_some(&keep),
        )
        .unwrap();
        assert_eq!(
            ev.probes["sshd"].data.as_ref().unwrap(),
            &serde_json::json!({"last_update": "2026-11-20T00:00:00Z"})
        );
        let whole = Evidence::from_statement(&st, |_| Some(&blob[..])).unwrap();
        assert_eq!(
            whole.probes["sshd"].data.as_ref().unwrap()["packages"][0]["name"],
            "openssl"
        );
    }

    #[test]
    fn wrong_types_are_rejected() {
        let blob = b"{}";
        let mut st = Statement::new(sample_predicate(blob));
        st.predicate_type = "https://evident.dev/evidence/v0".into();
        let err = Statement::from_bytes(&st.to_bytes()).unwrap_err();
        assert!(matches!(err, EvidenceError::PredicateType(_)));
        let err = Statement::from_bytes(b"{\"_type\":1}").unwrap_err();
        assert!(matches!(err, EvidenceError::Json(_)));
    }
}
