//! Vulnerability feeds (issue #18): reading a feed file (Debian Security
//! Tracker JSON, OSV `all.zip` or a directory of OSV JSON records) into the
//! core's compact index, and storing it as a snapshot by the feed's sha256.
//! A feed that does not parse is refused whole and nothing is stored, so the
//! previous snapshot stays in force.

use crate::store::{SnapshotInfo, Store, StoreError};
use evident_core::vuln::feed::{
    add_osv_record, parse_debian_tracker, FeedError, HashingReader, OsvStats,
};
use evident_core::vuln::index::{FeedFormat, SnapshotIndex};
use sha2::{Digest as _, Sha256};
use std::io::Read;
use std::path::Path;

/// The largest OSV record read (real ones are a few KiB).
const MAX_RECORD: u64 = 16 << 20;
/// The largest compressed index read back from the store.
const MAX_INDEX: usize = 1 << 30;

/// Why a feed was not imported.
#[derive(Debug, thiserror::Error)]
pub enum VulnError {
    /// The feed is malformed, truncated or empty.
    #[error(transparent)]
    Feed(#[from] FeedError),
    /// The file could not be read.
    #[error("{path}: {message}")]
    Io {
        /// The path.
        path: String,
        /// The error.
        message: String,
    },
    /// The OSV archive is not a readable zip.
    #[error("{path}: not a readable zip archive: {message}")]
    Zip {
        /// The path.
        path: String,
        /// The error.
        message: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored index could not be decoded.
    #[error("snapshot {digest}: stored index is unreadable: {message}")]
    Stored {
        /// The snapshot.
        digest: String,
        /// Why.
        message: String,
    },
}

/// A feed read into an index.
#[derive(Debug)]
pub struct ReadFeed {
    /// The index.
    pub index: SnapshotIndex,
    /// `sha256:<hex>` of the feed bytes (a directory: of its member list
    /// with each member's sha256).
    pub digest: String,
    /// Bytes read.
    pub bytes: u64,
    /// OSV counts (OSV feeds only).
    pub osv: Option<OsvStats>,
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> VulnError + '_ {
    move |e| VulnError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// The format a path holds when none is given: a directory or a `.zip` is
/// OSV, anything else the Debian tracker.
pub fn guess_format(path: &Path) -> FeedFormat {
    let zip = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("zip"));
    if path.is_dir() || zip {
        FeedFormat::Osv
    } else {
        FeedFormat::DebianTracker
    }
}

/// Read a feed file or directory.
pub fn read_feed(path: &Path, format: FeedFormat) -> Result<ReadFeed, VulnError> {
    let shown = path.display().to_string();
    match format {
        FeedFormat::DebianTracker => {
            let file = std::fs::File::open(path).map_err(io_err(path))?;
            let mut reader = HashingReader::new(file);
            let index = parse_debian_tracker(&mut reader, &shown)?;
            let (digest, bytes) = reader.finish();
            Ok(ReadFeed {
                index,
                digest: digest.to_string(),
                bytes,
                osv: None,
            })
        }
        FeedFormat::Osv if path.is_dir() => read_osv_dir(path),
        FeedFormat::Osv => read_osv_zip(path),
    }
}

fn finish_osv(
    index: SnapshotIndex,
    stats: OsvStats,
    digest: String,
    bytes: u64,
    shown: &str,
) -> Result<ReadFeed, VulnError> {
    if index.releases.is_empty() {
        return Err(FeedError::Empty {
            file: shown.to_string(),
            message: format!(
                "{} OSV records, none for a known distribution release (Debian:N, Ubuntu:N, AlmaLinux:N, Rocky Linux:N)",
                stats.records
            ),
        }
        .into());
    }
    Ok(ReadFeed {
        index,
        digest,
        bytes,
        osv: Some(stats),
    })
}

fn read_osv_dir(dir: &Path) -> Result<ReadFeed, VulnError> {
    let shown = dir.display().to_string();
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .map_err(io_err(dir))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json") && p.is_file())
        .collect();
    names.sort();
    let mut index = SnapshotIndex::new(FeedFormat::Osv);
    let mut stats = OsvStats::default();
    let mut listing = Sha256::new();
    let mut bytes = 0u64;
    for p in &names {
        let mut buf = Vec::new();
        std::fs::File::open(p)
            .map_err(io_err(p))?
            .take(MAX_RECORD + 1)
            .read_to_end(&mut buf)
            .map_err(io_err(p))?;
        if buf.len() as u64 > MAX_RECORD {
            return Err(VulnError::Io {
                path: p.display().to_string(),
                message: format!("larger than {MAX_RECORD} bytes: not an OSV record"),
            });
        }
        bytes += buf.len() as u64;
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        listing.update(format!("{name}\0{}\n", hex::encode(Sha256::digest(&buf))).as_bytes());
        add_osv_record(&mut index, &p.display().to_string(), &buf, &mut stats)?;
    }
    let digest = format!("sha256:{}", hex::encode(listing.finalize()));
    finish_osv(index, stats, digest, bytes, &shown)
}

fn read_osv_zip(path: &Path) -> Result<ReadFeed, VulnError> {
    let shown = path.display().to_string();
    let data = std::fs::read(path).map_err(io_err(path))?;
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&data)));
    let zip_err = |e: zip::result::ZipError| VulnError::Zip {
        path: shown.clone(),
        message: e.to_string(),
    };
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&data)).map_err(zip_err)?;
    let mut index = SnapshotIndex::new(FeedFormat::Osv);
    let mut stats = OsvStats::default();
    let mut buf = Vec::new();
    for i in 0..archive.len() {
        let mut member = archive.by_index(i).map_err(zip_err)?;
        if !member.is_file() || !member.name().ends_with(".json") {
            continue;
        }
        let name = format!("{shown}:{}", member.name());
        buf.clear();
        (&mut member)
            .take(MAX_RECORD + 1)
            .read_to_end(&mut buf)
            .map_err(|e| VulnError::Zip {
                path: name.clone(),
                message: e.to_string(),
            })?;
        if buf.len() as u64 > MAX_RECORD {
            return Err(VulnError::Zip {
                path: name,
                message: format!("member larger than {MAX_RECORD} bytes"),
            });
        }
        add_osv_record(&mut index, &name, &buf, &mut stats)?;
    }
    finish_osv(index, stats, digest, data.len() as u64, &shown)
}

