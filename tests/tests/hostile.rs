//! End-to-end: hostile clients and broken disks (issue #14). Every row of
//! the table is a test here, over real HTTPS on 127.0.0.1 against
//! the real `evident-collector` binary, on SQLite and PostgreSQL where
//! storage is involved. (The agent-side rows, a corrupt spool file and a
//! full disk, are in `agent_daemon.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers called from generated #[test]s

use evident_e2e::{collect, fixture_root, request, Agent, Backend, PgDb, Server};
use serde_json::Value;
use std::time::{Duration, Instant};

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(evident_e2e::Backend::Sqlite).await; }
        )* }
        mod postgres { $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(evident_e2e::Backend::Postgres).await; }
        )* }
    };
}

on_both!(
    a_missing_or_foreign_database_is_refused,
    evidence_too_old_or_from_the_future_is_refused,
    an_absurd_sequence_is_an_integrity_event_and_the_host_goes_on,
    bad_signatures_under_a_known_key_id_open_no_alert,
    a_revoked_host_with_a_new_key_needs_an_operator,
    tokens_are_validated_and_enrollment_is_throttled,
    a_flooding_agent_gets_429_and_an_alert,
    metrics_and_the_api_need_scoped_tokens,
    agent_strings_are_data,
);

async fn enrolled(server: &Server, name: &str) -> (Agent, evident_e2e::Run, tempfile::TempDir) {
    let root = fixture_root(name);
    let run = collect(root.path());
    let mut agent = Agent::new(name);
    agent.enroll(server).await;
    (agent, run, root)
}

