//! Probe `packages`: installed packages, pending (security) updates, time of
//! the last update, pending reboot and automatic updates.
//!
//! Debian / Ubuntu (dpkg), all read through [`HostRoot`]:
//! - `/var/lib/dpkg/status`: the installed inventory (RFC 822 paragraphs with
//!   continuation lines; `Status: … installed` counts, as do
//!   `triggers-pending`/`triggers-awaited`; `half-installed`, `unpacked` and
//!   `half-configured` are reported as partially installed; `config-files`
//!   and `not-installed` are ignored).
//! - `/var/lib/apt/lists/*_Packages`: the candidates apt knows. A package has
//!   a pending update when some list offers a newer version (Debian version
//!   ordering: epoch, upstream, revision, `~`) for its architecture; a
//!   security update when that newer version comes from a list whose name
//!   contains `security`. Backports and experimental lists are ignored (apt
//!   does not upgrade to them by default); apt pinning is not evaluated.
//!   Lists are streamed line by line (a `main` list is ~50 MB), never loaded
//!   whole. Compressed lists (`Acquire::GzipIndexes`) are not read.
//! - Last update: the newest `apt` history entry with an `Upgrade:` line in
//!   `/var/log/apt/history.log` or the mtime of
//!   `/var/lib/apt/periodic/upgrade-stamp` (unattended-upgrades), whichever is
//!   newer; else the mtime of `/var/log/dpkg.log`. History times are local
//!   time without a zone and are read as UTC. Lists refresh time: mtime of
//!   `/var/lib/apt/periodic/update-success-stamp`, else the newest list.
//! - `/run/reboot-required` (+ `.pkgs`), created by kernel and libc
//!   postinst hooks (unattended-upgrades, update-notifier-common).
//! - `/etc/apt/apt.conf` and `/etc/apt/apt.conf.d/*`:
//!   `APT::Periodic::Unattended-Upgrade`, `APT::Periodic::Enable`.
//!
//! RHEL family (rpm): the inventory comes from the rpm database,
//! `rpmdb.sqlite` (RHEL 9, Fedora; under `/var/lib/rpm` or
//! `/usr/lib/sysimage/rpm`), opened read-only and immutable (no lock, no
//! journal: the agent never writes there), one rpm header blob per installed
//! package, parsed by [`parse_rpm_header`]. The Berkeley DB `Packages` file
//! of RHEL 8 and older is not read (the inventory is then reported as not
//! collected, with the reason). Pending updates need dnf's repository
//! metadata and are not computed. The last update is the newest of the
//! packages' install times and `/var/log/dnf.rpm.log`; dnf-automatic
//! (`/etc/dnf/automatic.conf` `apply_updates`, its timers enabled under
//! `/etc/systemd/system/timers.target.wants`).
//!
//! Ages are computed against a `now` argument in the pure functions; only
//! [`collect`] reads the clock.

mod apt_sources;

use super::Outcome;
use crate::hostroot::HostRoot;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};

/// The probe's schema: id, version, controls and every field (in core).
pub use evident_core::schema::probes::packages::SCHEMA;

/// Everything the probe reports.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct PackagesFacts {
    /// dpkg or rpm.
    pub manager: String,
    /// Inventory read.
    pub inventory_collected: bool,
    /// Why not.
    pub inventory_note: String,
    /// Distinct installed names.
    pub installed_count: usize,
    /// Installed names.
    pub installed_names: Vec<String>,
    /// Broken installs.
    pub partially_installed: Vec<String>,
    /// Pending updates computed.
    pub updates_collected: bool,
    /// Why not.
    pub updates_note: String,
    /// Lists read.
    pub package_list_count: usize,
    /// Configured apt sources (`uri suite`).
    pub apt_sources: Vec<String>,
    /// Some configured source is a security source (null: not an apt system).
    pub security_source_configured: Option<bool>,
    /// Downloaded lists no configured source references (not counted).
    pub unreferenced_lists: Vec<String>,
    /// Pending updates.
    pub pending_updates: usize,
    /// Their names.
    pub pending_update_names: Vec<String>,
    /// Pending security updates.
    pub pending_security_updates: usize,
    /// Their names.
    pub pending_security_update_names: Vec<String>,
    /// Last upgrade.
    pub last_update: Option<String>,
    /// Its age.
    pub last_update_age_days: Option<i64>,
    /// Its source.
    pub last_update_source: String,
    /// Last list refresh.
    pub lists_refreshed: Option<String>,
    /// Its age.
    pub lists_refreshed_age_days: Option<i64>,
    /// Reboot flag readable.
    pub reboot_required_collected: bool,
    /// Reboot pending.
    pub reboot_required: bool,
    /// Packages wanting it.
    pub reboot_required_packages: Vec<String>,
    /// Auto-update tool.
    pub auto_updates_tool: String,
    /// Tool installed.
    pub auto_updates_installed: bool,
    /// Auto updates on.
    pub unattended_upgrades_enabled: bool,
}

// ---------------------------------------------------------------- versions

/// Compare two Debian version strings (`[epoch:]upstream[-revision]`) as dpkg does.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let (ea, ua, ra) = split_version(a);
    let (eb, ub, rb) = split_version(b);
    ea.cmp(&eb)
        .then_with(|| verrevcmp(ua.as_bytes(), ub.as_bytes()))
        .then_with(|| verrevcmp(ra.as_bytes(), rb.as_bytes()))
}

fn split_version(v: &str) -> (u64, &str, &str) {
    let v = v.trim();
    let (epoch, rest) = match v.split_once(':') {
        Some((e, r)) if !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit()) => {
            (e.parse().unwrap_or(u64::MAX), r)
        }
        _ => (0, v),
    };
    match rest.rsplit_once('-') {
        Some((u, r)) => (epoch, u, r),
        None => (epoch, rest, ""),
    }
}

fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(c) => i32::from(c) + 256,
    }
}

