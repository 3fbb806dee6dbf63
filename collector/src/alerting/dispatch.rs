//! The outbox dispatcher: claims due notifications (leases, `SKIP LOCKED`
//! on PostgreSQL), delivers each sink's rows in order and sinks
//! concurrently. Retries are bounded: exponential backoff with jitter (or
//! the receiver's `Retry-After`, when longer) until the sink's
//! `max_attempts` or `max_age_seconds` run out or the receiver refuses it
//! for good (a 4xx other than 408/429); then the row is marked failed and
//! counted. Leases and retry times use the system clock; a row's age is
//! measured on the service clock that stamped it.

use super::payload;
use super::sink::{Delivery, DeliveryError};
use super::Alerting;
use crate::clock::{system_ms, Clock};
use crate::store::drift::OutboxRow;
use crate::store::Store;
use rand_core::RngCore as _;

/// The longest wait a `Retry-After` can impose (one day).
const RETRY_AFTER_CAP_MS: u64 = 86_400_000;

/// What to do with a row whose attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Try again in this many ms.
    RetryIn(u64),
    /// Give up: mark failed.
    GiveUp,
}

/// Retry limits of one sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    pub initial_ms: u64,
    pub max_ms: u64,
    pub max_attempts: u32,
    pub max_age_ms: u64,
}

impl RetryPolicy {
    /// After failed attempt `attempts` (1-based) of a row queued `age_ms`
    /// ago: retry (when) or give up. `jitter` in [0, 1) spreads the
    /// exponential delay over its upper half.
    pub(crate) fn next(&self, e: &DeliveryError, attempts: u32, age_ms: u64, jitter: f64) -> Next {
        let after = match e {
            DeliveryError::Final(_) => return Next::GiveUp,
            DeliveryError::Retry { after_ms, .. } => *after_ms,
        };
        if attempts >= self.max_attempts {
            return Next::GiveUp;
        }
        let base = evident_core::drift::backoff_ms(attempts, self.initial_ms, self.max_ms);
        let jittered = base / 2 + ((base - base / 2) as f64 * jitter.clamp(0.0, 1.0)) as u64;
        let wait = after
            .map(|a| a.min(RETRY_AFTER_CAP_MS))
            .unwrap_or(0)
            .max(jittered);
        if age_ms.saturating_add(wait) > self.max_age_ms {
            return Next::GiveUp;
        }
        Next::RetryIn(wait)
    }
}

fn jitter() -> f64 {
    (rand_core::OsRng.next_u32() as f64) / (u32::MAX as f64 + 1.0)
}

