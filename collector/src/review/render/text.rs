//! Text helpers shared by the renderers: escaping per format, times, ages.

use std::collections::BTreeMap;

/// Escape text for HTML (element content and quoted attributes).
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A CSV field. A field a spreadsheet would run as a formula (it starts
/// with `=`, `+`, `-`, `@`, a tab or a carriage return) is prefixed with
/// `'` so it stays text (OWASP "CSV injection").
pub fn csv(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// Text safe inside a Markdown table cell: `|` escaped, line breaks as
/// spaces, HTML metacharacters as entities (a `<script>` in a host name
/// stays text), other control characters (terminal escapes) as `\u{..}`.
pub fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '|' => out.push_str("\\|"),
            '\n' | '\r' => out.push(' '),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            c if c.is_control() => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
    out
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

/// The colour of a status in the HTML charts and pills.
pub fn color(status: &str) -> &'static str {
    match status {
        "satisfied" | "implemented" | "present" => "#2e7d32",
        "supported" => "#7cb342",
        "expired" => "#d84315",
        "missing" => "#6d4c41",
        "attested" => "#558b2f",
        "waived" => "#8e24aa",
        "partial" | "partially implemented" => "#f9a825",
        "partially-evidenced" => "#ef6c00",
        "not-satisfied" | "not implemented" => "#c62828",
        "no-evidence" | "not evidenced" => "#6d4c41",
        "not-applicable" | "excluded" | "not applicable" => "#90a4ae",
        _ => "#b0bec5",
    }
}

/// A coloured status pill (HTML).
pub fn pill(status: &str) -> String {
    format!(
        r#"<span class="pill" style="background:{}">{}</span>"#,
        color(status),
        esc(status)
    )
}

/// The cross-reference cell of a SoA row.
pub fn cross_cell(x: &BTreeMap<String, Vec<String>>) -> String {
    x.iter()
        .map(|(f, ids)| format!("{f}: {}", ids.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_strings_stay_data_in_every_format() {
        let host = "web<script>alert(1)</script>|x\n\u{1b}[31m";
        let m = md(host);
        assert!(
            !m.contains('<') && !m.contains('\n') && !m.contains('\u{1b}'),
            "{m}"
        );
        assert!(m.contains("\\|"), "{m}");
        assert_eq!(esc("<a href='x'>"), "&lt;a href=&#39;x&#39;&gt;");
        assert_eq!(
            csv("=HYPERLINK(\"http://x\")"),
            "\"'=HYPERLINK(\"\"http://x\"\")\""
        );
        assert_eq!(csv("-1+2"), "'-1+2");
        assert_eq!(csv("web-1"), "web-1");
    }
}
