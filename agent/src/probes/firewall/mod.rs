//! Probe `firewall`: which host firewall is configured and enabled at boot,
//! and its default policies for incoming and forwarded traffic.
//!
//! Reads:
//! - nftables: `/etc/nftables.conf` (Debian/Ubuntu) or `/etc/sysconfig/nftables.conf`
//!   (RHEL family) and the files it `include`s; base chains such as
//!   `chain input { type filter hook input priority 0; policy drop; }`;
//!   installed when dpkg says so (or the `nft` binary exists; with no package
//!   database, when its configuration exists), never because a configuration
//!   left by `apt remove` is still there;
//! - iptables persistent rules: `/etc/iptables/rules.v4` and `rules.v6`
//!   (Debian `iptables-persistent`), `/etc/sysconfig/iptables` and `ip6tables`
//!   (RHEL `iptables-services`), in `iptables-save` format (`:INPUT DROP [0:0]`);
//! - ufw: `/etc/ufw/ufw.conf` (`ENABLED=yes`), `/etc/default/ufw`
//!   (`DEFAULT_INPUT_POLICY="DROP"`), rules in `/etc/ufw/user.rules` and `user6.rules`;
//! - firewalld: `/etc/firewalld/firewalld.conf` (`DefaultZone=`) and the zone file
//!   `/etc/firewalld/zones/<zone>.xml`, else `/usr/lib/firewalld/zones/<zone>.xml`
//!   (its `target`, services and ports);
//! - ufw and firewalld are installed, like nftables, when dpkg says so (or
//!   their binary exists; with no package database, when their configuration
//!   exists);
//! - enablement at boot: unit links in `/etc/systemd/system/*.wants/`
//!   (`nftables.service`, `netfilter-persistent.service`, `iptables.service`,
//!   `ufw.service`, `firewalld.service`), masked units excluded;
//! - live only: loaded iptables tables from `/proc/net/ip_tables_names` and
//!   `/proc/net/ip6_tables_names`.
//!
//! The active firewall is the first *enabled* one of firewalld, ufw, nftables,
//! iptables; rules loaded by hand at run time are not seen from files.

mod facts;
mod firewalld;
mod iptables;
mod nftables;
mod ufw;
mod vars;

pub use facts::{FirewallFacts, FirewalldFacts, IptablesFacts, NftFacts, UfwFacts};
pub use firewalld::{firewalld_policy, parse_firewalld_conf, parse_firewalld_zone};
pub use iptables::parse_iptables_save;
pub use nftables::{nft_hook_policy, parse_nft, NftChain, NftRuleset};
pub use ufw::parse_ufw;

use super::common::presence::Packages;
use super::common::reader::Reader;
use super::common::systemd;
use super::Outcome;
use crate::hostroot::HostRoot;
use nftables::nft_facts;

/// The probe's schema: id, version, controls and every field (in core).
pub use evident_core::schema::probes::firewall::SCHEMA;

/// nftables' configuration files (Debian/Ubuntu, RHEL family).
const NFT_CONFIGS: &[&str] = &["/etc/nftables.conf", "/etc/sysconfig/nftables.conf"];
/// Where the ufw and firewalld programs are installed, and the files that
/// stand for them on a root without a package database.
const UFW_BINARIES: &[&str] = &["/usr/sbin/ufw"];
const UFW_CONFIGS: &[&str] = &["/etc/ufw/ufw.conf"];
const FIREWALLD_BINARIES: &[&str] = &["/usr/sbin/firewalld"];
const FIREWALLD_CONFIGS: &[&str] = &["/etc/firewalld/firewalld.conf", "/usr/lib/firewalld"];

/// Where the `nft` binary is installed.
const NFT_BINARIES: &[&str] = &["/usr/sbin/nft", "/sbin/nft"];

/// Collect under `root`.
pub fn collect(root: &HostRoot) -> Outcome {
    collect_with(Reader::new(root))
}

/// Collect through `r` (tests simulate an unprivileged scan with
/// [`Reader::denying`]). A firewall file or directory refused for lack of
/// permission (`/etc/ufw/user.rules` is 0640, `/etc/firewalld` 0750, saved
/// iptables rules 0600) leaves the firewall in charge and its policy
/// unknown: the probe then fails with a "run the scan as root" reason, so
/// the firewall rules read `no-evidence`, never a failure.
pub fn collect_with(r: Reader<'_>) -> Outcome {
    let root = r.root;
    let (facts, denied) = gather_with(root, root.is_live(), r);
    if !denied.is_empty() {
        return Outcome::Error(format!(
            "run the scan as root: {} could not be read (permission denied), so the firewall in charge and its policy are unknown",
            denied.join(", ")
        ));
    }
    Outcome::from_facts(&facts)
}

