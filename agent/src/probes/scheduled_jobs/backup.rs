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

/// Directories a bare program name is looked up in: cron's and systemd's
/// `PATH`, widened to the local and system directories.
pub const PATH_DIRS: &[&str] = &[
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// Words of `command` that may name the program running the backup `tool`
/// (`script`: a program whose name contains "backup"), in order. Variable
/// assignments and `--opt=value` words are skipped.
pub fn program_candidates<'a>(command: &'a str, tool: &str) -> Vec<&'a str> {
    command
        .split(|c: char| c.is_whitespace() || ";|&()`'\"<>{}".contains(c))
        .filter(|w| !w.is_empty() && !w.contains('=') && !w.starts_with('-'))
        .filter(|w| {
            let base = w.rsplit('/').next().unwrap_or(w).to_ascii_lowercase();
            let stem = base.strip_suffix(".sh").unwrap_or(&base);
            if tool == "script" {
                stem.contains("backup")
            } else {
                stem == tool
            }
        })
        .collect()
}

/// The program a command runs: its first word that is not an assignment or
/// an option (`""` for an empty command).
pub fn first_program(command: &str) -> &str {
    command
        .split_whitespace()
        .find(|w| !w.contains('='))
        .unwrap_or("")
}

/// Where a program word is on the root: an absolute path as written, a bare
/// name in [`PATH_DIRS`]; `None` when not found (a relative path or a
/// `$VARIABLE` cannot be resolved offline).
pub fn resolve_program(word: &str, is_file: &dyn Fn(&str) -> bool) -> Option<String> {
    if word.starts_with('/') {
        return is_file(word).then(|| word.to_string());
    }
    if word.is_empty() || word.contains('/') || word.contains('$') {
        return None;
    }
    PATH_DIRS
        .iter()
        .map(|d| format!("{d}/{word}"))
        .find(|p| is_file(p))
}

/// The first candidate that exists on the root, else the first candidate as
/// written (not found).
fn locate(candidates: &[&str], is_file: &dyn Fn(&str) -> bool) -> (String, bool) {
    for c in candidates {
        if let Some(found) = resolve_program(c, is_file) {
            return (found, true);
        }
    }
    (
        candidates
            .first()
            .map(|c| c.to_string())
            .unwrap_or_default(),
        false,
    )
}

/// Assemble the facts and the backup list (pure apart from `is_file`, which
/// says whether a host path is a file on the root). `agents` are enabled
/// backup-agent units with their `ExecStart=` command. A backup counts
/// (`backup_configured`) only when the program it runs exists on the root:
/// a line that merely names a backup tool is not evidence.
pub fn build_facts(
    jobs: Vec<CronJob>,
    user_crontabs: Vec<String>,
    periodic_scripts: Vec<PeriodicScript>,
    timers: Vec<Timer>,
    agents: Vec<(String, String)>,
    is_file: &dyn Fn(&str) -> bool,
) -> ScheduledJobsFacts {
    let mut backup_jobs = Vec::new();
    for j in &jobs {
        if j.backup {
            let tool = backup_tool(&j.command).unwrap_or_else(|| "unknown".into());
            let (executable, executable_found) =
                locate(&program_candidates(&j.command, &tool), is_file);
            backup_jobs.push(BackupJob {
                kind: "cron".into(),
                name: j.source.clone(),
                tool,
                executable,
                executable_found,
            });
        }
    }
    for p in &periodic_scripts {
        if let Some(tool) = backup_tool(&p.name) {
            let path = format!("/etc/cron.{}/{}", p.period, p.name);
            backup_jobs.push(BackupJob {
                kind: "periodic".into(),
                executable_found: is_file(&path),
                executable: path.clone(),
                name: path,
                tool,
            });
        }
    }
    for t in &timers {
        if t.backup {
            let from_command = backup_tool(&t.command);
            let tool = from_command
                .clone()
                .or_else(|| backup_tool(&t.name))
                .or_else(|| backup_tool(&t.unit));
            // The tool named in the command, else (the timer's name says
            // backup) the program its unit runs.
            let candidates = match &from_command {
                Some(tool) => program_candidates(&t.command, tool),
                None => vec![first_program(&t.command)],
            };
            let (executable, executable_found) = locate(&candidates, is_file);
            backup_jobs.push(BackupJob {
                kind: "timer".into(),
                name: t.name.clone(),
                tool: tool.unwrap_or_else(|| "unknown".into()),
                executable,
                executable_found,
            });
        }
    }
    for (unit, command) in agents {
        let (executable, executable_found) = locate(&[first_program(&command)], is_file);
        backup_jobs.push(BackupJob {
            kind: "agent".into(),
            tool: systemd::unit_base(&unit).to_string(),
            name: unit,
            executable,
            executable_found,
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
        backup_configured: backup_jobs.iter().any(|b| b.executable_found),
        backup_jobs,
        unreadable: Vec::new(),
        permission_denied: Vec::new(),
    }
}
