//! rpm version ordering: `rpmvercmp` (alphanumeric segments, `~` before
//! anything including the end, `^` after the end but before any further
//! segment) applied to epoch, version and release (`[epoch:]version[-release]`).

use super::VersionError;
use std::cmp::Ordering;

/// A parsed rpm EVR, borrowing the string it came from.
#[derive(Debug, Clone, Copy)]
pub struct RpmVersion<'a> {
    /// The epoch (0 when absent).
    pub epoch: u64,
    /// The version.
    pub version: &'a str,
    /// The release (after the last hyphen), when present.
    pub release: Option<&'a str>,
}

impl<'a> RpmVersion<'a> {
    /// Parse `[epoch:]version[-release]` as rpm's `parseEVR` splits it. Empty
    /// strings, an epoch that is not a number, an empty version or release,
    /// blanks, control characters and non-ASCII bytes are errors.
    pub fn parse(s: &'a str) -> Result<RpmVersion<'a>, VersionError> {
        let v = super::trimmed(s)?;
        let (epoch, rest) = match v.split_once(':') {
            Some((e, rest)) => {
                let epoch_err = |reason| VersionError::Epoch {
                    version: s.to_string(),
                    reason,
                };
                if e.is_empty() {
                    return Err(epoch_err("is empty"));
                }
                if !e.bytes().all(|c| c.is_ascii_digit()) {
                    return Err(epoch_err("is not a number"));
                }
                let epoch = e.parse::<u64>().map_err(|_| epoch_err("is too big"))?;
                if rest.is_empty() {
                    return Err(VersionError::NothingAfterColon(s.to_string()));
                }
                (epoch, rest)
            }
            None => (0, v),
        };
        let (version, release) = match rest.rsplit_once('-') {
            Some((_, "")) => return Err(VersionError::EmptyRevision(s.to_string())),
            Some((v, r)) => (v, Some(r)),
            None => (rest, None),
        };
        if version.is_empty() {
            return Err(VersionError::EmptyUpstream(s.to_string()));
        }
        Ok(RpmVersion {
            epoch,
            version,
            release,
        })
    }
}

impl Ord for RpmVersion<'_> {
    /// rpm's `rpmverCmp`: epochs, then versions, then releases when both
    /// sides have one.
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| rpmvercmp(self.version.as_bytes(), other.version.as_bytes()))
            .then_with(|| match (self.release, other.release) {
                (Some(a), Some(b)) => rpmvercmp(a.as_bytes(), b.as_bytes()),
                _ => Ordering::Equal,
            })
    }
}

impl PartialOrd for RpmVersion<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for RpmVersion<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for RpmVersion<'_> {}

