//! Probe `time`: which clock-synchronisation daemon is configured and enabled,
//! its time sources, the sync state (live only) and the time zone.
//!
//! Reads:
//! - chrony: `/etc/chrony/chrony.conf` (Debian/Ubuntu) or `/etc/chrony.conf`
//!   (RHEL family), plus `confdir` (`*.conf`), `sourcedir` (`*.sources`) and
//!   `include` files it names (directories under `/run` only on a live system);
//! - systemd-timesyncd: `/etc/systemd/timesyncd.conf` and drop-ins in
//!   `/{etc,run,usr/lib}/systemd/timesyncd.conf.d/*.conf` (`NTP=`, `FallbackNTP=`);
//! - ntpd / ntpsec: `/etc/ntp.conf`, `/etc/ntpsec/ntp.conf` (`server`, `pool`, `peer`);
//! - whether each daemon is enabled: a unit link in `/etc/systemd/system/*.wants/`
//!   (`chrony.service`, `chronyd.service`, `systemd-timesyncd.service`,
//!   `ntp.service`, `ntpd.service`, `ntpsec.service`) and not masked;
//! - sync state, only on a live system: `/run/systemd/timesync/synchronized`
//!   for timesyncd; chrony and ntpd keep no such file, so their state is
//!   reported as unknown (`synchronized: null`) rather than guessed;
//! - time zone: `/etc/timezone`, else the target of the `/etc/localtime` link.
//!
//! Never runs `chronyc`, `timedatectl` or `ntpq`.

use super::common::reader::Reader;
use super::common::systemd::enabled_units;
use super::Outcome;
use crate::hostroot::HostRoot;
use serde::Serialize;
use std::collections::BTreeMap;

/// The probe's schema: id, version, controls and every field (in core).
pub use evident_core::schema::probes::time::SCHEMA;

/// Everything the probe reports.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TimeFacts {
    /// chrony | timesyncd | ntpd | none.
    pub active_daemon: String,
    /// Active daemon enabled.
    pub daemon_enabled: bool,
    /// Active daemon's sources.
    pub servers: Vec<String>,
    /// timesyncd with built-in servers.
    pub uses_builtin_servers: bool,
    /// Sync state (None = unknown).
    pub synchronized: Option<bool>,
    /// Whether sync state was observed.
    pub sync_status_collected: bool,
    /// Time zone.
    pub timezone: String,
    /// chrony.
    pub chrony: ChronyFacts,
    /// timesyncd.
    pub timesyncd: TimesyncdFacts,
    /// ntpd.
    pub ntpd: NtpdFacts,
    /// Unreadable files.
    pub unreadable: Vec<String>,
}

/// chrony configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ChronyFacts {
    /// Config exists.
    pub installed: bool,
    /// Unit enabled.
    pub enabled: bool,
    /// Main config file.
    pub config_file: String,
    /// `server` hosts.
    pub servers: Vec<String>,
    /// `pool` hosts.
    pub pools: Vec<String>,
    /// `peer` hosts.
    pub peers: Vec<String>,
    /// `makestep` present.
    pub makestep: bool,
    /// `rtcsync` present.
    pub rtcsync: bool,
}

/// Directives of one chrony file that name more files.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChronyIncludes {
    /// `confdir` directories (`*.conf`).
    pub confdirs: Vec<String>,
    /// `sourcedir` directories (`*.sources`).
    pub sourcedirs: Vec<String>,
    /// `include` patterns.
    pub includes: Vec<String>,
}

/// timesyncd configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TimesyncdFacts {
    /// Installed.
    pub installed: bool,
    /// Unit enabled.
    pub enabled: bool,
    /// NTP=.
    pub ntp: Vec<String>,
    /// FallbackNTP=.
    pub fallback_ntp: Vec<String>,
}

/// ntpd configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NtpdFacts {
    /// Config exists.
    pub installed: bool,
    /// Unit enabled.
    pub enabled: bool,
    /// Config file.
    pub config_file: String,
    /// `server`/`peer` hosts.
    pub servers: Vec<String>,
    /// `pool` hosts.
    pub pools: Vec<String>,
}

