//! Schema of the `services` probe (data for the agent's `probes/services`).

use super::super::{FieldSchema, FieldType::*, ProbeSchema};

/// The `services` probe.
pub static SCHEMA: ProbeSchema = ProbeSchema {
    id: "services",
    version: 1,
    description: "Enabled, masked and running systemd units, SysV and inetd/xinetd services; insecure legacy services",
    controls: &["A.8.9", "A.8.21"],
    fields: &[
        FieldSchema::new("systemd_present", Bool, "A systemd unit directory exists under the root"),
        FieldSchema::new("unit_files", List(&Str), "Unit files present in /etc/systemd/system, /usr/lib/systemd/system, /lib/systemd/system (names, sorted, de-duplicated)"),
        FieldSchema::new("enabled", List(&Str), "Units linked from a *.wants/ or *.requires/ directory (enabled by the admin in /etc or statically by the vendor), minus masked units"),
        FieldSchema::new("masked", List(&Str), "Units masked in /etc/systemd/system (symlink to /dev/null)"),
        FieldSchema::new("sysv_enabled", List(&Str), "SysV services with a start link in /etc/rc2.d (Debian) or /etc/rc.d/rc3.d (RHEL) and no native systemd unit of the same name (systemd ignores those scripts)"),
        FieldSchema::new("sysv_scripts", List(&Str), "Scripts in /etc/init.d (helpers like README, skeleton, functions left out)"),
        FieldSchema::new("inetd_enabled", Bool, "An inetd (openbsd-inetd, inetutils-inetd) unit or SysV start link is enabled"),
        FieldSchema::new("xinetd_enabled", Bool, "The xinetd unit or SysV start link is enabled"),
        FieldSchema::new("inetd_services", List(&Object), "Services offered by an enabled inetd or xinetd"),
        FieldSchema::new("inetd_services[].name", Str, "Service name (inetd.conf first field without host prefix, or xinetd `service` name)"),
        FieldSchema::new("inetd_services[].daemon", Str, "`inetd` or `xinetd`"),
        FieldSchema::new("inetd_services[].insecure", Bool, "A cleartext or legacy service (telnet, login, shell, exec, ftp, tftp, talk, finger, chargen, echo, daytime, discard, time)"),
        FieldSchema::new("insecure_services_enabled", List(&Str), "Enabled systemd units and SysV services that are cleartext legacy services (telnet, rsh, rlogin, rexec, tftp, vsftpd, proftpd, pure-ftpd, NIS, talk, rwho); inetd services are in inetd_services"),
        FieldSchema::new("unneeded_services_enabled", List(&Str), "Enabled units/SysV services rarely needed on a server (avahi-daemon, cups, cups-browsed, inetd, xinetd, rpcbind, rsync daemon, snmpd)"),
        FieldSchema::new("enabled_count", Int, "Number of entries in enabled"),
        FieldSchema::new("masked_count", Int, "Number of entries in masked"),
        FieldSchema::new("unit_file_count", Int, "Number of entries in unit_files"),
        FieldSchema::new("runtime_collected", Bool, "Whether the running state was read (live root with /run/systemd/units)"),
        FieldSchema::new("active", Nullable(&List(&Str)), "Active units (from /run/systemd/units/invocation:*); null when not collected"),
        FieldSchema::new("unreadable", List(&Str), "Paths that exist but could not be read (the lists may be incomplete)"),
    ],
};
