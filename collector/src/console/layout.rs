//! The page shell and the small pieces every page uses: navigation,
//! security headers, status badges (a symbol and the status in words, so
//! status is never told by colour alone), `<time>` elements (RFC 3339 in
//! `datetime`, UTC in the text; the served script adds the viewer's local
//! time) and number formatting.

use super::auth::Session;
use super::shell::head;
pub use super::shell::{bare, see_other};
use crate::service::access::Scope;
use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use maud::{html, Markup, DOCTYPE};

/// The Content-Security-Policy of every console response: only the
/// console's own stylesheet and script, no inline script or style, no
/// framing, forms post only to the console.
pub const CSP: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                       form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Add the security headers to every console response.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// Which navigation entry is current.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    /// Fleet and controls.
    Fleet,
    /// Rule × host matrix.
    Matrix,
    /// Alerts.
    Alerts,
    /// Vulnerabilities (CVEs across the fleet).
    Vulns,
    /// Evidence review.
    Review,
    /// Agents and tokens.
    Admin,
    /// A host page (reached from the others).
    Host,
}

/// A full page for a signed-in user.
pub fn page(title: &str, s: &Session, nav: Nav, body: Markup) -> Markup {
    let item = |n: Nav, href: &str, label: &str| {
        html! {
            li {
                @if n == nav {
                    a href=(href) aria-current="page" { (label) }
                } @else {
                    a href=(href) { (label) }
                }
            }
        }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    span.brand { "Evident" }
                    nav aria-label="Console" {
                        ul {
                            (item(Nav::Fleet, "/", "Fleet"))
                            (item(Nav::Matrix, "/matrix", "Rules × hosts"))
                            (item(Nav::Alerts, "/alerts", "Alerts"))
                            (item(Nav::Vulns, "/vulns", "Vulnerabilities"))
                            (item(Nav::Review, "/review", "Evidence review"))
                            @if s.scope == Scope::Admin {
                                (item(Nav::Admin, "/admin", "Agents & tokens"))
                            }
                        }
                    }
                    form.signout method="post" action="/signout" {
                        input type="hidden" name="csrf" value=(s.csrf);
                        span.who { (s.actor) " · " (s.scope.as_str()) }
                        " "
                        button type="submit" { "Sign out" }
                    }
                }
                main id="main" tabindex="-1" {
                    (body)
                }
            }
        }
    }
}

/// The symbol shown before a status (with the status in words beside it).
pub fn symbol(status: &str) -> &'static str {
    match status {
        "pass" | "satisfied" => "✓",
        "fail" | "not-satisfied" => "✗",
        "error" => "⚠",
        "partial" | "partially-evidenced" => "◐",
        "no-evidence" => "?",
        "not-applicable" => "–",
        "not-automated" => "✎",
        "waived" => "⊘",
        "stale" => "⏱",
        "open" => "●",
        "acknowledged" => "◉",
        "resolved" => "○",
        _ => "·",
    }
}

/// How bad a status is (0 worst), for "worst first" ordering.
pub fn rank(status: &str) -> u8 {
    match status {
        "fail" | "not-satisfied" => 0,
        "error" => 1,
        "partial" => 2,
        "stale" => 3,
        "no-evidence" => 4,
        "partially-evidenced" => 5,
        "waived" => 6,
        "not-automated" => 7,
        "not-applicable" => 8,
        "pass" | "satisfied" => 9,
        _ => 10,
    }
}

/// CSS class of a status (colour is only ever an addition to the text).
pub fn class(status: &str) -> &'static str {
    match rank(status) {
        0 | 1 => "st st-bad",
        2..=5 => "st st-warn",
        9 => "st st-good",
        _ => "st st-neutral",
    }
}

/// A status badge: symbol and words.
pub fn badge(status: &str) -> Markup {
    html! {
        span class=(class(status)) {
            span aria-hidden="true" { (symbol(status)) } " " (status)
        }
    }
}

/// RFC 3339 (UTC, seconds) of Unix ms.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| format!("{ms} ms"))
}

/// A `<time>` element: RFC 3339 in `datetime` and as text (UTC); the
/// console script adds the viewer's local time.
pub fn time(ms: i64) -> Markup {
    let t = rfc3339(ms);
    html! { time datetime=(t) { (t) } }
}

/// An optional time.
pub fn time_opt(ms: Option<i64>) -> Markup {
    match ms {
        Some(ms) => time(ms),
        None => html! { span.muted { "never" } },
    }
}

