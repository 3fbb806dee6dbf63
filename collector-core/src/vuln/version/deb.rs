//! Debian version ordering, as dpkg's `parseversion` and `verrevcmp` do it
//! (`[epoch:]upstream[-revision]`; `~` sorts before anything, even the end;
//! letters before other characters; digit runs compare as numbers).

use super::VersionError;
use std::cmp::Ordering;

/// A parsed Debian version, borrowing the string it came from.
#[derive(Debug, Clone, Copy)]
pub struct DebVersion<'a> {
    /// The epoch (0 when absent).
    pub epoch: u32,
    /// The upstream version (between the epoch's colon and the last hyphen).
    pub upstream: &'a str,
    /// The Debian revision (after the last hyphen; empty when absent).
    pub revision: &'a str,
}

impl<'a> DebVersion<'a> {
    /// Parse as dpkg does: blanks around the version are trimmed; an empty
    /// string, blanks inside, a bad epoch, nothing after the colon or an
    /// empty revision are errors. What dpkg only warns about (an upstream
    /// not starting with a digit, unusual punctuation) is accepted and
    /// ordered as dpkg orders it; control characters and non-ASCII bytes
    /// are refused.
    pub fn parse(s: &'a str) -> Result<DebVersion<'a>, VersionError> {
        let v = super::trimmed(s)?;
        let (epoch, rest) = match v.split_once(':') {
            Some((e, rest)) => {
                let epoch_err = |reason| VersionError::Epoch {
                    version: s.to_string(),
                    reason,
                };
                let digits = e.strip_prefix('+').unwrap_or(e);
                if e.is_empty() {
                    return Err(epoch_err("is empty"));
                }
                if e.starts_with('-') && e.len() > 1 && e[1..].bytes().all(|c| c.is_ascii_digit()) {
                    return Err(epoch_err("is negative"));
                }
                if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
                    return Err(epoch_err("is not a number"));
                }
                let epoch = digits
                    .parse::<u64>()
                    .ok()
                    .and_then(|n| u32::try_from(n).ok())
                    .filter(|n| i32::try_from(*n).is_ok())
                    .ok_or_else(|| epoch_err("is too big"))?;
                if rest.is_empty() {
                    return Err(VersionError::NothingAfterColon(s.to_string()));
                }
                (epoch, rest)
            }
            None => (0, v),
        };
        let (upstream, revision) = match rest.rsplit_once('-') {
            Some((_, "")) => return Err(VersionError::EmptyRevision(s.to_string())),
            Some((u, r)) => (u, r),
            None => (rest, ""),
        };
        if upstream.is_empty() {
            return Err(VersionError::EmptyUpstream(s.to_string()));
        }
        Ok(DebVersion {
            epoch,
            upstream,
            revision,
        })
    }
}

impl Ord for DebVersion<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| verrevcmp(self.upstream.as_bytes(), other.upstream.as_bytes()))
            .then_with(|| verrevcmp(self.revision.as_bytes(), other.revision.as_bytes()))
    }
}

impl PartialOrd for DebVersion<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for DebVersion<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for DebVersion<'_> {}

/// Compare two Debian versions without ever failing: what [`DebVersion::parse`]
/// refuses is read leniently (a bad epoch counts as part of the upstream
/// version). For ordering candidates from apt lists, where an unreadable
/// version must not stop the scan; vulnerability matching uses the strict
/// parse and reports unreadable versions instead.
pub fn compare_lenient(a: &str, b: &str) -> Ordering {
    if let (Ok(x), Ok(y)) = (DebVersion::parse(a), DebVersion::parse(b)) {
        return x.cmp(&y);
    }
    let (ea, ua, ra) = split_lenient(a);
    let (eb, ub, rb) = split_lenient(b);
    ea.cmp(&eb)
        .then_with(|| verrevcmp(ua.as_bytes(), ub.as_bytes()))
        .then_with(|| verrevcmp(ra.as_bytes(), rb.as_bytes()))
}

