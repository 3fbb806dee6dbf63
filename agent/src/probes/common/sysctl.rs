//! The one sysctl reader, with one set of rules for every probe (`kernel`,
//! `network`):
//!
//! - files as `systemd-sysctl` applies them: `*.conf` in `/etc/sysctl.d`,
//!   `/run/sysctl.d` (live roots only: runtime state), `/usr/local/lib/sysctl.d`,
//!   `/usr/lib/sysctl.d`, `/lib/sysctl.d`, sorted by file name across the
//!   directories, a name in an earlier directory masking the same name in a
//!   later one; then `/etc/sysctl.conf` unless a `99-sysctl.conf` (Debian's
//!   and RHEL's link to it) was read already. The last assignment wins;
//!   `/` and `.` separators, `#`/`;` comments, `-key = v` (ignore errors)
//!   assignments, globs (`net.ipv4.conf.*.rp_filter`, expanded onto the keys a
//!   probe tracks) and `-key` exclusions from globs are understood.
//! - the value of a key is, in order: the running value (live roots), the
//!   configured value, the default the root's kernel was built with
//!   (`/boot/config-*` of the newest kernel: `CONFIG_SECURITY_DMESG_RESTRICT`,
//!   `CONFIG_BPF_UNPRIV_DEFAULT_OFF`, `CONFIG_MAGIC_SYSRQ_DEFAULT_ENABLE`,
//!   `CONFIG_SECURITY_YAMA`, `CONFIG_COMPAT_BRK`), else the upstream kernel's
//!   documented default (Documentation/admin-guide/sysctl). Each value says
//!   which of these it came from ([`Source`]), so a rule reading a default can
//!   be told apart from one reading a configured value.

use super::reader::Reader;
use super::systemd::order_conf_files;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// sysctl.d directories in priority order.
pub const SYSCTL_DIRS: &[&str] = &[
    "/etc/sysctl.d",
    "/run/sysctl.d",
    "/usr/local/lib/sysctl.d",
    "/usr/lib/sysctl.d",
    "/lib/sysctl.d",
];

/// Upstream kernel defaults of the keys Evident tracks (used when neither a
/// running value, a configured value nor the kernel's build configuration
/// says otherwise).
const KERNEL_DEFAULTS: &[(&str, i64)] = &[
    ("kernel.randomize_va_space", 2),
    ("kernel.kptr_restrict", 0),
    ("kernel.dmesg_restrict", 0),
    ("kernel.unprivileged_bpf_disabled", 0),
    ("fs.suid_dumpable", 0),
    ("fs.protected_hardlinks", 0),
    ("fs.protected_symlinks", 0),
    ("fs.protected_fifos", 0),
    ("fs.protected_regular", 0),
    ("kernel.sysrq", 1),
    ("kernel.kexec_load_disabled", 0),
    ("net.core.bpf_jit_harden", 0),
    ("net.ipv4.ip_forward", 0),
    ("net.ipv6.conf.all.forwarding", 0),
    ("net.ipv6.conf.all.disable_ipv6", 0),
    ("net.ipv6.conf.default.disable_ipv6", 0),
    ("net.ipv4.conf.all.accept_redirects", 1),
    ("net.ipv4.conf.default.accept_redirects", 1),
    ("net.ipv6.conf.all.accept_redirects", 1),
    ("net.ipv6.conf.default.accept_redirects", 1),
    ("net.ipv4.conf.all.secure_redirects", 1),
    ("net.ipv4.conf.default.secure_redirects", 1),
    ("net.ipv4.conf.all.send_redirects", 1),
    ("net.ipv4.conf.default.send_redirects", 1),
    ("net.ipv4.conf.all.accept_source_route", 0),
    ("net.ipv4.conf.default.accept_source_route", 1),
    ("net.ipv6.conf.all.accept_source_route", 0),
    ("net.ipv6.conf.default.accept_source_route", 0),
    ("net.ipv4.conf.all.rp_filter", 0),
    ("net.ipv4.conf.default.rp_filter", 0),
    ("net.ipv4.conf.all.log_martians", 0),
    ("net.ipv4.conf.default.log_martians", 0),
    ("net.ipv4.tcp_syncookies", 1),
    ("net.ipv4.icmp_echo_ignore_broadcasts", 1),
    ("net.ipv4.icmp_ignore_bogus_error_responses", 1),
    ("net.ipv6.conf.all.accept_ra", 1),
    ("net.ipv6.conf.default.accept_ra", 1),
];

