//! How a probe blob is stored (migration 150, `blobs.encoding`): a blob is
//! addressed by the sha256 of its raw bytes whatever its encoding, and every
//! read gives back exactly those bytes or an error.
//!
//! - [`RAW`] (0): `data` holds the blob as received. Every row written
//!   before migration 150 is raw (the column's default), as is a blob where
//!   compression does not pay (under [`MIN_COMPRESS`] bytes, or saving less
//!   than an eighth) or one larger than [`MAX_BLOB_BYTES`].
//! - [`ZSTD`] (1): `data` is one zstd frame (no dictionary, so a row never
//!   depends on anything but itself) that declares its content size.
//! - [`DELTA`] (2, migration 160): `data` is one zstd frame compressed with
//!   the raw bytes of the blob `base` as its dictionary. The writer
//!   ([`pack_against`]) uses it for a host's large blob ([`DELTA_MIN`]) when
//!   the frame is at most a quarter of the blob compressed alone, against
//!   the host's last whole blob of the same [`kind`]: a package list that
//!   changed by a few lines since then costs a few hundred bytes. A base is
//!   always a whole blob (raw or zstd), so a read costs at most two rows,
//!   and blobs are never deleted, so a base outlives its deltas.
//!
//! Reading ([`unpack`]) refuses a frame that declares no size or more than
//! [`MAX_BLOB_BYTES`] before decompressing anything, decompresses into
//! exactly the declared size (a frame that holds more is an error, so a
//! crafted row cannot make a reader allocate more than the limit), and
//! checks the digest of the result — of a raw row too: a damaged row is
//! [`StoreError::Corrupt`], never other bytes.

use super::StoreError;
use crate::limits::MAX_BLOB_BYTES;
use evident_core::Digest;
use std::borrow::Cow;
use std::cell::RefCell;

/// `blobs.encoding`: the bytes as received.
pub(crate) const RAW: i64 = 0;
/// `blobs.encoding`: one zstd frame declaring its content size.
pub(crate) const ZSTD: i64 = 1;

/// `blobs.encoding`: a zstd frame against the raw bytes of `blobs.base`.
pub(crate) const DELTA: i64 = 2;

/// Blobs smaller than this are never stored as deltas, nor become a base
/// (a host's small probe outputs compress on their own).
pub(crate) const DELTA_MIN: usize = 4096;

/// The first bytes of a zstd dictionary: a base starting with them would be
/// loaded as a trained dictionary, not as raw content, so it is not used.
const DICT_MAGIC: [u8; 4] = [0x37, 0xa4, 0x30, 0xec];

/// What a host's large blob is compared against: its first bytes (a probe's
/// JSON begins with its first field's name, so one probe's outputs share
/// them). A wrong match costs compression only: the delta is kept only
/// when it is small.
pub(crate) fn kind(data: &[u8]) -> &[u8] {
    &data[..data.len().min(24)]
}

/// Blobs smaller than this stay raw (a frame header and the row's overhead
/// eat what compression would save).
pub(crate) const MIN_COMPRESS: usize = 128;

/// zstd level: package lists (the blobs that change) come out ~8 % smaller
/// than at level 3 for ~0.2 ms per 16 KB, paid once per new blob.
const LEVEL: i32 = 6;

thread_local! {
    static COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> =
        RefCell::new(zstd::bulk::Compressor::new(LEVEL).ok());
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        RefCell::new(zstd::bulk::Decompressor::new().ok());
}

/// The (encoding, bytes) to store for `data`: compressed when that saves
/// at least an eighth, else raw.
pub(crate) fn pack(data: &[u8]) -> (i64, Cow<'_, [u8]>) {
    if data.len() < MIN_COMPRESS || data.len() > MAX_BLOB_BYTES {
        return (RAW, Cow::Borrowed(data));
    }
    let z = COMPRESSOR.with(|c| c.borrow_mut().as_mut()?.compress(data).ok());
    match z {
        Some(z) if z.len() <= data.len() - data.len() / 8 => (ZSTD, Cow::Owned(z)),
        _ => (RAW, Cow::Borrowed(data)),
    }
}

/// `data` (of at least [`DELTA_MIN`] bytes) as a [`DELTA`] frame against
/// `base` (the raw bytes of a whole blob), when that frame is at most a
/// quarter of `alone` bytes (the blob as [`pack`] stores it); else None.
pub(crate) fn pack_against(data: &[u8], base: &[u8], alone: usize) -> Option<Vec<u8>> {
    if data.len() < DELTA_MIN || data.len() > MAX_BLOB_BYTES || base.starts_with(&DICT_MAGIC) {
        return None;
    }
    let mut c = zstd::bulk::Compressor::with_dictionary(LEVEL, base).ok()?;
    let z = c.compress(data).ok()?;
    (z.len().saturating_mul(4) <= alone).then_some(z)
}

