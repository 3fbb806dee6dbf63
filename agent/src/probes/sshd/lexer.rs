//! Line lexing: keyword/argument splitting, sshd's `argv_split` quoting and
//! `convtime` time values.

/// Split the keyword from the rest like sshd's `strdelim` (whitespace, one `=`).
pub(super) fn split_keyword(line: &str) -> Option<(&str, &str)> {
    if line.is_empty() {
        return None;
    }
    let end = line
        .find([' ', '\t', '\r', '\n', '"', '='])
        .unwrap_or(line.len());
    let (keyword, after) = line.split_at(end);
    if after.starts_with('"') {
        // A quoted keyword: never a valid keyword; treat the quote as separator.
        return Some((keyword, after.trim_start_matches('"')));
    }
    let ws = |c: char| matches!(c, ' ' | '\t' | '\r' | '\n');
    let mut rest = after;
    if let Some(r) = rest.strip_prefix('=') {
        rest = r.trim_start_matches(ws);
    } else {
        rest = rest.trim_start_matches(ws);
        if let Some(r) = rest.strip_prefix('=') {
            rest = r.trim_start_matches(ws);
        }
    }
    Some((keyword, rest))
}

/// sshd's `argv_split(…, terminate_on_comment=1)`. `None` on an unclosed quote.
pub(super) fn argv_split(s: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
            chars.next();
        }
        match chars.peek() {
            None => return Some(out),
            Some('#') => return Some(out),
            Some(_) => {}
        }
        let mut arg = String::new();
        let mut quote: Option<char> = None;
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.peek().copied() {
                    Some(n)
                        if n == '\'' || n == '"' || n == '\\' || (quote.is_none() && n == ' ') =>
                    {
                        arg.push(n);
                        chars.next();
                    }
                    _ => arg.push(c),
                }
            } else if quote.is_none() && (c == ' ' || c == '\t') {
                break;
            } else if quote.is_none() && (c == '"' || c == '\'') {
                quote = Some(c);
            } else if quote == Some(c) {
                quote = None;
            } else {
                arg.push(c);
            }
        }
        if quote.is_some() {
            return None;
        }
        out.push(arg);
    }
}

/// OpenSSH's `convtime`: `90`, `1m30s`, `2h` → seconds.
pub fn convtime(s: &str) -> Option<i64> {
    if s.is_empty() {
        return None;
    }
    let mut total: i64 = 0;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            num.push(c);
            if chars.peek().is_none() {
                total = total.checked_add(num.parse::<i64>().ok()?)?;
                num.clear();
            }
            continue;
        }
        let mult: i64 = match c {
            's' | 'S' => 1,
            'm' | 'M' => 60,
            'h' | 'H' => 3600,
            'd' | 'D' => 86400,
            'w' | 'W' => 604_800,
            _ => return None,
        };
        if num.is_empty() {
            return None;
        }
        let n: i64 = num.parse().ok()?;
        total = total.checked_add(n.checked_mul(mult)?)?;
        num.clear();
    }
    if total > i64::from(i32::MAX) {
        return None;
    }
    Some(total)
}

pub(super) fn split_commas(s: &str) -> Vec<String> {
    s.split(',')
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_split_follows_sshd() {
        assert_eq!(
            argv_split(r#"a "b c" 'd' e\ f # g"#).unwrap(),
            ["a", "b c", "d", "e f"]
        );
        assert!(argv_split("\"open").is_none());
        assert_eq!(split_keyword("Port=22"), Some(("Port", "22")));
        assert_eq!(split_keyword("Port = 22"), Some(("Port", "22")));
    }
}
