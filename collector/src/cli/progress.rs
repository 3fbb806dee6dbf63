//! A progress bar on stderr for long review commands.

use indicatif::{ProgressBar, ProgressStyle};

/// A progress bar on stderr, drawn only when stderr is a terminal.
pub fn progress_bar(total: u64, what: &str) -> ProgressBar {
    let bar = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        ProgressBar::new(total)
    } else {
        ProgressBar::hidden()
    };
    let template = if total == 0 {
        format!("{{spinner}} {what} {{pos}} envelopes ({{per_sec}})")
    } else {
        format!("{{bar:40}} {what} {{pos}}/{{len}} envelopes ({{eta}})")
    };
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}
