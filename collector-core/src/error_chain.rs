//! One line for an error and its causes, as both binaries print them at
//! their edge (and as alert sinks record a failed delivery).

/// An error and its causes on one line, `outer: cause: root cause`, each
/// message once: a cause whose text the line already holds (a wrapper that
/// repeats its source, as sqlx's and many `#[error("…: {0}")]` errors do) is
/// skipped.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut line = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let msg = c.to_string();
        if !msg.is_empty() && !line.contains(&msg) {
            line.push_str(": ");
            line.push_str(&msg);
        }
        cur = c.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct Leaf(&'static str);

    #[derive(Debug, thiserror::Error)]
    #[error("database: {0}")]
    struct Repeats(#[source] Leaf);

    #[derive(Debug, thiserror::Error)]
    #[error("opening the store")]
    struct Context(#[source] Repeats);

    #[test]
    fn each_message_of_the_chain_is_printed_once() {
        let e = Context(Repeats(Leaf("unable to open database file")));
        let line = error_chain(&e);
        assert_eq!(
            line,
            "opening the store: database: unable to open database file"
        );
        assert_eq!(line.matches("unable to open database file").count(), 1);
        // anyhow's own `{:#}` repeats it: what this function is for.
        let any = anyhow::Error::new(Context(Repeats(Leaf("unable to open database file"))));
        assert_eq!(format!("{any:#}").matches("unable to open").count(), 2);
        assert_eq!(error_chain(any.as_ref()), line);
    }
}
