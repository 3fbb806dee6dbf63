//! Schema of the `file-permissions` probe (data for the agent's `probes/file_permissions`).

use super::super::{FieldSchema, FieldType::*, ProbeSchema};

/// The `file-permissions` probe.
pub static SCHEMA: ProbeSchema = ProbeSchema {
    id: "file-permissions",
    version: 1,
    description: "Mode and owner of sensitive files (passwd, shadow, sshd_config, host keys, sudoers, cron, grub.cfg, /var/log) against CIS-like maxima",
    controls: &["A.8.3", "A.8.9"],
    fields: &[
        FieldSchema::new("files", List(&Object), "One entry per checked path (missing ones included)"),
        FieldSchema::new("files[].path", Str, "Host path"),
        FieldSchema::new("files[].category", Str, "passwd | shadow | sshd_config | ssh_host_key | sudoers | crontab | cron_dir | grub | log_dir"),
        FieldSchema::new("files[].exists", Bool, "The path exists"),
        FieldSchema::new("files[].is_dir", Bool, "It is a directory"),
        FieldSchema::new("files[].mode", Str, "Permission bits in octal, e.g. \"0640\" (\"\" when missing)"),
        FieldSchema::new("files[].uid", Nullable(&Int), "Owner uid (null when missing)"),
        FieldSchema::new("files[].gid", Nullable(&Int), "Group gid (null when missing)"),
        FieldSchema::new("files[].owner", Str, "Owner name from the root's /etc/passwd, else the uid as text (\"\" when missing)"),
        FieldSchema::new("files[].group", Str, "Group name from the root's /etc/group, else the gid as text (\"\" when missing)"),
        FieldSchema::new("files[].world_readable", Bool, "Others may read (o+r)"),
        FieldSchema::new("files[].world_writable", Bool, "Others may write (o+w)"),
        FieldSchema::new("files[].group_writable", Bool, "The group may write (g+w)"),
        FieldSchema::new("files[].other_access", Bool, "Others have any permission (o+r, o+w or o+x)"),
        FieldSchema::new("files[].expected", Str, "Expected maximum, e.g. \"0640 root:root|shadow\"; alternatives joined by \" or \""),
        FieldSchema::new("files[].compliant", Bool, "Mode within the maximum and owner/group allowed (true when missing)"),
        FieldSchema::new("violations", List(&Object), "Existing files that are not compliant"),
        FieldSchema::new("violations[].path", Str, "Host path"),
        FieldSchema::new("violations[].mode", Str, "Actual mode, octal"),
        FieldSchema::new("violations[].owner", Str, "Actual owner:group"),
        FieldSchema::new("violations[].expected", Str, "Expected maximum"),
        FieldSchema::new("world_writable", List(&Str), "Checked paths writable by others"),
        FieldSchema::new("checked_count", Int, "Number of existing checked paths"),
        FieldSchema::new("violation_count", Int, "Number of entries in violations"),
        FieldSchema::new("unreadable", List(&Str), "Paths whose metadata could not be read"),
    ],
};
