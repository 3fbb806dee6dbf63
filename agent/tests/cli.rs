#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `evident-agent scan|collect|probes` run as a real process over fixture
//! root trees (never this machine's /etc).

use std::path::Path;
use std::process::Command;

fn agent(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_evident-agent"))
        .args(args)
        .env("NO_COLOR", "1")
        // The apt list cache goes to a scratch directory, not ~/.cache.
        .env("XDG_CACHE_HOME", env!("CARGO_TARGET_TMPDIR"))
        .output()
        .expect("run evident-agent");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write(root: &Path, path: &str, text: &str) {
    let p = root.join(path.trim_start_matches('/'));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// A small Debian 12 root whose sshd allows root logins.
fn weak_root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    write(r, "/etc/os-release", "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nID=debian\n");
    write(r, "/etc/hostname", "web-7\n");
    write(r, "/etc/machine-id", "4c4c4544003957108052b4c04f384833\n");
    write(r, "/etc/ssh/sshd_config", "Include /etc/ssh/sshd_config.d/*.conf\n\n# Authentication:\nPermitRootLogin yes\nX11Forwarding yes\n");
    write(r, "/etc/ssh/sshd_config.d/.keep", "");
    dir
}

#[test]
fn scan_json_reports_host_policies_controls_and_failing_rules() {
    let root = weak_root();
    let (code, stdout, stderr) = agent(&[
        "scan",
        "--root",
        root.path().to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code, 1, "a failing rule must exit 1\n{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["host"]["hostname"], "web-7");
    assert_eq!(v["host"]["os_id"], "debian");
    let policy = &v["policies"][0];
    assert_eq!(policy["id"], "linux-baseline");
    assert!(policy["sha256"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(v["controls"].as_array().unwrap().len(), 93);
    let rules = v["rules"].as_array().unwrap();
    let root_login = rules.iter().find(|r| r["id"] == "ssh.root-login").unwrap();
    assert_eq!(root_login["status"], "fail");
    assert_eq!(root_login["severity"], "high");
    assert!(root_login["message"].as_str().unwrap().contains("\"yes\""));
    assert!(root_login["remediation"]
        .as_str()
        .unwrap()
        .contains("PermitRootLogin"));
    let a85 = v["controls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "A.8.5")
        .unwrap();
    assert!(
        matches!(a85["status"].as_str().unwrap(), "not-satisfied" | "partial"),
        "{a85}"
    );
}

#[test]
fn scan_table_puts_failures_first_with_the_fix_and_no_colour_off_terminal() {
    let root = weak_root();
    let (code, stdout, _) = agent(&["scan", "--root", root.path().to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        !stdout.contains("\x1b["),
        "no ANSI colour when not on a terminal"
    );
    let first_fail = stdout.find("FAIL").expect("a failure is listed");
    let first_satisfied = stdout.find(" satisfied").unwrap_or(usize::MAX);
    assert!(
        first_fail < first_satisfied,
        "failures come before satisfied controls:\n{stdout}"
    );
    assert!(stdout.contains("fix: Set `PermitRootLogin no`"), "{stdout}");
}

#[test]
fn scan_markdown_and_output_file() {
    let root = weak_root();
    let out = root.path().join("report.md");
    let (code, stdout, _) = agent(&[
        "scan",
        "--root",
        root.path().to_str().unwrap(),
        "--format",
        "markdown",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(stdout.is_empty());
    let md = std::fs::read_to_string(out).unwrap();
    assert!(md.starts_with("# Evident scan of web-7"), "{md}");
    assert!(md.contains("| fail | high | `ssh.root-login`"), "{md}");
}

#[test]
fn collect_prints_probe_array_with_sshd_settings_keyed_by_keyword() {
    let root = weak_root();
    let (code, stdout, stderr) = agent(&[
        "collect",
        "--root",
        root.path().to_str().unwrap(),
        "--probe",
        "sshd",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 1);
    assert_eq!(arr[0]["probe"], "sshd");
    assert_eq!(arr[0]["status"], "ok");
    assert!(arr[0]["version"].as_u64().is_some());
    assert_eq!(arr[0]["data"]["permitrootlogin"], "yes");
    assert_eq!(arr[0]["data"]["x11forwarding"], "yes");
    // A default sshd fills in for an unset keyword.
    assert!(arr[0]["data"]["maxauthtries"].is_number());
}

#[test]
fn root_without_etc_still_reports_everything_else() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = agent(&[
        "collect",
        "--root",
        dir.path().to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 15, "every probe reports");
    for p in arr {
        if p["status"] != "ok" {
            assert!(p["reason"].as_str().is_some_and(|r| !r.is_empty()), "{p}");
        }
    }
    let (code, _, _) = agent(&[
        "scan",
        "--root",
        dir.path().to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert!(
        code == 0 || code == 1,
        "scan of an empty root is not an error"
    );
}

#[test]
fn bad_arguments_exit_2_with_a_clear_error() {
    let (code, _, stderr) = agent(&["scan", "--root", "/nonexistent/evident-root"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("--root /nonexistent/evident-root: not a directory"),
        "{stderr}"
    );
    let (code, _, stderr) = agent(&["collect", "--probe", "nope"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("unknown probe `nope`"), "{stderr}");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.toml"),
        "[policy]\nid = 'x'\n[[rule]]\nid='r'\ncontrols=['A.9.9']\n",
    )
    .unwrap();
    let (code, _, stderr) = agent(&[
        "scan",
        "--root",
        dir.path().to_str().unwrap(),
        "--policy",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("p.toml:"), "{stderr}");
}

#[test]
fn probes_lists_every_probe_with_controls() {
    let (code, stdout, _) = agent(&["probes", "--format", "json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 15);
    for p in arr {
        assert!(!p["controls"].as_array().unwrap().is_empty());
        assert!(!p["fields"].as_array().unwrap().is_empty());
    }
}

#[test]
fn a_rule_ending_in_error_makes_scan_exit_2_naming_rule_and_reason() {
    let root = weak_root();
    let dir = tempfile::tempdir().unwrap();
    // Valid for the schema; fails at run time (division by zero).
    std::fs::write(
        dir.path().join("p.toml"),
        "[policy]\nid='p'\nversion='1'\ntitle='p'\n[[rule]]\nid='ssh.broken'\ntitle='t'\ncontrols=['A.8.5']\nseverity='high'\nrequires=['sshd']\ncheck='1 / (sshd.maxauthtries - sshd.maxauthtries) == 1'\n",
    )
    .unwrap();
    let (code, stdout, stderr) = agent(&[
        "scan",
        "--root",
        root.path().to_str().unwrap(),
        "--policy",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("error: rule `ssh.broken` (p) errored: check failed:"),
        "{stderr}"
    );
}

/// Every file under `dir` with its size and modification time.
fn listing(dir: &Path, out: &mut Vec<String>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let m = e.metadata().unwrap();
        out.push(format!(
            "{} {} {:?}",
            e.path().display(),
            m.len(),
            m.modified().unwrap()
        ));
        if m.is_dir() {
            listing(&e.path(), out);
        }
    }
}

/// `scan` and `collect` keep the apt list cache in the user's cache
/// directory, never in the scanned root, and a cold, a warm and a
/// `--no-cache` run give byte-identical evidence on the package fixtures.
#[test]
fn the_apt_list_cache_gives_identical_evidence_and_stays_out_of_the_root() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/packages");
    let cache = tempfile::tempdir().unwrap();
    let run = |root: &Path, extra: &[&str], args: &[&str]| -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_evident-agent"))
            .args(args)
            .arg("--root")
            .arg(root)
            .args(extra)
            .env("NO_COLOR", "1")
            .env("XDG_CACHE_HOME", cache.path())
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for name in ["debian12", "debian12-weak"] {
        let root = fixtures.join(name);
        let mut before = Vec::new();
        listing(&root, &mut before);
        // The bytes the statement would hash: the probe's data.
        let data = |extra: &[&str]| -> Vec<u8> {
            let (code, stdout, stderr) = run(
                &root,
                extra,
                &["collect", "--probe", "packages", "--format", "json"],
            );
            assert_eq!(code, 0, "{stderr}");
            let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
            assert_eq!(v[0]["status"], "ok");
            serde_json::to_vec(&v[0]["data"]).unwrap()
        };
        let cached_files =
            || std::fs::read_dir(cache.path().join("evident-agent")).map_or(0, |d| d.count());
        let before_files = cached_files();
        let uncached = data(&["--no-cache"]);
        assert_eq!(cached_files(), before_files, "--no-cache writes nothing");
        let cold = data(&[]);
        let warm = data(&[]);
        assert_eq!(cold, uncached, "{name}");
        assert_eq!(warm, uncached, "{name}");
        let other = tempfile::tempdir().unwrap();
        let explicit = ["--cache-dir", other.path().to_str().unwrap()];
        assert_eq!(data(&explicit), uncached, "{name}");
        assert_eq!(data(&explicit), uncached, "{name}");
        assert_eq!(std::fs::read_dir(other.path()).unwrap().count(), 1);
        // The whole scan report, apart from the collection time.
        let report = |extra: &[&str]| -> serde_json::Value {
            let (code, stdout, stderr) = run(&root, extra, &["scan", "--format", "json"]);
            assert!(code == 0 || code == 1, "{stderr}");
            let mut v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
            v.as_object_mut().unwrap().remove("collected_at");
            v
        };
        assert_eq!(report(&[]), report(&["--no-cache"]), "{name}");
        let mut after = Vec::new();
        listing(&root, &mut after);
        assert_eq!(before, after, "nothing written under the scanned root");
    }
    // One cache file per root, private.
    let files: Vec<_> = std::fs::read_dir(cache.path().join("evident-agent"))
        .unwrap()
        .map(|e| e.unwrap())
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
    use std::os::unix::fs::PermissionsExt as _;
    for f in &files {
        assert_eq!(f.metadata().unwrap().permissions().mode() & 0o777, 0o600);
    }
    // An explicit cache directory inside the scanned root is refused.
    let root = weak_root();
    let inside = root.path().join("var/cache/evident");
    let (code, _, stderr) = run(
        root.path(),
        &["--cache-dir", inside.to_str().unwrap()],
        &["scan"],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("inside the scanned root"), "{stderr}");
    assert!(!root.path().join("var/cache").exists());
    let (code, _, stderr) = run(root.path(), &["--no-cache", "--cache-dir", "/x"], &["scan"]);
    assert_eq!(code, 2, "{stderr}");
}
