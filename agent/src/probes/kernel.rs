//! Probe `kernel`: security-relevant kernel settings — hardening sysctls,
//! disabled kernel modules (usb-storage and the CIS list of rare
//! filesystems) and core-dump restrictions.
//!
//! Sources (Debian/Ubuntu and RHEL-family use the same layout):
//! - sysctl configuration as `systemd-sysctl` applies it: `*.conf` in
//!   `/etc/sysctl.d`, `/run/sysctl.d`, `/usr/local/lib/sysctl.d`,
//!   `/usr/lib/sysctl.d`, `/lib/sysctl.d`, sorted by file name across all
//!   directories, a name in an earlier directory masking the same name in a
//!   later one; then `/etc/sysctl.conf` (as `sysctl --system` does) unless it
//!   was already read as `99-sysctl.conf`. The last assignment of a key wins.
//! - live values from `/proc/sys/...` (live system only);
//! - `modprobe.d` files (`/etc`, `/run`, `/usr/local/lib`, `/usr/lib`, `/lib`):
//!   `blacklist <module>` and `install <module> /bin/false|/bin/true`;
//!   live: `/sys/module/usb_storage`;
//! - `/etc/security/limits.conf` and `/etc/security/limits.d/*.conf`
//!   (`* hard core 0`); `systemd-coredump`'s `coredump.conf` and its drop-ins
//!   (`Storage=none`, `ProcessSizeMax=0`); live `/proc/sys/kernel/core_pattern`.
//!
//! Sysctl maps are keyed by the sysctl name with dots replaced by underscores,
//! so rules read `kernel.sysctl.kernel_randomize_va_space`. Every tracked key
//! is always present; its value is an int, or `null` when unknown (not
//! configured and not live, or not an integer).

use super::common::reader::{read_noting, Reader};
pub use super::common::sysctl::parse_int;
use super::common::sysctl::{self, parse_sysctl, SysctlLine};
use super::common::systemd::order_conf_files;
use super::Outcome;
use crate::hostroot::HostRoot;
use serde::Serialize;
use std::collections::BTreeMap;

/// The probe's schema: id, version, controls and every field (in core).
pub use evident_core::schema::probes::kernel::SCHEMA;

/// The tracked sysctls.
pub const SYSCTLS: &[&str] = &[
    "kernel.randomize_va_space",
    "kernel.kptr_restrict",
    "kernel.dmesg_restrict",
    "kernel.yama.ptrace_scope",
    "kernel.unprivileged_bpf_disabled",
    "fs.suid_dumpable",
    "fs.protected_hardlinks",
    "fs.protected_symlinks",
    "fs.protected_fifos",
    "fs.protected_regular",
    "kernel.sysrq",
    "kernel.kexec_load_disabled",
    "net.core.bpf_jit_harden",
];

/// Filesystem modules CIS benchmarks want disabled.
pub const CIS_FILESYSTEMS: &[&str] = &["cramfs", "freevxfs", "jffs2", "hfs", "hfsplus", "udf"];

const MODPROBE_DIRS: &[&str] = &[
    "/etc/modprobe.d",
    "/run/modprobe.d",
    "/usr/local/lib/modprobe.d",
    "/usr/lib/modprobe.d",
    "/lib/modprobe.d",
];
const COREDUMP_DIRS: &[&str] = &[
    "/etc/systemd/coredump.conf.d",
    "/run/systemd/coredump.conf.d",
    "/usr/local/lib/systemd/coredump.conf.d",
    "/usr/lib/systemd/coredump.conf.d",
];

/// Values of the tracked sysctls, keyed by name with `.` → `_`.
pub type SysctlMap = BTreeMap<String, Option<i64>>;

/// What modprobe.d says about modules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModprobeFacts {
    /// Blacklisted modules (normalised to `_`).
    pub blacklisted: Vec<String>,
    /// Modules whose install command does nothing.
    pub install_disabled: Vec<String>,
}

/// Core dump settings from configuration files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CoredumpConf {
    /// `Storage=`.
    pub storage: Option<String>,
    /// `ProcessSizeMax=`.
    pub process_size_max: Option<String>,
}

