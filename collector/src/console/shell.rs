//! The HTML document head and the bare page (sign-in, errors), and
//! redirects: what every other console module builds on (it imports none
//! of them).

use axum::http::header;
use axum::response::Response;
use maud::{html, Markup, DOCTYPE};

/// The document head: title, the stylesheets and the one script.
pub fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " — Evident" }
            link rel="stylesheet" href="/console/assets/console.css";
            link rel="stylesheet" media="print" href="/console/assets/print.css";
            script src="/console/assets/console.js" defer {}
        }
    }
}

/// A page without navigation (sign-in, errors).
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header.top { span.brand { "Evident" } }
                main id="main" { (body) }
            }
        }
    }
}

/// A 303 redirect.
pub fn see_other(to: &str) -> Response {
    use axum::response::IntoResponse as _;
    (
        axum::http::StatusCode::SEE_OTHER,
        [(header::LOCATION, to.to_string())],
    )
        .into_response()
}
