//! `verify` without holding the bundle: two walks over the file, one member
//! at a time. The first hashes every member, writes its path, digest and
//! size to an unlinked temporary file (the member list), keeps the small
//! members (manifest root, keys, agents, attesters, attestations, policies,
//! results, alerts) and puts the blobs and the manifest and index pieces in
//! another. A v2 bundle whose members are in manifest order (as `export`
//! and every writer here make them) is then verified with memory
//! independent of its statement count (`ordered`): the member list is
//! compared with the manifest pieces one piece at a time, and the second
//! walk hands each envelope with its index entry to
//! [`evident_core::bundle::ordered::Ordered`]. Anything else (a v1 bundle,
//! members in another order, a damaged piece) goes to the general path:
//! [`evident_core::bundle::Verifier`] with every member's digest in memory,
//! which names every problem. In both, the second walk reads on one thread
//! while the others check signatures (in batches, recorded in file order).
//!
//! Why this file is longer than ~700 lines: the two paths share the first
//! walk, the spilled files and the batched second walk, and read best side
//! by side; splitting them would export those internals across modules.

use super::bundle_file::{check_seal, corrupt, read_member, walk};
use super::error::{io, ReviewError};
use super::model::Members;
use evident_core::bundle::{
    self, blob_path, BlobSource, CheckedEnvelope, Digests, EnvelopeChecker, Parallel, Pins,
    Verifier,
};
use evident_core::bundle::{Index, IndexEntry};
use evident_core::{sha256_digest, Digest};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write as _;
use std::os::unix::fs::FileExt as _;
use std::path::Path;

/// Blobs (and the manifest and index pieces) written to an unlinked
/// temporary file, read back by offset.
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

impl SpilledBlobs {
    /// The bytes of the spilled member `path`.
    fn member(&self, path: &str) -> Option<Vec<u8>> {
        let (offset, len) = self.at.get(path)?;
        let mut buf = vec![0u8; *len];
        self.file.read_exact_at(&mut buf, *offset).ok()?;
        Some(buf)
    }

    /// The spilled members under `prefix`, in path order.
    fn paths(&self, prefix: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .at
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect();
        out.sort();
        out
    }
}

/// Every member's path, digest and size in file order, written to an
/// unlinked temporary file by the first walk.
struct MemberList {
    file: std::fs::File,
    len: u64,
}

impl MemberList {
    fn read(&self) -> MemberListReader<'_> {
        MemberListReader {
            r: std::io::BufReader::with_capacity(
                1 << 16,
                ReadAt {
                    file: &self.file,
                    pos: 0,
                },
            ),
            at: 0,
            len: self.len,
        }
    }
}

/// Reads a file from the start by offset (its cursor is left alone, so
/// several readers may read it).
struct ReadAt<'a> {
    file: &'a std::fs::File,
    pos: u64,
}

impl std::io::Read for ReadAt<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

struct MemberListReader<'a> {
    r: std::io::BufReader<ReadAt<'a>>,
    at: u64,
    len: u64,
}

impl MemberListReader<'_> {
    /// The next member (path, digest, size), `None` at the end.
    fn next(&mut self) -> Result<Option<(String, Digest, u64)>, ReviewError> {
        use std::io::Read as _;
        if self.at >= self.len {
            return Ok(None);
        }
        let tmp = std::env::temp_dir();
        let mut n = [0u8; 4];
        self.r.read_exact(&mut n).map_err(io(&tmp))?;
        let n = u32::from_le_bytes(n) as usize;
        let mut name = vec![0u8; n];
        self.r.read_exact(&mut name).map_err(io(&tmp))?;
        let mut d = [0u8; 32];
        self.r.read_exact(&mut d).map_err(io(&tmp))?;
        let mut size = [0u8; 8];
        self.r.read_exact(&mut size).map_err(io(&tmp))?;
        self.at += (4 + n + 32 + 8) as u64;
        Ok(Some((
            String::from_utf8_lossy(&name).into_owned(),
            Digest(d),
            u64::from_le_bytes(size),
        )))
    }
}