/// Parse one chrony file into `facts`, returning the files it includes.
/// `sources_only` restricts to `server`/`pool`/`peer` (for `*.sources` files).
pub fn parse_chrony(text: &str, facts: &mut ChronyFacts, sources_only: bool) -> ChronyIncludes {
    let mut inc = ChronyIncludes::default();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with(['#', '!', ';', '%']) {
            continue;
        }
        let mut it = line.split_whitespace();
        let Some(dir) = it.next().map(str::to_ascii_lowercase) else {
            continue;
        };
        let arg = it.next().map(str::to_string);
        match (dir.as_str(), arg) {
            ("server", Some(h)) => push_unique(&mut facts.servers, h),
            ("pool", Some(h)) => push_unique(&mut facts.pools, h),
            ("peer", Some(h)) => push_unique(&mut facts.peers, h),
            _ if sources_only => {}
            ("makestep", _) => facts.makestep = true,
            ("rtcsync", _) => facts.rtcsync = true,
            ("confdir", Some(d)) => {
                inc.confdirs.push(d);
                inc.confdirs.extend(it.map(str::to_string));
            }
            ("sourcedir", Some(d)) => {
                inc.sourcedirs.push(d);
                inc.sourcedirs.extend(it.map(str::to_string));
            }
            ("include", Some(p)) => inc.includes.push(p),
            _ => {}
        }
    }
    inc
}

fn push_unique(v: &mut Vec<String>, s: String) {
    if !v.contains(&s) {
        v.push(s);
    }
}

/// Parse timesyncd.conf-style files in order (later files win; an empty
/// assignment resets the list).
pub fn parse_timesyncd(texts: &[&str]) -> TimesyncdFacts {
    let mut f = TimesyncdFacts::default();
    for text in texts {
        let mut in_time = true;
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with(['#', ';']) {
                continue;
            }
            if line.starts_with('[') {
                in_time = line.eq_ignore_ascii_case("[time]");
                continue;
            }
            let (true, Some((k, v))) = (in_time, line.split_once('=')) else {
                continue;
            };
            let list: Vec<String> = v.split_whitespace().map(str::to_string).collect();
            match k.trim() {
                "NTP" => f.ntp = list,
                "FallbackNTP" => f.fallback_ntp = list,
                _ => {}
            }
        }
    }
    f
}

/// Parse an ntp.conf (ntpd classic or ntpsec).
pub fn parse_ntp_conf(text: &str) -> NtpdFacts {
    let mut f = NtpdFacts {
        installed: true,
        ..NtpdFacts::default()
    };
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let mut it = line.split_whitespace();
        match (it.next(), it.next()) {
            (Some("server" | "peer"), Some(h)) => push_unique(&mut f.servers, h.to_string()),
            (Some("pool"), Some(h)) => push_unique(&mut f.pools, h.to_string()),
            _ => {}
        }
    }
    f
}

/// Time zone name from a `/etc/localtime` link target such as
/// `/usr/share/zoneinfo/Europe/Berlin` or `../usr/share/zoneinfo/UTC`.
pub fn zone_from_link(target: &str) -> String {
    let tail = match target.rsplit_once("zoneinfo/") {
        Some((_, t)) => t,
        None => return String::new(),
    };
    tail.strip_prefix("posix/")
        .or_else(|| tail.strip_prefix("right/"))
        .unwrap_or(tail)
        .to_string()
}

/// Collect under `root`.
pub fn collect(root: &HostRoot) -> Outcome {
    Outcome::from_facts(&gather(root, root.is_live()))
}

