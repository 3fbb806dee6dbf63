//! Probe `services`: which services start at boot, without running `systemctl`.
//!
//! Sources (read under the root, never by running a program):
//! - systemd unit directories `/etc/systemd/system`, `/usr/lib/systemd/system`
//!   and `/lib/systemd/system` (both exist on RHEL and older Debian; on merged-/usr
//!   systems `/lib` is a link to `/usr/lib` and names are de-duplicated):
//!   - unit files present (names with a unit suffix);
//!   - *enabled* units: the symbolic links in `*.wants/` and `*.requires/`
//!     sub-directories, which is what `systemctl enable` creates in `/etc` and what
//!     packages ship in the vendor directories for static units;
//!   - *masked* units: links in `/etc/systemd/system` that point to `/dev/null`
//!     (a masked unit is never started, so it is removed from `enabled`).
//!     Link targets are read with `read_link` and never followed outside the root.
//! - SysV init: `/etc/rc2.d/S*` (Debian) and `/etc/rc.d/rc3.d/S*` (RHEL) start
//!   links, `/etc/init.d` scripts.
//! - Super-servers: `/etc/inetd.conf` (uncommented lines; Debian's `update-inetd`
//!   disables with `#<off>#`) and `/etc/xinetd.conf` + `/etc/xinetd.d/*` (a
//!   service is on unless `disable = yes` or listed in `defaults { disabled = … }`).
//!   Their services are reported only when the super-server itself is enabled.
//! - Running state, live systems only: systemd (>= 240) keeps a symlink
//!   `/run/systemd/units/invocation:<unit>` while a unit is active and removes it
//!   when the unit becomes inactive or failed. The directory is an internal
//!   interface between PID 1 and journald, so this is best effort: when the root
//!   is not live or the directory is missing (containers without systemd as
//!   PID 1, systemd < 240) `active` is `null` and `runtime_collected` is false.
//!
//! Works the same on Debian/Ubuntu and RHEL/Fedora/SUSE layouts.

use super::common::reader::Reader;
use super::common::systemd::{read_unit_tree, unit_base, UnitTree};
use super::Outcome;
use crate::hostroot::HostRoot;
use serde::Serialize;
use std::collections::BTreeSet;

/// The probe's schema: id, version, controls and every field (in core).
pub use evident_core::schema::probes::services::SCHEMA;

/// SysV start-link directories (Debian runlevel 2, RHEL runlevel 3).
const SYSV_RC_DIRS: &[&str] = &["/etc/rc2.d", "/etc/rc.d/rc3.d"];

/// Cleartext legacy services (unit base names or SysV script names).
const INSECURE: &[&str] = &[
    "telnet",
    "telnetd",
    "inetutils-telnetd",
    "rsh",
    "rlogin",
    "rexec",
    "tftp",
    "tftp-server",
    "tftpd-hpa",
    "atftpd",
    "vsftpd",
    "proftpd",
    "pure-ftpd",
    "pure-ftpd-mysql",
    "pure-ftpd-ldap",
    "pure-ftpd-postgresql",
    "ypbind",
    "ypserv",
    "yppasswdd",
    "ypxfrd",
    "nis",
    "talk",
    "ntalk",
    "rwhod",
];

/// Services seldom needed on a server.
const UNNEEDED: &[&str] = &[
    "avahi-daemon",
    "cups",
    "cups-browsed",
    "inetd",
    "openbsd-inetd",
    "inetutils-inetd",
    "xinetd",
    "rpcbind",
    "rsync",
    "snmpd",
];

const INETD_DAEMONS: &[&str] = &["inetd", "openbsd-inetd", "inetutils-inetd"];

/// Cleartext or legacy services as named in inetd.conf / xinetd.d.
const INETD_INSECURE: &[&str] = &[
    "telnet", "login", "shell", "exec", "ftp", "tftp", "talk", "ntalk", "finger", "chargen",
    "echo", "daytime", "discard", "time", "rsh", "rlogin", "rexec", "rstatd", "rusersd",
];

