//! Probe `host`: which machine this is — operating system, version, hostname,
//! machine id, architecture — and, on a live system, kernel, boot time, CPU,
//! memory and disk usage.
//!
//! Static facts (any root, any distribution):
//! - `/etc/os-release`, falling back to `/usr/lib/os-release` (`ID`,
//!   `ID_LIKE`, `VERSION_ID`, `VERSION_CODENAME`, `PRETTY_NAME`; shell-style
//!   quoting, comments), present on Debian, Ubuntu, RHEL and its rebuilds,
//!   Fedora, SUSE, Alpine, Arch;
//! - `/etc/hostname`; `/etc/machine-id` (systemd; 32 hex digits, anything
//!   else such as `uninitialized` counts as absent);
//! - the architecture: the agent's own when live, otherwise the ELF header
//!   of the image's `/bin/sh` (`unknown` when that cannot be read).
//!
//! Live only (`runtime_collected: true`): the running hostname
//! (`/proc/sys/kernel/hostname`), kernel release (`/proc/sys/kernel/osrelease`),
//! `/proc/stat` (btime), `/proc/meminfo`, `/proc/cpuinfo`, and the usage of every
//! real local filesystem in `/proc/self/mounts` (via `statvfs(2)` through
//! `rustix`). Under a foreign `--root` those fields are `null` / empty.
//!
//! The fields `hostname`, `os_family`, `os_id`, `os_version`, `arch`,
//! `machine_id` and `kernel` are read by the collector's `HostFacts` and must
//! keep their names.

use super::common::reader::read_quiet as read;
use super::Outcome;
use crate::hostroot::HostRoot;
use serde::Serialize;

/// The probe's schema: id, version, controls and every field (in core).
pub use evident_core::schema::probes::host::SCHEMA;

/// Fields of `os-release` the probe keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OsRelease {
    /// `ID`.
    pub id: String,
    /// `ID_LIKE`, split on whitespace.
    pub id_like: Vec<String>,
    /// `VERSION_ID`.
    pub version_id: String,
    /// `VERSION_CODENAME`.
    pub codename: String,
    /// `PRETTY_NAME`.
    pub pretty_name: String,
}

/// One mounted filesystem with its usage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Disk {
    /// Mount point.
    pub mount_point: String,
    /// Source device.
    pub device: String,
    /// Filesystem type.
    pub fs_type: String,
    /// Total bytes.
    pub size_bytes: u64,
    /// `df`-style used percentage.
    pub used_percent: u64,
}

/// One line of `/proc/self/mounts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Source device.
    pub device: String,
    /// Mount point (octal escapes decoded).
    pub mount_point: String,
    /// Filesystem type.
    pub fs_type: String,
}

/// CPU facts from `/proc/cpuinfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpuInfo {
    /// Logical CPUs.
    pub count: u64,
    /// First model name.
    pub model: Option<String>,
}

/// Memory facts from `/proc/meminfo`, in bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemInfo {
    /// `MemTotal`.
    pub total: Option<u64>,
    /// `MemAvailable`.
    pub available: Option<u64>,
}

/// The probe's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostFacts {
    /// See [`SCHEMA`].
    pub hostname: String,
    /// Always `linux`.
    pub os_family: String,
    /// os-release `ID`.
    pub os_id: String,
    /// os-release `ID_LIKE`.
    pub os_id_like: Vec<String>,
    /// os-release `VERSION_ID`.
    pub os_version: String,
    /// Major version number.
    pub os_version_major: u64,
    /// Minor version number.
    pub os_version_minor: u64,
    /// os-release `VERSION_CODENAME`.
    pub os_codename: String,
    /// os-release `PRETTY_NAME`.
    pub os_pretty_name: String,
    /// Whether an os-release file was found.
    pub os_release_present: bool,
    /// The machine id.
    pub machine_id: Option<String>,
    /// Whether a machine id is set.
    pub machine_id_present: bool,
    /// Architecture.
    pub arch: String,
    /// Whether live facts were read.
    pub runtime_collected: bool,
    /// Kernel release.
    pub kernel: Option<String>,
    /// Boot time (seconds since the epoch). Uptime, free memory and used
    /// bytes are left out on purpose: they change on every run and would make
    /// every run's blob new, defeating content addressing.
    pub boot_time: Option<u64>,
    /// Total memory.
    pub memory_total_bytes: Option<u64>,
    /// Logical CPUs.
    pub cpu_count: Option<u64>,
    /// CPU model.
    pub cpu_model: Option<String>,
    /// Filesystems and their usage.
    pub disks: Vec<Disk>,
    /// Highest usage.
    pub disk_usage_max_percent: Option<u64>,
}