fn verrevcmp(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0usize, 0usize);
    let at = |k: usize| a.get(k).copied();
    let bt = |k: usize| b.get(k).copied();
    let digit = |c: Option<u8>| c.is_some_and(|c| c.is_ascii_digit());
    while at(i).is_some() || bt(j).is_some() {
        while (at(i).is_some() && !digit(at(i))) || (bt(j).is_some() && !digit(bt(j))) {
            let (ac, bc) = (order(at(i)), order(bt(j)));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while at(i) == Some(b'0') {
            i += 1;
        }
        while bt(j) == Some(b'0') {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while digit(at(i)) && digit(bt(j)) {
            if first_diff == Ordering::Equal {
                first_diff = at(i).cmp(&bt(j));
            }
            i += 1;
            j += 1;
        }
        if digit(at(i)) {
            return Ordering::Greater;
        }
        if digit(bt(j)) {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

// ---------------------------------------------------------------- stanzas

/// Collects `Package`, `Architecture`, `Version`, `Status` of RFC 822 paragraphs fed line by line.
#[derive(Debug, Default)]
struct StanzaReader {
    cur: Stanza,
}

/// The fields of one paragraph the probe uses.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Stanza {
    /// Package.
    pub package: String,
    /// Architecture.
    pub architecture: String,
    /// Version.
    pub version: String,
    /// Status (dpkg status only).
    pub status: String,
}

impl StanzaReader {
    /// Feed one line; returns a finished paragraph at a blank line.
    fn feed(&mut self, line: &str) -> Option<Stanza> {
        let line = line.trim_end_matches(['\r', '\n']);
        if line.trim().is_empty() {
            return self.finish();
        }
        if line.starts_with([' ', '\t']) {
            return None; // continuation line of a multi-line field
        }
        if let Some((k, v)) = line.split_once(':') {
            let v = v.trim();
            match k {
                "Package" => self.cur.package = v.to_string(),
                "Architecture" => self.cur.architecture = v.to_string(),
                "Version" => self.cur.version = v.to_string(),
                "Status" => self.cur.status = v.to_string(),
                _ => {}
            }
        }
        None
    }

    fn finish(&mut self) -> Option<Stanza> {
        let s = std::mem::take(&mut self.cur);
        (!s.package.is_empty()).then_some(s)
    }
}

/// Parse RFC 822 package paragraphs (dpkg status, apt `Packages` lists).
pub fn parse_stanzas(text: &str) -> Vec<Stanza> {
    let mut r = StanzaReader::default();
    let mut out: Vec<Stanza> = text.lines().filter_map(|l| r.feed(l)).collect();
    out.extend(r.finish());
    out
}

/// The dpkg inventory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DpkgInventory {
    /// (name, arch) → version of installed packages.
    pub installed: BTreeMap<(String, String), String>,
    /// Names in a broken state.
    pub partial: BTreeSet<String>,
}

/// Parse `/var/lib/dpkg/status`.
pub fn parse_dpkg_status(text: &str) -> DpkgInventory {
    let mut inv = DpkgInventory::default();
    for s in parse_stanzas(text) {
        let state = s.status.split_whitespace().nth(2).unwrap_or("");
        match state {
            "installed" | "triggers-pending" | "triggers-awaited" => {
                inv.installed.insert((s.package, s.architecture), s.version);
            }
            "half-installed" | "unpacked" | "half-configured" => {
                inv.partial.insert(s.package);
            }
            _ => {}
        }
    }
    inv
}

/// Newest candidates seen in apt lists for installed packages.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Candidates {
    /// (name, arch) → newest version in any list.
    pub any: BTreeMap<(String, String), String>,
    /// (name, arch) → newest version in a security list.
    pub security: BTreeMap<(String, String), String>,
}

impl Candidates {
    /// Record the paragraphs of one list; only installed packages are kept.
    fn add(&mut self, s: Stanza, security: bool, inv: &DpkgInventory) {
        let key = (s.package, s.architecture);
        if !inv.installed.contains_key(&key) {
            return;
        }
        let maps: &mut [&mut BTreeMap<(String, String), String>] = if security {
            &mut [&mut self.any, &mut self.security]
        } else {
            &mut [&mut self.any]
        };
        for m in maps.iter_mut() {
            match m.get(&key) {
                Some(v) if compare_versions(v, &s.version) != Ordering::Less => {}
                _ => {
                    m.insert(key.clone(), s.version.clone());
                }
            }
        }
    }
}

/// Whether an apt list file name is a security list.
pub fn is_security_list(name: &str) -> bool {
    name.contains("security")
}

fn is_ignored_list(name: &str) -> bool {
    name.contains("backports") || name.contains("experimental")
}

/// Record one apt `Packages` list given as text.
pub fn add_packages_list(c: &mut Candidates, list_name: &str, text: &str, inv: &DpkgInventory) {
    let security = is_security_list(list_name);
    for s in parse_stanzas(text) {
        c.add(s, security, inv);
    }
}

/// Pending updates: (all names, security names), sorted and unique.
pub fn pending_updates(inv: &DpkgInventory, c: &Candidates) -> (Vec<String>, Vec<String>) {
    let newer = |m: &BTreeMap<(String, String), String>| -> Vec<String> {
        inv.installed
            .iter()
            .filter(|(k, v)| {
                m.get(*k)
                    .is_some_and(|cand| compare_versions(cand, v) == Ordering::Greater)
            })
            .map(|((n, _), _)| n.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    (newer(&c.any), newer(&c.security))
}

// ---------------------------------------------------------------- logs, configs

/// The newest time in apt's `history.log` of an entry that upgraded packages
/// (`End-Date`, else `Start-Date`). Times are read as UTC.
pub fn parse_apt_history(text: &str) -> Option<DateTime<Utc>> {
    let mut best: Option<NaiveDateTime> = None;
    let mut start = None;
    let mut end = None;
    let mut upgrade = false;
    let mut flush =
        |start: &mut Option<NaiveDateTime>, end: &mut Option<NaiveDateTime>, upgrade: &mut bool| {
            if *upgrade {
                if let Some(t) = end.or(*start) {
                    best = Some(best.map_or(t, |b| b.max(t)));
                }
            }
            *start = None;
            *end = None;
            *upgrade = false;
        };
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(v) = line.strip_prefix("Start-Date:") {
            flush(&mut start, &mut end, &mut upgrade);
            start = parse_apt_time(v);
        } else if let Some(v) = line.strip_prefix("End-Date:") {
            end = parse_apt_time(v);
        } else if line.starts_with("Upgrade:") {
            upgrade = true;
        }
    }
    flush(&mut start, &mut end, &mut upgrade);
    best.map(|t| t.and_utc())
}

fn parse_apt_time(v: &str) -> Option<NaiveDateTime> {
    let joined: Vec<&str> = v.split_whitespace().collect();
    NaiveDateTime::parse_from_str(&joined.join(" "), "%Y-%m-%d %H:%M:%S").ok()
}

/// The newest time of an `Upgrade`/`Upgraded`/`Installed` line in `/var/log/dnf.rpm.log`.
pub fn parse_dnf_rpm_log(text: &str) -> Option<DateTime<Utc>> {
    text.lines()
        .filter(|l| l.contains(" Upgrade: ") || l.contains(" Upgraded: "))
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|ts| {
            DateTime::parse_from_str(ts, "%Y-%m-%dT%H:%M:%S%z")
                .or_else(|_| DateTime::parse_from_rfc3339(ts))
                .ok()
        })
        .map(|t| t.with_timezone(&Utc))
        .max()
}

/// Parse apt.conf syntax (`A::B "v";` and `A { B "v"; };`) into lowercased
/// `a::b` → value, later files and lines overriding earlier ones.
pub fn parse_apt_conf(text: &str, out: &mut BTreeMap<String, String>) {
    let mut stack: Vec<String> = Vec::new();
    let mut pending_key: Option<String> = None;
    for raw in text.lines() {
        let line = raw.trim();
        if line.starts_with('#') || line.starts_with("//") {
            continue;
        }
        let line = line.split(" //").next().unwrap_or("");
        let mut rest = line;
        while !rest.trim().is_empty() {
            rest = rest.trim_start();
            if let Some(r) = rest.strip_prefix('}') {
                stack.pop();
                rest = r.trim_start().trim_start_matches(';');
                continue;
            }
            if let Some(r) = rest.strip_prefix('{') {
                if let Some(k) = pending_key.take() {
                    stack.push(k);
                }
                rest = r;
                continue;
            }
            if let Some(r) = rest.strip_prefix('"') {
                let (value, after) = r.split_once('"').unwrap_or((r, ""));
                if let Some(k) = pending_key.take() {
                    let mut full = stack.clone();
                    full.push(k);
                    out.insert(full.join("::").to_ascii_lowercase(), value.to_string());
                }
                rest = after.trim_start().trim_start_matches(';');
                continue;
            }
            let end = rest
                .find(|c: char| c.is_whitespace() || matches!(c, '{' | '}' | '"' | ';'))
                .unwrap_or(rest.len());
            let word = rest.get(..end).unwrap_or("");
            rest = rest.get(end..).unwrap_or("");
            if let Some(r) = rest.strip_prefix(';') {
                rest = r;
            }
            if !word.is_empty() {
                pending_key = Some(word.to_string());
            }
        }
    }
}

/// Whether apt's periodic configuration has unattended upgrades on.
pub fn apt_unattended_enabled(conf: &BTreeMap<String, String>) -> bool {
    let enabled = conf
        .get("apt::periodic::enable")
        .is_none_or(|v| v.trim() != "0");
    let interval = conf
        .get("apt::periodic::unattended-upgrade")
        .map(|v| v.trim())
        .unwrap_or("0");
    let on = interval == "always"
        || interval
            .trim_end_matches(['d', 'h', 'm', 's'])
            .parse::<u64>()
            .is_ok_and(|n| n > 0);
    enabled && on
}

/// `apply_updates` of `/etc/dnf/automatic.conf` (`[commands]` section).
pub fn parse_dnf_automatic(text: &str) -> bool {
    let mut section = String::new();
    let mut apply = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(s) = line.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            section = s.trim().to_string();
            continue;
        }
        if section == "commands" {
            if let Some((k, v)) = line.split_once('=') {
                if k.trim() == "apply_updates" {
                    apply = matches!(
                        v.trim().to_ascii_lowercase().as_str(),
                        "yes" | "true" | "1" | "on"
                    );
                }
            }
        }
    }
    apply
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn age_days(t: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    (now - t).num_days().max(0)
}