/// One service offered by inetd or xinetd.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InetdService {
    /// Service name.
    pub name: String,
    /// `inetd` or `xinetd`.
    pub daemon: String,
    /// Cleartext/legacy.
    pub insecure: bool,
}

/// What the probe reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ServicesFacts {
    /// A unit directory exists.
    pub systemd_present: bool,
    /// Unit files present.
    pub unit_files: Vec<String>,
    /// Enabled units.
    pub enabled: Vec<String>,
    /// Masked units.
    pub masked: Vec<String>,
    /// SysV start links.
    pub sysv_enabled: Vec<String>,
    /// SysV scripts.
    pub sysv_scripts: Vec<String>,
    /// An inetd is enabled.
    pub inetd_enabled: bool,
    /// xinetd is enabled.
    pub xinetd_enabled: bool,
    /// Services of enabled super-servers.
    pub inetd_services: Vec<InetdService>,
    /// Insecure enabled services.
    pub insecure_services_enabled: Vec<String>,
    /// Unneeded enabled services.
    pub unneeded_services_enabled: Vec<String>,
    /// `enabled.len()`.
    pub enabled_count: usize,
    /// `masked.len()`.
    pub masked_count: usize,
    /// `unit_files.len()`.
    pub unit_file_count: usize,
    /// Whether `active` was read.
    pub runtime_collected: bool,
    /// Active units, when collected.
    pub active: Option<Vec<String>>,
    /// Paths not readable.
    pub unreadable: Vec<String>,
}

/// SysV service names from the names in an rc directory (`S01ssh` → `ssh`).
pub fn parse_rc_links(names: &[String]) -> Vec<String> {
    let mut out: BTreeSet<String> = BTreeSet::new();
    for n in names {
        if let Some(rest) = n.strip_prefix('S') {
            let name = rest.trim_start_matches(|c: char| c.is_ascii_digit());
            if !name.is_empty() && name.len() < rest.len() {
                out.insert(name.to_string());
            }
        }
    }
    out.into_iter().collect()
}

fn is_init_helper(name: &str) -> bool {
    matches!(
        name,
        "README" | "skeleton" | "functions" | "rc" | "rcS" | "halt" | "killall" | "single"
    ) || name.starts_with('.')
        || name.ends_with(".dpkg-old")
        || name.ends_with(".dpkg-dist")
        || name.ends_with(".rpmsave")
        || name.ends_with(".rpmnew")
}

/// Enabled service names from `/etc/inetd.conf` text: uncommented lines, first
/// field, without a `host:` prefix or `/version` suffix.
pub fn parse_inetd_conf(text: &str) -> Vec<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some(first) = line.split_whitespace().next() else {
            continue;
        };
        // `ip:service`, `[::1]:service`, or a bare `host:` line that sets the default address.
        let svc = first.rsplit_once(':').map_or(first, |(_, s)| s);
        let svc = svc.split_once('/').map_or(svc, |(s, _)| s);
        if !svc.is_empty() && line.split_whitespace().count() >= 6 {
            out.insert(svc.to_string());
        }
    }
    out.into_iter().collect()
}

/// One `service` block of an xinetd file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XinetdService {
    /// The `service` name.
    pub name: String,
    /// The `id` attribute (defaults to the name); `defaults { disabled }` lists ids.
    pub id: String,
    /// Not turned off by its own `disable = yes`.
    pub on: bool,
}

/// Parsed xinetd configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XinetdConf {
    /// Service blocks.
    pub services: Vec<XinetdService>,
    /// Names listed in `defaults { disabled = … }`.
    pub disabled: Vec<String>,
}

