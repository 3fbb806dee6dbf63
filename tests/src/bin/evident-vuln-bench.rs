//! `evident-vuln-bench`: the collector's vulnerability re-match at fleet
//! scale (issue #18), on a real SQLite store.
//!
//! Imports a tracker file (write one with `cargo run -p evident-core
//! --example vuln-bench -- --keep FILE`), enrolls `--hosts` agents each with
//! one statement whose packages inventory has `--packages` packages
//! (`--in-feed` of them from sources the feed knows, random versions; the
//! rest local packages the feed does not list), then measures the full
//! background re-match (`service::vuln_rematch::rematch`, cold caches: every
//! inventory distinct), the ingest-time work after one host's inventory
//! changes (`VulnState::derive`: one match and its first-seen times), and a
//! second re-match with warm caches (it must match no inventory: `inventories`
//! counts those matched, not taken from the cache); then the fleet view
//! (`vuln_fleet`, the maintained counts of migration 140) against the
//! `GROUP BY` over every open row it replaced, checked equal.
//!
//! `evident-vuln-bench --feed FILE [--hosts 1000] [--packages 500] [--in-feed 500] [--dir DIR] [--backend sqlite|postgres] [--url URL]`
//!
//! `--backend postgres` needs `--url` naming an empty database (the store's
//! migrations create the tables); SQLite writes `DIR/bench.db`.
#![allow(clippy::disallowed_methods)]

use anyhow::{Context as _, Result};
use evident_collector::service::vuln::{read_feed, store_snapshot};
use evident_collector::service::vuln_rematch::rematch;
use evident_collector::service::vuln_state::{packages_digest, VulnState};
use evident_collector::store::{self, EnrollOutcome, IngestItem, NewAgent, NewToken, Store};
use evident_core::evidence::{
    AgentInfo, HostFacts, Predicate, ProbeEntry, ProbeStatus, Schedule, Statement, PAYLOAD_TYPE,
};
use evident_core::vuln::index::FeedFormat;
use evident_core::wire::AgentStatus;
use evident_core::{sha256_digest, Digest, Signer};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn num(name: &str, default: usize) -> usize {
    arg(name).and_then(|v| v.parse().ok()).unwrap_or(default)
}

struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

fn inventory(rng: &mut Rng, h: usize, packages: usize, in_feed: usize, bump: bool) -> Vec<u8> {
    let inv: Vec<serde_json::Value> = (0..packages)
        .map(|p| {
            let (source, version) = if p < in_feed {
                let v = format!(
                    "{}.10.{}-{}+deb12u{}",
                    1 + rng.below(5),
                    rng.below(30),
                    1 + rng.below(4),
                    1 + rng.below(9) + u64::from(bump && p == 0) * 10
                );
                (format!("src{}", (p * 11 + h % 7) % 6000), v)
            } else {
                (format!("local{p}"), "1.0-1".to_string())
            };
            serde_json::json!({"name": format!("pkg{p}"), "version": version, "arch": "amd64",
                "source": source, "source_version": version})
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "manager": "dpkg", "inventory_collected": true, "os_id": "debian",
        "os_version_id": "12", "os_codename": "bookworm", "inventory": inv,
        "kernel_running": null
    }))
    .unwrap_or_default()
}

fn statement(agent: &str, seq: u64, at: i64, blob: &[u8], key: &Signer) -> (Statement, Vec<u8>) {
    let st = Statement::new(Predicate {
        agent: AgentInfo {
            id: agent.into(),
            version: "bench".into(),
        },
        host: HostFacts {
            hostname: format!("host-{agent}"),
            os_family: "linux".into(),
            ..HostFacts::default()
        },
        sequence: seq,
        previous: None,
        gap: None,
        collected_at: chrono::DateTime::from_timestamp_millis(at).unwrap_or_default(),
        schedule: Schedule {
            cron: "0 0 * * * *".into(),
            interval_seconds: 3600,
        },
        probes: vec![ProbeEntry {
            id: "packages".into(),
            version: 3,
            status: ProbeStatus::Ok,
            duration_us: 1,
            digest: Some(sha256_digest(blob)),
            reason: None,
        }],
    });
    let env = key.sign_envelope(PAYLOAD_TYPE, st.to_bytes()).to_json();
    (st, env)
}

