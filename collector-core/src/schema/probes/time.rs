//! Schema of the `time` probe (data for the agent's `probes/time`).

use super::super::{FieldSchema, FieldType::*, ProbeSchema};

/// The `time` probe.
pub static SCHEMA: ProbeSchema = ProbeSchema {
    id: "time",
    version: 1,
    description: "chrony / systemd-timesyncd / ntpd configuration, enablement, time sources, sync status and time zone",
    controls: &["A.8.17"],
    fields: &[
        FieldSchema::new("active_daemon", Str, "chrony | timesyncd | ntpd | none: the enabled daemon (chrony, then ntpd, then timesyncd), else the first one installed"),
        FieldSchema::new("daemon_enabled", Bool, "the active daemon is enabled at boot (unit link in /etc/systemd/system/*.wants/, not masked)"),
        FieldSchema::new("servers", List(&Str), "time sources of the active daemon (server, pool and peer hosts; NTP= then FallbackNTP= for timesyncd)"),
        FieldSchema::new("uses_builtin_servers", Bool, "the active daemon is timesyncd with no NTP=/FallbackNTP=, so it uses its compiled-in server list"),
        FieldSchema::new("synchronized", Nullable(&Bool), "the clock is synchronised (timesyncd on a live system only); null when unknown"),
        FieldSchema::new("sync_status_collected", Bool, "whether `synchronized` was observed (false under --root, and for chrony/ntpd)"),
        FieldSchema::new("timezone", Str, "time zone from /etc/timezone or the /etc/localtime link (\"UTC\" when /etc/localtime is absent, \"\" when it is a copied file)"),
        FieldSchema::new("chrony", Object, "chrony configuration"),
        FieldSchema::new("chrony.installed", Bool, "a chrony configuration file exists"),
        FieldSchema::new("chrony.enabled", Bool, "chrony.service or chronyd.service is enabled"),
        FieldSchema::new("chrony.config_file", Str, "main configuration file read, \"\" when none"),
        FieldSchema::new("chrony.servers", List(&Str), "`server` hosts"),
        FieldSchema::new("chrony.pools", List(&Str), "`pool` hosts"),
        FieldSchema::new("chrony.peers", List(&Str), "`peer` hosts"),
        FieldSchema::new("chrony.makestep", Bool, "a `makestep` directive is present"),
        FieldSchema::new("chrony.rtcsync", Bool, "an `rtcsync` directive is present"),
        FieldSchema::new("timesyncd", Object, "systemd-timesyncd configuration"),
        FieldSchema::new("timesyncd.installed", Bool, "timesyncd.conf or the systemd-timesyncd binary exists"),
        FieldSchema::new("timesyncd.enabled", Bool, "systemd-timesyncd.service is enabled"),
        FieldSchema::new("timesyncd.ntp", List(&Str), "NTP= servers (last assignment wins, empty assignment resets)"),
        FieldSchema::new("timesyncd.fallback_ntp", List(&Str), "FallbackNTP= servers"),
        FieldSchema::new("ntpd", Object, "ntpd / ntpsec configuration"),
        FieldSchema::new("ntpd.installed", Bool, "/etc/ntp.conf or /etc/ntpsec/ntp.conf exists"),
        FieldSchema::new("ntpd.enabled", Bool, "ntp.service, ntpd.service or ntpsec.service is enabled"),
        FieldSchema::new("ntpd.config_file", Str, "configuration file read, \"\" when none"),
        FieldSchema::new("ntpd.servers", List(&Str), "`server` and `peer` hosts"),
        FieldSchema::new("ntpd.pools", List(&Str), "`pool` hosts"),
        FieldSchema::new("unreadable", List(&Str), "files that exist but could not be read, with the reason"),
    ],
};
