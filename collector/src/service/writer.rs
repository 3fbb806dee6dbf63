//! The single ingest writer: takes queued, already verified envelopes and
//! commits them in one transaction per batch (group commit), answering each
//! request only after its batch committed. If a batch fails, its items are
//! retried one by one so one bad item cannot sink the others.
//!
//! When it finds more than one envelope queued (the collector is busy), it
//! lingers up to `batch_linger_ms` for more before committing, so a busy
//! collector pays a commit (an fsync, the batch's lookups) for more runs at
//! once; a lone envelope is committed at once.

use crate::metrics::Metrics;
use crate::store::{IngestItem, IngestOutcome, Store, StoreError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

/// One queued ingest.
pub struct Job {
    /// What to store.
    pub item: IngestItem,
    /// Where the outcome goes.
    pub reply: oneshot::Sender<Result<IngestOutcome, String>>,
}

/// Handle to the writer task.
#[derive(Clone)]
pub struct WriterHandle {
    tx: mpsc::Sender<Job>,
}

impl WriterHandle {
    /// Queue an item and wait until its batch committed (or failed).
    pub async fn submit(&self, item: IngestItem) -> Result<IngestOutcome, String> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job { item, reply })
            .await
            .map_err(|_| "ingest writer stopped".to_string())?;
        rx.await.map_err(|_| "ingest writer stopped".to_string())?
    }
}

/// Start the writer. It stops when `stop` turns true, after storing what is queued.
pub fn spawn(
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    max_batch: usize,
    linger: Duration,
    mut stop: watch::Receiver<bool>,
) -> (WriterHandle, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<Job>(max_batch.saturating_mul(4).max(64));
    let task = tokio::spawn(async move {
        let mut buf = Vec::with_capacity(max_batch);
        loop {
            let n = tokio::select! {
                n = rx.recv_many(&mut buf, max_batch) => n,
                _ = stop.changed() => {
                    rx.close();
                    while rx.recv_many(&mut buf, max_batch).await > 0 {
                        commit(&*store, &metrics, std::mem::take(&mut buf)).await;
                    }
                    break;
                }
            };
            if n == 0 {
                break;
            }
            if n > 1 && !linger.is_zero() {
                gather(&mut rx, &mut buf, max_batch, linger).await;
            }
            commit(&*store, &metrics, std::mem::take(&mut buf)).await;
        }
    });
    (WriterHandle { tx }, task)
}

/// Add to `buf` what arrives within `linger`, up to `max_batch` items.
async fn gather(
    rx: &mut mpsc::Receiver<Job>,
    buf: &mut Vec<Job>,
    max_batch: usize,
    linger: Duration,
) {
    let deadline = tokio::time::Instant::now() + linger;
    while buf.len() < max_batch {
        let room = max_batch - buf.len();
        match tokio::time::timeout_at(deadline, rx.recv_many(buf, room)).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
}

async fn commit(store: &dyn Store, metrics: &Metrics, mut jobs: Vec<Job>) {
    // Same agent's items keep their order; agents are locked in id order.
    jobs.sort_by(|a, b| a.item.agent_id.cmp(&b.item.agent_id));
    let items: Vec<IngestItem> = jobs.iter().map(|j| j.item.clone()).collect();
    match store.ingest_batch(&items).await {
        Ok(done) => {
            metrics.batch(jobs.len(), done.bulk);
            for (job, outcome) in jobs.into_iter().zip(done.outcomes) {
                let _ = job.reply.send(Ok(outcome));
            }
        }
        Err(e) if jobs.len() == 1 => reply_err(jobs, &e),
        Err(e) => {
            tracing::warn!(error = %e, items = jobs.len(), "batch commit failed; retrying items one by one");
            for job in jobs {
                let result = store
                    .ingest_batch(std::slice::from_ref(&job.item))
                    .await
                    .and_then(|mut v| {
                        v.outcomes
                            .pop()
                            .ok_or_else(|| StoreError::Corrupt("no outcome".into()))
                    });
                if result.is_ok() {
                    metrics.batch(1, 0);
                }
                let _ = job.reply.send(result.map_err(|e| e.to_string()));
            }
        }
    }
}

fn reply_err(jobs: Vec<Job>, e: &StoreError) {
    for job in jobs {
        let _ = job.reply.send(Err(e.to_string()));
    }
}
