//! End-to-end: predicate v2 with the real collector. An agent not yet
//! upgraded (v1), then a full v2 statement, then unchanged runs that name
//! their content by digest: all stored, chained and evaluated; an unchanged
//! run naming a content the collector lacks gets 422 naming it; `export`
//! carries the content blobs and `verify --trust` passes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use evident_core::evidence::{AgentInfo, Predicate, Schedule, Statement, PAYLOAD_TYPE};
use evident_core::wire::{IngestRequest, IngestResponse};
use evident_core::{sha256_digest, Digest};
use evident_e2e::{bin, collect, fixture_root, request, Agent, Backend, Run, Server};
use std::process::Command;

fn v2(agent: &Agent, run: &Run) -> Statement {
    Statement::new_v2(Predicate {
        agent: AgentInfo {
            id: agent.id.clone(),
            version: "0.2.0-test".into(),
        },
        host: evident_core::evidence::HostFacts {
            hostname: agent.hostname.clone(),
            ..run.host.clone()
        },
        sequence: agent.next_sequence,
        previous: agent.previous,
        gap: None,
        collected_at: chrono::Utc::now(),
        schedule: Schedule {
            cron: "0 */15 * * * *".into(),
            interval_seconds: agent.interval_seconds,
        },
        probes: run.probes.clone(),
    })
}

/// `run` with its first blob-carrying probe pointing at `digest`.
fn lacking_run(run: &Run, digest: Digest) -> Run {
    let mut run = run.clone();
    if let Some(p) = run.probes.iter_mut().find(|p| p.digest.is_some()) {
        p.digest = Some(digest);
    }
    run
}

/// Sign `payload`, advance the agent's chain, return the envelope.
fn sign(agent: &mut Agent, payload: Vec<u8>) -> Vec<u8> {
    let env = agent.signer.sign_envelope(PAYLOAD_TYPE, payload).to_json();
    agent.next_sequence += 1;
    agent.previous = Some(sha256_digest(&env));
    env
}

/// The agent's own gzip.
fn gzip(data: &[u8]) -> Vec<u8> {
    evident_agent::shipper::gzip(data).unwrap()
}

async fn post_gzip(server: &Server, env: &[u8]) -> (u16, String, usize) {
    let body = gzip(&serde_json::to_vec(&IngestRequest::new(env, std::iter::empty())).unwrap());
    let len = body.len();
    let r = server
        .client
        .post(format!("{}/v1/evidence", server.url))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap(), len)
}

async fn v1_then_v2_unchanged_runs_are_stored_and_verify(backend: Backend) {
    let Some(server) = Server::start(backend, &[]).await else {
        return;
    };
    let root = fixture_root("v2-host");
    let run = collect(root.path());
    let mut agent = Agent::new("v2-host");
    agent.enroll(&server).await;

    // Not yet upgraded: v1.
    let (env, _) = agent.sign_next(&run);
    let r = server.post(&request(&env, &run, true)).await;
    assert_eq!(r.status().as_u16(), 201);

    // Upgraded: a full v2 statement; the collector derives its content blob.
    let full = v2(&agent, &run);
    let content: Digest = full.content_digest();
    let env = sign(&mut agent, full.to_bytes());
    let (status, text, _) = post_gzip(&server, &env).await;
    assert_eq!(status, 201, "{text}");
    let resp: IngestResponse = serde_json::from_str(&text).unwrap();
    assert!(resp.known_blobs.contains(&content), "{text}");

    // Unchanged runs: compact, individually signed, chained.
    let mut wire = 0;
    for _ in 0..3 {
        let payload = v2(&agent, &run).to_unchanged_bytes();
        let env = sign(&mut agent, payload);
        let (status, text, len) = post_gzip(&server, &env).await;
        assert_eq!(status, 201, "{text}");
        let resp: IngestResponse = serde_json::from_str(&text).unwrap();
        assert!(resp.summary.values().sum::<u64>() > 0, "{text}");
        wire = len;
    }
    assert!(wire <= 1024, "an unchanged run is {wire} bytes on the wire");

    // No integrity event: the chain holds across v1, full v2 and unchanged runs.
    let (_, events) = server
        .get(&format!("/v1/integrity-events?agent={}", agent.id))
        .await;
    assert_eq!(
        events["items"].as_array().map(Vec::len),
        Some(0),
        "{events}"
    );

    // Export + verify (the bundle carries the content blob).
    let out = server.dir.path().join("v2.bundle");
    server.cli(&["export", "-o", &out.to_string_lossy()]);
    let key_id = evident_collector::review::collector_signer(server.dir.path())
        .unwrap()
        .key_id()
        .to_string();
    let v = Command::new(bin("evident-collector"))
        .arg("verify")
        .arg(&out)
        .args(["--trust", &key_id])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&v.stdout).into_owned() + &String::from_utf8_lossy(&v.stderr);
    assert_eq!(v.status.code(), Some(0), "{text}");

    // An unchanged run naming a content the collector never saw: 422 naming it.
    let mut other = v2(&agent, &run);
    other.predicate.host.os_version = "13".into();
    let unknown = other.content_digest();
    let env = sign(&mut agent, other.to_unchanged_bytes());
    let (status, text, _) = post_gzip(&server, &env).await;
    assert_eq!(status, 422, "{text}");
    assert!(text.contains(&unknown.to_string()), "{text}");

    // A full statement refused for a blob it lacks leaves its content parsed
    // in the collector's cache but not stored: an unchanged run naming that
    // content must not be stored on the content's word (a stored content
    // vouches for its blobs, a cached one does not).
    let absent = Digest([0xab; 32]);
    let lacking = lacking_run(&run, absent);
    let payload = v2(&agent, &lacking).to_bytes();
    let env = sign(&mut agent, payload);
    let (status, text, _) = post_gzip(&server, &env).await;
    assert_eq!(status, 422, "{text}");
    assert!(text.contains(&absent.to_string()), "{text}");
    let payload = v2(&agent, &lacking).to_unchanged_bytes();
    let env = sign(&mut agent, payload);
    let (status, text, _) = post_gzip(&server, &env).await;
    assert_eq!(status, 422, "{text}");
    assert!(text.contains(&absent.to_string()), "{text}");
    server.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_then_v2_unchanged_runs_sqlite() {
    v1_then_v2_unchanged_runs_are_stored_and_verify(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_then_v2_unchanged_runs_postgres() {
    v1_then_v2_unchanged_runs_are_stored_and_verify(Backend::Postgres).await;
}
