//! Envelope storage form 3 (issue 10): an unchanged predicate-v2 run stored
//! as a reference to a shared *template* plus the few bytes that differ
//! from one run to the next, re-rendered byte for byte on read.
//!
//! An unchanged run's payload repeats, run after run, everything but its
//! sequence, its previous digest and its collection time (the subject, the
//! agent, the content digest it names). The template is that payload cut at
//! those three fields, with the payload type and the signer's key id; it is
//! stored once in `envelope_templates` (migration 90) and shared by every
//! run of the host until its content or agent changes. The row keeps:
//!
//! - `sequence` and `collected_at` (milliseconds) in their own columns, as
//!   before; the data holds the sub-millisecond nanoseconds (a varint),
//! - the previous envelope digest (32 bytes) and the signature (64 bytes).
//!
//! [`pack`] re-renders the envelope from what it would store and keeps the
//! form only when that gives back exactly the signed bytes; any other
//! envelope keeps the existing forms. [`unpack`] is checked against the
//! envelope digest by the caller, like every form.

use chrono::{DateTime, Utc};
use evident_core::evidence::Parsed;
use evident_core::{sha256_digest, Digest, Envelope};
use serde::{Deserialize, Serialize};

/// Envelope storage form: template reference + varying fields.
pub(crate) const FORM_TEMPLATE: i64 = 3;

/// What every run sharing a template signs identically.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Template {
    /// DSSE payload type.
    pub payload_type: String,
    /// Key id of the one signature.
    pub keyid: String,
    /// The payload around its `sequence`, `previous` and `collected_at`
    /// values (four parts, the three values between them).
    pub parts: [String; 4],
}

impl Template {
    /// Serialised, as stored in `envelope_templates.template`.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Its identity (`envelope_templates.template_digest`).
    pub fn digest(&self) -> Digest {
        sha256_digest(&self.to_bytes())
    }

    /// Read a stored template.
    pub fn from_bytes(bytes: &[u8]) -> Result<Template, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("envelope template: {e}"))
    }
}

/// An envelope in form 3: its template and its own data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Packed {
    /// The shared part.
    pub template: Template,
    /// Sub-millisecond nanoseconds (varint), previous digest, signature.
    pub data: Vec<u8>,
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn read_varint(data: &[u8]) -> Option<(u64, &[u8])> {
    let mut v = 0u64;
    for (i, b) in data.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((v, data.get(i + 1..)?));
        }
    }
    None
}

/// The exact text of each varying field in the payload.
fn fields(sequence: i64, previous: &Digest, at: &DateTime<Utc>) -> Option<[String; 3]> {
    Some([
        sequence.to_string(),
        serde_json::to_string(previous).ok()?,
        serde_json::to_string(at).ok()?,
    ])
}

/// Split `payload` at `"sequence":`, `"previous":` and `"collected_at":`
/// followed by their exact values, each present once and in that order.
fn cut(payload: &str, values: &[String; 3]) -> Option<[String; 4]> {
    let keys = ["\"sequence\":", "\"previous\":", "\"collected_at\":"];
    let mut parts: Vec<String> = Vec::with_capacity(4);
    let mut rest = payload;
    for (key, value) in keys.iter().zip(values) {
        let needle = format!("{key}{value}");
        if payload.matches(needle.as_str()).count() != 1 {
            return None;
        }
        let at = rest.find(needle.as_str())?;
        parts.push(format!("{}{key}", rest.get(..at)?));
        rest = rest.get(at + needle.len()..)?;
    }
    parts.push(rest.to_string());
    parts.try_into().ok()
}

/// Render the envelope bytes of a form-3 row.
fn render(
    t: &Template,
    sequence: i64,
    at: &DateTime<Utc>,
    previous: &Digest,
    sig: &[u8],
) -> Option<Vec<u8>> {
    let [s, p, c] = fields(sequence, previous, at)?;
    let [a, b, d, e] = &t.parts;
    let payload = format!("{a}{s}{b}{p}{d}{c}{e}");
    Some(
        Envelope {
            payload_type: t.payload_type.clone(),
            payload: payload.into_bytes(),
            signatures: vec![evident_core::dsse::EnvelopeSignature {
                keyid: t.keyid.clone(),
                sig: sig.to_vec(),
            }],
        }
        .to_json(),
    )
}

fn time(collected_at_ms: i64, sub_ms_nanos: u64) -> Option<DateTime<Utc>> {
    let secs = collected_at_ms.div_euclid(1000);
    let ms = u64::try_from(collected_at_ms.rem_euclid(1000)).ok()?;
    let nanos = u32::try_from(ms * 1_000_000 + sub_ms_nanos).ok()?;
    DateTime::from_timestamp(secs, nanos)
}