/// One line of a sysctl file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SysctlLine {
    /// `key = value` (a leading `-` only silences errors).
    Set(String, String),
    /// `-key` alone: exclude the key from globs.
    Exclude(String),
}

/// Parse a sysctl.d file (`#`/`;` comments, `/` or `.` separators, `-` prefix).
pub fn parse_sysctl(text: &str) -> Vec<SysctlLine> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        let (neg, line) = match line.strip_prefix('-') {
            Some(l) => (true, l.trim_start()),
            None => (false, line),
        };
        match line.split_once('=') {
            Some((k, v)) => out.push(SysctlLine::Set(
                norm_key(k),
                v.split_whitespace().collect::<Vec<_>>().join(" "),
            )),
            None if neg => out.push(SysctlLine::Exclude(norm_key(line))),
            None => {}
        }
    }
    out
}

fn norm_key(k: &str) -> String {
    k.trim().replace('/', ".")
}

/// A sysctl value as an integer (`2`, `0x1b6`, `-1`); `None` otherwise.
pub fn parse_int(value: &str) -> Option<i64> {
    let v = value.trim();
    match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(hex) => i64::from_str_radix(hex, 16).ok(),
        None => v.parse().ok(),
    }
}

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The running kernel (`/proc/sys`, live roots only).
    Live,
    /// A sysctl file (the last one assigning the key).
    File(String),
    /// The build configuration of the root's kernel (`/boot/config-*`).
    KernelConfig(String),
    /// The upstream kernel's documented default.
    KernelDefault,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Live => f.write_str("live"),
            Source::File(p) => write!(f, "file:{p}"),
            Source::KernelConfig(p) => write!(f, "kernel-config:{p}"),
            Source::KernelDefault => f.write_str("kernel-default"),
        }
    }
}

/// The build configuration of the root's newest kernel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelConfig {
    /// The file read (`/boot/config-6.1.0-18-amd64`).
    pub path: String,
    /// `CONFIG_*` options that are set, with their values (`y`, `m`, `0x01b6`).
    pub options: BTreeMap<String, String>,
}

/// Parse a kernel `.config` (only set options; `# CONFIG_X is not set` is absence).
pub fn parse_kernel_config(path: &str, text: &str) -> KernelConfig {
    let options = text
        .lines()
        .filter(|l| l.starts_with("CONFIG_"))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim().trim_matches('"').to_string()))
        .collect();
    KernelConfig {
        path: path.to_string(),
        options,
    }
}

/// Order kernel versions: numeric runs compare as numbers (`6.1.0-10` < `6.1.0-18`).
fn version_key(s: &str) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if digits > 0 {
            let (d, r) = rest.split_at(digits);
            out.push((d.parse().unwrap_or(u64::MAX), String::new()));
            rest = r;
        } else {
            let n = rest
                .char_indices()
                .find(|(_, c)| c.is_ascii_digit())
                .map_or(rest.len(), |(i, _)| i);
            let (t, r) = rest.split_at(n);
            out.push((0, t.to_string()));
            rest = r;
        }
    }
    out
}

/// Read the newest `/boot/config-*` under the root, if any.
pub fn read_kernel_config(r: &mut Reader<'_>) -> Option<KernelConfig> {
    let newest = r
        .glob("/boot/config-*")
        .into_iter()
        .max_by(|a, b| version_key(a).cmp(&version_key(b)))?;
    let text = r.read(&newest)?;
    Some(parse_kernel_config(&newest, &text))
}

