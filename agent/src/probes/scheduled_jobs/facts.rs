//! The facts the `scheduled-jobs` probe reports: cron jobs, periodic
//! scripts, timers and the backups among them.

use serde::Serialize;

/// One cron or anacron job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CronJob {
    /// Defining file.
    pub source: String,
    /// User.
    pub user: String,
    /// Schedule.
    pub schedule: String,
    /// Redacted, truncated command.
    pub command: String,
    /// Runs a backup tool.
    pub backup: bool,
}

/// A script in a cron.<period> directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeriodicScript {
    /// hourly | daily | weekly | monthly.
    pub period: String,
    /// Script name.
    pub name: String,
    /// Looks like a backup.
    pub backup: bool,
}

/// An enabled systemd timer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Timer {
    /// Timer unit.
    pub name: String,
    /// OnCalendar= values.
    pub on_calendar: Vec<String>,
    /// All trigger settings.
    pub schedule: String,
    /// Triggered unit.
    pub unit: String,
    /// First ExecStart= of the triggered unit, redacted.
    pub command: String,
    /// Looks like a backup.
    pub backup: bool,
}

/// A backup found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupJob {
    /// cron | periodic | timer | agent.
    pub kind: String,
    /// Where.
    pub name: String,
    /// Which tool.
    pub tool: String,
    /// The program it runs: its host path when found on the root, else as written.
    pub executable: String,
    /// That program exists on the root.
    pub executable_found: bool,
}

/// What the probe reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ScheduledJobsFacts {
    /// Cron files exist.
    pub cron_present: bool,
    /// Jobs.
    pub jobs: Vec<CronJob>,
    /// `jobs.len()`.
    pub job_count: usize,
    /// Users with a spool crontab.
    pub user_crontabs: Vec<String>,
    /// Periodic scripts.
    pub periodic_scripts: Vec<PeriodicScript>,
    /// Enabled timers.
    pub timers: Vec<Timer>,
    /// `timers.len()`.
    pub timer_count: usize,
    /// Backups found.
    pub backup_jobs: Vec<BackupJob>,
    /// Some backup job's program exists on the root.
    pub backup_configured: bool,
    /// Unreadable paths.
    pub unreadable: Vec<String>,
    /// Paths refused for lack of permission (an unprivileged scan).
    pub permission_denied: Vec<String>,
}