/// Parse xinetd.conf or an /etc/xinetd.d file: `service NAME { … disable = yes|no … }`
/// blocks and `defaults { disabled = a b }`. A service is on unless `disable = yes`.
pub fn parse_xinetd(text: &str) -> XinetdConf {
    let mut conf = XinetdConf::default();
    let mut current: Option<XinetdService> = None;
    let mut in_defaults = false;
    for raw in text.lines() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix("service") {
            if name.starts_with(char::is_whitespace) {
                if let Some(done) = current.take() {
                    conf.services.push(done);
                }
                let name = name.trim().trim_end_matches('{').trim();
                current = Some(XinetdService {
                    name: name.to_string(),
                    id: name.to_string(),
                    on: true,
                });
                continue;
            }
        }
        if line.starts_with("defaults") {
            in_defaults = true;
            continue;
        }
        if line.starts_with('}') {
            if let Some(done) = current.take() {
                conf.services.push(done);
            }
            in_defaults = false;
            continue;
        }
        let Some((key, value)) = line
            .split_once("+=")
            .or_else(|| line.split_once("-="))
            .or_else(|| line.split_once('='))
        else {
            continue;
        };
        let key = key.trim();
        let value = value.trim();
        if in_defaults && key == "disabled" {
            conf.disabled
                .extend(value.split_whitespace().map(str::to_string));
        } else if let Some(svc) = current.as_mut() {
            match key {
                "disable" => svc.on = !value.eq_ignore_ascii_case("yes"),
                "id" => svc.id = value.to_string(),
                _ => {}
            }
        }
    }
    if let Some(done) = current.take() {
        conf.services.push(done);
    }
    conf
}

/// Everything read from disk, the input of [`build_facts`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServicesInput {
    /// The systemd unit tree.
    pub units: UnitTree,
    /// SysV start links (service names).
    pub sysv_enabled: Vec<String>,
    /// /etc/init.d names.
    pub init_scripts: Vec<String>,
    /// `/etc/inetd.conf` text.
    pub inetd_conf: Option<String>,
    /// xinetd.conf and /etc/xinetd.d files' text.
    pub xinetd_texts: Vec<String>,
    /// Active units when collected.
    pub active: Option<Vec<String>>,
    /// Paths not readable.
    pub unreadable: Vec<String>,
}

fn matching(units: &BTreeSet<String>, sysv: &[String], list: &[&str]) -> Vec<String> {
    let mut out: BTreeSet<String> = units
        .iter()
        .filter(|u| list.contains(&unit_base(u)))
        .cloned()
        .collect();
    out.extend(
        sysv.iter()
            .filter(|s| list.contains(&s.as_str()))
            .map(|s| format!("sysv:{s}")),
    );
    out.into_iter().collect()
}

