//! Prometheus metrics on `GET /metrics`, through `prometheus-client`.
//!
//! Two registries make one scrape: the long-lived one here (counters, the
//! ingest latency histogram, build info, process series read from
//! `/proc/self` at scrape time) and one built per scrape from the database
//! ([`Snapshot`]: fleet status counts, open alerts, the outbox). Every
//! family has HELP and TYPE, and every label set that is known in advance
//! (ingest outcomes, controls × statuses, alert kinds × severities,
//! configured sinks × delivery outcomes) is present with 0 before anything
//! happens, so a series never appears out of nowhere.
//!
//! Help texts are registered without a final period: `prometheus-client`
//! adds one.
//!
//! The answer is the Prometheus text format 0.0.4 (what `promtool check
//! metrics` and every scraper read), or OpenMetrics 1.0 when the scraper's
//! `Accept` header asks for `application/openmetrics-text`.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric as _};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
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

/// Outcome labels of `evident_alert_deliveries_total`: `delivered`,
/// `retried` (an attempt failed, another is scheduled) and `failed` (given
/// up: a final 4xx, or the sink's attempts or age ran out).
pub const DELIVERY_OUTCOMES: [&str; 3] = ["delivered", "retried", "failed"];

/// Alert kinds and severities pre-registered in `evident_alerts_open`.
const ALERT_KINDS: [&str; 3] = ["drift", "stale", "integrity"];
const SEVERITIES: [&str; 4] = ["low", "medium", "high", "critical"];

/// Content type of the text format 0.0.4.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Content type of OpenMetrics 1.0.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

