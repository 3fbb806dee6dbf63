//! `agents list` and `token list` in both formats (issue #16), against the
//! real `evident-collector` binary on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers called from generated #[test]s

use evident_e2e::{Agent, Backend, Server};
use serde_json::Value;

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

on_both!(agents_and_tokens_list_as_json_and_table);

fn is_rfc3339(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok() && s.ends_with('Z'))
}

async fn agents_and_tokens_list_as_json_and_table(backend: Backend) {
    let server = Server::start(backend, &[]).await.unwrap();
    let name = "<b>web-1</b>";
    let mut agent = Agent::new(name);
    agent.enroll(&server).await;

    let agents: Value = serde_json::from_str(&server.cli(&["agents", "list", "--format", "json"]))
        .expect("agents list --format json is JSON");
    let agents = agents.as_array().expect("an array");
    assert_eq!(agents.len(), 1, "{agents:?}");
    let a = &agents[0];
    assert_eq!(a["id"], Value::String(agent.id.clone()));
    assert_eq!(a["hostname"], name);
    assert!(a["status"].is_string(), "{a}");
    assert!(a["key_id"].as_str().is_some_and(|k| k.len() == 64), "{a}");
    assert!(is_rfc3339(&a["enrolled_at"]), "{a}");
    assert!(a["last_seen"].is_null(), "nothing delivered yet: {a}");
    assert!(a["last_sequence"].is_null(), "{a}");
    let table = server.cli(&["agents", "list"]);
    assert!(table.starts_with("id "), "{table}");
    assert!(table.contains(&agent.id) && table.contains(name), "{table}");

    let tokens: Value = serde_json::from_str(&server.cli(&["token", "list", "--format", "json"]))
        .expect("token list --format json is JSON");
    let tokens = tokens.as_array().expect("an array");
    assert!(!tokens.is_empty(), "init mints a first token");
    let used = tokens
        .iter()
        .find(|t| t["uses"] == 1)
        .unwrap_or_else(|| panic!("the enrollment used a token: {tokens:?}"));
    assert!(is_rfc3339(&used["created_at"]), "{used}");
    assert!(
        used["expires_at"].is_null() || is_rfc3339(&used["expires_at"]),
        "{used}"
    );
    assert_eq!(used["revoked"], false);
    assert!(used["state"].is_string(), "{used}");
    assert!(used["id"].is_string(), "{used}");
    let table = server.cli(&["token", "list"]);
    assert!(table.contains(used["id"].as_str().unwrap()), "{table}");
    server.finish().await;
}
