//! Logs, errors and metrics as an operator meets them (issue #16): the real
//! binaries are run and their output read and counted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use evident_e2e::{bin, Backend, Server};
use serde_json::Value;
use std::process::Command;

/// The lines of a JSON log (every line must be one JSON object).
fn json_lines(log: &str) -> Vec<Value> {
    log.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_have_stable_fields_and_client_errors_are_not_warnings() {
    let mut server =
        Server::start_with(Backend::Sqlite, &[], "", &[("EVIDENT_LOG_FORMAT", "json")])
            .await
            .unwrap();
    // A missing token (401), an unknown path (404), a bad alert kind (400).
    assert_eq!(server.get_as("/metrics", None).await.0, 401);
    assert_eq!(
        server
            .get_as("/v1/nothing-here", Some(&server.admin_token))
            .await
            .0,
        404
    );
    let (s, body) = server
        .get_as("/v1/alerts?kind=bogus", Some(&server.admin_token))
        .await;
    assert_eq!(s, 400);
    assert!(body.contains("drift, stale, integrity"), "{body}");
    server.kill();
    let log = server.log_text();
    let lines = json_lines(&log);
    assert!(!lines.is_empty());
    for l in &lines {
        for field in ["timestamp", "level", "target", "message"] {
            assert!(l.get(field).is_some(), "no {field}: {l}");
        }
        chrono::DateTime::parse_from_rfc3339(l["timestamp"].as_str().unwrap()).unwrap();
    }
    let refused: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"] == "request refused")
        .collect();
    let statuses: Vec<i64> = refused
        .iter()
        .map(|l| l["status"].as_i64().unwrap())
        .collect();
    assert_eq!(statuses, [401, 404, 400], "{log}");
    assert!(refused.iter().all(|l| l["level"] == "INFO"), "{log}");
    assert!(
        !lines
            .iter()
            .any(|l| l["level"] == "WARN" || l["level"] == "ERROR"),
        "{log}"
    );
    // The same service in text: no JSON.
    server.set_env(&[]);
    server.try_spawn().unwrap();
    assert_eq!(server.get_as("/metrics", None).await.0, 401);
    server.kill();
    let log = server.log_text();
    assert!(
        log.lines()
            .any(|l| l.contains("INFO") && l.contains("request refused")),
        "{log}"
    );
    assert!(!log.trim_start().starts_with('{'), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_format_can_come_from_the_config_file() {
    let mut server = Server::start_with(Backend::Sqlite, &[], "[log]\nformat = \"json\"\n", &[])
        .await
        .unwrap();
    assert_eq!(server.get_as("/metrics", None).await.0, 401);
    server.kill();
    let log = server.log_text();
    let lines = json_lines(&log);
    assert!(
        lines.iter().any(|l| l["message"] == "request refused"),
        "{log}"
    );
}

/// stderr of a failed CLI run: exit 2, one `error:` line, no message twice.
fn assert_printed_once(out: &std::process::Output, needle: &str) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(
        err.matches(needle).count(),
        1,
        "`{needle}` not exactly once:\n{err}"
    );
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected:\n{err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    err
}

#[test]
fn a_database_that_cannot_be_opened_is_reported_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = Command::new(bin("evident-collector"))
        .args(["init", "--dir", d])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A "database" that is a directory: SQLite cannot open it (the error
    // used to come out three times under `{:#}`).
    let not_a_file = dir.path().join("a-directory");
    std::fs::create_dir(&not_a_file).unwrap();
    let url = format!("sqlite://{}", not_a_file.display());
    for args in [
        vec!["alerts", "--open"],
        vec!["report", "--format", "html"],
        vec!["agents", "list"],
    ] {
        let out = Command::new(bin("evident-collector"))
            .args(&args)
            .args(["--dir", d, "--database", &url])
            .output()
            .unwrap();
        assert_printed_once(&out, "unable to open database file");
    }
    // `serve` too: the error once, not also as a log line.
    let out = Command::new(bin("evident-collector"))
        .args([
            "serve",
            "--dir",
            d,
            "--database",
            &url,
            "--listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert_printed_once(&out, "unable to open database file");
}

#[test]
fn alerts_refuse_an_unknown_kind_naming_the_valid_ones() {
    let out = Command::new(bin("evident-collector"))
        .args(["alerts", "--kind", "bogus", "--dir", "/nonexistent"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for k in ["drift", "stale", "integrity"] {
        assert!(err.contains(k), "{err}");
    }
    assert!(err.contains("bogus"), "{err}");
}

#[test]
fn agent_errors_print_once_and_json_logs_parse() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("agent.toml");
    std::fs::write(
        &cfg,
        "collector = \"https://127.0.0.1:1\"\nca_file = \"nope.pem\"\n",
    )
    .unwrap();
    let out = Command::new(bin("evident-agent"))
        .args(["--log-format", "json", "run", "--once", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let err = assert_printed_once(&out, "nope.pem");
    assert!(!err.contains('{'), "the final error is plain text: {err}");
    // A run that gets as far as logging: every log line is JSON.
    let state = dir.path().join("state");
    std::fs::write(
        &cfg,
        format!(
            "collector = \"http://127.0.0.1:1\"\nallow_http = true\nstate_dir = \"{}\"\n\
             root = \"{}\"\n",
            state.display(),
            dir.path().display()
        ),
    )
    .unwrap();
    let out = Command::new(bin("evident-agent"))
        .args(["run", "--once", "--config"])
        .arg(&cfg)
        .env("EVIDENT_LOG_FORMAT", "json")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let (logs, errors): (Vec<&str>, Vec<&str>) = err.lines().partition(|l| l.starts_with('{'));
    assert_eq!(errors.len(), 1, "{err}");
    assert!(errors[0].starts_with("error: "), "{err}");
    assert!(!logs.is_empty(), "{err}");
    for l in logs {
        let v: Value = serde_json::from_str(l).unwrap();
        assert!(v["level"].is_string() && v["timestamp"].is_string(), "{l}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_scrape_is_prometheus_text_with_every_family_documented() {
    let server = Server::start(Backend::Sqlite, &[]).await.unwrap();
    let r = server
        .client
        .get(format!("{}/metrics", server.url))
        .bearer_auth(&server.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    let text = r.text().await.unwrap();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    let histograms: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" histogram"))
        .collect();
    assert_eq!(histograms, ["evident_ingest_duration_seconds"]);
    for s in &scrape.samples {
        // A histogram's `_sum` and `_count` are documented by its family.
        let part_of_histogram = ["_sum", "_count"].iter().any(|x| {
            s.metric
                .strip_suffix(x)
                .is_some_and(|b| histograms.contains(&b))
        });
        if part_of_histogram {
            continue;
        }
        assert!(scrape.docs.contains_key(&s.metric), "no HELP: {}", s.metric);
        assert!(
            !matches!(s.value, prometheus_parse::Value::Untyped(_)),
            "no TYPE: {}",
            s.metric
        );
    }
    for series in [
        "evident_ingest_total{outcome=\"conflict\"} 0",
        "evident_stale_hosts 0",
        "evident_alert_outbox_depth 0",
        "evident_alerts_open{kind=\"stale\",severity=\"high\"} 0",
        "evident_control_hosts{control=\"A.8.5\",status=\"not-satisfied\"} 0",
    ] {
        assert!(text.lines().any(|l| l == series), "no `{series}`:\n{text}");
    }
    assert!(text.contains("evident_build_info{version=\""), "{text}");
    assert!(!text.contains(".."), "doubled periods in HELP:\n{text}");
    assert!(text.contains("process_resident_memory_bytes "), "{text}");
    // OpenMetrics when asked.
    let r = server
        .client
        .get(format!("{}/metrics", server.url))
        .bearer_auth(&server.admin_token)
        .header("accept", "application/openmetrics-text; version=1.0.0")
        .send()
        .await
        .unwrap();
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    assert!(r.text().await.unwrap().ends_with("# EOF\n"));
    server.finish().await;
}
