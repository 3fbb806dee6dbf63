//! Schema of the `kernel` probe (data for the agent's `probes/kernel`).

use super::super::{FieldSchema, FieldType::*, ProbeSchema};

/// The `kernel` probe.
pub static SCHEMA: ProbeSchema = ProbeSchema {
    id: "kernel",
    version: 2,
    description: "Security sysctls, module blacklist (usb-storage), core dumps",
    controls: &["A.8.9", "A.7.10"],
    fields: &[
        FieldSchema::new("sysctl", Map(&Nullable(&Int)), "Effective value of each tracked sysctl, keyed by name with `.` → `_` (`kernel_randomize_va_space`, `kernel_kptr_restrict`, `kernel_dmesg_restrict`, `kernel_yama_ptrace_scope`, `kernel_unprivileged_bpf_disabled`, `fs_suid_dumpable`, `fs_protected_hardlinks`, `fs_protected_symlinks`, `fs_protected_fifos`, `fs_protected_regular`, `kernel_sysrq`, `kernel_kexec_load_disabled`, `net_core_bpf_jit_harden`): the running value when live, else the configured value, else the default of the root's kernel (/boot/config-*) or the upstream kernel default; `sysctl_sources` says which; null when no source knows it (e.g. Yama not built in)"),
        FieldSchema::new("sysctl_configured", Map(&Nullable(&Int)), "Same keys: the value persisted in sysctl.d / sysctl.conf (last assignment wins); null when not configured"),
        FieldSchema::new("sysctl_live", Nullable(&Map(&Nullable(&Int))), "Same keys: the running value from /proc/sys; the whole map is null unless live"),
        FieldSchema::new("sysctl_sources", Map(&Str), "Same keys: where the effective value came from: `live`, `file:<path>` (the last file assigning it), `kernel-config:/boot/config-<version>`, `kernel-default` (upstream documented default), or `unknown`"),
        FieldSchema::new("sysctl_drift", List(&Str), "Keys whose configured value differs from the running one (live only; empty otherwise)"),
        FieldSchema::new("sysctl_files", List(&Str), "sysctl configuration files read, in the order applied"),
        FieldSchema::new("unreadable_files", List(&Str), "Configuration files that exist but could not be read (path and reason); their settings are missing from the facts"),
        FieldSchema::new("runtime_collected", Bool, "Whether live values (/proc, /sys) were read"),
        FieldSchema::new("blacklisted_modules", List(&Str), "Modules named by a `blacklist` line in modprobe.d (`-` written as `_`), sorted"),
        FieldSchema::new("install_disabled_modules", List(&Str), "Modules whose `install` command is /bin/false, /bin/true or nologin, sorted"),
        FieldSchema::new("usb_storage_disabled", Bool, "Whether usb-storage is blacklisted or install-disabled, so plugging in a USB disk does not load it"),
        FieldSchema::new("usb_storage_loaded", Nullable(&Bool), "Whether the usb_storage module is loaded now (/sys/module/usb_storage); null unless live"),
        FieldSchema::new("cis_filesystems_not_disabled", List(&Str), "Of cramfs, freevxfs, jffs2, hfs, hfsplus, udf (CIS): those neither blacklisted nor install-disabled"),
        FieldSchema::new("core_hard_limit", Nullable(&Str), "Value of the last `* hard core` (or `* - core`) entry in limits.conf / limits.d (`0`, `unlimited`); null when none"),
        FieldSchema::new("coredump_storage", Nullable(&Str), "systemd-coredump `Storage=` (`none`, `external`, `journal`); null when not set"),
        FieldSchema::new("coredump_process_size_max", Nullable(&Str), "systemd-coredump `ProcessSizeMax=`; null when not set"),
        FieldSchema::new("core_pattern", Nullable(&Str), "Running kernel.core_pattern (`|/lib/systemd/systemd-coredump %P …`, `core`); null unless live"),
        FieldSchema::new("core_dumps_restricted", Bool, "Whether core dumps are kept from disk: `* hard core 0`, or systemd-coredump with Storage=none and ProcessSizeMax=0, or a core_pattern piping to /bin/false"),
    ],
};