/// Store a read feed as a snapshot (the newest: the one in force).
pub async fn store_snapshot(
    store: &dyn Store,
    feed: &ReadFeed,
    source: &str,
    now_ms: i64,
) -> Result<SnapshotInfo, VulnError> {
    let json = serde_json::to_vec(&feed.index).map_err(|e| VulnError::Stored {
        digest: feed.digest.clone(),
        message: e.to_string(),
    })?;
    let zst = zstd::bulk::compress(&json, 3).map_err(io_err(Path::new(source)))?;
    let releases: Vec<String> = feed
        .index
        .releases
        .keys()
        .map(ToString::to_string)
        .collect();
    let info = SnapshotInfo {
        digest: feed.digest.clone(),
        format: feed.index.format.as_str().to_string(),
        source: source.to_string(),
        imported_at: now_ms,
        feed_bytes: i64::try_from(feed.bytes).unwrap_or(i64::MAX),
        entries: i64::try_from(feed.index.entry_count()).unwrap_or(i64::MAX),
        cves: i64::try_from(feed.index.cve_count()).unwrap_or(i64::MAX),
        releases: releases.join(","),
    };
    store.put_vuln_snapshot(&info, &zst).await?;
    Ok(info)
}

/// The snapshot in force (or one by digest) with its index.
pub async fn load_snapshot(
    store: &dyn Store,
    digest: Option<&str>,
) -> Result<Option<(SnapshotInfo, SnapshotIndex)>, VulnError> {
    let Some((info, zst)) = store.vuln_snapshot_index(digest).await? else {
        return Ok(None);
    };
    let stored = |message: String| VulnError::Stored {
        digest: info.digest.clone(),
        message,
    };
    let mut json = Vec::new();
    zstd::Decoder::new(zst.as_slice())
        .map_err(|e| stored(e.to_string()))?
        .take(MAX_INDEX as u64)
        .read_to_end(&mut json)
        .map_err(|e| stored(e.to_string()))?;
    let index = serde_json::from_slice(&json).map_err(|e| stored(e.to_string()))?;
    Ok(Some((info, index)))
}

/// One host's match against the snapshot in force.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HostVulns {
    /// Agent id.
    pub agent_id: String,
    /// Host name as enrolled.
    pub hostname: String,
    /// Sequence of the statement whose inventory was matched.
    pub sequence: i64,
    /// Its collection time (Unix ms).
    pub collected_at: i64,
    /// The match (or why there is none: `note`).
    #[serde(flatten)]
    pub matched: evident_core::vuln::HostMatch,
    /// What the policies read (`vulns`): open CVEs with first seen, age and
    /// fix at the statement's collection time, and the CVEs current CVE
    /// waivers take out (`waived`, with justification and expiry). Set by
    /// [`with_view`].
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub vulns: serde_json::Value,
}

impl HostVulns {
    /// Open CVEs with a fix that no CVE waiver covers (from the view).
    pub fn actionable(&self) -> u64 {
        self.vulns
            .get("actionable_count")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0)
    }
}

