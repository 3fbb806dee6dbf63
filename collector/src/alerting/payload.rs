//! The body a sink delivers, rendered at delivery time from the outbox
//! row: RFC 3339 times, the remediation of the failing rules, a link back
//! to the collector (`public_url`) and the delivery id. The outbox keeps
//! what ingest knew (`store::drift::Notification`, times in Unix ms);
//! rows queued by older versions render the same way. The fields are
//! documented in docs/alerting.md.

use crate::store::drift::OutboxRow;
use chrono::SecondsFormat;
use serde_json::{json, Value};

/// The delivery id of an outbox row: the same on every retry of it, so a
/// receiver can drop duplicates (`webhook-id`).
pub fn delivery_id(row: &OutboxRow) -> String {
    format!("evident-{}-{}-{}", row.alert_id, row.event, row.id)
}

/// Unix ms → RFC 3339 UTC with milliseconds.
pub fn rfc3339_ms(ms: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// The notification body of `row` (its stored JSON must be an object).
pub fn render(row: &OutboxRow, public_url: Option<&str>) -> Result<Value, String> {
    let stored: Value =
        serde_json::from_str(&row.payload).map_err(|e| format!("outbox row {}: {e}", row.id))?;
    let Value::Object(stored) = stored else {
        return Err(format!("outbox row {}: not a JSON object", row.id));
    };
    let s = |k: &str| stored.get(k).cloned().unwrap_or(Value::Null);
    let at = match stored.get("at") {
        Some(Value::Number(n)) => n.as_i64().and_then(rfc3339_ms).map(Value::String),
        Some(Value::String(t)) => Some(Value::String(t.clone())),
        _ => None,
    }
    .or_else(|| rfc3339_ms(row.created_at).map(Value::String))
    .unwrap_or(Value::Null);
    let base = public_url.map(|u| u.trim_end_matches('/'));
    let link = |path: String| base.map_or(Value::Null, |b| Value::String(format!("{b}{path}")));
    let event = stored
        .get("event")
        .and_then(Value::as_str)
        .unwrap_or(row.event.as_str())
        .to_string();
    Ok(json!({
        "type": format!("alert.{event}"),
        "delivery_id": delivery_id(row),
        "alert_id": row.alert_id,
        "event": event,
        "kind": s("kind"),
        "severity": s("severity"),
        "agent_id": s("agent_id"),
        "hostname": s("hostname"),
        "subject": s("subject"),
        "detail": s("detail"),
        "at": at,
        "remediation": stored.get("remediation").cloned().unwrap_or_else(|| json!([])),
        "url": link(format!("/alerts/{}", row.alert_id)),
        "api_url": link(format!("/v1/alerts/{}", row.alert_id)),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(payload: &str) -> OutboxRow {
        OutboxRow {
            id: 7,
            alert_id: 3,
            event: "opened".into(),
            sink: "s".into(),
            payload: payload.into(),
            attempts: 1,
            created_at: 1_700_000_000_000,
        }
    }

    #[test]
    fn unix_ms_becomes_rfc3339_and_links_use_the_public_url() {
        let r = row(
            r#"{"alert_id":3,"event":"opened","kind":"drift","agent_id":"a","hostname":"web-1",
            "subject":"rule:x","severity":"high","detail":"pass → fail","at":1700000000123,
            "remediation":[{"rule":"x","title":"X","text":"fix x"}]}"#,
        );
        let b = render(&r, Some("https://collector.example:8443/")).unwrap();
        assert_eq!(b["at"], "2023-11-14T22:13:20.123Z");
        assert!(chrono::DateTime::parse_from_rfc3339(b["at"].as_str().unwrap()).is_ok());
        assert_eq!(b["type"], "alert.opened");
        assert_eq!(b["url"], "https://collector.example:8443/alerts/3");
        assert_eq!(b["api_url"], "https://collector.example:8443/v1/alerts/3");
        assert_eq!(b["remediation"][0]["text"], "fix x");
        assert_eq!(b["delivery_id"], "evident-3-opened-7");
        // No Unix-ms number is left anywhere in the body.
        assert!(b
            .as_object()
            .unwrap()
            .values()
            .all(|v| !v.is_i64() || v == &b["alert_id"]));
    }

    #[test]
    fn without_public_url_links_are_null_and_old_rows_still_render() {
        // A row queued before remediation existed.
        let b = render(&row(r#"{"event":"resolved","at":0}"#), None).unwrap();
        assert!(b["url"].is_null() && b["api_url"].is_null());
        assert_eq!(b["remediation"], json!([]));
        assert_eq!(b["at"], "1970-01-01T00:00:00.000Z");
        assert!(render(&row("[1]"), None).is_err());
        assert!(render(&row("not json"), None).is_err());
    }
}