fn from_mtime(secs: i64) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp(secs, 0)
}

// ---------------------------------------------------------------- assembly

/// Times gathered for the dpkg/rpm paths (from logs or mtimes).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateTimes {
    /// Candidate (time, source) pairs preferred in order of trust; the newest wins.
    pub upgrades: Vec<(DateTime<Utc>, &'static str)>,
    /// Fallback when there is no upgrade evidence.
    pub fallback: Option<(DateTime<Utc>, &'static str)>,
    /// Last list refresh.
    pub lists_refreshed: Option<DateTime<Utc>>,
}

/// Fill the time fields of `facts` relative to `now`.
pub fn apply_times(facts: &mut PackagesFacts, times: &UpdateTimes, now: DateTime<Utc>) {
    let chosen = times
        .upgrades
        .iter()
        .copied()
        .max_by_key(|(t, _)| *t)
        .or(times.fallback);
    if let Some((t, src)) = chosen {
        facts.last_update = Some(rfc3339(t));
        facts.last_update_age_days = Some(age_days(t, now));
        facts.last_update_source = src.to_string();
    }
    if let Some(t) = times.lists_refreshed {
        facts.lists_refreshed = Some(rfc3339(t));
        facts.lists_refreshed_age_days = Some(age_days(t, now));
    }
}

/// Fill inventory and pending-update fields from a dpkg inventory and candidates.
pub fn apply_dpkg(facts: &mut PackagesFacts, inv: &DpkgInventory, cand: Option<&Candidates>) {
    facts.manager = "dpkg".into();
    facts.inventory_collected = true;
    let names: BTreeSet<&String> = inv.installed.keys().map(|(n, _)| n).collect();
    facts.installed_names = names.into_iter().cloned().collect();
    facts.installed_count = facts.installed_names.len();
    facts.partially_installed = inv.partial.iter().cloned().collect();
    if let Some(c) = cand {
        let (all, sec) = pending_updates(inv, c);
        facts.pending_updates = all.len();
        facts.pending_update_names = all;
        facts.pending_security_updates = sec.len();
        facts.pending_security_update_names = sec;
        facts.updates_collected = true;
    }
    let uu = facts
        .installed_names
        .iter()
        .any(|n| n == "unattended-upgrades");
    if uu {
        facts.auto_updates_tool = "unattended-upgrades".into();
        facts.auto_updates_installed = true;
    }
}

// ---------------------------------------------------------------- collect

/// Stream an apt list through the stanza reader without loading it whole.
fn stream_list(
    root: &HostRoot,
    path: &str,
    c: &mut Candidates,
    inv: &DpkgInventory,
) -> Result<(), String> {
    let real = root.resolve(path).map_err(|e| e.to_string())?;
    let file = std::fs::File::open(&real).map_err(|e| format!("{path}: {e}"))?;
    let mut reader = BufReader::new(file.take(512 * 1024 * 1024));
    let security = is_security_list(path.rsplit('/').next().unwrap_or(path));
    let mut sr = StanzaReader::default();
    let mut buf = Vec::with_capacity(256);
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| format!("{path}: {e}"))?;
        if n == 0 {
            break;
        }
        // Only a few ASCII fields matter; skip lines that cannot hold them.
        let first = buf.first().copied().unwrap_or(b'\n');
        if !matches!(first, b'P' | b'A' | b'V' | b'\n' | b'\r') {
            continue;
        }
        let line = String::from_utf8_lossy(&buf);
        if let Some(s) = sr.feed(&line) {
            c.add(s, security, inv);
        }
    }
    if let Some(s) = sr.finish() {
        c.add(s, security, inv);
    }
    Ok(())
}

