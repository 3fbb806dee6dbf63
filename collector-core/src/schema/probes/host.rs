//! Schema of the `host` probe (data for the agent's `probes/host`).

use super::super::{FieldSchema, FieldType::*, ProbeSchema};

/// The `host` probe.
pub static SCHEMA: ProbeSchema = ProbeSchema {
    id: "host",
    version: 1,
    description: "Operating system, version, kernel, machine id, boot time, CPU, memory, disks and usage",
    controls: &["A.5.9", "A.8.6", "A.8.9"],
    fields: &[
        FieldSchema::new("hostname", Str, "Running hostname when live, else /etc/hostname; `unknown` when neither is known"),
        FieldSchema::new("os_family", Str, "Always `linux`"),
        FieldSchema::new("os_id", Str, "os-release ID (`debian`, `ubuntu`, `rhel`, `rocky`…); empty when unknown"),
        FieldSchema::new("os_id_like", List(&Str), "os-release ID_LIKE, split on spaces (`[\"rhel\", \"centos\", \"fedora\"]`)"),
        FieldSchema::new("os_version", Str, "os-release VERSION_ID (`12`, `22.04`, `9.3`); empty when absent (e.g. Debian testing)"),
        FieldSchema::new("os_version_major", Int, "Leading number of VERSION_ID (`22.04` → 22); 0 when unknown"),
        FieldSchema::new("os_version_minor", Int, "Second number of VERSION_ID (`22.04` → 4); 0 when absent"),
        FieldSchema::new("os_codename", Str, "os-release VERSION_CODENAME (`bookworm`); empty when absent"),
        FieldSchema::new("os_pretty_name", Str, "os-release PRETTY_NAME; empty when absent"),
        FieldSchema::new("os_release_present", Bool, "Whether /etc/os-release or /usr/lib/os-release was found"),
        FieldSchema::new("machine_id", Nullable(&Str), "/etc/machine-id (32 lowercase hex digits); null when absent or not initialised"),
        FieldSchema::new("machine_id_present", Bool, "Whether a valid machine id is set"),
        FieldSchema::new("arch", Str, "CPU architecture (`x86_64`, `aarch64`, …); `unknown` when it cannot be told"),
        FieldSchema::new("runtime_collected", Bool, "Whether the live-only fields below were read (live system only)"),
        FieldSchema::new("kernel", Nullable(&Str), "Running kernel release (`6.1.0-18-amd64`); null unless live"),
        FieldSchema::new("boot_time", Nullable(&Int), "Boot time, seconds since the epoch (`btime` in /proc/stat; stable between runs, unlike uptime); null unless live"),
        FieldSchema::new("memory_total_bytes", Nullable(&Int), "MemTotal from /proc/meminfo; null unless live"),
        FieldSchema::new("cpu_count", Nullable(&Int), "Number of logical CPUs (`processor` lines in /proc/cpuinfo); null unless live"),
        FieldSchema::new("cpu_model", Nullable(&Str), "First `model name` in /proc/cpuinfo; null unless live or when absent (some ARM)"),
        FieldSchema::new("disks", List(&Object), "Real local filesystems (ext2/3/4, xfs, btrfs, vfat, zfs, …), one per device; empty unless live"),
        FieldSchema::new("disks[].mount_point", Str, "Where it is mounted (`/`, `/var`)"),
        FieldSchema::new("disks[].device", Str, "Source device (`/dev/sda1`, `/dev/mapper/vg-root`, `rpool/ROOT`)"),
        FieldSchema::new("disks[].fs_type", Str, "Filesystem type (`ext4`, `xfs`)"),
        FieldSchema::new("disks[].size_bytes", Int, "Total size"),
        FieldSchema::new("disks[].used_percent", Int, "Used percentage as `df` computes it: used / (used + available), rounded up"),
        FieldSchema::new("disk_usage_max_percent", Nullable(&Int), "Highest `used_percent` over `disks` (0 when there are none); null unless live"),
    ],
};