/// The default of `key` on a kernel built with `config`: from the build
/// configuration when it decides the value, else the upstream default.
/// `None`: the key does not exist on that kernel (Yama not built in) or is
/// not one Evident knows a default for.
pub fn default_value(key: &str, config: Option<&KernelConfig>) -> Option<(i64, Source)> {
    if let Some(c) = config {
        let set = |o: &str| c.options.get(o).map(String::as_str);
        let yes = |o: &str| matches!(set(o), Some("y"));
        let from_config = |v: i64| Some((v, Source::KernelConfig(c.path.clone())));
        match key {
            "kernel.dmesg_restrict" => {
                return from_config(i64::from(yes("CONFIG_SECURITY_DMESG_RESTRICT")))
            }
            "kernel.unprivileged_bpf_disabled" => {
                return from_config(if yes("CONFIG_BPF_UNPRIV_DEFAULT_OFF") {
                    2
                } else {
                    0
                })
            }
            "kernel.randomize_va_space" => {
                return from_config(if yes("CONFIG_COMPAT_BRK") { 1 } else { 2 })
            }
            "kernel.yama.ptrace_scope" => {
                return if yes("CONFIG_SECURITY_YAMA") {
                    from_config(1)
                } else {
                    None
                }
            }
            "kernel.sysrq" => {
                if let Some(v) = set("CONFIG_MAGIC_SYSRQ_DEFAULT_ENABLE").and_then(parse_int) {
                    return from_config(v);
                }
            }
            _ => {}
        }
    }
    if key == "kernel.yama.ptrace_scope" {
        // Yama's default when built in (every mainstream distribution kernel).
        return Some((1, Source::KernelDefault));
    }
    KERNEL_DEFAULTS
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| (*v, Source::KernelDefault))
}

/// The sysctl configuration under a root: files read and their lines.
#[derive(Debug, Clone, Default)]
pub struct SysctlConfig {
    /// Files read, in the order applied.
    pub files: Vec<String>,
    /// Lines of each file (same order).
    pub parsed: Vec<Vec<SysctlLine>>,
    /// The newest kernel's build configuration, when the root has one.
    pub kernel_config: Option<KernelConfig>,
}

/// sysctl files in the order systemd-sysctl applies them (see the module doc).
pub fn sysctl_paths(r: &mut Reader<'_>) -> Vec<String> {
    let live = r.live;
    let listing: Vec<(&str, Vec<String>)> = SYSCTL_DIRS
        .iter()
        .filter(|d| live || !d.starts_with("/run/"))
        .map(|d| (*d, r.names(d)))
        .collect();
    let mut paths = order_conf_files(&listing);
    if !paths.iter().any(|p| p.ends_with("/99-sysctl.conf")) && r.root.exists("/etc/sysctl.conf") {
        paths.push("/etc/sysctl.conf".into());
    }
    // /lib and /usr/lib are one directory on merged-/usr systems: read each file once.
    let mut seen = BTreeSet::new();
    paths.retain(|p| seen.insert(r.root.resolve(p).ok()));
    paths
}

/// Read the sysctl files and the kernel configuration under the reader's root.
pub fn read_config(r: &mut Reader<'_>) -> SysctlConfig {
    let mut c = SysctlConfig::default();
    for p in sysctl_paths(r) {
        if let Some(t) = r.read(&p) {
            c.parsed.push(parse_sysctl(&t));
            c.files.push(p);
        }
    }
    c.kernel_config = read_kernel_config(r);
    c
}

impl SysctlConfig {
    /// Configured values (value, file) of the keys `keep` accepts; globs are
    /// expanded onto `tracked` minus `-key` exclusions. The last assignment wins.
    pub fn configured(
        &self,
        keep: impl Fn(&str) -> bool,
        tracked: &[&str],
    ) -> BTreeMap<String, (String, String)> {
        let excluded: BTreeSet<&str> = self
            .parsed
            .iter()
            .flatten()
            .filter_map(|l| match l {
                SysctlLine::Exclude(k) => Some(k.as_str()),
                SysctlLine::Set(..) => None,
            })
            .collect();
        let mut out = BTreeMap::new();
        for (file, lines) in self.files.iter().zip(&self.parsed) {
            for line in lines {
                let SysctlLine::Set(k, v) = line else {
                    continue;
                };
                if k.contains(['*', '?', '[']) {
                    let Ok(pat) = glob::Pattern::new(k) else {
                        continue;
                    };
                    for t in tracked {
                        if pat.matches(t) && !excluded.contains(t) && keep(t) {
                            out.insert((*t).to_string(), (v.clone(), file.clone()));
                        }
                    }
                } else if keep(k) {
                    out.insert(k.clone(), (v.clone(), file.clone()));
                }
            }
        }
        out
    }