/// The raw bytes of the row of `digest` stored as (`encoding`, `data`),
/// checked against the digest; `base` is the raw bytes of the row's base
/// (a [`DELTA`] row needs it; other rows ignore it).
pub(crate) fn unpack(
    digest: &Digest,
    encoding: i64,
    data: Vec<u8>,
    base: Option<&[u8]>,
) -> Result<Vec<u8>, StoreError> {
    unpack_within(digest, encoding, data, base, MAX_BLOB_BYTES)
}

/// [`unpack`] of a row read as the base of a delta: a whole blob, never
/// itself a delta (a base is always whole, so a read costs two rows at most).
pub(crate) fn unpack_base(
    digest: &Digest,
    encoding: i64,
    data: Vec<u8>,
) -> Result<Vec<u8>, StoreError> {
    if encoding == DELTA {
        return Err(StoreError::Corrupt(format!(
            "blob {digest}: a delta where a delta's base (a whole blob) is needed"
        )));
    }
    unpack(digest, encoding, data, None)
}

fn unpack_within(
    digest: &Digest,
    encoding: i64,
    data: Vec<u8>,
    base: Option<&[u8]>,
    limit: usize,
) -> Result<Vec<u8>, StoreError> {
    let corrupt = |why: String| StoreError::Corrupt(format!("blob {digest}: {why}"));
    let bytes = match encoding {
        RAW => data,
        ZSTD | DELTA => {
            let declared = match zstd::zstd_safe::get_frame_content_size(&data) {
                Ok(Some(n)) => n,
                Ok(None) => return Err(corrupt("zstd frame without a content size".into())),
                Err(_) => return Err(corrupt("not a zstd frame".into())),
            };
            let size = usize::try_from(declared)
                .ok()
                .filter(|n| *n <= limit)
                .ok_or_else(|| {
                    corrupt(format!(
                        "zstd frame declares {declared} bytes, more than the {limit} a blob may hold"
                    ))
                })?;
            let out = if encoding == DELTA {
                let base = base.ok_or_else(|| corrupt("delta without its base".into()))?;
                zstd::bulk::Decompressor::with_dictionary(base)
                    .and_then(|mut d| d.decompress(&data, size))
                    .map_err(|e| e.to_string())
            } else {
                DECOMPRESSOR.with(|d| {
                    let mut d = d.borrow_mut();
                    let d = d
                        .as_mut()
                        .ok_or_else(|| "zstd decompressor unavailable".to_string())?;
                    d.decompress(&data, size).map_err(|e| e.to_string())
                })
            };
            let out = out.map_err(|e| corrupt(format!("zstd: {e}")))?;
            if out.len() != size {
                return Err(corrupt(format!(
                    "zstd frame gave {} bytes, declared {size}",
                    out.len()
                )));
            }
            out
        }
        other => return Err(corrupt(format!("unknown encoding {other}"))),
    };
    if evident_core::sha256_digest(&bytes) != *digest {
        return Err(corrupt("content does not match its digest".into()));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use evident_core::sha256_digest;

    fn packages(n: usize) -> Vec<u8> {
        let names: Vec<String> = (0..n).map(|i| format!("lib{}-{i}", i % 37)).collect();
        serde_json::to_vec(&serde_json::json!({ "installed_names": names })).unwrap()
    }

    #[test]
    fn compressible_blobs_round_trip_compressed() {
        let data = packages(600);
        let (enc, stored) = pack(&data);
        assert_eq!(enc, ZSTD);
        assert!(
            stored.len() < data.len() / 2,
            "{} of {}",
            stored.len(),
            data.len()
        );
        let d = sha256_digest(&data);
        assert_eq!(unpack(&d, enc, stored.into_owned(), None).unwrap(), data);
    }

    /// A realistic package inventory: `n` packages with versions and
    /// source packages, the ones at `bumped` upgraded.
    fn inventory(n: usize, bumped: &[usize]) -> Vec<u8> {
        let pkgs: Vec<serde_json::Value> = (0..n)
            .map(|i| {
                let v = if bumped.contains(&i) {
                    "2.41-1+deb12u2"
                } else {
                    "2.36-9+deb12u1"
                };
                serde_json::json!({
                    "name": format!("lib{}-{i}", i % 37),
                    "version": format!("{}.{v}", i % 11),
                    "arch": if i % 5 == 0 { "all" } else { "amd64" },
                    "source": format!("src{}", i % 211),
                })
            })
            .collect();
        serde_json::to_vec(&serde_json::json!({ "manager": "dpkg", "inventory": pkgs })).unwrap()
    }

    #[test]
    fn a_changed_inventory_is_stored_as_a_small_delta_against_the_last() {
        let week1 = inventory(900, &[]);
        let week2 = inventory(900, &[3, 70, 400, 401, 899]);
        let (enc, alone) = pack(&week2);
        assert_eq!(enc, ZSTD);
        let delta = pack_against(&week2, &week1, alone.len()).expect("a delta pays");
        assert!(
            delta.len() * 20 < alone.len(),
            "delta {} vs alone {}",
            delta.len(),
            alone.len()
        );
        let d = sha256_digest(&week2);
        assert_eq!(
            unpack(&d, DELTA, delta.clone(), Some(&week1)).unwrap(),
            week2
        );
        // Without its base, or against another base: corrupt, never other bytes.
        let e = unpack(&d, DELTA, delta.clone(), None).unwrap_err();
        assert!(e.to_string().contains("without its base"), "{e}");
        let other = inventory(900, &[1, 2]);
        let e = unpack(&d, DELTA, delta.clone(), Some(&other)).unwrap_err();
        assert!(matches!(e, StoreError::Corrupt(_)), "{e}");
        let mut bad = delta.clone();
        let at = bad.len() / 2;
        bad[at] ^= 0x40;
        assert!(matches!(
            unpack(&d, DELTA, bad, Some(&week1)),
            Err(StoreError::Corrupt(_))
        ));
        // Small blobs, unrelated bases and dictionary-looking bases: no delta.
        assert_eq!(pack_against(br#"{"a":1}"#, &week1, 100), None);
        let noise: Vec<u8> = (0..8192u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        assert_eq!(pack_against(&week2, &noise, alone.len()), None);
        let mut dict_like = DICT_MAGIC.to_vec();
        dict_like.extend_from_slice(&week1);
        assert_eq!(pack_against(&week2, &dict_like, alone.len()), None);
        assert_eq!(kind(&week1), kind(&week2));
    }

    #[test]
    fn small_or_incompressible_blobs_stay_raw() {
        let small = br#"{"status":"ok"}"#;
        assert_eq!(pack(small), (RAW, Cow::Borrowed(&small[..])));
        // Pseudo-random bytes do not compress by an eighth.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let (enc, stored) = pack(&noise);
        assert_eq!(enc, RAW);
        assert_eq!(&*stored, &noise[..]);
        let d = sha256_digest(&noise);
        assert_eq!(unpack(&d, RAW, noise.clone(), None).unwrap(), noise);
    }

    #[test]
    fn damaged_rows_are_corrupt_never_other_bytes() {
        let data = packages(600);
        let d = sha256_digest(&data);
        let (_, stored) = pack(&data);
        let stored = stored.into_owned();
        // A flipped byte in the body: garbage or a zstd error, never data.
        for at in [stored.len() / 2, stored.len() - 1, 5] {
            let mut bad = stored.clone();
            bad[at] ^= 0x55;
            let e = unpack(&d, ZSTD, bad, None).unwrap_err();
            assert!(matches!(e, StoreError::Corrupt(_)), "{e}");
        }
        // Truncated, empty, not zstd, unknown encoding, raw row altered.
        let e = unpack(&d, ZSTD, stored[..stored.len() / 2].to_vec(), None).unwrap_err();
        assert!(matches!(e, StoreError::Corrupt(_)), "{e}");
        assert!(matches!(
            unpack(&d, ZSTD, Vec::new(), None),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            unpack(&d, ZSTD, data.clone(), None),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            unpack(&d, 7, stored.clone(), None),
            Err(StoreError::Corrupt(_))
        ));
        let mut raw = data.clone();
        raw[3] ^= 1;
        let e = unpack(&d, RAW, raw, None).unwrap_err();
        assert!(e.to_string().contains("does not match its digest"), "{e}");
        // A valid frame of other content.
        let other = packages(601);
        let e = unpack(&d, ZSTD, pack(&other).1.into_owned(), None).unwrap_err();
        assert!(e.to_string().contains("does not match its digest"), "{e}");
    }

    #[test]
    fn frames_beyond_the_limit_or_their_declared_size_are_refused() {
        use std::io::Write as _;
        let d = Digest([0; 32]);
        // Declares more than the limit: refused before decompressing.
        let big = vec![0u8; 64 * 1024];
        let frame = zstd::bulk::compress(&big, 3).unwrap();
        assert!(frame.len() < 100);
        let e = unpack_within(&d, ZSTD, frame.clone(), None, 32 * 1024).unwrap_err();
        assert!(e.to_string().contains("declares 65536 bytes"), "{e}");
        // No declared size (a streamed frame): refused.
        let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        enc.include_contentsize(false).unwrap();
        enc.write_all(&big).unwrap();
        let no_size = enc.finish().unwrap();
        let e = unpack_within(&d, ZSTD, no_size, None, usize::MAX).unwrap_err();
        assert!(e.to_string().contains("without a content size"), "{e}");
        // Two frames, the first declaring a little: never more than declared.
        let mut two = zstd::bulk::compress(&big[..1000], 3).unwrap();
        two.extend_from_slice(&frame);
        let e = unpack_within(&d, ZSTD, two, None, usize::MAX).unwrap_err();
        assert!(matches!(e, StoreError::Corrupt(_)), "{e}");
    }
}
