//! Schema of the `scheduled-jobs` probe (data for the agent's `probes/scheduled_jobs`).

use super::super::{FieldSchema, FieldType::*, ProbeSchema};

/// The `scheduled-jobs` probe.
pub static SCHEMA: ProbeSchema = ProbeSchema {
    id: "scheduled-jobs",
    version: 1,
    description:
        "Cron jobs, anacron, periodic scripts and enabled systemd timers; backup jobs among them",
    controls: &["A.8.13", "A.8.32"],
    fields: &[
        FieldSchema::new(
            "cron_present",
            Bool,
            "/etc/crontab, /etc/cron.d or a cron spool directory exists",
        ),
        FieldSchema::new("jobs", List(&Object), "Cron and anacron jobs"),
        FieldSchema::new("jobs[].source", Str, "File the job is defined in"),
        FieldSchema::new(
            "jobs[].user",
            Str,
            "User it runs as (user field, spool file name, or root for anacron)",
        ),
        FieldSchema::new(
            "jobs[].schedule",
            Str,
            "Five cron fields, a @special, or `anacron <period>`",
        ),
        FieldSchema::new(
            "jobs[].command",
            Str,
            "Command, secrets redacted to ***, cut to 200 characters",
        ),
        FieldSchema::new(
            "jobs[].backup",
            Bool,
            "The command runs a known backup tool",
        ),
        FieldSchema::new("job_count", Int, "Number of entries in jobs"),
        FieldSchema::new(
            "user_crontabs",
            List(&Str),
            "Users with a crontab in the spool",
        ),
        FieldSchema::new(
            "periodic_scripts",
            List(&Object),
            "Scripts in /etc/cron.{hourly,daily,weekly,monthly}",
        ),
        FieldSchema::new(
            "periodic_scripts[].period",
            Str,
            "hourly | daily | weekly | monthly",
        ),
        FieldSchema::new("periodic_scripts[].name", Str, "Script name"),
        FieldSchema::new(
            "periodic_scripts[].backup",
            Bool,
            "The name is a known backup tool or contains `backup`",
        ),
        FieldSchema::new(
            "timers",
            List(&Object),
            "Enabled systemd timers (masked ones left out)",
        ),
        FieldSchema::new("timers[].name", Str, "Timer unit name"),
        FieldSchema::new(
            "timers[].on_calendar",
            List(&Str),
            "OnCalendar= values after drop-ins",
        ),
        FieldSchema::new(
            "timers[].schedule",
            Str,
            "All trigger settings (OnCalendar, OnBootSec, OnUnitActiveSec, …) as `Key=value; …`",
        ),
        FieldSchema::new(
            "timers[].unit",
            Str,
            "Unit it triggers (Unit= or the same-name .service)",
        ),
        FieldSchema::new(
            "timers[].command",
            Str,
            "First ExecStart= of that unit, redacted and cut to 200 characters (\"\" if unknown)",
        ),
        FieldSchema::new(
            "timers[].backup",
            Bool,
            "Timer, unit or command names a known backup tool",
        ),
        FieldSchema::new("timer_count", Int, "Number of entries in timers"),
        FieldSchema::new(
            "backup_jobs",
            List(&Object),
            "Jobs, scripts, timers and enabled agents that perform backups",
        ),
        FieldSchema::new("backup_jobs[].kind", Str, "cron | periodic | timer | agent"),
        FieldSchema::new(
            "backup_jobs[].name",
            Str,
            "Source file, script, timer or unit name",
        ),
        FieldSchema::new(
            "backup_jobs[].tool",
            Str,
            "Backup tool recognised (`script` for a custom *backup* script)",
        ),
        FieldSchema::new(
            "backup_jobs[].executable",
            Str,
            "The program the job runs: its host path when found on the root (an absolute path as written, or a bare name in /usr/local/sbin, /usr/local/bin, /usr/sbin, /usr/bin, /sbin, /bin), else as written",
        ),
        FieldSchema::new(
            "backup_jobs[].executable_found",
            Bool,
            "That program exists on the root",
        ),
        FieldSchema::new(
            "backup_configured",
            Bool,
            "Some entry of backup_jobs runs a program that exists on the root (a line naming a tool that is not installed does not count)",
        ),
        FieldSchema::new(
            "unreadable",
            List(&Str),
            "Paths that exist but could not be read (e.g. a spool without permission)",
        ),
        FieldSchema::new(
            "permission_denied",
            List(&Str),
            "Paths refused for lack of permission (an unprivileged scan: Debian's /var/spool/cron/crontabs is 1730 root:crontab); the jobs they hold are unknown",
        ),
    ],
};
