//! Schema of the `packages` probe (data for the agent's `probes/packages`).

use super::super::{FieldSchema, FieldType::*, ProbeSchema};

/// The `packages` probe.
pub static SCHEMA: ProbeSchema = ProbeSchema {
    id: "packages",
    version: 2,
    description: "Installed packages (dpkg/rpm), pending and security updates, last update, reboot required, unattended upgrades",
    controls: &["A.8.8", "A.8.19"],
    fields: &[
        FieldSchema::new("manager", Str, "Package manager whose database was found: `dpkg` or `rpm` (no database: the probe is unsupported)"),
        FieldSchema::new("inventory_collected", Bool, "Whether the installed inventory was read (dpkg status, or rpmdb.sqlite; false for a Berkeley DB rpm database)"),
        FieldSchema::new("inventory_note", Str, "Why the inventory was not collected (empty when it was)"),
        FieldSchema::new("installed_count", Int, "Number of distinct installed package names"),
        FieldSchema::new("installed_names", List(&Str), "Installed package names, sorted, without architecture (`\"telnetd\" in packages.installed_names`)"),
        FieldSchema::new("partially_installed", List(&Str), "Packages left half-installed, unpacked or half-configured"),
        FieldSchema::new("updates_collected", Bool, "Whether pending updates could be computed (uncompressed apt lists present)"),
        FieldSchema::new("updates_note", Str, "Why pending updates were not computed (empty when they were)"),
        FieldSchema::new("package_list_count", Int, "Number of apt `*_Packages` lists read"),
        FieldSchema::new("apt_sources", List(&Str), "Configured apt binary sources (`uri suite`) from sources.list, sources.list.d/*.list and deb822 *.sources (disabled stanzas left out); empty on rpm systems"),
        FieldSchema::new("security_source_configured", Nullable(&Bool), "Some configured apt source is a security source (`*-security` suite or security archive); without one security updates never arrive. null on rpm systems"),
        FieldSchema::new("unreferenced_lists", List(&Str), "Downloaded apt Packages lists that no configured source references (stale after a source was removed); not counted for updates"),
        FieldSchema::new("pending_updates", Int, "Installed packages for which a newer version is available"),
        FieldSchema::new("pending_update_names", List(&Str), "Their names, sorted"),
        FieldSchema::new("pending_security_updates", Int, "Installed packages for which a newer version is available from a security list"),
        FieldSchema::new("pending_security_update_names", List(&Str), "Their names, sorted"),
        FieldSchema::new("last_update", Nullable(&Str), "RFC 3339 time packages were last upgraded (null when unknown); its age is computed by policies against the collection day (`collected_day`), so the output stays the same from day to day"),
        FieldSchema::new("last_update_source", Str, "Where last_update comes from: `apt-history`, `apt-upgrade-stamp`, `dpkg-log`, `dnf-rpm-log`, `rpmdb` (newest package install time) or empty"),
        FieldSchema::new("lists_refreshed", Nullable(&Str), "RFC 3339 time the package lists were last refreshed (`apt update`; null when unknown)"),
        FieldSchema::new("reboot_required_collected", Bool, "Whether the reboot-required flag could be read (live dpkg hosts, or a flag file found in an image)"),
        FieldSchema::new("reboot_required", Bool, "/run/reboot-required exists (false when not collected)"),
        FieldSchema::new("reboot_required_packages", List(&Str), "Packages listed in /run/reboot-required.pkgs"),
        FieldSchema::new("auto_updates_tool", Str, "`unattended-upgrades`, `dnf-automatic` or empty when none is installed"),
        FieldSchema::new("auto_updates_installed", Bool, "Whether that tool is installed"),
        FieldSchema::new("unattended_upgrades_enabled", Bool, "Automatic installation of updates is on: unattended-upgrades with APT::Periodic::Unattended-Upgrade > 0, or dnf-automatic with apply_updates and its timer enabled"),
    ],
};
