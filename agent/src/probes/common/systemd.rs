//! The one systemd unit reader: unit directories (admin first, `/lib` and
//! `/usr/lib` read once on merged-/usr systems), the units they hold, which
//! are enabled (links in `*.wants/` and `*.requires/`) and which are masked
//! (linked to `/dev/null` in `/etc/systemd/system`: never started, so never
//! enabled). Link targets are read with `read_link` and never followed
//! outside the root. [`UnitTree`] reads every unit directory (vendor presets
//! included); [`enabled_units`] is the narrower view of what the
//! administrator enabled in `/etc/systemd/system`.

use crate::hostroot::HostRoot;
use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::fs;

/// systemd unit directories, in search order (admin first).
pub const UNIT_DIRS: &[&str] = &[
    "/etc/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];

const UNIT_SUFFIXES: &[&str] = &[
    ".service",
    ".socket",
    ".timer",
    ".target",
    ".path",
    ".mount",
    ".automount",
    ".swap",
    ".slice",
    ".scope",
    ".device",
];

/// One entry of a directory listing, with its link target when it is a symlink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// File name.
    pub name: String,
    /// Whether it is a directory (not following links).
    pub is_dir: bool,
    /// `read_link` target when it is a symbolic link.
    pub link: Option<String>,
}

/// The systemd unit tree as read from disk (input of [`UnitTree::build`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitListing {
    /// Entries of each unit directory: (directory, entries).
    pub dirs: Vec<(String, Vec<DirEntry>)>,
    /// Entries of each `*.wants`/`*.requires` directory: (directory, entries).
    pub wants: Vec<(String, Vec<DirEntry>)>,
}

/// Enabled, masked and present units.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitTree {
    /// Whether any unit directory exists.
    pub present: bool,
    /// Unit files present.
    pub unit_files: BTreeSet<String>,
    /// Enabled (wanted/required) units, masked ones removed.
    pub enabled: BTreeSet<String>,
    /// Masked units.
    pub masked: BTreeSet<String>,
    /// Paths that could not be read.
    pub unreadable: Vec<String>,
}

fn has_unit_suffix(name: &str) -> bool {
    UNIT_SUFFIXES
        .iter()
        .any(|s| name.ends_with(s) && name.len() > s.len())
}

impl UnitTree {
    /// Build the tree from listings (pure).
    pub fn build(listing: &UnitListing) -> UnitTree {
        let mut t = UnitTree {
            present: !listing.dirs.is_empty(),
            ..UnitTree::default()
        };
        for (dir, entries) in &listing.dirs {
            for e in entries {
                if e.is_dir || !has_unit_suffix(&e.name) {
                    continue;
                }
                let is_mask = e.link.as_deref() == Some("/dev/null");
                if is_mask && dir == "/etc/systemd/system" {
                    t.masked.insert(e.name.clone());
                } else if !is_mask {
                    t.unit_files.insert(e.name.clone());
                }
            }
        }
        for (_, entries) in &listing.wants {
            for e in entries {
                if !e.is_dir && has_unit_suffix(&e.name) && e.link.as_deref() != Some("/dev/null") {
                    t.enabled.insert(e.name.clone());
                }
            }
        }
        let masked = t.masked.clone();
        t.enabled.retain(|u| !masked.contains(u));
        t
    }

    /// Whether `unit` (full name, e.g. `clamav-daemon.service`) is enabled.
    pub fn is_enabled(&self, unit: &str) -> bool {
        self.enabled.contains(unit)
    }

    /// Whether any enabled unit has one of these base names (suffix and
    /// `@instance` stripped), e.g. `clamd` matches `clamd@scan.service`.
    pub fn any_enabled_base(&self, bases: &[&str]) -> bool {
        self.enabled.iter().any(|u| bases.contains(&unit_base(u)))
    }
}

/// A unit's base name: `rsh@1-10.0.0.1:514.service` → `rsh`, `ssh.socket` → `ssh`.
pub fn unit_base(unit: &str) -> &str {
    let stem = unit.rsplit_once('.').map_or(unit, |(s, _)| s);
    stem.split_once('@').map_or(stem, |(s, _)| s)
}

