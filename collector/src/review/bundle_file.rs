//! The bundle file: a tar archive compressed with zstd (content checksum
//! on), sealed by a trailing zstd skippable frame holding the sha256 of
//! every byte before it, so any changed byte of the file is detected.

use super::error::{io, ReviewError};
use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::path::Path;

/// Write members as tar + zstd (with content checksum), atomically.
pub fn write_bundle(path: &Path, members: &BTreeMap<String, Vec<u8>>) -> Result<u64, ReviewError> {
    let tmp = path.with_extension("partial");
    let file = std::fs::File::create(&tmp).map_err(io(&tmp))?;
    let mut enc = zstd::Encoder::new(std::io::BufWriter::new(file), 6).map_err(io(&tmp))?;
    enc.include_checksum(true).map_err(io(&tmp))?;
    let mut tar = tar::Builder::new(enc);
    tar.mode(tar::HeaderMode::Deterministic);
    for (name, data) in members {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, name, data.as_slice())
            .map_err(io(&tmp))?;
    }
    let enc = tar.into_inner().map_err(io(&tmp))?;
    let mut w = enc.finish().map_err(io(&tmp))?;
    w.flush().map_err(io(&tmp))?;
    let mut file = w.into_inner().map_err(|e| io(&tmp)(e.into_error()))?;
    file.sync_all().map_err(io(&tmp))?;
    // Seal the file itself: a zstd skippable frame holding the sha256 of
    // every byte before it, so a change to any byte (even one the zstd
    // decoder would tolerate, such as the window descriptor) is detected.
    let written = std::fs::read(&tmp).map_err(io(&tmp))?;
    let digest = evident_core::sha256_digest(&written);
    let mut trailer = Vec::with_capacity(TRAILER_LEN);
    trailer.extend_from_slice(&TRAILER_MAGIC.to_le_bytes());
    trailer.extend_from_slice(&32u32.to_le_bytes());
    trailer.extend_from_slice(&digest.0);
    file.write_all(&trailer).map_err(io(&tmp))?;
    file.sync_all().map_err(io(&tmp))?;
    let size = file.metadata().map_err(io(&tmp))?.len();
    std::fs::rename(&tmp, path).map_err(io(path))?;
    Ok(size)
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
    let file = std::fs::read(path).map_err(io(path))?;
    let corrupt = |what: String| {
        ReviewError::Invalid(format!(
            "{}: the bundle file is damaged or not an Evident bundle ({what})",
            path.display()
        ))
    };
    let split = file
        .len()
        .checked_sub(TRAILER_LEN)
        .ok_or_else(|| corrupt("too short".into()))?;
    let (body, trailer) = file.split_at(split);
    if trailer.get(..4) != Some(&TRAILER_MAGIC.to_le_bytes()[..])
        || trailer.get(4..8) != Some(&32u32.to_le_bytes()[..])
    {
        return Err(corrupt("the file digest trailer is missing".into()));
    }
    let actual = evident_core::sha256_digest(body);
    if trailer.get(8..) != Some(&actual.0[..]) {
        return Err(corrupt(format!(
            "file digest mismatch: the file was changed after export (content is {actual})"
        )));
    }
    let dec = zstd::Decoder::new(body).map_err(|e| corrupt(format!("zstd: {e}")))?;
    let mut archive = tar::Archive::new(dec);
    let mut members = BTreeMap::new();
    let entries = archive
        .entries()
        .map_err(|e| corrupt(format!("tar: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| corrupt(format!("tar: {e}")))?;
        let name = entry
            .path()
            .map_err(|e| corrupt(format!("tar member name: {e}")))?
            .to_string_lossy()
            .into_owned();
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err(corrupt(format!("member {name} is not a regular file")));
        }
        if name.starts_with('/') || name.split('/').any(|c| c == ".." || c.is_empty()) {
            return Err(corrupt(format!("unsafe member name {name}")));
        }
        let size = entry
            .header()
            .size()
            .map_err(|e| corrupt(format!("tar: {e}")))?;
        if size > MAX_MEMBER {
            return Err(corrupt(format!("member {name} is {size} bytes")));
        }
        let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        entry
            .read_to_end(&mut data)
            .map_err(|e| corrupt(format!("member {name}: {e}")))?;
        if members.insert(name.clone(), data).is_some() {
            return Err(corrupt(format!("member {name} appears twice")));
        }
    }
    // Drain to the end so the zstd checksum is checked.
    let mut rest = archive.into_inner();
    let mut sink = Vec::new();
    rest.read_to_end(&mut sink)
        .map_err(|e| corrupt(format!("zstd: {e}")))?;
    if sink.iter().any(|b| *b != 0) {
        return Err(corrupt("data after the end of the archive".into()));
    }
    Ok(members)
}