/// The probe's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KernelFacts {
    /// Effective values.
    pub sysctl: SysctlMap,
    /// Configured values.
    pub sysctl_configured: SysctlMap,
    /// Running values (live only).
    pub sysctl_live: Option<SysctlMap>,
    /// Where each effective value came from.
    pub sysctl_sources: BTreeMap<String, String>,
    /// Keys whose configured and running values differ.
    pub sysctl_drift: Vec<String>,
    /// Files read.
    pub sysctl_files: Vec<String>,
    /// Files that could not be read.
    pub unreadable_files: Vec<String>,
    /// Whether live values were read.
    pub runtime_collected: bool,
    /// Blacklisted modules.
    pub blacklisted_modules: Vec<String>,
    /// Install-disabled modules.
    pub install_disabled_modules: Vec<String>,
    /// usb-storage cannot autoload.
    pub usb_storage_disabled: bool,
    /// usb_storage is loaded (live only).
    pub usb_storage_loaded: Option<bool>,
    /// CIS filesystems still loadable.
    pub cis_filesystems_not_disabled: Vec<String>,
    /// `* hard core` limit.
    pub core_hard_limit: Option<String>,
    /// systemd-coredump `Storage=`.
    pub coredump_storage: Option<String>,
    /// systemd-coredump `ProcessSizeMax=`.
    pub coredump_process_size_max: Option<String>,
    /// Running core_pattern.
    pub core_pattern: Option<String>,
    /// Core dumps kept from disk.
    pub core_dumps_restricted: bool,
}

/// `kernel.yama.ptrace_scope` → `kernel_yama_ptrace_scope`.
pub fn key_of(name: &str) -> String {
    name.replace('.', "_")
}

fn empty_map() -> SysctlMap {
    SYSCTLS.iter().map(|n| (key_of(n), None)).collect()
}

/// Parse one sysctl.conf / sysctl.d file into `(key, value)` assignments in
/// order (the shared sysctl parser; `-key` exclusions left out).
pub fn parse_sysctl_conf(text: &str) -> Vec<(String, String)> {
    parse_sysctl(text)
        .into_iter()
        .filter_map(|l| match l {
            SysctlLine::Set(k, v) => Some((k, v)),
            SysctlLine::Exclude(_) => None,
        })
        .collect()
}

/// Apply sysctl files in order; the last assignment of a tracked key wins.
pub fn configured_sysctls(files: &[&str]) -> SysctlMap {
    let mut map = empty_map();
    for text in files {
        for (k, v) in parse_sysctl_conf(text) {
            if SYSCTLS.contains(&k.as_str()) {
                map.insert(key_of(&k), parse_int(&v));
            }
        }
    }
    map
}

/// Module names treat `-` and `_` alike; use `_`.
fn normalise_module(m: &str) -> String {
    m.replace('-', "_")
}

/// Whether an `install` command does nothing (`/bin/false`, `/usr/bin/true`, `/sbin/nologin`).
fn is_noop_command(cmd: &str) -> bool {
    let first = cmd.split_whitespace().next().unwrap_or("");
    let base = first.rsplit('/').next().unwrap_or(first);
    matches!(base, "false" | "true" | "nologin")
}

/// Parse modprobe.d files (backslash continuations, comments).
pub fn parse_modprobe(files: &[&str]) -> ModprobeFacts {
    let mut out = ModprobeFacts::default();
    for text in files {
        let joined = text.replace("\\\r\n", " ").replace("\\\n", " ");
        for line in joined.lines().map(str::trim) {
            if line.starts_with('#') {
                continue;
            }
            let mut words = line.split_whitespace();
            match (words.next(), words.next()) {
                (Some("blacklist"), Some(m)) => out.blacklisted.push(normalise_module(m)),
                (Some("install"), Some(m)) => {
                    let cmd: Vec<&str> = words.collect();
                    if is_noop_command(&cmd.join(" ")) {
                        out.install_disabled.push(normalise_module(m));
                    }
                }
                _ => {}
            }
        }
    }
    for v in [&mut out.blacklisted, &mut out.install_disabled] {
        v.sort();
        v.dedup();
    }
    out
}

