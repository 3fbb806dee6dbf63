//! Collection on dpkg hosts: status, apt sources and lists, history and
//! automatic updates.

use super::apt_lists::{is_ignored_list, is_security_list, pending_updates, Candidates};
use super::apt_sources;
use super::auto_updates::{apt_unattended_enabled, parse_apt_conf};
use super::dpkg::{parse_dpkg_status, DpkgInventory};
use super::history::parse_apt_history;
use super::list_cache::{read_list, ListCache};
use super::times::{mtime, UpdateTimes};
use super::PackagesFacts;
use crate::hostroot::HostRoot;
use std::collections::{BTreeMap, BTreeSet};

/// Every configured apt source: sources.list, sources.list.d/*.list and *.sources.
pub(super) fn read_apt_sources(root: &HostRoot) -> Vec<apt_sources::AptSource> {
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

/// Fill inventory and pending-update fields from a dpkg inventory and candidates.
pub fn apply_dpkg(facts: &mut PackagesFacts, inv: &DpkgInventory, cand: Option<&Candidates>) {
    facts.manager = "dpkg".into();
    facts.inventory_collected = true;
    let names: BTreeSet<&String> = inv.installed.keys().map(|(n, _)| n).collect();
    facts.installed_names = names.into_iter().cloned().collect();
    facts.installed_count = facts.installed_names.len();
    facts.partially_installed = inv.partial.iter().cloned().collect();
    facts.inventory = super::inventory::dpkg_inventory(inv);
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

pub(super) fn collect_dpkg(
    root: &HostRoot,
    status: &str,
    facts: &mut PackagesFacts,
) -> UpdateTimes {
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
    facts.insecure_sources = sources
        .iter()
        .filter(|s| s.insecure)
        .map(apt_sources::AptSource::describe)
        .collect();
    let (lists, unreferenced): (Vec<String>, Vec<String>) = lists
        .into_iter()
        .filter(|p| !is_ignored_list(p.rsplit('/').next().unwrap_or(p)))
        .partition(|p| apt_sources::referenced(p.rsplit('/').next().unwrap_or(p), &sources));
    facts.unreferenced_lists = unreferenced;
    let mut cand = Candidates::default();
    let mut errors = Vec::new();
    let mut cache = root.cache_dir().map(|d| ListCache::open(d, root, &inv));
    for p in &lists {
        match read_list(root, p, &inv, cache.as_mut()) {
            Ok(newest) => cand.merge(&newest, is_security_list(p.rsplit('/').next().unwrap_or(p))),
            Err(e) => errors.push(e),
        }
    }
    if let Some(cache) = cache {
        cache.save();
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
