//! Probe `network`: listening sockets, IP forwarding and the network-security
//! sysctls (`net.*` only; kernel hardening sysctls belong to the `kernel` probe).
//!
//! Reads:
//! - live only: `/proc/net/tcp`, `tcp6` (state `0A` = LISTEN) and `/proc/net/udp`,
//!   `udp6` (unconnected bound sockets, state `07`), and the current values in
//!   `/proc/sys/net/...` for the tracked keys;
//! - always: configured values from `/etc/sysctl.d`, `/run/sysctl.d` (live only),
//!   `/usr/local/lib/sysctl.d`, `/usr/lib/sysctl.d`, `/lib/sysctl.d` (`*.conf`,
//!   ordered by file name, a file in an earlier directory masking one of the same
//!   name in a later one, as systemd-sysctl does) and then `/etc/sysctl.conf`.
//!   Globs (`net.ipv4.conf.*.rp_filter`) and `-key` exclusions are understood.
//!
//! Under `--root` sockets are not collected (`sockets_collected: false`) but the
//! configured sysctls still are. Addresses in `/proc/net` are printed by the
//! kernel in host byte order; the parsers decode them for the host they run on.

use super::common::reader::Reader;
use super::common::sysctl::{self, SysctlConfig};
pub use super::common::sysctl::{parse_sysctl, SysctlLine};
use super::Outcome;
use crate::hostroot::HostRoot;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr};

/// The probe's schema: id, version, controls and every field (in core).
pub use evident_core::schema::probes::network::SCHEMA;

/// The tracked `net.*` sysctls (their defaults: [`sysctl::default_value`]).
pub const TRACKED: &[&str] = &[
    "net.ipv4.ip_forward",
    "net.ipv6.conf.all.forwarding",
    "net.ipv6.conf.all.disable_ipv6",
    "net.ipv6.conf.default.disable_ipv6",
    "net.ipv4.conf.all.accept_redirects",
    "net.ipv4.conf.default.accept_redirects",
    "net.ipv6.conf.all.accept_redirects",
    "net.ipv6.conf.default.accept_redirects",
    "net.ipv4.conf.all.secure_redirects",
    "net.ipv4.conf.default.secure_redirects",
    "net.ipv4.conf.all.send_redirects",
    "net.ipv4.conf.default.send_redirects",
    "net.ipv4.conf.all.accept_source_route",
    "net.ipv4.conf.default.accept_source_route",
    "net.ipv6.conf.all.accept_source_route",
    "net.ipv6.conf.default.accept_source_route",
    "net.ipv4.conf.all.rp_filter",
    "net.ipv4.conf.default.rp_filter",
    "net.ipv4.conf.all.log_martians",
    "net.ipv4.conf.default.log_martians",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.icmp_echo_ignore_broadcasts",
    "net.ipv4.icmp_ignore_bogus_error_responses",
    "net.ipv6.conf.all.accept_ra",
    "net.ipv6.conf.default.accept_ra",
];

/// Everything the probe reports.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NetworkFacts {
    /// Sockets read.
    pub sockets_collected: bool,
    /// Listening sockets.
    pub listening: Vec<Socket>,
    /// `proto/port` on wildcard addresses.
    pub listening_on_all_interfaces: Vec<String>,
    /// Sysctl files applied.
    pub sysctl_files: Vec<String>,
    /// Configured values.
    pub sysctl_configured: BTreeMap<String, String>,
    /// Runtime read.
    pub sysctl_runtime_collected: bool,
    /// Runtime values.
    pub sysctl_runtime: BTreeMap<String, String>,
    /// Effective values.
    pub sysctl_effective: BTreeMap<String, i64>,
    /// Where each effective value came from.
    pub sysctl_sources: BTreeMap<String, String>,
    /// Forwarding on.
    pub ip_forwarding: bool,
    /// IPv6 on.
    pub ipv6_enabled: bool,
    /// Unreadable files.
    pub unreadable: Vec<String>,
}

/// One listening socket.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Socket {
    /// tcp | tcp6 | udp | udp6.
    pub protocol: String,
    /// Local address.
    pub address: String,
    /// Local port.
    pub port: u16,
    /// all | loopback | specific.
    pub scope: String,
}

// ---------------------------------------------------------------- /proc/net

