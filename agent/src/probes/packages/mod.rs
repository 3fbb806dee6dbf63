//! Probe `packages`: installed packages, pending (security) updates, time of
//! the last update, pending reboot and automatic updates.
//!
//! Debian / Ubuntu (dpkg), all read through [`HostRoot`]:
//! - `/var/lib/dpkg/status`: the installed inventory (RFC 822 paragraphs with
//!   continuation lines; `Status: … installed` counts, as do
//!   `triggers-pending`/`triggers-awaited`; `half-installed`, `unpacked` and
//!   `half-configured` are reported as partially installed; `config-files`
//!   and `not-installed` are ignored).
//! - `/var/lib/apt/lists/*_Packages`: the candidates apt knows. A package has
//!   a pending update when some list offers a newer version (Debian version
//!   ordering: epoch, upstream, revision, `~`) for its architecture; a
//!   security update when that newer version comes from a list whose name
//!   contains `security`. Backports and experimental lists are ignored (apt
//!   does not upgrade to them by default); apt pinning is not evaluated.
//!   Lists are streamed (a `main` list is ~50 MB), never loaded whole, and
//!   only the paragraphs of installed packages are parsed. With a cache
//!   directory ([`HostRoot::cache_dir`]) what each list offers the installed
//!   packages is kept between runs, keyed by the list's identity and the
//!   installed set (`list_cache.rs`): an unchanged list is not read again,
//!   and the output is the same. A large list that must be read is read
//!   in two parts on two threads (`list_split.rs`). Compressed lists
//!   (`Acquire::GzipIndexes`) are not read.
//! - Last update: the newest `apt` history entry with an `Upgrade:` line in
//!   `/var/log/apt/history.log` or the mtime of
//!   `/var/lib/apt/periodic/upgrade-stamp` (unattended-upgrades), whichever is
//!   newer; else the mtime of `/var/log/dpkg.log`. History times are local
//!   time without a zone and are read as UTC. Lists refresh time: mtime of
//!   `/var/lib/apt/periodic/update-success-stamp`, else the newest list.
//! - `/run/reboot-required` (+ `.pkgs`), created by kernel and libc
//!   postinst hooks (unattended-upgrades, update-notifier-common).
//! - `/etc/apt/apt.conf` and `/etc/apt/apt.conf.d/*`:
//!   `APT::Periodic::Unattended-Upgrade`, `APT::Periodic::Enable`.
//!
//! RHEL family (rpm): the inventory comes from the rpm database,
//! `rpmdb.sqlite` (RHEL 9, Fedora; under `/var/lib/rpm` or
//! `/usr/lib/sysimage/rpm`), opened read-only and immutable (no lock, no
//! journal: the agent never writes there), one rpm header blob per installed
//! package, parsed by [`parse_rpm_header`]. The Berkeley DB `Packages` file
//! of RHEL 8 and older is not read (the inventory is then reported as not
//! collected, with the reason). Pending updates need dnf's repository
//! metadata and are not computed. The last update is the newest of the
//! packages' install times and `/var/log/dnf.rpm.log`; dnf-automatic
//! (`/etc/dnf/automatic.conf` `apply_updates`, its timers enabled under
//! `/etc/systemd/system/timers.target.wants`).
//!
//! Times are reported as RFC 3339 timestamps, never as ages: an age would
//! change the probe's output every day on an unchanged host (a new blob per
//! host per day). Policies compute ages against the statement's collection
//! day (`collected_day` in CEL). The probe never reads the clock.

mod apt_lists;
mod apt_sources;
mod auto_updates;
mod debian;
mod dpkg;
mod history;
mod inventory;
mod list_cache;
mod list_split;
mod rpm;
mod rpm_header;
mod times;
mod version;

pub use apt_lists::{add_packages_list, is_security_list, pending_updates, Candidates};
pub use auto_updates::{apt_unattended_enabled, parse_apt_conf, parse_dnf_automatic};
pub use debian::apply_dpkg;
pub use dpkg::{parse_dpkg_status, parse_stanzas, DpkgInventory, Stanza};
pub use history::{parse_apt_history, parse_dnf_rpm_log};
pub use inventory::{
    dpkg_inventory, dpkg_source, installed_kernels, parse_os_release, rpm_inventory_package,
    source_rpm_name, InventoryPackage,
};
pub use rpm::apply_rpm_inventory;
pub use rpm_header::{parse_rpm_header, RpmHeaderError, RpmPackage};
pub use times::{apply_times, UpdateTimes};

