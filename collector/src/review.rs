//! Evidence review I/O around [`evident_core::bundle`]: the collector's own
//! signing key, gathering a bundle's members from the store, and the bundle
//! file itself (a tar archive compressed with zstd, content checksum on, so
//! any changed byte of the file is detected).

use crate::store::{PolicyFileRecord, Store, StoreError};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use evident_core::bundle::{
    self, agent_path, blob_path, envelope_path, results_path, AgentEntry, Index, IndexEntry,
    PolicyFileEntry, PolicyKind, Scope,
};
use evident_core::policy::PolicySource;
use evident_core::{Digest, Signer, Statement};
use evident_policies::Sources;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read as _, Write as _};
use std::path::Path;

/// Why a review operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("policies: {0}")]
    Policies(#[from] evident_policies::LoadError),
    #[error("{0}")]
    Invalid(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ReviewError + '_ {
    move |source| ReviewError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// File name of the collector's signing key inside the data directory.
pub const COLLECTOR_KEY_FILE: &str = "collector.key";

/// The collector's Ed25519 key (`DIR/collector.key`, hex seed, mode 0600),
/// created when missing.
pub fn collector_signer(dir: &Path) -> Result<Signer, ReviewError> {
    let path = dir.join(COLLECTOR_KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let mut seed = [0u8; 32];
            hex::decode_to_slice(text.trim(), &mut seed).map_err(|_| {
                ReviewError::Invalid(format!("{}: not a 32-byte hex key", path.display()))
            })?;
            Ok(Signer::from_seed(&seed))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            use rand_core::RngCore as _;
            let mut seed = [0u8; 32];
            rand_core::OsRng.fill_bytes(&mut seed);
            std::fs::create_dir_all(dir).map_err(io(dir))?;
            crate::server::write_private(&path, format!("{}\n", hex::encode(seed)).as_bytes())
                .map_err(|e| ReviewError::Invalid(e.to_string()))?;
            Ok(Signer::from_seed(&seed))
        }
        Err(e) => Err(io(&path)(e)),
    }
}

/// The store records of `sources` (kept by `serve` before it evaluates).
pub fn policy_records(sources: &Sources, now_ms: i64) -> Vec<PolicyFileRecord> {
    let record = |s: &PolicySource, kind: PolicyKind| PolicyFileRecord {
        digest: evident_core::sha256_digest(&s.bytes),
        name: s.name.clone(),
        kind: kind_name(kind).to_string(),
        data: s.bytes.clone(),
        first_loaded_at: now_ms,
    };
    sources
        .policies
        .iter()
        .map(|s| record(s, PolicyKind::Policy))
        .chain(
            sources
                .waivers
                .iter()
                .map(|w| record(w, PolicyKind::Waivers)),
        )
        .collect()
}

fn kind_name(kind: PolicyKind) -> &'static str {
    match kind {
        PolicyKind::Policy => "policy",
        PolicyKind::Waivers => "waivers",
    }
}

/// The files a recorded result cites (the rest of the results is not read).
#[derive(serde::Deserialize)]
struct Cited {
    policies: Vec<evident_core::policy::PolicyRef>,
    #[serde(default)]
    waivers: Option<evident_core::policy::SourceRef>,
}

/// A bundle's members, and what could not be included.
#[derive(Debug, Default)]
pub struct Gathered {
    /// Path → exact bytes.
    pub members: BTreeMap<String, Vec<u8>>,
    /// Policy files cited by exported results that neither the store nor the
    /// current configuration holds (results recorded before the collector
    /// kept policy files); `verify` will name the statements concerned.
    pub missing_policies: Vec<String>,
}

/// What to export.
#[derive(Debug, Clone, Default)]
pub struct ExportFilter {
    /// Host names or agent ids (empty: all).
    pub hosts: Vec<String>,
    /// Collected at or after.
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// Collected at or before.
    pub until: Option<chrono::DateTime<chrono::Utc>>,
}

