//! The apt list cache: what each apt `Packages` list offers the installed
//! packages (the newest version per installed name and architecture), kept
//! between runs in the agent's cache directory so that an unchanged 50 MB
//! list is not read again on every run.
//!
//! One file per scanned root, `apt-lists-<16 hex digits of sha256 of the
//! root's path>.json` in [`HostRoot::cache_dir`]: a first line
//! `sha256:<hex>` (the digest of the rest), then JSON with the format, the
//! root's path, the digest of the installed set (every installed name and
//! architecture) and, per list, its path, its identity as `fstat` gives it
//! (device, inode, size, mtime and ctime to the nanosecond) and the versions
//! it offers. A list's entry is used only when all of these match the list
//! as opened now; the whole file is ignored (and rewritten) when its digest,
//! format, root or installed set differ or any entry is malformed, so a
//! corrupt or foreign cache is never trusted. The apt sources are not part
//! of the key: they only decide which lists are read, and that is decided
//! again on every run (a list no configured source references is not read,
//! cached or not).
//!
//! A list is cached only when its ctime is at least two seconds older than
//! the run's start and its identity did not change while it was read: a
//! later change then always gets a ctime the cache does not hold, even on a
//! file system with coarse (up to 2 s) timestamps. ctime cannot be set from
//! user space, so `touch -d` or `cp -p` over a list is seen too.
//!
//! Writing is atomic (a temporary file renamed over the old one, mode 0600,
//! the directory created 0700) and best effort: any failure to read or
//! write the cache only means the lists are read, and never changes the
//! probe's output.

use super::apt_lists::Newest;
use super::dpkg::DpkgInventory;
use super::list_split::read_list_file;
use crate::hostroot::HostRoot;
use evident_core::digest::sha256_hex;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

/// How much older than the run a list's ctime must be for the list to be
/// cached (coarse file system timestamps: FAT's are 2 s).
#[cfg(not(test))]
const SETTLE_NS: i128 = 2_000_000_000;
/// In unit tests lists are written just before the run.
#[cfg(test)]
const SETTLE_NS: i128 = 0;

/// The cache format; any other is ignored.
const FORMAT: u32 = 1;
/// A cache file larger than this is ignored (a host with 10,000 packages
/// and a dozen lists needs well under 2 MiB).
const MAX_CACHE_BYTES: u64 = 16 * 1024 * 1024;
/// The longest name, architecture or version accepted from the cache.
const MAX_FIELD: usize = 512;

/// A list's identity as `fstat` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct ListId {
    dev: u64,
    ino: u64,
    size: u64,
    /// mtime, seconds and nanoseconds.
    mtime: (i64, i64),
    /// ctime, seconds and nanoseconds.
    ctime: (i64, i64),
}

impl ListId {
    fn of(meta: &std::fs::Metadata) -> ListId {
        ListId {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }

    fn ctime_ns(&self) -> i128 {
        i128::from(self.ctime.0) * 1_000_000_000 + i128::from(self.ctime.1)
    }
}

/// One list's cached result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Entry {
    path: String,
    id: ListId,
    /// (name, architecture, version), sorted by name and architecture.
    newest: Vec<(String, String, String)>,
}

/// The cache file's JSON (after the digest line).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CacheFile {
    format: u32,
    root: String,
    installed: String,
    lists: Vec<Entry>,
}

/// How a run used the cache (for tests and measurements).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lists whose result came from the cache.
    pub hits: usize,
    /// Lists read.
    pub misses: usize,
    /// Whether the file on disk was ignored (missing, corrupt or foreign).
    pub discarded: bool,
    /// Whether the file was (re)written.
    pub written: bool,
}

/// The cache of one run over one root.
pub(super) struct ListCache {
    path: PathBuf,
    root: String,
    installed: String,
    old: HashMap<String, Entry>,
    new: Vec<Entry>,
    now_ns: i128,
    /// [`SETTLE_NS`]; tests may change it.
    settle_ns: i128,
    dirty: bool,
    stats: CacheStats,
}

/// The root's path as recorded in (and naming) its cache file.
fn root_key(root: &HostRoot) -> String {
    let p = std::fs::canonicalize(root.prefix()).unwrap_or_else(|_| root.prefix().to_path_buf());
    let mode = if root.is_host_mode() { "host:" } else { "" };
    format!("{mode}{}", p.to_string_lossy())
}

/// The digest of the installed set: every (name, architecture), sorted.
fn installed_digest(inv: &DpkgInventory) -> String {
    let mut text = String::new();
    for (name, arch) in inv.installed.keys() {
        text.push_str(name);
        text.push('\0');
        text.push_str(arch);
        text.push('\n');
    }
    sha256_hex(text.as_bytes())
}

fn field_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_FIELD
        && !s
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
}

