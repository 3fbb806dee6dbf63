//! Probe `scheduled-jobs`: cron jobs, systemd timers and the backup jobs among them.
//!
//! Sources (Debian/Ubuntu and RHEL/Fedora layouts):
//! - `/etc/crontab` and `/etc/cron.d/*`: system format, with a user field;
//! - user crontabs `/var/spool/cron/crontabs/<user>` (Debian) and
//!   `/var/spool/cron/<user>` (RHEL): no user field, the file name is the user;
//! - `/etc/anacrontab` (`period delay job-id command`);
//! - `/etc/cron.{hourly,daily,weekly,monthly}/`: script *names* only (never contents);
//! - systemd timers enabled by a link in a `*.wants/` directory (mostly
//!   `timers.target.wants`), with `OnCalendar=` (and the other trigger settings)
//!   read from the unit file and its drop-ins, and the `ExecStart=` of the unit
//!   they trigger.
//!
//! Cron syntax handled: comments, blank lines, `NAME=value` environment lines
//! (never reported: they often hold secrets such as `RESTIC_PASSWORD`), `@reboot`
//! / `@daily`-style specials, five-field schedules, CRLF. Cron has no line
//! continuations, so none are joined.
//!
//! Commands are reported redacted (`--password=…`, `PGPASSWORD=…`, `-p<secret>`,
//! URL credentials → `***`) and cut to 200 characters. A job is a *backup job*
//! when its command, script or unit names a known backup tool (restic, borg,
//! duplicity, rsnapshot, bacula, pg_dump, mysqldump, …), or copies with tar/rsync
//! to a path mentioning "backup"; enabled backup agents (bacula-fd, bareos-fd,
//! veeamservice, …) count too. Debian's own `dpkg-db-backup` timer does not.
//! A backup job *counts* (`backup_configured`) only when the program it runs
//! exists on the root (an absolute path as written, or a bare name in the
//! usual `PATH` directories): a cron line naming restic on a host without
//! restic is not evidence of a backup.

mod backup;
mod cron;
mod facts;
mod redact;
mod timers;

pub use backup::{
    backup_tool, build_facts, first_program, program_candidates, resolve_program, PATH_DIRS,
};
pub use cron::{parse_anacrontab, parse_crontab, parse_periodic};
pub use facts::{BackupJob, CronJob, PeriodicScript, ScheduledJobsFacts, Timer};
pub use redact::{redact_command, MAX_COMMAND_CHARS};
pub use timers::{parse_exec_start, parse_timer_unit, TimerUnit};

use super::common::reader::Reader;
use super::common::systemd::{self, UnitTree};
use super::Outcome;
use crate::hostroot::HostRoot;
use backup::BACKUP_AGENTS;
use cron::read_cron;
use timers::read_timer;

/// The probe's schema: id, version, controls and every field (in core).
pub use evident_core::schema::probes::scheduled_jobs::SCHEMA;

const PERIODS: &[&str] = &["hourly", "daily", "weekly", "monthly"];

/// Collect under `root`.
pub fn collect(root: &HostRoot) -> Outcome {
    if !root.exists("/etc") {
        return Outcome::Unsupported("no /etc under the root".into());
    }
    let mut r = Reader::new(root);
    let cron_present = ["/etc/crontab", "/etc/cron.d", "/var/spool/cron"]
        .iter()
        .any(|p| root.exists(p));
    let (jobs, users) = read_cron(&mut r);
    let mut periodic = Vec::new();
    for period in PERIODS {
        let names = r.names(&format!("/etc/cron.{period}"));
        periodic.extend(parse_periodic(period, &names));
    }
    let tree: UnitTree = systemd::read_unit_tree(root);
    r.unreadable.extend(tree.unreadable.iter().cloned());
    let timers: Vec<Timer> = tree
        .enabled
        .iter()
        .filter(|u| u.ends_with(".timer"))
        .map(|u| read_timer(&mut r, u))
        .collect();
    let agents: Vec<(String, String)> = tree
        .enabled
        .iter()
        .filter(|u| BACKUP_AGENTS.contains(&systemd::unit_base(u)))
        .map(|u| {
            let command = systemd::find_unit_file(root, u)
                .and_then(|p| r.read(&p))
                .and_then(|t| parse_exec_start(&t).into_iter().next())
                .unwrap_or_default();
            (u.clone(), command)
        })
        .collect();
    let is_file = |p: &str| r.is_file(p);
    let mut facts = build_facts(jobs, users, periodic, timers, agents, &is_file);
    facts.cron_present = cron_present;
    facts.unreadable = r.unreadable;
    facts.permission_denied = r.denied;
    Outcome::from_facts(&facts)
}

