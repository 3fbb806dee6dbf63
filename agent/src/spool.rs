//! The on-disk spool: every signed statement and its blobs are written here
//! before any send, one file per statement (`spool/<sequence:020>.spool`).
//!
//! File format (all integers little-endian):
//!
//! ```text
//! magic      8 bytes  "EVSPOOL1"
//! sequence   u64
//! created    i64      unix seconds
//! env_len    u32      envelope length
//! blob_count u32
//! blob_count × (digest 32 bytes, len u32)
//! envelope   env_len bytes (the exact DSSE envelope JSON)
//! blobs      the blob bytes, in header order
//! checksum   32 bytes sha256 of everything above
//! ```
//!
//! Writes go to a temporary file that is fsynced, renamed into place, and the
//! directory fsynced, so after a crash a spool file is whole or absent; a
//! leftover temporary file is removed on open. A file that is torn or corrupt
//! anyway (length, checksum, blob digests, or a name that disagrees with its
//! sequence) is detected on read, moved to `spool/corrupt/` and reported —
//! never a crash or a crash loop.
//!
//! The spool is bounded by total bytes and by age; [`Spool::enforce_bounds`]
//! drops the oldest files and returns the sequence ranges dropped so the next
//! statement can declare them as its `gap`.

use crate::fsutil::{ensure_dir, sync_dir};
use evident_core::evidence::SequenceRange;
use evident_core::{sha256_digest, Digest};
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"EVSPOOL1";
const FIXED_HEADER: usize = 8 + 8 + 8 + 4 + 4;
const BLOB_ENTRY: usize = 32 + 4;
const CHECKSUM: usize = 32;
/// Largest spool file accepted on read (far above any real statement).
const MAX_FILE: u64 = 1 << 30;

/// One spooled statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Its sequence number.
    pub sequence: u64,
    /// Unix seconds when it was spooled.
    pub created: i64,
    /// The exact envelope bytes.
    pub envelope: Vec<u8>,
    /// Blobs by digest.
    pub blobs: BTreeMap<Digest, Vec<u8>>,
}

/// Why a spool file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CorruptReason {
    #[error("file is {0} bytes, shorter than a header")]
    Short(usize),
    #[error("bad magic")]
    Magic,
    #[error("length does not match the header (torn write?)")]
    Length,
    #[error("checksum mismatch")]
    Checksum,
    #[error("blob does not match its digest {0}")]
    Blob(Digest),
    #[error("file name says sequence {name}, header says {header}")]
    Name { name: u64, header: u64 },
}

/// Why a spool operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool {path}: {source}")]
    Io { path: String, source: io::Error },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// A file found corrupt and moved aside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corrupt {
    /// Sequence from the file name.
    pub sequence: u64,
    /// Where it was moved.
    pub moved_to: PathBuf,
    /// Why.
    pub reason: String,
}

/// What reading the oldest item found.
#[derive(Debug)]
pub enum Next {
    /// A valid item.
    Item(Item),
    /// The spool is empty.
    Empty,
}

/// Encode an item into the spool file format.
pub fn encode(item: &Item) -> Vec<u8> {
    let blob_bytes: usize = item.blobs.values().map(Vec::len).sum();
    let mut out = Vec::with_capacity(
        FIXED_HEADER + item.blobs.len() * BLOB_ENTRY + item.envelope.len() + blob_bytes + CHECKSUM,
    );
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&item.sequence.to_le_bytes());
    out.extend_from_slice(&item.created.to_le_bytes());
    out.extend_from_slice(&(item.envelope.len() as u32).to_le_bytes());
    out.extend_from_slice(&(item.blobs.len() as u32).to_le_bytes());
    for (d, b) in &item.blobs {
        out.extend_from_slice(&d.0);
        out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(&item.envelope);
    for b in item.blobs.values() {
        out.extend_from_slice(b);
    }
    let sum = sha256_digest(&out);
    out.extend_from_slice(&sum.0);
    out
}

fn u32_at(b: &[u8], at: usize) -> Option<usize> {
    let s: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(u32::from_le_bytes(s) as usize)
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    let s: [u8; 8] = b.get(at..at + 8)?.try_into().ok()?;
    Some(u64::from_le_bytes(s))
}