/// Filesystem types that hold real data (not pseudo, network or read-only image filesystems).
const REAL_FS: &[&str] = &[
    "ext2", "ext3", "ext4", "xfs", "btrfs", "vfat", "zfs", "f2fs", "jfs", "reiserfs", "ntfs",
    "ntfs3", "exfat", "bcachefs",
];

/// Parse an `os-release` file (shell-like `KEY=value` lines).
pub fn parse_os_release(text: &str) -> OsRelease {
    let mut out = OsRelease::default();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, raw)) = line.split_once('=') else {
            continue;
        };
        let value = unquote(raw.trim());
        match key.trim() {
            "ID" => out.id = value,
            "ID_LIKE" => out.id_like = value.split_whitespace().map(str::to_string).collect(),
            "VERSION_ID" => out.version_id = value,
            "VERSION_CODENAME" => out.codename = value,
            "PRETTY_NAME" => out.pretty_name = value,
            _ => {}
        }
    }
    out
}

/// Undo shell quoting of an os-release value (`"a \"b\""`, `'x'`, bare).
fn unquote(raw: &str) -> String {
    let mut chars = raw.chars();
    match chars.next() {
        Some(q @ ('"' | '\'')) => {
            let mut out = String::new();
            let mut escaped = false;
            for c in chars {
                if escaped {
                    out.push(c);
                    escaped = false;
                } else if c == '\\' && q == '"' {
                    escaped = true;
                } else if c == q {
                    break;
                } else {
                    out.push(c);
                }
            }
            out
        }
        _ => raw
            .split_once(" #")
            .map_or(raw, |(v, _)| v)
            .trim()
            .to_string(),
    }
}

/// `"22.04"` → `(22, 4)`, `"12"` → `(12, 0)`, `""` → `(0, 0)`.
pub fn parse_version(version: &str) -> (u64, u64) {
    let mut parts = version.split(['.', '-', '_']).map(|p| {
        let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
        digits.parse::<u64>().unwrap_or(0)
    });
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// The hostname in an `/etc/hostname` file: first non-comment word.
pub fn parse_hostname(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .and_then(|l| l.split_whitespace().next())
        .map(str::to_string)
}

/// A valid machine id (32 hex digits), lowercased; `None` for empty or `uninitialized`.
pub fn parse_machine_id(text: &str) -> Option<String> {
    let id = text.trim();
    (id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit())).then(|| id.to_ascii_lowercase())
}

/// The architecture named by an ELF header (`e_machine`), in `uname -m` spelling.
pub fn parse_elf_arch(bytes: &[u8]) -> Option<&'static str> {
    if bytes.get(..4)? != b"\x7fELF" {
        return None;
    }
    let class64 = *bytes.get(4)? == 2;
    let little = *bytes.get(5)? == 1;
    let m = [*bytes.get(18)?, *bytes.get(19)?];
    let machine = if little {
        u16::from_le_bytes(m)
    } else {
        u16::from_be_bytes(m)
    };
    Some(match (machine, class64) {
        (0x3E, _) => "x86_64",
        (0x03, _) => "i686",
        (0xB7, _) => "aarch64",
        (0x28, _) => "arm",
        (0xF3, true) => "riscv64",
        (0x15, true) if little => "ppc64le",
        (0x15, true) => "ppc64",
        (0x16, _) => "s390x",
        (0x102, _) => "loongarch64",
        _ => return None,
    })
}

/// Parse `/proc/meminfo` (`MemTotal:  16303588 kB`).
pub fn parse_meminfo(text: &str) -> MemInfo {
    let mut out = MemInfo::default();
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let mut words = rest.split_whitespace();
        let Some(n) = words.next().and_then(|n| n.parse::<u64>().ok()) else {
            continue;
        };
        let bytes = match words.next() {
            Some("kB") => n.saturating_mul(1024),
            _ => n,
        };
        match key.trim() {
            "MemTotal" => out.total = Some(bytes),
            "MemAvailable" => out.available = Some(bytes),
            _ => {}
        }
    }
    out
}

/// Parse `/proc/cpuinfo`: count `processor` lines, keep the first model name
/// (`model name` on x86, `Model`/`cpu model` elsewhere).
pub fn parse_cpuinfo(text: &str) -> CpuInfo {
    let mut out = CpuInfo::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let key = key.trim();
        let value = value.trim();
        if key == "processor" {
            out.count += 1;
        } else if matches!(key, "model name" | "cpu model" | "Model")
            && out.model.is_none()
            && !value.is_empty()
        {
            out.model = Some(value.to_string());
        }
    }
    out
}