/// Feed arbitrary text to every parser (for cargo-fuzz); never panics.
pub fn fuzz_parse(input: &str) {
    let _ = parse_crontab(input, "fuzz", None);
    let _ = parse_crontab(input, "fuzz", Some("u"));
    let _ = parse_anacrontab(input, "fuzz");
    let _ = redact_command(input);
    let _ = backup_tool(input);
    let _ = program_candidates(input, "script");
    let _ = resolve_program(first_program(input), &|_| true);
    let mut t = TimerUnit::default();
    parse_timer_unit(input, &mut t);
    let _ = parse_exec_start(input);
    let names: Vec<String> = input.lines().map(str::to_string).collect();
    let _ = parse_periodic("daily", &names);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;
    use std::path::Path;

    const FX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/scheduled-jobs");
    const DEB_CRONTAB: &str =
        include_str!("../../../tests/fixtures/scheduled-jobs/debian/etc/crontab");
    const RESTIC: &str =
        include_str!("../../../tests/fixtures/scheduled-jobs/debian/etc/cron.d/restic");
    const POSTGRES: &str =
        include_str!("../../../tests/fixtures/scheduled-jobs/debian/spool/postgres");
    const ANACRONTAB: &str = include_str!("../../../tests/fixtures/scheduled-jobs/rhel/anacrontab");
    const RHEL_CRONTAB: &str = include_str!("../../../tests/fixtures/scheduled-jobs/rhel/crontab");

    fn put(root: &Path, host: &str, fixture: &str) {
        let p = root.join(host.trim_start_matches('/'));
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::copy(format!("{FX}/{fixture}"), p).unwrap();
    }

    fn link(root: &Path, target: &str, at: &str) {
        let p = root.join(at.trim_start_matches('/'));
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        symlink(target, p).unwrap();
    }

    #[test]
    fn debian_system_crontab_has_four_jobs_and_no_env() {
        let jobs = parse_crontab(DEB_CRONTAB, "/etc/crontab", None);
        assert_eq!(jobs.len(), 4);
        assert_eq!(jobs[0].schedule, "17 * * * *");
        assert_eq!(jobs[0].user, "root");
        assert_eq!(
            jobs[0].command,
            "cd / && run-parts --report /etc/cron.hourly"
        );
        assert_eq!(jobs[2].schedule, "47 6 * * 7");
        assert!(jobs.iter().all(|j| !j.backup));
        assert!(parse_crontab(RHEL_CRONTAB, "/etc/crontab", None).is_empty());
    }

    #[test]
    fn crlf_cron_d_file_with_secrets_is_redacted() {
        let jobs = parse_crontab(RESTIC, "/etc/cron.d/restic", None);
        assert_eq!(jobs.len(), 2);
        let j = &jobs[0];
        assert!(j.backup);
        assert_eq!(j.user, "root");
        assert_eq!(
            j.command,
            "RESTIC_REPOSITORY=s3:https://backup:***@minio.example.com/host1 RESTIC_PASSWORD=*** *** *** /usr/bin/restic backup --one-file-system /srv /etc --exclude-caches"
        );
        assert_eq!(jobs[1].schedule, "@reboot");
        assert_eq!(jobs[1].command, "/usr/local/bin/warm-cache --token=***");
        let all = format!("{jobs:?}");
        for secret in ["hunter2", "S3cr3tKey", "horse", "abc123"] {
            assert!(!all.contains(secret), "{secret} leaked");
        }
    }

    #[test]
    fn user_crontab_pg_dump_and_mysqldump() {
        let jobs = parse_crontab(
            POSTGRES,
            "/var/spool/cron/crontabs/postgres",
            Some("postgres"),
        );
        assert_eq!(jobs.len(), 3, "{jobs:#?}");
        assert_eq!(jobs[0].user, "postgres");
        assert!(jobs[0]
            .command
            .starts_with("PGPASSWORD=*** pg_dumpall -h localhost"));
        assert!(jobs[0].backup);
        assert_eq!(
            backup_tool(POSTGRES.lines().nth(5).unwrap()).as_deref(),
            Some("pg_dumpall")
        );
        assert!(!jobs[1].backup);
        assert_eq!(jobs[2].schedule, "0 4 * * sun");
        assert!(jobs[2].command.contains("-p***") && !jobs[2].command.contains("TopSecret"));
        assert!(jobs[2].backup);
    }

    #[test]
    fn anacrontab_jobs() {
        let jobs = parse_anacrontab(ANACRONTAB, "/etc/anacrontab");
        let s: Vec<&str> = jobs.iter().map(|j| j.schedule.as_str()).collect();
        assert_eq!(s, vec!["anacron 1", "anacron 7", "anacron @monthly"]);
        assert_eq!(jobs[0].command, "nice run-parts /etc/cron.daily");
    }

    #[test]
    fn redaction_cases() {
        assert_eq!(
            redact_command("sshpass -p pw rsync a b"),
            "sshpass -p *** rsync a b"
        );
        assert_eq!(
            redact_command("curl https://tok@h/x"),
            "curl https://***@h/x"
        );
        assert_eq!(
            redact_command("x --password 'a b c' y"),
            "x --password *** *** *** y"
        );
        assert_eq!(redact_command("x --key-file=/k y"), "x --key-file=*** y");
        assert_eq!(redact_command("ls -la /tmp"), "ls -la /tmp");
        let long = "a".repeat(500);
        assert_eq!(redact_command(&long).chars().count(), MAX_COMMAND_CHARS + 1);
        assert_eq!(
            backup_tool("tar czf /backup/etc.tgz /etc").as_deref(),
            Some("tar")
        );
        assert_eq!(backup_tool("tar czf /tmp/x.tgz /etc"), None);
        assert_eq!(
            backup_tool("/usr/local/bin/nightly-backup.sh").as_deref(),
            Some("script")
        );
        assert_eq!(
            backup_tool("etcdctl snapshot save /var/lib/s.db").as_deref(),
            Some("etcdctl")
        );
        assert_eq!(backup_tool("/usr/libexec/dpkg/dpkg-db-backup"), None);
        assert_eq!(backup_tool("backupninja"), Some("backupninja".into()));
    }

    /// A Debian 12 root: crontab, cron.d (one with a dot, ignored), a spool,
    /// periodic scripts, enabled timers (one masked, one with a drop-in).
    #[test]
    fn collect_debian_root() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        put(r, "/etc/crontab", "debian/etc/crontab");
        put(
            r,
            "/etc/cron.d/e2scrub_all",
            "debian/etc/cron.d/e2scrub_all",
        );
        put(r, "/etc/cron.d/restic", "debian/etc/cron.d/restic");
        put(r, "/etc/cron.d/restic.dpkg-old", "debian/etc/cron.d/restic");
        put(
            r,
            "/var/spool/cron/crontabs/postgres",
            "debian/spool/postgres",
        );
        for (period, name) in [
            ("daily", "logrotate"),
            ("daily", "dpkg"),
            ("daily", ".placeholder"),
            ("weekly", "man-db"),
            ("daily", "automysqlbackup"),
        ] {
            let p = r.join(format!("etc/cron.{period}"));
            fs::create_dir_all(&p).unwrap();
            fs::write(p.join(name), "#!/bin/sh\n").unwrap();
        }
        let usr = "/usr/lib/systemd/system";
        for u in [
            "borgmatic.timer",
            "borgmatic.service",
            "dpkg-db-backup.timer",
            "dpkg-db-backup.service",
            "apt-daily.timer",
            "logrotate.timer",
            "fstrim.timer",
        ] {
            put(r, &format!("{usr}/{u}"), &format!("units/{u}"));
            if u.ends_with(".timer") {
                link(
                    r,
                    &format!("{usr}/{u}"),
                    &format!("/etc/systemd/system/timers.target.wants/{u}"),
                );
            }
        }
        put(
            r,
            "/etc/systemd/system/apt-daily.timer.d/override.conf",
            "units/apt-daily-override.conf",
        );
        link(r, "/dev/null", "/etc/systemd/system/fstrim.timer");
        // A backup agent enabled as a service.
        fs::write(
            r.join("usr/lib/systemd/system/bareos-fd.service"),
            "[Service]\nExecStart=/usr/sbin/bareos-fd -f\n",
        )
        .unwrap();
        link(
            r,
            "/usr/lib/systemd/system/bareos-fd.service",
            "/etc/systemd/system/multi-user.target.wants/bareos-fd.service",
        );
        // The programs the jobs run, except mysqldump (not installed).
        for exe in [
            "/usr/bin/restic",
            "/usr/bin/pg_dumpall",
            "/root/.local/bin/borgmatic",
            "/usr/sbin/bareos-fd",
        ] {
            let p = r.join(exe.trim_start_matches('/'));
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, "#!/bin/sh\n").unwrap();
        }

        let Outcome::Ok(v) = collect(&HostRoot::offline(r)) else {
            panic!()
        };
        assert_eq!(v["cron_present"], true);
        assert_eq!(v["job_count"], 4 + 2 + 2 + 3);
        assert_eq!(v["user_crontabs"], serde_json::json!(["postgres"]));
        let periodic: Vec<&str> = v["periodic_scripts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            periodic,
            vec!["automysqlbackup", "dpkg", "logrotate", "man-db"]
        );
        let timers: Vec<&str> = v["timers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            timers,
            vec![
                "apt-daily.timer",
                "borgmatic.timer",
                "dpkg-db-backup.timer",
                "logrotate.timer"
            ]
        );
        assert_eq!(
            v["timers"][0]["on_calendar"],
            serde_json::json!(["*-*-* 02:30"])
        );
        assert_eq!(v["timers"][1]["backup"], true);
        assert_eq!(v["timers"][1]["unit"], "borgmatic.service");
        assert_eq!(
            v["timers"][1]["schedule"],
            "OnCalendar=daily; RandomizedDelaySec=3h"
        );
        assert_eq!(v["timers"][2]["backup"], false);
        let backups: Vec<(String, String)> = v["backup_jobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b["kind"].as_str().unwrap().to_string(),
                    b["tool"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let expect: Vec<(String, String)> = [
            ("cron", "restic"),
            ("cron", "pg_dumpall"),
            ("cron", "mysqldump"),
            ("periodic", "automysqlbackup"),
            ("timer", "borgmatic"),
            ("agent", "bareos-fd"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(backups, expect);
        let found: Vec<(&str, bool)> = v["backup_jobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b["executable"].as_str().unwrap(),
                    b["executable_found"].as_bool().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            found,
            vec![
                ("/usr/bin/restic", true),
                ("/usr/bin/pg_dumpall", true),
                ("mysqldump", false),
                ("/etc/cron.daily/automysqlbackup", true),
                // `--who="borgmatic"` is not the program; the path is.
                ("/root/.local/bin/borgmatic", true),
                ("/usr/sbin/bareos-fd", true),
            ]
        );
        assert_eq!(v["backup_configured"], true);
        let text = v.to_string();
        for secret in ["hunter2", "S3cr3tKey", "horse", "s3cret", "TopSecret"] {
            assert!(!text.contains(secret), "{secret} leaked");
        }
    }

    #[test]
    fn a_job_naming_a_backup_tool_that_is_not_installed_is_no_backup() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        put(r, "/etc/cron.d/restic", "debian/etc/cron.d/restic");
        fs::create_dir_all(r.join("etc/cron.daily")).unwrap();
        let Outcome::Ok(v) = collect(&HostRoot::offline(r)) else {
            panic!()
        };
        assert_eq!(v["backup_jobs"][0]["tool"], "restic");
        assert_eq!(v["backup_jobs"][0]["executable"], "/usr/bin/restic");
        assert_eq!(v["backup_jobs"][0]["executable_found"], false);
        assert_eq!(v["backup_configured"], false);
        // Installed: found, and the backup counts.
        fs::create_dir_all(r.join("usr/bin")).unwrap();
        fs::write(r.join("usr/bin/restic"), "#!/bin/sh\n").unwrap();
        let Outcome::Ok(v) = collect(&HostRoot::offline(r)) else {
            panic!()
        };
        assert_eq!(v["backup_configured"], true);
        // Bare names are looked up in PATH; relative paths and variables are not guessed.
        let is_file = |p: &str| p == "/usr/local/bin/borg";
        assert_eq!(
            resolve_program("borg", &is_file).as_deref(),
            Some("/usr/local/bin/borg")
        );
        assert_eq!(resolve_program("./borg", &is_file), None);
        assert_eq!(resolve_program("$HOME/borg", &is_file), None);
        assert_eq!(
            program_candidates("sh -c '/opt/x/db-backup.sh --full'", "script"),
            vec!["/opt/x/db-backup.sh"]
        );
    }

    #[test]
    fn rhel_root_without_backups() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        put(r, "/etc/crontab", "rhel/crontab");
        put(r, "/etc/cron.d/0hourly", "rhel/0hourly");
        put(r, "/etc/anacrontab", "rhel/anacrontab");
        fs::create_dir_all(r.join("var/spool/cron")).unwrap();
        let Outcome::Ok(v) = collect(&HostRoot::offline(r)) else {
            panic!()
        };
        assert_eq!(v["job_count"], 4);
        assert_eq!(v["backup_configured"], false);
        assert_eq!(v["backup_jobs"], serde_json::json!([]));
        assert_eq!(v["timers"], serde_json::json!([]));
    }

    #[test]
    fn empty_root_and_fuzz() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            collect(&HostRoot::offline(dir.path())),
            Outcome::Unsupported(_)
        ));
        for s in [
            "",
            "@",
            "@reboot",
            "* * * * *",
            "* * * * * u",
            "=",
            "a=b",
            "x://@",
            "--password='",
            "-p",
            "[Timer]\nOnCalendar=",
            "é ü --token=ü€",
        ] {
            fuzz_parse(s);
        }
        fuzz_parse(RESTIC);
    }
}