/// Decode and verify a spool file's bytes.
pub fn decode(bytes: &[u8]) -> Result<Item, CorruptReason> {
    if bytes.len() < FIXED_HEADER + CHECKSUM {
        return Err(CorruptReason::Short(bytes.len()));
    }
    if &bytes[..8] != MAGIC {
        return Err(CorruptReason::Magic);
    }
    let sequence = u64_at(bytes, 8).ok_or(CorruptReason::Length)?;
    let created = u64_at(bytes, 16).ok_or(CorruptReason::Length)? as i64;
    let env_len = u32_at(bytes, 24).ok_or(CorruptReason::Length)?;
    let count = u32_at(bytes, 28).ok_or(CorruptReason::Length)?;
    let header_len = count
        .checked_mul(BLOB_ENTRY)
        .and_then(|n| n.checked_add(FIXED_HEADER))
        .ok_or(CorruptReason::Length)?;
    if header_len > bytes.len() {
        return Err(CorruptReason::Length);
    }
    let mut entries = Vec::with_capacity(count);
    let mut total = header_len
        .checked_add(env_len)
        .ok_or(CorruptReason::Length)?;
    for i in 0..count {
        let at = FIXED_HEADER + i * BLOB_ENTRY;
        let d: [u8; 32] = bytes[at..at + 32]
            .try_into()
            .map_err(|_| CorruptReason::Length)?;
        let len = u32_at(bytes, at + 32).ok_or(CorruptReason::Length)?;
        total = total.checked_add(len).ok_or(CorruptReason::Length)?;
        entries.push((Digest(d), len));
    }
    if total.checked_add(CHECKSUM) != Some(bytes.len()) {
        return Err(CorruptReason::Length);
    }
    if sha256_digest(&bytes[..total]).0[..] != bytes[total..] {
        return Err(CorruptReason::Checksum);
    }
    let envelope = bytes[header_len..header_len + env_len].to_vec();
    let mut at = header_len + env_len;
    let mut blobs = BTreeMap::new();
    for (d, len) in entries {
        let b = &bytes[at..at + len];
        if sha256_digest(b) != d {
            return Err(CorruptReason::Blob(d));
        }
        blobs.insert(d, b.to_vec());
        at += len;
    }
    Ok(Item {
        sequence,
        created,
        envelope,
        blobs,
    })
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    size: u64,
    created: i64,
}

/// The spool directory and an index of its files.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    index: BTreeMap<u64, Entry>,
}

fn file_name(sequence: u64) -> String {
    format!("{sequence:020}.spool")
}

impl Spool {
    /// Open (creating) the spool under `dir`, removing leftover temporary
    /// files and indexing the spool files by name.
    pub fn open(dir: &Path) -> Result<Spool, SpoolError> {
        ensure_dir(dir, 0o700).map_err(io_err(dir))?;
        let mut index = BTreeMap::new();
        for entry in fs::read_dir(dir).map_err(io_err(dir))? {
            let entry = entry.map_err(io_err(dir))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.ends_with(".tmp") {
                let _ = fs::remove_file(entry.path());
                continue;
            }
            let Some(seq) = name
                .strip_suffix(".spool")
                .and_then(|s| s.parse::<u64>().ok())
            else {
                continue;
            };
            let Ok(meta) = entry.metadata() else { continue };
            if !meta.is_file() {
                continue;
            }
            index.insert(
                seq,
                Entry {
                    size: meta.len(),
                    created: created_of(&meta),
                },
            );
        }
        Ok(Spool {
            dir: dir.to_path_buf(),
            index,
        })
    }