/// The last `* hard core <v>` (or `* - core <v>`) value in limits files.
pub fn parse_limits_core(files: &[&str]) -> Option<String> {
    let mut value = None;
    for text in files {
        for line in text.lines() {
            let line = line.split_once('#').map_or(line, |(l, _)| l);
            let f: Vec<&str> = line.split_whitespace().collect();
            if let [domain, kind, item, v] = f.as_slice() {
                if *domain == "*" && matches!(*kind, "hard" | "-") && *item == "core" {
                    value = Some((*v).to_string());
                }
            }
        }
    }
    value
}

/// Parse coredump.conf and drop-ins in order (`[Coredump]` section; last wins).
pub fn parse_coredump_conf(files: &[&str]) -> CoredumpConf {
    let mut out = CoredumpConf::default();
    for text in files {
        let mut in_section = false;
        for line in text.lines().map(str::trim) {
            if line.starts_with('[') {
                in_section = line == "[Coredump]";
                continue;
            }
            if !in_section || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            let v = v.trim().to_string();
            match k.trim() {
                "Storage" => out.storage = Some(v.to_ascii_lowercase()),
                "ProcessSizeMax" => out.process_size_max = Some(v),
                _ => {}
            }
        }
    }
    out
}

/// Whether a size such as `0`, `0B` or `0K` is zero.
fn is_zero_size(v: &str) -> bool {
    let digits: String = v.trim().chars().take_while(char::is_ascii_digit).collect();
    !digits.is_empty() && digits.chars().all(|c| c == '0')
}

/// Whether core dumps are kept from disk by any of the usual means.
pub fn core_dumps_restricted(
    hard_limit: Option<&str>,
    coredump: &CoredumpConf,
    core_pattern: Option<&str>,
) -> bool {
    let limits = hard_limit == Some("0");
    let systemd = coredump.storage.as_deref() == Some("none")
        && coredump
            .process_size_max
            .as_deref()
            .is_some_and(is_zero_size);
    let pattern = core_pattern.is_some_and(|p| {
        p.trim()
            .strip_prefix('|')
            .is_some_and(|cmd| is_noop_command(cmd.trim()))
    });
    limits || systemd || pattern
}

/// Assemble the facts from parsed parts (pure).
pub fn build_facts(
    configured: SysctlMap,
    live: Option<SysctlMap>,
    modules: &ModprobeFacts,
    limits_core: Option<String>,
    coredump: CoredumpConf,
    core_pattern: Option<String>,
) -> KernelFacts {
    let mut effective = configured.clone();
    let mut drift = Vec::new();
    if let Some(live) = &live {
        for (k, v) in live {
            if let (Some(lv), Some(Some(cv))) = (v, configured.get(k)) {
                if lv != cv {
                    drift.push(k.clone());
                }
            }
            effective.insert(k.clone(), *v);
        }
    }
    let disabled = |m: &str| {
        modules.blacklisted.iter().any(|b| b == m)
            || modules.install_disabled.iter().any(|b| b == m)
    };
    let restricted =
        core_dumps_restricted(limits_core.as_deref(), &coredump, core_pattern.as_deref());
    KernelFacts {
        sysctl: effective,
        sysctl_configured: configured,
        runtime_collected: live.is_some(),
        sysctl_live: live,
        sysctl_sources: BTreeMap::new(),
        sysctl_drift: drift,
        sysctl_files: Vec::new(),
        unreadable_files: Vec::new(),
        blacklisted_modules: modules.blacklisted.clone(),
        install_disabled_modules: modules.install_disabled.clone(),
        usb_storage_disabled: disabled("usb_storage"),
        usb_storage_loaded: None,
        cis_filesystems_not_disabled: CIS_FILESYSTEMS
            .iter()
            .filter(|m| !disabled(m))
            .map(|m| (*m).to_string())
            .collect(),
        core_hard_limit: limits_core,
        coredump_storage: coredump.storage,
        coredump_process_size_max: coredump.process_size_max,
        core_pattern,
        core_dumps_restricted: restricted,
    }
}

/// Feed `input` to every parser (for cargo-fuzz); never panics.
pub fn fuzz_parse(input: &str) {
    let _ = parse_sysctl_conf(input);
    let _ = parse_int(input);
    let _ = configured_sysctls(&[input]);
    let modules = parse_modprobe(&[input]);
    let limits = parse_limits_core(&[input]);
    let coredump = parse_coredump_conf(&[input]);
    let _ = build_facts(
        configured_sysctls(&[input]),
        Some(empty_map()),
        &modules,
        limits,
        coredump,
        Some(input.to_string()),
    );
}

