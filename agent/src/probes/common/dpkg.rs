//! Which packages dpkg says are installed, for probes that must tell an
//! installed program from a configuration file left behind (`apt remove`
//! keeps conffiles: dpkg then reports `deinstall ok config-files`).

use super::reader::Reader;
use std::collections::BTreeSet;

/// The dpkg status database.
pub const STATUS: &str = "/var/lib/dpkg/status";

/// Names of the packages whose status is `… ok installed` (any want: install,
/// hold), from the text of dpkg's status file.
pub fn parse_installed(text: &str) -> BTreeSet<String> {
    parse_installed_among(text, |_| true)
}

/// [`parse_installed`], keeping only the names `wanted` accepts (probes ask
/// about a handful of packages; no set of every name is built).
pub fn parse_installed_among(text: &str, wanted: impl Fn(&str) -> bool) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut name: Option<&str> = None;
    let mut installed = false;
    for line in text.lines().chain(std::iter::once("")) {
        if line.trim().is_empty() {
            if let (Some(n), true) = (name, installed) {
                if wanted(n) {
                    out.insert(n.to_string());
                }
            }
            name = None;
            installed = false;
        } else if let Some(v) = line.strip_prefix("Package:") {
            name = Some(v.trim());
        } else if let Some(v) = line.strip_prefix("Status:") {
            installed = v.split_whitespace().nth(2) == Some("installed");
        }
    }
    out
}

/// Installed packages under the reader's root; `None` when the root has no
/// dpkg database (not a Debian-family system, or a partial tree).
pub fn installed_packages(r: &mut Reader<'_>) -> Option<BTreeSet<String>> {
    r.read(STATUS).map(|t| parse_installed(&t))
}

/// Which of `names` dpkg says are installed under the reader's root; `None`
/// when the root has no dpkg database.
pub fn installed_among(r: &mut Reader<'_>, names: &[&str]) -> Option<BTreeSet<String>> {
    r.read(STATUS)
        .map(|t| parse_installed_among(&t, |n| names.contains(&n)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installed_hold_and_config_files() {
        let s = parse_installed(
            "Package: rsyslog\nStatus: deinstall ok config-files\nVersion: 8\n\n\
             Package: nftables\nStatus: install ok installed\n\n\
             Package: auditd\nStatus: hold ok installed\n\n\
             Package: broken\nStatus: install reinstreq half-installed\n",
        );
        assert_eq!(
            s.into_iter().collect::<Vec<_>>(),
            vec!["auditd", "nftables"]
        );
        let only = parse_installed_among(
            "Package: a\nStatus: install ok installed\n\nPackage: b\nStatus: install ok installed\n",
            |n| n == "b",
        );
        assert_eq!(only.into_iter().collect::<Vec<_>>(), vec!["b"]);
    }
}