/// Form 3 of `bytes` for a row holding `sequence` and `collected_at_ms`:
/// only for an unchanged v2 run, one signature, a previous digest, no gap,
/// and only when re-rendering gives back exactly `bytes`.
pub(crate) fn pack(bytes: &[u8], sequence: i64, collected_at_ms: i64) -> Option<Packed> {
    let env = Envelope::from_json(bytes).ok()?;
    let [sig] = env.signatures.as_slice() else {
        return None;
    };
    let Parsed::Unchanged(u) = Parsed::from_bytes(&env.payload).ok()? else {
        return None;
    };
    let previous = u.previous?;
    if u.gap.is_some()
        || i64::try_from(u.sequence).ok()? != sequence
        || u.collected_at.timestamp_millis() != collected_at_ms
    {
        return None;
    }
    let payload = std::str::from_utf8(&env.payload).ok()?;
    let values = fields(sequence, &previous, &u.collected_at)?;
    let template = Template {
        payload_type: env.payload_type.clone(),
        keyid: sig.keyid.clone(),
        parts: cut(payload, &values)?,
    };
    let sub = u64::from(u.collected_at.timestamp_subsec_nanos() % 1_000_000);
    let mut data = Vec::with_capacity(100);
    varint(sub, &mut data);
    data.extend_from_slice(&previous.0);
    data.extend_from_slice(&sig.sig);
    let packed = Packed { template, data };
    (unpack(&packed.template, &packed.data, sequence, collected_at_ms).ok()? == bytes)
        .then_some(packed)
}

/// The envelope bytes of a form-3 row.
pub(crate) fn unpack(
    t: &Template,
    data: &[u8],
    sequence: i64,
    collected_at_ms: i64,
) -> Result<Vec<u8>, String> {
    let (sub, rest) = read_varint(data).ok_or("form 3 envelope: bad time")?;
    let (previous, sig) = rest
        .split_first_chunk::<32>()
        .ok_or("form 3 envelope: no previous digest")?;
    let at = time(collected_at_ms, sub).ok_or("form 3 envelope: time out of range")?;
    render(t, sequence, &at, &Digest(*previous), sig)
        .ok_or_else(|| "form 3 envelope: render".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use evident_core::evidence::{AgentInfo, Predicate, Schedule, Statement, PAYLOAD_TYPE};

    fn run(at: &str, sequence: u64, previous: Option<Digest>) -> (Vec<u8>, i64) {
        let at: DateTime<Utc> = at.parse().unwrap();
        let st = Statement::new_v2(Predicate {
            agent: AgentInfo {
                id: "agt-1".into(),
                version: "0.1.0".into(),
            },
            host: Default::default(),
            sequence,
            previous,
            gap: None,
            collected_at: at,
            schedule: Schedule {
                cron: "0 0 * * * *".into(),
                interval_seconds: 3600,
            },
            probes: Vec::new(),
        });
        let signer = evident_core::Signer::from_seed(&[7u8; 32]);
        let env = signer
            .sign_envelope(PAYLOAD_TYPE, st.to_unchanged_bytes())
            .to_json();
        (env, at.timestamp_millis())
    }

    #[test]
    fn unchanged_runs_round_trip_byte_for_byte_and_share_a_template() {
        let prev = Digest([3; 32]);
        let mut templates = std::collections::BTreeSet::new();
        for (i, at) in [
            "2026-11-27T14:00:00Z",
            "2026-11-27T15:00:00.123Z",
            "2026-11-27T16:00:00.123456Z",
            "2026-11-27T17:00:00.123456789Z",
            "1969-12-31T23:59:59.999999999Z",
        ]
        .iter()
        .enumerate()
        {
            let seq = 10 + i as u64;
            let (env, ms) = run(at, seq, Some(prev));
            let p = pack(&env, seq as i64, ms).unwrap_or_else(|| panic!("{at}"));
            assert!(p.data.len() <= 100, "{}", p.data.len());
            assert_eq!(unpack(&p.template, &p.data, seq as i64, ms).unwrap(), env);
            templates.insert(p.template.digest());
            // The row's columns must match the payload.
            assert!(pack(&env, seq as i64 + 1, ms).is_none());
            assert!(pack(&env, seq as i64, ms + 1).is_none());
            // A damaged row does not render the signed bytes.
            let mut bad = p.data.clone();
            if let Some(b) = bad.last_mut() {
                *b ^= 1;
            }
            assert_ne!(unpack(&p.template, &bad, seq as i64, ms).unwrap(), env);
            assert!(unpack(&p.template, &p.data[..10], seq as i64, ms).is_err());
        }
        assert_eq!(templates.len(), 1, "one template for the host's runs");
        // No previous digest, a full statement, or non-canonical JSON: not this form.
        let (first, ms) = run("2026-11-27T14:00:00Z", 1, None);
        assert!(pack(&first, 1, ms).is_none());
        let (env, ms) = run("2026-11-27T14:00:00Z", 2, Some(prev));
        let spaced = String::from_utf8(env).unwrap().replace(",\"", ", \"");
        assert!(pack(spaced.as_bytes(), 2, ms).is_none());
        assert!(pack(b"not json", 2, ms).is_none());
    }

    #[test]
    fn varints_round_trip() {
        for v in [0u64, 1, 127, 128, 999_999, u64::MAX] {
            let mut out = Vec::new();
            varint(v, &mut out);
            assert_eq!(read_varint(&out), Some((v, &[][..])));
        }
        assert_eq!(read_varint(&[0x80]), None);
    }
}
