//! Probe `mac`: mandatory access control — which mechanism (AppArmor on
//! Debian/Ubuntu/SUSE, SELinux on RHEL-family/Fedora) is active and in which mode.
//!
//! Sources:
//! - SELinux: `/etc/selinux/config` (`SELINUX=enforcing|permissive|disabled`,
//!   `SELINUXTYPE=`); live `/sys/fs/selinux/enforce` (`1`/`0`; absent when
//!   SELinux is not running).
//! - AppArmor: profiles in `/etc/apparmor.d` (top-level files; `flags=(complain)`
//!   in the profile, or a link in `force-complain/`, means complain mode; a link
//!   in `disable/` means disabled); live `/sys/module/apparmor/parameters/enabled`
//!   (`Y`) and `/sys/kernel/security/apparmor/profiles` (one `name (mode)` line
//!   per loaded profile).
//!
//! On a live system the running state decides `mechanism` and `mode`; under a
//! foreign `--root` only the configuration does, and the live fields are null.

use super::common::reader::read_quiet as read;
use super::Outcome;
use crate::hostroot::HostRoot;
use serde::Serialize;

/// The probe's schema: id, version, controls and every field (in core).
pub use evident_core::schema::probes::mac::SCHEMA;

/// `/etc/selinux/config`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelinuxConfig {
    /// `SELINUX=`, lowercased.
    pub mode: String,
    /// `SELINUXTYPE=`.
    pub kind: String,
}

/// Counts of loaded AppArmor profiles by mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProfileCounts {
    /// All loaded profiles.
    pub loaded: u64,
    /// In enforce mode.
    pub enforce: u64,
    /// In complain mode.
    pub complain: u64,
}

/// The probe's data.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MacFacts {
    /// See [`SCHEMA`].
    pub mechanism: String,
    /// See [`SCHEMA`].
    pub mode: String,
    /// See [`SCHEMA`].
    pub enforcing: bool,
    /// See [`SCHEMA`].
    pub runtime_collected: bool,
    /// See [`SCHEMA`].
    pub selinux_config_present: bool,
    /// See [`SCHEMA`].
    pub selinux_config_mode: String,
    /// See [`SCHEMA`].
    pub selinux_type: String,
    /// See [`SCHEMA`].
    pub selinux_enabled: Option<bool>,
    /// See [`SCHEMA`].
    pub selinux_enforce: Option<bool>,
    /// See [`SCHEMA`].
    pub apparmor_enabled: Option<bool>,
    /// See [`SCHEMA`].
    pub apparmor_profiles_loaded: Option<u64>,
    /// See [`SCHEMA`].
    pub apparmor_profiles_enforce: Option<u64>,
    /// See [`SCHEMA`].
    pub apparmor_profiles_complain: Option<u64>,
    /// See [`SCHEMA`].
    pub apparmor_config_present: bool,
    /// See [`SCHEMA`].
    pub apparmor_config_profiles: u64,
    /// See [`SCHEMA`].
    pub apparmor_config_complain: u64,
    /// See [`SCHEMA`].
    pub apparmor_config_disabled: u64,
}

/// Parse `/etc/selinux/config`.
pub fn parse_selinux_config(text: &str) -> SelinuxConfig {
    let mut out = SelinuxConfig::default();
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches('"').trim_matches('\'').to_string();
        match k.trim() {
            "SELINUX" => out.mode = v.to_ascii_lowercase(),
            "SELINUXTYPE" => out.kind = v,
            _ => {}
        }
    }
    out
}

/// Count profiles in `/sys/kernel/security/apparmor/profiles` (`name (enforce)`).
pub fn parse_apparmor_profiles(text: &str) -> ProfileCounts {
    let mut c = ProfileCounts::default();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        c.loaded += 1;
        match line.rsplit_once(" (").map(|(_, m)| m.trim_end_matches(')')) {
            Some("enforce") => c.enforce += 1,
            Some("complain") => c.complain += 1,
            _ => {}
        }
    }
    c
}

/// Whether an AppArmor profile file declares complain mode (`flags=(complain)`,
/// `flags=(attach_disconnected,complain)`) on a top-level (unindented)
/// profile line; indented child profiles and hats are not counted.
pub fn profile_in_complain(text: &str) -> bool {
    text.lines()
        .filter(|l| !l.starts_with([' ', '\t']))
        .map(|l| l.split_once('#').map_or(l, |(a, _)| a))
        .filter_map(|l| l.split_once("flags=").map(|(_, f)| f))
        .any(|f| {
            let inner = f.split_once(')').map_or(f, |(a, _)| a);
            inner
                .trim_start_matches(['(', ' '])
                .split([',', ' '])
                .any(|w| w.trim() == "complain")
        })
}

/// Whether a name at the top of /etc/apparmor.d is a profile file rather
/// than a backup, a README or a package manager leftover.
fn is_profile_name(name: &str) -> bool {
    !(name.starts_with('.')
        || name.ends_with('~')
        || name.contains(".dpkg-")
        || name.ends_with(".rpmnew")
        || name.ends_with(".rpmsave")
        || name.eq_ignore_ascii_case("README"))
}

