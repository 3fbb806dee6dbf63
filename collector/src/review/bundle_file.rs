//! The bundle file: a tar archive compressed with zstd (content checksum
//! on), sealed by a trailing zstd skippable frame holding the sha256 of
//! every byte before it, so any changed byte of the file is detected.

use super::error::{io, ReviewError};
use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::path::Path;

/// Write members as tar + zstd (with content checksum), atomically, in
/// path order.
pub fn write_bundle(path: &Path, members: &BTreeMap<String, Vec<u8>>) -> Result<u64, ReviewError> {
    write_bundle_in_order(
        path,
        members.iter().map(|(k, v)| (k.as_str(), v.as_slice())),
    )
}

/// Write members in the order given (`verify` accepts any order; `export`
/// writes path order).
pub fn write_bundle_in_order<'a>(
    path: &Path,
    members: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Result<u64, ReviewError> {
    let mut w = BundleWriter::create(path)?;
    for (name, data) in members {
        w.append(name, data)?;
    }
    w.finish()
}

/// A bundle file written member by member (memory: the manifest entries of
/// what was written, not the members), then sealed and renamed into place.
pub struct BundleWriter {
    path: std::path::PathBuf,
    tmp: std::path::PathBuf,
    tar: tar::Builder<zstd::Encoder<'static, std::io::BufWriter<std::fs::File>>>,
    entries: Vec<evident_core::bundle::ManifestEntry>,
    /// Pieced (v2): the manifest pieces written so far; every
    /// [`evident_core::bundle::PIECE_ENTRIES`] members listed become one.
    pieces: Option<Vec<evident_core::bundle::ManifestEntry>>,
    /// Members appended, pieces included.
    count: usize,
}

impl BundleWriter {
    /// Start writing `path` (at `path.partial` until finished).
    pub fn create(path: &Path) -> Result<BundleWriter, ReviewError> {
        let tmp = path.with_extension("partial");
        let file = std::fs::File::create(&tmp).map_err(io(&tmp))?;
        let mut enc = zstd::Encoder::new(std::io::BufWriter::new(file), 6).map_err(io(&tmp))?;
        enc.include_checksum(true).map_err(io(&tmp))?;
        let mut tar = tar::Builder::new(enc);
        tar.mode(tar::HeaderMode::Deterministic);
        Ok(BundleWriter {
            path: path.to_path_buf(),
            tmp,
            tar,
            entries: Vec::new(),
            pieces: None,
            count: 0,
        })
    }

    /// Write the manifest in pieces (bundle format v2): every
    /// [`evident_core::bundle::PIECE_ENTRIES`] members appended are listed
    /// in a manifest piece written right after them, so only one piece's
    /// entries are held; [`Self::finish_pieces`] writes the last one.
    pub fn pieced(mut self) -> BundleWriter {
        self.pieces = Some(Vec::new());
        self
    }

    /// Members appended so far, pieces included.
    pub fn count(&self) -> usize {
        self.count
    }

    /// List `entry`; in pieced mode, write a manifest piece when one is full.
    fn listed(&mut self, entry: evident_core::bundle::ManifestEntry) -> Result<(), ReviewError> {
        self.entries.push(entry);
        if self.entries.len() >= evident_core::bundle::PIECE_ENTRIES && self.pieces.is_some() {
            self.write_piece()?;
        }
        Ok(())
    }

    fn write_piece(&mut self) -> Result<(), ReviewError> {
        let Some(pieces) = self.pieces.as_ref() else {
            return Ok(());
        };
        let name = evident_core::bundle::manifest_piece_path(pieces.len());
        let bytes = evident_core::bundle::ManifestPiece {
            members: std::mem::take(&mut self.entries),
        }
        .to_bytes();
        let mut h = Self::header(bytes.len() as u64);
        self.tar
            .append_data(&mut h, &name, bytes.as_slice())
            .map_err(io(&self.tmp))?;
        self.count += 1;
        if let Some(p) = self.pieces.as_mut() {
            p.push(evident_core::bundle::ManifestEntry {
                path: name,
                sha256: evident_core::sha256_digest(&bytes),
                size: bytes.len() as u64,
            });
        }
        Ok(())
    }

    /// Pieced mode: write the last manifest piece; the entries of every
    /// piece (what the signed root lists).
    pub fn finish_pieces(
        &mut self,
    ) -> Result<Vec<evident_core::bundle::ManifestEntry>, ReviewError> {
        if !self.entries.is_empty() {
            self.write_piece()?;
        }
        Ok(self.pieces.take().unwrap_or_default())
    }

