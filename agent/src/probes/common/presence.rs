//! Whether a program is installed on the root, decided the way a package
//! manager would: dpkg's status database first, then the program's binary
//! (rpm hosts, builds from source), and only when the root has no package
//! database at all (a partial tree), its configuration file. A configuration
//! left behind by `apt remove` (dpkg: `deinstall ok config-files`) is not an
//! installation.

use super::dpkg;
use super::reader::Reader;
use std::collections::BTreeSet;

/// The rpm databases: their presence means a package manager knows what is installed.
const RPMDBS: &[&str] = &[
    "/var/lib/rpm/rpmdb.sqlite",
    "/usr/lib/sysimage/rpm/rpmdb.sqlite",
    "/var/lib/rpm/Packages",
];

/// What the root's package databases say about a few packages.
#[derive(Debug, Clone)]
pub struct Packages {
    /// Installed packages among those asked, when dpkg's database exists.
    dpkg: Option<BTreeSet<String>>,
    /// An rpm database exists.
    rpmdb: bool,
}

impl Packages {
    /// Read dpkg's status for `names` (only those are kept) and look for an rpm database.
    pub fn read(r: &mut Reader<'_>, names: &[&str]) -> Packages {
        Packages {
            dpkg: dpkg::installed_among(r, names),
            rpmdb: RPMDBS.iter().any(|p| r.is_file(p)),
        }
    }

    /// What dpkg says about `package` (one of the names read): `None` when
    /// the root has no dpkg database.
    pub fn dpkg_installed(&self, package: &str) -> Option<bool> {
        self.dpkg.as_ref().map(|p| p.contains(package))
    }

    /// Whether some package database exists on the root.
    pub fn known(&self) -> bool {
        self.dpkg.is_some() || self.rpmdb
    }

    /// Whether `package` is installed and what says so: `package` (dpkg),
    /// `binary` (one of `binaries` exists), `config` (no package database
    /// and one of `configs` exists) or `absent`.
    pub fn presence(
        &self,
        r: &Reader<'_>,
        package: &str,
        binaries: &[&str],
        configs: &[&str],
    ) -> (bool, &'static str) {
        if self.dpkg.as_ref().is_some_and(|p| p.contains(package)) {
            return (true, "package");
        }
        if binaries.iter().any(|b| r.is_file(b)) {
            return (true, "binary");
        }
        // A configuration refused for lack of permission cannot be seen
        // (the kernel refuses the `stat` inside a 0750 directory too).
        if !self.known() && configs.iter().any(|c| r.root.exists(c) && !r.is_denied(c)) {
            return (true, "config");
        }
        (false, "absent")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hostroot::HostRoot;
    use crate::probes::common::testutil::tree;

    #[test]
    fn dpkg_then_binary_then_configuration() {
        const CONF: (&str, &str) = ("/etc/nftables.conf", "flush ruleset\n");
        let ask = |files: &[(&str, &str)]| {
            let dir = tree(files, &[]);
            let root = HostRoot::offline(dir.path());
            let mut r = Reader::new(&root);
            let p = Packages::read(&mut r, &["nftables"]);
            p.presence(&r, "nftables", &["/usr/sbin/nft"], &["/etc/nftables.conf"])
        };
        let status = |s: &'static str| ("/var/lib/dpkg/status", s);
        assert_eq!(
            ask(&[
                CONF,
                status("Package: nftables\nStatus: install ok installed\n")
            ]),
            (true, "package")
        );
        // Removed, configuration kept: not installed.
        assert_eq!(
            ask(&[
                CONF,
                status("Package: nftables\nStatus: deinstall ok config-files\n")
            ]),
            (false, "absent")
        );
        assert_eq!(
            ask(&[
                CONF,
                ("/usr/sbin/nft", "ELF"),
                ("/var/lib/rpm/rpmdb.sqlite", "x")
            ]),
            (true, "binary")
        );
        assert_eq!(
            ask(&[CONF, ("/var/lib/rpm/rpmdb.sqlite", "x")]),
            (false, "absent")
        );
        assert_eq!(ask(&[CONF]), (true, "config"));
        assert_eq!(ask(&[]), (false, "absent"));
    }
}
