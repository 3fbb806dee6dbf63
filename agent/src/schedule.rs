//! When probes run: cron expressions (crate `cron`, with a seconds field),
//! a default for every probe and overrides per probe, plus random jitter so
//! a fleet does not stampede the collector.
//!
//! The [`Planner`] keeps, per probe, its next cron time; a run collects every
//! probe whose time has come. The schedule's longest gap between two fire
//! times becomes `schedule.interval_seconds` in each statement, which the
//! collector uses to tell a silent agent from a late one.

use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeMap;
use std::str::FromStr;

/// Why a cron expression is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("`{expr}` is not a cron expression: {message}")]
    Parse { expr: String, message: String },
    #[error("`{0}` never fires")]
    NeverFires(String),
}

/// A parsed cron expression.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    expr: String,
    inner: cron::Schedule,
}

impl CronSchedule {
    /// Parse `sec min hour dom month dow [year]`; a classic five-field
    /// expression (`*/15 * * * *`) gets a `0` seconds field prepended.
    pub fn parse(expr: &str) -> Result<CronSchedule, ScheduleError> {
        let trimmed = expr.trim();
        let full = if trimmed.split_whitespace().count() == 5 {
            format!("0 {trimmed}")
        } else {
            trimmed.to_string()
        };
        let inner = cron::Schedule::from_str(&full).map_err(|e| ScheduleError::Parse {
            expr: expr.to_string(),
            message: e.to_string(),
        })?;
        let s = CronSchedule {
            expr: expr.to_string(),
            inner,
        };
        if s.next_after(Utc::now()).is_none() {
            return Err(ScheduleError::NeverFires(expr.to_string()));
        }
        Ok(s)
    }

    /// The expression as written.
    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// The first fire time strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.inner.after(&t).next()
    }

    /// The longest gap between consecutive fire times over the next year
    /// (at most 2000 fire times looked at), in whole seconds, at least 1.
    pub fn longest_gap_seconds(&self, from: DateTime<Utc>) -> u64 {
        let horizon = from + Duration::days(366);
        let mut longest = 0i64;
        let mut prev: Option<DateTime<Utc>> = None;
        for t in self.inner.after(&from).take(2000) {
            if let Some(p) = prev {
                longest = longest.max((t - p).num_seconds());
            }
            if t > horizon {
                break;
            }
            prev = Some(t);
        }
        longest.max(1) as u64
    }
}

/// A random delay in `[0, max_seconds)` seconds, at millisecond resolution.
pub fn jitter(max_seconds: u64) -> Duration {
    if max_seconds == 0 {
        return Duration::zero();
    }
    let ms = random_u64() % (max_seconds.saturating_mul(1000));
    Duration::milliseconds(i64::try_from(ms).unwrap_or(0))
}

/// A random number from the operating system's generator.
pub fn random_u64() -> u64 {
    use rand_core::RngCore as _;
    rand_core::OsRng.next_u64()
}

/// Per-probe next fire times.
#[derive(Debug)]
pub struct Planner {
    schedules: BTreeMap<String, CronSchedule>,
    next: BTreeMap<String, DateTime<Utc>>,
    jitter_seconds: u64,
    run_jitter: Duration,
}

impl Planner {
    /// A planner for `probes`, each on `overrides[probe]` or `default`.
    /// Every probe is due immediately (the first run after start is complete).
    pub fn new(
        probes: &[&str],
        default: &CronSchedule,
        overrides: &BTreeMap<String, CronSchedule>,
        jitter_seconds: u64,
        now: DateTime<Utc>,
    ) -> Planner {
        let schedules: BTreeMap<String, CronSchedule> = probes
            .iter()
            .map(|p| (p.to_string(), overrides.get(*p).unwrap_or(default).clone()))
            .collect();
        let next = probes.iter().map(|p| (p.to_string(), now)).collect();
        Planner {
            schedules,
            next,
            jitter_seconds,
            run_jitter: Duration::zero(),
        }
    }

