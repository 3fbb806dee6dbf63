//! `export` to a bundle file without holding the bundle: members go into
//! the compressed archive as they are read from the store; the statement
//! index and the manifest are written in pieces of at most
//! [`bundle::PIECE_ENTRIES`] entries as they fill (bundle format v2), and
//! the signed root, listing the manifest pieces, last. Memory: one index
//! piece, one manifest piece and the sets of blob, result and policy
//! digests to include, not the envelopes, blobs or the whole index.

use super::bundle_file::BundleWriter;
use super::error::ReviewError;
use super::gather::{gather_into, ExportFilter, Sink};
use evident_core::bundle::{self, IndexEntry, Manifest};
use evident_core::dsse::Signer;
use evident_policies::Sources;
use std::path::Path;

/// Members written straight into a [`BundleWriter`] (pieced), the index in
/// pieces of [`bundle::PIECE_ENTRIES`] entries.
pub struct BundleSink {
    writer: BundleWriter,
    index: Vec<IndexEntry>,
    index_pieces: usize,
    envelopes: usize,
    hosts: usize,
}

impl BundleSink {
    fn new(writer: BundleWriter) -> BundleSink {
        BundleSink {
            writer: writer.pieced(),
            index: Vec::with_capacity(bundle::PIECE_ENTRIES),
            index_pieces: 0,
            envelopes: 0,
            hosts: 0,
        }
    }

    fn write_index_piece(&mut self) -> Result<(), ReviewError> {
        let bytes = bundle::index_piece_bytes(&self.index);
        self.index.clear();
        let name = bundle::index_piece_path(self.index_pieces);
        self.index_pieces += 1;
        self.writer.append(&name, &bytes)
    }
}

impl Sink for BundleSink {
    fn put(&mut self, path: String, bytes: Vec<u8>) -> Result<(), ReviewError> {
        if path.starts_with("envelopes/") {
            self.envelopes += 1;
        } else if path.starts_with("agents/") {
            self.hosts += 1;
        }
        self.writer.append(&path, &bytes)
    }

    fn index_entry(&mut self, entry: &IndexEntry) -> Result<(), ReviewError> {
        self.index.push(entry.clone());
        if self.index.len() >= bundle::PIECE_ENTRIES {
            self.write_index_piece()?;
        }
        Ok(())
    }

    fn finish_index(&mut self) -> Result<(), ReviewError> {
        if !self.index.is_empty() {
            self.write_index_piece()?;
        }
        Ok(())
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
    let mut sink = BundleSink::new(BundleWriter::create(path)?);
    let gathered = gather_into(store, current, filter, &mut sink, progress).await;
    let BundleSink {
        mut writer,
        envelopes,
        hosts,
        ..
    } = sink;
    let missing_policies = match gathered {
        Ok(m) => m,
        Err(e) => {
            writer.abandon();
            return Err(e);
        }
    };
    let pieces = match writer.finish_pieces() {
        Ok(p) => p,
        Err(e) => {
            writer.abandon();
            return Err(e);
        }
    };
    let manifest = Manifest {
        format: bundle::FORMAT.to_string(),
        created_at,
        generator: generator.to_string(),
        collector_key_id: signer.key_id().to_string(),
        scope: super::gather::scope(filter),
        members: pieces,
    };
    let signed = manifest.sign(signer);
    drop(manifest);
    writer.append(bundle::MANIFEST_PATH, &signed)?;
    writer.append(
        bundle::COLLECTOR_KEY_PATH,
        &bundle::collector_key_member(signer),
    )?;
    let members = writer.count();
    let size = writer.finish()?;
    Ok(Exported {
        members,
        envelopes,
        hosts,
        size,
        missing_policies,
    })
}
