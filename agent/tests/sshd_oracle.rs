//! Live oracle for the `sshd` probe: runs the real `sshd -T` on every fixture
//! under `tests/fixtures/sshd/` and compares it, keyword by keyword, with what
//! the probe computes from the same files.
//!
//! Each fixture tree is copied to a temporary directory; `Include` arguments
//! are rewritten to point into the copy (relative ones are relative to
//! `/etc/ssh`, as sshd resolves them), so sshd reads exactly the files the
//! probe reads. A throwaway host key is passed with `-h`; it is removed from
//! sshd's `hostkey` lines, and when no other host key remains sshd's defaults
//! (what it uses without `-h`) are put back.
//!
//! When `/usr/sbin/sshd` is missing the test fails (install openssh-server):
//! a test that cannot reach its subject must never show green.
//! With `SSHD_ORACLE_RECORD=1` it (re)writes each fixture's golden file
//! `sshd-T.txt`, which the probe's unit tests compare against offline.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test crate: failing loudly is the point

use evident_agent::hostroot::HostRoot;
use evident_agent::probes::{sshd, Outcome};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const SSHD: &str = "/usr/sbin/sshd";

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sshd")
}

/// Every fixture sshd accepts (those with a golden file or a config).
fn fixtures() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(fixtures_dir())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("etc/ssh/sshd_config").is_file())
        .filter(|p| !p.join("SKIP-ORACLE").exists())
        .collect();
    out.sort();
    out
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dest);
        } else {
            fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// Rewrite `Include` arguments so they point into `root`.
fn rewrite_includes(text: &str, root: &str) -> String {
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let eol = &line[body.len()..];
        let trimmed = body.trim_start();
        let mut words = trimmed.split_whitespace();
        if words
            .next()
            .is_some_and(|w| w.eq_ignore_ascii_case("include"))
        {
            let args: Vec<String> = words
                .map(|a| {
                    if a.starts_with('/') {
                        format!("{root}{a}")
                    } else {
                        format!("{root}/etc/ssh/{a}")
                    }
                })
                .collect();
            out.push_str(&format!("Include {}{eol}", args.join(" ")));
        } else {
            out.push_str(line);
        }
    }
    out
}

fn rewrite_all(dir: &Path, root: &str) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rewrite_all(&p, root);
        } else if let Ok(text) = fs::read_to_string(&p) {
            fs::write(&p, rewrite_includes(&text, root)).unwrap();
        }
    }
}

/// Run `sshd -T` on a fixture; returns the normalised output.
fn run_sshd(fixture: &Path) -> Result<String, String> {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    copy_tree(fixture, &root);
    let root_s = root.to_str().unwrap().to_string();
    rewrite_all(&root, &root_s);
    let key = tmp.path().join("oracle_host_key");
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen runs");
    assert!(st.success(), "ssh-keygen failed");
    let _ = fs::create_dir_all("/run/sshd"); // sshd insists on its privsep dir
    let out = Command::new(SSHD)
        .arg("-T")
        .arg("-f")
        .arg(root.join("etc/ssh/sshd_config"))
        .arg("-h")
        .arg(&key)
        .output()
        .expect("sshd runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!(
            "sshd -T failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let key_line = format!("hostkey {}", key.display());
    let mut lines: Vec<String> = stdout
        .lines()
        .filter(|l| *l != key_line)
        .map(str::to_string)
        .collect();
    if !lines.iter().any(|l| l.starts_with("hostkey ")) {
        let pos = lines
            .iter()
            .position(|l| l.starts_with("authorizedkeysfile "))
            .map_or(lines.len(), |p| p + 1);
        for (i, k) in sshd::DEFAULT_HOST_KEYS.iter().enumerate() {
            lines.insert(pos + i, format!("hostkey {k}"));
        }
    }
    let mut s = lines.join("\n");
    s.push('\n');
    Ok(s)
}

fn probe_settings(fixture: &Path) -> serde_json::Map<String, serde_json::Value> {
    match sshd::collect(&HostRoot::offline(fixture)) {
        Outcome::Ok(serde_json::Value::Object(m)) => m,
        other => panic!("{}: probe gave {other:?}", fixture.display()),
    }
}

#[test]
fn probe_matches_real_sshd_t_on_every_fixture() {
    assert!(
        Path::new(SSHD).exists(),
        "{SSHD} is missing: install openssh-server to run the live sshd -T oracle"
    );
    let record = std::env::var_os("SSHD_ORACLE_RECORD").is_some();
    let mut failures = Vec::new();
    let list = fixtures();
    assert!(list.len() >= 12, "expected at least 12 fixtures");
    for f in list {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let real = match run_sshd(&f) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        if record {
            fs::write(f.join("sshd-T.txt"), &real).unwrap();
        }
        for d in sshd::diff_with_sshd_t(&probe_settings(&f), &real) {
            failures.push(format!("{name}: {d}"));
        }
    }
    assert!(failures.is_empty(), "differences:\n{}", failures.join("\n"));
}
