//! Tests of `services`.

use super::*;
use crate::probes::common::systemd::find_unit_file;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

const INETD: &str = include_str!("../../../tests/fixtures/services/inetd.conf");
const XINETD: &str = include_str!("../../../tests/fixtures/services/xinetd.conf");
const X_TFTP: &str = include_str!("../../../tests/fixtures/services/xinetd.d/tftp");
const X_TELNET: &str = include_str!("../../../tests/fixtures/services/xinetd.d/telnet");
const X_DAYTIME: &str = include_str!("../../../tests/fixtures/services/xinetd.d/daytime-stream");
const X_RSYNC: &str = include_str!("../../../tests/fixtures/services/xinetd.d/rsync");

fn touch(root: &Path, p: &str) {
    let p = root.join(p.trim_start_matches('/'));
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, "[Unit]\n").unwrap();
}

fn link(root: &Path, target: &str, at: &str) {
    let p = root.join(at.trim_start_matches('/'));
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    symlink(target, p).unwrap();
}

/// A Debian 12 style tree: merged /usr, enabled units, a mask, SysV links.
fn debian_tree(root: &Path) {
    for u in [
        "ssh.service",
        "ssh.socket",
        "cron.service",
        "avahi-daemon.service",
        "rpcbind.service",
        "rpcbind.socket",
        "getty@.service",
        "inetutils-inetd.service",
        "systemd-journald.service",
        "rsync.service",
    ] {
        touch(root, &format!("/usr/lib/systemd/system/{u}"));
    }
    fs::create_dir_all(root.join("usr/lib/systemd/system/sysinit.target.wants")).unwrap();
    link(
        root,
        "../systemd-journald.service",
        "/usr/lib/systemd/system/sysinit.target.wants/systemd-journald.service",
    );
    symlink("usr/lib", root.join("lib")).unwrap();
    let etc = "/etc/systemd/system";
    link(
        root,
        "/lib/systemd/system/ssh.service",
        &format!("{etc}/multi-user.target.wants/ssh.service"),
    );
    link(
        root,
        "/lib/systemd/system/cron.service",
        &format!("{etc}/multi-user.target.wants/cron.service"),
    );
    link(
        root,
        "/lib/systemd/system/avahi-daemon.service",
        &format!("{etc}/multi-user.target.wants/avahi-daemon.service"),
    );
    link(
        root,
        "/lib/systemd/system/rpcbind.socket",
        &format!("{etc}/sockets.target.wants/rpcbind.socket"),
    );
    link(
        root,
        "/lib/systemd/system/rpcbind.service",
        &format!("{etc}/multi-user.target.wants/rpcbind.service"),
    );
    link(
        root,
        "/lib/systemd/system/getty@.service",
        &format!("{etc}/getty.target.wants/getty@tty1.service"),
    );
    link(
        root,
        "/lib/systemd/system/inetutils-inetd.service",
        &format!("{etc}/multi-user.target.wants/inetutils-inetd.service"),
    );
    link(
        root,
        "/lib/systemd/system/ssh.service",
        &format!("{etc}/sshd.service"),
    );
    // rpcbind masked afterwards: a mask wins over the wants links.
    link(root, "/dev/null", &format!("{etc}/rpcbind.service"));
    link(root, "/dev/null", &format!("{etc}/rpcbind.socket"));
    for n in [
        "README",
        "S01ssh",
        "S01cron",
        "S02vsftpd",
        "K01nothing",
        "S01rsync",
    ] {
        link(root, "../init.d/x", &format!("/etc/rc2.d/{n}"));
    }
    for n in [
        "README",
        "skeleton",
        "ssh",
        "cron",
        "vsftpd",
        ".depend.boot",
    ] {
        touch(root, &format!("/etc/init.d/{n}"));
    }
    fs::write(root.join("etc/inetd.conf"), INETD).unwrap();
}