    /// When the next run starts (earliest cron time plus this round's jitter).
    pub fn next_run(&self) -> Option<DateTime<Utc>> {
        self.next.values().min().map(|t| *t + self.run_jitter)
    }

    /// The probes due at `now`, sorted by id; their next
    /// fire times move past `now` and a fresh jitter is drawn.
    pub fn take_due(&mut self, now: DateTime<Utc>) -> Vec<String> {
        let mut due = Vec::new();
        for (probe, at) in self.next.iter_mut() {
            if *at + self.run_jitter <= now {
                due.push(probe.clone());
                let cron_now = now - self.run_jitter;
                if let Some(s) = self.schedules.get(probe) {
                    *at = s
                        .next_after(cron_now.max(*at))
                        .unwrap_or(now + Duration::days(365 * 100));
                }
            }
        }
        self.run_jitter = jitter(self.jitter_seconds);
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + s, 0).unwrap()
    }

    #[test]
    fn parses_six_and_five_fields_and_rejects_garbage() {
        CronSchedule::parse("* * * * * *").unwrap();
        let five = CronSchedule::parse("*/15 * * * *").unwrap();
        let six = CronSchedule::parse("0 */15 * * * *").unwrap();
        assert_eq!(five.next_after(t(0)), six.next_after(t(0)));
        assert!(CronSchedule::parse("nonsense").is_err());
        assert!(CronSchedule::parse("61 * * * * *").is_err());
        assert!(CronSchedule::parse("").is_err());
        // February 30th never comes.
        assert!(matches!(
            CronSchedule::parse("0 0 0 30 2 *"),
            Err(ScheduleError::NeverFires(_))
        ));
    }

    #[test]
    fn longest_gap() {
        let every_second = CronSchedule::parse("* * * * * *").unwrap();
        assert_eq!(every_second.longest_gap_seconds(t(0)), 1);
        let quarter = CronSchedule::parse("0 */15 * * * *").unwrap();
        assert_eq!(quarter.longest_gap_seconds(t(0)), 900);
        let weekdays = CronSchedule::parse("0 0 9 * * Mon-Fri").unwrap();
        assert_eq!(weekdays.longest_gap_seconds(t(0)), 3 * 86400);
    }

    #[test]
    fn planner_runs_everything_first_then_per_override() {
        let default = CronSchedule::parse("*/10 * * * * *").unwrap();
        let mut overrides = BTreeMap::new();
        overrides.insert(
            "packages".to_string(),
            CronSchedule::parse("0 * * * * *").unwrap(),
        );
        let start = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 5).unwrap();
        let mut p = Planner::new(&["host", "packages"], &default, &overrides, 0, start);
        assert_eq!(p.next_run(), Some(start));
        assert_eq!(p.take_due(start), vec!["host", "packages"]);
        let next = p.next_run().unwrap();
        assert_eq!(next, Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 10).unwrap());
        assert_eq!(p.take_due(next), vec!["host"]);
        // Five more default runs, then the minute: both.
        let mut seen = Vec::new();
        for _ in 0..5 {
            let n = p.next_run().unwrap();
            seen.push(p.take_due(n));
        }
        assert_eq!(seen.last().unwrap(), &vec!["host", "packages"]);
        assert!(seen[..4].iter().all(|d| d == &vec!["host"]));
    }

    #[test]
    fn jitter_stays_in_bounds() {
        assert_eq!(jitter(0), Duration::zero());
        for _ in 0..100 {
            let j = jitter(3);
            assert!(j >= Duration::zero() && j < Duration::seconds(3));
        }
    }

    #[test]
    fn a_late_wakeup_does_not_replay_missed_runs() {
        let every = CronSchedule::parse("* * * * * *").unwrap();
        let start = t(0);
        let mut p = Planner::new(&["host"], &every, &BTreeMap::new(), 0, start);
        p.take_due(start);
        // The process was stopped for an hour: one run, not 3600.
        let late = t(3600);
        assert_eq!(p.take_due(late), vec!["host"]);
        assert!(p.next_run().unwrap() > late);
    }
}