fn mtime(root: &HostRoot, path: &str) -> Option<DateTime<Utc>> {
    root.metadata(path)
        .ok()
        .flatten()
        .and_then(|m| from_mtime(m.mtime))
}

/// Every configured apt source: sources.list, sources.list.d/*.list and *.sources.
fn read_apt_sources(root: &HostRoot) -> Vec<apt_sources::AptSource> {
    let mut out = Vec::new();
    if let Ok(Some(t)) = root.read_to_string("/etc/apt/sources.list") {
        out.extend(apt_sources::parse_sources_list(&t));
    }
    for p in root
        .glob("/etc/apt/sources.list.d/*.list")
        .unwrap_or_default()
    {
        if let Ok(Some(t)) = root.read_to_string(&p) {
            out.extend(apt_sources::parse_sources_list(&t));
        }
    }
    for p in root
        .glob("/etc/apt/sources.list.d/*.sources")
        .unwrap_or_default()
    {
        if let Ok(Some(t)) = root.read_to_string(&p) {
            out.extend(apt_sources::parse_deb822_sources(&t));
        }
    }
    out
}

fn collect_dpkg(root: &HostRoot, status: &str, facts: &mut PackagesFacts) -> UpdateTimes {
    let inv = parse_dpkg_status(status);
    let lists = root
        .glob("/var/lib/apt/lists/*_Packages")
        .unwrap_or_default();
    let sources = read_apt_sources(root);
    facts.apt_sources = sources
        .iter()
        .map(apt_sources::AptSource::describe)
        .collect();
    facts.security_source_configured =
        Some(sources.iter().any(apt_sources::AptSource::is_security));
    let (lists, unreferenced): (Vec<String>, Vec<String>) = lists
        .into_iter()
        .filter(|p| !is_ignored_list(p.rsplit('/').next().unwrap_or(p)))
        .partition(|p| apt_sources::referenced(p.rsplit('/').next().unwrap_or(p), &sources));
    facts.unreferenced_lists = unreferenced;
    let mut cand = Candidates::default();
    let mut errors = Vec::new();
    for p in &lists {
        if let Err(e) = stream_list(root, p, &mut cand, &inv) {
            errors.push(e);
        }
    }
    let read = lists.len() - errors.len();
    facts.package_list_count = read;
    if read > 0 {
        apply_dpkg(facts, &inv, Some(&cand));
        if !errors.is_empty() {
            facts.updates_note = format!("some lists could not be read: {}", errors.join("; "));
        }
    } else {
        apply_dpkg(facts, &inv, None);
        let compressed = root
            .glob("/var/lib/apt/lists/*_Packages.*")
            .unwrap_or_default();
        facts.updates_note = if !errors.is_empty() {
            errors.join("; ")
        } else if !facts.unreferenced_lists.is_empty() {
            "no configured apt source references the downloaded package lists".into()
        } else if !compressed.is_empty() {
            "apt lists are compressed (Acquire::GzipIndexes); not read".into()
        } else {
            "no apt package lists under /var/lib/apt/lists (apt update never ran or lists were removed)".into()
        };
    }
    // Unattended upgrades.
    let mut conf = BTreeMap::new();
    if let Ok(Some(t)) = root.read_to_string("/etc/apt/apt.conf") {
        parse_apt_conf(&t, &mut conf);
    }
    for p in root.glob("/etc/apt/apt.conf.d/*").unwrap_or_default() {
        let name = p.rsplit('/').next().unwrap_or("");
        let valid = name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            && (!name.contains('.') || name.ends_with(".conf"));
        if !valid {
            continue;
        }
        if let Ok(Some(t)) = root.read_to_string(&p) {
            parse_apt_conf(&t, &mut conf);
        }
    }
    facts.unattended_upgrades_enabled =
        facts.auto_updates_installed && apt_unattended_enabled(&conf);
    // Times.
    let mut times = UpdateTimes::default();
    if let Ok(Some(t)) = root.read_to_string("/var/log/apt/history.log") {
        if let Some(t) = parse_apt_history(&t) {
            times.upgrades.push((t, "apt-history"));
        }
    }
    if let Some(t) = mtime(root, "/var/lib/apt/periodic/upgrade-stamp") {
        times.upgrades.push((t, "apt-upgrade-stamp"));
    }
    times.fallback = mtime(root, "/var/log/dpkg.log").map(|t| (t, "dpkg-log"));
    times.lists_refreshed = mtime(root, "/var/lib/apt/periodic/update-success-stamp")
        .or_else(|| lists.iter().filter_map(|p| mtime(root, p)).max());
    // Reboot flag: /var/run is a link to /run; an image's /run is normally empty.
    let flag = root.exists("/run/reboot-required") || root.exists("/var/run/reboot-required");
    facts.reboot_required_collected = root.is_live() || flag;
    facts.reboot_required = flag;
    if flag {
        let pkgs = root
            .read_to_string("/run/reboot-required.pkgs")
            .ok()
            .flatten()
            .or_else(|| {
                root.read_to_string("/var/run/reboot-required.pkgs")
                    .ok()
                    .flatten()
            })
            .unwrap_or_default();
        facts.reboot_required_packages = pkgs
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
    }
    times
}