impl Alerting {
    /// Claim due notifications and deliver them; whether any were claimed.
    pub async fn dispatch_once(&self, store: &dyn Store, clock: &Clock) -> bool {
        let lease = self
            .sinks
            .iter()
            .map(|s| s.config.common.timeout_ms)
            .max()
            .unwrap_or(5000)
            .saturating_mul(2)
            .saturating_add(5000);
        let rows = match store
            .claim_outbox(system_ms(), i64::try_from(lease).unwrap_or(60_000), 32)
            .await
        {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "outbox claim failed");
                return false;
            }
        };
        if rows.is_empty() {
            return false;
        }
        // Each sink's rows go in order; sinks are served concurrently so a
        // slow one does not hold the others back.
        let mut per_sink: std::collections::BTreeMap<&str, Vec<&OutboxRow>> = Default::default();
        for r in &rows {
            per_sink.entry(r.sink.as_str()).or_default().push(r);
        }
        let jobs = per_sink
            .into_iter()
            .map(|(name, rows)| self.deliver_rows(store, clock, name, rows));
        join_all(jobs.collect()).await;
        true
    }

    async fn deliver_rows(
        &self,
        store: &dyn Store,
        clock: &Clock,
        name: &str,
        rows: Vec<&OutboxRow>,
    ) {
        let sink = self.sinks.iter().find(|s| s.config.common.name == name);
        // Set once a row is retried: the later rows wait for it (order).
        let mut held_until: Option<i64> = None;
        for r in rows {
            let done = match (sink, held_until) {
                // A sink removed from the config: drop its rows.
                (None, _) => store.outbox_delivered(r.id, system_ms()).await,
                (Some(_), Some(at)) => store.outbox_release(r.id, at).await,
                // Not for this sink (its filter): done, nothing sent.
                (Some(s), None) if payload::render(r, None).is_ok_and(|b| !s.wants(&b)) => {
                    store.outbox_delivered(r.id, system_ms()).await
                }
                (Some(s), None) => {
                    let result = match payload::render(r, self.public_url.as_deref()) {
                        Ok(body) => {
                            let text = body.to_string();
                            let id = payload::delivery_id(r);
                            s.deliver(&Delivery {
                                id: &id,
                                body: &body,
                                text: &text,
                            })
                            .await
                        }
                        Err(e) => Err(DeliveryError::Final(e)),
                    };
                    match result {
                        Ok(()) => {
                            self.metrics.delivery(name, "delivered");
                            store.outbox_delivered(r.id, system_ms()).await
                        }
                        Err(e) => {
                            let c = &s.config.common;
                            let policy = RetryPolicy {
                                initial_ms: c.retry_initial_ms,
                                max_ms: c.retry_max_ms,
                                max_attempts: c.max_attempts,
                                max_age_ms: c.max_age_seconds.saturating_mul(1000),
                            };
                            let now = system_ms();
                            let attempts = u32::try_from(r.attempts).unwrap_or(u32::MAX);
                            let age = u64::try_from(clock.now_ms().saturating_sub(r.created_at))
                                .unwrap_or(0);
                            match policy.next(&e, attempts, age, jitter()) {
                                Next::RetryIn(wait) => {
                                    self.metrics.delivery(name, "retried");
                                    let at = now.saturating_add(
                                        i64::try_from(wait).unwrap_or(i64::MAX / 2),
                                    );
                                    held_until = Some(at);
                                    tracing::warn!(sink = name, alert = r.alert_id, attempt = r.attempts, retry_in_ms = wait, error = %e, "alert delivery failed; will retry");
                                    store.outbox_retry(r.id, at, &e.to_string()).await
                                }
                                Next::GiveUp => {
                                    self.metrics.delivery(name, "failed");
                                    tracing::error!(sink = name, alert = r.alert_id, attempts = r.attempts, error = %e, "alert delivery given up");
                                    store.outbox_failed(r.id, now, &e.to_string()).await
                                }
                            }
                        }
                    }
                }
            };
            if let Err(e) = done {
                tracing::error!(error = %e, "outbox update failed");
            }
        }
    }
}

async fn join_all<F: std::future::Future<Output = ()>>(futs: Vec<F>) {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futs.into_iter().map(Box::pin).collect();
    std::future::poll_fn(move |cx| {
        pinned.retain_mut(|f| f.as_mut().poll(cx).is_pending());
        if pinned.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: RetryPolicy = RetryPolicy {
        initial_ms: 1000,
        max_ms: 60_000,
        max_attempts: 5,
        max_age_ms: 3_600_000,
    };

    fn retry(after_ms: Option<u64>) -> DeliveryError {
        DeliveryError::Retry {
            reason: "HTTP 503".into(),
            after_ms,
        }
    }

    #[test]
    fn backoff_grows_with_jitter_in_the_upper_half() {
        assert_eq!(P.next(&retry(None), 1, 0, 0.0), Next::RetryIn(500));
        assert_eq!(P.next(&retry(None), 1, 0, 0.999_999), Next::RetryIn(999));
        assert_eq!(P.next(&retry(None), 3, 0, 0.0), Next::RetryIn(2000));
        // Capped by retry_max_ms.
        let mut p = P;
        p.max_attempts = 100;
        assert_eq!(p.next(&retry(None), 30, 0, 0.0), Next::RetryIn(30_000));
    }

    #[test]
    fn final_errors_attempts_and_age_give_up() {
        assert_eq!(
            P.next(&DeliveryError::Final("HTTP 400".into()), 1, 0, 0.5),
            Next::GiveUp
        );
        assert_eq!(P.next(&retry(None), 5, 0, 0.5), Next::GiveUp);
        assert!(matches!(P.next(&retry(None), 4, 0, 0.5), Next::RetryIn(_)));
        // The next attempt would come after max age.
        assert_eq!(P.next(&retry(None), 1, 3_599_900, 0.5), Next::GiveUp);
    }

    #[test]
    fn retry_after_is_honoured_when_longer_and_capped() {
        assert_eq!(P.next(&retry(Some(7000)), 1, 0, 0.0), Next::RetryIn(7000));
        // Shorter than the backoff: the backoff wins.
        assert_eq!(P.next(&retry(Some(10)), 3, 0, 0.0), Next::RetryIn(2000));
        // Longer than the sink's max age: give up now rather than later.
        assert_eq!(P.next(&retry(Some(7_200_000)), 1, 0, 0.0), Next::GiveUp);
    }
}
