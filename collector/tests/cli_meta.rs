#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `--version`, `completions` and `man` of `evident-collector`, run as a
//! real process. The agent has the same tests in agent/tests/cli_meta.rs.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_evident-collector");
const NAME: &str = "evident-collector";

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .output()
        .expect("run the binary");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Render roff with groff (man macros, all warnings); a warning or a
/// non-zero exit is a failure. groff must be installed: no skipping.
fn render_roff(roff: &[u8]) -> String {
    use std::io::Write as _;
    let mut child = Command::new("groff")
        // -k: preconv, as man(1) does (help texts hold UTF-8); -P-cbu: plain text.
        .args(["-k", "-man", "-Tutf8", "-ww", "-P-cbu"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("groff must be installed to check the man pages");
    child.stdin.take().unwrap().write_all(roff).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "groff failed: {stderr}");
    assert!(stderr.trim().is_empty(), "groff warnings: {stderr}");
    // Collapse the justification's runs of blanks.
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn version_names_the_package_version_git_revision_and_profile() {
    let (code, out, _) = run(&["--version"]);
    assert_eq!(code, 0);
    let line = out.trim();
    let expected_prefix = format!("{NAME} {} (git ", env!("CARGO_PKG_VERSION"));
    assert!(line.starts_with(&expected_prefix), "{line}");
    let rest = &line[expected_prefix.len()..];
    let (revision, tail) = rest.split_once(", ").expect("revision, profile");
    let hash = revision.trim_end_matches("-dirty");
    assert!(
        revision == "unknown" || (hash.len() == 12 && hash.chars().all(|c| c.is_ascii_hexdigit())),
        "revision {revision:?}"
    );
    // The binary under test is built with the tests' profile.
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    assert_eq!(tail, format!("{profile} build)"), "{line}");
}

#[test]
fn bash_completions_name_the_subcommands() {
    let (code, out, err) = run(&["completions", "bash"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("complete -F"), "not a bash completion script");
    for sub in [
        "serve",
        "agents",
        "token",
        "export",
        "verify",
        "config",
        "completions",
    ] {
        assert!(out.contains(sub), "subcommand {sub} missing");
    }
    let (code, _, err) = run(&["completions", "tcsh"]);
    assert_eq!(code, 2, "unknown shell is a usage error");
    assert!(err.contains("tcsh"), "{err}");
}

#[test]
fn man_page_is_valid_roff_with_name_and_synopsis() {
    let out = Command::new(BIN).arg("man").output().unwrap();
    assert!(out.status.success());
    let roff = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(roff.contains(".TH evident-collector 1"), "{roff}");
    let text = render_roff(&out.stdout);
    assert!(text.contains("NAME"), "{text}");
    assert!(text.contains("SYNOPSIS"), "{text}");
    assert!(
        text.contains("evident-collector - Evident collector"),
        "{text}"
    );
}

#[test]
fn man_dir_writes_one_valid_page_per_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("man1");
    let (code, _, err) = run(&["man", "--dir", pages.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    for page in [
        "evident-collector.1",
        "evident-collector-serve.1",
        "evident-collector-agents-list.1",
    ] {
        let roff = std::fs::read(pages.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        let text = render_roff(&roff);
        assert!(text.contains("SYNOPSIS"), "{page}: {text}");
    }
}

#[test]
fn config_check_says_ok_or_names_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("config.toml"), "listen = \"127.0.0.1:8443\"\n").unwrap();
    let (code, out, err) = run(&["config", "check", "--dir", d.to_str().unwrap()]);
    assert_eq!((code, out.trim()), (0, "ok"), "{err}");

    // Unknown field: the TOML error names file, line and field.
    let typo = d.join("typo.toml");
    std::fs::write(&typo, "listen = \"127.0.0.1:8443\"\nmax_bach = 5\n").unwrap();
    let (code, out, err) = run(&["config", "check", "--config", typo.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}");
    assert!(err.contains("typo.toml"), "{err}");
    assert!(err.contains("line 2"), "{err}");
    assert!(err.contains("unknown field `max_bach`"), "{err}");

    // A refused value: file:line: field and reason.
    let bad = d.join("bad.toml");
    std::fs::write(&bad, "listen = \"127.0.0.1:8443\"\n\nmax_batch = 0\n").unwrap();
    let (code, _, err) = run(&["config", "check", "--config", bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("bad.toml:3: max_batch must be between 1 and 10000"),
        "{err}"
    );

    // No file at all is an error, not silently the defaults.
    let (code, _, err) = run(&["config", "check", "--dir", d.join("none").to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("not an Evident data directory"), "{err}");
    let (code, _, err) = run(&[
        "config",
        "check",
        "--config",
        d.join("none.toml").to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("no such file"), "{err}");
}
