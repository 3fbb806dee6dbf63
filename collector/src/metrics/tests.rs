//! The exposition, read back with an independent parser (`prometheus-parse`).

use super::*;
use prometheus_parse::{Scrape, Value};
use std::collections::{BTreeSet, HashMap};

fn parse(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap()
}

/// Every `# TYPE` line: family → type.
fn types(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect()
}

fn snapshot() -> Snapshot {
    Snapshot {
        controls: vec![("A.8.5".into(), "not-satisfied".into(), 3)],
        control_ids: vec!["A.5.1".into(), "A.8.5".into()],
        open_alerts: vec![("drift".into(), "high".into(), 2)],
        stale_hosts: 1,
        outbox_depth: 4,
        outbox_oldest_age_seconds: 12.5,
        outbox_failed: 0,
    }
}

fn value(s: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    s.samples
        .iter()
        .find(|x| x.metric == name && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .map(|x| match x.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
            _ => f64::NAN,
        })
}

#[test]
fn every_family_has_help_and_type_and_known_series_start_at_zero() {
    let m = Metrics::new();
    m.register_sinks(["ops"]);
    let text = m.render(&snapshot(), false);
    let scrape = parse(&text);
    let types = types(&text);
    // A histogram's `_sum` and `_count` belong to its family.
    let family = |m: &str| -> String {
        for suffix in ["_sum", "_count"] {
            if let Some(base) = m.strip_suffix(suffix) {
                if types.get(base).map(String::as_str) == Some("histogram") {
                    return base.to_string();
                }
            }
        }
        m.to_string()
    };
    let families: BTreeSet<String> = scrape.samples.iter().map(|s| family(&s.metric)).collect();
    let families: BTreeSet<&str> = families.iter().map(String::as_str).collect();
    for f in &families {
        assert!(scrape.docs.contains_key(*f), "no HELP for {f}:\n{text}");
        assert!(types.contains_key(*f), "no TYPE for {f}:\n{text}");
    }
    // Typed: the parser recognised every sample's family.
    for s in scrape
        .samples
        .iter()
        .filter(|s| family(&s.metric) == s.metric)
    {
        assert!(
            !matches!(s.value, Value::Untyped(_)),
            "untyped sample {}",
            s.metric
        );
    }
    for f in [
        "evident_ingest_total",
        "evident_verification_failures_total",
        "evident_ingest_duration_seconds",
        "evident_enrollments_total",
        "evident_commit_batches_total",
        "evident_commit_batch_items_total",
        "evident_commit_bulk_items_total",
        "evident_known_key_bad_signatures_total",
        "evident_refused_freshness_total",
        "evident_quota_refusals_total",
        "evident_enroll_throttled_total",
        "evident_connections_refused_total",
        "evident_ingest_day_rules_only_total",
        "evident_ingest_day_blobs_read_total",
        "evident_alert_deliveries_total",
        "evident_build_info",
        "evident_control_hosts",
        "evident_alerts_open",
        "evident_stale_hosts",
        "evident_alert_outbox_depth",
        "evident_alert_outbox_oldest_age_seconds",
        "evident_alert_outbox_failed",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
    ] {
        assert!(families.contains(f), "missing family {f}:\n{text}");
    }
    assert_eq!(types["evident_ingest_total"], "counter");
    assert_eq!(types["evident_ingest_duration_seconds"], "histogram");
    assert_eq!(types["evident_control_hosts"], "gauge");
    // Zero-valued series are there before anything happened.
    for o in OUTCOMES {
        assert_eq!(
            value(&scrape, "evident_ingest_total", &[("outcome", o)]),
            Some(0.0),
            "{o}"
        );
    }
    assert_eq!(
        value(
            &scrape,
            "evident_control_hosts",
            &[("control", "A.5.1"), ("status", "stale")]
        ),
        Some(0.0)
    );
    assert_eq!(
        value(
            &scrape,
            "evident_alerts_open",
            &[("kind", "integrity"), ("severity", "critical")]
        ),
        Some(0.0)
    );
    assert_eq!(
        value(
            &scrape,
            "evident_alert_deliveries_total",
            &[("sink", "ops"), ("outcome", "failed")]
        ),
        Some(0.0)
    );
    // And the values of the snapshot are shown.
    assert_eq!(
        value(
            &scrape,
            "evident_control_hosts",
            &[("control", "A.8.5"), ("status", "not-satisfied")]
        ),
        Some(3.0)
    );
    assert_eq!(
        value(
            &scrape,
            "evident_alerts_open",
            &[("kind", "drift"), ("severity", "high")]
        ),
        Some(2.0)
    );
    assert_eq!(value(&scrape, "evident_stale_hosts", &[]), Some(1.0));
    assert_eq!(value(&scrape, "evident_alert_outbox_depth", &[]), Some(4.0));
    assert_eq!(
        value(&scrape, "evident_alert_outbox_oldest_age_seconds", &[]),
        Some(12.5)
    );
    assert_eq!(
        value(
            &scrape,
            "evident_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0)
    );
    let rev = scrape
        .samples
        .iter()
        .find(|s| s.metric == "evident_build_info")
        .and_then(|s| s.labels.get("revision").map(str::to_string))
        .unwrap();
    assert!(!rev.is_empty() && !rev.contains(' '), "{rev}");
    // The process is this test: it has open files and memory.
    assert!(value(&scrape, "process_open_fds", &[]).unwrap() >= 3.0);
    assert!(value(&scrape, "process_resident_memory_bytes", &[]).unwrap() > 1e6);
    assert!(!text.contains("# EOF") && !text.contains("# UNIT"));
    assert!(!text.contains(".."), "doubled periods in HELP:\n{text}");
}

#[test]
fn counters_and_histogram_count() {
    let m = Metrics::new();
    m.ingest("stored", Duration::from_millis(3));
    m.ingest("bad_signature", Duration::from_millis(30));
    m.ingest("not-an-outcome", Duration::from_millis(1));
    m.batch(5, 3);
    m.enrolled();
    m.known_key_bad_signatures.inc();
    m.delivery("ops", "retried");
    let text = m.render(&Snapshot::default(), false);
    let s = parse(&text);
    assert_eq!(
        value(&s, "evident_ingest_total", &[("outcome", "stored")]),
        Some(1.0)
    );
    assert_eq!(
        value(&s, "evident_verification_failures_total", &[]),
        Some(1.0)
    );
    assert_eq!(
        value(&s, "evident_commit_batch_items_total", &[]),
        Some(5.0)
    );
    assert_eq!(value(&s, "evident_commit_bulk_items_total", &[]), Some(3.0));
    assert_eq!(
        value(&s, "evident_known_key_bad_signatures_total", &[]),
        Some(1.0)
    );
    assert_eq!(
        value(
            &s,
            "evident_alert_deliveries_total",
            &[("sink", "ops"), ("outcome", "retried")]
        ),
        Some(1.0)
    );
    let hist = s
        .samples
        .iter()
        .find(|x| x.metric == "evident_ingest_duration_seconds")
        .unwrap();
    let Value::Histogram(buckets) = &hist.value else {
        panic!("not a histogram: {:?}", hist.value);
    };
    let le = |b: f64| buckets.iter().find(|c| c.less_than == b).unwrap().count;
    assert_eq!(le(0.0025), 1.0);
    assert_eq!(le(0.005), 2.0);
    assert_eq!(le(0.05), 3.0);
    assert!(text.contains("evident_ingest_duration_seconds_count 3"));
}

#[test]
fn openmetrics_on_request() {
    let m = Metrics::new();
    let text = m.render(&Snapshot::default(), true);
    assert!(text.ends_with("# EOF\n"));
    assert!(text.contains("# TYPE evident_ingest counter\n"));
    assert!(text.contains("evident_ingest_total{outcome=\"stored\"} 0\n"));
    assert!(wants_openmetrics(
        "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
    ));
    assert!(!wants_openmetrics("text/plain"));
}

#[test]
fn proc_stat_is_parsed_past_a_command_name_with_spaces_and_parens() {
    // Fields 14/15 utime/stime = 250/150 ticks, 22 starttime = 1000 ticks,
    // 23 vsize, 24 rss pages.
    let stat = "4242 (evident (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 150 0 0 20 0 9 0 1000 123456789 2560 18446744073709551615";
    let p = parse_stat(stat, 100, 4096, 1_700_000_000).unwrap();
    assert_eq!(p.cpu_seconds, 4.0);
    assert_eq!(p.start_time_seconds, 1_700_000_010.0);
    assert_eq!(p.virtual_bytes, 123_456_789);
    assert_eq!(p.resident_bytes, 2560 * 4096);
    assert!(parse_stat("garbage", 100, 4096, 0).is_none());
    let limits = "Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 524288               files\n";
    assert_eq!(parse_max_open_files(limits), Some(1024));
}