/// Derive mechanism and mode (pure): the running state when live, else configuration.
pub fn decide(f: &MacFacts) -> (&'static str, &'static str) {
    let aa_config_mode = || {
        let active = f
            .apparmor_config_profiles
            .saturating_sub(f.apparmor_config_disabled);
        let enforced = active.saturating_sub(f.apparmor_config_complain);
        if enforced > 0 {
            "enforce"
        } else if active > 0 {
            "complain"
        } else {
            "disabled"
        }
    };
    if f.runtime_collected {
        if f.selinux_enabled == Some(true) {
            return match f.selinux_enforce {
                Some(true) => ("selinux", "enforce"),
                Some(false) => ("selinux", "permissive"),
                None => ("selinux", "unknown"),
            };
        }
        if f.apparmor_enabled == Some(true) {
            let mode = match (f.apparmor_profiles_enforce, f.apparmor_profiles_complain) {
                (Some(e), _) if e > 0 => "enforce",
                (Some(_), Some(c)) if c > 0 => "complain",
                (Some(_), _) => "disabled",
                (None, _) if f.apparmor_config_present => aa_config_mode(),
                (None, _) => "unknown",
            };
            return ("apparmor", mode);
        }
        return ("none", "disabled");
    }
    match f.selinux_config_mode.as_str() {
        "enforcing" => return ("selinux", "enforce"),
        "permissive" => return ("selinux", "permissive"),
        _ => {}
    }
    if f.apparmor_config_profiles > 0 {
        return ("apparmor", aa_config_mode());
    }
    ("none", "disabled")
}

/// Feed `input` to every parser (for cargo-fuzz); never panics.
pub fn fuzz_parse(input: &str) {
    let _ = parse_selinux_config(input);
    let c = parse_apparmor_profiles(input);
    let complain = profile_in_complain(input);
    let f = MacFacts {
        runtime_collected: complain,
        apparmor_enabled: Some(true),
        apparmor_profiles_enforce: Some(c.enforce),
        apparmor_config_profiles: c.loaded,
        apparmor_config_disabled: c.loaded.saturating_add(1),
        ..MacFacts::default()
    };
    let _ = decide(&f);
}

/// Count profile files in /etc/apparmor.d: (profiles, complain, disabled).
fn apparmor_config(root: &HostRoot) -> (u64, u64, u64) {
    let names = root
        .read_dir("/etc/apparmor.d")
        .ok()
        .flatten()
        .unwrap_or_default();
    let listed = |dir: &str| root.read_dir(dir).ok().flatten().unwrap_or_default();
    let disabled_names = listed("/etc/apparmor.d/disable");
    let forced_names = listed("/etc/apparmor.d/force-complain");
    let (mut profiles, mut complain, mut disabled) = (0, 0, 0);
    for name in names.iter().filter(|n| is_profile_name(n)) {
        let path = format!("/etc/apparmor.d/{name}");
        match root.metadata(&path) {
            Ok(Some(m)) if !m.is_dir => {}
            _ => continue,
        }
        profiles += 1;
        if disabled_names.contains(name) {
            disabled += 1;
        } else if forced_names.contains(name)
            || read(root, &path).is_some_and(|t| profile_in_complain(&t))
        {
            complain += 1;
        }
    }
    (profiles, complain, disabled)
}

fn add_runtime(root: &HostRoot, f: &mut MacFacts) {
    f.runtime_collected = true;
    let enforce = read(root, "/sys/fs/selinux/enforce");
    f.selinux_enabled = Some(enforce.is_some());
    f.selinux_enforce = enforce.map(|t| t.trim() == "1");
    f.apparmor_enabled = Some(
        read(root, "/sys/module/apparmor/parameters/enabled").is_some_and(|t| t.trim() == "Y"),
    );
    if f.apparmor_enabled == Some(true) {
        if let Some(c) = read(root, "/sys/kernel/security/apparmor/profiles")
            .map(|t| parse_apparmor_profiles(&t))
        {
            f.apparmor_profiles_loaded = Some(c.loaded);
            f.apparmor_profiles_enforce = Some(c.enforce);
            f.apparmor_profiles_complain = Some(c.complain);
        }
    }
}