fn split_lenient(v: &str) -> (u64, &str, &str) {
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

fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp` on one part (upstream or revision).
pub fn verrevcmp(a: &[u8], b: &[u8]) -> Ordering {
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

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    /// Tricky pairs: epochs, `~` (before the end, `~~` before `~`), `+b`
    /// binNMUs, revisions with hyphens, leading zeros, letters versus
    /// punctuation, security and backport suffixes.
    pub(crate) const PAIRS: &[(&str, &str, Ordering)] = &[
        ("1.0", "1.0", Equal),
        ("1.0-1", "1.0-2", Less),
        ("1:1.0", "2.0", Greater),
        ("0:1.0", "1.0", Equal),
        ("1.0~rc1", "1.0", Less),
        ("1.0~~", "1.0~", Less),
        ("1.0~~a", "1.0~", Less),
        ("1.0~", "1.0", Less),
        ("1.0", "1.0+b1", Less),
        ("1.0-1", "1.0-1+b1", Less),
        ("1.0-1+b1", "1.0-1.1", Less),
        ("1.0a", "1.0", Greater),
        ("1.0.1", "1.0a", Greater),
        ("1.0+dfsg", "1.0.1", Less),
        ("1.0+dfsg-1", "1.0-1", Greater),
        ("3.0.19-1~deb12u2", "3.0.22-1~deb12u2", Less),
        ("2.36-9+deb12u14", "2.36-9+deb12u7", Greater),
        ("1:9.2p1-2+deb12u10", "1:9.2p1-2+deb12u9", Greater),
        ("1:9.6p1-1~bpo12+1", "1:9.2p1-2+deb12u10", Greater),
        ("2025b-0+deb12u2", "2026f-0+deb12u1", Less),
        ("0.17+2.4-2+deb12u3", "0.17+2.4-2+deb12u3", Equal),
        ("007", "7", Equal),
        ("1.2-3-4", "1.2-3-5", Less),
        ("1.2-3-4", "1.2-4", Greater),
        ("1:2:3", "1:2:4", Less),
        ("1.0-1~deb12u1", "1.0-1", Less),
        ("1.0-1+deb12u1", "1.0-1", Greater),
        ("6.1.158-1", "6.1.123-1", Greater),
        ("252.36-1~deb12u1", "252.33-1~deb12u1", Greater),
        ("10", "9", Greater),
        ("1.10", "1.9", Greater),
        ("1.0.0", "1.0", Greater),
        ("1.0-0", "1.0", Equal),
        ("a", "b", Less),
        ("1a", "1+", Less),
        ("1~a", "1~b", Less),
        ("2:1.0", "10:0.1", Less),
        ("1.2.3~rc1-1", "1.2.3-1", Less),
        ("4.19.0-21", "4.19.0-21+b1", Less),
        ("20230311+dfsg-1", "20230311-1", Greater),
    ];

    #[test]
    fn debian_pairs_order_like_dpkg() {
        for (a, b, want) in PAIRS {
            let (x, y) = (DebVersion::parse(a).unwrap(), DebVersion::parse(b).unwrap());
            assert_eq!(x.cmp(&y), *want, "{a} vs {b}");
            assert_eq!(y.cmp(&x), want.reverse(), "{b} vs {a}");
            assert_eq!(compare_lenient(a, b), *want, "{a} vs {b} (lenient)");
        }
    }

    /// Strings dpkg refuses (`dpkg --compare-versions` exits with an error).
    pub(crate) const INVALID: &[&str] = &[
        "",
        "   ",
        "1 0",
        ":1.0",
        "a:1.0",
        "1:",
        "-1:1.0",
        "1.0-",
        "99999999999:1",
        "1:-1",
    ];

    #[test]
    fn invalid_debian_versions_are_typed_errors() {
        for v in INVALID {
            assert!(DebVersion::parse(v).is_err(), "{v:?} should be refused");
        }
        assert!(matches!(DebVersion::parse(""), Err(VersionError::Empty)));
        assert!(matches!(
            DebVersion::parse("x:1"),
            Err(VersionError::Epoch {
                reason: "is not a number",
                ..
            })
        ));
        assert!(matches!(
            DebVersion::parse("1.0\n1"),
            Err(VersionError::InvalidCharacter(_))
        ));
        assert!(matches!(
            DebVersion::parse("1.0-"),
            Err(VersionError::EmptyRevision(_))
        ));
        // Lenient ordering never fails on them.
        for v in INVALID {
            let _ = compare_lenient(v, "1.0");
        }
        assert_eq!(compare_lenient("", "0"), Equal);
        assert_eq!(compare_lenient("a:1", "1"), Greater);
    }

    /// Every pair (both ways) and every invalid string through the real
    /// `dpkg --compare-versions`. dpkg must be installed: without it this
    /// test fails, it does not skip. (A test helper, so the pure crate's
    /// ban on running programs is lifted for it alone.)
    #[test]
    #[allow(clippy::disallowed_methods, clippy::disallowed_types)]
    fn dpkg_itself_agrees_on_every_pair() {
        let dpkg = |a: &str, op: &str, b: &str| -> i32 {
            std::process::Command::new("dpkg")
                .args(["--compare-versions", a, op, b])
                .output()
                .expect("dpkg --compare-versions must be installed for this test")
                .status
                .code()
                .expect("dpkg exited by a signal")
        };
        for (a, b, want) in PAIRS {
            for (x, y, w) in [(a, b, *want), (b, a, want.reverse())] {
                let op = match w {
                    Less => "lt",
                    Equal => "eq",
                    Greater => "gt",
                };
                assert_eq!(dpkg(x, op, y), 0, "dpkg says not {x} {op} {y}");
                let ours = DebVersion::parse(x)
                    .unwrap()
                    .cmp(&DebVersion::parse(y).unwrap());
                assert_eq!(ours, w, "{x} vs {y}");
            }
        }
        // dpkg treats an empty string as "no version"; the rest it refuses.
        for v in INVALID.iter().filter(|v| !v.trim().is_empty()) {
            assert_eq!(dpkg(v, "lt", "1"), 2, "dpkg accepted {v:?}");
        }
    }

    #[test]
    fn the_epoch_and_revision_are_split_like_dpkg() {
        let v = DebVersion::parse(" 1:2:3-4-5 ").unwrap();
        assert_eq!((v.epoch, v.upstream, v.revision), (1, "2:3-4", "5"));
        let v = DebVersion::parse("5.2.15-2+b8").unwrap();
        assert_eq!((v.epoch, v.upstream, v.revision), (0, "5.2.15", "2+b8"));
    }
}