/// The members under `prefix` from the member list, in file order.
struct Filtered<'a> {
    list: MemberListReader<'a>,
    prefix: &'static str,
}

impl Filtered<'_> {
    fn next(&mut self) -> Result<Option<(String, Digest, u64)>, ReviewError> {
        while let Some(m) = self.list.next()? {
            if m.0.starts_with(self.prefix) {
                return Ok(Some(m));
            }
        }
        Ok(None)
    }
}

/// The statement index entries of the spilled index pieces, in order.
struct IndexStream<'a> {
    blobs: &'a SpilledBlobs,
    pieces: std::vec::IntoIter<String>,
    current: std::vec::IntoIter<IndexEntry>,
}

impl<'a> IndexStream<'a> {
    fn new(blobs: &'a SpilledBlobs) -> IndexStream<'a> {
        IndexStream {
            blobs,
            pieces: blobs.paths(bundle::INDEX_PIECES).into_iter(),
            current: Vec::new().into_iter(),
        }
    }

    /// The next entry; `Err(())` when a piece cannot be read or parsed.
    fn next(&mut self) -> Result<Option<IndexEntry>, ()> {
        loop {
            if let Some(e) = self.current.next() {
                return Ok(Some(e));
            }
            let Some(p) = self.pieces.next() else {
                return Ok(None);
            };
            let bytes = self.blobs.member(&p).ok_or(())?;
            let piece: Index = serde_json::from_slice(&bytes).map_err(|_| ())?;
            self.current = piece.statements.into_iter();
        }
    }
}

/// What the first walk leaves.
struct FirstWalk {
    kept: Members,
    list: MemberList,
    blobs: SpilledBlobs,
}

/// Whether the first walk spills the member `name` (blobs and pieces).
fn spilled(name: &str) -> bool {
    name.starts_with("blobs/")
        || name.starts_with(bundle::MANIFEST_PIECES)
        || name.starts_with(bundle::INDEX_PIECES)
}

fn first_walk(path: &Path) -> Result<FirstWalk, ReviewError> {
    let tmp_dir = std::env::temp_dir();
    let spill = tempfile::tempfile().map_err(io(&tmp_dir))?;
    let mut writer = std::io::BufWriter::with_capacity(1 << 16, spill);
    let list_file = tempfile::tempfile().map_err(io(&tmp_dir))?;
    let mut list = std::io::BufWriter::with_capacity(1 << 16, list_file);
    let mut list_len = 0u64;
    let mut at = HashMap::new();
    let mut offset = 0u64;
    let mut kept: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    walk(path, &mut |name, entry, size| {
        let data = read_member(path, &name, entry, size)?;
        let len = data.len() as u64;
        let digest = sha256_digest(&data);
        // Envelope paths are unique by the index check (or, in the general
        // path, by the digest map); other names are few and kept here.
        let twice = if name.starts_with("envelopes/") {
            false
        } else {
            !seen.insert(name.clone())
        };
        if twice {
            return Err(corrupt(path, format!("member {name} appears twice")));
        }
        let n = u32::try_from(name.len()).unwrap_or(u32::MAX);
        list.write_all(&n.to_le_bytes()).map_err(io(&tmp_dir))?;
        list.write_all(name.as_bytes()).map_err(io(&tmp_dir))?;
        list.write_all(&digest.0).map_err(io(&tmp_dir))?;
        list.write_all(&len.to_le_bytes()).map_err(io(&tmp_dir))?;
        list_len += (4 + name.len() + 32 + 8) as u64;
        if spilled(&name) {
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
    let list_file = list
        .into_inner()
        .map_err(|e| io(&tmp_dir)(e.into_error()))?;
    Ok(FirstWalk {
        kept,
        list: MemberList {
            file: list_file,
            len: list_len,
        },
        blobs: SpilledBlobs { file, at },
    })
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
    let mut last = LastEnvelopes::new(cuts);
    for e in &super::model::index(kept).statements {
        last.add(e);
    }
    last.paths()
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
    let first = first_walk(path)?;
    if let Some(done) = ordered(path, &first, pins, &mut *progress, keep)? {
        return Ok(done);
    }
    general(path, first, pins, progress, keep)
}

/// The reader thread of a second walk: the members `want` selects, in
/// batches of [`BATCH`], at most two queued.
fn read_batches<'s>(
    scope: &'s std::thread::Scope<'s, '_>,
    path: &'s Path,
    want: fn(&str) -> bool,
) -> (
    std::sync::mpsc::Receiver<Batch>,
    std::thread::ScopedJoinHandle<'s, Result<(), ReviewError>>,
) {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(2);
    let reader = scope.spawn(move || {
        let mut batch = Vec::with_capacity(BATCH);
        walk(path, &mut |name, entry, size| {
            if !want(&name) {
                return Ok(());
            }
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
    (rx, reader)
}

/// The fast path for a v2 bundle in manifest order (memory independent of
/// the statement count); `None` when the bundle is not one, and the general
/// path must verify it.
fn ordered(
    path: &Path,
    first: &FirstWalk,
    pins: &Pins,
    progress: bundle::Progress<'_>,
    keep: Option<&[chrono::DateTime<chrono::Utc>]>,
) -> Result<Option<(bundle::Report, Members)>, ReviewError> {
    use evident_core::bundle::ordered::{in_order, Ordered};
    let FirstWalk { kept, list, blobs } = first;
    let Some(mut o) = Ordered::start(kept, blobs) else {
        return Ok(None);
    };
    // The member list against the manifest pieces, one piece at a time.
    let pieces: Vec<bundle::ManifestEntry> = o.pieces().to_vec();
    let skip: BTreeSet<&str> = pieces
        .iter()
        .map(|p| p.path.as_str())
        .chain([bundle::MANIFEST_PATH, bundle::COLLECTOR_KEY_PATH])
        .collect();
    let mut members = list.read();
    let mut next_listed = || -> Result<Option<(String, Digest, u64)>, ReviewError> {
        while let Some(m) = members.next()? {
            if !skip.contains(m.0.as_str()) {
                return Ok(Some(m));
            }
        }
        Ok(None)
    };
    let mut checked = 0usize;
    let mut blob_names = Vec::new();
    for p in &pieces {
        let Some(bytes) = blobs.member(&p.path) else {
            return Ok(None);
        };
        if sha256_digest(&bytes) != p.sha256 || bytes.len() as u64 != p.size {
            return Ok(None);
        }
        let Ok(piece) = serde_json::from_slice::<bundle::ManifestPiece>(&bytes) else {
            return Ok(None);
        };
        checked += 1;
        for e in piece.members {
            match next_listed()? {
                Some((name, d, size)) if name == e.path && d == e.sha256 && size == e.size => {
                    if name.starts_with("blobs/") {
                        blob_names.push((name, d));
                        if blob_names.len() >= 4096 {
                            for (n, d) in blob_names.drain(..) {
                                o.blob_name(&n, &d);
                            }
                        }
                    }
                    checked += 1;
                }
                _ => return Ok(None),
            }
        }
    }
    if next_listed()?.is_some() {
        return Ok(None);
    }
    for (n, d) in blob_names.drain(..) {
        o.blob_name(&n, &d);
    }
    o.members_checked(checked);
    // The index against the envelopes, in order; the envelopes reports keep.
    let mut index = IndexStream::new(blobs);
    let mut envelopes = Filtered {
        list: list.read(),
        prefix: "envelopes/",
    };
    let mut prev: Option<IndexEntry> = None;
    let mut total = 0u64;
    let mut last = LastEnvelopes::new(keep.unwrap_or_default());
    loop {
        let Ok(e) = index.next() else {
            return Ok(None);
        };
        let Some(e) = e else { break };
        let canonical = e.path == bundle::envelope_path(&e.agent, e.sequence);
        if !canonical || !in_order(prev.as_ref(), &e) {
            return Ok(None);
        }
        match envelopes.next()? {
            Some((name, _, _)) if name == e.path => {}
            _ => return Ok(None),
        }
        last.add(&e);
        total += 1;
        prev = Some(e);
    }
    if envelopes.next()?.is_some() {
        return Ok(None);
    }
    let keep_envelopes = if keep.is_some() {
        last.paths()
    } else {
        BTreeSet::new()
    };
    // The second walk: envelopes with their index entries, in order.
    let mut index = IndexStream::new(blobs);
    let mut kept_envelopes: Members = BTreeMap::new();
    let mut done = 0u64;
    let threads = Threads::new();
    std::thread::scope(|scope| -> Result<(), ReviewError> {
        let (rx, reader) = read_batches(scope, path, |n| n.starts_with("envelopes/"));
        for batch in rx {
            progress(done, total);
            let mut items = Vec::with_capacity(batch.len());
            for (name, data) in batch {
                let e = match index.next() {
                    Ok(Some(e)) if e.path == name => e,
                    _ => {
                        return Err(corrupt(
                            path,
                            format!("member {name} changed between the two reads"),
                        ))
                    }
                };
                items.push((e, name, data));
            }
            let checked = check_entries(&o, &items, &threads);
            let mut entries = Vec::with_capacity(items.len());
            for ((e, name, data), c) in items.into_iter().zip(checked) {
                if keep_envelopes.contains(&name) {
                    kept_envelopes.insert(name, data);
                }
                entries.push((e, c));
            }
            o.apply_batch(entries, &threads);
            done = done.saturating_add(BATCH as u64).min(total);
        }
        match reader.join() {
            Ok(walked) => walked,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })?;
    if !matches!(index.next(), Ok(None)) {
        return Err(corrupt(
            path,
            "the bundle changed between the two reads".into(),
        ));
    }
    progress(total, total);
    let report = o.finish_pinned(pins);
    if keep.is_none() {
        return Ok(Some((report, BTreeMap::new())));
    }
    let mut out = kept.clone();
    out.extend(kept_envelopes);
    for p in blobs.paths(bundle::INDEX_PIECES) {
        if let Some(b) = blobs.member(&p) {
            out.insert(p, b);
        }
    }
    add_report_blobs(&mut out, blobs);
    Ok(Some((report, out)))
}

/// Check `items` on up to as many threads as there are cores (at most 4),
/// results in the order of `items`.
fn check_entries(
    o: &evident_core::bundle::ordered::Ordered<'_>,
    items: &[(IndexEntry, String, Vec<u8>)],
    threads: &Threads,
) -> Vec<evident_core::bundle::ordered::CheckedEntry> {
    let c = o.checker();
    threads.map(items.len(), |i| {
        let (e, _, data) = &items[i];
        c.check(e, data, sha256_digest(data))
    })
}

/// Jobs on up to as many threads as there are cores (at most 4), each
/// thread taking the next job when it finishes one (jobs differ in cost:
/// a re-evaluation may take a hundred times a signature check). Made once
/// per walk: the core count is read from the system (cgroup files).
struct Threads(usize);

impl Threads {
    fn new() -> Threads {
        Threads(
            std::thread::available_parallelism()
                .map_or(1, std::num::NonZeroUsize::get)
                .min(4),
        )
    }
}

impl Parallel for Threads {
    fn map<T: Send, F: Fn(usize) -> T + Sync>(&self, n: usize, f: F) -> Vec<T> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let threads = self.0.min(n);
        if threads < 2 {
            return (0..n).map(f).collect();
        }
        let next = AtomicUsize::new(0);
        let work = || {
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return out;
                }
                out.push((i, f(i)));
            }
        };
        let mut done: Vec<(usize, T)> = std::thread::scope(|scope| {
            let others: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
            let mut done = work();
            for h in others {
                match h.join() {
                    Ok(part) => done.extend(part),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
            done
        });
        done.sort_unstable_by_key(|(i, _)| *i);
        done.into_iter().map(|(_, v)| v).collect()
    }
}

/// Each agent's last statement, overall and at or before each cut, as the
/// index goes by.
struct LastEnvelopes<'c> {
    cuts: &'c [chrono::DateTime<chrono::Utc>],
    /// (agent, cut or None) → (sequence, path)
    last: HashMap<(String, Option<usize>), (u64, String)>,
}

impl<'c> LastEnvelopes<'c> {
    fn new(cuts: &'c [chrono::DateTime<chrono::Utc>]) -> LastEnvelopes<'c> {
        LastEnvelopes {
            cuts,
            last: HashMap::new(),
        }
    }

    fn add(&mut self, e: &IndexEntry) {
        let keys = std::iter::once(None).chain(
            (0..self.cuts.len())
                .filter(|i| self.cuts.get(*i).is_some_and(|c| e.collected_at <= *c))
                .map(Some),
        );
        for k in keys {
            let slot = self
                .last
                .entry((e.agent.clone(), k))
                .or_insert_with(|| (e.sequence, e.path.clone()));
            if e.sequence >= slot.0 {
                *slot = (e.sequence, e.path.clone());
            }
        }
    }

    fn paths(self) -> BTreeSet<String> {
        self.last.into_values().map(|(_, p)| p).collect()
    }
}

/// Add the blobs the kept envelopes and attestations name.
fn add_report_blobs(kept: &mut Members, blobs: &SpilledBlobs) {
    let mut packages = Vec::new();
    for d in report_blobs(kept) {
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
}

/// The general path: every member's digest in memory, then
/// [`Verifier`]; any bundle, any order, every problem named.
fn general(
    path: &Path,
    first: FirstWalk,
    pins: &Pins,
    progress: bundle::Progress<'_>,
    keep: Option<&[chrono::DateTime<chrono::Utc>]>,
) -> Result<(bundle::Report, Members), ReviewError> {
    let FirstWalk {
        mut kept,
        list,
        blobs,
    } = first;
    let mut digests = Digests::new();
    let mut members = list.read();
    while let Some((name, d, size)) = members.next()? {
        if digests.insert(name.clone(), (d, size)).is_some() {
            return Err(corrupt(path, format!("member {name} appears twice")));
        }
    }
    for prefix in [bundle::MANIFEST_PIECES, bundle::INDEX_PIECES] {
        for p in blobs.paths(prefix) {
            if let Some(b) = blobs.member(&p) {
                kept.insert(p, b);
            }
        }
    }
    let mut v = Verifier::start(&kept, &digests, &blobs);
    let total = v.statements();
    let keep_envelopes = keep
        .map(|cuts| last_envelopes(&kept, cuts))
        .unwrap_or_default();
    let mut envelopes: Members = BTreeMap::new();
    let mut done = 0u64;
    let threads = Threads::new();
    std::thread::scope(|scope| -> Result<(), ReviewError> {
        let (rx, reader) = read_batches(scope, path, |n| n.starts_with("envelopes/"));
        for batch in rx {
            let wanted: Vec<&(String, Vec<u8>)> =
                batch.iter().filter(|(name, _)| v.wants(name)).collect();
            if wanted.is_empty() {
                continue;
            }
            progress(done, total);
            let checked = match v.checker() {
                Some(c) => check_all(&c, &wanted, &threads),
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
    add_report_blobs(&mut kept, &blobs);
    Ok((report, kept))
}

/// Members read by the second walk, handed over in batches.
type Batch = Vec<(String, Vec<u8>)>;

/// Members per batch: enough to keep the checking threads busy, few
/// enough that two queued batches stay small (envelopes are a few KB).
const BATCH: usize = 512;

/// Check `items` (path, bytes) on up to as many threads as there are cores
/// (at most 4), returning the results in the order of `items`.
fn check_all(
    c: &EnvelopeChecker<'_>,
    items: &[&(String, Vec<u8>)],
    threads: &Threads,
) -> Vec<CheckedEnvelope> {
    threads.map(items.len(), |i| {
        let (name, data) = items[i];
        c.check(name, data)
    })
}