/// One installed package, from its rpm header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpmPackage {
    /// `NAME` (tag 1000).
    pub name: String,
    /// `EPOCH` (tag 1003), when set.
    pub epoch: Option<u32>,
    /// `VERSION` (tag 1001).
    pub version: String,
    /// `RELEASE` (tag 1002).
    pub release: String,
    /// `ARCH` (tag 1022); absent for `gpg-pubkey` pseudo-packages.
    pub arch: Option<String>,
    /// `INSTALLTIME` (tag 1008), Unix seconds.
    pub install_time: Option<i64>,
}

/// Why an rpm header blob could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RpmHeaderError {
    #[error("rpm header: {0}")]
    Malformed(&'static str),
    #[error("rpm header: no {0} tag")]
    Missing(&'static str),
}

const RPMTAG_NAME: u32 = 1000;
const RPMTAG_VERSION: u32 = 1001;
const RPMTAG_RELEASE: u32 = 1002;
const RPMTAG_EPOCH: u32 = 1003;
const RPMTAG_INSTALLTIME: u32 = 1008;
const RPMTAG_ARCH: u32 = 1022;
const RPM_INT32_TYPE: u32 = 4;
const RPM_STRING_TYPE: u32 = 6;
const RPM_I18NSTRING_TYPE: u32 = 9;

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// Parse an rpm header blob as the rpm database stores it (no lead, no
/// magic): index length and data length (big-endian), then 16-byte index
/// entries (tag, type, offset, count), then the data. Only the tags above
/// are read; any inconsistency is an error, never a panic.
pub fn parse_rpm_header(blob: &[u8]) -> Result<RpmPackage, RpmHeaderError> {
    let il = be32(blob, 0).ok_or(RpmHeaderError::Malformed("truncated"))? as usize;
    let dl = be32(blob, 4).ok_or(RpmHeaderError::Malformed("truncated"))? as usize;
    let index_len = il
        .checked_mul(16)
        .ok_or(RpmHeaderError::Malformed("index too large"))?;
    let data_start = index_len
        .checked_add(8)
        .ok_or(RpmHeaderError::Malformed("index too large"))?;
    let data = blob
        .get(data_start..)
        .and_then(|d| d.get(..dl))
        .ok_or(RpmHeaderError::Malformed("data shorter than declared"))?;
    let mut name = None;
    let mut version = None;
    let mut release = None;
    let mut arch = None;
    let mut epoch = None;
    let mut install_time = None;
    for i in 0..il {
        let at = 8 + i * 16;
        let (Some(tag), Some(ty), Some(offset), Some(count)) = (
            be32(blob, at),
            be32(blob, at + 4),
            be32(blob, at + 8),
            be32(blob, at + 12),
        ) else {
            return Err(RpmHeaderError::Malformed("truncated index"));
        };
        let offset = offset as usize;
        let string = || -> Result<String, RpmHeaderError> {
            if ty != RPM_STRING_TYPE && ty != RPM_I18NSTRING_TYPE {
                return Err(RpmHeaderError::Malformed("string tag of another type"));
            }
            let rest = data
                .get(offset..)
                .ok_or(RpmHeaderError::Malformed("offset out of range"))?;
            let end = rest
                .iter()
                .position(|b| *b == 0)
                .ok_or(RpmHeaderError::Malformed("unterminated string"))?;
            Ok(String::from_utf8_lossy(rest.get(..end).unwrap_or_default()).into_owned())
        };
        let int32 = || -> Result<u32, RpmHeaderError> {
            if ty != RPM_INT32_TYPE || count < 1 {
                return Err(RpmHeaderError::Malformed("int32 tag of another type"));
            }
            be32(data, offset).ok_or(RpmHeaderError::Malformed("offset out of range"))
        };
        match tag {
            RPMTAG_NAME => name = Some(string()?),
            RPMTAG_VERSION => version = Some(string()?),
            RPMTAG_RELEASE => release = Some(string()?),
            RPMTAG_ARCH => arch = Some(string()?),
            RPMTAG_EPOCH => epoch = Some(int32()?),
            RPMTAG_INSTALLTIME => install_time = Some(i64::from(int32()?)),
            _ => {}
        }
    }
    Ok(RpmPackage {
        name: name.ok_or(RpmHeaderError::Missing("NAME"))?,
        epoch,
        version: version.ok_or(RpmHeaderError::Missing("VERSION"))?,
        release: release.ok_or(RpmHeaderError::Missing("RELEASE"))?,
        arch,
        install_time,
    })
}

/// An rpm database's path (as shown in messages) and its header blobs.
type RpmDb = (String, Vec<Vec<u8>>);

/// The rpm header blobs of `rpmdb.sqlite` under the root. `Ok(None)` when
/// there is no SQLite database.
fn read_rpmdb(root: &HostRoot) -> Result<Option<RpmDb>, String> {
    for dir in ["/var/lib/rpm", "/usr/lib/sysimage/rpm"] {
        let host_path = format!("{dir}/rpmdb.sqlite");
        let path = root.resolve(&host_path).map_err(|e| e.to_string())?;
        if !path.is_file() {
            continue;
        }
        // immutable=1: no locks, no -wal/-shm files, nothing written (the
        // agent runs on a read-only view of /var).
        let mut uri = String::from("file:");
        for c in path.to_string_lossy().chars() {
            match c {
                '%' => uri.push_str("%25"),
                '?' => uri.push_str("%3f"),
                '#' => uri.push_str("%23"),
                c => uri.push(c),
            }
        }
        uri.push_str("?immutable=1");
        use rusqlite::OpenFlags;
        let shown = root.display_path(&host_path).display().to_string();
        let err = |e: rusqlite::Error| format!("{shown}: {e}");
        let db = rusqlite::Connection::open_with_flags(
            &uri,
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_URI
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(err)?;
        let mut stmt = db
            .prepare("SELECT blob FROM Packages ORDER BY hnum")
            .map_err(err)?;
        let rows = stmt
            .query_map([], |r| r.get::<_, Vec<u8>>(0))
            .map_err(err)?;
        let mut blobs = Vec::new();
        for r in rows {
            blobs.push(r.map_err(err)?);
        }
        return Ok(Some((shown, blobs)));
    }
    Ok(None)
}

/// Fill the inventory from rpm header blobs; returns the newest install time.
pub fn apply_rpm_inventory(
    facts: &mut PackagesFacts,
    blobs: &[Vec<u8>],
) -> (Option<DateTime<Utc>>, usize) {
    let mut names = BTreeSet::new();
    let mut newest = None;
    let mut bad = 0;
    for b in blobs {
        match parse_rpm_header(b) {
            Ok(p) => {
                if let Some(t) = p.install_time.and_then(|s| DateTime::from_timestamp(s, 0)) {
                    newest = newest.max(Some(t));
                }
                names.insert(p.name);
            }
            Err(_) => bad += 1,
        }
    }
    facts.installed_count = names.len();
    facts.installed_names = names.into_iter().collect();
    facts.inventory_collected = true;
    (newest, bad)
}

fn collect_rpm(root: &HostRoot, facts: &mut PackagesFacts) -> UpdateTimes {
    facts.manager = "rpm".into();
    let mut times = UpdateTimes::default();
    match read_rpmdb(root) {
        Ok(Some((shown, blobs))) => {
            let (newest, bad) = apply_rpm_inventory(facts, &blobs);
            if bad > 0 {
                facts.inventory_note =
                    format!("{shown}: {bad} unreadable package header(s) skipped");
            }
            if let Some(t) = newest {
                times.upgrades.push((t, "rpmdb"));
            }
        }
        Ok(None) => {
            facts.inventory_note =
                "no rpmdb.sqlite: a Berkeley DB rpm database (RHEL 8 and older) is not read".into();
        }
        Err(e) => facts.inventory_note = e,
    }
    facts.updates_note = "pending updates need dnf repository metadata".into();
    let conf = root
        .read_to_string("/etc/dnf/automatic.conf")
        .ok()
        .flatten();
    let installed = conf.is_some() || root.exists("/usr/lib/systemd/system/dnf-automatic.timer");
    if installed {
        facts.auto_updates_tool = "dnf-automatic".into();
        facts.auto_updates_installed = true;
        let wants = "/etc/systemd/system/timers.target.wants";
        let apply = conf.as_deref().is_some_and(parse_dnf_automatic);
        let timer = root.exists(&format!("{wants}/dnf-automatic.timer"));
        let install_timer = root.exists(&format!("{wants}/dnf-automatic-install.timer"));
        facts.unattended_upgrades_enabled = (timer && apply) || install_timer;
    }
    if let Ok(Some(t)) = root.read_to_string("/var/log/dnf.rpm.log") {
        if let Some(t) = parse_dnf_rpm_log(&t) {
            times.upgrades.push((t, "dnf-rpm-log"));
        }
    }
    times.lists_refreshed = mtime(root, "/var/cache/dnf/last_makecache")
        .or_else(|| mtime(root, "/var/lib/dnf/last_makecache"));
    times
}

/// Collect under `root` with the clock as `now`.
pub fn collect(root: &HostRoot) -> Outcome {
    collect_at(root, Utc::now())
}

/// Collect under `root`, computing ages against `now`.
pub fn collect_at(root: &HostRoot, now: DateTime<Utc>) -> Outcome {
    let mut facts = PackagesFacts::default();
    let times = match root.read_to_string("/var/lib/dpkg/status") {
        Ok(Some(status)) => collect_dpkg(root, &status, &mut facts),
        Err(e) => return Outcome::Error(e.to_string()),
        Ok(None) => {
            let rpm = ["/var/lib/rpm", "/usr/lib/sysimage/rpm"]
                .iter()
                .any(|p| root.exists(p));
            if !rpm {
                return Outcome::Unsupported(
                    "no dpkg status database and no rpm database under the root".into(),
                );
            }
            collect_rpm(root, &mut facts)
        }
    };
    apply_times(&mut facts, &times, now);
    Outcome::from_facts(&facts)
}

/// Feed `input` to every parser (for cargo-fuzz); never panics.
pub fn fuzz_parse(input: &str) {
    for s in apt_sources::parse_sources_list(input)
        .into_iter()
        .chain(apt_sources::parse_deb822_sources(input))
    {
        let _ = apt_sources::referenced(input, &[s]);
    }
    let inv = parse_dpkg_status(input);
    let mut c = Candidates::default();
    add_packages_list(&mut c, "fuzz_security_Packages", input, &inv);
    let _ = pending_updates(&inv, &c);
    let _ = parse_apt_history(input);
    let _ = parse_dnf_rpm_log(input);
    let mut conf = BTreeMap::new();
    parse_apt_conf(input, &mut conf);
    let _ = apt_unattended_enabled(&conf);
    let _ = parse_dnf_automatic(input);
    for line in input.lines() {
        let _ = compare_versions(line, input);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::fs;

    fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
        fs::create_dir_all(to).unwrap();
        for e in fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            let dest = to.join(e.file_name());
            if e.file_type().unwrap().is_dir() {
                copy_dir(&e.path(), &dest);
            } else {
                fs::copy(e.path(), &dest).unwrap();
            }
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-15T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn fixture(name: &str) -> HostRoot {
        HostRoot::offline(format!(
            "{}/tests/fixtures/packages/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
    }

    fn run(name: &str) -> Value {
        match collect_at(&fixture(name), now()) {
            Outcome::Ok(v) => v,
            other => panic!("{name}: {other:?}"),
        }
    }

    fn strings(v: &Value) -> Vec<&str> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect()
    }

    #[test]
    fn debian_version_ordering() {
        use Ordering::*;
        let cases = [
            ("1.0", "1.0", Equal),
            ("1.0-1", "1.0-2", Less),
            ("1:1.0", "2.0", Greater),
            ("1.0~rc1", "1.0", Less),
            ("1.0~~", "1.0~", Less),
            ("1.0", "1.0+b1", Less),
            ("1.0a", "1.0", Greater),
            ("1.0.1", "1.0a", Greater),
            ("3.0.19-1~deb12u2", "3.0.22-1~deb12u2", Less),
            ("2.36-9+deb12u14", "2.36-9+deb12u7", Greater),
            ("1:9.2p1-2+deb12u10", "1:9.2p1-2+deb12u9", Greater),
            ("1:9.6p1-1~bpo12+1", "1:9.2p1-2+deb12u10", Greater),
            ("2025b-0+deb12u2", "2026f-0+deb12u1", Less),
            ("0.17+2.4-2+deb12u3", "0.17+2.4-2+deb12u3", Equal),
            ("007", "7", Equal),
            ("1.2-3-4", "1.2-3-5", Less),
            ("1.0-", "1.0", Equal),
            ("", "0", Equal),
            ("a:1", "1", Greater),
        ];
        for (a, b, want) in cases {
            assert_eq!(compare_versions(a, b), want, "{a} vs {b}");
            assert_eq!(compare_versions(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn hardened_debian12_is_up_to_date() {
        let v = run("debian12");
        assert_eq!(v["manager"], "dpkg");
        assert_eq!(v["inventory_collected"], true);
        let names = strings(&v["installed_names"]);
        // 39 installed paragraphs, zlib1g twice (amd64 + i386), exim4-config only config-files.
        assert_eq!(v["installed_count"], 38);
        assert_eq!(names.len(), 38);
        assert!(names.contains(&"sudo")); // hold ok installed
        assert!(names.contains(&"unattended-upgrades"));
        assert!(!names.contains(&"exim4-config"));
        assert!(strings(&v["partially_installed"]).is_empty());
        assert_eq!(v["updates_collected"], true);
        // the backports list (newer openssh-client) is ignored
        assert_eq!(v["package_list_count"], 3);
        assert_eq!(v["pending_updates"], 0, "{:?}", v["pending_update_names"]);
        assert_eq!(v["pending_security_updates"], 0);
        assert_eq!(v["last_update"], "2026-01-12T06:25:20Z");
        assert_eq!(v["last_update_age_days"], 2);
        assert_eq!(v["last_update_source"], "apt-history");
        assert_eq!(v["auto_updates_tool"], "unattended-upgrades");
        assert_eq!(v["unattended_upgrades_enabled"], true);
        assert_eq!(v["reboot_required_collected"], false);
        assert_eq!(v["reboot_required"], false);
    }

    #[test]
    fn lists_of_unconfigured_sources_are_not_counted_and_no_security_source_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let fx = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/packages/debian12-weak");
        copy_dir(&fx, dir.path());
        // only the main archive is configured: the security list is stale
        fs::write(
            dir.path().join("etc/apt/sources.list.d/debian.sources"),
            "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\n",
        )
        .unwrap();
        let Outcome::Ok(v) = collect_at(&HostRoot::offline(dir.path()), now()) else {
            panic!()
        };
        assert_eq!(v["security_source_configured"], false);
        assert_eq!(v["pending_security_updates"], 0);
        assert_eq!(v["package_list_count"], 2);
        assert_eq!(
            v["unreferenced_lists"],
            serde_json::json!(["/var/lib/apt/lists/deb.debian.org_debian-security_dists_bookworm-security_main_binary-amd64_Packages"])
        );
        // the fixture as shipped (security source configured) counts it
        let Outcome::Ok(v) = collect_at(&HostRoot::offline(&fx), now()) else {
            panic!()
        };
        assert_eq!(v["security_source_configured"], true);
        assert_eq!(v["pending_security_updates"], 8);
    }

    #[test]
    fn weak_debian12_has_pending_security_updates() {
        let v = run("debian12-weak");
        let names = strings(&v["installed_names"]);
        for legacy in ["telnetd", "rsh-server", "tftpd-hpa"] {
            assert!(names.contains(&legacy), "{legacy}");
        }
        assert_eq!(strings(&v["partially_installed"]), ["nis"]);
        assert_eq!(
            strings(&v["pending_security_update_names"]),
            [
                "apt",
                "ca-certificates",
                "libexpat1",
                "libgnutls30",
                "libssl3",
                "openssl",
                "python3.11",
                "tzdata"
            ]
        );
        assert_eq!(v["pending_security_updates"], 8);
        let pending = strings(&v["pending_update_names"]);
        for n in [
            "systemd",
            "libpam-modules",
            "base-files",
            "libxml2",
            "openssh-server",
            "dpkg",
        ] {
            assert!(pending.contains(&n), "{n}");
        }
        assert!(!pending.contains(&"zlib1g"));
        assert_eq!(v["pending_updates"], pending.len());
        assert_eq!(v["last_update"], "2025-06-24T14:36:25Z");
        assert_eq!(v["last_update_age_days"], 204);
        assert_eq!(v["auto_updates_installed"], false);
        assert_eq!(v["unattended_upgrades_enabled"], false);
        assert_eq!(v["reboot_required_collected"], true);
        assert_eq!(v["reboot_required"], true);
        assert_eq!(
            strings(&v["reboot_required_packages"]),
            ["libc6", "linux-image-6.1.0-28-amd64"]
        );
    }

    /// The real rpm database written by rpm 4.18 (8 packages, one of them
    /// twice, one with an epoch) gives what `rpm -qa` printed for it.
    #[test]
    fn rhel9_rpmdb_matches_rpm_qa() {
        let fixtures =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/packages");
        let expected = std::fs::read_to_string(fixtures.join("rhel9-rpmdb.rpm-qa.tsv")).unwrap();
        let mut want: Vec<String> = expected
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(str::to_string)
            .collect();
        want.sort();
        let root = HostRoot::offline(fixtures.join("rhel9-rpmdb"));
        let (_, blobs) = read_rpmdb(&root).unwrap().unwrap();
        let mut got: Vec<String> = blobs
            .iter()
            .map(|b| {
                let p = parse_rpm_header(b).unwrap();
                format!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    p.name,
                    p.epoch.unwrap_or(0),
                    p.version,
                    p.release,
                    p.arch.unwrap_or_default(),
                    p.install_time.unwrap()
                )
            })
            .collect();
        got.sort();
        assert_eq!(got, want);
        assert_eq!(want.len(), 8);

        let v = run("rhel9-rpmdb");
        assert_eq!(v["manager"], "rpm");
        assert_eq!(v["inventory_collected"], true);
        assert_eq!(v["inventory_note"], "");
        assert_eq!(v["installed_count"], 7);
        assert_eq!(
            strings(&v["installed_names"]),
            [
                "aide",
                "chrony",
                "dnf-automatic",
                "kernel",
                "openssh-server",
                "rsyslog",
                "telnet-server"
            ]
        );
        // The newest install time (2026-11-25) is newer than dnf.rpm.log's.
        assert_eq!(v["last_update_source"], "rpmdb");
        assert_eq!(v["last_update"], "2026-11-25T04:28:13Z");
        // The database was opened immutable: nothing was written beside it.
        let dir = fixtures.join("rhel9-rpmdb/var/lib/rpm");
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, [".rpm.lock", "rpmdb.sqlite"]);
    }

    #[test]
    fn rpm_headers_that_lie_are_errors() {
        let fixtures =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/packages");
        let root = HostRoot::offline(fixtures.join("rhel9-rpmdb"));
        let (_, blobs) = read_rpmdb(&root).unwrap().unwrap();
        let good = &blobs[0];
        assert!(parse_rpm_header(good).is_ok());
        // Every truncation is an error, not a panic.
        for n in 0..good.len() {
            assert!(parse_rpm_header(&good[..n]).is_err(), "truncated at {n}");
        }
        // An index count far beyond the data.
        let mut big = good.clone();
        big[..4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(parse_rpm_header(&big).is_err());
        // A string offset past the data area.
        let mut off = good.clone();
        let il = u32::from_be_bytes([good[0], good[1], good[2], good[3]]) as usize;
        for i in 0..il {
            let at = 8 + i * 16;
            if u32::from_be_bytes(off[at..at + 4].try_into().unwrap()) == RPMTAG_NAME {
                off[at + 8..at + 12].copy_from_slice(&u32::MAX.to_be_bytes());
            }
        }
        assert_eq!(
            parse_rpm_header(&off),
            Err(RpmHeaderError::Malformed("offset out of range"))
        );
        // Unreadable headers are counted, the rest is kept.
        let mut facts = PackagesFacts::default();
        let (_, bad) = apply_rpm_inventory(&mut facts, &[good.clone(), vec![0, 1, 2]]);
        assert_eq!(bad, 1);
        assert_eq!(facts.installed_count, 1);
    }

    #[test]
    fn rhel9_reports_rpm_without_inventory() {
        let v = run("rhel9");
        assert_eq!(v["manager"], "rpm");
        assert_eq!(v["inventory_collected"], false);
        assert!(v["inventory_note"]
            .as_str()
            .unwrap()
            .contains("Berkeley DB"));
        assert_eq!(v["updates_collected"], false);
        assert_eq!(v["installed_count"], 0);
        assert_eq!(v["last_update"], "2026-01-10T03:11:59Z");
        assert_eq!(v["last_update_source"], "dnf-rpm-log");
        assert_eq!(v["auto_updates_tool"], "dnf-automatic");
        assert_eq!(v["unattended_upgrades_enabled"], true);
        assert_eq!(v["lists_refreshed"], Value::Null);
    }

    #[test]
    fn mtimes_are_fallbacks_and_lists_may_be_missing() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        fs::create_dir_all(r.join("var/lib/dpkg")).unwrap();
        fs::create_dir_all(r.join("var/log")).unwrap();
        fs::create_dir_all(r.join("var/lib/apt/periodic")).unwrap();
        fs::create_dir_all(r.join("var/lib/apt/lists")).unwrap();
        fs::write(
            r.join("var/lib/dpkg/status"),
            "Package: bash\r\nStatus: install ok installed\r\nArchitecture: amd64\r\nVersion: 5.2.15-2+b8\r\nDescription: x\r\n y\r\n",
        )
        .unwrap();
        fs::write(r.join("var/lib/apt/lists/x_Packages.lz4"), "").unwrap();
        let set = |p: &str, secs: i64| {
            let f = fs::File::create(r.join(p)).unwrap();
            f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs as u64))
                .unwrap();
        };
        set("var/log/dpkg.log", 1_767_225_600); // 2026-01-01
        set("var/lib/apt/periodic/update-success-stamp", 1_767_312_000); // 2026-01-02
        let Outcome::Ok(v) = collect_at(&HostRoot::offline(r), now()) else {
            panic!()
        };
        assert_eq!(v["installed_names"], serde_json::json!(["bash"]));
        assert_eq!(v["updates_collected"], false);
        assert!(v["updates_note"].as_str().unwrap().contains("compressed"));
        assert_eq!(v["last_update"], "2026-01-01T00:00:00Z");
        assert_eq!(v["last_update_source"], "dpkg-log");
        assert_eq!(v["last_update_age_days"], 14);
        assert_eq!(v["lists_refreshed_age_days"], 13);
        set("var/lib/apt/periodic/upgrade-stamp", 1_767_398_400); // 2026-01-03
        let Outcome::Ok(v) = collect_at(&HostRoot::offline(r), now()) else {
            panic!()
        };
        assert_eq!(v["last_update_source"], "apt-upgrade-stamp");
    }

    #[test]
    fn empty_root_is_unsupported_and_garbage_does_not_panic() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            collect_at(&HostRoot::offline(dir.path()), now()),
            Outcome::Unsupported(_)
        ));
        for input in [
            "",
            "Package:",
            "Package: a\nStatus: install ok installed\nVersion: 1:\n\nPackage: a\nVersion: ~~~:-",
            "Start-Date: 9999-99-99  99:99:99\nUpgrade: x\nEnd-Date:",
            "APT { { } } }; \"x\" ; ;",
            "[commands]\napply_updates",
            "0:0-0-",
        ] {
            fuzz_parse(input);
        }
    }

    #[test]
    fn apt_conf_scoping() {
        let mut c = BTreeMap::new();
        parse_apt_conf(
            "APT::Periodic { Enable \"1\"; Unattended-Upgrade \"1\"; };\n# c\nAPT::Periodic::Unattended-Upgrade \"7\"; // days\n",
            &mut c,
        );
        assert_eq!(c["apt::periodic::unattended-upgrade"], "7");
        assert!(apt_unattended_enabled(&c));
        c.insert("apt::periodic::enable".into(), "0".into());
        assert!(!apt_unattended_enabled(&c));
    }
}
