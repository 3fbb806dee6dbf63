//! `verify` without holding the bundle: two walks over the file, one member
//! at a time. The first hashes every member, keeps the small ones (manifest,
//! keys, index, agents, attesters, attestations, policies, results) and puts
//! the blobs in an unlinked temporary file; the second hands each envelope
//! to [`evident_core::bundle::Verifier`], which keeps of a statement only
//! its chain link. Memory: the small members, one digest per member and
//! one link per statement, not the envelopes or the blobs.

use super::bundle_file::{check_seal, corrupt, read_member, walk};
use super::error::{io, ReviewError};
use super::model::Members;
use evident_core::bundle::{self, blob_path, BlobSource, Digests, Pins, Verifier};
use evident_core::{sha256_digest, Digest};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write as _;
use std::os::unix::fs::FileExt as _;
use std::path::Path;

/// Blobs written to an unlinked temporary file, read back by offset.
struct SpilledBlobs {
    file: std::fs::File,
    /// Member path → (offset, length).
    at: HashMap<String, (u64, usize)>,
}

impl BlobSource for SpilledBlobs {
    fn blob(&self, d: &Digest) -> Option<Cow<'_, [u8]>> {
        let (offset, len) = self.at.get(&blob_path(d))?;
        let mut buf = vec![0u8; *len];
        // A read error of our own temporary file reads as a missing blob,
        // which fails the bundle: never a false pass.
        self.file.read_exact_at(&mut buf, *offset).ok()?;
        Some(Cow::Owned(buf))
    }

    fn has_blob(&self, d: &Digest) -> bool {
        self.at.contains_key(&blob_path(d))
    }
}

/// Verify the bundle file at `path` against `pins`, streaming: the same
/// report [`bundle::verify_pinned`] gives for the members in memory. A file
/// that is not a readable, intact bundle is an error.
pub fn verify_file(
    path: &Path,
    pins: &Pins,
    progress: bundle::Progress<'_>,
) -> Result<bundle::Report, ReviewError> {
    Ok(verify_keeping(path, pins, progress, None)?.0)
}

/// Verify as [`verify_file`] and keep what the reports read (as members):
/// every member but the envelopes and blobs, the envelope of each agent's
/// last statement (overall and at or before each time of `cuts`: the
/// `--as-of` and `--compare` dates), and the blobs those envelopes and the
/// attestations name. Memory: the small members, not the statements.
pub fn verify_for_report(
    path: &Path,
    pins: &Pins,
    progress: bundle::Progress<'_>,
    cuts: &[chrono::DateTime<chrono::Utc>],
) -> Result<(bundle::Report, Members), ReviewError> {
    verify_keeping(path, pins, progress, Some(cuts))
}

/// The envelope paths of each agent's last statement, overall and at or
/// before each of `cuts`.
fn last_envelopes(kept: &Members, cuts: &[chrono::DateTime<chrono::Utc>]) -> BTreeSet<String> {
    let index = super::model::index(kept);
    // (agent, cut or None) → (sequence, path)
    let mut last: HashMap<(&str, Option<usize>), (u64, &str)> = HashMap::new();
    for e in &index.statements {
        let keys = std::iter::once(None).chain(
            (0..cuts.len())
                .filter(|i| e.collected_at <= cuts[*i])
                .map(Some),
        );
        for k in keys {
            let slot = last
                .entry((e.agent.as_str(), k))
                .or_insert((e.sequence, &e.path));
            if e.sequence >= slot.0 {
                *slot = (e.sequence, &e.path);
            }
        }
    }
    last.into_values().map(|(_, p)| p.to_string()).collect()
}

/// The blobs the kept envelopes (content of unchanged runs) and the
/// attestations (documents) name.
fn report_blobs(kept: &Members) -> BTreeSet<Digest> {
    let mut out = BTreeSet::new();
    for (path, bytes) in kept {
        if path.starts_with("envelopes/") {
            if let Ok(env) = evident_core::Envelope::from_json(bytes) {
                if let Ok(p) = evident_core::evidence::Parsed::from_bytes(&env.payload) {
                    out.extend(p.direct_blobs());
                }
            }
        } else if path.starts_with("attestations/") {
            if let Ok(env) = evident_core::Envelope::from_json(bytes) {
                if let Ok(a) =
                    serde_json::from_slice::<evident_core::attestation::Attestation>(&env.payload)
                {
                    out.extend(a.evidence.iter().map(|d| d.sha256));
                }
            }
        }
    }
    out
}

fn verify_keeping(
    path: &Path,
    pins: &Pins,
    progress: bundle::Progress<'_>,
    keep: Option<&[chrono::DateTime<chrono::Utc>]>,
) -> Result<(bundle::Report, Members), ReviewError> {
    check_seal(path)?;
    let tmp_dir = std::env::temp_dir();
    let spill = tempfile::tempfile().map_err(io(&tmp_dir))?;
    let mut writer = std::io::BufWriter::with_capacity(1 << 16, spill);
    let mut at = HashMap::new();
    let mut offset = 0u64;
    let mut kept: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut digests = Digests::new();
    walk(path, &mut |name, entry, size| {
        let data = read_member(path, &name, entry, size)?;
        let len = data.len() as u64;
        if digests
            .insert(name.clone(), (sha256_digest(&data), len))
            .is_some()
        {
            return Err(corrupt(path, format!("member {name} appears twice")));
        }
        if name.starts_with("blobs/") {
            writer.write_all(&data).map_err(io(&tmp_dir))?;
            at.insert(name, (offset, data.len()));
            offset += len;
        } else if !name.starts_with("envelopes/") {
            kept.insert(name, data);
        }
        Ok(())
    })?;
    let file = writer
        .into_inner()
        .map_err(|e| io(&tmp_dir)(e.into_error()))?;
    let blobs = SpilledBlobs { file, at };
    let mut v = Verifier::start(&kept, &digests, &blobs);
    let total = v.statements();
    let wanted = keep
        .map(|cuts| last_envelopes(&kept, cuts))
        .unwrap_or_default();
    let mut envelopes: Members = BTreeMap::new();
    let mut done = 0u64;
    walk(path, &mut |name, entry, size| {
        if !v.wants(&name) {
            return Ok(());
        }
        if done.is_multiple_of(256) {
            progress(done, total);
        }
        let data = read_member(path, &name, entry, size)?;
        v.envelope(&name, &data);
        if wanted.contains(&name) {
            envelopes.insert(name, data);
        }
        done += 1;
        Ok(())
    })?;
    progress(total, total);
    let report = v.finish_pinned(pins);
    if keep.is_none() {
        return Ok((report, BTreeMap::new()));
    }
    kept.extend(envelopes);
    for d in report_blobs(&kept) {
        if let Some(b) = blobs.blob(&d) {
            kept.insert(blob_path(&d), b.into_owned());
        }
    }
    Ok((report, kept))
}
