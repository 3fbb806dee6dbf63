//! Redaction of secrets in reported commands, and their length limit.

/// Longest command reported.
pub const MAX_COMMAND_CHARS: usize = 200;

fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "pass",
        "pwd",
        "secret",
        "token",
        "key",
        "credential",
        "auth",
        "cookie",
    ]
    .iter()
    .any(|w| n.contains(w))
}

/// Redact one `scheme://user:pass@host` inside a token.
fn redact_url(token: &str) -> String {
    let Some(i) = token.find("://") else {
        return token.to_string();
    };
    let (head, rest) = token.split_at(i + 3);
    let authority_end = rest.find(['/', '?', '#', ' ']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return token.to_string();
    };
    let userinfo = match userinfo.split_once(':') {
        Some((user, _)) => format!("{user}:***"),
        None => "***".to_string(),
    };
    format!("{head}{userinfo}@{host}{tail}")
}

/// Redact secrets in a command and cut it to [`MAX_COMMAND_CHARS`] characters.
pub fn redact_command(command: &str) -> String {
    let lower = command.to_ascii_lowercase();
    let mysql = lower.contains("mysql") || lower.contains("mariadb");
    let sshpass = lower.contains("sshpass");
    let mut out = String::with_capacity(command.len());
    let mut redact_next = false;
    let mut in_quote: Option<char> = None;
    let mut first = true;
    for token in command.split_whitespace() {
        if !first {
            out.push(' ');
        }
        first = false;
        if let Some(q) = in_quote {
            // Still inside a redacted quoted value.
            if token.ends_with(q) {
                in_quote = None;
            }
            out.push_str("***");
            continue;
        }
        if redact_next && !token.starts_with('-') {
            redact_next = false;
            out.push_str("***");
            in_quote = open_quote(token);
            continue;
        }
        redact_next = false;
        let t = redact_token(token, mysql, sshpass, &mut redact_next, &mut in_quote);
        out.push_str(&redact_url(&t));
    }
    truncate(&out)
}

/// The quote a value opens and does not close, if any.
fn open_quote(value: &str) -> Option<char> {
    let q = value.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let closed = value.len() > 1 && value.ends_with(q);
    (!closed).then_some(q)
}

fn redact_token(
    token: &str,
    mysql: bool,
    sshpass: bool,
    redact_next: &mut bool,
    in_quote: &mut Option<char>,
) -> String {
    if let Some(opt) = token.strip_prefix("--") {
        return match opt.split_once('=') {
            Some((name, value)) if is_secret_name(name) => {
                *in_quote = open_quote(value);
                format!("--{name}=***")
            }
            Some(_) => token.to_string(),
            None => {
                *redact_next = is_secret_name(opt) && !opt.contains("file");
                token.to_string()
            }
        };
    }
    if token.starts_with('-') {
        if mysql && token.len() > 2 && token.starts_with("-p") {
            return "-p***".into();
        }
        if sshpass && token == "-p" {
            *redact_next = true;
        }
        return token.to_string();
    }
    if let Some((name, value)) = token.split_once('=') {
        let bare = name.trim_start_matches(['"', '\'']);
        if !bare.is_empty()
            && bare
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            && is_secret_name(bare)
        {
            *in_quote = open_quote(value);
            return format!("{name}=***");
        }
    }
    token.to_string()
}

fn truncate(s: &str) -> String {
    if s.chars().count() <= MAX_COMMAND_CHARS {
        return s.to_string();
    }
    let mut t: String = s.chars().take(MAX_COMMAND_CHARS).collect();
    t.push('…');
    t
}