/// List a directory under the root without following the entries' links.
pub fn list_dir(root: &HostRoot, host_dir: &str) -> Result<Option<Vec<DirEntry>>, String> {
    let Some(names) = root.read_dir(host_dir).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let base = root.resolve(host_dir).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let p = base.join(&name);
        let Ok(meta) = fs::symlink_metadata(&p) else {
            continue;
        };
        let link = if meta.file_type().is_symlink() {
            fs::read_link(&p)
                .ok()
                .map(|t| t.to_string_lossy().into_owned())
        } else {
            None
        };
        out.push(DirEntry {
            name,
            is_dir: meta.is_dir(),
            link,
        });
    }
    Ok(Some(out))
}

/// Read the systemd unit directories under `root`.
pub fn read_unit_listing(root: &HostRoot) -> (UnitListing, Vec<String>) {
    let mut listing = UnitListing::default();
    let mut unreadable = Vec::new();
    let mut seen = BTreeSet::new();
    for dir in UNIT_DIRS {
        // `/lib` → `/usr/lib` on merged-/usr systems: read each real directory once.
        if let Ok(real) = root.resolve(dir) {
            if !seen.insert(real) {
                continue;
            }
        }
        match list_dir(root, dir) {
            Ok(Some(entries)) => {
                for e in &entries {
                    let is_wants = e.name.ends_with(".wants") || e.name.ends_with(".requires");
                    if !is_wants || !e.is_dir {
                        continue;
                    }
                    let sub = format!("{dir}/{}", e.name);
                    match list_dir(root, &sub) {
                        Ok(Some(w)) => listing.wants.push((sub, w)),
                        Ok(None) => {}
                        Err(err) => unreadable.push(err),
                    }
                }
                listing.dirs.push(((*dir).to_string(), entries));
            }
            Ok(None) => {}
            Err(err) => unreadable.push(err),
        }
    }
    (listing, unreadable)
}

/// Read and build the unit tree under `root` (shared with `malware` and `scheduled-jobs`).
pub fn read_unit_tree(root: &HostRoot) -> UnitTree {
    let (listing, unreadable) = read_unit_listing(root);
    let mut t = UnitTree::build(&listing);
    t.unreadable = unreadable;
    t
}

/// Find the file defining `unit` (or its `@` template), first in search order.
pub fn find_unit_file(root: &HostRoot, unit: &str) -> Option<String> {
    let template = match unit.split_once('@') {
        Some((pre, rest)) => rest
            .rsplit_once('.')
            .map(|(_, suffix)| format!("{pre}@.{suffix}")),
        None => None,
    };
    for dir in UNIT_DIRS {
        for name in std::iter::once(unit).chain(template.as_deref()) {
            let p = format!("{dir}/{name}");
            if root
                .metadata(&p)
                .ok()
                .flatten()
                .is_some_and(|m| !m.is_dir && m.size > 0)
            {
                return Some(p);
            }
        }
    }
    None
}

/// Units enabled at boot: names of entries in `/etc/systemd/system/*.wants/`
/// and `*.requires/`, minus units masked in `/etc/systemd/system` (linked to `/dev/null`).
pub fn enabled_units(root: &HostRoot) -> Vec<String> {
    let base = "/etc/systemd/system";
    let Ok(Some(names)) = root.read_dir(base) else {
        return Vec::new();
    };
    let mut units: Vec<String> = Vec::new();
    for d in names
        .iter()
        .filter(|n| n.ends_with(".wants") || n.ends_with(".requires"))
    {
        if let Ok(Some(entries)) = root.read_dir(&format!("{base}/{d}")) {
            units.extend(entries);
        }
    }
    units.sort();
    units.dedup();
    units.retain(|u| !is_masked(root, u));
    units
}

/// A unit linked to /dev/null in /etc/systemd/system.
pub fn is_masked(root: &HostRoot, unit: &str) -> bool {
    std::fs::read_link(root.display_path(&format!("/etc/systemd/system/{unit}")))
        .is_ok_and(|t| t == std::path::Path::new("/dev/null"))
}

/// Order drop-in config files the systemd way (sysctl.d, modprobe.d, coredump.conf.d): `listing` is `(dir, names)` in
/// directory priority order; returns full paths of `*.conf` files sorted by
/// name, each name taken from the first directory that has it.
pub fn order_conf_files(listing: &[(&str, Vec<String>)]) -> Vec<String> {
    let mut chosen: BTreeMap<&str, String> = BTreeMap::new();
    for (dir, names) in listing {
        for n in names
            .iter()
            .filter(|n| n.ends_with(".conf") && !n.starts_with('.'))
        {
            chosen
                .entry(n.as_str())
                .or_insert_with(|| format!("{}/{}", dir.trim_end_matches('/'), n));
        }
    }
    chosen.into_values().collect()
}