/// Parse `/proc/net/{tcp,tcp6,udp,udp6}` text; `protocol` is the file name.
/// TCP: LISTEN sockets; UDP: unconnected bound sockets.
pub fn parse_proc_net(text: &str, protocol: &str) -> Vec<Socket> {
    let udp = protocol.starts_with("udp");
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let mut cols = line.split_whitespace();
        let (Some(_sl), Some(local), Some(remote), Some(state)) =
            (cols.next(), cols.next(), cols.next(), cols.next())
        else {
            continue;
        };
        let wanted = if udp {
            state == "07" && remote.split(':').all(|p| p.chars().all(|c| c == '0'))
        } else {
            state == "0A"
        };
        if !wanted {
            continue;
        }
        let Some((addr_hex, port_hex)) = local.split_once(':') else {
            continue;
        };
        let Ok(port) = u16::from_str_radix(port_hex, 16) else {
            continue;
        };
        if udp && port == 0 {
            continue;
        }
        let Some((address, scope)) = decode_addr(addr_hex) else {
            continue;
        };
        out.push(Socket {
            protocol: protocol.to_string(),
            address,
            port,
            scope: scope.to_string(),
        });
    }
    out
}

/// Decode a kernel hex address (8 or 32 hex digits, host byte order per 32-bit word).
fn decode_addr(hex: &str) -> Option<(String, &'static str)> {
    let word = |s: &str| u32::from_str_radix(s, 16).ok().map(u32::to_ne_bytes);
    match hex.len() {
        8 => {
            let ip = Ipv4Addr::from(word(hex)?);
            let scope = if ip.is_unspecified() {
                "all"
            } else if ip.is_loopback() {
                "loopback"
            } else {
                "specific"
            };
            Some((ip.to_string(), scope))
        }
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_mut(4).enumerate() {
                let w = word(hex.get(i * 8..i * 8 + 8)?)?;
                chunk.copy_from_slice(&w);
            }
            let ip = Ipv6Addr::from(bytes);
            let mapped_loopback = ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback());
            let scope = if ip.is_unspecified() {
                "all"
            } else if ip.is_loopback() || mapped_loopback {
                "loopback"
            } else {
                "specific"
            };
            Some((ip.to_string(), scope))
        }
        _ => None,
    }
}

/// `tcp/22`-style list of sockets on wildcard addresses.
pub fn on_all_interfaces(sockets: &[Socket]) -> Vec<String> {
    let set: BTreeSet<String> = sockets
        .iter()
        .filter(|s| s.scope == "all")
        .map(|s| format!("{}/{}", s.protocol.trim_end_matches('6'), s.port))
        .collect();
    set.into_iter().collect()
}

// ---------------------------------------------------------------- sysctl

/// Configured values of every `net.*` key set in the files, in order (globs
/// expanded onto [`TRACKED`] keys, minus `-key` exclusions); the shared rules.
pub fn configured_values(files: &[Vec<SysctlLine>]) -> BTreeMap<String, String> {
    let conf = SysctlConfig {
        files: vec![String::new(); files.len()],
        parsed: files.to_vec(),
        kernel_config: None,
    };
    conf.configured(|k| k.starts_with("net."), TRACKED)
        .into_iter()
        .map(|(k, (v, _))| (k, v))
        .collect()
}

/// Effective value of every tracked key: runtime, else configured, else the
/// upstream kernel default (no kernel configuration known).
pub fn effective_values(
    configured: &BTreeMap<String, String>,
    runtime: &BTreeMap<String, String>,
) -> BTreeMap<String, i64> {
    let conf = SysctlConfig::default();
    TRACKED
        .iter()
        .filter_map(|k| {
            let c = configured.get(*k).map(|v| (v.clone(), String::new()));
            conf.resolve(k, runtime.get(*k).map(String::as_str), c.as_ref())
                .map(|(v, _)| ((*k).to_string(), v))
        })
        .collect()
}

// ---------------------------------------------------------------- collect

/// Collect under `root`.
pub fn collect(root: &HostRoot) -> Outcome {
    Outcome::from_facts(&gather(root, root.is_live()))
}