/// Fill each host's `vulns` view: first seen from the stored state (else
/// the statement itself), ages at the statement's collection time, the
/// current CVE waivers of `waivers` applied — the data the policies read.
pub async fn with_view(
    store: &dyn Store,
    snapshot: &str,
    format: FeedFormat,
    waivers: &[evident_core::policy::waiver::Waiver],
    hosts: &mut [HostVulns],
) -> Result<(), VulnError> {
    use evident_core::vuln::probe::{apply_cve_waivers, probe_data, FirstSeen};
    let rows = if hosts.len() == 1 {
        store
            .vuln_first_seen(Some(&hosts[0].agent_id), false)
            .await?
    } else {
        store.vuln_first_seen(None, false).await?
    };
    let mut seen: std::collections::HashMap<&str, FirstSeen> = std::collections::HashMap::new();
    for r in &rows {
        if let Some(t) = chrono::DateTime::from_timestamp_millis(r.first.at) {
            seen.entry(r.agent_id.as_str())
                .or_default()
                .insert((r.cve.clone(), r.source.clone()), t);
        }
    }
    let empty = FirstSeen::new();
    for h in hosts.iter_mut() {
        let at = chrono::DateTime::from_timestamp_millis(h.collected_at).unwrap_or_default();
        let mut v = probe_data(
            &h.matched,
            snapshot,
            format,
            seen.get(h.agent_id.as_str()).unwrap_or(&empty),
            at,
        );
        apply_cve_waivers(&mut v, waivers, &h.hostname, at.date_naive());
        h.vulns = v;
    }
    Ok(())
}

/// One agent's latest inventory matched against `index` (None: it has no
/// statement).
pub async fn match_agent(
    store: &dyn Store,
    a: &crate::store::AgentRecord,
    index: &SnapshotIndex,
) -> Result<Option<HostVulns>, VulnError> {
    use evident_core::evidence::{ProbeStatus, Statement};
    use evident_core::vuln::{match_host, HostMatch, Inventory};
    use evident_core::Envelope;
    let Some(row) = store.statements(&a.id, None, 1).await?.into_iter().next() else {
        return Ok(None);
    };
    let none = |note: String| HostMatch {
        note,
        ..HostMatch::default()
    };
    let matched = match store.statement(&row.digest).await? {
        None => none("the latest statement is not stored".into()),
        Some((_, env)) => {
            let payload = Envelope::from_json(&env).map(|e| e.payload);
            let content = match payload
                .as_deref()
                .map(evident_core::evidence::Parsed::from_bytes)
            {
                Ok(Ok(evident_core::evidence::Parsed::Unchanged(u))) => {
                    store.blobs(&[u.content]).await?
                }
                _ => Default::default(),
            };
            let st = payload.map_err(|e| e.to_string()).and_then(|p| {
                Statement::from_bytes_with(&p, |d| content.get(d).map(Vec::as_slice))
                    .map_err(|e| e.to_string())
            });
            match st {
                Err(e) => none(format!("the latest statement is unreadable: {e}")),
                Ok(st) => {
                    let entry = st.predicate.probes.iter().find(|p| p.id == "packages");
                    match entry
                        .and_then(|p| (p.status == ProbeStatus::Ok).then_some(p.digest).flatten())
                    {
                        None => none("the packages probe did not report an inventory".into()),
                        Some(d) => {
                            let blobs = store.blobs(&[d]).await?;
                            let inv = blobs
                                .get(&d)
                                .ok_or_else(|| "its packages blob is not stored".to_string())
                                .and_then(|b| {
                                    serde_json::from_slice::<serde_json::Value>(b)
                                        .map_err(|e| e.to_string())
                                })
                                .and_then(|v| Inventory::from_probe(&v));
                            match inv {
                                Ok(inv) => match_host(&inv, index),
                                Err(e) => none(e),
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(Some(HostVulns {
        agent_id: a.id.clone(),
        hostname: a.hostname.clone(),
        sequence: row.sequence,
        collected_at: row.collected_at,
        matched,
        vulns: serde_json::Value::Null,
    }))
}

/// The latest inventory of every active host matched against `index`
/// (pure matching in core; this only reads statements and blobs).
pub async fn match_fleet(
    store: &dyn Store,
    index: &SnapshotIndex,
    host: Option<&str>,
) -> Result<Vec<HostVulns>, VulnError> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let agents = store.list_agents(after.as_deref(), 500).await?;
        let Some(last) = agents.last() else { break };
        after = Some(last.id.clone());
        for a in agents {
            if a.status != evident_core::wire::AgentStatus::Active
                || host.is_some_and(|h| h != a.hostname)
            {
                continue;
            }
            out.extend(match_agent(store, &a, index).await?);
        }
    }
    Ok(out)
}