#[cfg(test)]
fn gather(root: &HostRoot, live: bool) -> FirewallFacts {
    gather_with(root, live, Reader::new(root)).0
}

/// The facts, and what was refused for lack of permission.
fn gather_with(root: &HostRoot, live: bool, mut r: Reader<'_>) -> (FirewallFacts, Vec<String>) {
    let packages = Packages::read(&mut r, &["nftables", "ufw", "firewalld"]);
    let units = systemd::enabled_units(root);
    let enabled = |names: &[&str]| units.iter().any(|u| names.contains(&u.as_str()));
    let mut f = FirewallFacts::default();

    // nftables
    f.nftables.input_policy = "unknown".into();
    f.nftables.forward_policy = "unknown".into();
    f.nftables.output_policy = "unknown".into();
    if let Some((path, text)) = r.first(NFT_CONFIGS) {
        f.nftables = nft_facts(&mut r, &path, &text);
    }
    // Installed is what dpkg (or the binary) says, not that a file exists:
    // `apt remove nftables` leaves /etc/nftables.conf behind.
    let (installed, by) = packages.presence(&r, "nftables", NFT_BINARIES, NFT_CONFIGS);
    f.nftables.installed = installed;
    f.nftables.installed_by = by.to_string();
    f.nftables.enabled = enabled(&["nftables.service"]);

    // iptables
    f.iptables = IptablesFacts {
        input_policy: "unknown".into(),
        forward_policy: "unknown".into(),
        output_policy: "unknown".into(),
        ipv6_input_policy: "unknown".into(),
        ..IptablesFacts::default()
    };
    if let Some((path, text)) = r.first(&["/etc/iptables/rules.v4", "/etc/sysconfig/iptables"]) {
        f.iptables = IptablesFacts {
            rules_present: true,
            config_file: path,
            ipv6_input_policy: "unknown".into(),
            ..parse_iptables_save(&text)
        };
    }
    if let Some((_, text)) = r.first(&["/etc/iptables/rules.v6", "/etc/sysconfig/ip6tables"]) {
        f.iptables.ipv6_rules_present = true;
        f.iptables.ipv6_input_policy = parse_iptables_save(&text).input_policy;
    }
    f.iptables.enabled = enabled(&["netfilter-persistent.service", "iptables.service"]);

    // ufw
    f.ufw = UfwFacts {
        default_input_policy: "unknown".into(),
        default_forward_policy: "unknown".into(),
        default_output_policy: "unknown".into(),
        ..UfwFacts::default()
    };
    if let Some(conf) = r.read("/etc/ufw/ufw.conf") {
        let defaults = r.read("/etc/default/ufw").unwrap_or_default();
        let rules: Vec<String> = ["/etc/ufw/user.rules", "/etc/ufw/user6.rules"]
            .iter()
            .filter_map(|p| r.read(p))
            .collect();
        let refs: Vec<&str> = rules.iter().map(String::as_str).collect();
        f.ufw = parse_ufw(&conf, &defaults, &refs);
    }
    // Installed is what dpkg (or the binary) says: `apt remove ufw` leaves
    // ufw.conf (ENABLED=yes) behind, and a removed ufw filters nothing.
    f.ufw.installed = packages.presence(&r, "ufw", UFW_BINARIES, UFW_CONFIGS).0;
    f.ufw.service_enabled = enabled(&["ufw.service"]);

    // firewalld
    let conf = r.read("/etc/firewalld/firewalld.conf");
    f.firewalld.installed = packages
        .presence(&r, "firewalld", FIREWALLD_BINARIES, FIREWALLD_CONFIGS)
        .0;
    if f.firewalld.installed {
        let zone = conf
            .as_deref()
            .map_or_else(|| "public".to_string(), parse_firewalld_conf);
        let safe = !zone.contains('/') && !zone.contains("..");
        let zone_paths = [
            format!("/etc/firewalld/zones/{zone}.xml"),
            format!("/usr/lib/firewalld/zones/{zone}.xml"),
        ];
        let found = if safe {
            zone_paths
                .iter()
                .find_map(|p| r.read(p).map(|t| (p.clone(), t)))
        } else {
            None
        };
        f.firewalld.zone_target = "unknown".into();
        if let Some((p, xml)) = found {
            let (target, services, ports) = parse_firewalld_zone(&xml);
            f.firewalld.zone_file = p;
            f.firewalld.zone_target = target;
            f.firewalld.services = services;
            f.firewalld.ports = ports;
        }
        f.firewalld.default_zone = zone;
    }
    f.firewalld.enabled = enabled(&["firewalld.service"]);

    // Which one is in charge.
    let (active, input, forward) = if f.firewalld.installed && f.firewalld.enabled {
        let p = firewalld_policy(&f.firewalld.zone_target);
        ("firewalld", p.clone(), p)
    } else if f.ufw.installed && f.ufw.enabled && f.ufw.service_enabled {
        (
            "ufw",
            f.ufw.default_input_policy.clone(),
            f.ufw.default_forward_policy.clone(),
        )
    } else if f.nftables.installed && f.nftables.enabled && !f.nftables.config_file.is_empty() {
        (
            "nftables",
            f.nftables.input_policy.clone(),
            f.nftables.forward_policy.clone(),
        )
    } else if f.iptables.rules_present && f.iptables.enabled {
        (
            "iptables",
            f.iptables.input_policy.clone(),
            f.iptables.forward_policy.clone(),
        )
    } else {
        ("none", "unknown".to_string(), "unknown".to_string())
    };
    f.active_firewall = active.to_string();
    f.enabled = active != "none";
    f.default_input_policy = input;
    f.default_forward_policy = forward;

    if live {
        f.runtime_collected = true;
        for (path, out) in [
            ("/proc/net/ip_tables_names", &mut f.runtime_iptables_tables),
            (
                "/proc/net/ip6_tables_names",
                &mut f.runtime_ip6tables_tables,
            ),
        ] {
            if let Some(t) = r.read(path) {
                *out = t.split_whitespace().map(str::to_string).collect();
                out.sort();
            }
        }
    }
    f.unreadable = r.unreadable;
    (f, r.denied)
}