    /// The spool directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path_of(&self, sequence: u64) -> PathBuf {
        self.dir.join(file_name(sequence))
    }

    /// Number of spooled statements.
    pub fn depth(&self) -> usize {
        self.index.len()
    }

    /// Total bytes of spooled statements.
    pub fn bytes(&self) -> u64 {
        self.index.values().map(|e| e.size).sum()
    }

    /// Spooled sequence numbers, oldest first.
    pub fn sequences(&self) -> Vec<u64> {
        self.index.keys().copied().collect()
    }

    /// The oldest and newest spooled sequence numbers.
    pub fn range(&self) -> Option<(u64, u64)> {
        Some((*self.index.keys().next()?, *self.index.keys().next_back()?))
    }

    /// Write an item durably: temporary file, fsync, rename, fsync directory.
    pub fn put(&mut self, item: &Item) -> Result<(), SpoolError> {
        let bytes = encode(item);
        let path = self.path_of(item.sequence);
        let tmp = self.dir.join(format!("{}.tmp", file_name(item.sequence)));
        let write = || -> io::Result<()> {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            drop(f);
            fs::rename(&tmp, &path)?;
            sync_dir(&self.dir)
        };
        if let Err(e) = write() {
            let _ = fs::remove_file(&tmp);
            return Err(io_err(&path)(e));
        }
        self.index.insert(
            item.sequence,
            Entry {
                size: bytes.len() as u64,
                created: item.created,
            },
        );
        Ok(())
    }

    /// Read and verify the item with `sequence`. A corrupt file is moved to
    /// `corrupt/`, removed from the index and returned as `Err(Some(..))`;
    /// a file that vanished is `Err(None)`.
    pub fn read(&mut self, sequence: u64) -> Result<Item, Option<Corrupt>> {
        let path = self.path_of(sequence);
        let bytes = match read_capped(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.index.remove(&sequence);
                return Err(None);
            }
            Err(e) => return Err(Some(self.quarantine(sequence, e.to_string()))),
        };
        match decode(&bytes) {
            Ok(item) if item.sequence == sequence => Ok(item),
            Ok(item) => Err(Some(
                self.quarantine(
                    sequence,
                    CorruptReason::Name {
                        name: sequence,
                        header: item.sequence,
                    }
                    .to_string(),
                ),
            )),
            Err(reason) => Err(Some(self.quarantine(sequence, reason.to_string()))),
        }
    }

    /// The oldest valid item; corrupt files met on the way are moved aside
    /// and appended to `corrupt`.
    pub fn oldest(&mut self, corrupt: &mut Vec<Corrupt>) -> Next {
        while let Some(seq) = self.index.keys().next().copied() {
            match self.read(seq) {
                Ok(item) => return Next::Item(item),
                Err(Some(c)) => corrupt.push(c),
                Err(None) => {}
            }
        }
        Next::Empty
    }

    /// The newest valid item (used to recover the chain head after a crash).
    pub fn newest(&mut self, corrupt: &mut Vec<Corrupt>) -> Option<Item> {
        while let Some(seq) = self.index.keys().next_back().copied() {
            match self.read(seq) {
                Ok(item) => return Some(item),
                Err(Some(c)) => corrupt.push(c),
                Err(None) => {}
            }
        }
        None
    }

    /// Verify every file (moving corrupt ones aside); returns what was found corrupt.
    pub fn check_all(&mut self) -> Vec<Corrupt> {
        let mut out = Vec::new();
        for seq in self.sequences() {
            if let Err(Some(c)) = self.read(seq) {
                out.push(c);
            }
        }
        out
    }

    /// Remove a delivered item.
    pub fn remove(&mut self, sequence: u64) -> Result<(), SpoolError> {
        let path = self.path_of(sequence);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&path)(e)),
        }
        self.index.remove(&sequence);
        sync_dir(&self.dir).map_err(io_err(&self.dir))
    }

    /// Move an item the collector refused for good to `rejected/` (kept for inspection).
    pub fn reject(&mut self, sequence: u64) -> Result<PathBuf, SpoolError> {
        let from = self.path_of(sequence);
        let dir = self.dir.join("rejected");
        let to = dir.join(file_name(sequence));
        ensure_dir(&dir, 0o700).map_err(io_err(&dir))?;
        fs::rename(&from, &to).map_err(io_err(&from))?;
        self.index.remove(&sequence);
        sync_dir(&self.dir).map_err(io_err(&self.dir))?;
        Ok(to)
    }

    fn quarantine(&mut self, sequence: u64, reason: String) -> Corrupt {
        self.index.remove(&sequence);
        let from = self.path_of(sequence);
        let dir = self.dir.join("corrupt");
        let to = dir.join(format!(
            "{}.{}",
            file_name(sequence),
            chrono::Utc::now().timestamp_millis()
        ));
        let moved = ensure_dir(&dir, 0o700)
            .and_then(|_| fs::rename(&from, &to))
            .and_then(|_| sync_dir(&self.dir));
        if let Err(e) = moved {
            // Could not move it: delete it so it is not met again (no crash loop).
            tracing::error!(path = %from.display(), error = %e, "could not move a corrupt spool file aside; removing it");
            let _ = fs::remove_file(&from);
        }
        tracing::error!(sequence, reason = %reason, moved_to = %to.display(), "corrupt spool file skipped");
        Corrupt {
            sequence,
            moved_to: to,
            reason,
        }
    }

    /// Drop the oldest items until the spool is within `max_bytes` and no
    /// item is older than `max_age_seconds`. The newest item and `keep` (an
    /// item being delivered) are never dropped. Returns the dropped ranges.
    pub fn enforce_bounds(
        &mut self,
        max_bytes: u64,
        max_age_seconds: u64,
        now_unix: i64,
        keep: Option<u64>,
    ) -> Result<Vec<SequenceRange>, SpoolError> {
        let newest = self.index.keys().next_back().copied();
        let mut total = self.bytes();
        let oldest_allowed =
            now_unix.saturating_sub(i64::try_from(max_age_seconds).unwrap_or(i64::MAX));
        let mut dropped: Vec<SequenceRange> = Vec::new();
        let candidates: Vec<(u64, Entry)> = self.index.iter().map(|(k, v)| (*k, *v)).collect();
        for (seq, entry) in candidates {
            if Some(seq) == newest {
                break;
            }
            if Some(seq) == keep {
                continue;
            }
            let too_big = total > max_bytes;
            let too_old = entry.created < oldest_allowed;
            if !too_big && !too_old {
                break;
            }
            self.remove(seq)?;
            total = total.saturating_sub(entry.size);
            match dropped.last_mut() {
                Some(r) if r.to + 1 == seq => r.to = seq,
                _ => dropped.push(SequenceRange { from: seq, to: seq }),
            }
        }
        Ok(dropped)
    }
}

