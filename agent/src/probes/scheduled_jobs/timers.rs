//! systemd timers: the timer unit and its drop-ins, and the command of the
//! unit it triggers.

use super::backup::{backup_tool, NOT_BACKUPS};
use super::facts::Timer;
use super::redact::redact_command;
use crate::probes::common::reader::Reader;
use crate::probes::common::systemd;

/// Settings of a timer unit relevant here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimerUnit {
    /// OnCalendar= values (an empty assignment resets the list).
    pub on_calendar: Vec<String>,
    /// Every trigger setting as `Key=value`.
    pub triggers: Vec<String>,
    /// Unit=.
    pub unit: Option<String>,
}

fn unit_assignments(text: &str, section: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') && line.ends_with(']') {
            current = line.trim_matches(|c| c == '[' || c == ']').to_string();
            continue;
        }
        if current != section {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            out.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

/// Apply a timer unit file or drop-in (`[Timer]` section) over `t`.
pub fn parse_timer_unit(text: &str, t: &mut TimerUnit) {
    for (k, v) in unit_assignments(text, "Timer") {
        match k.as_str() {
            "OnCalendar" if v.is_empty() => t.on_calendar.clear(),
            "OnCalendar" => t.on_calendar.push(v.clone()),
            "Unit" => t.unit = Some(v.clone()),
            _ => {}
        }
        let is_trigger = k.starts_with("On") || k == "RandomizedDelaySec";
        if is_trigger && k != "OnCalendar" {
            // An empty value resets a list; RandomizedDelaySec= holds one value.
            if v.is_empty() || k == "RandomizedDelaySec" {
                t.triggers.retain(|x| !x.starts_with(&format!("{k}=")));
            }
            if !v.is_empty() {
                t.triggers.push(format!("{k}={v}"));
            }
        }
    }
}

/// `ExecStart=` values of a service unit file (prefixes like `-`, `@`, `+`, `!` removed).
pub fn parse_exec_start(text: &str) -> Vec<String> {
    unit_assignments(text, "Service")
        .into_iter()
        .filter(|(k, _)| k == "ExecStart")
        .map(|(_, v)| v.trim_start_matches(['-', '@', '+', '!', ':']).to_string())
        .filter(|v| !v.is_empty())
        .collect()
}

/// The enabled timer `name` as reported.
pub(super) fn read_timer(r: &mut Reader<'_>, name: &str) -> Timer {
    let mut tu = TimerUnit::default();
    if let Some(path) = systemd::find_unit_file(r.root, name) {
        if let Some(t) = r.read(&path) {
            parse_timer_unit(&t, &mut tu);
        }
    }
    let mut dropins = Vec::new();
    for dir in systemd::UNIT_DIRS.iter().rev() {
        let d = format!("{dir}/{name}.d");
        for n in r.names(&d) {
            if n.ends_with(".conf") {
                dropins.push((n.clone(), format!("{d}/{n}")));
            }
        }
    }
    dropins.sort();
    for (_, p) in dropins {
        if let Some(t) = r.read(&p) {
            parse_timer_unit(&t, &mut tu);
        }
    }
    let stem = name.strip_suffix(".timer").unwrap_or(name);
    let unit = tu.unit.clone().unwrap_or_else(|| format!("{stem}.service"));
    let command = systemd::find_unit_file(r.root, &unit)
        .and_then(|p| r.read(&p))
        .and_then(|t| parse_exec_start(&t).into_iter().next())
        .unwrap_or_default();
    let mut schedule: Vec<String> = tu
        .on_calendar
        .iter()
        .map(|c| format!("OnCalendar={c}"))
        .collect();
    schedule.extend(tu.triggers.iter().cloned());
    let backup = !NOT_BACKUPS.contains(&stem)
        && (backup_tool(&command).is_some()
            || backup_tool(name).is_some()
            || backup_tool(&unit).is_some());
    Timer {
        name: name.to_string(),
        on_calendar: tu.on_calendar,
        schedule: schedule.join("; "),
        unit,
        command: redact_command(&command),
        backup,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timer_units_and_dropins() {
        let mut t = TimerUnit::default();
        parse_timer_unit(
            include_str!("../../../tests/fixtures/scheduled-jobs/units/apt-daily.timer"),
            &mut t,
        );
        parse_timer_unit(
            include_str!("../../../tests/fixtures/scheduled-jobs/units/apt-daily-override.conf"),
            &mut t,
        );
        assert_eq!(t.on_calendar, vec!["*-*-* 02:30"]);
        assert_eq!(t.triggers, vec!["RandomizedDelaySec=0"]);
        let exec = parse_exec_start(include_str!(
            "../../../tests/fixtures/scheduled-jobs/units/borgmatic.service"
        ));
        assert_eq!(exec.len(), 1);
        assert!(exec[0].starts_with("systemd-inhibit"));
    }
}
