//! Which jobs are backups: known backup tools, copies to a backup path,
//! backup agents; and the assembly of the facts with their backup list.

use super::facts::{BackupJob, CronJob, PeriodicScript, ScheduledJobsFacts, Timer};
use crate::probes::common::systemd;

/// Programs that are backup tools whatever their arguments.
const BACKUP_TOOLS: &[&str] = &[
    "restic",
    "borg",
    "borgmatic",
    "duplicity",
    "duply",
    "rsnapshot",
    "bacula",
    "bconsole",
    "bareos",
    "amdump",
    "amanda",
    "veeam",
    "veeamconfig",
    "rclone",
    "duplicati",
    "duplicati-cli",
    "pg_dump",
    "pg_dumpall",
    "pg_basebackup",
    "pgbackrest",
    "barman",
    "wal-g",
    "wal-e",
    "mysqldump",
    "mariadb-dump",
    "mariabackup",
    "xtrabackup",
    "mydumper",
    "mongodump",
    "btrbk",
    "kopia",
    "tarsnap",
    "bup",
    "burp",
    "syncoid",
    "urbackupclientctl",
    "automysqlbackup",
    "autopostgresqlbackup",
    "backupninja",
    "backup-manager",
    "zfs-autobackup",
    "dsmc",
];

/// Copy tools that count when the command mentions "backup".
const COPY_TOOLS: &[&str] = &["tar", "rsync", "cp", "scp", "zfs", "btrfs", "dd", "cpio"];

/// Enabled units that are backup agents (base names).
pub(super) const BACKUP_AGENTS: &[&str] = &[
    "bacula-fd",
    "bareos-fd",
    "veeamservice",
    "urbackupclientbackend",
    "dsmcad",
    "networker",
    "acronis_mms",
    "amanda",
];

/// Names that contain "backup" but are not backups of the host's data.
pub(super) const NOT_BACKUPS: &[&str] = &["dpkg-db-backup"];

/// The backup tool a command (or a script/unit name) runs, if any.
pub fn backup_tool(command: &str) -> Option<String> {
    let lower = command.to_ascii_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| c.is_whitespace() || ";|&()`'\"$<>{}=".contains(c))
        .filter(|w| !w.is_empty())
        .map(|w| w.rsplit('/').next().unwrap_or(w))
        .collect();
    for w in &words {
        let stem = w.strip_suffix(".sh").unwrap_or(w);
        if BACKUP_TOOLS.contains(&stem) {
            return Some(stem.to_string());
        }
        if stem == "etcdctl" && words.contains(&"snapshot") {
            return Some("etcdctl".into());
        }
    }
    let mentions_backup =
        lower.contains("backup") && !NOT_BACKUPS.iter().any(|n| lower.contains(n));
    if mentions_backup {
        if let Some(tool) = words.iter().find(|w| COPY_TOOLS.contains(w)) {
            return Some((*tool).to_string());
        }
        // A program or script whose own name says backup (`/usr/local/bin/db-backup.sh`).
        let first = words.first().copied().unwrap_or("");
        let program = if [
            "sh",
            "bash",
            "/bin/sh",
            "nice",
            "ionice",
            "flock",
            "run-parts",
        ]
        .contains(&first)
        {
            words.iter().find(|w| w.contains("backup")).copied()
        } else {
            Some(first)
        };
        if program.is_some_and(|p| p.contains("backup")) {
            return Some("script".into());
        }
    }
    None
}

/// Assemble the facts and the backup list (pure).
pub fn build_facts(
    jobs: Vec<CronJob>,
    user_crontabs: Vec<String>,
    periodic_scripts: Vec<PeriodicScript>,
    timers: Vec<Timer>,
    agents: Vec<String>,
) -> ScheduledJobsFacts {
    let mut backup_jobs = Vec::new();
    for j in &jobs {
        if j.backup {
            backup_jobs.push(BackupJob {
                kind: "cron".into(),
                name: j.source.clone(),
                tool: backup_tool(&j.command).unwrap_or_else(|| "unknown".into()),
            });
        }
    }
    for p in &periodic_scripts {
        if let Some(tool) = backup_tool(&p.name) {
            backup_jobs.push(BackupJob {
                kind: "periodic".into(),
                name: format!("/etc/cron.{}/{}", p.period, p.name),
                tool,
            });
        }
    }
    for t in &timers {
        if t.backup {
            let tool = backup_tool(&t.command)
                .or_else(|| backup_tool(&t.name))
                .or_else(|| backup_tool(&t.unit));
            backup_jobs.push(BackupJob {
                kind: "timer".into(),
                name: t.name.clone(),
                tool: tool.unwrap_or_else(|| "unknown".into()),
            });
        }
    }
    for a in agents {
        backup_jobs.push(BackupJob {
            kind: "agent".into(),
            tool: systemd::unit_base(&a).to_string(),
            name: a,
        });
    }
    ScheduledJobsFacts {
        cron_present: false,
        job_count: jobs.len(),
        jobs,
        user_crontabs,
        periodic_scripts,
        timer_count: timers.len(),
        timers,
        backup_configured: !backup_jobs.is_empty(),
        backup_jobs,
        unreadable: Vec::new(),
    }
}