use debian::collect_dpkg;
use rpm::collect_rpm;
pub use version::compare_versions;

use super::Outcome;
use crate::hostroot::HostRoot;
use serde::Serialize;
use std::collections::BTreeMap;

/// The probe's schema: id, version, controls and every field (in core).
pub use evident_core::schema::probes::packages::SCHEMA;

/// Everything the probe reports.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct PackagesFacts {
    /// dpkg or rpm.
    pub manager: String,
    /// Inventory read.
    pub inventory_collected: bool,
    /// Why not.
    pub inventory_note: String,
    /// Distinct installed names.
    pub installed_count: usize,
    /// Installed names.
    pub installed_names: Vec<String>,
    /// Broken installs.
    pub partially_installed: Vec<String>,
    /// Pending updates computed.
    pub updates_collected: bool,
    /// Why not.
    pub updates_note: String,
    /// Lists read.
    pub package_list_count: usize,
    /// Configured apt sources (`uri suite`).
    pub apt_sources: Vec<String>,
    /// Some configured source is a security source (null: not an apt system).
    pub security_source_configured: Option<bool>,
    /// Enabled sources whose signatures are not checked: apt `uri suite`
    /// with `trusted=yes`/`allow-insecure=yes`/…, rpm `repo-id` with
    /// `gpgcheck=0`.
    pub insecure_sources: Vec<String>,
    /// Downloaded lists no configured source references (not counted).
    pub unreferenced_lists: Vec<String>,
    /// Pending updates.
    pub pending_updates: usize,
    /// Their names.
    pub pending_update_names: Vec<String>,
    /// Pending security updates.
    pub pending_security_updates: usize,
    /// Their names.
    pub pending_security_update_names: Vec<String>,
    /// Last upgrade.
    pub last_update: Option<String>,
    /// Its source.
    pub last_update_source: String,
    /// Last list refresh.
    pub lists_refreshed: Option<String>,
    /// Reboot flag readable.
    pub reboot_required_collected: bool,
    /// Reboot pending.
    pub reboot_required: bool,
    /// Packages wanting it.
    pub reboot_required_packages: Vec<String>,
    /// Auto-update tool.
    pub auto_updates_tool: String,
    /// Tool installed.
    pub auto_updates_installed: bool,
    /// Auto updates on.
    pub unattended_upgrades_enabled: bool,
    /// os-release `ID`.
    pub os_id: String,
    /// os-release `VERSION_ID`.
    pub os_version_id: String,
    /// os-release `VERSION_CODENAME`.
    pub os_codename: String,
    /// Installed packages with versions and source packages.
    pub inventory: Vec<InventoryPackage>,
    /// Running kernel release (live roots only).
    pub kernel_running: Option<String>,
    /// Installed kernel releases.
    pub kernel_installed: Vec<String>,
}

// ---------------------------------------------------------------- versions

/// Collect under `root`.
pub fn collect(root: &HostRoot) -> Outcome {
    let mut facts = PackagesFacts::default();
    let times = match root.read_to_string("/var/lib/dpkg/status") {
        Ok(Some(status)) => collect_dpkg(root, &status, &mut facts),
        Err(e) => return Outcome::Error(e.to_string()),
        Ok(None) => {
            let rpm = ["/var/lib/rpm", "/usr/lib/sysimage/rpm"]
                .iter()
                .any(|p| root.exists(p));
            if !rpm {
                return Outcome::Unsupported(
                    "no dpkg status database and no rpm database under the root".into(),
                );
            }
            collect_rpm(root, &mut facts)
        }
    };
    inventory::collect_os(root, &mut facts);
    apply_times(&mut facts, &times);
    Outcome::from_facts(&facts)
}

/// Feed `input` to every parser (for cargo-fuzz); never panics.
pub fn fuzz_parse(input: &str) {
    for s in apt_sources::parse_sources_list(input)
        .into_iter()
        .chain(apt_sources::parse_deb822_sources(input))
    {
        let _ = apt_sources::referenced(input, &[s]);
    }
    let inv = parse_dpkg_status(input);
    let _ = installed_kernels("dpkg", &dpkg_inventory(&inv));
    let _ = parse_os_release(input);
    let _ = rpm::unsigned_repos(input);
    let _ = source_rpm_name(input);
    let mut c = Candidates::default();
    add_packages_list(&mut c, "fuzz_security_Packages", input, &inv);
    let _ = pending_updates(&inv, &c);
    let _ = parse_apt_history(input);
    let _ = parse_dnf_rpm_log(input);
    let mut conf = BTreeMap::new();
    parse_apt_conf(input, &mut conf);
    let _ = apt_unattended_enabled(&conf);
    let _ = parse_dnf_automatic(input);
    for line in input.lines() {
        let _ = compare_versions(line, input);
    }
}