/// rpm's `rpmvercmp` on one part (version or release), byte for byte.
pub fn rpmvercmp(a: &[u8], b: &[u8]) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let sep = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    let (mut i, mut j) = (0usize, 0usize);
    loop {
        while i < a.len() && sep(a[i]) {
            i += 1;
        }
        while j < b.len() && sep(b[j]) {
            j += 1;
        }
        let (ca, cb) = (a.get(i).copied(), b.get(j).copied());
        if ca.is_none() && cb.is_none() {
            return Ordering::Equal;
        }
        // `~` sorts before everything else.
        if ca == Some(b'~') || cb == Some(b'~') {
            if ca != Some(b'~') {
                return Ordering::Greater;
            }
            if cb != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        // `^` sorts after the end of a version, before any other segment.
        if ca == Some(b'^') || cb == Some(b'^') {
            if ca.is_none() {
                return Ordering::Less;
            }
            if cb.is_none() {
                return Ordering::Greater;
            }
            if ca != Some(b'^') {
                return Ordering::Greater;
            }
            if cb != Some(b'^') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        let (Some(ca), Some(_)) = (ca, cb) else {
            break;
        };
        let numeric = ca.is_ascii_digit();
        let class = |c: u8| {
            if numeric {
                c.is_ascii_digit()
            } else {
                c.is_ascii_alphabetic()
            }
        };
        let (si, sj) = (i, j);
        while i < a.len() && class(a[i]) {
            i += 1;
        }
        while j < b.len() && class(b[j]) {
            j += 1;
        }
        // Segments of different kinds: numeric is newer than alpha.
        if sj == j {
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let (mut sa, mut sb) = (&a[si..i], &b[sj..j]);
        if numeric {
            while sa.first() == Some(&b'0') {
                sa = &sa[1..];
            }
            while sb.first() == Some(&b'0') {
                sb = &sb[1..];
            }
            match sa.len().cmp(&sb.len()) {
                Ordering::Equal => {}
                other => return other,
            }
        }
        match sa.cmp(sb) {
            Ordering::Equal => {}
            other => return other,
        }
    }
    // All segments equal; whichever still has characters left wins.
    match (i < a.len(), j < b.len()) {
        (false, false) => Ordering::Equal,
        (false, true) => Ordering::Less,
        _ => Ordering::Greater,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every case of rpm's own test suite, `tests/rpmvercmp.at`
    /// (rpm-software-management/rpm): `rpm.vercmp(a, b)`.
    pub(crate) const RPMVERCMP_AT: &[(&str, &str, i8)] = &[
        ("1.0", "1.0", 0),
        ("1.0", "2.0", -1),
        ("2.0", "1.0", 1),
        ("2.0.1", "2.0.1", 0),
        ("2.0", "2.0.1", -1),
        ("2.0.1", "2.0", 1),
        ("2.0.1a", "2.0.1a", 0),
        ("2.0.1a", "2.0.1", 1),
        ("2.0.1", "2.0.1a", -1),
        ("5.5p1", "5.5p1", 0),
        ("5.5p1", "5.5p2", -1),
        ("5.5p2", "5.5p1", 1),
        ("5.5p10", "5.5p10", 0),
        ("5.5p1", "5.5p10", -1),
        ("5.5p10", "5.5p1", 1),
        ("10xyz", "10.1xyz", -1),
        ("10.1xyz", "10xyz", 1),
        ("xyz10", "xyz10", 0),
        ("xyz10", "xyz10.1", -1),
        ("xyz10.1", "xyz10", 1),
        ("xyz.4", "xyz.4", 0),
        ("xyz.4", "8", -1),
        ("8", "xyz.4", 1),
        ("xyz.4", "2", -1),
        ("2", "xyz.4", 1),
        ("5.5p2", "5.6p1", -1),
        ("5.6p1", "5.5p2", 1),
        ("5.6p1", "6.5p1", -1),
        ("6.5p1", "5.6p1", 1),
        ("6.0.rc1", "6.0", 1),
        ("6.0", "6.0.rc1", -1),
        ("10b2", "10a1", 1),
        ("10a2", "10b2", -1),
        ("1.0aa", "1.0aa", 0),
        ("1.0a", "1.0aa", -1),
        ("1.0aa", "1.0a", 1),
        ("10.0001", "10.0001", 0),
        ("10.0001", "10.1", 0),
        ("10.1", "10.0001", 0),
        ("10.0001", "10.0039", -1),
        ("10.0039", "10.0001", 1),
        ("4.999.9", "5.0", -1),
        ("5.0", "4.999.9", 1),
        ("20101121", "20101121", 0),
        ("20101121", "20101122", -1),
        ("20101122", "20101121", 1),
        ("2_0", "2_0", 0),
        ("2.0", "2_0", 0),
        ("2_0", "2.0", 0),
        ("a", "a", 0),
        ("a+", "a+", 0),
        ("a+", "a_", 0),
        ("a_", "a+", 0),
        ("+a", "+a", 0),
        ("+a", "_a", 0),
        ("_a", "+a", 0),
        ("+_", "+_", 0),
        ("_+", "+_", 0),
        ("_+", "_+", 0),
        ("+", "_", 0),
        ("_", "+", 0),
        ("1.0~rc1", "1.0~rc1", 0),
        ("1.0~rc1", "1.0", -1),
        ("1.0", "1.0~rc1", 1),
        ("1.0~rc1", "1.0~rc2", -1),
        ("1.0~rc2", "1.0~rc1", 1),
        ("1.0~rc1~git123", "1.0~rc1~git123", 0),
        ("1.0~rc1~git123", "1.0~rc1", -1),
        ("1.0~rc1", "1.0~rc1~git123", 1),
        ("1.0^", "1.0^", 0),
        ("1.0^", "1.0", 1),
        ("1.0", "1.0^", -1),
        ("1.0^git1", "1.0^git1", 0),
        ("1.0^git1", "1.0", 1),
        ("1.0", "1.0^git1", -1),
        ("1.0^git1", "1.0^git2", -1),
        ("1.0^git2", "1.0^git1", 1),
        ("1.0^git1", "1.01", -1),
        ("1.01", "1.0^git1", 1),
        ("1.0^20160101", "1.0^20160101", 0),
        ("1.0^20160101", "1.0.1", -1),
        ("1.0.1", "1.0^20160101", 1),
        ("1.0^20160101^git1", "1.0^20160101^git1", 0),
        ("1.0^20160102", "1.0^20160101^git1", 1),
        ("1.0^20160101^git1", "1.0^20160102", -1),
        ("1.0~rc1^git1", "1.0~rc1^git1", 0),
        ("1.0~rc1^git1", "1.0~rc1", 1),
        ("1.0~rc1", "1.0~rc1^git1", -1),
        ("1.0^git1~pre", "1.0^git1~pre", 0),
        ("1.0^git1", "1.0^git1~pre", 1),
        ("1.0^git1~pre", "1.0^git1", -1),
    ];

    #[test]
    fn rpmvercmp_matches_rpms_own_test_suite() {
        assert_eq!(RPMVERCMP_AT.len(), 91);
        for (a, b, want) in RPMVERCMP_AT {
            let want = want.cmp(&0);
            assert_eq!(rpmvercmp(a.as_bytes(), b.as_bytes()), want, "{a} vs {b}");
        }
    }

    #[test]
    fn epoch_version_release() {
        use Ordering::*;
        let cases = [
            ("1:1.0-1", "2.0-1", Greater),
            ("0:2.0-1", "2.0-1", Equal),
            ("2.0-1.el9", "2.0-1.el9_2", Less),
            ("2.0-1.el9_2", "2.0-2.el9", Less),
            ("8.7p1-38.el9", "8.7p1-38.el9_4.1", Less),
            ("5.14.0-427.13.1.el9_4", "5.14.0-427.40.1.el9_4", Less),
            ("1.0~rc1-1", "1.0-1", Less),
            ("1.0^git1-1", "1.0-1", Greater),
            ("2.0", "2.0-5", Equal),
            ("3.0.7-27.el9", "1:3.0.7-24.el9", Less),
        ];
        for (a, b, want) in cases {
            let (x, y) = (RpmVersion::parse(a).unwrap(), RpmVersion::parse(b).unwrap());
            assert_eq!(x.cmp(&y), want, "{a} vs {b}");
            assert_eq!(y.cmp(&x), want.reverse(), "{b} vs {a}");
        }
        let v = RpmVersion::parse("1:2.3-4-5").unwrap();
        assert_eq!((v.epoch, v.version, v.release), (1, "2.3-4", Some("5")));
    }

    #[test]
    fn invalid_rpm_versions_are_typed_errors() {
        for v in [
            "",
            "1:",
            "a:1",
            ":1",
            "1.0-",
            "-1",
            "1 0",
            "1.0\u{e9}",
            "99999999999999999999999:1",
        ] {
            assert!(RpmVersion::parse(v).is_err(), "{v:?}");
        }
    }
}