fn ms_time(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// Gather the members of a bundle from the store (everything except the
/// signed manifest and the collector key, which [`bundle::seal`] adds). The
/// policy files are those the exported results cite, from the store's kept
/// files (else `current`, the files configured now, when a digest matches).
pub async fn gather(
    store: &dyn Store,
    current: &Sources,
    filter: &ExportFilter,
    mut progress: impl FnMut(u64),
) -> Result<Gathered, ReviewError> {
    let mut members: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut index = Index::default();
    let mut blobs: BTreeSet<Digest> = BTreeSet::new();
    let mut results: BTreeSet<Digest> = BTreeSet::new();
    let mut after: Option<String> = None;
    let mut matched_hosts = BTreeSet::new();
    loop {
        let page = store.list_agents(after.as_deref(), 500).await?;
        for a in &page {
            if !filter.hosts.is_empty()
                && !filter.hosts.iter().any(|h| *h == a.hostname || *h == a.id)
            {
                continue;
            }
            matched_hosts.insert(a.hostname.clone());
            matched_hosts.insert(a.id.clone());
            let record = AgentEntry {
                id: a.id.clone(),
                key_id: a.key_id.clone(),
                public_key: B64.encode(&a.public_key),
                hostname: a.hostname.clone(),
                agent_version: a.agent_version.clone(),
                status: a.status.as_str().to_string(),
                enrolled_at: ms_time(a.enrolled_at),
            };
            members.insert(
                agent_path(&a.id),
                serde_json::to_vec_pretty(&record).unwrap_or_default(),
            );
            let mut after_seq = None;
            loop {
                let rows = store
                    .export_statements(
                        &a.id,
                        after_seq,
                        filter.since.map(|t| t.timestamp_millis()),
                        filter.until.map(|t| t.timestamp_millis()),
                        1000,
                    )
                    .await?;
                for (row, bytes) in &rows {
                    let sequence = u64::try_from(row.sequence).unwrap_or_default();
                    let path = envelope_path(&a.id, sequence);
                    if let Ok(env) = evident_core::Envelope::from_json(bytes) {
                        if let Ok(st) = Statement::from_bytes(&env.payload) {
                            blobs.extend(st.blob_digests());
                        }
                    }
                    results.insert(row.results);
                    index.statements.push(IndexEntry {
                        agent: a.id.clone(),
                        sequence,
                        envelope: row.digest,
                        path: path.clone(),
                        collected_at: ms_time(row.collected_at),
                        received_at: ms_time(row.received_at),
                        results: row.results,
                    });
                    members.insert(path, bytes.clone());
                    progress(1);
                }
                after_seq = rows.last().map(|(r, _)| r.sequence);
                if rows.len() < 1000 {
                    break;
                }
            }
        }
        if page.len() < 500 {
            break;
        }
        after = page.last().map(|a| a.id.clone());
    }
    for h in &filter.hosts {
        if !matched_hosts.contains(h) {
            return Err(ReviewError::Invalid(format!(
                "no enrolled host or agent `{h}`"
            )));
        }
    }
    for a in store.attesters().await? {
        let entry = bundle::AttesterEntry {
            key_id: a.key_id.clone(),
            name: a.name.clone(),
            public_key: B64.encode(&a.public_key),
        };
        members.insert(
            bundle::attester_path(&a.key_id),
            serde_json::to_vec_pretty(&entry).unwrap_or_default(),
        );
    }
    for att in store.attestations().await? {
        if let Ok(env) = evident_core::Envelope::from_json(&att.envelope) {
            if let Ok(parsed) =
                serde_json::from_slice::<evident_core::attestation::Attestation>(&env.payload)
            {
                blobs.extend(parsed.evidence.iter().map(|d| d.sha256));
            }
        }
        members.insert(bundle::attestation_path(&att.digest), att.envelope);
    }
    let wanted: Vec<Digest> = blobs.into_iter().collect();
    for chunk in wanted.chunks(2000) {
        for (d, data) in store.blobs(chunk).await? {
            members.insert(blob_path(&d), data);
        }
    }
    // Policy files cited by the exported results: digest → (name, kind).
    let mut cited: BTreeMap<Digest, (String, PolicyKind)> = BTreeMap::new();
    for d in results {
        if let Some(data) = store.results(&d).await? {
            if let Ok(c) = serde_json::from_slice::<Cited>(&data) {
                for p in c.policies {
                    cited
                        .entry(p.sha256)
                        .or_insert((p.source, PolicyKind::Policy));
                }
                if let Some(w) = c.waivers {
                    cited
                        .entry(w.sha256)
                        .or_insert((w.name, PolicyKind::Waivers));
                }
            }
            members.insert(results_path(&d), data);
        }
    }
    let wanted: Vec<Digest> = cited.keys().copied().collect();
    let mut found: BTreeMap<Digest, Vec<u8>> = store
        .policy_files(&wanted)
        .await?
        .into_iter()
        .map(|f| (f.digest, f.data))
        .collect();
    for s in current.policies.iter().chain(current.waivers.iter()) {
        let d = evident_core::sha256_digest(&s.bytes);
        if cited.contains_key(&d) {
            found.entry(d).or_insert_with(|| s.bytes.clone());
        }
    }
    let mut files = Vec::new();
    let mut missing_policies = Vec::new();
    for (digest, (name, kind)) in cited {
        let Some(bytes) = found.remove(&digest) else {
            missing_policies.push(format!("{name} {digest}"));
            continue;
        };
        let base = name
            .rsplit(['/', ':'])
            .next()
            .filter(|b| !b.is_empty())
            .unwrap_or("policy.toml");
        // The index holds the full digest; 16 hex digits keep names short.
        let hex = digest.hex();
        let path = format!("policies/{}-{base}", hex.get(..16).unwrap_or(&hex));
        files.push(PolicyFileEntry {
            name,
            path: path.clone(),
            sha256: digest,
            kind,
        });
        members.insert(path, bytes);
    }
    members.insert(
        bundle::POLICY_INDEX_PATH.to_string(),
        serde_json::to_vec_pretty(&files).unwrap_or_default(),
    );
    members.insert(
        bundle::INDEX_PATH.to_string(),
        serde_json::to_vec(&index).unwrap_or_default(),
    );
    Ok(Gathered {
        members,
        missing_policies,
    })
}

/// Build the scope recorded in the manifest.
pub fn scope(filter: &ExportFilter) -> Scope {
    Scope {
        hosts: filter.hosts.clone(),
        since: filter.since,
        until: filter.until,
    }
}

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