    /// The value of `key` and where it came from: running value, else
    /// configured, else the kernel's default. `None` when no source has an
    /// integer value for it.
    pub fn resolve(
        &self,
        key: &str,
        live: Option<&str>,
        configured: Option<&(String, String)>,
    ) -> Option<(i64, Source)> {
        if let Some(v) = live.and_then(parse_int) {
            return Some((v, Source::Live));
        }
        if let Some((v, file)) = configured {
            if let Some(v) = parse_int(v) {
                return Some((v, Source::File(file.clone())));
            }
        }
        default_value(key, self.kernel_config.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hostroot::HostRoot;
    use crate::probes::common::testutil::{link, tree};

    #[test]
    fn one_set_of_rules_with_sources() {
        let dir = tree(
            &[
                ("/usr/lib/sysctl.d/50-default.conf", "net.ipv4.conf.*.rp_filter = 2\n-net.ipv4.conf.all.rp_filter\nkernel.sysrq = 0x01b6\n"),
                ("/etc/sysctl.d/60-x.conf", "kernel/kptr_restrict = 1\n"),
                ("/etc/sysctl.conf", "kernel.kptr_restrict = 2\n"),
                ("/run/sysctl.d/10-run.conf", "kernel.dmesg_restrict = 1\n"),
                (
                    "/boot/config-6.1.0-9-amd64",
                    "CONFIG_SECURITY_DMESG_RESTRICT=n\n",
                ),
                (
                    "/boot/config-6.1.0-18-amd64",
                    "CONFIG_SECURITY_DMESG_RESTRICT=y\nCONFIG_BPF_UNPRIV_DEFAULT_OFF=y\n# CONFIG_COMPAT_BRK is not set\nCONFIG_SECURITY_YAMA=y\n",
                ),
            ],
            &[],
        );
        link(&dir, "../sysctl.conf", "/etc/sysctl.d/99-sysctl.conf");
        let root = HostRoot::offline(dir.path());
        let mut r = Reader::new(&root);
        let c = read_config(&mut r);
        // /run is runtime state: not read offline; 99-sysctl.conf is sysctl.conf, read once
        assert_eq!(
            c.files,
            vec![
                "/usr/lib/sysctl.d/50-default.conf",
                "/etc/sysctl.d/60-x.conf",
                "/etc/sysctl.d/99-sysctl.conf"
            ]
        );
        let tracked = [
            "net.ipv4.conf.all.rp_filter",
            "net.ipv4.conf.default.rp_filter",
            "kernel.kptr_restrict",
            "kernel.sysrq",
        ];
        let conf = c.configured(|k| tracked.contains(&k), &tracked);
        assert_eq!(conf["net.ipv4.conf.default.rp_filter"].0, "2");
        assert!(!conf.contains_key("net.ipv4.conf.all.rp_filter"));
        let get = |k: &str| c.resolve(k, None, conf.get(k));
        assert_eq!(
            get("kernel.kptr_restrict"),
            Some((2, Source::File("/etc/sysctl.d/99-sysctl.conf".into())))
        );
        assert_eq!(get("kernel.sysrq").map(|v| v.0), Some(438));
        let kc = Source::KernelConfig("/boot/config-6.1.0-18-amd64".into());
        assert_eq!(get("kernel.dmesg_restrict"), Some((1, kc.clone())));
        assert_eq!(
            get("kernel.unprivileged_bpf_disabled"),
            Some((2, kc.clone()))
        );
        assert_eq!(get("kernel.randomize_va_space"), Some((2, kc.clone())));
        assert_eq!(get("kernel.yama.ptrace_scope"), Some((1, kc)));
        assert_eq!(
            get("net.ipv4.conf.all.rp_filter"),
            Some((0, Source::KernelDefault))
        );
        // the running value wins
        assert_eq!(
            c.resolve(
                "kernel.kptr_restrict",
                Some("0\n"),
                conf.get("kernel.kptr_restrict")
            ),
            Some((0, Source::Live))
        );
        assert_eq!(Source::KernelDefault.to_string(), "kernel-default");
        assert_eq!(
            Source::File("/etc/x.conf".into()).to_string(),
            "file:/etc/x.conf"
        );
    }

    #[test]
    fn without_kernel_config_the_upstream_default_applies() {
        let c = SysctlConfig::default();
        assert_eq!(
            c.resolve("kernel.dmesg_restrict", None, None),
            Some((0, Source::KernelDefault))
        );
        assert_eq!(c.resolve("vm.swappiness", None, None), None);
        let no_yama = parse_kernel_config("/boot/config-x", "CONFIG_X=y\n");
        assert_eq!(
            default_value("kernel.yama.ptrace_scope", Some(&no_yama)),
            None
        );
        assert!(version_key("config-6.1.0-18") > version_key("config-6.1.0-9"));
    }
}
