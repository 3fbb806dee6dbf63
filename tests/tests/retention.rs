//! End-to-end retention (issue 10) with the real binaries and a fake clock
//! (`EVIDENT_FAKE_CLOCK_FILE`): a host posts a day and a half of hourly
//! statements, the clock moves past the 400-day window, `prune --dry-run`
//! says what would go and changes nothing, `prune` prunes the unchanged
//! runs; then `export` + `verify --trust` passes and names what was pruned
//! under which policy, the report says so too, and a stub that does not
//! link fails `verify`. On SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers called from generated #[test]s

use evident_core::bundle::{self, Scope};
use evident_e2e::{bin, collect, fixture_root, request, Agent, Backend, Server};
use std::path::Path;
use std::process::Command;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
/// 2023-11-14T00:00:00Z: a UTC midnight in the past.
const T0: i64 = 1_700_000_000_000 / DAY * DAY;

fn at(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap()
}

/// `evident-collector ARGS --dir … [--database …]` with the fake clock.
fn cli_at(server: &Server, clock: &Path, args: &[&str]) -> (i32, String) {
    let mut cmd = Command::new(bin("evident-collector"));
    cmd.args(args).arg("--dir").arg(server.dir.path());
    if let Some(pg) = &server.pg {
        cmd.args(["--database", pg.url.as_str()]);
    }
    let out = cmd.env("EVIDENT_FAKE_CLOCK_FILE", clock).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn verify(server: &Server, file: &Path) -> (i32, String) {
    let key_id = evident_collector::review::collector_signer(server.dir.path())
        .unwrap()
        .key_id()
        .to_string();
    let out = Command::new(bin("evident-collector"))
        .arg("verify")
        .arg(file)
        .args(["--trust", key_id.as_str()])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn envelopes(file: &Path) -> usize {
    evident_collector::review::read_bundle(file)
        .unwrap()
        .keys()
        .filter(|k| k.starts_with("envelopes/"))
        .count()
}

async fn retention_then_export_and_verify(backend: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let clock = tmp.path().join("clock");
    std::fs::write(&clock, T0.to_string()).unwrap();
    let clock_s = clock.display().to_string();
    let mut server = Server::start_with(
        backend,
        &[],
        "[retention]\nenabled = false\n",
        &[("EVIDENT_FAKE_CLOCK_FILE", clock_s.as_str())],
    )
    .await
    .unwrap();
    let root = fixture_root("web-1");
    let run = collect(root.path());
    let mut changed = run.clone();
    changed.host.kernel = Some("6.1.0-99-amd64".into());
    let mut agent = Agent::new("web-1");
    agent.enroll(&server).await;
    // Day 0, hourly: 1 (first), 2-4 unchanged, 5 changed (new kernel);
    // day 1: 6 (first of the day), 7 unchanged, 8 (latest).
    let plan: &[(i64, bool)] = &[
        (HOUR, false),
        (2 * HOUR, false),
        (3 * HOUR, false),
        (4 * HOUR, false),
        (5 * HOUR, true),
        (DAY + HOUR, true),
        (DAY + 2 * HOUR, true),
        (DAY + 3 * HOUR, true),
    ];
    for (i, (offset, new_kernel)) in plan.iter().enumerate() {
        let when = T0 + offset;
        std::fs::write(&clock, (when + 60_000).to_string()).unwrap();
        let r = if *new_kernel { &changed } else { &run };
        let (env, _) = agent.sign_next_at(r, at(when));
        let resp = server.post(&request(&env, r, i == 0 || i == 4)).await;
        assert_eq!(
            resp.status().as_u16(),
            201,
            "{}",
            resp.text().await.unwrap_or_default()
        );
    }
    server.stop();
    // 401 days later only day 0 is past the 400-day window: of its five
    // statements, 2-4 would go (1 is the first, 5 changed).
    std::fs::write(&clock, (T0 + 401 * DAY).to_string()).unwrap();
    let (code, out) = cli_at(&server, &clock, &["prune", "--dry-run"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("would prune 3 of 5 statements considered"),
        "{out}"
    );
    // A day later both days are past it.
    std::fs::write(&clock, (T0 + 402 * DAY).to_string()).unwrap();
    let (code, out) = cli_at(&server, &clock, &["prune", "--dry-run"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("dry run: policy: keep every statement for 400 days"),
        "{out}"
    );
    assert!(
        out.contains("would prune 4 of 7 statements considered"),
        "{out}"
    );
    let before = server.dir.path().join("before.bundle");
    let (code, out) = cli_at(
        &server,
        &clock,
        &[
            "export",
            "--since",
            "2023-11-01",
            "-o",
            &before.display().to_string(),
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(envelopes(&before), 8, "a dry run changes nothing");

    let (code, out) = cli_at(&server, &clock, &["prune"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("retention run 1: policy: keep every statement for 400 days"),
        "{out}"
    );
    assert!(out.contains("pruned 4 of 7 statements considered"), "{out}");
    // Idempotent: nothing left to consider.
    let (_, out) = cli_at(&server, &clock, &["prune"]);
    assert!(out.contains("pruned 0 of 0 statements"), "{out}");

    let after = server.dir.path().join("after.bundle");
    let (code, out) = cli_at(
        &server,
        &clock,
        &[
            "export",
            "--since",
            "2023-11-01",
            "-o",
            &after.display().to_string(),
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(envelopes(&after), 4, "1, 5, 6 and 8 are kept");
    let (code, out) = verify(&server, &after);
    assert_eq!(code, 0, "verify must pass across the pruned runs:\n{out}");
    assert!(out.contains("OK: the bundle holds"), "{out}");
    assert!(out.contains("WARN [pruned] host web-1"), "{out}");
    assert!(
        out.contains("4 statements between sequences 2 and 7 (2 ranges) were pruned by retention"),
        "{out}"
    );
    assert!(out.contains("keep every statement for 400 days"), "{out}");

    // The report says what was pruned and under which policy.
    let (code, md) = cli_at(&server, &clock, &["report", "--since", "2023-11-01"]);
    assert_eq!(code, 0, "{md}");
    assert!(
        md.contains("pruned by retention: 4 unchanged statement(s) on 1 host(s)"),
        "{md}"
    );
    assert!(md.contains("keep every statement for 400 days"), "{md}");
    // By default the period is the retention window: nothing of 2023 in it.
    let (code, md) = cli_at(&server, &clock, &["report", "--format", "json"]);
    assert_eq!(code, 0, "{md}");
    assert!(md.contains("\"statements\": 0"), "{md}");
    let window = server.dir.path().join("window.bundle");
    let (code, out) = cli_at(
        &server,
        &clock,
        &["export", "-o", &window.display().to_string()],
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(envelopes(&window), 0, "older than the window");

    // A stub whose digest was changed no longer links: verify fails, even
    // with a manifest re-signed by the collector's own key.
    let mut members = evident_collector::review::read_bundle(&after).unwrap();
    let path = bundle::pruned::stubs_path(&agent.id);
    let mut stubs: Vec<bundle::pruned::ChainStubEntry> =
        serde_json::from_slice(&members[&path]).unwrap();
    stubs[1].envelope = evident_core::sha256_digest(b"forged");
    members.insert(path, serde_json::to_vec(&stubs).unwrap());
    let signer = evident_collector::review::collector_signer(server.dir.path()).unwrap();
    bundle::seal(
        &mut members,
        &signer,
        chrono::Utc::now(),
        "test",
        Scope::default(),
    );
    let forged = server.dir.path().join("forged.bundle");
    evident_collector::review::write_bundle(&forged, &members).unwrap();
    let (code, out) = verify(&server, &forged);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAIL [chain] host web-1"), "{out}");
    assert!(
        out.contains("the stub of pruned sequence 4 names previous"),
        "{out}"
    );
    server.finish().await;
}

#[tokio::test]
async fn sqlite_retention_then_export_and_verify() {
    retention_then_export_and_verify(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_retention_then_export_and_verify() {
    retention_then_export_and_verify(Backend::Postgres).await;
}