#[cfg(test)]
mod tests {
    use super::rpm::read_rpmdb;
    use super::*;
    use serde_json::Value;
    use std::fs;

    fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
        fs::create_dir_all(to).unwrap();
        for e in fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            let dest = to.join(e.file_name());
            if e.file_type().unwrap().is_dir() {
                copy_dir(&e.path(), &dest);
            } else {
                fs::copy(e.path(), &dest).unwrap();
            }
        }
    }

    fn fixture(name: &str) -> HostRoot {
        HostRoot::offline(format!(
            "{}/tests/fixtures/packages/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
    }

    fn run(name: &str) -> Value {
        match collect(&fixture(name)) {
            Outcome::Ok(v) => v,
            other => panic!("{name}: {other:?}"),
        }
    }

    fn strings(v: &Value) -> Vec<&str> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect()
    }

    #[test]
    fn hardened_debian12_is_up_to_date() {
        let v = run("debian12");
        assert_eq!(v["manager"], "dpkg");
        assert_eq!(v["inventory_collected"], true);
        let names = strings(&v["installed_names"]);
        // 39 installed paragraphs, zlib1g twice (amd64 + i386), exim4-config only config-files.
        assert_eq!(v["installed_count"], 38);
        assert_eq!(names.len(), 38);
        assert!(names.contains(&"sudo")); // hold ok installed
        assert!(names.contains(&"unattended-upgrades"));
        assert!(!names.contains(&"exim4-config"));
        assert!(strings(&v["partially_installed"]).is_empty());
        assert_eq!(v["updates_collected"], true);
        // the backports list (newer openssh-client) is ignored
        assert_eq!(v["package_list_count"], 3);
        assert_eq!(v["pending_updates"], 0, "{:?}", v["pending_update_names"]);
        assert_eq!(v["pending_security_updates"], 0);
        assert_eq!(v["last_update"], "2026-01-12T06:25:20Z");
        assert!(v.get("last_update_age_days").is_none());
        assert_eq!(v["last_update_source"], "apt-history");
        assert_eq!(v["auto_updates_tool"], "unattended-upgrades");
        assert_eq!(v["unattended_upgrades_enabled"], true);
        assert_eq!(v["reboot_required_collected"], false);
        assert_eq!(v["reboot_required"], false);
    }

    #[test]
    fn lists_of_unconfigured_sources_are_not_counted_and_no_security_source_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let fx = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/packages/debian12-weak");
        copy_dir(&fx, dir.path());
        // only the main archive is configured: the security list is stale
        fs::write(
            dir.path().join("etc/apt/sources.list.d/debian.sources"),
            "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\n",
        )
        .unwrap();
        let Outcome::Ok(v) = collect(&HostRoot::offline(dir.path())) else {
            panic!()
        };
        assert_eq!(v["security_source_configured"], false);
        assert_eq!(v["pending_security_updates"], 0);
        assert_eq!(v["package_list_count"], 2);
        assert_eq!(
            v["unreferenced_lists"],
            serde_json::json!(["/var/lib/apt/lists/deb.debian.org_debian-security_dists_bookworm-security_main_binary-amd64_Packages"])
        );
        // the fixture as shipped (security source configured) counts it
        let Outcome::Ok(v) = collect(&HostRoot::offline(&fx)) else {
            panic!()
        };
        assert_eq!(v["security_source_configured"], true);
        assert_eq!(v["pending_security_updates"], 8);
    }

    #[test]
    fn weak_debian12_has_pending_security_updates() {
        let v = run("debian12-weak");
        let names = strings(&v["installed_names"]);
        for legacy in ["telnetd", "rsh-server", "tftpd-hpa"] {
            assert!(names.contains(&legacy), "{legacy}");
        }
        assert_eq!(strings(&v["partially_installed"]), ["nis"]);
        assert_eq!(
            strings(&v["pending_security_update_names"]),
            [
                "apt",
                "ca-certificates",
                "libexpat1",
                "libgnutls30",
                "libssl3",
                "openssl",
                "python3.11",
                "tzdata"
            ]
        );
        assert_eq!(v["pending_security_updates"], 8);
        let pending = strings(&v["pending_update_names"]);
        for n in [
            "systemd",
            "libpam-modules",
            "base-files",
            "libxml2",
            "openssh-server",
            "dpkg",
        ] {
            assert!(pending.contains(&n), "{n}");
        }
        assert!(!pending.contains(&"zlib1g"));
        assert_eq!(v["pending_updates"], pending.len());
        assert_eq!(v["last_update"], "2025-06-24T14:36:25Z");
        assert_eq!(v["auto_updates_installed"], false);
        assert_eq!(v["unattended_upgrades_enabled"], false);
        assert_eq!(v["reboot_required_collected"], true);
        assert_eq!(v["reboot_required"], true);
        assert_eq!(
            strings(&v["reboot_required_packages"]),
            ["libc6", "linux-image-6.1.0-28-amd64"]
        );
    }

    /// The inventory carries source packages and the OS release, and matched
    /// against the tracker fixture (`tests/fixtures/vuln/`) gives the CVEs
    /// the fixture's old packages have: per source version, with the fix.
    #[test]
    fn weak_debian12_inventory_matches_the_tracker_fixture() {
        use evident_core::vuln::{feed::parse_debian_tracker, match_host, Inventory};
        let v = run("debian12-weak");
        assert_eq!(
            (v["os_id"].as_str(), v["os_codename"].as_str()),
            (Some("debian"), Some("bookworm"))
        );
        assert_eq!(v["kernel_running"], Value::Null); // offline root
        let inv = Inventory::from_probe(&v).unwrap();
        let find = |n: &str| inv.inventory.iter().find(|p| p.name == n).unwrap().clone();
        let bash = find("bash");
        assert_eq!(
            (
                bash.version.as_str(),
                bash.source.as_str(),
                bash.source_version.as_str()
            ),
            ("5.2.15-2+b8", "bash", "5.2.15-2")
        );
        let telnetd = find("telnetd");
        assert_eq!(
            (telnetd.source.as_str(), telnetd.source_version.as_str()),
            ("inetutils", "2:2.4-2+deb12u3")
        );
        let libssl = find("libssl3");
        assert_eq!(
            (libssl.source.as_str(), libssl.source_version.as_str()),
            ("openssl", "3.0.19-1~deb12u2")
        );
        assert_eq!(find("openssl").source, "openssl"); // no Source: field
        let tracker = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/vuln/debian-tracker.json"
        ))
        .unwrap();
        let ix = parse_debian_tracker(tracker.as_slice(), "debian-tracker.json").unwrap();
        let m = match_host(&inv, &ix);
        let got: Vec<String> = m
            .findings
            .iter()
            .map(|f| {
                format!(
                    "{} {} {} {}",
                    f.source,
                    f.installed,
                    f.cve,
                    f.fixed_version.as_deref().unwrap_or("-")
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                "glibc 2.36-9+deb12u14 CVE-2010-4756 -",
                "inetutils 2:2.4-2+deb12u3 CVE-2026-24061 2:2.4-2+deb12u4",
                "netkit-rsh 0.17-24 CVE-2019-7282 -",
                "openssh 1:9.2p1-2+deb12u10 CVE-2008-3234 -",
                "openssh 1:9.2p1-2+deb12u10 CVE-2025-99999 1:9.2p1-2+deb12u11",
                "openssh 1:9.2p1-2+deb12u9 CVE-2008-3234 -",
                "openssh 1:9.2p1-2+deb12u9 CVE-2025-99999 1:9.2p1-2+deb12u11",
                "openssl 3.0.19-1~deb12u2 CVE-2010-0928 -",
                "systemd 252.38-1~deb12u1 CVE-2013-4392 -",
                "systemd 252.38-1~deb12u1 CVE-2023-7008 -",
            ]
        );
        assert!(m.unknown_versions.is_empty(), "{:?}", m.unknown_versions);
        assert!(!m.kernel_checked);
    }

    /// The real rpm database written by rpm 4.18 (8 packages, one of them
    /// twice, one with an epoch) gives what `rpm -qa` printed for it.
    #[test]
    fn rhel9_rpmdb_matches_rpm_qa() {
        let fixtures =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/packages");
        let expected = std::fs::read_to_string(fixtures.join("rhel9-rpmdb.rpm-qa.tsv")).unwrap();
        let mut want: Vec<String> = expected
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(str::to_string)
            .collect();
        want.sort();
        let root = HostRoot::offline(fixtures.join("rhel9-rpmdb"));
        let (_, blobs) = read_rpmdb(&root).unwrap().unwrap();
        let mut got: Vec<String> = blobs
            .iter()
            .map(|b| {
                let p = parse_rpm_header(b).unwrap();
                format!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    p.name,
                    p.epoch.unwrap_or(0),
                    p.version,
                    p.release,
                    p.arch.unwrap_or_default(),
                    p.install_time.unwrap()
                )
            })
            .collect();
        got.sort();
        assert_eq!(got, want);
        assert_eq!(want.len(), 8);

        let v = run("rhel9-rpmdb");
        assert_eq!(v["manager"], "rpm");
        assert_eq!(v["inventory_collected"], true);
        assert_eq!(v["inventory_note"], "");
        assert_eq!(v["installed_count"], 7);
        assert_eq!(
            strings(&v["installed_names"]),
            [
                "aide",
                "chrony",
                "dnf-automatic",
                "kernel",
                "openssh-server",
                "rsyslog",
                "telnet-server"
            ]
        );
        // The newest install time (2026-11-25) is newer than dnf.rpm.log's.
        assert_eq!(v["last_update_source"], "rpmdb");
        assert_eq!(v["last_update"], "2026-11-25T04:28:13Z");
        // The database was opened immutable: nothing was written beside it.
        let dir = fixtures.join("rhel9-rpmdb/var/lib/rpm");
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, [".rpm.lock", "rpmdb.sqlite"]);
    }

    #[test]
    fn rhel9_reports_rpm_without_inventory() {
        let v = run("rhel9");
        assert_eq!(v["manager"], "rpm");
        assert_eq!(v["inventory_collected"], false);
        assert!(v["inventory_note"]
            .as_str()
            .unwrap()
            .contains("Berkeley DB"));
        assert_eq!(v["updates_collected"], false);
        assert_eq!(v["installed_count"], 0);
        assert_eq!(v["last_update"], "2026-01-10T03:11:59Z");
        assert_eq!(v["last_update_source"], "dnf-rpm-log");
        assert_eq!(v["auto_updates_tool"], "dnf-automatic");
        assert_eq!(v["unattended_upgrades_enabled"], true);
        assert_eq!(v["lists_refreshed"], Value::Null);
    }

    #[test]
    fn mtimes_are_fallbacks_and_lists_may_be_missing() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        fs::create_dir_all(r.join("var/lib/dpkg")).unwrap();
        fs::create_dir_all(r.join("var/log")).unwrap();
        fs::create_dir_all(r.join("var/lib/apt/periodic")).unwrap();
        fs::create_dir_all(r.join("var/lib/apt/lists")).unwrap();
        fs::write(
            r.join("var/lib/dpkg/status"),
            "Package: bash\r\nStatus: install ok installed\r\nArchitecture: amd64\r\nVersion: 5.2.15-2+b8\r\nDescription: x\r\n y\r\n",
        )
        .unwrap();
        fs::write(r.join("var/lib/apt/lists/x_Packages.lz4"), "").unwrap();
        let set = |p: &str, secs: i64| {
            let f = fs::File::create(r.join(p)).unwrap();
            f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs as u64))
                .unwrap();
        };
        set("var/log/dpkg.log", 1_767_225_600); // 2026-01-01
        set("var/lib/apt/periodic/update-success-stamp", 1_767_312_000); // 2026-01-02
        let Outcome::Ok(v) = collect(&HostRoot::offline(r)) else {
            panic!()
        };
        assert_eq!(v["installed_names"], serde_json::json!(["bash"]));
        assert_eq!(v["updates_collected"], false);
        assert!(v["updates_note"].as_str().unwrap().contains("compressed"));
        assert_eq!(v["last_update"], "2026-01-01T00:00:00Z");
        assert_eq!(v["last_update_source"], "dpkg-log");
        assert_eq!(v["lists_refreshed"], "2026-01-02T00:00:00Z");
        set("var/lib/apt/periodic/upgrade-stamp", 1_767_398_400); // 2026-01-03
        let Outcome::Ok(v) = collect(&HostRoot::offline(r)) else {
            panic!()
        };
        assert_eq!(v["last_update_source"], "apt-upgrade-stamp");
    }

    #[test]
    fn empty_root_is_unsupported_and_garbage_does_not_panic() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            collect(&HostRoot::offline(dir.path())),
            Outcome::Unsupported(_)
        ));
        for input in [
            "",
            "Package:",
            "Package: a\nStatus: install ok installed\nVersion: 1:\n\nPackage: a\nVersion: ~~~:-",
            "Start-Date: 9999-99-99  99:99:99\nUpgrade: x\nEnd-Date:",
            "APT { { } } }; \"x\" ; ;",
            "[commands]\napply_updates",
            "0:0-0-",
        ] {
            fuzz_parse(input);
        }
    }
}
