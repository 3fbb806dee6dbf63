//! `verify` without holding the bundle: two walks over the file, one member
//! at a time. The first hashes every member, keeps the small ones (manifest,
//! keys, index, agents, attesters, attestations, policies, results) and puts
//! the blobs in an unlinked temporary file; the second hands each envelope
//! to [`evident_core::bundle::Verifier`], which keeps of a statement only
//! its chain link. The second walk reads on one thread while the others
//! check signatures (in batches, recorded in file order). Memory: the small members, one digest per member and
//! one link per statement, not the envelopes or the blobs.

use super::bundle_file::{check_seal, corrupt, read_member, walk};
use super::error::{io, ReviewError};
use super::model::Members;
use evident_core::bundle::{
    self, blob_path, BlobSource, CheckedEnvelope, Digests, EnvelopeChecker, Pins, Verifier,
};
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
    let keep_envelopes = keep
        .map(|cuts| last_envelopes(&kept, cuts))
        .unwrap_or_default();
    let mut envelopes: Members = BTreeMap::new();
    let mut done = 0u64;
    // The second walk: one thread decompresses and reads members in
    // batches (at most two batches queued), the others check a batch's
    // envelopes in parallel; results are recorded in file order, so the
    // report is the one a single thread gives.
    std::thread::scope(|scope| -> Result<(), ReviewError> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(2);
        let reader = scope.spawn(move || {
            let mut batch = Vec::with_capacity(BATCH);
            walk(path, &mut |name, entry, size| {
                let data = read_member(path, &name, entry, size)?;
                batch.push((name, data));
                if batch.len() == BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    tx.send(full)
                        .map_err(|_| corrupt(path, "verification stopped".into()))?;
                }
                Ok(())
            })?;
            if !batch.is_empty() {
                tx.send(batch)
                    .map_err(|_| corrupt(path, "verification stopped".into()))?;
            }
            Ok(())
        });
        for batch in rx {
            let wanted: Vec<&(String, Vec<u8>)> =
                batch.iter().filter(|(name, _)| v.wants(name)).collect();
            if wanted.is_empty() {
                continue;
            }
            progress(done, total);
            let checked = match v.checker() {
                Some(c) => check_all(&c, &wanted),
                None => Vec::new(),
            };
            for c in checked {
                v.apply(c);
            }
            done += wanted.len() as u64;
            for (name, data) in wanted {
                if keep_envelopes.contains(name) {
                    envelopes.insert(name.clone(), data.clone());
                }
            }
        }
        match reader.join() {
            Ok(walked) => walked,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })?;
    progress(total, total);
    let report = v.finish_pinned(pins);
    if keep.is_none() {
        return Ok((report, BTreeMap::new()));
    }
    kept.extend(envelopes);
    let mut packages = Vec::new();
    for d in report_blobs(&kept) {
        if let Some(b) = blobs.blob(&d) {
            // An unchanged run's content names its packages blob, which the
            // vulnerability section re-matches.
            if let Ok(c) = evident_core::evidence::Content::from_blob(&d, &b) {
                packages.extend(
                    c.probes
                        .iter()
                        .filter(|p| p.id == "packages")
                        .filter_map(|p| p.digest),
                );
            }
            kept.insert(blob_path(&d), b.into_owned());
        }
    }
    for d in packages {
        if let Some(b) = blobs.blob(&d) {
            kept.insert(blob_path(&d), b.into_owned());
        }
    }
    Ok((report, kept))
}

/// Members read by the second walk, handed over in batches.
type Batch = Vec<(String, Vec<u8>)>;

/// Members per batch: enough to keep the checking threads busy, few
/// enough that two queued batches stay small (envelopes are a few KB).
const BATCH: usize = 512;

/// Check `items` (path, bytes) on up to as many threads as there are cores
/// (at most 4), returning the results in the order of `items`.
fn check_all(c: &EnvelopeChecker<'_>, items: &[&(String, Vec<u8>)]) -> Vec<CheckedEnvelope> {
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(4);
    let check = |chunk: &[&(String, Vec<u8>)]| -> Vec<CheckedEnvelope> {
        chunk
            .iter()
            .map(|(name, data)| c.check(name, data))
            .collect()
    };
    if threads < 2 || items.len() < 2 {
        return check(items);
    }
    let per = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let mut chunks = items.chunks(per);
        let first = chunks.next().unwrap_or_default();
        let others: Vec<_> = chunks
            .map(|chunk| scope.spawn(move || check(chunk)))
            .collect();
        let mut out = check(first);
        for h in others {
            match h.join() {
                Ok(part) => out.extend(part),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        out
    })
}