impl ListCache {
    /// The cache for `root` in `dir`, with what it holds that is valid for
    /// this installed set (nothing when the file is missing, corrupt or
    /// another root's).
    pub(super) fn open(dir: &Path, root: &HostRoot, inv: &DpkgInventory) -> ListCache {
        let root_key = root_key(root);
        let name = format!(
            "apt-lists-{}.json",
            sha256_hex(root_key.as_bytes())
                .get(..16)
                .unwrap_or_default()
        );
        let now_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i128);
        let mut cache = ListCache {
            path: dir.join(name),
            root: root_key,
            installed: installed_digest(inv),
            old: HashMap::new(),
            new: Vec::new(),
            now_ns,
            settle_ns: SETTLE_NS,
            dirty: false,
            stats: CacheStats::default(),
        };
        match cache.load(inv) {
            Some(entries) => {
                cache.old = entries.into_iter().map(|e| (e.path.clone(), e)).collect();
            }
            None => {
                cache.stats.discarded = true;
                cache.dirty = true;
            }
        }
        cache
    }

    /// The valid entries of the file on disk, or `None`.
    fn load(&self, inv: &DpkgInventory) -> Option<Vec<Entry>> {
        let file = std::fs::File::open(&self.path).ok()?;
        if file.metadata().ok()?.len() > MAX_CACHE_BYTES {
            return None;
        }
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::Read::take(file, MAX_CACHE_BYTES), &mut bytes)
            .ok()?;
        let nl = memchr::memchr(b'\n', &bytes)?;
        let (head, body) = (bytes.get(..nl)?, bytes.get(nl + 1..)?);
        let want = format!("sha256:{}", sha256_hex(body));
        if head != want.as_bytes() {
            return None;
        }
        let parsed: CacheFile = serde_json::from_slice(body).ok()?;
        if parsed.format != FORMAT || parsed.root != self.root || parsed.installed != self.installed
        {
            return None;
        }
        let valid = parsed.lists.iter().all(|e| {
            e.path.starts_with("/var/lib/apt/lists/")
                && e.newest.windows(2).all(|w| {
                    matches!((w.first(), w.get(1)), (Some(a), Some(b)) if (&a.0, &a.1) < (&b.0, &b.1))
                })
                && e.newest.iter().all(|(n, a, v)| {
                    field_ok(n)
                        && field_ok(a)
                        && field_ok(v)
                        && inv.installed.contains_key(&(n.clone(), a.clone()))
                })
        });
        valid.then_some(parsed.lists)
    }

    /// The cached result for the list at `path` with identity `id`.
    fn lookup(&self, path: &str, id: &ListId) -> Option<&Entry> {
        self.old.get(path).filter(|e| e.id == *id)
    }

    /// Keep `entry` for the next run.
    fn keep(&mut self, entry: Entry) {
        self.new.push(entry);
    }

    /// Whether a list with identity `id` may be cached (see [`SETTLE_NS`]).
    fn settled(&self, id: &ListId) -> bool {
        self.now_ns - id.ctime_ns() >= self.settle_ns
    }

    /// Write the entries of the lists read in this run, when anything
    /// changed (a list read, a list gone, the file ignored). Errors are
    /// ignored: the cache is an optimisation.
    pub(super) fn save(mut self) -> CacheStats {
        let gone = self.old.len() != self.new.len()
            || self.new.iter().any(|e| self.old.get(&e.path) != Some(e));
        if !(self.dirty || gone) {
            return self.stats;
        }
        self.new.sort_by(|a, b| a.path.cmp(&b.path));
        let file = CacheFile {
            format: FORMAT,
            root: std::mem::take(&mut self.root),
            installed: std::mem::take(&mut self.installed),
            lists: std::mem::take(&mut self.new),
        };
        if let Ok(body) = serde_json::to_vec(&file) {
            let mut bytes = format!("sha256:{}\n", sha256_hex(&body)).into_bytes();
            bytes.extend_from_slice(&body);
            self.stats.written = write_replace(&self.path, &bytes).is_ok();
        }
        self.stats
    }
}

/// Replace `path` with `bytes` atomically (temporary file and rename; not
/// synced: a cache lost in a crash is only rebuilt).
fn write_replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// What the list at `path` offers the installed packages: from the cache
/// when it holds this very file, else read (and cached when it may be).
pub(super) fn read_list(
    root: &HostRoot,
    path: &str,
    inv: &DpkgInventory,
    cache: Option<&mut ListCache>,
) -> Result<Newest, String> {
    let real = root.resolve(path).map_err(|e| e.to_string())?;
    let file = std::fs::File::open(&real).map_err(|e| format!("{path}: {e}"))?;
    let Some(cache) = cache else {
        return read_list_file(&file, path, inv);
    };
    let before = file.metadata().map(|m| ListId::of(&m)).ok();
    if let Some(entry) = before.as_ref().and_then(|id| cache.lookup(path, id)) {
        let entry = entry.clone();
        let newest = entry
            .newest
            .iter()
            .map(|(n, a, v)| ((n.clone(), a.clone()), v.clone()))
            .collect();
        cache.stats.hits += 1;
        cache.keep(entry);
        return Ok(newest);
    }
    cache.stats.misses += 1;
    let newest = read_list_file(&file, path, inv)?;
    let after = file.metadata().ok().map(|m| ListId::of(&m));
    match (before, after) {
        (Some(b), Some(a)) if a == b && cache.settled(&b) => {
            cache.keep(Entry {
                path: path.to_string(),
                id: b,
                newest: newest
                    .iter()
                    .map(|((n, a), v)| (n.clone(), a.clone(), v.clone()))
                    .collect(),
            });
            cache.dirty = true;
        }
        // Changed while read, or too recent: read again next time.
        _ => cache.dirty = true,
    }
    Ok(newest)
}

#[cfg(test)]
mod tests;