/// Feed `input` to every parser (for cargo-fuzz); must never panic.
pub fn fuzz_parse(input: &str) {
    let rs = parse_nft(input);
    let _ = nft_hook_policy(&rs.chains, "input");
    let _ = parse_iptables_save(input);
    let _ = parse_ufw(input, input, &[input]);
    let _ = parse_firewalld_conf(input);
    let _ = parse_firewalld_zone(input);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::probes::common::testutil::{field_names, link, tree};

    macro_rules! fx {
        ($p:literal) => {
            include_str!(concat!("../../../tests/fixtures/firewall/", $p))
        };
    }

    /// Debian 12 with nftables enabled, default-drop input.
    pub(crate) fn debian12_nftables() -> tempfile::TempDir {
        let dir = tree(
            &[
                ("/etc/nftables.conf", fx!("debian12/nftables.conf")),
                (
                    "/etc/nftables.d/50-monitoring.nft",
                    fx!("debian12/50-monitoring.nft"),
                ),
            ],
            &[],
        );
        link(
            &dir,
            "/lib/systemd/system/nftables.service",
            "/etc/systemd/system/sysinit.target.wants/nftables.service",
        );
        dir
    }

    #[test]
    fn debian12_nftables_default_drop() {
        let dir = debian12_nftables();
        let f = gather(&HostRoot::offline(dir.path()), false);
        assert!(f.unreadable.is_empty(), "{:?}", f.unreadable);
        assert_eq!(f.active_firewall, "nftables");
        assert!(f.enabled);
        assert_eq!(f.default_input_policy, "drop");
        assert_eq!(f.default_forward_policy, "drop");
        assert_eq!(f.nftables.output_policy, "accept");
        assert_eq!(
            f.nftables.included_files,
            vec!["/etc/nftables.d/50-monitoring.nft"]
        );
        assert_eq!(f.nftables.chains, 3);
        assert_eq!(f.nftables.rules_count, 9);
        assert!(!f.runtime_collected && f.runtime_iptables_tables.is_empty());
    }

    #[test]
    fn debian_default_nftables_accepts_and_is_not_enabled() {
        let dir = tree(
            &[("/etc/nftables.conf", fx!("debian12/nftables-default.conf"))],
            &[],
        );
        let f = gather(&HostRoot::offline(dir.path()), false);
        assert_eq!(f.active_firewall, "none");
        assert!(!f.enabled);
        assert_eq!(f.default_input_policy, "unknown");
        assert_eq!(f.nftables.input_policy, "accept");
        assert!(f.nftables.installed && !f.nftables.enabled);
    }

    #[test]
    fn nftables_removed_by_apt_is_not_installed_even_with_its_config_and_unit_link() {
        let dir = debian12_nftables();
        let status = dir.path().join("var/lib/dpkg");
        std::fs::create_dir_all(&status).unwrap();
        std::fs::write(
            status.join("status"),
            "Package: nftables\nStatus: deinstall ok config-files\n",
        )
        .unwrap();
        let f = gather(&HostRoot::offline(dir.path()), false);
        assert!(!f.nftables.installed);
        assert_eq!(f.nftables.installed_by, "absent");
        assert_eq!(f.active_firewall, "none");
        assert!(!f.enabled);
        std::fs::write(
            status.join("status"),
            "Package: nftables\nStatus: install ok installed\n",
        )
        .unwrap();
        let f = gather(&HostRoot::offline(dir.path()), false);
        assert_eq!(f.nftables.installed_by, "package");
        assert_eq!(f.active_firewall, "nftables");
    }

    #[test]
    fn iptables_persistent_and_rhel_reject_rule() {
        let f = parse_iptables_save(fx!("debian12/rules.v4"));
        assert_eq!(
            (f.input_policy.as_str(), f.forward_policy.as_str()),
            ("drop", "drop")
        );
        assert_eq!(f.rules_count, 4);
        let r = parse_iptables_save(fx!("rhel9/iptables"));
        assert_eq!(r.input_policy, "reject");
        assert_eq!(r.forward_policy, "accept");
        let dir = tree(&[("/etc/sysconfig/iptables", fx!("rhel9/iptables"))], &[]);
        link(
            &dir,
            "/usr/lib/systemd/system/iptables.service",
            "/etc/systemd/system/multi-user.target.wants/iptables.service",
        );
        let f = gather(&HostRoot::offline(dir.path()), false);
        assert_eq!(f.active_firewall, "iptables");
        assert_eq!(f.default_input_policy, "reject");
        assert_eq!(f.iptables.config_file, "/etc/sysconfig/iptables");
    }

    #[test]
    fn ubuntu_ufw() {
        let dir = tree(
            &[
                ("/etc/ufw/ufw.conf", fx!("ubuntu/ufw.conf")),
                ("/etc/default/ufw", fx!("ubuntu/default-ufw")),
                ("/etc/ufw/user.rules", fx!("ubuntu/user.rules")),
                ("/etc/ufw/user6.rules", fx!("ubuntu/user6.rules")),
                ("/etc/nftables.conf", fx!("debian12/nftables-default.conf")),
            ],
            &[],
        );
        link(
            &dir,
            "/lib/systemd/system/ufw.service",
            "/etc/systemd/system/multi-user.target.wants/ufw.service",
        );
        let f = gather(&HostRoot::offline(dir.path()), false);
        assert_eq!(f.active_firewall, "ufw");
        assert_eq!(f.default_input_policy, "drop");
        assert_eq!(f.ufw.default_output_policy, "accept");
        assert_eq!(f.ufw.user_rules_count, 3);
        // ENABLED=no: installed, not active.
        let off = parse_ufw("ENABLED=no\n", fx!("ubuntu/default-ufw"), &[]);
        assert!(off.installed && !off.enabled);
    }

    #[test]
    fn rhel9_firewalld_public_zone() {
        let dir = tree(
            &[
                ("/etc/firewalld/firewalld.conf", fx!("rhel9/firewalld.conf")),
                (
                    "/usr/lib/firewalld/zones/public.xml",
                    fx!("rhel9/public.xml"),
                ),
                (
                    "/usr/lib/firewalld/zones/trusted.xml",
                    fx!("rhel9/trusted.xml"),
                ),
            ],
            &[],
        );
        link(
            &dir,
            "/usr/lib/systemd/system/firewalld.service",
            "/etc/systemd/system/multi-user.target.wants/firewalld.service",
        );
        let f = gather(&HostRoot::offline(dir.path()), true);
        assert_eq!(f.active_firewall, "firewalld");
        assert_eq!(f.default_input_policy, "reject");
        assert_eq!(f.firewalld.zone_target, "default");
        assert_eq!(
            f.firewalld.services,
            vec!["ssh", "dhcpv6-client", "cockpit"]
        );
        assert_eq!(f.firewalld.ports, vec!["8443/tcp"]);
        assert_eq!(f.firewalld.zone_file, "/usr/lib/firewalld/zones/public.xml");
        assert!(f.runtime_collected);
        let (t, _, _) = parse_firewalld_zone(fx!("rhel9/trusted.xml"));
        assert_eq!(firewalld_policy(&t), "accept");
    }

    #[test]
    fn empty_root_and_fields_documented() {
        let dir = tempfile::tempdir().unwrap();
        let Outcome::Ok(v) = collect(&HostRoot::offline(dir.path())) else {
            panic!()
        };
        assert_eq!(v["active_firewall"], "none");
        assert_eq!(v["enabled"], false);
        let mut names = Vec::new();
        field_names(&v, "", &mut names);
        for n in names {
            assert!(
                SCHEMA.fields.iter().any(|f| f.path == n),
                "undocumented {n}"
            );
        }
        for s in [
            "",
            "{",
            "}",
            "chain x {",
            "table {{{",
            "\"",
            "-A INPUT -m",
            "<zone target=",
            "<port port=\"1\"",
            ":INPUT",
            "include",
        ] {
            fuzz_parse(s);
        }
    }
}
