//! `evident-fleet-bench populate` (issue 10): the bulk path writes the same
//! store as the writer's path. The same small fleet (fixed agent ids and
//! times, package churn so results change and drift fires) is populated
//! twice — once through `ingest_batch` one statement at a time (`--slow`,
//! the path `serve`'s writer takes), once through the bulk path — and every
//! stored and derived table must be equal; the bulk store's export must
//! then verify against the collector's key (its packages blobs stored
//! compressed). On both backends.
#![allow(clippy::unwrap_used)] // test helpers called from the #[test]s

use evident_e2e::{bin, collector, Backend, PgDb};
use std::process::Command;

/// Per table: the columns compared (`b:` marks a binary one) and the order.
const TABLES: &[(&str, &[&str], &str)] = &[
    (
        "statements s LEFT JOIN envelope_templates t ON t.id = s.template_id",
        &[
            "s.agent_id",
            "s.sequence",
            "b:s.digest",
            "s.collected_at",
            "s.received_at",
            "b:s.results",
            "s.envelope_form",
            "b:s.envelope",
            "b:t.template",
        ],
        "s.agent_id, s.sequence",
    ),
    (
        "statement_days",
        &["agent_id", "day", "first_sequence", "last_sequence"],
        "agent_id, day",
    ),
    (
        "agents",
        &[
            "id",
            "status",
            "last_sequence",
            "b:last_digest",
            "last_seen",
            "b:latest_results",
            "latest_collected_at",
        ],
        "id",
    ),
    (
        "drift_state",
        &[
            "agent_id",
            "b:results",
            "statuses",
            "interval_seconds",
            "updated_at",
        ],
        "agent_id",
    ),
    (
        "transitions",
        &[
            "agent_id",
            "subject",
            "from_status",
            "to_status",
            "sequence",
            "at",
        ],
        "agent_id, sequence, subject",
    ),
    (
        "alerts",
        &[
            "agent_id",
            "kind",
            "subject",
            "severity",
            "state",
            "baseline",
            "flapping",
            "detail",
            "opened_at",
            "updated_at",
            "resolved_at",
            "opened_sequence",
            "resolved_sequence",
        ],
        "agent_id, opened_at, kind, subject",
    ),
    (
        "outbox",
        &["event", "sink", "payload", "created_at"],
        "created_at, payload, event, sink",
    ),
    (
        "host_status",
        &["agent_id", "subject", "status", "since"],
        "agent_id, subject",
    ),
    (
        "fleet_status",
        &["subject", "status", "hosts"],
        "subject, status",
    ),
    (
        "integrity_events",
        &["agent_id", "kind", "sequence", "detail"],
        "agent_id, sequence, kind",
    ),
    ("blobs", &["b:digest", "encoding", "b:data"], "digest"),
    ("results", &["b:digest", "b:data"], "digest"),
];

/// `table` as text rows, comparable between two stores of one backend.
async fn dump(url: &str, table: &str, cols: &[&str], order: &str) -> Vec<String> {
    let sqlite = url.starts_with("sqlite:");
    let exprs: Vec<String> = cols
        .iter()
        .map(|c| match c.strip_prefix("b:") {
            Some(b) if sqlite => format!("COALESCE(lower(hex({b})), '~')"),
            Some(b) => format!("COALESCE(encode({b}, 'hex'), '~')"),
            None => format!("COALESCE(CAST({c} AS TEXT), '~')"),
        })
        .collect();
    let sql = format!(
        "SELECT {} FROM {table} ORDER BY {order}",
        exprs.join(" || '|' || ")
    );
    if sqlite {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        let rows: Vec<String> = sqlx::query_scalar(&sql).fetch_all(&pool).await.unwrap();
        pool.close().await;
        rows
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let rows: Vec<String> = sqlx::query_scalar(&sql).fetch_all(&pool).await.unwrap();
        pool.close().await;
        rows
    }
}

fn database_url(dir: &std::path::Path) -> String {
    let config = evident_collector::config::Config::load(dir).unwrap();
    config.database_url(dir)
}

/// `init` a data directory (on `pg` when given) and populate it.
fn populated(dir: &std::path::Path, pg: Option<&PgDb>, slow: bool) -> String {
    let d = dir.to_string_lossy().into_owned();
    let mut args = vec!["init", "--dir", d.as_str()];
    if let Some(pg) = pg {
        args.extend(["--database", pg.url.as_str()]);
    }
    collector(&args);
    let mut cmd = Command::new(bin("evident-fleet-bench"));
    cmd.args([
        "populate",
        "--dir",
        d.as_str(),
        "--hosts",
        "5",
        "--statements",
        "300",
        "--batch",
        "24",
        "--chunk",
        "8",
        "--churn-every",
        "7",
        "--packages",
        "60",
        "--end",
        "2026-11-01T00:00:00Z",
        "--fixed-ids",
    ]);
    if slow {
        cmd.arg("--slow");
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "populate failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn bulk_populate_equals_the_writers_path(backend: Backend) {
    let (pg_slow, pg_fast) = match backend {
        Backend::Sqlite => (None, None),
        Backend::Postgres => (Some(PgDb::create().await), Some(PgDb::create().await)),
    };
    let slow = tempfile::tempdir().unwrap();
    let fast = tempfile::tempdir().unwrap();
    populated(slow.path(), pg_slow.as_ref(), true);
    let report = populated(fast.path(), pg_fast.as_ref(), false);
    assert!(report.contains("statements written | 300"), "{report}");
    let (slow_url, fast_url) = (database_url(slow.path()), database_url(fast.path()));
    let mut total = 0;
    for (table, cols, order) in TABLES {
        let a = dump(&slow_url, table, cols, order).await;
        let b = dump(&fast_url, table, cols, order).await;
        assert_eq!(a.len(), b.len(), "{table}: row counts differ");
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x, y, "{table} differs");
        }
        total += a.len();
        if *table == "transitions" || table.starts_with("statements") || *table == "alerts" {
            assert!(!a.is_empty(), "{table}: the fleet should have written some");
        }
    }
    assert!(total > 600, "{total} rows compared");
    // Churn changed results: some transitions beyond the first statements.
    let forms = dump(
        &fast_url,
        "statements",
        &["envelope_form"],
        "agent_id, sequence",
    )
    .await;
    assert!(
        forms.iter().filter(|f| *f == "3").count() > 200,
        "most runs are unchanged and stored as form 3"
    );
    // The blobs are stored compressed (migration 150): the export below
    // reads them back through the decompressing reader.
    let encodings = dump(&fast_url, "blobs", &["encoding"], "digest").await;
    assert!(encodings.iter().any(|e| e == "1"), "{encodings:?}");
    // The bulk store exports a bundle that verifies against the collector's key.
    let d = fast.path().to_string_lossy().into_owned();
    let bundle = fast.path().join("b.tar.zst");
    let b = bundle.to_string_lossy().into_owned();
    collector(&["export", "--dir", &d, "-o", &b]);
    let key_id = evident_collector::review::collector_signer(fast.path())
        .unwrap()
        .key_id()
        .to_string();
    let out = Command::new(bin("evident-collector"))
        .args(["verify", &b, "--trust", &key_id])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for pg in [pg_slow, pg_fast].into_iter().flatten() {
        pg.drop_now().await;
    }
}

#[tokio::test]
async fn bulk_populate_equals_the_writers_path_sqlite() {
    bulk_populate_equals_the_writers_path(Backend::Sqlite).await;
}

#[tokio::test]
async fn bulk_populate_equals_the_writers_path_postgres() {
    bulk_populate_equals_the_writers_path(Backend::Postgres).await;
}