/// Read a list of files; unreadable ones are noted in `errors`.
fn read_all(root: &HostRoot, paths: &[String], errors: &mut Vec<String>) -> Vec<String> {
    paths
        .iter()
        .filter_map(|p| read_noting(root, p, errors))
        .collect()
}

/// Config files in `dirs` ordered the systemd way.
fn conf_files(root: &HostRoot, dirs: &[&str]) -> Vec<String> {
    let listing: Vec<(&str, Vec<String>)> = dirs
        .iter()
        .map(|d| (*d, root.read_dir(d).ok().flatten().unwrap_or_default()))
        .collect();
    order_conf_files(&listing)
}

fn live_sysctls(root: &HostRoot) -> SysctlMap {
    SYSCTLS
        .iter()
        .map(|n| {
            let path = format!("/proc/sys/{}", n.replace('.', "/"));
            let v = root
                .read_to_string(&path)
                .ok()
                .flatten()
                .and_then(|t| parse_int(&t));
            (key_of(n), v)
        })
        .collect()
}

/// Collect under `root`. Always `Ok`: missing configuration is itself evidence.
/// Files that cannot be read are skipped (the probe runs unprivileged where it can).
pub fn collect(root: &HostRoot) -> Outcome {
    let mut r = Reader::new(root);
    let sysctl_conf = sysctl::read_config(&mut r);
    let mut errors = r.unreadable;
    let configured_raw = sysctl_conf.configured(|k| SYSCTLS.contains(&k), SYSCTLS);
    let mut configured = empty_map();
    for (k, (v, _)) in &configured_raw {
        configured.insert(key_of(k), parse_int(v));
    }

    let modprobe_texts = read_all(root, &conf_files(root, MODPROBE_DIRS), &mut errors);
    let modules = parse_modprobe(
        &modprobe_texts
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );

    let mut limits_paths = vec!["/etc/security/limits.conf".to_string()];
    limits_paths.extend(
        root.glob("/etc/security/limits.d/*.conf")
            .unwrap_or_default(),
    );
    let limits_texts = read_all(root, &limits_paths, &mut errors);
    let limits = parse_limits_core(&limits_texts.iter().map(String::as_str).collect::<Vec<_>>());

    let main_conf = if root.exists("/etc/systemd/coredump.conf") {
        "/etc/systemd/coredump.conf"
    } else {
        "/usr/lib/systemd/coredump.conf"
    };
    let mut coredump_paths = vec![main_conf.to_string()];
    coredump_paths.extend(conf_files(root, COREDUMP_DIRS));
    let coredump_texts = read_all(root, &coredump_paths, &mut errors);
    let coredump = parse_coredump_conf(
        &coredump_texts
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );

    let live = root.is_live();
    let core_pattern = if live {
        root.read_to_string("/proc/sys/kernel/core_pattern")
            .ok()
            .flatten()
            .map(|s| s.trim().to_string())
    } else {
        None
    };
    let mut facts = build_facts(
        configured,
        live.then(|| live_sysctls(root)),
        &modules,
        limits,
        coredump,
        core_pattern,
    );
    // One rule for every sysctl probe: running value, else configured, else
    // the kernel's default (its build configuration or the upstream default).
    for name in SYSCTLS {
        let key = key_of(name);
        let live_value = facts
            .sysctl_live
            .as_ref()
            .and_then(|m| m.get(&key).copied().flatten());
        let resolved = match live_value {
            Some(v) => Some((v, sysctl::Source::Live)),
            None => sysctl_conf.resolve(name, None, configured_raw.get(*name)),
        };
        let (value, source) = match resolved {
            Some((v, s)) => (Some(v), s.to_string()),
            None => (None, "unknown".to_string()),
        };
        facts.sysctl.insert(key.clone(), value);
        facts.sysctl_sources.insert(key, source);
    }
    facts.sysctl_files = sysctl_conf.files;
    if live {
        facts.usb_storage_loaded = Some(root.exists("/sys/module/usb_storage"));
    }
    facts.unreadable_files = errors;
    Outcome::from_facts(&facts)
}

#[cfg(test)]
mod tests;