fn item(
    agent: &str,
    seq: i64,
    at: i64,
    env: Vec<u8>,
    blob: Vec<u8>,
    vs_update: bool,
) -> IngestItem {
    let results = b"{}".to_vec();
    let d = sha256_digest(&env);
    let packages = sha256_digest(&blob);
    IngestItem {
        agent_id: agent.into(),
        sequence: seq,
        previous: None,
        declared_gap: None,
        envelope_digest: d,
        envelope: Arc::new(env),
        collected_at: at,
        received_at: at,
        blobs: vec![(packages, Arc::new(blob))],
        results_digest: sha256_digest(&results),
        results: Some(Arc::new(results)),
        drift: None,
        vuln: vs_update.then(|| {
            Arc::new(store::VulnUpdate {
                agent_id: agent.into(),
                statement: store::vuln::StatementRef {
                    sequence: seq,
                    digest: d,
                    at,
                },
                packages: Some(packages),
                refresh_last: false,
                new: vec![],
                gone: vec![],
            })
        }),
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let feed = arg("--feed").context("--feed FILE (a Debian tracker file)")?;
    let hosts = num("--hosts", 1000);
    let packages = num("--packages", 500);
    let in_feed = num("--in-feed", 500).min(packages);
    let dir = std::path::PathBuf::from(arg("--dir").unwrap_or_else(|| "/tmp/vuln-bench".into()));
    std::fs::create_dir_all(&dir)?;
    let url = match (arg("--backend").as_deref(), arg("--url")) {
        (_, Some(url)) => url,
        (None | Some("sqlite"), None) => format!("sqlite://{}", dir.join("bench.db").display()),
        (Some(b), None) => anyhow::bail!("--backend {b} needs --url (an empty database)"),
    };
    let st: Arc<dyn Store> = store::open(&url, 4, Duration::from_secs(30)).await?;
    println!("store: {}", url.split(':').next().unwrap_or_default());
    let now = chrono::Utc::now().timestamp_millis();

    let t = Instant::now();
    let read = read_feed(std::path::Path::new(&feed), FeedFormat::DebianTracker)?;
    let info = store_snapshot(&*st, &read, &feed, now).await?;
    println!(
        "import + store: {:.2} s, {} entries, peak RSS so far {:.0} MiB",
        t.elapsed().as_secs_f64(),
        info.entries,
        peak_rss_mib()
    );

    st.create_token(&NewToken {
        id: "bench".into(),
        hash: sha256_digest(b"bench").0,
        created_at: 1,
        expires_at: None,
        max_uses: None,
    })
    .await?;
    let mut rng = Rng(0xfeed_beef_0000_0001);
    let t = Instant::now();
    let mut batch = Vec::new();
    for h in 0..hosts {
        let id = format!("a{h:05}");
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&(h as u64 + 1).to_le_bytes());
        let out = st
            .enroll(
                &sha256_digest(b"bench").0,
                &NewAgent {
                    id: id.clone(),
                    key_id: hex::encode(sha256_digest(&key).0),
                    public_key: key.to_vec(),
                    hostname: format!("host-{h}"),
                    agent_version: "bench".into(),
                    status: AgentStatus::Active,
                    now,
                },
            )
            .await?;
        anyhow::ensure!(matches!(out, EnrollOutcome::Enrolled(_)), "enroll {out:?}");
        let blob = inventory(&mut rng, h, packages, in_feed, false);
        let (_, env) = statement(&id, 1, now, &blob, &Signer::from_seed(&key));
        batch.push(item(&id, 1, now, env, blob, true));
        if batch.len() == 200 {
            st.ingest_batch(&batch).await?;
            batch.clear();
        }
    }
    st.ingest_batch(&batch).await?;
    println!("{hosts} hosts stored: {:.2} s", t.elapsed().as_secs_f64());

    let vs = VulnState::default();
    let t = Instant::now();
    let full = rematch(&*st, &vs).await?.context("no snapshot")?;
    println!(
        "full re-match (cold): {:.2} s wall, {:?}",
        t.elapsed().as_secs_f64(),
        full.1
    );

    // One host's inventory changes: what ingest does for it.
    let h = 0usize;
    let id = format!("a{h:05}");
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&(h as u64 + 1).to_le_bytes());
    let blob = inventory(&mut Rng(0xfeed_beef_0000_0001), h, packages, in_feed, true);
    let (stmt, env) = statement(&id, 2, now + 1000, &blob, &Signer::from_seed(&key));
    let digest: Digest = sha256_digest(&env);
    let blobs: BTreeMap<Digest, Vec<u8>> = [(
        packages_digest(&stmt).map_err(anyhow::Error::msg)?,
        blob.clone(),
    )]
    .into_iter()
    .collect();
    let t = Instant::now();
    let got = vs.derive(&*st, &stmt, digest, &blobs).await?;
    let one = t.elapsed();
    let mut it = item(&id, 2, now + 1000, env, blob, false);
    it.vuln = got.update.map(Arc::new);
    st.ingest_batch(std::slice::from_ref(&it)).await?;
    println!(
        "one host's inventory changed, ingest-time match + first seen: {:.1} ms ({} open on it)",
        one.as_secs_f64() * 1000.0,
        got.derived
            .as_ref()
            .and_then(|d| d.entry.data.as_ref())
            .and_then(|v| v["open_count"].as_u64())
            .unwrap_or(0)
    );
    let t = Instant::now();
    let warm = rematch(&*st, &vs).await?.context("no snapshot")?;
    println!(
        "re-match again (warm caches, one inventory changed): {:.2} s wall, {:?}",
        t.elapsed().as_secs_f64(),
        warm.1
    );
    fleet_view(&*st, &url).await?;
    st.close().await;
    Ok(())
}