/// Turn what was read into the reported facts (pure).
pub fn build_facts(input: &ServicesInput) -> ServicesFacts {
    let u = &input.units;
    // systemd-sysv-generator ignores a SysV script when a native unit of the
    // same name exists (Debian keeps rc links for e.g. rsync next to rsync.service).
    let sysv: &Vec<String> = &input
        .sysv_enabled
        .iter()
        .filter(|s| {
            !u.unit_files.contains(&format!("{s}.service"))
                && !u.masked.contains(&format!("{s}.service"))
        })
        .cloned()
        .collect();
    let inetd_enabled = u.any_enabled_base(INETD_DAEMONS)
        || sysv.iter().any(|s| INETD_DAEMONS.contains(&s.as_str()));
    let xinetd_enabled = u.any_enabled_base(&["xinetd"]) || sysv.iter().any(|s| s == "xinetd");
    let mut inetd_services = Vec::new();
    if inetd_enabled {
        if let Some(text) = &input.inetd_conf {
            for name in parse_inetd_conf(text) {
                inetd_services.push(InetdService {
                    insecure: INETD_INSECURE.contains(&name.as_str()),
                    name,
                    daemon: "inetd".into(),
                });
            }
        }
    }
    if xinetd_enabled {
        let mut all = XinetdConf::default();
        for t in &input.xinetd_texts {
            let c = parse_xinetd(t);
            all.services.extend(c.services);
            all.disabled.extend(c.disabled);
        }
        let mut names = BTreeSet::new();
        for svc in all.services {
            if svc.on && !all.disabled.contains(&svc.id) {
                names.insert(svc.name);
            }
        }
        for name in names {
            inetd_services.push(InetdService {
                insecure: INETD_INSECURE.contains(&name.as_str()),
                name,
                daemon: "xinetd".into(),
            });
        }
    }
    let mut sysv_scripts: Vec<String> = input
        .init_scripts
        .iter()
        .filter(|n| !is_init_helper(n))
        .cloned()
        .collect();
    sysv_scripts.sort();
    let runtime_collected = input.active.is_some();
    ServicesFacts {
        systemd_present: u.present,
        unit_files: u.unit_files.iter().cloned().collect(),
        enabled: u.enabled.iter().cloned().collect(),
        masked: u.masked.iter().cloned().collect(),
        sysv_enabled: sysv.clone(),
        sysv_scripts,
        inetd_enabled,
        xinetd_enabled,
        inetd_services,
        insecure_services_enabled: matching(&u.enabled, sysv, INSECURE),
        unneeded_services_enabled: matching(&u.enabled, sysv, UNNEEDED),
        enabled_count: u.enabled.len(),
        masked_count: u.masked.len(),
        unit_file_count: u.unit_files.len(),
        runtime_collected,
        active: input.active.clone(),
        unreadable: input.unreadable.clone(),
    }
}

/// Active units from the names in `/run/systemd/units` (`invocation:ssh.service`).
pub fn parse_active(names: &[String]) -> Vec<String> {
    let set: BTreeSet<String> = names
        .iter()
        .filter_map(|n| n.strip_prefix("invocation:"))
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect();
    set.into_iter().collect()
}

/// Collect under `root`.
pub fn collect(root: &HostRoot) -> Outcome {
    let units = read_unit_tree(root);
    let mut r = Reader::new(root);
    r.unreadable = units.unreadable.clone();
    let mut sysv_enabled = BTreeSet::new();
    for dir in SYSV_RC_DIRS {
        sysv_enabled.extend(parse_rc_links(&r.names(dir)));
    }
    let init_scripts = r.names("/etc/init.d");
    let inetd_conf = r.read("/etc/inetd.conf");
    let mut xinetd_texts = Vec::new();
    xinetd_texts.extend(r.read("/etc/xinetd.conf"));
    for name in r.names("/etc/xinetd.d") {
        // xinetd skips names containing a dot or ending in `~`.
        if name.contains('.') || name.ends_with('~') {
            continue;
        }
        xinetd_texts.extend(r.read(&format!("/etc/xinetd.d/{name}")));
    }
    let unreadable = r.unreadable;
    let active = if root.is_live() {
        root.read_dir("/run/systemd/units")
            .ok()
            .flatten()
            .map(|n| parse_active(&n))
    } else {
        None
    };
    if !units.present && sysv_enabled.is_empty() && init_scripts.is_empty() {
        return Outcome::Unsupported(
            "no systemd unit directory, SysV rc links or /etc/init.d under the root".into(),
        );
    }
    let input = ServicesInput {
        units,
        sysv_enabled: sysv_enabled.into_iter().collect(),
        init_scripts,
        inetd_conf,
        xinetd_texts,
        active,
        unreadable,
    };
    Outcome::from_facts(&build_facts(&input))
}

/// Feed arbitrary text to every parser (for cargo-fuzz); never panics.
pub fn fuzz_parse(input: &str) {
    let _ = parse_inetd_conf(input);
    let _ = parse_xinetd(input);
    let names: Vec<String> = input.lines().map(str::to_string).collect();
    let _ = parse_rc_links(&names);
    let _ = parse_active(&names);
    for n in &names {
        let _ = unit_base(n);
    }
}

#[cfg(test)]
mod tests;
