#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Host mode (`scan --host-root DIR`, `host_mode = true`): the agent in a
//! Kubernetes pod reads the node's `/` mounted at /host, with /host/proc,
//! /host/sys and /host/run as the live system. The same fixture host must
//! give the same rule results as an agent running *on* that host, where the
//! fixture is `/`: here the real agent binary runs chrooted into the
//! fixture (so `/` is the fixture and is live), and again from outside with
//! `--host-root FIXTURE`. Scanned as a foreign root (`--root FIXTURE`, what
//! the DaemonSet did before), runtime facts are lost and results differ.
//!
//! `chroot` needs root (CAP_SYS_CHROOT): this test fails, never skips,
//! without it (CI runs as root).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn write(root: &Path, path: &str, text: &str) {
    let p = root.join(path.trim_start_matches('/'));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A Debian 12 host: configuration under /etc, and a live /proc, /sys and
/// /run whose runtime values differ from what /etc configures (as on a host
/// where someone changed a sysctl by hand).
fn fixture_host(r: &Path) {
    copy_tree(&fixtures().join("kernel/etc"), &r.join("etc"));
    write(r, "/etc/os-release", "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n");
    write(r, "/etc/hostname", "node-3\n");
    write(r, "/etc/machine-id", "4c4c4544003957108052b4c04f384833\n");
    write(
        r,
        "/etc/ssh/sshd_config",
        "PermitRootLogin no\nPasswordAuthentication no\n",
    );
    write(
        r,
        "/etc/chrony/chrony.conf",
        "pool 2.debian.pool.ntp.org iburst\n",
    );
    // Runtime: sysctls as running, sockets, mounts, kernel identity.
    for (name, value) in [
        ("net/ipv4/ip_forward", "1"),
        ("kernel/randomize_va_space", "0"),
        ("kernel/kptr_restrict", "0"),
        ("kernel/dmesg_restrict", "0"),
        ("net/ipv4/conf/all/accept_redirects", "1"),
        ("net/ipv4/conf/all/send_redirects", "1"),
        ("net/ipv4/tcp_syncookies", "0"),
        ("fs/suid_dumpable", "2"),
        ("kernel/core_pattern", "core"),
        ("kernel/hostname", "node-3"),
        ("kernel/osrelease", "6.1.0-18-amd64"),
    ] {
        write(r, &format!("/proc/sys/{name}"), &format!("{value}\n"));
    }
    let tcp = std::fs::read_to_string(fixtures().join("network/weak/proc-net-tcp")).unwrap();
    write(r, "/proc/net/tcp", &tcp);
    let mounts = std::fs::read_to_string(fixtures().join("host/mounts")).unwrap();
    // On the host the agent sees its own mounts; in a pod, the node's init's.
    write(r, "/proc/self/mounts", &mounts);
    write(r, "/proc/1/mounts", &mounts);
    let meminfo = std::fs::read_to_string(fixtures().join("host/meminfo")).unwrap();
    write(r, "/proc/meminfo", &meminfo);
    write(r, "/proc/stat", "btime 1767225600\n");
    write(r, "/sys/module/apparmor/parameters/enabled", "Y\n");
    write(
        r,
        "/sys/kernel/security/apparmor/profiles",
        "/usr/sbin/chronyd (enforce)\n",
    );
    write(r, "/run/chrony/chronyd.pid", "812\n");
}

/// The agent binary and the shared libraries it loads, copied into `root`
/// so that it runs chrooted there.
fn install_agent(root: &Path) -> String {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_evident-agent"));
    let inside = "/evident-test/evident-agent";
    let dest = root.join(inside.trim_start_matches('/'));
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::fs::copy(&bin, &dest).unwrap();
    let ldd = Command::new("ldd").arg(&bin).output().expect("run ldd");
    assert!(ldd.status.success(), "ldd failed");
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        let lib = line
            .split_whitespace()
            .find(|w| w.starts_with('/'))
            .map(PathBuf::from);
        if let Some(lib) = lib {
            let dest = root.join(lib.strip_prefix("/").unwrap());
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::copy(&lib, &dest).unwrap();
        }
    }
    inside.to_string()
}

/// Rule id → status from `scan --format json`.
fn statuses(out: &std::process::Output) -> BTreeMap<String, String> {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "scan failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let mut map = BTreeMap::new();
    for rule in v["rules"].as_array().unwrap() {
        map.insert(
            rule["id"].as_str().unwrap().to_string(),
            rule["status"].as_str().unwrap().to_string(),
        );
    }
    assert!(map.len() > 20, "too few rules: {map:?}");
    map
}

#[test]
fn host_mode_gives_the_rule_results_of_an_agent_running_on_the_host() {
    let dir = tempfile::tempdir().unwrap();
    let host = dir.path().join("host");
    fixture_host(&host);
    let agent = install_agent(&host);

    // On the host: `/` is the fixture, live.
    let on_host = Command::new("chroot")
        .arg(&host)
        .args([agent.as_str(), "scan", "--format", "json"])
        .env("NO_COLOR", "1")
        .output()
        .expect("run chroot (the test needs root)");
    assert!(
        on_host.status.code().is_some(),
        "chroot: {}",
        String::from_utf8_lossy(&on_host.stderr)
    );
    let on_host = statuses(&on_host);

    // In a pod: the node's `/` mounted at DIR, host mode.
    let scan = |flag: &str| {
        Command::new(env!("CARGO_BIN_EXE_evident-agent"))
            .args(["scan", "--format", "json", flag])
            .arg(&host)
            .env("NO_COLOR", "1")
            .env("XDG_CACHE_HOME", env!("CARGO_TARGET_TMPDIR"))
            .output()
            .unwrap()
    };
    let host_mode = statuses(&scan("--host-root"));
    assert_eq!(
        host_mode, on_host,
        "host mode differs from the agent on the host"
    );

    // As a foreign root, the runtime facts are lost: results differ.
    let foreign = statuses(&scan("--root"));
    let differing: Vec<_> = foreign
        .iter()
        .filter(|(id, status)| on_host.get(*id) != Some(status))
        .collect();
    assert!(
        !differing.is_empty(),
        "the fixture exercises no runtime fact: --root gives the same results"
    );
}