    fn header(size: u64) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        h.set_size(size);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        h
    }

    /// Append one member.
    pub fn append(&mut self, name: &str, data: &[u8]) -> Result<(), ReviewError> {
        let mut h = Self::header(data.len() as u64);
        self.tar
            .append_data(&mut h, name, data)
            .map_err(io(&self.tmp))?;
        self.count += 1;
        self.listed(evident_core::bundle::ManifestEntry {
            path: name.to_string(),
            sha256: evident_core::sha256_digest(data),
            size: data.len() as u64,
        })
    }

    /// The manifest entries of the members written so far (taken: later
    /// members start a new list).
    pub fn take_entries(&mut self) -> Vec<evident_core::bundle::ManifestEntry> {
        std::mem::take(&mut self.entries)
    }

    /// Members listed since the last [`Self::take_entries`].
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing was listed since the last [`Self::take_entries`].
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Give up: remove the partial file.
    pub fn abandon(self) {
        let BundleWriter { tmp, tar, .. } = self;
        drop(tar);
        let _ = std::fs::remove_file(&tmp);
    }

    /// Close the archive, seal the file (see [`write_bundle`]) and move it
    /// into place; its size.
    pub fn finish(self) -> Result<u64, ReviewError> {
        let BundleWriter { path, tmp, tar, .. } = self;
        let enc = tar.into_inner().map_err(io(&tmp))?;
        let mut w = enc.finish().map_err(io(&tmp))?;
        w.flush().map_err(io(&tmp))?;
        let mut file = w.into_inner().map_err(|e| io(&tmp)(e.into_error()))?;
        file.sync_all().map_err(io(&tmp))?;
        // Seal the file itself: a zstd skippable frame holding the sha256 of
        // every byte before it, so a change to any byte (even one the zstd
        // decoder would tolerate, such as the window descriptor) is detected.
        let digest = {
            use sha2::Digest as _;
            let mut h = sha2::Sha256::new();
            let mut r = std::fs::File::open(&tmp).map_err(io(&tmp))?;
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let n = r.read(&mut buf).map_err(io(&tmp))?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
            h.finalize()
        };
        let mut trailer = Vec::with_capacity(TRAILER_LEN);
        trailer.extend_from_slice(&TRAILER_MAGIC.to_le_bytes());
        trailer.extend_from_slice(&32u32.to_le_bytes());
        trailer.extend_from_slice(&digest);
        file.write_all(&trailer).map_err(io(&tmp))?;
        file.sync_all().map_err(io(&tmp))?;
        let size = file.metadata().map_err(io(&tmp))?.len();
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        Ok(size)
    }
}

/// Magic of the zstd skippable frame that carries the file digest.
const TRAILER_MAGIC: u32 = 0x184D_2A5E;
/// Length of that frame: magic, size, sha256.
const TRAILER_LEN: usize = 40;

/// Largest member accepted when reading a bundle.
const MAX_MEMBER: u64 = 1 << 30;

/// Read a bundle file into members. Any corruption of the file (compressed
/// stream, checksum, tar headers), a duplicate or unsafe path, or a member
/// that is not a regular file is an error naming what is wrong.
pub fn read_bundle(path: &Path) -> Result<BTreeMap<String, Vec<u8>>, ReviewError> {
    check_seal(path)?;
    let mut members = BTreeMap::new();
    walk(path, &mut |name, entry, size| {
        let data = read_member(path, &name, entry, size)?;
        if members.insert(name.clone(), data).is_some() {
            return Err(corrupt(path, format!("member {name} appears twice")));
        }
        Ok(())
    })?;
    Ok(members)
}

/// The error for a damaged file.
pub(crate) fn corrupt(path: &Path, what: String) -> ReviewError {
    ReviewError::Invalid(format!(
        "{}: the bundle file is damaged or not an Evident bundle ({what})",
        path.display()
    ))
}

/// The file's length without its trailer and the sha256 the trailer seals.
fn trailer(path: &Path) -> Result<(u64, [u8; 32]), ReviewError> {
    use std::io::{Seek as _, SeekFrom};
    let mut file = std::fs::File::open(path).map_err(io(path))?;
    let len = file.metadata().map_err(io(path))?.len();
    let body = len
        .checked_sub(TRAILER_LEN as u64)
        .ok_or_else(|| corrupt(path, "too short".into()))?;
    let mut t = [0u8; TRAILER_LEN];
    file.seek(SeekFrom::Start(body)).map_err(io(path))?;
    file.read_exact(&mut t).map_err(io(path))?;
    if t.get(..4) != Some(&TRAILER_MAGIC.to_le_bytes()[..])
        || t.get(4..8) != Some(&32u32.to_le_bytes()[..])
    {
        return Err(corrupt(path, "the file digest trailer is missing".into()));
    }
    let mut sealed = [0u8; 32];
    sealed.copy_from_slice(t.get(8..).unwrap_or(&[0u8; 32]));
    Ok((body, sealed))
}

