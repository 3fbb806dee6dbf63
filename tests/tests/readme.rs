//! README.md's command blocks run as written, so the README cannot rot.
//!
//! Every ```sh block runs, in order, as one bash script per block
//! (`set -euo pipefail`), in one temporary working directory, with the
//! built binaries first on PATH and the environment pointing everything
//! at temporary places: `EVIDENT_DIR` (the collector's data directory,
//! instead of /var/lib/evident) and `EVIDENT_LISTEN` (a free port on
//! 127.0.0.1). A line starting `evident-collector serve` is started in
//! the background and waited for (`listening on`); it is stopped at the
//! end. A block that cannot run here (it scans this machine, installs a
//! systemd service, runs the whole test suite) is preceded by
//! `<!-- readme-test: skip (reason) -->`; the reason is required and the
//! skipped blocks are counted and listed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A ```sh block of the README.
#[derive(Debug)]
struct Block {
    /// 1-based line of the opening fence.
    line: usize,
    /// The block's text.
    text: String,
    /// `Some(reason)` when marked `<!-- readme-test: skip (reason) -->`.
    skip: Option<String>,
}

fn readme() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    std::fs::read_to_string(path).unwrap()
}

/// The ```sh blocks, with their skip markers.
fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate();
    let mut marker: Option<String> = None;
    while let Some((i, line)) = lines.next() {
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix("<!-- readme-test:") {
            let rest = rest.trim_end_matches("-->").trim();
            let reason = rest
                .strip_prefix("skip")
                .map(str::trim)
                .and_then(|r| r.strip_prefix('('))
                .and_then(|r| r.strip_suffix(')'))
                .map(str::trim)
                .filter(|r| !r.is_empty());
            assert!(
                reason.is_some(),
                "README.md:{}: a readme-test marker must read `<!-- readme-test: skip (reason) -->`",
                i + 1
            );
            marker = reason.map(str::to_string);
            continue;
        }
        if trimmed.starts_with("```") {
            let lang = trimmed.trim_start_matches('`').trim();
            let mut body = String::new();
            for (_, l) in lines.by_ref() {
                if l.trim_start().starts_with("```") {
                    break;
                }
                body.push_str(l);
                body.push('\n');
            }
            if lang == "sh" {
                out.push(Block {
                    line: i + 1,
                    text: body,
                    skip: marker.take(),
                });
            } else {
                assert!(
                    marker.is_none(),
                    "README.md:{}: a readme-test marker before a block that is not ```sh",
                    i + 1
                );
            }
            continue;
        }
        if !trimmed.is_empty() {
            assert!(
                marker.is_none(),
                "README.md:{}: a readme-test marker must come right before a ```sh block",
                i + 1
            );
        }
    }
    out
}

/// The block as a script: `serve` lines go to the background.
fn script(block: &Block) -> String {
    let mut s = String::from("set -euo pipefail\n");
    for line in block.text.lines() {
        if line.trim_start().starts_with("evident-collector serve") {
            let command = line.split(" #").next().unwrap_or(line).trim_end();
            s.push_str(&format!(
                "{command} > serve.log 2>&1 &\necho $! >> serve.pids\n\
                 for _ in $(seq 1 200); do grep -q 'listening on' serve.log && break; sleep 0.1; done\n\
                 grep -q 'listening on' serve.log || {{ cat serve.log >&2; exit 1; }}\n"
            ));
        } else {
            s.push_str(line);
            s.push('\n');
        }
    }
    s
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn stop_servers(work: &Path) {
    if let Ok(pids) = std::fs::read_to_string(work.join("serve.pids")) {
        for pid in pids.split_whitespace() {
            let _ = Command::new("kill").arg(pid).status();
        }
    }
}

#[test]
fn readme_markers_are_well_formed_and_counted() {
    let text = "intro\n<!-- readme-test: skip (scans the host) -->\n```sh\nscan\n```\n```toml\na = 1\n```\n```sh\nls\n```\n";
    let b = blocks(text);
    assert_eq!(b.len(), 2);
    assert_eq!(b[0].skip.as_deref(), Some("scans the host"));
    assert_eq!(b[0].line, 3);
    assert!(b[1].skip.is_none());
    let bad = std::panic::catch_unwind(|| blocks("<!-- readme-test: skip -->\n```sh\nx\n```\n"));
    assert!(bad.is_err(), "a marker without a reason is refused");
    let s = script(&Block {
        line: 1,
        text: "evident-collector serve   # HTTPS\nevident-collector alerts\n".into(),
        skip: None,
    });
    assert!(
        s.contains("\nevident-collector serve > serve.log 2>&1 &\n"),
        "{s}"
    );
    assert!(s.contains("\nevident-collector alerts\n"), "{s}");
}

#[test]
fn readme_command_blocks_run_as_written() {
    let bin_dir: PathBuf = evident_e2e::bin("evident-collector")
        .parent()
        .unwrap()
        .to_path_buf();
    assert!(
        bin_dir.join("evident-agent").exists(),
        "build evident-agent first"
    );
    let all = blocks(&readme());
    let skipped: Vec<&Block> = all.iter().filter(|b| b.skip.is_some()).collect();
    let runnable: Vec<&Block> = all.iter().filter(|b| b.skip.is_none()).collect();
    assert!(
        runnable.len() >= 6,
        "README.md has only {} runnable sh blocks",
        runnable.len()
    );
    // Every waiver is explicit and few: the README is mostly runnable.
    assert!(
        skipped.len() <= 3,
        "too many skipped README blocks: {:?}",
        skipped
            .iter()
            .map(|b| (b.line, b.skip.as_deref()))
            .collect::<Vec<_>>()
    );
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let data = tmp.path().join("data");
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let listen = format!("127.0.0.1:{}", free_port());
    let mut ran = 0;
    for block in &runnable {
        let out = Command::new("bash")
            .arg("-c")
            .arg(script(block))
            .current_dir(&work)
            .env("PATH", &path)
            .env("EVIDENT_DIR", &data)
            .env("EVIDENT_LISTEN", &listen)
            .env("NO_COLOR", "1")
            .env("HOME", tmp.path())
            .env_remove("EVIDENT_DATABASE_URL")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        if !out.status.success() {
            stop_servers(&work);
            let log = std::fs::read_to_string(work.join("serve.log")).unwrap_or_default();
            panic!(
                "README.md:{}: the block failed ({}):\n{}\n--- stdout\n{}\n--- stderr\n{}\n--- serve.log\n{log}",
                block.line,
                out.status,
                block.text,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        ran += 1;
    }
    stop_servers(&work);
    // What the blocks promise exists.
    for file in ["evidence.bundle", "collector.pem", "report.html"] {
        assert!(work.join(file).is_file(), "README run made no {file}");
    }
    assert!(data.join("config.toml").is_file());
    eprintln!(
        "README.md: {ran} blocks ran, {} skipped: {}",
        skipped.len(),
        skipped
            .iter()
            .map(|b| format!("line {} ({})", b.line, b.skip.as_deref().unwrap_or("")))
            .collect::<Vec<_>>()
            .join("; ")
    );
}
