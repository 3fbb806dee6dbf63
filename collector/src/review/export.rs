//! `export` to a bundle file without holding the bundle: members go into
//! the compressed archive as they are read from the store, the statement
//! index is spooled to an unlinked temporary file, and the signed manifest
//! (one digest per member) is written last. Memory: the manifest entries and
//! the sets of blob, result and policy digests to include, not the
//! envelopes, blobs or index.

use super::bundle_file::BundleWriter;
use super::error::{io, ReviewError};
use super::gather::{gather_into, ExportFilter, Sink};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use evident_core::bundle::{self, IndexEntry, Manifest};
use evident_core::dsse::Signer;
use evident_policies::Sources;
use sha2::Digest as _;
use std::io::Write as _;
use std::path::Path;

/// Members written straight into a [`BundleWriter`].
pub struct BundleSink {
    writer: BundleWriter,
    index: std::io::BufWriter<std::fs::File>,
    index_len: u64,
    index_hash: sha2::Sha256,
    first: bool,
}

impl BundleSink {
    fn new(writer: BundleWriter) -> Result<BundleSink, ReviewError> {
        let tmp = std::env::temp_dir();
        let file = tempfile::tempfile().map_err(io(&tmp))?;
        let mut s = BundleSink {
            writer,
            index: std::io::BufWriter::with_capacity(1 << 16, file),
            index_len: 0,
            index_hash: sha2::Sha256::new(),
            first: true,
        };
        s.index_bytes(b"{\"statements\":[")?;
        Ok(s)
    }

    fn index_bytes(&mut self, b: &[u8]) -> Result<(), ReviewError> {
        self.index.write_all(b).map_err(io(&std::env::temp_dir()))?;
        self.index_hash.update(b);
        self.index_len += b.len() as u64;
        Ok(())
    }
}

impl Sink for BundleSink {
    fn put(&mut self, path: String, bytes: Vec<u8>) -> Result<(), ReviewError> {
        self.writer.append(&path, &bytes)
    }

    fn index_entry(&mut self, entry: &IndexEntry) -> Result<(), ReviewError> {
        let mut b = Vec::with_capacity(320);
        if !self.first {
            b.push(b',');
        }
        self.first = false;
        serde_json::to_writer(&mut b, entry)
            .map_err(|e| ReviewError::Invalid(format!("index entry: {e}")))?;
        self.index_bytes(&b)
    }

    fn finish_index(&mut self) -> Result<(), ReviewError> {
        self.index_bytes(b"]}")?;
        self.index.flush().map_err(io(&std::env::temp_dir()))?;
        let digest = evident_core::Digest(self.index_hash.clone().finalize().into());
        let file = self.index.get_mut();
        self.writer
            .append_file(bundle::INDEX_PATH, file, self.index_len, digest)
    }
}

/// Who seals the bundle, when, with what.
#[derive(Clone, Copy)]
pub struct Seal<'a> {
    /// The collector's signing key.
    pub signer: &'a Signer,
    /// The manifest's creation time.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// The generator named in the manifest.
    pub generator: &'a str,
}

/// What [`export_bundle`] wrote.
#[derive(Debug, Clone)]
pub struct Exported {
    /// Members, manifest and collector key included.
    pub members: usize,
    /// Statements.
    pub envelopes: usize,
    /// Hosts (agents).
    pub hosts: usize,
    /// File size in bytes.
    pub size: u64,
    /// Policy files cited by exported results that could not be included.
    pub missing_policies: Vec<String>,
}

/// Export the statements `filter` selects from `store` to a signed bundle
/// at `path`, streaming (see the module documentation). The bundle holds
/// the same members as [`super::gather`] followed by
/// [`evident_core::bundle::seal`] would, in another order.
pub async fn export_bundle(
    store: &dyn crate::store::Store,
    current: &Sources,
    filter: &ExportFilter,
    path: &Path,
    seal: &Seal<'_>,
    progress: impl FnMut(u64),
) -> Result<Exported, ReviewError> {
    let Seal {
        signer,
        created_at,
        generator,
    } = *seal;
    let mut sink = BundleSink::new(BundleWriter::create(path)?)?;
    let gathered = gather_into(store, current, filter, &mut sink, progress).await;
    let BundleSink { mut writer, .. } = sink;
    let missing_policies = match gathered {
        Ok(m) => m,
        Err(e) => {
            writer.abandon();
            return Err(e);
        }
    };
    let mut entries = writer.take_entries();
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    let envelopes = entries
        .iter()
        .filter(|e| e.path.starts_with("envelopes/"))
        .count();
    let hosts = entries
        .iter()
        .filter(|e| e.path.starts_with("agents/"))
        .count();
    let manifest = Manifest {
        format: bundle::FORMAT.to_string(),
        created_at,
        generator: generator.to_string(),
        collector_key_id: signer.key_id().to_string(),
        scope: super::gather::scope(filter),
        members: entries,
    };
    let listed = manifest.members.len();
    let signed = manifest.sign(signer);
    drop(manifest);
    writer.append(bundle::MANIFEST_PATH, &signed)?;
    writer.append(
        bundle::COLLECTOR_KEY_PATH,
        format!("{}\n", B64.encode(signer.verifying_key().as_bytes())).as_bytes(),
    )?;
    let members = listed + writer.len();
    let size = writer.finish()?;
    Ok(Exported {
        members,
        envelopes,
        hosts,
        size,
        missing_policies,
    })
}