async fn status_and_json(r: reqwest::Response) -> (u16, Value) {
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

async fn alerts(server: &Server) -> Vec<Value> {
    let (s, v) = server.get("/v1/alerts?limit=500").await;
    assert_eq!(s, 200, "{v}");
    v["alerts"].as_array().cloned().unwrap_or_default()
}

/// Poll until an alert with `subject` exists for `agent` (alerts are raised
/// in the background).
async fn wait_alert(server: &Server, agent: &str, subject: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(a) = alerts(server)
            .await
            .into_iter()
            .find(|a| a["agent_id"] == agent && a["subject"] == subject)
        {
            return a;
        }
        assert!(
            Instant::now() < deadline,
            "no alert {subject} for {agent}: {:#?}",
            alerts(server).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn metric(server: &Server, name: &str) -> u64 {
    let (s, text) = server
        .get_as("/metrics", Some(server.admin_token.as_str()))
        .await;
    assert_eq!(s, 200, "{text}");
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from /metrics:\n{text}"))
}

// ---------------------------------------------------------------- the store

/// "database file deleted under an initialised data dir: serve starts with
/// a fresh empty database". Now `serve` and the CLI refuse, naming why.
async fn a_missing_or_foreign_database_is_refused(backend: Backend) {
    let mut server = Server::start(backend, &[]).await.unwrap();
    let (mut agent, run, _root) = enrolled(&server, "web-1").await;
    let (env, _) = agent.sign_next(&run);
    assert_eq!(
        server
            .post(&request(&env, &run, true))
            .await
            .status()
            .as_u16(),
        201
    );
    server.stop();
    let config = server.dir.path().join("config.toml");
    let original = std::fs::read_to_string(&config).unwrap();
    let other = match backend {
        Backend::Sqlite => {
            for f in ["evident.db", "evident.db-wal", "evident.db-shm"] {
                let _ = std::fs::remove_file(server.dir.path().join(f));
            }
            None
        }
        Backend::Postgres => {
            // Point the directory at another (fresh) database.
            let other = PgDb::create().await;
            let text: String = original
                .lines()
                .map(|l| {
                    if l.starts_with("database =") {
                        format!("database = \"{}\"", other.url)
                    } else {
                        l.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join("\n");
            std::fs::write(&config, text).unwrap();
            Some(other)
        }
    };
    let err = server.try_spawn().expect_err("serve must refuse");
    let expected = match backend {
        Backend::Sqlite => "is missing",
        Backend::Postgres => "has no identity",
    };
    assert!(err.contains(expected), "{err}");
    assert!(
        !server.dir.path().join("evident.db").exists(),
        "no empty database was created"
    );
    // Every command that opens the store refuses too (the server's own
    // `--database` is not passed here: the config names the database).
    let out = std::process::Command::new(evident_e2e::bin("evident-collector"))
        .args(["agents", "list", "--dir"])
        .arg(server.dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(expected),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    if let Some(other) = other {
        std::fs::write(&config, original).unwrap();
        other.drop_now().await;
        // The right database again: serve starts and the data is there.
        server.try_spawn().unwrap();
        let (s, host) = server.get(&format!("/v1/hosts/{}", agent.id)).await;
        assert_eq!(s, 200, "{host}");
    }
    server.finish().await;
}

/// "WAL deleted after a crash: starts, no warning; acknowledged statements
/// and an enrollment gone". Now the loss is detected and serve refuses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_wal_after_a_crash_is_detected() {
    let mut server = Server::start(Backend::Sqlite, &[]).await.unwrap();
    let (mut agent, run, _root) = enrolled(&server, "web-1").await;
    let (env, _) = agent.sign_next(&run);
    assert_eq!(
        server
            .post(&request(&env, &run, true))
            .await
            .status()
            .as_u16(),
        201
    );
    server.kill();
    let wal = server.dir.path().join("evident.db-wal");
    assert!(wal.exists(), "a crashed server leaves its WAL");
    std::fs::remove_file(&wal).unwrap();
    let err = server.try_spawn().expect_err("serve must refuse");
    assert!(err.contains("write-ahead log"), "{err}");
    assert!(err.contains("are lost"), "{err}");
    // With the WAL intact, a crash loses nothing (the chaos case).
    let mut server2 = Server::start(Backend::Sqlite, &[]).await.unwrap();
    let (mut agent2, run2, _root2) = enrolled(&server2, "web-2").await;
    let (env2, d2) = agent2.sign_next(&run2);
    assert_eq!(
        server2
            .post(&request(&env2, &run2, true))
            .await
            .status()
            .as_u16(),
        201
    );
    server2.kill();
    server2.try_spawn().unwrap();
    let (s, _) = server2.get(&format!("/v1/evidence/{d2}")).await;
    assert_eq!(s, 200);
    server2.finish().await;
    server.finish().await;
}

/// "16 KB of garbage mid-file: /healthz 200; some evidence reads fail
/// later". Now the start-up check finds it: /readyz and /healthz 503 (or
/// serve refuses outright when the damage breaks opening), /livez 200, and
/// `db check` exits 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_in_the_database_file_makes_the_store_not_ready() {
    let mut server = Server::start(Backend::Sqlite, &[]).await.unwrap();
    for i in 0..4 {
        let (mut agent, run, _root) = enrolled(&server, &format!("web-{i}")).await;
        for _ in 0..3 {
            let (env, _) = agent.sign_next(&run);
            let s = server
                .post(&request(&env, &run, true))
                .await
                .status()
                .as_u16();
            assert_eq!(s, 201);
        }
    }
    let (s, _) = server.get_as("/readyz", None).await;
    assert_eq!(s, 200);
    server.stop();
    let db = server.dir.path().join("evident.db");
    let len = std::fs::metadata(&db).unwrap().len();
    let page = 32 * 1024;
    let pages = len / page;
    assert!(pages >= 4, "database of {len} bytes");
    // 16 KB of garbage at the start of a page in the middle of the file.
    let at = (pages / 2) * page;
    {
        use std::io::{Seek as _, SeekFrom, Write as _};
        let mut f = std::fs::OpenOptions::new().write(true).open(&db).unwrap();
        f.seek(SeekFrom::Start(at)).unwrap();
        let garbage: Vec<u8> = (0..16 * 1024u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        f.write_all(&garbage).unwrap();
        f.sync_all().unwrap();
    }
    let out = server.cli_output(&["db", "check"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    match server.try_spawn() {
        Err(log) => {
            println!("garbage mid-file: serve refused to start");
            assert!(
                log.contains("malformed") || log.contains("corrupt"),
                "{log}"
            );
        }
        Ok(()) => {
            println!("garbage mid-file: serve started, not ready");
            let (s, body) = server.get_as("/readyz", None).await;
            assert_eq!(s, 503, "{body}");
            assert!(body.contains("integrity"), "{body}");
            let (s, _) = server.get_as("/healthz", None).await;
            assert_eq!(s, 503);
            let (s, _) = server.get_as("/livez", None).await;
            assert_eq!(s, 200);
        }
    }
    server.finish().await;
}

/// `db backup` while serving, then the restore drill: the copy holds what
/// was acknowledged before it, the data directory accepts it (same
/// identity) and `db check` passes. PostgreSQL names `pg_dump`.
async fn backup_and_restore_drill(backend: Backend) {
    let mut server = Server::start(backend, &[]).await.unwrap();
    let (mut agent, run, _root) = enrolled(&server, "web-1").await;
    let (env1, d1) = agent.sign_next(&run);
    assert_eq!(
        server
            .post(&request(&env1, &run, true))
            .await
            .status()
            .as_u16(),
        201
    );
    let backup = server.dir.path().join("backup.db");
    let b = backup.display().to_string();
    let out = server.cli_output(&["db", "backup", "--to", &b]);
    if backend == Backend::Postgres {
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("pg_dump"));
        let out = server.cli_output(&["db", "check"]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        server.finish().await;
        return;
    }
    assert!(out.status.success(), "{out:?}");
    let (env2, d2) = agent.sign_next(&run);
    assert_eq!(
        server
            .post(&request(&env2, &run, false))
            .await
            .status()
            .as_u16(),
        201
    );
    server.stop();
    let db = server.dir.path().join("evident.db");
    for f in ["evident.db-wal", "evident.db-shm"] {
        let _ = std::fs::remove_file(server.dir.path().join(f));
    }
    std::fs::copy(&backup, &db).unwrap();
    server.try_spawn().unwrap();
    let (s, _) = server.get(&format!("/v1/evidence/{d1}")).await;
    assert_eq!(s, 200);
    let (s, _) = server.get(&format!("/v1/evidence/{d2}")).await;
    assert_eq!(s, 404, "the backup predates statement 2");
    let out = server.cli_output(&["db", "check"]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("integrity check: ok"));
    server.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_and_restore_drill_sqlite() {
    backup_and_restore_drill(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_and_restore_drill_postgres() {
    backup_and_restore_drill(Backend::Postgres).await;
}

// ---------------------------------------------------------------- freshness

/// "a new statement collected 400 days ago: accepted, resolves the stale
/// alert, reads as 32 passes"; "collected in year 9999: accepted". Now both
/// are refused and nothing of the host reads as current.
async fn evidence_too_old_or_from_the_future_is_refused(backend: Backend) {
    let server = Server::start(backend, &[]).await.unwrap();
    let (mut agent, run, _root) = enrolled(&server, "web-1").await;
    agent.collected_at = Some(chrono::Utc::now() - chrono::Duration::days(400));
    let (env, _) = agent.sign_next(&run);
    let (s, v) = status_and_json(server.post(&request(&env, &run, true)).await).await;
    assert_eq!(s, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("maximum age"), "{v}");
    agent.collected_at = Some("9999-12-31T00:00:00Z".parse().unwrap());
    let env = agent.sign_at(&run, 1, None);
    let (s, v) = status_and_json(server.post(&request(&env, &run, true)).await).await;
    assert_eq!(s, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("ahead"), "{v}");
    let (_, host) = server.get(&format!("/v1/hosts/{}", agent.id)).await;
    assert!(host["host"]["last_sequence"].is_null(), "{host}");
    assert_eq!(metric(&server, "evident_refused_freshness_total").await, 2);
    // Now-ish evidence is accepted.
    agent.collected_at = None;
    let env = agent.sign_at(&run, 1, None);
    let (s, v) = status_and_json(server.post(&request(&env, &run, true)).await).await;
    assert_eq!(s, 201, "{v}");
    server.finish().await;
}

/// "sequence 2^63−1: accepted; the host view freezes". Now it is refused as
/// an integrity event (a signed one: an alert), and the host's next real
/// statement is accepted.
async fn an_absurd_sequence_is_an_integrity_event_and_the_host_goes_on(backend: Backend) {
    let server = Server::start(backend, &[]).await.unwrap();
    let (mut agent, run, _root) = enrolled(&server, "web-1").await;
    let (env, _) = agent.sign_next(&run);
    assert_eq!(
        server
            .post(&request(&env, &run, true))
            .await
            .status()
            .as_u16(),
        201
    );
    let env = agent.sign_at(&run, i64::MAX as u64, agent.previous);
    let (s, v) = status_and_json(server.post(&request(&env, &run, false)).await).await;
    assert_eq!(s, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("sequence"), "{v}");
    let a = wait_alert(&server, &agent.id, "integrity:sequence-jump").await;
    assert_eq!(a["kind"], "integrity");
    let (env, d) = agent.sign_next(&run);
    assert_eq!(
        server
            .post(&request(&env, &run, false))
            .await
            .status()
            .as_u16(),
        201
    );
    let (_, host) = server.get(&format!("/v1/hosts/{}", agent.id)).await;
    assert_eq!(host["host"]["last_sequence"], 2, "{host}");
    let (s, _) = server.get(&format!("/v1/evidence/{d}")).await;
    assert_eq!(s, 200);
    server.finish().await;
}

/// "schedule interval 2^64−1: the host never goes stale". Now the stale
/// window is capped by the collector's `max_stale_interval_seconds`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_declared_interval_cannot_stretch_the_stale_window() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = tmp.path().join("clock");
    let t0: i64 = chrono::Utc::now().timestamp_millis();
    std::fs::write(&clock, t0.to_string()).unwrap();
    let clock_s = clock.display().to_string();
    let server = Server::start_with(
        Backend::Sqlite,
        &[],
        "[drift]\nstale_factor = 2.0\nstale_check_ms = 20\n\n[limits]\nmax_stale_interval_seconds = 60\n",
        &[("EVIDENT_FAKE_CLOCK_FILE", clock_s.as_str())],
    )
    .await
    .unwrap();
    let (mut agent, run, _root) = enrolled(&server, "db-1").await;
    agent.interval_seconds = u64::MAX;
    let (env, _) = agent.sign_next(&run);
    assert_eq!(
        server
            .post(&request(&env, &run, true))
            .await
            .status()
            .as_u16(),
        201
    );
    // Cap 60 s × factor 2: stale after 120 s, whatever the agent declared.
    std::fs::write(&clock, (t0 + 121_000).to_string()).unwrap();
    let a = wait_alert(&server, &agent.id, "host").await;
    assert_eq!(a["kind"], "stale");
    server.finish().await;
}

// ------------------------------------------------------------- signatures

/// "a stranger who knows a host's key id sends bad signatures: opens a
/// high-severity integrity alert on that host". Now they are counted only.
async fn bad_signatures_under_a_known_key_id_open_no_alert(backend: Backend) {
    let server = Server::start(backend, &[]).await.unwrap();
    let (mut agent, run, _root) = enrolled(&server, "web-1").await;
    let (env, _) = agent.sign_next(&run);
    for i in 0..12u8 {
        let mut forged = evident_core::Envelope::from_json(&env).unwrap();
        forged.signatures[0].sig[i as usize] ^= 0x5a;
        let (s, _) =
            status_and_json(server.post(&request(&forged.to_json(), &run, true)).await).await;
        assert_eq!(s, 401);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let open: Vec<Value> = alerts(&server)
        .await
        .into_iter()
        .filter(|a| a["agent_id"] == agent.id.as_str())
        .collect();
    assert!(open.is_empty(), "{open:#?}");
    assert_eq!(
        metric(&server, "evident_known_key_bad_signatures_total").await,
        12
    );
    // Logged, but not once per failure.
    let logged = server
        .log()
        .matches("bad signature under a known key")
        .count();
    assert_eq!(logged, 1, "{}", server.log());
    server.finish().await;
}

// ------------------------------------------------------------- enrollment

/// "a revoked host generates a new key: re-enrolls with the same token,
/// evidence accepted". Now the new key waits as pending for an operator
/// (host name or machine id match), and one machine id twice is flagged.
async fn a_revoked_host_with_a_new_key_needs_an_operator(backend: Backend) {
    let server = Server::start(backend, &[]).await.unwrap();
    let machine = "0123456789abcdef0123456789abcdef".to_string();
    let root = fixture_root("web-1");
    let run = collect(root.path());
    let mut old = Agent::new("web-1");
    old.machine_id = Some(machine.clone());
    old.enroll(&server).await;
    server.cli(&["agents", "revoke", &old.id]);

    // Same host name, new key.
    let mut new = Agent::new("web-1");
    let (s, v) = status_and_json(server.enroll(&new, &server.enroll_token).await).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "pending", "{v}");
    new.id = v["agent_id"].as_str().unwrap().to_string();
    let (env, _) = new.sign_next(&run);
    assert_eq!(
        server
            .post(&request(&env, &run, true))
            .await
            .status()
            .as_u16(),
        403
    );
    wait_alert(&server, &new.id, "integrity:revoked-host").await;
    // Other host name, same machine id: still the revoked host.
    let mut renamed = Agent::new("web-1-renamed");
    renamed.machine_id = Some(machine.clone());
    let (s, v) = status_and_json(server.enroll(&renamed, &server.enroll_token).await).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("pending")), "{v}");
    // An operator approves: evidence is accepted.
    server.cli(&["agents", "approve", &new.id]);
    let (s, _) = status_and_json(server.post(&request(&env, &run, true)).await).await;
    assert_eq!(s, 201);

    // One machine id enrolled under two live keys is flagged.
    let other = "fedcba9876543210fedcba9876543210".to_string();
    let mut a = Agent::new("db-1");
    a.machine_id = Some(other.clone());
    a.enroll(&server).await;
    let mut b = Agent::new("db-2");
    b.machine_id = Some(other);
    b.enroll(&server).await;
    let alert = wait_alert(&server, &b.id, "integrity:duplicate-machine-id").await;
    assert!(alert["detail"].as_str().unwrap().contains(&a.id), "{alert}");
    server.finish().await;
}

/// "the token `init` makes never expires, unlimited uses; 646 wrong guesses/s,
/// never throttled"; "tokens with uses 0 / −1 / past expiry: created,
/// unusable forever". Now `init` says when its token expires, bad
/// parameters are refused at creation, and guessing is throttled (429).
async fn tokens_are_validated_and_enrollment_is_throttled(backend: Backend) {
    let server = Server::start_with(
        backend,
        &[],
        "[limits]\nenroll_attempts_per_minute = 10\n",
        &[],
    )
    .await
    .unwrap();
    let (s, v) = server.get("/v1/admin/tokens").await;
    assert_eq!(s, 200);
    let init_token = &v["items"][0];
    let expires = init_token["expires_at"]
        .as_i64()
        .expect("init token expires");
    let created = init_token["created_at"].as_i64().unwrap();
    assert_eq!(expires - created, 24 * 3600 * 1000);

    for (expires, uses) in [(None, Some("0")), (None, Some("-1")), (Some("-5h"), None)] {
        let mut args = vec!["token", "create"];
        if let Some(e) = expires {
            args.push("--expires");
            args.push(e);
        }
        if let Some(u) = uses {
            args.push("--uses");
            args.push(u);
        }
        let out = server.cli_output(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
    }
    for body in [
        serde_json::json!({"uses": 0}),
        serde_json::json!({"uses": -1}),
        serde_json::json!({"expires_in_seconds": -60}),
    ] {
        let r = server
            .client
            .post(format!("{}/v1/admin/tokens", server.url))
            .bearer_auth(&server.admin_token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400, "{body}");
    }
    let (_, v) = server.get("/v1/admin/tokens").await;
    assert_eq!(v["items"].as_array().unwrap().len(), 1, "nothing created");

    // Guessing tokens: the 11th attempt in a minute from one address is 429.
    let guesser = Agent::new("guess");
    let mut codes = Vec::new();
    for i in 0..14 {
        let r = server.enroll(&guesser, &format!("evt_wrong_{i}")).await;
        codes.push(r.status().as_u16());
    }
    assert_eq!(&codes[..10], &[403; 10], "{codes:?}");
    assert_eq!(&codes[10..], &[429; 4], "{codes:?}");
    // Even the right token waits for the window.
    assert_eq!(
        server
            .enroll(&guesser, &server.enroll_token)
            .await
            .status()
            .as_u16(),
        429
    );
    assert!(metric(&server, "evident_enroll_throttled_total").await >= 5);
    server.finish().await;
}

/// The init token expires after 24 hours (fake clock).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_init_token_expires_after_a_day() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = tmp.path().join("clock");
    let t0: i64 = chrono::Utc::now().timestamp_millis();
    std::fs::write(&clock, t0.to_string()).unwrap();
    let clock_s = clock.display().to_string();
    let server = Server::start_with(
        Backend::Sqlite,
        &[],
        "",
        &[("EVIDENT_FAKE_CLOCK_FILE", clock_s.as_str())],
    )
    .await
    .unwrap();
    std::fs::write(&clock, (t0 + 24 * 3600 * 1000 + 1).to_string()).unwrap();
    let r = server
        .enroll(&Agent::new("late"), &server.enroll_token)
        .await;
    assert_eq!(r.status().as_u16(), 403);
    server.finish().await;
}

// ------------------------------------------------------------ connections

/// "one enrolled agent posting as fast as it can: +1.2 GB of database in
/// 30 s". Now per-agent quotas answer 429 and open one alert.
async fn a_flooding_agent_gets_429_and_an_alert(backend: Backend) {
    let server = Server::start_with(
        backend,
        &[],
        "[limits]\nstatements_per_minute = 5\nbytes_per_day = 1048576\n",
        &[],
    )
    .await
    .unwrap();
    let (mut agent, run, _root) = enrolled(&server, "web-1").await;
    let mut codes = Vec::new();
    for _ in 0..8 {
        let (env, _) = agent.sign_next(&run);
        codes.push(
            server
                .post(&request(&env, &run, true))
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(&codes[..5], &[201; 5], "{codes:?}");
    assert_eq!(&codes[5..], &[429; 3], "{codes:?}");
    let a = wait_alert(&server, &agent.id, "quota:statements-per-minute").await;
    assert_eq!(a["state"], "open");
    assert_eq!(
        alerts(&server)
            .await
            .iter()
            .filter(|a| a["subject"] == "quota:statements-per-minute")
            .count(),
        1
    );
    server.finish().await;

    // Bytes per day: requests carrying every blob each time, against 1 MiB.
    let server = Server::start_with(
        backend,
        &[],
        "[limits]\nstatements_per_minute = 100000\nbytes_per_day = 1048576\n",
        &[],
    )
    .await
    .unwrap();
    let (mut agent, run, _root) = enrolled(&server, "web-2").await;
    let (env, _) = agent.sign_next(&run);
    let per = serde_json::to_vec(&request(&env, &run, true))
        .unwrap()
        .len();
    let allowed = 1_048_576 / per;
    let mut first_429 = None;
    for i in 0..allowed + 2 {
        let (env, _) = agent.sign_next(&run);
        if server
            .post(&request(&env, &run, true))
            .await
            .status()
            .as_u16()
            == 429
        {
            first_429 = Some(i);
            break;
        }
    }
    let first = first_429.expect("the byte quota answers 429");
    assert!(
        first + 1 >= allowed,
        "429 after {first} of {allowed} requests"
    );
    wait_alert(&server, &agent.id, "quota:bytes-per-day").await;
    server.finish().await;
}

/// "2,000 idle connections after the TLS handshake: none closed in 130 s;
/// at 1,024 fds legitimate enrollment timed out, nothing logged". Now idle
/// connections are closed after the header timeout, connections over the
/// cap are closed at once (and logged), and a legitimate agent enrolls and
/// posts while 2,000 slow connections are held against a 1,024-fd limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_thousand_slow_connections_do_not_lock_out_an_agent() {
    let server = Server::start_with(
        Backend::Sqlite,
        &[],
        "[limits]\nheader_timeout_ms = 3000\n",
        &[],
    )
    .await
    .unwrap();
    let pid = server.pid().unwrap();
    let st = std::process::Command::new("prlimit")
        .args(["--pid", &pid.to_string(), "--nofile=1024:1024"])
        .status()
        .expect("prlimit");
    assert!(st.success());
    let addr: std::net::SocketAddr = server.url.trim_start_matches("https://").parse().unwrap();
    let tls = {
        let pem = std::fs::read(server.dir.path().join("ca.pem")).unwrap();
        std::sync::Arc::new(evident_collector::tls::client_config(&pem).unwrap())
    };
    let connector = tokio_rustls::TlsConnector::from(tls);
    // 2,000 connections that finish the TLS handshake (when admitted) and
    // then send nothing.
    let start = Instant::now();
    let mut held = Vec::new();
    let mut handshakes = 0usize;
    for _ in 0..2000 {
        let Ok(tcp) = tokio::net::TcpStream::connect(addr).await else {
            continue;
        };
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        if let Ok(Ok(s)) =
            tokio::time::timeout(Duration::from_millis(200), connector.connect(name, tcp)).await
        {
            handshakes += 1;
            held.push(s);
        }
    }
    let opened_in = start.elapsed();
    // While they are held: a legitimate agent enrolls and posts (retrying
    // on refused connections as the agent's backoff does).
    let t = Instant::now();
    let root = fixture_root("legit");
    let run = collect(root.path());
    let mut agent = Agent::new("legit");
    let mut enrolled_at = None;
    while t.elapsed() < Duration::from_secs(30) {
        let fresh = evident_e2e::client(&server.dir.path().join("ca.pem"));
        let r = fresh
            .post(format!("{}/v1/enroll", server.url))
            .json(&evident_core::wire::EnrollRequest {
                token: server.enroll_token.clone(),
                public_key: base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    agent.signer.verifying_key().as_bytes(),
                ),
                hostname: "legit".into(),
                agent_version: "test".into(),
                machine_id: None,
            })
            .send()
            .await;
        if let Ok(r) = r {
            if r.status().as_u16() == 200 {
                let v: Value = r.json().await.unwrap();
                agent.id = v["agent_id"].as_str().unwrap().to_string();
                enrolled_at = Some(t.elapsed());
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let enrolled_in = enrolled_at.expect("the legitimate agent enrolled within 30 s");
    let (env, _) = agent.sign_next(&run);
    let mut posted = 0;
    while t.elapsed() < Duration::from_secs(40) {
        let fresh = evident_e2e::client(&server.dir.path().join("ca.pem"));
        if let Ok(r) = fresh
            .post(format!("{}/v1/evidence", server.url))
            .json(&request(&env, &run, true))
            .send()
            .await
        {
            posted = r.status().as_u16();
            if posted == 201 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(posted, 201);
    // The idle ones were closed by the server (read returns EOF or an error).
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let mut closed = 0usize;
    for s in held.iter_mut().take(200) {
        use tokio::io::AsyncReadExt as _;
        let mut b = [0u8; 1];
        if let Ok(Ok(0) | Err(_)) =
            tokio::time::timeout(Duration::from_millis(50), s.read(&mut b)).await
        {
            closed += 1;
        }
    }
    let refused = metric(&server, "evident_connections_refused_total").await;
    println!(
        "slow connections: 2000 attempted in {:.1} s, {handshakes} handshakes completed, {refused} refused over the cap; \
         legitimate enrollment after {:.1} s, post after {:.1} s; {closed}/200 idle connections closed by the server",
        opened_in.as_secs_f64(),
        enrolled_in.as_secs_f64(),
        t.elapsed().as_secs_f64()
    );
    assert_eq!(closed, held.len().min(200), "idle connections stay open");
    assert!(refused > 0, "the cap was never reached");
    assert!(
        server.log().contains("connection cap reached"),
        "{}",
        server.log()
    );
    drop(held);
    server.finish().await;
}

// ------------------------------------------------------------------ roles

/// "/metrics unauthenticated; tells anyone which controls fail on how many
/// hosts". Now every area needs its scope; tokens are managed from the CLI
/// and the API; admin bodies are bounded.
async fn metrics_and_the_api_need_scoped_tokens(backend: Backend) {
    let server = Server::start(backend, &[]).await.unwrap();
    let (s, _) = server.get_as("/metrics", None).await;
    assert_eq!(s, 401);
    let (s, _) = server.get_as("/metrics", Some("nope")).await;
    assert_eq!(s, 401);
    let metrics_token = server
        .cli(&[
            "api-token",
            "create",
            "--scope",
            "metrics",
            "--name",
            "prometheus",
        ])
        .trim()
        .to_string();
    let auditor = server
        .cli(&["api-token", "create", "--scope", "auditor"])
        .trim()
        .to_string();
    let r = server
        .client
        .post(format!("{}/v1/admin/api-tokens", server.url))
        .bearer_auth(&server.admin_token)
        .json(&serde_json::json!({"scope": "operator", "name": "oncall"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let v: Value = r.json().await.unwrap();
    let operator = v["token"].as_str().unwrap().to_string();

    let (s, body) = server.get_as("/metrics", Some(&metrics_token)).await;
    assert_eq!(s, 200);
    assert!(body.contains("evident_ingest_total"));
    let (s, _) = server.get_as("/v1/hosts", Some(&metrics_token)).await;
    assert_eq!(s, 403);
    let (s, _) = server.get_as("/metrics", Some(&auditor)).await;
    assert_eq!(s, 403);
    let (s, _) = server.get_as("/v1/hosts", Some(&auditor)).await;
    assert_eq!(s, 200);
    let (s, _) = server.get_as("/v1/alerts", Some(&auditor)).await;
    assert_eq!(s, 200);
    let (s, _) = server.get_as("/v1/admin/tokens", Some(&auditor)).await;
    assert_eq!(s, 403);
    let (s, _) = server.get_as("/v1/admin/tokens", Some(&operator)).await;
    assert_eq!(s, 403);
    // Acknowledging needs operator: the auditor is refused by scope (403)
    // before the alert is looked up; the operator reaches it (404: no alert 1).
    for (token, want) in [(&auditor, 403), (&operator, 404)] {
        let r = server
            .client
            .post(format!("{}/v1/alerts/1/ack", server.url))
            .bearer_auth(token)
            .json(&serde_json::json!({"by": "oncall", "reason": "known"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), want);
    }
    // Revocation takes effect (within the cache TTL).
    let list = server.cli(&["api-token", "list"]);
    let id = list
        .lines()
        .find(|l| l.contains("auditor"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    server.cli(&["api-token", "revoke", &id]);
    tokio::time::sleep(evident_collector::service::access::CACHE_TTL).await;
    let (s, _) = server.get_as("/v1/hosts", Some(&auditor)).await;
    assert_eq!(s, 401);
    // Admin bodies are bounded (64 KiB; a little more, so the whole body
    // is sent before the answer).
    let r = server
        .client
        .post(format!("{}/v1/admin/tokens", server.url))
        .bearer_auth(&server.admin_token)
        .header("content-type", "application/json")
        .body(vec![b' '; 80 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    server.finish().await;
}

// ------------------------------------------------------- strings are data

/// "host name with terminal escapes, newline, `<script>`: raw in `agents
/// list`, forged log lines, unescaped in Markdown". Now control characters
/// are refused at enrollment, and what is shown is escaped.
async fn agent_strings_are_data(backend: Backend) {
    let server = Server::start(backend, &[]).await.unwrap();
    for bad in [
        "web-1\n2026-01-01T00:00:00Z  INFO forged line",
        "\u{1b}[2J\u{1b}[31mred",
        "abc\u{202e}gpj.exe",
    ] {
        let (s, v) =
            status_and_json(server.enroll(&Agent::new(bad), &server.enroll_token).await).await;
        assert_eq!(s, 400, "{bad:?}: {v}");
    }
    assert!(!server.log().contains("forged line\n"), "{}", server.log());
    let name = "<script>alert(1)</script>";
    let (mut agent, run, _root) = enrolled(&server, name).await;
    let (env, _) = agent.sign_next(&run);
    assert_eq!(
        server
            .post(&request(&env, &run, true))
            .await
            .status()
            .as_u16(),
        201
    );
    let md = server.cli(&["report", "--format", "markdown"]);
    assert!(!md.contains("<script>"), "{md}");
    assert!(md.contains("&lt;script&gt;"), "{md}");
    let html = server.cli(&["report", "--format", "html"]);
    assert!(!html.contains("<script>alert"), "raw script in HTML");
    server.finish().await;
}
