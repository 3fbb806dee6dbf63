//! Prometheus metrics, kept in atomics and rendered as text on `GET /metrics`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Upper bounds (seconds) of the ingest latency histogram buckets.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Outcome labels of `evident_ingest_total`.
pub const OUTCOMES: [&str; 12] = [
    "stored",
    "duplicate",
    "too_large",
    "bad_request",
    "bad_signature",
    "unauthorized",
    "forbidden",
    "not_found",
    "conflict",
    "missing_blobs",
    "unavailable",
    "rate_limited",
];

/// Counters and a latency histogram.
#[derive(Debug, Default)]
pub struct Metrics {
    outcomes: [AtomicU64; 12],
    verify_failures: AtomicU64,
    /// Bad signatures under a known key id (counted, never an alert).
    pub known_key_bad_signatures: AtomicU64,
    /// Evidence refused for its time (future or too old) or sequence jump.
    pub refused_freshness: AtomicU64,
    /// Requests refused by a per-agent quota.
    pub quota_refusals: AtomicU64,
    /// Enrollment attempts refused by the per-address rate limit.
    pub enroll_throttled: AtomicU64,
    /// Connections closed at once because the connection cap was reached.
    pub connections_refused: AtomicU64,
    buckets: [AtomicU64; 12],
    latency_sum_us: AtomicU64,
    latency_count: AtomicU64,
    enrollments: AtomicU64,
    batches: AtomicU64,
    batched_items: AtomicU64,
}

impl Metrics {
    /// Count one ingest with its outcome label and latency.
    pub fn ingest(&self, outcome: &str, latency: Duration) {
        if let Some(i) = OUTCOMES.iter().position(|o| *o == outcome) {
            if let Some(c) = self.outcomes.get(i) {
                c.fetch_add(1, Relaxed);
            }
        }
        if outcome == "bad_signature" {
            self.verify_failures.fetch_add(1, Relaxed);
        }
        let secs = latency.as_secs_f64();
        for (b, bound) in self.buckets.iter().zip(BUCKETS) {
            if secs <= bound {
                b.fetch_add(1, Relaxed);
            }
        }
        self.latency_sum_us.fetch_add(
            u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
            Relaxed,
        );
        self.latency_count.fetch_add(1, Relaxed);
    }

    /// Count one enrollment.
    pub fn enrolled(&self) {
        self.enrollments.fetch_add(1, Relaxed);
    }

    /// Count one committed batch of `n` items.
    pub fn batch(&self, n: usize) {
        self.batches.fetch_add(1, Relaxed);
        self.batched_items
            .fetch_add(u64::try_from(n).unwrap_or(0), Relaxed);
    }

    /// Render as Prometheus text; `controls` is (control, status, hosts).
    pub fn render(&self, controls: &[(String, String, u64)]) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# HELP evident_ingest_total Evidence ingest requests by outcome."
        );
        let _ = writeln!(s, "# TYPE evident_ingest_total counter");
        for (o, c) in OUTCOMES.iter().zip(&self.outcomes) {
            let _ = writeln!(
                s,
                "evident_ingest_total{{outcome=\"{o}\"}} {}",
                c.load(Relaxed)
            );
        }
        let _ = writeln!(
            s,
            "# HELP evident_verification_failures_total Envelopes whose signature did not verify."
        );
        let _ = writeln!(s, "# TYPE evident_verification_failures_total counter");
        let _ = writeln!(
            s,
            "evident_verification_failures_total {}",
            self.verify_failures.load(Relaxed)
        );
        let _ = writeln!(
            s,
            "# HELP evident_ingest_duration_seconds Ingest latency, request to answer."
        );
        let _ = writeln!(s, "# TYPE evident_ingest_duration_seconds histogram");
        for (b, bound) in self.buckets.iter().zip(BUCKETS) {
            let _ = writeln!(
                s,
                "evident_ingest_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                b.load(Relaxed)
            );
        }
        let count = self.latency_count.load(Relaxed);
        let _ = writeln!(
            s,
            "evident_ingest_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            s,
            "evident_ingest_duration_seconds_sum {}",
            self.latency_sum_us.load(Relaxed) as f64 / 1e6
        );
        let _ = writeln!(s, "evident_ingest_duration_seconds_count {count}");
        let _ = writeln!(
            s,
            "# HELP evident_enrollments_total Successful enrollments."
        );
        let _ = writeln!(s, "# TYPE evident_enrollments_total counter");
        let _ = writeln!(
            s,
            "evident_enrollments_total {}",
            self.enrollments.load(Relaxed)
        );
        let _ = writeln!(s, "# HELP evident_commit_batches_total Database transactions committed by the ingest writer.");
        let _ = writeln!(s, "# TYPE evident_commit_batches_total counter");
        let _ = writeln!(
            s,
            "evident_commit_batches_total {}",
            self.batches.load(Relaxed)
        );
        let _ = writeln!(
            s,
            "evident_commit_batch_items_total {}",
            self.batched_items.load(Relaxed)
        );
        for (name, help, c) in [
            (
                "evident_known_key_bad_signatures_total",
                "Envelopes naming a known key id whose signature did not verify (no alert: unsigned input cannot alarm).",
                &self.known_key_bad_signatures,
            ),
            (
                "evident_refused_freshness_total",
                "Statements refused for their collection time or an absurd sequence jump.",
                &self.refused_freshness,
            ),
            (
                "evident_quota_refusals_total",
                "Requests refused (429) by a per-agent quota.",
                &self.quota_refusals,
            ),
            (
                "evident_enroll_throttled_total",
                "Enrollment attempts refused (429) by the per-address rate limit.",
                &self.enroll_throttled,
            ),
            (
                "evident_connections_refused_total",
                "Connections closed at once because the connection cap was reached.",
                &self.connections_refused,
            ),
        ] {
            let _ = writeln!(s, "# HELP {name} {help}");
            let _ = writeln!(s, "# TYPE {name} counter");
            let _ = writeln!(s, "{name} {}", c.load(Relaxed));
        }
        let _ = writeln!(s, "# HELP evident_control_hosts Hosts per Annex A control and status (latest evidence of active agents).");
        let _ = writeln!(s, "# TYPE evident_control_hosts gauge");
        for (control, status, n) in controls {
            let _ = writeln!(
                s,
                "evident_control_hosts{{control=\"{control}\",status=\"{status}\"}} {n}"
            );
        }
        s
    }
}