fn created_of(meta: &fs::Metadata) -> i64 {
    use std::os::unix::fs::MetadataExt as _;
    meta.mtime()
}

fn read_capped(path: &Path) -> io::Result<Vec<u8>> {
    let meta = fs::metadata(path)?;
    if meta.len() > MAX_FILE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("spool file is {} bytes, over the limit", meta.len()),
        ));
    }
    fs::read(path)
}

/// A read-only summary of a spool directory (for `status`, without opening it for writing).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Spooled statements.
    pub depth: usize,
    /// Their total size.
    pub bytes: u64,
    /// Oldest and newest sequence.
    pub range: Option<(u64, u64)>,
    /// Files in `corrupt/`.
    pub corrupt_files: usize,
}

/// Summarise the spool under `dir` without changing anything.
pub fn summarize(dir: &Path) -> Summary {
    let mut s = Summary::default();
    let mut seqs = Vec::new();
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            let name = e.file_name();
            let Some(seq) = name
                .to_string_lossy()
                .strip_suffix(".spool")
                .and_then(|x| x.parse::<u64>().ok())
            else {
                continue;
            };
            seqs.push(seq);
            s.bytes += e.metadata().map(|m| m.len()).unwrap_or(0);
        }
    }
    s.depth = seqs.len();
    s.range = seqs
        .iter()
        .min()
        .zip(seqs.iter().max())
        .map(|(a, b)| (*a, *b));
    s.corrupt_files = fs::read_dir(dir.join("corrupt"))
        .map(|rd| rd.count())
        .unwrap_or(0);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(seq: u64, blobs: &[&[u8]]) -> Item {
        Item {
            sequence: seq,
            created: 1_700_000_000 + seq as i64,
            envelope: format!("{{\"envelope\":{seq}}}").into_bytes(),
            blobs: blobs
                .iter()
                .map(|b| (sha256_digest(b), b.to_vec()))
                .collect(),
        }
    }

    #[test]
    fn round_trip_in_sequence_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path()).unwrap();
        for seq in [3, 1, 2] {
            s.put(&item(seq, &[b"{\"a\":1}", b"{\"b\":2}"])).unwrap();
        }
        let mut s = Spool::open(dir.path()).unwrap();
        assert_eq!(s.sequences(), vec![1, 2, 3]);
        let mut corrupt = Vec::new();
        let Next::Item(first) = s.oldest(&mut corrupt) else {
            panic!("empty")
        };
        assert_eq!(first, item(1, &[b"{\"a\":1}", b"{\"b\":2}"]));
        s.remove(1).unwrap();
        assert_eq!(s.newest(&mut corrupt).unwrap().sequence, 3);
        assert!(corrupt.is_empty());
        assert_eq!(s.depth(), 2);
    }

    /// Truncating a spool file at every byte offset is detected and skipped.
    #[test]
    fn torn_files_at_every_offset_are_detected_and_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let full = encode(&item(1, &[b"{\"probe\":\"data\"}", b"[1,2,3]"]));
        for cut in 0..full.len() {
            assert!(decode(&full[..cut]).is_err(), "cut at {cut} accepted");
            let mut s = Spool::open(dir.path()).unwrap();
            s.put(&item(2, &[b"{}"])).unwrap();
            fs::write(dir.path().join(file_name(1)), &full[..cut]).unwrap();
            let mut s = Spool::open(dir.path()).unwrap();
            let mut corrupt = Vec::new();
            let Next::Item(next) = s.oldest(&mut corrupt) else {
                panic!("cut {cut}: valid item lost")
            };
            assert_eq!(next.sequence, 2, "cut {cut}");
            assert_eq!(corrupt.len(), 1, "cut {cut}");
            assert_eq!(corrupt[0].sequence, 1);
            assert!(corrupt[0].moved_to.exists());
            assert!(!dir.path().join(file_name(1)).exists());
        }
        assert!(decode(&full).is_ok());
    }

    #[test]
    fn flipped_bytes_are_detected() {
        let full = encode(&item(1, &[b"{\"probe\":\"data\"}"]));
        for i in 0..full.len() {
            let mut bad = full.clone();
            bad[i] ^= 0x40;
            assert!(decode(&bad).is_err(), "flip at {i} accepted");
        }
    }

    #[test]
    fn a_file_under_the_wrong_name_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path()).unwrap();
        fs::write(dir.path().join(file_name(5)), encode(&item(4, &[]))).unwrap();
        let mut s = Spool::open(dir.path()).unwrap();
        let mut corrupt = Vec::new();
        assert!(matches!(s.oldest(&mut corrupt), Next::Empty));
        assert_eq!(corrupt.len(), 1);
        assert!(corrupt[0].reason.contains("file name says"));
    }

    #[test]
    fn leftover_temporary_files_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("00000000000000000001.spool.tmp"), b"half").unwrap();
        let s = Spool::open(dir.path()).unwrap();
        assert_eq!(s.depth(), 0);
        assert!(!dir.path().join("00000000000000000001.spool.tmp").exists());
    }

    #[test]
    fn bounds_drop_the_oldest_and_report_ranges() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path()).unwrap();
        let blob = vec![b'x'; 1000];
        for seq in 1..=10 {
            s.put(&item(seq, &[&blob])).unwrap();
        }
        // Item 10 is one byte larger than the others.
        let one = (s.bytes() - 1) / 10;
        // Room for 4 items; 3 is being delivered and kept.
        let dropped = s
            .enforce_bounds(one * 4 + 1, u64::MAX / 2, 1_700_000_100, Some(3))
            .unwrap();
        assert_eq!(
            dropped,
            vec![
                SequenceRange { from: 1, to: 2 },
                SequenceRange { from: 4, to: 7 }
            ]
        );
        assert_eq!(s.sequences(), vec![3, 8, 9, 10]);
        assert!(s.bytes() <= one * 4 + 1);
        // Age: everything created before 1_700_000_009 goes, but never the newest.
        let dropped = s.enforce_bounds(u64::MAX, 60, 1_700_000_069, None).unwrap();
        assert_eq!(
            dropped,
            vec![
                SequenceRange { from: 3, to: 3 },
                SequenceRange { from: 8, to: 8 }
            ]
        );
        assert_eq!(s.sequences(), vec![9, 10]);
        let dropped = s.enforce_bounds(1, 60, 1_800_000_000, None).unwrap();
        assert_eq!(dropped, vec![SequenceRange { from: 9, to: 9 }]);
        assert_eq!(s.sequences(), vec![10]);
        let sum = summarize(dir.path());
        assert_eq!(sum.depth, 1);
        assert_eq!(sum.range, Some((10, 10)));
    }
}