fn gather(root: &HostRoot, live: bool) -> TimeFacts {
    let mut r = Reader::with_live(root, live);
    let units = enabled_units(root);
    let enabled = |names: &[&str]| units.iter().any(|u| names.contains(&u.as_str()));

    // chrony
    let mut chrony = ChronyFacts::default();
    for path in ["/etc/chrony/chrony.conf", "/etc/chrony.conf"] {
        if let Some(text) = r.read(path) {
            chrony.installed = true;
            chrony.config_file = path.to_string();
            let inc = parse_chrony(&text, &mut chrony, false);
            let mut files: Vec<(String, bool)> = Vec::new();
            for d in &inc.confdirs {
                files.extend(
                    r.glob(&format!("{}/*.conf", d.trim_end_matches('/')))
                        .into_iter()
                        .map(|f| (f, false)),
                );
            }
            for p in &inc.includes {
                files.extend(r.glob(p).into_iter().map(|f| (f, false)));
            }
            for d in &inc.sourcedirs {
                files.extend(
                    r.glob(&format!("{}/*.sources", d.trim_end_matches('/')))
                        .into_iter()
                        .map(|f| (f, true)),
                );
            }
            for (f, sources_only) in files {
                if let Some(t) = r.read(&f) {
                    // One level of nesting is what chrony configs use in practice.
                    let _ = parse_chrony(&t, &mut chrony, sources_only);
                }
            }
            break;
        }
    }
    chrony.enabled = enabled(&["chrony.service", "chronyd.service"]);

    // timesyncd
    let mut texts = Vec::new();
    if let Some(t) = r.read("/etc/systemd/timesyncd.conf") {
        texts.push(t);
    }
    let mut by_name: BTreeMap<String, String> = BTreeMap::new();
    for dir in [
        "/usr/lib/systemd/timesyncd.conf.d",
        "/run/systemd/timesyncd.conf.d",
        "/etc/systemd/timesyncd.conf.d",
    ] {
        for p in r.glob(&format!("{dir}/*.conf")) {
            by_name.insert(p.rsplit('/').next().unwrap_or("").to_string(), p);
        }
    }
    for p in by_name.into_values() {
        if let Some(t) = r.read(&p) {
            texts.push(t);
        }
    }
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let mut timesyncd = parse_timesyncd(&refs);
    timesyncd.installed = !texts.is_empty()
        || root.exists("/usr/lib/systemd/systemd-timesyncd")
        || root.exists("/lib/systemd/systemd-timesyncd");
    timesyncd.enabled = enabled(&["systemd-timesyncd.service"]);

    // ntpd
    let mut ntpd = NtpdFacts::default();
    for path in ["/etc/ntpsec/ntp.conf", "/etc/ntp.conf"] {
        if let Some(t) = r.read(path) {
            ntpd = parse_ntp_conf(&t);
            ntpd.config_file = path.to_string();
            break;
        }
    }
    ntpd.enabled = enabled(&["ntp.service", "ntpd.service", "ntpsec.service"]);

    let mut facts = TimeFacts {
        active_daemon: "none".into(),
        timezone: timezone(root, &mut r),
        ..TimeFacts::default()
    };
    let candidates = [
        ("chrony", chrony.installed, chrony.enabled),
        ("ntpd", ntpd.installed, ntpd.enabled),
        ("timesyncd", timesyncd.installed, timesyncd.enabled),
    ];
    let pick = candidates
        .iter()
        .find(|c| c.2)
        .or_else(|| candidates.iter().find(|c| c.1));
    if let Some((name, _, en)) = pick {
        facts.active_daemon = (*name).to_string();
        facts.daemon_enabled = *en;
        facts.servers = match *name {
            "chrony" => [&chrony.servers[..], &chrony.pools[..], &chrony.peers[..]].concat(),
            "ntpd" => [&ntpd.servers[..], &ntpd.pools[..]].concat(),
            _ => [&timesyncd.ntp[..], &timesyncd.fallback_ntp[..]].concat(),
        };
        facts.uses_builtin_servers = *name == "timesyncd" && facts.servers.is_empty();
        if live && *name == "timesyncd" {
            facts.sync_status_collected = true;
            facts.synchronized = Some(root.exists("/run/systemd/timesync/synchronized"));
        }
    }
    facts.chrony = chrony;
    facts.timesyncd = timesyncd;
    facts.ntpd = ntpd;
    facts.unreadable = r.unreadable;
    facts
}