/// Parse the boot time (`btime <epoch seconds>`) out of `/proc/stat`.
pub fn parse_boot_time(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("btime"))
        .and_then(|v| v.trim().parse().ok())
}

/// Parse `/proc/self/mounts`, keeping real local filesystems, one entry per
/// device (the first mount of it, so bind mounts and btrfs subvolumes do not repeat).
pub fn parse_mounts(text: &str) -> Vec<Mount> {
    let mut out: Vec<Mount> = Vec::new();
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let (Some(device), Some(mount_point), Some(fs_type)) = (f.next(), f.next(), f.next())
        else {
            continue;
        };
        if !REAL_FS.contains(&fs_type) || out.iter().any(|m| m.device == device) {
            continue;
        }
        out.push(Mount {
            device: unescape_octal(device),
            mount_point: unescape_octal(mount_point),
            fs_type: fs_type.to_string(),
        });
    }
    out
}

/// Decode the `\040`-style escapes of `/proc/self/mounts` and fstab.
fn unescape_octal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('\\') {
        out.push_str(rest.get(..pos).unwrap_or(""));
        let after = rest.get(pos + 1..).unwrap_or("");
        let code = after.get(..3).and_then(|d| u8::from_str_radix(d, 8).ok());
        match code {
            Some(b) => {
                out.push(char::from(b));
                rest = after.get(3..).unwrap_or("");
            }
            None => {
                out.push('\\');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `df`-style usage from `statvfs` numbers (block counts in `frsize` units).
pub fn usage(mount: &Mount, frsize: u64, blocks: u64, bfree: u64, bavail: u64) -> Disk {
    let size = blocks.saturating_mul(frsize);
    let used = blocks.saturating_sub(bfree).saturating_mul(frsize);
    let available = bavail.saturating_mul(frsize);
    let denom = used.saturating_add(available);
    let used_percent = if denom == 0 {
        0
    } else {
        used.saturating_mul(100).div_ceil(denom)
    };
    Disk {
        mount_point: mount.mount_point.clone(),
        device: mount.device.clone(),
        fs_type: mount.fs_type.clone(),
        size_bytes: size,
        used_percent,
    }
}

/// Feed `input` to every parser (for cargo-fuzz); never panics.
pub fn fuzz_parse(input: &str) {
    let _ = parse_os_release(input);
    let _ = parse_version(input);
    let _ = parse_hostname(input);
    let _ = parse_machine_id(input);
    let _ = parse_elf_arch(input.as_bytes());
    let _ = parse_meminfo(input);
    let _ = parse_cpuinfo(input);
    let _ = parse_boot_time(input);
    for m in parse_mounts(input) {
        let _ = usage(&m, 4096, u64::MAX, 1, u64::MAX);
    }
}

fn static_facts(root: &HostRoot) -> HostFacts {
    let os_text = read(root, "/etc/os-release").or_else(|| read(root, "/usr/lib/os-release"));
    let os = os_text.as_deref().map(parse_os_release).unwrap_or_default();
    let (major, minor) = parse_version(&os.version_id);
    let machine_id = read(root, "/etc/machine-id")
        .as_deref()
        .and_then(parse_machine_id);
    let arch = if root.is_live() {
        std::env::consts::ARCH.to_string()
    } else {
        root.read_bytes("/bin/sh")
            .ok()
            .flatten()
            .as_deref()
            .and_then(parse_elf_arch)
            .unwrap_or("unknown")
            .to_string()
    };
    HostFacts {
        hostname: read(root, "/etc/hostname")
            .as_deref()
            .and_then(parse_hostname)
            .unwrap_or_else(|| "unknown".into()),
        os_family: "linux".into(),
        os_id: os.id,
        os_id_like: os.id_like,
        os_version: os.version_id,
        os_version_major: major,
        os_version_minor: minor,
        os_codename: os.codename,
        os_pretty_name: os.pretty_name,
        os_release_present: os_text.is_some(),
        machine_id_present: machine_id.is_some(),
        machine_id,
        arch,
        runtime_collected: false,
        kernel: None,
        boot_time: None,
        memory_total_bytes: None,
        cpu_count: None,
        cpu_model: None,
        disks: Vec::new(),
        disk_usage_max_percent: None,
    }
}

fn disk_usage(root: &HostRoot, mounts: &[Mount]) -> Vec<Disk> {
    mounts
        .iter()
        .filter_map(|m| {
            let st = rustix::fs::statvfs(root.display_path(&m.mount_point)).ok()?;
            Some(usage(m, st.f_frsize, st.f_blocks, st.f_bfree, st.f_bavail))
        })
        .collect()
}

fn add_runtime(root: &HostRoot, facts: &mut HostFacts) {
    facts.runtime_collected = true;
    if let Some(h) = read(root, "/proc/sys/kernel/hostname")
        .as_deref()
        .and_then(parse_hostname)
    {
        facts.hostname = h;
    }
    facts.kernel = read(root, "/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    facts.boot_time = read(root, "/proc/stat")
        .as_deref()
        .and_then(parse_boot_time);
    let mem = read(root, "/proc/meminfo")
        .as_deref()
        .map(parse_meminfo)
        .unwrap_or_default();
    facts.memory_total_bytes = mem.total;
    if let Some(cpu) = read(root, "/proc/cpuinfo").as_deref().map(parse_cpuinfo) {
        facts.cpu_count = Some(cpu.count);
        facts.cpu_model = cpu.model;
    }
    let mounts = read(root, &format!("{}/mounts", root.proc_self()))
        .as_deref()
        .map(parse_mounts)
        .unwrap_or_default();
    facts.disks = disk_usage(root, &mounts);
    facts.disk_usage_max_percent = Some(
        facts
            .disks
            .iter()
            .map(|d| d.used_percent)
            .max()
            .unwrap_or(0),
    );
}

/// Collect under `root`. Always `Ok`: host identity is needed even for a bare root.
pub fn collect(root: &HostRoot) -> Outcome {
    let mut facts = static_facts(root);
    if root.is_live() {
        add_runtime(root, &mut facts);
    }
    Outcome::from_facts(&facts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const DEBIAN: &str = include_str!("../../tests/fixtures/host/os-release.debian12");
    const UBUNTU: &str = include_str!("../../tests/fixtures/host/os-release.ubuntu2204");
    const RHEL: &str = include_str!("../../tests/fixtures/host/os-release.rhel9");
    const ROCKY: &str = include_str!("../../tests/fixtures/host/os-release.rocky8");

    #[test]
    fn os_release_of_common_distributions() {
        let d = parse_os_release(DEBIAN);
        assert_eq!(d.id, "debian");
        assert_eq!(d.version_id, "12");
        assert_eq!(d.codename, "bookworm");
        assert_eq!(d.pretty_name, "Debian GNU/Linux 12 (bookworm)");
        let u = parse_os_release(UBUNTU);
        assert_eq!((u.id.as_str(), u.version_id.as_str()), ("ubuntu", "22.04"));
        assert_eq!(u.id_like, vec!["debian"]);
        assert_eq!(parse_version(&u.version_id), (22, 4));
        let r = parse_os_release(RHEL);
        assert_eq!(r.id, "rhel");
        assert_eq!(r.id_like, vec!["fedora"]);
        assert_eq!(parse_version(&r.version_id), (9, 3));
        let k = parse_os_release(ROCKY);
        assert_eq!(k.id, "rocky");
        assert_eq!(k.id_like, vec!["rhel", "centos", "fedora"]);
        assert_eq!(k.pretty_name, "Rocky Linux 8.9 (Green Obsidian)");
    }

    #[test]
    fn os_release_quirks() {
        let t = "# comment\r\nID='alpine' \r\nVERSION_ID=3.19.1 # trailing\nNAME=\"A \\\"quoted\\\" name\"\ngarbage line\nPRETTY_NAME=\"x\" \n";
        let o = parse_os_release(t);
        assert_eq!(o.id, "alpine");
        assert_eq!(o.version_id, "3.19.1");
        assert_eq!(o.pretty_name, "x");
        assert_eq!(parse_version("rolling"), (0, 0));
        assert_eq!(parse_version(""), (0, 0));
        assert_eq!(parse_version("8"), (8, 0));
    }

    #[test]
    fn hostname_and_machine_id() {
        assert_eq!(
            parse_hostname("# x\n\n  web-1 \n").as_deref(),
            Some("web-1")
        );
        assert_eq!(parse_hostname("\n"), None);
        assert_eq!(
            parse_machine_id("0123456789ABCDEF0123456789abcdef\n").as_deref(),
            Some("0123456789abcdef0123456789abcdef")
        );
        assert_eq!(parse_machine_id("uninitialized\n"), None);
        assert_eq!(parse_machine_id(""), None);
    }

    #[test]
    fn elf_headers() {
        let mut h = vec![0u8; 20];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 2;
        h[5] = 1;
        h[18] = 0x3E;
        assert_eq!(parse_elf_arch(&h), Some("x86_64"));
        h[18] = 0xB7;
        assert_eq!(parse_elf_arch(&h), Some("aarch64"));
        assert_eq!(parse_elf_arch(b"#!/bin/sh"), None);
        assert_eq!(parse_elf_arch(b"\x7fELF"), None);
    }

    #[test]
    fn proc_files() {
        let m = parse_meminfo(include_str!("../../tests/fixtures/host/meminfo"));
        assert_eq!(m.total, Some(4_013_244 * 1024));
        assert_eq!(m.available, Some(3_312_748 * 1024));
        let c = parse_cpuinfo(include_str!("../../tests/fixtures/host/cpuinfo"));
        assert_eq!(c.count, 2);
        assert_eq!(
            c.model.as_deref(),
            Some("Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz")
        );
        assert_eq!(
            parse_boot_time("cpu  1 2 3\nintr 5\nctxt 9\nbtime 1763900000\nprocesses 4\n"),
            Some(1_763_900_000)
        );
        assert_eq!(parse_boot_time(""), None);
    }

    #[test]
    fn mounts_keep_real_filesystems_once() {
        let m = parse_mounts(include_str!("../../tests/fixtures/host/mounts"));
        let points: Vec<&str> = m.iter().map(|m| m.mount_point.as_str()).collect();
        assert_eq!(points, vec!["/", "/boot", "/boot/efi", "/srv/my data"]);
        assert_eq!(m[0].device, "/dev/mapper/debian--vg-root");
    }

    #[test]
    fn usage_matches_df() {
        let m = Mount {
            device: "/dev/sda1".into(),
            mount_point: "/".into(),
            fs_type: "ext4".into(),
        };
        // df: 1K-blocks 20466256, used 3218768, avail 16183060 → 17%
        let d = usage(&m, 4096, 5_116_564, 5_116_564 - 804_692, 4_045_765);
        assert_eq!(d.used_percent, 17);
        assert_eq!(d.size_bytes, 5_116_564 * 4096);
        assert_eq!(usage(&m, 4096, 0, 0, 0).used_percent, 0);
    }

    #[test]
    fn offline_root_reports_static_facts_only() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        fs::create_dir_all(r.join("usr/lib")).unwrap();
        fs::create_dir_all(r.join("etc")).unwrap();
        fs::write(r.join("usr/lib/os-release"), DEBIAN).unwrap();
        std::os::unix::fs::symlink("../usr/lib/os-release", r.join("etc/os-release")).unwrap();
        fs::write(r.join("etc/hostname"), "db-2\n").unwrap();
        fs::write(
            r.join("etc/machine-id"),
            "b08dfa6083e7567a1921a715000001fb\n",
        )
        .unwrap();
        let Outcome::Ok(v) = collect(&HostRoot::offline(r)) else {
            panic!("not ok")
        };
        assert_eq!(v["hostname"], "db-2");
        assert_eq!(v["os_id"], "debian");
        assert_eq!(v["os_version_major"], 12);
        assert_eq!(v["machine_id_present"], true);
        assert_eq!(v["arch"], "unknown");
        assert_eq!(v["runtime_collected"], false);
        assert!(v["kernel"].is_null());
        assert!(v["disk_usage_max_percent"].is_null());
        for f in SCHEMA.fields.iter().filter(|f| !f.path.contains('.')) {
            assert!(v.get(f.path).is_some(), "missing {}", f.path);
        }
        let evidence = evident_core::evidence::HostFacts::from_host_probe(&v);
        assert_eq!(evidence.os_version, "12");
    }

    #[test]
    fn empty_root_is_still_ok() {
        let dir = tempfile::tempdir().unwrap();
        let Outcome::Ok(v) = collect(&HostRoot::offline(dir.path())) else {
            panic!("not ok")
        };
        assert_eq!(v["hostname"], "unknown");
        assert_eq!(v["os_release_present"], false);
        assert!(v["machine_id"].is_null());
    }

    #[test]
    fn fuzz_never_panics() {
        for s in [DEBIAN, "\\", "\\04", "a \\0 b c", "ID=\"", "\x7fELF", ""] {
            fuzz_parse(s);
        }
    }
}