/// A reader that hashes what passes through it.
struct Hashing<R> {
    inner: R,
    hasher: sha2::Sha256,
}

impl<R: std::io::Read> std::io::Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use sha2::Digest as _;
        let n = self.inner.read(buf)?;
        self.hasher.update(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
}

/// Hash the file (streaming, nothing decompressed) and compare with its
/// trailer: a changed byte is refused before any member is read.
pub fn check_seal(path: &Path) -> Result<(), ReviewError> {
    let (body, sealed) = trailer(path)?;
    let file = std::fs::File::open(path).map_err(io(path))?;
    let mut h = Hashing {
        inner: std::io::BufReader::with_capacity(1 << 16, file).take(body),
        hasher: <sha2::Sha256 as sha2::Digest>::new(),
    };
    std::io::copy(&mut h, &mut std::io::sink()).map_err(io(path))?;
    compare_seal(path, h, &sealed)
}

fn compare_seal<R>(path: &Path, h: Hashing<R>, sealed: &[u8; 32]) -> Result<(), ReviewError> {
    let actual: [u8; 32] = sha2::Digest::finalize(h.hasher).into();
    if actual != *sealed {
        return Err(corrupt(
            path,
            format!(
                "file digest mismatch: the file was changed after export (content is {})",
                evident_core::Digest(actual)
            ),
        ));
    }
    Ok(())
}

/// A visitor of members: name, the member's reader (read it with
/// [`read_member`] or leave it: an unread member is skipped), its size.
pub(crate) type Visit<'v> =
    dyn FnMut(String, &mut dyn std::io::Read, u64) -> Result<(), ReviewError> + 'v;

/// Walk the bundle file's members in file order, one at a time (memory:
/// one member). Every member name is checked (regular file, safe path,
/// size cap); the zstd checksum and the file's sealed sha256 are checked
/// over exactly the bytes walked, so a file changed since an earlier walk
/// fails this one.
pub(crate) fn walk(path: &Path, visit: &mut Visit<'_>) -> Result<(), ReviewError> {
    let (body, sealed) = trailer(path)?;
    let file = std::fs::File::open(path).map_err(io(path))?;
    let mut h = Hashing {
        inner: std::io::BufReader::with_capacity(1 << 16, file).take(body),
        hasher: <sha2::Sha256 as sha2::Digest>::new(),
    };
    let walked = walk_members(path, &mut h, visit);
    // Hash what the decoder left unread, so the seal covers the whole body;
    // a damaged file is reported as such rather than by its first symptom.
    std::io::copy(&mut h, &mut std::io::sink()).map_err(io(path))?;
    compare_seal(path, h, &sealed)?;
    walked
}

fn walk_members(
    path: &Path,
    body: &mut dyn std::io::Read,
    visit: &mut Visit<'_>,
) -> Result<(), ReviewError> {
    let dec = zstd::Decoder::new(body).map_err(|e| corrupt(path, format!("zstd: {e}")))?;
    let mut archive = tar::Archive::new(dec);
    let entries = archive
        .entries()
        .map_err(|e| corrupt(path, format!("tar: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| corrupt(path, format!("tar: {e}")))?;
        let name = entry
            .path()
            .map_err(|e| corrupt(path, format!("tar member name: {e}")))?
            .to_string_lossy()
            .into_owned();
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err(corrupt(
                path,
                format!("member {name} is not a regular file"),
            ));
        }
        if name.starts_with('/') || name.split('/').any(|c| c == ".." || c.is_empty()) {
            return Err(corrupt(path, format!("unsafe member name {name}")));
        }
        let size = entry
            .header()
            .size()
            .map_err(|e| corrupt(path, format!("tar: {e}")))?;
        if size > MAX_MEMBER {
            return Err(corrupt(path, format!("member {name} is {size} bytes")));
        }
        visit(name, &mut entry, size)?;
    }
    // Drain to the end so the zstd checksum is checked.
    let mut rest = archive.into_inner();
    let mut buf = [0u8; 8192];
    loop {
        let n = rest
            .read(&mut buf)
            .map_err(|e| corrupt(path, format!("zstd: {e}")))?;
        if n == 0 {
            return Ok(());
        }
        if buf.get(..n).unwrap_or_default().iter().any(|b| *b != 0) {
            return Err(corrupt(path, "data after the end of the archive".into()));
        }
    }
}

/// Read one member of `size` bytes (checked against what is there).
pub(crate) fn read_member(
    path: &Path,
    name: &str,
    entry: &mut dyn std::io::Read,
    size: u64,
) -> Result<Vec<u8>, ReviewError> {
    let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    entry
        .read_to_end(&mut data)
        .map_err(|e| corrupt(path, format!("member {name}: {e}")))?;
    Ok(data)
}