fn timezone(root: &HostRoot, r: &mut Reader<'_>) -> String {
    if let Some(t) = r.read("/etc/timezone") {
        let z = t
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'));
        if let Some(z) = z {
            return z.to_string();
        }
    }
    let link = root.display_path("/etc/localtime");
    match std::fs::read_link(&link) {
        Ok(target) => zone_from_link(&target.to_string_lossy()),
        Err(_) if root.exists("/etc/localtime") => String::new(),
        Err(_) => "UTC".to_string(),
    }
}

/// Feed `input` to every parser (for cargo-fuzz); must never panic.
pub fn fuzz_parse(input: &str) {
    let mut c = ChronyFacts::default();
    let _ = parse_chrony(input, &mut c, false);
    let _ = parse_chrony(input, &mut c, true);
    let _ = parse_timesyncd(&[input]);
    let _ = parse_ntp_conf(input);
    let _ = zone_from_link(input);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::probes::common::testutil::{field_names, link, tree};

    macro_rules! fx {
        ($p:literal) => {
            include_str!(concat!("../../tests/fixtures/time/", $p))
        };
    }

    /// Debian 12 with chrony enabled, Europe/Berlin, a DHCP source under /run.
    pub(crate) fn debian12_chrony() -> tempfile::TempDir {
        let dir = tree(
            &[
                ("/etc/chrony/chrony.conf", fx!("debian12/chrony.conf")),
                ("/etc/chrony/conf.d/local.conf", fx!("debian12/local.conf")),
                (
                    "/etc/chrony/sources.d/corp.sources",
                    fx!("debian12/corp.sources"),
                ),
                ("/run/chrony-dhcp/eth0.sources", "server 192.0.2.1 iburst\n"),
                ("/usr/share/zoneinfo/Europe/Berlin", "TZif2"),
                ("/lib/systemd/system/chrony.service", "[Unit]\n"),
            ],
            &[],
        );
        link(
            &dir,
            "/lib/systemd/system/chrony.service",
            "/etc/systemd/system/multi-user.target.wants/chrony.service",
        );
        link(
            &dir,
            "/lib/systemd/system/chrony.service",
            "/etc/systemd/system/chronyd.service",
        );
        link(&dir, "/usr/share/zoneinfo/Europe/Berlin", "/etc/localtime");
        dir
    }

    #[test]
    fn debian12_chrony_enabled() {
        let dir = debian12_chrony();
        let f = gather(&HostRoot::offline(dir.path()), false);
        assert!(f.unreadable.is_empty(), "{:?}", f.unreadable);
        assert_eq!(f.active_daemon, "chrony");
        assert!(f.daemon_enabled && f.chrony.installed && f.chrony.makestep && f.chrony.rtcsync);
        assert_eq!(f.chrony.config_file, "/etc/chrony/chrony.conf");
        // The commented pool is ignored; /run is not read offline.
        assert_eq!(
            f.servers,
            vec![
                "ntp1.corp.example",
                "ntp2.corp.example",
                "0.debian.pool.ntp.org"
            ]
        );
        assert_eq!(f.chrony.pools, vec!["0.debian.pool.ntp.org"]);
        assert_eq!(f.synchronized, None);
        assert!(!f.sync_status_collected);
        assert_eq!(f.timezone, "Europe/Berlin");
        assert!(!f.timesyncd.installed && !f.ntpd.installed);
        // Live: /run sources are read, chrony sync state stays unknown.
        let live = gather(&HostRoot::offline(dir.path()), true);
        assert!(live.servers.contains(&"192.0.2.1".to_string()));
        assert_eq!(
            (live.synchronized, live.sync_status_collected),
            (None, false)
        );
    }

    #[test]
    fn rhel9_chrony_installed_but_disabled_and_masked() {
        let dir = tree(
            &[
                ("/etc/chrony.conf", fx!("rhel9/chrony.conf")),
                ("/etc/timezone", "# comment\nAmerica/New_York\n"),
            ],
            &[],
        );
        link(
            &dir,
            "/usr/lib/systemd/system/chronyd.service",
            "/etc/systemd/system/multi-user.target.wants/chronyd.service",
        );
        link(&dir, "/dev/null", "/etc/systemd/system/chronyd.service");
        let f = gather(&HostRoot::offline(dir.path()), false);
        assert_eq!(f.active_daemon, "chrony");
        assert!(!f.daemon_enabled, "masked unit is not enabled");
        assert_eq!(f.servers, vec!["2.rhel.pool.ntp.org"]);
        assert_eq!(f.timezone, "America/New_York");
    }

    #[test]
    fn timesyncd_dropins_and_live_sync_file() {
        let dir = tree(
            &[
                (
                    "/etc/systemd/timesyncd.conf",
                    fx!("debian12/timesyncd.conf"),
                ),
                (
                    "/etc/systemd/timesyncd.conf.d/10-site.conf",
                    fx!("debian12/timesyncd-10-site.conf"),
                ),
                (
                    "/usr/lib/systemd/timesyncd.conf.d/20-override.conf",
                    fx!("debian12/timesyncd-20-override.conf"),
                ),
                ("/run/systemd/timesync/synchronized", ""),
                ("/etc/localtime", "TZif2 copied file"),
            ],
            &[],
        );
        link(
            &dir,
            "/lib/systemd/system/systemd-timesyncd.service",
            "/etc/systemd/system/sysinit.target.wants/systemd-timesyncd.service",
        );
        let f = gather(&HostRoot::offline(dir.path()), false);
        assert_eq!(f.active_daemon, "timesyncd");
        assert!(f.daemon_enabled);
        assert_eq!(f.timesyncd.ntp, vec!["time.cloudflare.com"]);
        assert!(f.timesyncd.fallback_ntp.is_empty());
        assert_eq!((f.synchronized, f.sync_status_collected), (None, false));
        assert_eq!(f.timezone, "");
        let live = gather(&HostRoot::offline(dir.path()), true);
        assert_eq!(
            (live.synchronized, live.sync_status_collected),
            (Some(true), true)
        );
    }

    #[test]
    fn builtin_timesyncd_servers_and_ntpsec() {
        let dir = tree(&[("/usr/lib/systemd/systemd-timesyncd", "ELF")], &[]);
        let f = gather(&HostRoot::offline(dir.path()), true);
        assert_eq!(f.active_daemon, "timesyncd");
        assert!(f.uses_builtin_servers && !f.daemon_enabled);
        assert_eq!(f.synchronized, Some(false));
        assert_eq!(f.timezone, "UTC");
        let n = parse_ntp_conf(fx!("debian12/ntpsec-ntp.conf"));
        assert_eq!(
            n.pools,
            vec!["0.debian.pool.ntp.org", "1.debian.pool.ntp.org"]
        );
        assert_eq!(n.servers, vec!["10.0.0.1"]);
    }

    #[test]
    fn empty_root_reports_none() {
        let dir = tempfile::tempdir().unwrap();
        let Outcome::Ok(v) = collect(&HostRoot::offline(dir.path())) else {
            panic!()
        };
        assert_eq!(v["active_daemon"], "none");
        assert_eq!(v["synchronized"], serde_json::Value::Null);
        let mut names = Vec::new();
        field_names(&v, "", &mut names);
        let dir = debian12_chrony();
        let Outcome::Ok(v) = collect(&HostRoot::offline(dir.path())) else {
            panic!()
        };
        field_names(&v, "", &mut names);
        for n in names {
            assert!(
                SCHEMA.fields.iter().any(|f| f.path == n),
                "undocumented {n}"
            );
        }
    }

    #[test]
    fn zones_and_fuzz() {
        assert_eq!(
            zone_from_link("../usr/share/zoneinfo/posix/Asia/Tokyo"),
            "Asia/Tokyo"
        );
        assert_eq!(zone_from_link("/etc/zoneinfo"), "");
        for s in [
            "",
            "server",
            "confdir",
            "[Time]\nNTP",
            "pool\t",
            "zoneinfo/",
        ] {
            fuzz_parse(s);
        }
    }
}