/// Collect under `root`. Always `Ok`: having no MAC at all is the evidence a rule needs.
pub fn collect(root: &HostRoot) -> Outcome {
    let selinux_text = read(root, "/etc/selinux/config");
    let selinux = selinux_text
        .as_deref()
        .map(parse_selinux_config)
        .unwrap_or_default();
    let (profiles, complain, disabled) = apparmor_config(root);
    let mut f = MacFacts {
        selinux_config_present: selinux_text.is_some(),
        selinux_config_mode: selinux.mode,
        selinux_type: selinux.kind,
        apparmor_config_present: root.exists("/etc/apparmor.d"),
        apparmor_config_profiles: profiles,
        apparmor_config_complain: complain,
        apparmor_config_disabled: disabled,
        ..MacFacts::default()
    };
    if root.is_live() {
        add_runtime(root, &mut f);
    }
    let (mechanism, mode) = decide(&f);
    f.mechanism = mechanism.into();
    f.mode = mode.into();
    f.enforcing = mode == "enforce";
    Outcome::from_facts(&f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::path::Path;

    fn put(root: &Path, path: &str, text: &str) {
        let p = root.join(path.trim_start_matches('/'));
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    fn ok(root: &Path) -> serde_json::Value {
        match collect(&HostRoot::offline(root)) {
            Outcome::Ok(v) => v,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn selinux_config_variants() {
        let c = parse_selinux_config(include_str!(
            "../../tests/fixtures/mac/selinux-config.rhel9"
        ));
        assert_eq!(c.mode, "enforcing");
        assert_eq!(c.kind, "targeted");
        let p = parse_selinux_config("SELINUX = Permissive\r\nSELINUXTYPE=\"mls\"\r\n");
        assert_eq!((p.mode.as_str(), p.kind.as_str()), ("permissive", "mls"));
    }

    #[test]
    fn loaded_profiles_are_counted_by_mode() {
        let c = parse_apparmor_profiles(include_str!("../../tests/fixtures/mac/apparmor-profiles"));
        assert_eq!(
            c,
            ProfileCounts {
                loaded: 8,
                enforce: 6,
                complain: 2
            }
        );
    }

    #[test]
    fn complain_flags_in_profile_files() {
        assert!(profile_in_complain(include_str!(
            "../../tests/fixtures/mac/apparmor.d/usr.sbin.cupsd-complain"
        )));
        assert!(!profile_in_complain(include_str!(
            "../../tests/fixtures/mac/apparmor.d/usr.sbin.chronyd"
        )));
        assert!(!profile_in_complain("# flags=(complain)\nprofile x {}\n"));
        assert!(!profile_in_complain(include_str!(
            "../../tests/fixtures/mac/apparmor.d/nvidia_modprobe"
        )));
    }

    #[test]
    fn debian_image_with_apparmor_profiles() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mac/apparmor.d");
        for n in [
            "usr.sbin.chronyd",
            "usr.sbin.cupsd-complain",
            "lsb_release",
            "nvidia_modprobe",
        ] {
            put(
                r,
                &format!("/etc/apparmor.d/{n}"),
                &fs::read_to_string(fx.join(n)).unwrap(),
            );
        }
        put(r, "/etc/apparmor.d/abstractions/base", "# abstraction\n");
        put(r, "/etc/apparmor.d/usr.sbin.chronyd.dpkg-old", "x");
        put(r, "/etc/apparmor.d/disable/nvidia_modprobe", "");
        let v = ok(r);
        assert_eq!(v["mechanism"], "apparmor");
        assert_eq!(v["mode"], "enforce");
        assert_eq!(v["enforcing"], true);
        assert_eq!(v["apparmor_config_profiles"], 4);
        assert_eq!(v["apparmor_config_complain"], 1);
        assert_eq!(v["apparmor_config_disabled"], 1);
        assert!(v["apparmor_enabled"].is_null());
        assert_eq!(v["runtime_collected"], false);
        for f in SCHEMA.fields {
            assert!(v.get(f.path).is_some(), "missing {}", f.path);
        }
    }

    #[test]
    fn rhel_image_with_selinux() {
        let dir = tempfile::tempdir().unwrap();
        put(
            dir.path(),
            "/etc/selinux/config",
            include_str!("../../tests/fixtures/mac/selinux-config.rhel9"),
        );
        let v = ok(dir.path());
        assert_eq!(
            (v["mechanism"].as_str(), v["mode"].as_str()),
            (Some("selinux"), Some("enforce"))
        );
        put(dir.path(), "/etc/selinux/config", "SELINUX=disabled\n");
        let v = ok(dir.path());
        assert_eq!(
            (v["mechanism"].as_str(), v["enforcing"].as_bool()),
            (Some("none"), Some(false))
        );
    }

    #[test]
    fn live_state_decides() {
        let mut f = MacFacts {
            runtime_collected: true,
            selinux_config_mode: "enforcing".into(),
            selinux_enabled: Some(true),
            selinux_enforce: Some(false),
            ..MacFacts::default()
        };
        assert_eq!(decide(&f), ("selinux", "permissive"));
        f.selinux_enabled = Some(false);
        f.apparmor_enabled = Some(true);
        f.apparmor_profiles_enforce = Some(0);
        f.apparmor_profiles_complain = Some(3);
        assert_eq!(decide(&f), ("apparmor", "complain"));
        f.apparmor_profiles_enforce = None;
        assert_eq!(decide(&f), ("apparmor", "unknown"));
        f.apparmor_enabled = Some(false);
        assert_eq!(decide(&f), ("none", "disabled"));
    }

    #[test]
    fn empty_root_has_no_mac() {
        let dir = tempfile::tempdir().unwrap();
        let v = ok(dir.path());
        assert_eq!(v["mechanism"], "none");
        assert_eq!(v["enforcing"], false);
    }

    #[test]
    fn fuzz_never_panics() {
        for s in ["", "flags=", "flags=(", " (", "x (enforce", "SELINUX"] {
            fuzz_parse(s);
        }
    }
}
