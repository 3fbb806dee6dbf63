//! Text helpers shared by the renderers: escaping per format, times, ages.

use std::collections::BTreeMap;

/// Escape text for HTML.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A CSV field.
pub fn csv(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Text safe inside a Markdown table cell.
pub fn md(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// A time to the minute, UTC.
pub fn fmt_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// Age in a short human form.
pub fn age(seconds: i64) -> String {
    let s = seconds.max(0);
    if s < 3600 {
        format!("{}m", s / 60)
    } else if s < 86_400 {
        format!("{}h", s / 3600)
    } else {
        format!("{}d", s / 86_400)
    }
}

/// `n status, m status` for a control's per-status host counts.
pub fn hosts_cell(h: &BTreeMap<String, usize>) -> String {
    h.iter()
        .map(|(s, n)| format!("{n} {s}"))
        .collect::<Vec<_>>()
        .join(", ")
}
