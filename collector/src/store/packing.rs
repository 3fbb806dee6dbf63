//! Envelope storage form 2: the form-1 bytes (signature header line + raw
//! payload, see [`super::pack_envelope`]) compressed with zstd against a
//! fixed raw-content dictionary of what every statement repeats (JSON keys,
//! type URIs, probe ids). An unchanged v2 run is then mostly its signature
//! and digests: a few hundred bytes instead of ~900.
//!
//! The dictionary is part of the storage format: rows written with it can
//! only be read with the same bytes, so [`DICT_1`] never changes; a better
//! dictionary is a new form number.

use std::cell::RefCell;

/// Envelope storage form: form 1 compressed with zstd and [`DICT_1`].
pub(crate) const FORM_ZDICT1: i64 = 2;

/// zstd level (fast; envelopes are small).
const LEVEL: i32 = 3;

/// Largest envelope this form is used for (bigger ones keep form 1).
const MAX_INPUT: usize = 256 * 1024;

/// Dictionary 1 (frozen). The most repeated text goes last (cheapest to reference).
pub(crate) const DICT_1: &str = concat!(
    r#"{"id":"accounts","version":1,"status":"ok","duration_us":"#,
    r#"{"id":"crypto","version":1,"status":"ok","duration_us":"#,
    r#"{"id":"file-permissions","version":1,"status":"ok","duration_us":"#,
    r#"{"id":"firewall","version":1,"status":"ok","duration_us":"#,
    r#"{"id":"host","version":1,"status":"ok","duration_us":"#,
    r#"{"id":"kernel","version":1,"status":"ok","duration_us":"#,
    r#"{"id":"logging","version":1,"status":"ok","duration_us":"#,
    r#"{"id":"mac","version":1,"status":"unsupported","duration_us":"#,
    r#"{"id":"malware","version":1,"status":"not-collected","duration_us":"#,
    r#"{"id":"network","version":1,"status":"ok","duration_us":"#,
    r#"{"id":"packages","version":1,"status":"ok","duration_us":"#,
    r#"{"id":"scheduled-jobs","version":1,"status":"ok","duration_us":"#,
    r#"{"id":"services","version":1,"status":"ok","duration_us":"#,
    r#"{"id":"sshd","version":1,"status":"ok","duration_us":"#,
    r#"{"id":"time","version":1,"status":"ok","duration_us":"#,
    r#","digest":"sha256:"},"#,
    r#","reason":"needs a live system"},"#,
    r#""host":{"hostname":"","machine_id":"","os_family":"linux","os_id":"debian","os_version":"12","kernel":"6.1.0-18-amd64","arch":"x86_64"},"#,
    r#""schedule":{"cron":"0 */15 * * * *","interval_seconds":900},"probes":[{"id":"#,
    r#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"host:","digest":{"sha256":""}}],"predicateType":"https://evident.dev/evidence/v1","predicate":{"agent":{"id":"","version":"0.1.0"},"#,
    r#""sequence":1,"previous":"sha256:","gap":{"from":1,"to":2},"collected_at":"2026-11-27T14:00:00.000000000Z","#,
    r#"["application/vnd.in-toto+json",[[""," "]]]"#,
    "\n",
    r#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"host:","digest":{"sha256":""}}],"predicateType":"https://evident.dev/evidence/v2","predicate":{"agent":{"id":"","version":"0.1.0"},"sequence":1,"previous":"sha256:","collected_at":"2026-11-27T14:00:00.000000000Z","unchanged":"sha256:"}}"#,
);

thread_local! {
    static COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> =
        RefCell::new(zstd::bulk::Compressor::with_dictionary(LEVEL, DICT_1.as_bytes()).ok());
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        RefCell::new(zstd::bulk::Decompressor::with_dictionary(DICT_1.as_bytes()).ok());
}

/// Compress form-1 bytes; None when that does not make them smaller.
pub(crate) fn compress(form1: &[u8]) -> Option<Vec<u8>> {
    if form1.len() > MAX_INPUT {
        return None;
    }
    let mut out = COMPRESSOR.with(|c| c.borrow_mut().as_mut()?.compress(form1).ok())?;
    // Prefix the length so decompression knows the capacity it needs.
    let len = u32::try_from(form1.len()).ok()?;
    let mut framed = len.to_le_bytes().to_vec();
    framed.append(&mut out);
    (framed.len() < form1.len()).then_some(framed)
}

/// Decompress to form-1 bytes.
pub(crate) fn decompress(data: &[u8]) -> Result<Vec<u8>, String> {
    let (len, body) = data
        .split_first_chunk::<4>()
        .ok_or_else(|| "form 2 envelope without length".to_string())?;
    let len = u32::from_le_bytes(*len) as usize;
    if len > MAX_INPUT {
        return Err(format!("form 2 envelope claims {len} bytes"));
    }
    DECOMPRESSOR.with(|d| {
        let mut d = d.borrow_mut();
        let d = d
            .as_mut()
            .ok_or_else(|| "zstd dictionary did not load".to_string())?;
        let out = d.decompress(body, len).map_err(|e| e.to_string())?;
        if out.len() != len {
            return Err(format!(
                "form 2 envelope: {} bytes, expected {len}",
                out.len()
            ));
        }
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage() {
        let text = br#"["application/vnd.in-toto+json",[["abc","def"]]]
{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"host:web-1","digest":{"sha256":"00"}}],"predicateType":"https://evident.dev/evidence/v2","predicate":{"agent":{"id":"a1","version":"0.1.0"},"sequence":7,"collected_at":"2026-11-27T14:00:00Z","unchanged":"sha256:00"}}"#;
        let packed = compress(text).unwrap();
        assert!(packed.len() < text.len() / 2, "{}", packed.len());
        assert_eq!(decompress(&packed).unwrap(), text.to_vec());
        assert!(decompress(b"").is_err());
        assert!(decompress(b"\xff\xff\xff\xffxx").is_err());
        assert!(decompress(b"\x10\x00\x00\x00garbage").is_err());
    }
}