/// The fleet view at this fleet: `vuln_fleet` (the maintained counts) and
/// the `GROUP BY` over every open row of active hosts it replaced, each
/// timed over 20 reads, their answers checked equal.
async fn fleet_view(st: &dyn Store, url: &str) -> Result<()> {
    const GROUP_BY: &str =
        "SELECT f.cve, f.source, COUNT(*), MIN(f.first_at) FROM vuln_first_seen f \
         JOIN agents a ON a.id = f.agent_id AND a.status = 'active' \
         WHERE f.resolved_sequence IS NULL GROUP BY f.cve, f.source \
         ORDER BY COUNT(*) DESC, f.cve, f.source LIMIT 50";
    const READS: u32 = 20;
    let open = st.vuln_first_seen(None, false).await?.len();
    st.vuln_fleet(50).await?; // warm: connections open, pages cached
    let t = Instant::now();
    let mut counted = Vec::new();
    for _ in 0..READS {
        counted = st.vuln_fleet(50).await?;
    }
    let maintained = t.elapsed() / READS;
    let mut grouped: Vec<(String, String, i64, i64)> = Vec::new();
    let group_by = if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await?;
        sqlx::query(GROUP_BY).fetch_all(&pool).await?;
        let t = Instant::now();
        for _ in 0..READS {
            grouped = sqlx::query_as(GROUP_BY).fetch_all(&pool).await?;
        }
        let took = t.elapsed();
        pool.close().await;
        took
    } else {
        let pool = sqlx::PgPool::connect(url).await?;
        sqlx::query(GROUP_BY).fetch_all(&pool).await?;
        let t = Instant::now();
        for _ in 0..READS {
            grouped = sqlx::query_as(GROUP_BY).fetch_all(&pool).await?;
        }
        let took = t.elapsed();
        pool.close().await;
        took
    } / READS;
    let counted: Vec<(String, String, i64, i64)> = counted
        .into_iter()
        .map(|f| (f.cve, f.source, f.hosts, f.first_seen))
        .collect();
    anyhow::ensure!(
        counted == grouped,
        "the maintained counts differ from the GROUP BY"
    );
    println!(
        "fleet view, top 50 of {open} open rows: maintained counts {:.2} ms, GROUP BY {:.2} ms (mean of {READS}; same answer)",
        maintained.as_secs_f64() * 1000.0,
        group_by.as_secs_f64() * 1000.0
    );
    Ok(())
}

/// This process's peak resident set (`VmHWM`), MiB.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}
