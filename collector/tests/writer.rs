//! The ingest writer's group commit (`service::writer`): when it finds more
//! than one envelope queued it lingers for more before committing; a lone
//! envelope is committed at once. Counted by the writer's own metrics
//! (`evident_commit_batches_total`, `evident_commit_batch_items_total`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use evident_collector::metrics::{Metrics, Snapshot};
use evident_collector::service::writer;
use evident_collector::store::{self, IngestItem, IngestOutcome};
use evident_core::sha256_digest;
use std::sync::Arc;
use std::time::Duration;

/// A run of an agent the store does not know: the writer commits it and
/// answers `Refused`, which is all the batching needs.
fn item(seq: i64) -> IngestItem {
    let envelope = format!("{{\"seq\":{seq}}}").into_bytes();
    let results = b"{}".to_vec();
    IngestItem {
        agent_id: format!("agent-{seq}"),
        sequence: seq,
        previous: None,
        declared_gap: None,
        envelope_digest: sha256_digest(&envelope),
        envelope: Arc::new(envelope),
        collected_at: 1000,
        received_at: 2000,
        blobs: Vec::new(),
        results_digest: sha256_digest(&results),
        results: Some(Arc::new(results)),
        drift: None,
        vuln: None,
    }
}

/// `name`'s value in the metrics' text exposition.
fn counter(metrics: &Metrics, name: &str) -> u64 {
    let text = metrics.render(&Snapshot::default(), false);
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

/// A writer's handle and metrics, its stop sender and its store's directory.
type Started = (
    writer::WriterHandle,
    Arc<Metrics>,
    tokio::sync::watch::Sender<bool>,
    tempfile::TempDir,
);

/// A writer over a new SQLite store; it runs while the returned stop
/// sender and directory live.
async fn start(linger: Duration) -> Started {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("w.db").display());
    let store = store::open(&url, 2, Duration::from_secs(5)).await.unwrap();
    let metrics = Arc::new(Metrics::default());
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let (handle, _task) = writer::spawn(store, metrics.clone(), 512, linger, stop);
    (handle, metrics, stop_tx, dir)
}

/// Two runs queued together, then a third `late` after them: the writer's
/// transactions and the runs they held.
async fn batches(linger: Duration, late: Duration) -> (u64, u64) {
    let (handle, metrics, _stop, _dir) = start(linger).await;
    // On this current-thread runtime the writer runs only once this test
    // awaits: both submissions are queued before it first looks.
    let a = tokio::spawn({
        let h = handle.clone();
        async move { h.submit(item(1)).await }
    });
    let b = tokio::spawn({
        let h = handle.clone();
        async move { h.submit(item(2)).await }
    });
    tokio::time::sleep(late).await;
    let c = handle.submit(item(3)).await;
    for outcome in [a.await.unwrap(), b.await.unwrap(), c] {
        assert_eq!(outcome, Ok(IngestOutcome::Refused(None)));
    }
    (
        counter(&metrics, "evident_commit_batches_total"),
        counter(&metrics, "evident_commit_batch_items_total"),
    )
}

#[tokio::test]
async fn a_busy_writer_lingers_for_more_runs_before_committing() {
    // Two queued: the writer waits up to 2 s, and the third, sent 100 ms
    // later, joins their transaction.
    let (n, items) = batches(Duration::from_secs(2), Duration::from_millis(100)).await;
    assert_eq!((n, items), (1, 3));
}

#[tokio::test]
async fn without_a_linger_the_writer_commits_what_is_queued() {
    let (n, items) = batches(Duration::ZERO, Duration::from_millis(100)).await;
    assert_eq!((n, items), (2, 3));
}

#[tokio::test]
async fn a_lone_run_is_committed_at_once() {
    let (handle, metrics, _stop, _dir) = start(Duration::from_secs(30)).await;
    // A linger of 30 s would time this out; a lone run does not wait for it.
    let outcome = tokio::time::timeout(Duration::from_secs(10), handle.submit(item(1)))
        .await
        .expect("a lone run waited for the linger");
    assert_eq!(outcome, Ok(IngestOutcome::Refused(None)));
    assert_eq!(counter(&metrics, "evident_commit_batches_total"), 1);
}
