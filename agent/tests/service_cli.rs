//! The service subcommands through the real `evident-agent` binary:
//! `install --root` lays out files that `systemd-analyze verify` accepts
//! (the agent's unit and the collector's unit from `deploy/`), `uninstall`
//! keeps the key unless `--purge`, and `run` refuses a bad configuration
//! before starting.
//!
//! `systemd-analyze` comes from Debian's `systemd` package. Without it the
//! verification is skipped with a message, except under CI (`CI` set), where
//! it fails.

#![allow(clippy::unwrap_used)] // a test file: helpers panic on setup failures

use std::path::{Path, PathBuf};
use std::process::Command;

fn agent() -> Command {
    Command::new(env!("CARGO_BIN_EXE_evident-agent"))
}

fn systemd_analyze() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("systemd-analyze"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "systemd-analyze is missing under CI: install the Debian package `systemd`"
        );
        eprintln!("SKIP: systemd-analyze not found (apt-get install systemd)");
    }
    found
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            copy_dir(&e.path(), &target);
        } else if ft.is_symlink() {
            let link = std::fs::read_link(e.path()).unwrap();
            let _ = std::os::unix::fs::symlink(link, target);
        } else {
            let _ = std::fs::copy(e.path(), target);
        }
    }
}

/// `systemd-analyze verify --root=ROOT UNIT`, requiring a clean pass (no warnings either).
fn verify(analyze: &Path, root: &Path, unit: &str) {
    // The verifier needs the standard targets (sysinit.target, …) inside the root.
    let sys = root.join("usr/lib/systemd/system");
    if !sys.join("sysinit.target").exists() {
        for candidate in ["/usr/lib/systemd/system", "/lib/systemd/system"] {
            if Path::new(candidate).join("sysinit.target").exists() {
                copy_dir(Path::new(candidate), &sys);
                break;
            }
        }
    }
    let out = Command::new(analyze)
        .arg("verify")
        .arg(format!("--root={}", root.display()))
        .arg(root.join(unit))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "systemd-analyze verify {unit}: {}\n{stderr}",
        out.status
    );
}

#[test]
fn install_root_passes_systemd_analyze_verify_and_uninstall_keeps_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let token = dir.path().join("token");
    std::fs::write(&token, "evt_secret\n").unwrap();
    let out = agent()
        .args(["install", "--root"])
        .arg(&root)
        .arg("--enroll-token")
        .arg(&token)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in [
        "usr/local/bin/evident-agent",
        "etc/systemd/system/evident-agent.service",
        "etc/evident/agent.toml",
        "etc/evident/enroll.token",
        "var/lib/evident-agent",
    ] {
        assert!(root.join(f).exists(), "{f} missing");
    }
    let unit =
        std::fs::read_to_string(root.join("etc/systemd/system/evident-agent.service")).unwrap();
    for needle in [
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=CAP_DAC_READ_SEARCH",
        "StateDirectory=evident-agent",
        "Restart=on-failure",
        "ExecStart=/usr/local/bin/evident-agent run --config /etc/evident/agent.toml",
    ] {
        assert!(unit.contains(needle), "unit lacks {needle}");
    }
    if let Some(analyze) = systemd_analyze() {
        verify(&analyze, &root, "etc/systemd/system/evident-agent.service");
        // The collector's unit from deploy/, with a stand-in binary.
        let bin = root.join("usr/bin/evident-collector");
        std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
        std::fs::copy(env!("CARGO_BIN_EXE_evident-agent"), &bin).unwrap();
        let unit = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../deploy/evident-collector.service"
        );
        std::fs::copy(
            unit,
            root.join("etc/systemd/system/evident-collector.service"),
        )
        .unwrap();
        verify(
            &analyze,
            &root,
            "etc/systemd/system/evident-collector.service",
        );
        // And the agent unit exactly as the Debian package installs it.
        let bin = root.join("usr/bin/evident-agent");
        std::fs::copy(env!("CARGO_BIN_EXE_evident-agent"), &bin).unwrap();
        let unit = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../deploy/evident-agent.service"
        );
        std::fs::copy(
            unit,
            root.join("usr/lib/systemd/system/evident-agent.service"),
        )
        .unwrap();
        verify(
            &analyze,
            &root,
            "usr/lib/systemd/system/evident-agent.service",
        );
    }

    // A key in the state directory survives uninstall; --purge removes it.
    let key = root.join("var/lib/evident-agent/agent.key");
    std::fs::write(&key, [3u8; 32]).unwrap();
    let out = agent()
        .args(["uninstall", "--root"])
        .arg(&root)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!root
        .join("etc/systemd/system/evident-agent.service")
        .exists());
    assert!(!root.join("usr/local/bin/evident-agent").exists());
    assert!(key.exists());
    let out = agent()
        .args(["uninstall", "--purge", "--root"])
        .arg(&root)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!key.exists());
    assert!(!root.join("etc/evident/agent.toml").exists());
}

#[test]
fn run_refuses_a_bad_configuration_before_starting() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("agent.toml");
    std::fs::write(
        &cfg,
        "collector = \"https://127.0.0.1:1\"\nca_file = \"nope.pem\"\nfoo = 1\n",
    )
    .unwrap();
    let out = agent()
        .args(["run", "--once", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown field `foo`"));
    std::fs::write(&cfg, "collector = \"http://127.0.0.1:1\"\nroot = \".\"\n").unwrap();
    let out = agent()
        .args(["run", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("allow_http"));
    // `status` of an agent that never ran: not enrolled, exit 1.
    std::fs::write(
        &cfg,
        "collector = \"https://127.0.0.1:1\"\nstate_dir = \"state\"\n",
    )
    .unwrap();
    let out = agent()
        .args(["status", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("not enrolled"));
}

/// `systemd-analyze security --offline=true` of a unit in deploy/: its
/// overall exposure (0 best, 10 worst).
fn exposure(analyze: &Path, unit: &str) -> f64 {
    let out = Command::new(analyze)
        .args(["security", "--offline=true", "--no-pager", unit])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| {
            panic!(
                "systemd-analyze security {unit}: no exposure line\n{text}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    line.rsplit(':')
        .next()
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unparsable exposure line `{line}`"))
}

#[test]
fn unit_exposure_scores_do_not_get_worse() {
    let Some(analyze) = systemd_analyze() else {
        return;
    };
    // The scores the units had when issue #16 was filed (node_exporter
    // ships 4.6, osquery and wazuh-agent 9.6).
    for (unit, best) in [
        ("evident-agent.service", 2.4),
        ("evident-collector.service", 1.2),
    ] {
        let score = exposure(&analyze, unit);
        assert!(
            score <= best,
            "{unit}: exposure {score} is worse than {best}"
        );
    }
}