type Labels = Vec<(&'static str, String)>;

/// Counters, the latency histogram and the long-lived registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    outcomes: Family<Labels, Counter>,
    verify_failures: Counter,
    /// Bad signatures under a known key id (counted, never an alert).
    pub known_key_bad_signatures: Counter,
    /// Evidence refused for its time (future or too old) or sequence jump.
    pub refused_freshness: Counter,
    /// Requests refused by a per-agent quota.
    pub quota_refusals: Counter,
    /// Enrollment attempts refused by the per-address rate limit.
    pub enroll_throttled: Counter,
    /// Connections closed at once because the connection cap was reached.
    pub connections_refused: Counter,
    /// Runs evaluated on the rules reading `collected_day` alone (the rest
    /// found under the day-free key).
    pub day_rules_only: Counter,
    /// Blobs read back from the store for the day-reading rules (what they
    /// read of the blob was not kept: see `service::projections`).
    pub day_blobs_read: Counter,
    latency: Histogram,
    enrollments: Counter,
    batches: Counter,
    batched_items: Counter,
    bulk_items: Counter,
    deliveries: Family<Labels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

fn counter(registry: &mut Registry, name: &str, help: &str) -> Counter {
    let c = Counter::<u64, AtomicU64>::default();
    registry.register(name, help, c.clone());
    c
}

impl Metrics {
    /// A registry with every long-lived family registered (and zero).
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let outcomes = Family::<Labels, Counter>::default();
        for o in OUTCOMES {
            outcomes.get_or_create_owned(&vec![("outcome", o.to_string())]);
        }
        registry.register(
            "evident_ingest",
            "Evidence ingest requests by outcome",
            outcomes.clone(),
        );
        let verify_failures = counter(
            &mut registry,
            "evident_verification_failures",
            "Envelopes whose signature did not verify",
        );
        let latency = Histogram::new(BUCKETS);
        registry.register(
            "evident_ingest_duration_seconds",
            "Ingest latency, request to answer",
            latency.clone(),
        );
        let enrollments = counter(
            &mut registry,
            "evident_enrollments",
            "Successful enrollments",
        );
        let batches = counter(
            &mut registry,
            "evident_commit_batches",
            "Database transactions committed by the ingest writer",
        );
        let batched_items = counter(
            &mut registry,
            "evident_commit_batch_items",
            "Statements committed by the ingest writer (sum of batch sizes)",
        );
        let bulk_items = counter(
            &mut registry,
            "evident_commit_bulk_items",
            "Statements the ingest writer stored in bulk: plain next runs of their hosts, a few queries per batch instead of several per statement",
        );
        let known_key_bad_signatures = counter(
            &mut registry,
            "evident_known_key_bad_signatures",
            "Envelopes naming a known key id whose signature did not verify (no alert: unsigned input cannot alarm)",
        );
        let refused_freshness = counter(
            &mut registry,
            "evident_refused_freshness",
            "Statements refused for their collection time or an absurd sequence jump",
        );
        let quota_refusals = counter(
            &mut registry,
            "evident_quota_refusals",
            "Requests refused (429) by a per-agent quota",
        );
        let enroll_throttled = counter(
            &mut registry,
            "evident_enroll_throttled",
            "Enrollment attempts refused (429) by the per-address rate limit",
        );
        let connections_refused = counter(
            &mut registry,
            "evident_connections_refused",
            "Connections closed at once because the connection cap was reached",
        );
        let day_rules_only = counter(
            &mut registry,
            "evident_ingest_day_rules_only",
            "Statements evaluated on the rules reading collected_day alone, the other results reused (unchanged but for the day)",
        );
        let day_blobs_read = counter(
            &mut registry,
            "evident_ingest_day_blobs_read",
            "Probe blobs read back from the store to evaluate the rules reading collected_day (what those rules read of them was not kept in memory)",
        );
        let deliveries = Family::<Labels, Counter>::default();
        registry.register(
            "evident_alert_deliveries",
            "Alert notification delivery attempts by sink and outcome (delivered, retried, failed: given up)",
            deliveries.clone(),
        );
        let build = Family::<Labels, Gauge>::default();
        build
            .get_or_create(&vec![
                ("version", env!("CARGO_PKG_VERSION").to_string()),
                ("revision", revision().to_string()),
            ])
            .set(1);
        registry.register(
            "evident_build_info",
            "Always 1; the labels say which build of the collector runs",
            build,
        );
        registry.register_collector(Box::new(ProcessCollector));
        Metrics {
            registry,
            outcomes,
            verify_failures,
            known_key_bad_signatures,
            refused_freshness,
            quota_refusals,
            enroll_throttled,
            connections_refused,
            day_rules_only,
            day_blobs_read,
            latency,
            enrollments,
            batches,
            batched_items,
            bulk_items,
            deliveries,
        }
    }

    /// Pre-register the delivery series of the configured sinks (at 0).
    pub fn register_sinks<'a>(&self, sinks: impl IntoIterator<Item = &'a str>) {
        for sink in sinks {
            for o in DELIVERY_OUTCOMES {
                self.deliveries.get_or_create_owned(&vec![
                    ("sink", sink.to_string()),
                    ("outcome", o.to_string()),
                ]);
            }
        }
    }

    /// Count one delivery attempt of `sink` with `outcome` (one of
    /// [`DELIVERY_OUTCOMES`]).
    pub fn delivery(&self, sink: &str, outcome: &'static str) {
        self.deliveries
            .get_or_create(&vec![
                ("sink", sink.to_string()),
                ("outcome", outcome.to_string()),
            ])
            .inc();
    }

    /// Count one ingest with its outcome label and latency.
    pub fn ingest(&self, outcome: &str, latency: Duration) {
        if OUTCOMES.contains(&outcome) {
            self.outcomes
                .get_or_create(&vec![("outcome", outcome.to_string())])
                .inc();
        }
        if outcome == "bad_signature" {
            self.verify_failures.inc();
        }
        self.latency.observe(latency.as_secs_f64());
    }

    /// Count one enrollment.
    pub fn enrolled(&self) {
        self.enrollments.inc();
    }

    /// Count one committed batch of `n` items, `bulk` of them stored by
    /// the bulk path.
    pub fn batch(&self, n: usize, bulk: usize) {
        self.batches.inc();
        self.batched_items.inc_by(u64::try_from(n).unwrap_or(0));
        self.bulk_items.inc_by(u64::try_from(bulk).unwrap_or(0));
    }

    /// The exposition: the long-lived registry, then the per-scrape
    /// `snapshot`; OpenMetrics when `openmetrics`, else text 0.0.4.
    pub fn render(&self, snapshot: &Snapshot, openmetrics: bool) -> String {
        let scrape = snapshot.registry();
        let mut s = String::new();
        // Writing into a String cannot fail; an encoding error would be a
        // bug in a metric, and what was written so far is still served.
        let _ = prometheus_client::encoding::text::encode_registry(&mut s, &self.registry);
        let _ = prometheus_client::encoding::text::encode_registry(&mut s, &scrape);
        if openmetrics {
            let _ = prometheus_client::encoding::text::encode_eof(&mut s);
            s
        } else {
            to_text_format(&s)
        }
    }
}