#[test]
fn debian_tree_enabled_masked_sysv_and_inetd() {
    let dir = tempfile::tempdir().unwrap();
    debian_tree(dir.path());
    let root = HostRoot::offline(dir.path());
    let Outcome::Ok(v) = collect(&root) else {
        panic!("not ok")
    };
    let f: serde_json::Value = v;
    assert_eq!(f["systemd_present"], true);
    let enabled: Vec<&str> = f["enabled"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        enabled,
        vec![
            "avahi-daemon.service",
            "cron.service",
            "getty@tty1.service",
            "inetutils-inetd.service",
            "ssh.service",
            "systemd-journald.service"
        ]
    );
    assert_eq!(
        f["masked"],
        serde_json::json!(["rpcbind.service", "rpcbind.socket"])
    );
    // /lib is /usr/lib: each unit listed once; the sshd.service alias counts as a file.
    assert_eq!(f["unit_file_count"], 11);
    // ssh, cron and rsync have native units: systemd ignores their rc links.
    assert_eq!(f["sysv_enabled"], serde_json::json!(["vsftpd"]));
    assert_eq!(
        f["sysv_scripts"],
        serde_json::json!(["cron", "ssh", "vsftpd"])
    );
    assert_eq!(
        f["insecure_services_enabled"],
        serde_json::json!(["sysv:vsftpd"])
    );
    assert_eq!(
        f["unneeded_services_enabled"],
        serde_json::json!(["avahi-daemon.service", "inetutils-inetd.service"])
    );
    assert_eq!(f["inetd_enabled"], true);
    let names: Vec<&str> = f["inetd_services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["echo", "ident", "rstatd", "shell", "telnet"]);
    assert_eq!(f["inetd_services"][0]["insecure"], true);
    assert_eq!(f["inetd_services"][1]["insecure"], false);
    assert_eq!(f["runtime_collected"], false);
    assert!(f["active"].is_null());
}

#[test]
fn inetd_services_need_an_enabled_inetd() {
    let units = UnitTree::default();
    let input = ServicesInput {
        units,
        inetd_conf: Some(INETD.into()),
        xinetd_texts: vec![X_TELNET.into()],
        ..ServicesInput::default()
    };
    let f = build_facts(&input);
    assert!(!f.inetd_enabled && !f.xinetd_enabled);
    assert!(f.inetd_services.is_empty());
}

#[test]
fn xinetd_disable_and_defaults_disabled_ids() {
    let mut units = UnitTree::default();
    units.enabled.insert("xinetd.service".into());
    let input = ServicesInput {
        units,
        xinetd_texts: [XINETD, X_TFTP, X_TELNET, X_DAYTIME, X_RSYNC]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        ..ServicesInput::default()
    };
    let f = build_facts(&input);
    assert!(f.xinetd_enabled);
    assert_eq!(
        f.inetd_services,
        vec![
            InetdService {
                name: "rsync".into(),
                daemon: "xinetd".into(),
                insecure: false
            },
            InetdService {
                name: "telnet".into(),
                daemon: "xinetd".into(),
                insecure: true
            },
        ]
    );
    assert_eq!(f.unneeded_services_enabled, vec!["xinetd.service"]);
}

#[test]
fn rhel_sockets_and_instances_are_matched_by_base_name() {
    let mut units = UnitTree::default();
    for u in [
        "telnet.socket",
        "rsh@1-10.0.0.1:514-10.0.0.2:1023.service",
        "tftp.socket",
        "sshd.service",
        "cups.path",
        "clamd@scan.service",
    ] {
        units.enabled.insert(u.into());
    }
    let f = build_facts(&ServicesInput {
        units: units.clone(),
        ..ServicesInput::default()
    });
    assert_eq!(
        f.insecure_services_enabled,
        vec![
            "rsh@1-10.0.0.1:514-10.0.0.2:1023.service",
            "telnet.socket",
            "tftp.socket"
        ]
    );
    assert_eq!(f.unneeded_services_enabled, vec!["cups.path"]);
    assert!(units.any_enabled_base(&["clamd"]));
    assert_eq!(unit_base("a.b@c.d.service"), "a.b");
}

#[test]
fn active_units_from_invocation_links() {
    let names: Vec<String> = [
        "invocation:ssh.service",
        "log-extra-fields:x.service",
        "invocation:",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(parse_active(&names), vec!["ssh.service"]);
    let f = build_facts(&ServicesInput {
        active: Some(parse_active(&names)),
        ..ServicesInput::default()
    });
    assert!(f.runtime_collected);
}

#[test]
fn find_unit_file_prefers_etc_and_templates() {
    let dir = tempfile::tempdir().unwrap();
    touch(dir.path(), "/lib/systemd/system/foo.timer");
    touch(dir.path(), "/etc/systemd/system/foo.timer");
    touch(dir.path(), "/usr/lib/systemd/system/bar@.service");
    let root = HostRoot::offline(dir.path());
    assert_eq!(
        find_unit_file(&root, "foo.timer").as_deref(),
        Some("/etc/systemd/system/foo.timer")
    );
    assert_eq!(
        find_unit_file(&root, "bar@x.service").as_deref(),
        Some("/usr/lib/systemd/system/bar@.service")
    );
    assert_eq!(find_unit_file(&root, "nope.service"), None);
}

#[test]
fn empty_root_is_unsupported_and_fuzz_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        collect(&HostRoot::offline(dir.path())),
        Outcome::Unsupported(_)
    ));
    for s in [
        "",
        "service",
        "service {\n}\n}",
        "S",
        "S12",
        "@.x",
        ":::",
        "a:/b c d e f g",
        "\u{feff}service x\n disable=yes",
    ] {
        fuzz_parse(s);
    }
    fuzz_parse(INETD);
}
