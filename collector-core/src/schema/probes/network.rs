//! Schema of the `network` probe (data for the agent's `probes/network`).

use super::super::{FieldSchema, FieldType::*, ProbeSchema};

/// The `network` probe.
pub static SCHEMA: ProbeSchema = ProbeSchema {
    id: "network",
    version: 2,
    description: "listening sockets (from /proc/net), IP forwarding and network-security sysctls",
    controls: &["A.8.20", "A.8.21"],
    fields: &[
        FieldSchema::new("sockets_collected", Bool, "listening sockets were read (live system only)"),
        FieldSchema::new("listening", List(&Object), "listening TCP sockets and bound UDP sockets, deduplicated, sorted; empty when not collected"),
        FieldSchema::new("listening[].protocol", Str, "tcp | tcp6 | udp | udp6 (the /proc/net file it came from)"),
        FieldSchema::new("listening[].address", Str, "local address (0.0.0.0, ::, 127.0.0.1, ::ffff:127.0.0.1, …)"),
        FieldSchema::new("listening[].port", Int, "local port"),
        FieldSchema::new("listening[].scope", Str, "all (wildcard address) | loopback | specific"),
        FieldSchema::new("listening_on_all_interfaces", List(&Str), "`tcp/22`-style entries for sockets bound to a wildcard address, sorted"),
        FieldSchema::new("sysctl_files", List(&Str), "sysctl configuration files read, in the order applied"),
        FieldSchema::new("sysctl_configured", Map(&Str), "net.* keys set in sysctl files (last assignment wins; globs expanded to the tracked keys)"),
        FieldSchema::new("sysctl_runtime_collected", Bool, "current values were read from /proc/sys (live system only)"),
        FieldSchema::new("sysctl_runtime", Map(&Str), "current values of the tracked keys; empty when not collected"),
        FieldSchema::new("sysctl_effective", Map(&Int), "every tracked key: the runtime value when live, else the configured value, else the kernel default (the same rule as the kernel probe's `sysctl`)"),
        FieldSchema::new("sysctl_sources", Map(&Str), "every tracked key: where its effective value came from: `live`, `file:<path>`, `kernel-config:/boot/config-<version>` or `kernel-default`"),
        FieldSchema::new("ip_forwarding", Bool, "effective net.ipv4.ip_forward or net.ipv6.conf.all.forwarding is on"),
        FieldSchema::new("ipv6_enabled", Bool, "IPv6 is not disabled (net.ipv6.conf.all.disable_ipv6 = 0, and on a live system /proc/sys/net/ipv6 exists)"),
        FieldSchema::new("unreadable", List(&Str), "files that exist but could not be read, with the reason"),
    ],
};