fn gather(root: &HostRoot, live: bool) -> NetworkFacts {
    let mut r = Reader::new(root);
    let mut f = NetworkFacts::default();

    if live {
        let mut all = Vec::new();
        let mut any = false;
        for proto in ["tcp", "tcp6", "udp", "udp6"] {
            if let Some(t) = r.read(&format!("/proc/net/{proto}")) {
                any = true;
                all.extend(parse_proc_net(&t, proto));
            }
        }
        all.sort();
        all.dedup();
        f.sockets_collected = any;
        f.listening_on_all_interfaces = on_all_interfaces(&all);
        f.listening = all;
    }

    let conf = sysctl::read_config(&mut r);
    let configured = conf.configured(|k| k.starts_with("net."), TRACKED);
    f.sysctl_configured = configured
        .iter()
        .map(|(k, (v, _))| (k.clone(), v.clone()))
        .collect();
    f.sysctl_files = conf.files.clone();

    let mut ipv6_present = true;
    if live {
        for k in TRACKED {
            let path = format!("/proc/sys/{}", k.replace('.', "/"));
            if let Some(v) = r.read(&path) {
                f.sysctl_runtime
                    .insert((*k).to_string(), v.trim().to_string());
            }
        }
        f.sysctl_runtime_collected = !f.sysctl_runtime.is_empty();
        ipv6_present = root.exists("/proc/sys/net/ipv6");
    }
    // One rule for every sysctl probe: running value, else configured, else
    // the kernel's default (its build configuration or the upstream default).
    for k in TRACKED {
        let runtime = f.sysctl_runtime.get(*k).map(String::as_str);
        if let Some((v, source)) = conf.resolve(k, runtime, configured.get(*k)) {
            f.sysctl_effective.insert((*k).to_string(), v);
            f.sysctl_sources
                .insert((*k).to_string(), source.to_string());
        }
    }
    let on = |k: &str| f.sysctl_effective.get(k).is_some_and(|v| *v != 0);
    f.ip_forwarding = on("net.ipv4.ip_forward") || on("net.ipv6.conf.all.forwarding");
    f.ipv6_enabled = ipv6_present && !on("net.ipv6.conf.all.disable_ipv6");
    f.unreadable = r.unreadable;
    f
}