/// Percent-encode a path segment or query value.
pub fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A stacked horizontal bar of status counts (inline SVG, with a text
/// alternative listing every count).
pub fn bar(counts: &[(String, u64)], width: u32) -> Markup {
    let total: u64 = counts.iter().map(|(_, n)| n).sum();
    let label = counts
        .iter()
        .map(|(s, n)| format!("{n} {s}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut rects = Vec::new();
    let mut x = 0f64;
    for (s, n) in counts {
        if total > 0 && *n > 0 {
            let w = (*n as f64) * f64::from(width) / (total as f64);
            rects.push((class(s).trim_start_matches("st st-"), x, w));
            x += w;
        }
    }
    html! {
        svg.bar width=(width) height="14" viewBox=(format!("0 0 {width} 14")) role="img" aria-label=(label) {
            title { (label) }
            @for (c, x, w) in &rects {
                rect class=(format!("fill-{c}")) x=(format!("{x:.1}")) y="0" width=(format!("{w:.1}")) height="14" {}
            }
        }
    }
}

/// A line chart of daily counts per status (inline SVG), with a table as
/// its text alternative.
pub fn trend_chart(points: &[crate::store::console::TrendPoint], caption: &str) -> Markup {
    use std::collections::BTreeMap;
    let mut days: Vec<&str> = points.iter().map(|p| p.day.as_str()).collect();
    days.dedup();
    let mut series: BTreeMap<&str, BTreeMap<&str, i64>> = BTreeMap::new();
    for p in points {
        *series
            .entry(p.status.as_str())
            .or_default()
            .entry(p.day.as_str())
            .or_default() += p.hosts;
    }
    let max = series
        .values()
        .flat_map(|m| m.values())
        .copied()
        .max()
        .unwrap_or(0)
        .max(1);
    let (w, h, pad) = (640.0f64, 160.0f64, 24.0f64);
    // Room on the right for each line label (symbol, status, last value).
    let w_plot = w - 160.0;
    let step = if days.len() > 1 {
        (w_plot - 2.0 * pad) / (days.len() as f64 - 1.0)
    } else {
        0.0
    };
    let mut statuses: Vec<&str> = series.keys().copied().collect();
    statuses.sort_by_key(|s| rank(s));
    html! {
        figure.trend {
            @if days.is_empty() {
                p.muted { "No trend yet: serve records the fleet's posture every few minutes, one point per day." }
            } @else {
                svg width="640" height="160" viewBox="0 0 640 160" role="img" aria-label=(caption) {
                    title { (caption) }
                    line.axis x1=(pad) y1=(h - pad) x2=(w_plot - pad) y2=(h - pad) {}
                    @for s in &statuses {
                        @let pts = days.iter().enumerate().map(|(i, d)| {
                            let v = series.get(s).and_then(|m| m.get(d)).copied().unwrap_or(0);
                            let y = h - pad - (v as f64) * (h - 2.0 * pad) / (max as f64);
                            format!("{:.1},{:.1}", pad + step * i as f64, y)
                        }).collect::<Vec<_>>().join(" ");
                        polyline class=(format!("line line-{}", class(s).trim_start_matches("st st-"))) points=(pts) {}
                        @let last = series.get(s).and_then(|m| m.get(days[days.len() - 1])).copied().unwrap_or(0);
                        text.axis-label x=(format!("{:.1}", pad + step * (days.len() as f64 - 1.0) + 8.0)) y=(format!("{:.1}", h - pad - (last as f64) * (h - 2.0 * pad) / (max as f64) + 4.0)) {
                            (symbol(s)) " " (s) " " (last)
                        }
                        @if days.len() == 1 {
                            @let v = series.get(s).and_then(|m| m.get(days[0])).copied().unwrap_or(0);
                            circle class=(format!("dot line-{}", class(s).trim_start_matches("st st-"))) cx=(pad) cy=(format!("{:.1}", h - pad - (v as f64) * (h - 2.0 * pad) / (max as f64))) r="4" {}
                        }
                    }
                    text x=(pad) y="14" class="axis-label" { (max) }
                    text x=(pad) y=(h - 6.0) class="axis-label" { (days[0]) }
                    text x=(w_plot - pad) y=(h - 6.0) class="axis-label end" { (days[days.len() - 1]) }
                }
                figcaption {
                    (caption) ". Lines: "
                    @for st in &statuses {
                        span.inline { svg width="18" height="6" aria-hidden="true" { line class=(format!("line line-{}", class(st).trim_start_matches("st st-"))) x1="0" y1="3" x2="18" y2="3" {} } (badge(st)) } " "
                    }
                }
                details {
                    summary { "Trend as a table" }
                    table {
                        thead { tr { th scope="col" { "Day" } @for s in &statuses { th scope="col" { (badge(s)) } } } }
                        tbody {
                            @for d in &days {
                                tr {
                                    th scope="row" { (d) }
                                    @for s in &statuses {
                                        td.num { (series.get(s).and_then(|m| m.get(d)).copied().unwrap_or(0)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
