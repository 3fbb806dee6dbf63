//! Tests of `kernel`.

use super::*;
use std::fs;
use std::path::Path;

fn put(root: &Path, path: &str, text: &str) {
    let p = root.join(path.trim_start_matches('/'));
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

#[test]
fn sysctl_syntax() {
    let a = parse_sysctl_conf(include_str!(
        "../../../tests/fixtures/kernel/etc/sysctl.d/60-hardening.conf"
    ));
    assert!(a.contains(&("kernel.yama.ptrace_scope".into(), "2".into())));
    assert!(a.contains(&("kernel.kptr_restrict".into(), "2".into())));
    assert_eq!(parse_int("0x01b6"), Some(438));
    assert_eq!(parse_int(" 2\n"), Some(2));
    assert_eq!(parse_int("1 2"), None);
}

#[test]
fn systemd_file_order_and_masking() {
    let listing = vec![
        (
            "/etc/sysctl.d",
            vec![
                "50-default.conf".into(),
                "99-sysctl.conf".into(),
                "README".into(),
            ],
        ),
        ("/run/sysctl.d", vec![]),
        (
            "/usr/lib/sysctl.d",
            vec![
                "10-ptrace.conf".into(),
                "50-default.conf".into(),
                "50-pid-max.conf".into(),
            ],
        ),
    ];
    assert_eq!(
        order_conf_files(&listing),
        vec![
            "/usr/lib/sysctl.d/10-ptrace.conf",
            "/etc/sysctl.d/50-default.conf",
            "/usr/lib/sysctl.d/50-pid-max.conf",
            "/etc/sysctl.d/99-sysctl.conf",
        ]
    );
}

#[test]
fn last_assignment_wins_and_only_tracked_keys_are_kept() {
    let m = configured_sysctls(&[
        "kernel.sysrq = 0x01b6\nfs.protected_fifos=1\n",
        "kernel.sysrq=0\n-fs.protected_regular = 2\nvm.swappiness=10\n",
    ]);
    assert_eq!(m["kernel_sysrq"], Some(0));
    assert_eq!(m["fs_protected_fifos"], Some(1));
    assert_eq!(m["fs_protected_regular"], Some(2));
    assert_eq!(m["kernel_randomize_va_space"], None);
    assert_eq!(m.len(), SYSCTLS.len());
}

#[test]
fn modprobe_blacklist_and_install() {
    let m = parse_modprobe(&[
        include_str!("../../../tests/fixtures/kernel/etc/modprobe.d/cis.conf"),
        "install usb-storage /bin/sh -c 'echo no'\n# blacklist hfs\n",
    ]);
    assert_eq!(
        m.install_disabled,
        vec![
            "cramfs",
            "freevxfs",
            "hfs",
            "hfsplus",
            "jffs2",
            "udf",
            "usb_storage"
        ]
    );
    assert!(m.blacklisted.contains(&"usb_storage".to_string()));
    let only_bl = parse_modprobe(&["blacklist usb_storage\\\n\n"]);
    assert_eq!(only_bl.blacklisted, vec!["usb_storage"]);
}

#[test]
fn core_dump_sources() {
    let l = parse_limits_core(&[
        include_str!("../../../tests/fixtures/kernel/etc/security/limits.conf"),
        "*\t\thard\tcore\t\t0\n",
    ]);
    assert_eq!(l.as_deref(), Some("0"));
    assert_eq!(
        parse_limits_core(&["#*  hard core 0\n@users soft core 0\n"]),
        None
    );
    let c = parse_coredump_conf(&[
        "[Coredump]\n#Storage=external\nStorage=external\n",
        "[Coredump]\nStorage=none\nProcessSizeMax=0\n[Other]\nStorage=x\n",
    ]);
    assert_eq!(c.storage.as_deref(), Some("none"));
    assert!(core_dumps_restricted(None, &c, None));
    assert!(!core_dumps_restricted(
        Some("unlimited"),
        &CoredumpConf::default(),
        Some("|/usr/lib/systemd/systemd-coredump %P %u")
    ));
    assert!(core_dumps_restricted(
        None,
        &CoredumpConf::default(),
        Some("|/bin/false")
    ));
}

#[test]
fn offline_tree_from_fixtures() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kernel");
    for f in [
        "etc/sysctl.conf",
        "etc/sysctl.d/60-hardening.conf",
        "usr/lib/sysctl.d/50-default.conf",
        "usr/lib/sysctl.d/10-ptrace.conf",
        "etc/modprobe.d/cis.conf",
        "etc/security/limits.conf",
        "etc/security/limits.d/10-coredump.conf",
        "etc/systemd/coredump.conf",
    ] {
        put(r, f, &fs::read_to_string(fx.join(f)).unwrap());
    }
    std::os::unix::fs::symlink("../sysctl.conf", r.join("etc/sysctl.d/99-sysctl.conf")).unwrap();
    let Outcome::Ok(v) = collect(&HostRoot::offline(r)) else {
        panic!()
    };
    assert_eq!(v["sysctl"]["kernel_randomize_va_space"], 2);
    assert_eq!(v["sysctl"]["kernel_yama_ptrace_scope"], 2);
    assert_eq!(v["sysctl"]["fs_protected_hardlinks"], 1);
    assert_eq!(v["sysctl"]["kernel_sysrq"], 0);
    assert!(v["sysctl_live"].is_null());
    assert_eq!(v["runtime_collected"], false);
    assert_eq!(v["usb_storage_disabled"], true);
    assert_eq!(v["core_dumps_restricted"], true);
    assert_eq!(v["core_hard_limit"], "0");
    assert_eq!(v["cis_filesystems_not_disabled"], serde_json::json!([]));
    assert_eq!(
        v["sysctl_files"],
        serde_json::json!([
            "/usr/lib/sysctl.d/10-ptrace.conf",
            "/usr/lib/sysctl.d/50-default.conf",
            "/etc/sysctl.d/60-hardening.conf",
            "/etc/sysctl.d/99-sysctl.conf"
        ])
    );
    for f in SCHEMA.fields {
        assert!(v.get(f.path).is_some(), "missing {}", f.path);
    }
}

