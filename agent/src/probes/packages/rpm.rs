//! Collection on rpm hosts: the rpmdb (SQLite) inventory and dnf logs.

use super::auto_updates::parse_dnf_automatic;
use super::history::parse_dnf_rpm_log;
use super::rpm_header::parse_rpm_header;
use super::times::{mtime, UpdateTimes};
use super::PackagesFacts;
use crate::hostroot::HostRoot;
use chrono::{DateTime, Utc};
use std::collections::BTreeSet;

/// An rpm database's path (as shown in messages) and its header blobs.
pub(super) type RpmDb = (String, Vec<Vec<u8>>);

/// The rpm header blobs of `rpmdb.sqlite` under the root. `Ok(None)` when
/// there is no SQLite database.
pub(super) fn read_rpmdb(root: &HostRoot) -> Result<Option<RpmDb>, String> {
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
    let mut inventory = Vec::new();
    for b in blobs {
        match parse_rpm_header(b) {
            Ok(p) => {
                if p.name != "gpg-pubkey" {
                    inventory.push(super::inventory::rpm_inventory_package(&p));
                }
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
    inventory.sort_by(|a, b| (&a.name, &a.arch, &a.version).cmp(&(&b.name, &b.arch, &b.version)));
    facts.inventory = inventory;
    facts.inventory_collected = true;
    (newest, bad)
}

/// Enabled repositories of a `.repo` file with `gpgcheck=0` (packages
/// installed unsigned), by repo id. dnf's default is `gpgcheck=1` on RHEL
/// clones (`/etc/dnf/dnf.conf`), so a repo without the key is checked.
pub(super) fn unsigned_repos(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut section: Option<(String, bool, bool)> = None;
    let mut flush = |sec: &mut Option<(String, bool, bool)>| {
        if let Some((id, enabled, unsigned)) = sec.take() {
            if enabled && unsigned {
                out.push(id);
            }
        }
    };
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(id) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            flush(&mut section);
            section = Some((id.trim().to_string(), true, false));
        } else if let (Some((_, enabled, unsigned)), Some((k, v))) =
            (section.as_mut(), line.split_once('='))
        {
            let off = matches!(v.trim().to_ascii_lowercase().as_str(), "0" | "no" | "false");
            match k.trim() {
                "enabled" => *enabled = !off,
                "gpgcheck" => *unsigned = off,
                _ => {}
            }
        }
    }
    flush(&mut section);
    out
}

pub(super) fn collect_rpm(root: &HostRoot, facts: &mut PackagesFacts) -> UpdateTimes {
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
    for p in root.glob("/etc/yum.repos.d/*.repo").unwrap_or_default() {
        if let Ok(Some(text)) = root.read_to_string(&p) {
            facts.insecure_sources.extend(unsigned_repos(&text));
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probes::packages::rpm_header::{RpmHeaderError, RPMTAG_NAME};

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
    fn repos_without_gpgcheck_are_unsigned() {
        let text = "[baseos]\nname=BaseOS\ngpgcheck=1\n\n[local]\nbaseurl=http://x/\ngpgcheck = 0\n\n[off]\nenabled=0\ngpgcheck=0\n";
        assert_eq!(super::unsigned_repos(text), ["local"]);
    }
}
