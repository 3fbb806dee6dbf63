//! Debian version ordering (`dpkg --compare-versions`).

use std::cmp::Ordering;

/// Compare two Debian version strings (`[epoch:]upstream[-revision]`) as dpkg does.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let (ea, ua, ra) = split_version(a);
    let (eb, ub, rb) = split_version(b);
    ea.cmp(&eb)
        .then_with(|| verrevcmp(ua.as_bytes(), ub.as_bytes()))
        .then_with(|| verrevcmp(ra.as_bytes(), rb.as_bytes()))
}

pub(super) fn split_version(v: &str) -> (u64, &str, &str) {
    let v = v.trim();
    let (epoch, rest) = match v.split_once(':') {
        Some((e, r)) if !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit()) => {
            (e.parse().unwrap_or(u64::MAX), r)
        }
        _ => (0, v),
    };
    match rest.rsplit_once('-') {
        Some((u, r)) => (epoch, u, r),
        None => (epoch, rest, ""),
    }
}

pub(super) fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(c) => i32::from(c) + 256,
    }
}

pub(super) fn verrevcmp(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0usize, 0usize);
    let at = |k: usize| a.get(k).copied();
    let bt = |k: usize| b.get(k).copied();
    let digit = |c: Option<u8>| c.is_some_and(|c| c.is_ascii_digit());
    while at(i).is_some() || bt(j).is_some() {
        while (at(i).is_some() && !digit(at(i))) || (bt(j).is_some() && !digit(bt(j))) {
            let (ac, bc) = (order(at(i)), order(bt(j)));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while at(i) == Some(b'0') {
            i += 1;
        }
        while bt(j) == Some(b'0') {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while digit(at(i)) && digit(bt(j)) {
            if first_diff == Ordering::Equal {
                first_diff = at(i).cmp(&bt(j));
            }
            i += 1;
            j += 1;
        }
        if digit(at(i)) {
            return Ordering::Greater;
        }
        if digit(bt(j)) {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

// ---------------------------------------------------------------- stanzas

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_version_ordering() {
        use Ordering::*;
        let cases = [
            ("1.0", "1.0", Equal),
            ("1.0-1", "1.0-2", Less),
            ("1:1.0", "2.0", Greater),
            ("1.0~rc1", "1.0", Less),
            ("1.0~~", "1.0~", Less),
            ("1.0", "1.0+b1", Less),
            ("1.0a", "1.0", Greater),
            ("1.0.1", "1.0a", Greater),
            ("3.0.19-1~deb12u2", "3.0.22-1~deb12u2", Less),
            ("2.36-9+deb12u14", "2.36-9+deb12u7", Greater),
            ("1:9.2p1-2+deb12u10", "1:9.2p1-2+deb12u9", Greater),
            ("1:9.6p1-1~bpo12+1", "1:9.2p1-2+deb12u10", Greater),
            ("2025b-0+deb12u2", "2026f-0+deb12u1", Less),
            ("0.17+2.4-2+deb12u3", "0.17+2.4-2+deb12u3", Equal),
            ("007", "7", Equal),
            ("1.2-3-4", "1.2-3-5", Less),
            ("1.0-", "1.0", Equal),
            ("", "0", Equal),
            ("a:1", "1", Greater),
        ];
        for (a, b, want) in cases {
            assert_eq!(compare_versions(a, b), want, "{a} vs {b}");
            assert_eq!(compare_versions(b, a), want.reverse(), "{b} vs {a}");
        }
    }
}
