//! Schema of the `mac` probe (data for the agent's `probes/mac`).

use super::super::{FieldSchema, FieldType::*, ProbeSchema};

/// The `mac` probe.
pub static SCHEMA: ProbeSchema = ProbeSchema {
    id: "mac",
    version: 1,
    description: "AppArmor / SELinux mode",
    controls: &["A.8.9"],
    fields: &[
        FieldSchema::new("mechanism", Str, "Active mechanism: `selinux`, `apparmor` or `none`"),
        FieldSchema::new("mode", Str, "`enforce` (SELinux enforcing, or at least one AppArmor profile enforced), `complain` (AppArmor profiles only in complain mode), `permissive` (SELinux), `disabled` (nothing confined), `unknown`"),
        FieldSchema::new("enforcing", Bool, "Whether `mode` is `enforce`"),
        FieldSchema::new("runtime_collected", Bool, "Whether the running state (/sys) was read; false under a foreign root"),
        FieldSchema::new("selinux_config_present", Bool, "Whether /etc/selinux/config exists"),
        FieldSchema::new("selinux_config_mode", Str, "SELINUX= from /etc/selinux/config (`enforcing`, `permissive`, `disabled`); empty when absent"),
        FieldSchema::new("selinux_type", Str, "SELINUXTYPE= (`targeted`, `mls`); empty when absent"),
        FieldSchema::new("selinux_enabled", Nullable(&Bool), "Whether SELinux is running (selinuxfs has `enforce`); null unless live"),
        FieldSchema::new("selinux_enforce", Nullable(&Bool), "Whether the running SELinux enforces (/sys/fs/selinux/enforce = 1); null unless live and running"),
        FieldSchema::new("apparmor_enabled", Nullable(&Bool), "Whether the AppArmor LSM is enabled (/sys/module/apparmor/parameters/enabled = Y); null unless live"),
        FieldSchema::new("apparmor_profiles_loaded", Nullable(&Int), "Loaded AppArmor profiles; null unless live and readable"),
        FieldSchema::new("apparmor_profiles_enforce", Nullable(&Int), "Loaded profiles in enforce mode; null unless live and readable"),
        FieldSchema::new("apparmor_profiles_complain", Nullable(&Int), "Loaded profiles in complain mode; null unless live and readable"),
        FieldSchema::new("apparmor_config_present", Bool, "Whether /etc/apparmor.d exists"),
        FieldSchema::new("apparmor_config_profiles", Int, "Profile files at the top of /etc/apparmor.d"),
        FieldSchema::new("apparmor_config_complain", Int, "Of those, profiles set to complain mode (flags or force-complain/)"),
        FieldSchema::new("apparmor_config_disabled", Int, "Of those, profiles disabled (disable/)"),
    ],
};