#[test]
fn live_values_override_and_drift_is_reported() {
    let mut configured = empty_map();
    configured.insert("kernel_kptr_restrict".into(), Some(1));
    let mut live = empty_map();
    live.insert("kernel_kptr_restrict".into(), Some(0));
    live.insert("kernel_randomize_va_space".into(), Some(2));
    let f = build_facts(
        configured,
        Some(live),
        &ModprobeFacts::default(),
        None,
        CoredumpConf::default(),
        None,
    );
    assert_eq!(f.sysctl["kernel_kptr_restrict"], Some(0));
    assert_eq!(f.sysctl_drift, vec!["kernel_kptr_restrict"]);
    assert!(f.runtime_collected);
    assert!(!f.usb_storage_disabled);
    assert_eq!(f.cis_filesystems_not_disabled.len(), 6);
}

#[test]
fn empty_root_is_ok_with_nothing_configured() {
    let dir = tempfile::tempdir().unwrap();
    let Outcome::Ok(v) = collect(&HostRoot::offline(dir.path())) else {
        panic!()
    };
    // Unset keys take the kernel's default, and say so (one sysctl rule
    // for every probe; the network probe always did this).
    assert_eq!(v["sysctl"]["kernel_randomize_va_space"], 2);
    assert_eq!(
        v["sysctl_sources"]["kernel_randomize_va_space"],
        "kernel-default"
    );
    assert_eq!(v["sysctl"]["kernel_dmesg_restrict"], 0);
    assert!(v["sysctl_configured"]["kernel_randomize_va_space"].is_null());
    assert_eq!(v["core_dumps_restricted"], false);
}

#[test]
fn unreadable_files_are_recorded_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    put(
        dir.path(),
        "/etc/sysctl.d/10-ok.conf",
        "kernel.dmesg_restrict = 1\n",
    );
    let bad = dir.path().join("etc/sysctl.d/20-binary.conf");
    fs::write(&bad, b"kernel.kptr_restrict = 2\0\x01").unwrap();
    let Outcome::Ok(v) = collect(&HostRoot::offline(dir.path())) else {
        panic!()
    };
    assert_eq!(v["sysctl"]["kernel_dmesg_restrict"], 1);
    let errs = v["unreadable_files"].as_array().unwrap();
    assert_eq!(errs.len(), 1);
    assert!(errs[0].as_str().unwrap().contains("20-binary.conf"));
}

#[test]
fn fuzz_never_panics() {
    for s in [
        "=",
        "\\",
        "install",
        "[Coredump]\nProcessSizeMax=",
        "0x",
        "* hard core",
    ] {
        fuzz_parse(s);
    }
}