/// Feed `input` to every parser (for cargo-fuzz); must never panic.
pub fn fuzz_parse(input: &str) {
    for proto in ["tcp", "tcp6", "udp", "udp6"] {
        let s = parse_proc_net(input, proto);
        let _ = on_all_interfaces(&s);
    }
    let c = configured_values(&[parse_sysctl(input)]);
    let _ = effective_values(&c, &c);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::probes::common::testutil::{field_names, link, tree};

    macro_rules! fx {
        ($p:literal) => {
            include_str!(concat!("../../tests/fixtures/network/", $p))
        };
    }

    /// Debian 12, CIS network sysctls, sshd + nginx + resolver + chrony listening.
    pub(crate) fn debian12_hardened() -> tempfile::TempDir {
        let dir = tree(
            &[
                ("/proc/net/tcp", fx!("debian12/proc-net-tcp")),
                ("/proc/net/tcp6", fx!("debian12/proc-net-tcp6")),
                ("/proc/net/udp", fx!("debian12/proc-net-udp")),
                ("/proc/net/udp6", fx!("debian12/proc-net-udp6")),
                (
                    "/usr/lib/sysctl.d/50-default.conf",
                    fx!("debian12/50-default.conf"),
                ),
                (
                    "/etc/sysctl.d/60-cis-network.conf",
                    fx!("debian12/60-cis-network.conf"),
                ),
                ("/etc/sysctl.conf", fx!("debian12/sysctl.conf")),
            ],
            &[],
        );
        link(&dir, "../sysctl.conf", "/etc/sysctl.d/99-sysctl.conf");
        // /proc/sys as the kernel shows it after `sysctl --system`.
        let offline = gather(&HostRoot::offline(dir.path()), false);
        for (k, v) in &offline.sysctl_effective {
            let p = dir.path().join("proc/sys").join(k.replace('.', "/"));
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, format!("{v}\n")).unwrap();
        }
        dir
    }

    pub(crate) fn weak() -> tempfile::TempDir {
        tree(
            &[
                ("/proc/net/tcp", fx!("weak/proc-net-tcp")),
                ("/etc/sysctl.d/99-router.conf", fx!("weak/99-router.conf")),
            ],
            &[],
        )
    }

    fn sock(p: &str, a: &str, port: u16, scope: &str) -> Socket {
        Socket {
            protocol: p.into(),
            address: a.into(),
            port,
            scope: scope.into(),
        }
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn proc_net_addresses_decode() {
        let t = parse_proc_net(fx!("debian12/proc-net-tcp"), "tcp");
        assert_eq!(
            t,
            vec![
                sock("tcp", "0.0.0.0", 22, "all"),
                sock("tcp", "127.0.0.53", 53, "loopback"),
                sock("tcp", "127.0.0.1", 25, "loopback"),
                sock("tcp", "10.0.2.10", 443, "specific"),
            ]
        );
        let t6 = parse_proc_net(fx!("debian12/proc-net-tcp6"), "tcp6");
        assert_eq!(
            t6,
            vec![
                sock("tcp6", "::", 22, "all"),
                sock("tcp6", "::1", 25, "loopback"),
                sock("tcp6", "::ffff:127.0.0.1", 8080, "loopback"),
                sock("tcp6", "2001:db8::1", 443, "specific"),
            ]
        );
        let u = parse_proc_net(fx!("debian12/proc-net-udp"), "udp");
        assert_eq!(
            u,
            vec![
                sock("udp", "127.0.0.53", 53, "loopback"),
                sock("udp", "127.0.0.1", 323, "loopback"),
                sock("udp", "0.0.0.0", 68, "all"),
            ]
        );
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn hardened_live_and_offline() {
        let dir = debian12_hardened();
        let f = gather(&HostRoot::offline(dir.path()), true);
        assert!(f.sockets_collected);
        assert_eq!(f.listening.len(), 12);
        assert_eq!(f.listening_on_all_interfaces, vec!["tcp/22", "udp/68"]);
        assert_eq!(
            f.sysctl_files,
            vec![
                "/usr/lib/sysctl.d/50-default.conf",
                "/etc/sysctl.d/60-cis-network.conf",
                // the one sysctl reader keeps Debian's 99-sysctl.conf link in
                // systemd-sysctl's order (it is /etc/sysctl.conf, read once)
                "/etc/sysctl.d/99-sysctl.conf"
            ]
        );
        assert!(f.sysctl_runtime_collected);
        assert_eq!(f.sysctl_runtime.len(), TRACKED.len());
        let e = &f.sysctl_effective;
        assert_eq!(e["net.ipv4.conf.all.rp_filter"], 1);
        assert_eq!(e["net.ipv4.conf.default.accept_source_route"], 0);
        assert_eq!(e["net.ipv4.tcp_syncookies"], 1);
        assert_eq!(e["net.ipv4.conf.all.accept_redirects"], 0);
        assert!(!f.ip_forwarding);
        assert!(f.ipv6_enabled);

        let off = gather(&HostRoot::offline(dir.path()), false);
        assert!(!off.sockets_collected && off.listening.is_empty());
        assert!(off.ipv6_enabled);
        assert_eq!(off.sysctl_effective, f.sysctl_effective);
        // 50-default: glob applies to default, `-` excludes all.
        let c = configured_values(&[parse_sysctl(fx!("debian12/50-default.conf"))]);
        assert_eq!(
            c.get("net.ipv4.conf.default.rp_filter").map(String::as_str),
            Some("2")
        );
        assert_eq!(c.get("net.ipv4.conf.all.rp_filter"), None);
        assert_eq!(
            c.get("net.core.default_qdisc").map(String::as_str),
            Some("fq_codel")
        );
    }

    #[test]
    fn runtime_values_win_when_live() {
        let dir = tree(
            &[
                ("/etc/sysctl.d/10-x.conf", "net.ipv4.ip_forward = 0\n"),
                ("/proc/sys/net/ipv4/ip_forward", "1\n"),
                ("/proc/sys/net/ipv6/conf/all/disable_ipv6", "0\n"),
            ],
            &[],
        );
        let f = gather(&HostRoot::offline(dir.path()), true);
        assert!(f.sysctl_runtime_collected && f.ip_forwarding && f.ipv6_enabled);
        assert_eq!(f.sysctl_configured["net.ipv4.ip_forward"], "0");
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn weak_host() {
        let dir = weak();
        let f = gather(&HostRoot::offline(dir.path()), true);
        assert!(f.ip_forwarding);
        assert_eq!(f.sysctl_effective["net.ipv6.conf.all.forwarding"], 1);
        assert_eq!(
            f.sysctl_effective["net.ipv4.conf.all.accept_source_route"],
            1
        );
        assert_eq!(f.sysctl_effective["net.ipv4.tcp_syncookies"], 0);
        let ports: Vec<u16> = f.listening.iter().map(|s| s.port).collect();
        assert_eq!(ports, vec![21, 22, 23, 514]);
    }

    #[test]
    fn empty_root_fields_and_fuzz() {
        let dir = tempfile::tempdir().unwrap();
        let Outcome::Ok(v) = collect(&HostRoot::offline(dir.path())) else {
            panic!()
        };
        assert_eq!(v["sockets_collected"], false);
        assert_eq!(v["sysctl_effective"]["net.ipv4.tcp_syncookies"], 1);
        let mut names = Vec::new();
        field_names(&v, "", &mut names);
        for n in names
            .iter()
            .filter(|n| !n.starts_with("sysctl_effective.") && !n.starts_with("sysctl_sources."))
        {
            assert!(
                SCHEMA.fields.iter().any(|f| f.path == n.as_str()),
                "undocumented {n}"
            );
        }
        for s in [
            "",
            "h\n 0: 0:0 0:0 0A",
            "h\n 0: zz:zz 0:0 0A",
            "h\n 0: 0000000000000000000000000000000:0016 0:0 0A",
            "h\n 0: 00000000000000000000000000000000:FFFFF 0:0 0A",
            "-",
            "net.[=1",
            "- net.x",
        ] {
            fuzz_parse(s);
        }
    }
}