/// Whether an `Accept` header value asks for OpenMetrics.
pub fn wants_openmetrics(accept: &str) -> bool {
    accept.contains("application/openmetrics-text")
}

/// The git revision `--version` shows (`unknown` without git).
fn revision() -> &'static str {
    // EVIDENT_LONG_VERSION is "VERSION (git REV, PROFILE build)".
    let long = env!("EVIDENT_LONG_VERSION");
    long.split_once("(git ")
        .and_then(|(_, rest)| rest.split_once(','))
        .map(|(rev, _)| rev)
        .unwrap_or("unknown")
}

/// OpenMetrics text as written by `prometheus-client` → text format 0.0.4:
/// a counter family's HELP and TYPE name its `_total` samples, and the
/// OpenMetrics-only lines (`# UNIT`, `# EOF`) go.
fn to_text_format(open: &str) -> String {
    let counters: std::collections::HashSet<&str> = open
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(open.len() + counters.len() * 12);
    for line in open.lines() {
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|p| line.strip_prefix(p).map(|rest| (p, rest)));
        match meta {
            Some((p, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                out.push_str(p);
                out.push_str(name);
                if counters.contains(name) {
                    out.push_str("_total");
                }
                out.push(' ');
                out.push_str(tail);
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// What a scrape reads from the database.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// (control id, status, active hosts) from `fleet_status`.
    pub controls: Vec<(String, String, u64)>,
    /// Every control id of the catalog (their series are present at 0).
    pub control_ids: Vec<String>,
    /// Open (not resolved) alerts: (kind, severity, count).
    pub open_alerts: Vec<(String, String, u64)>,
    /// Hosts with an open stale-evidence alert.
    pub stale_hosts: u64,
    /// Notifications waiting for delivery.
    pub outbox_depth: u64,
    /// Age of the oldest waiting notification, seconds (0 when none).
    pub outbox_oldest_age_seconds: f64,
    /// Notifications given up on (kept for inspection until pruned).
    pub outbox_failed: u64,
}

/// Control statuses pre-registered per control (`not-automated` is not
/// counted in fleet views; `stale` is a passing status on stale evidence).
const CONTROL_STATUSES: [&str; 8] = [
    "satisfied",
    "not-satisfied",
    "partial",
    "partially-evidenced",
    "no-evidence",
    "not-applicable",
    "waived",
    "stale",
];

impl Snapshot {
    fn registry(&self) -> Registry {
        let mut r = Registry::default();
        let hosts = Family::<Labels, Gauge>::default();
        for id in &self.control_ids {
            for st in CONTROL_STATUSES {
                hosts.get_or_create_owned(&vec![
                    ("control", id.clone()),
                    ("status", st.to_string()),
                ]);
            }
        }
        for (control, status, n) in &self.controls {
            hosts
                .get_or_create(&vec![
                    ("control", control.clone()),
                    ("status", status.clone()),
                ])
                .set(i64::try_from(*n).unwrap_or(i64::MAX));
        }
        r.register(
            "evident_control_hosts",
            "Hosts per Annex A control and status (latest evidence of active agents)",
            hosts,
        );
        let open = Family::<Labels, Gauge>::default();
        for k in ALERT_KINDS {
            for s in SEVERITIES {
                open.get_or_create_owned(&vec![
                    ("kind", k.to_string()),
                    ("severity", s.to_string()),
                ]);
            }
        }
        for (k, s, n) in &self.open_alerts {
            open.get_or_create(&vec![("kind", k.clone()), ("severity", s.clone())])
                .set(i64::try_from(*n).unwrap_or(i64::MAX));
        }
        r.register(
            "evident_alerts_open",
            "Alerts open or acknowledged (not resolved), by kind and severity",
            open,
        );
        r.register(
            "evident_stale_hosts",
            "Active hosts whose evidence is stale (an open stale alert)",
            ConstGauge::new(i64::try_from(self.stale_hosts).unwrap_or(i64::MAX)),
        );
        r.register(
            "evident_alert_outbox_depth",
            "Alert notifications waiting for delivery",
            ConstGauge::new(i64::try_from(self.outbox_depth).unwrap_or(i64::MAX)),
        );
        r.register(
            "evident_alert_outbox_oldest_age_seconds",
            "Age of the oldest alert notification waiting for delivery (0 when none waits)",
            ConstGauge::new(self.outbox_oldest_age_seconds),
        );
        r.register(
            "evident_alert_outbox_failed",
            "Alert notifications given up on (final 4xx, attempts or age exhausted), until pruned",
            ConstGauge::new(i64::try_from(self.outbox_failed).unwrap_or(i64::MAX)),
        );
        r
    }
}

/// `process_*` series from `/proc/self`, read at each scrape (nothing on
/// other systems, where the files do not exist).
#[derive(Debug)]
struct ProcessCollector;

/// What one read of `/proc/self` gives.
#[derive(Debug, Clone, PartialEq)]
struct ProcessStats {
    cpu_seconds: f64,
    start_time_seconds: f64,
    virtual_bytes: u64,
    resident_bytes: u64,
    open_fds: u64,
    max_fds: Option<u64>,
}

impl ProcessStats {
    fn read() -> Option<ProcessStats> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let boot = std::fs::read_to_string("/proc/stat").ok()?;
        let btime = boot
            .lines()
            .find_map(|l| l.strip_prefix("btime "))?
            .trim()
            .parse::<u64>()
            .ok()?;
        let ticks = rustix::param::clock_ticks_per_second();
        let page = rustix::param::page_size() as u64;
        let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
        let max_fds = std::fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|l| parse_max_open_files(&l));
        let mut s = parse_stat(&stat, ticks, page, btime)?;
        s.open_fds = open_fds;
        s.max_fds = max_fds;
        Some(s)
    }
}

/// Parse `/proc/self/stat` (fields after the parenthesised command name,
/// which may itself hold spaces and parentheses).
fn parse_stat(stat: &str, ticks: u64, page: u64, btime: u64) -> Option<ProcessStats> {
    let after = &stat[stat.rfind(')')? + 1..];
    // Field 3 (state) is the first after the name.
    let f: Vec<&str> = after.split_whitespace().collect();
    let field = |n: usize| -> Option<u64> { f.get(n.checked_sub(3)?)?.parse().ok() };
    let ticks = ticks.max(1) as f64;
    let utime = field(14)?;
    let stime = field(15)?;
    let start = field(22)?;
    Some(ProcessStats {
        cpu_seconds: (utime + stime) as f64 / ticks,
        start_time_seconds: btime as f64 + start as f64 / ticks,
        virtual_bytes: field(23)?,
        resident_bytes: field(24)?.saturating_mul(page),
        open_fds: 0,
        max_fds: None,
    })
}

/// The soft limit of `Max open files` in `/proc/self/limits`.
fn parse_max_open_files(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(p) = ProcessStats::read() else {
            return Ok(());
        };
        let c = ConstCounter::new(p.cpu_seconds);
        c.encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds.",
            None,
            c.metric_type(),
        )?)?;
        let gauges: [(&str, &str, f64); 4] = [
            (
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                p.start_time_seconds,
            ),
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                p.resident_bytes as f64,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                p.virtual_bytes as f64,
            ),
            (
                "process_open_fds",
                "Number of open file descriptors.",
                p.open_fds as f64,
            ),
        ];
        for (name, help, v) in gauges {
            let g = ConstGauge::new(v);
            g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)?;
        }
        if let Some(max) = p.max_fds {
            let g = ConstGauge::new(max as f64);
            g.encode(encoder.encode_descriptor(
                "process_max_fds",
                "Maximum number of open file descriptors.",
                None,
                g.metric_type(),
            )?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
