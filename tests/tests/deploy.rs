//! The deployment files tell the truth about the toolchain: the declared
//! `rust-version` is at least what every locked dependency needs, the
//! Containerfiles build with that toolchain, their build context leaves out
//! `target/`, and the agent image can check the collector's certificate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// `1.89` and `1.89.0` are the same version.
fn version(v: &str) -> [u64; 3] {
    let mut out = [0; 3];
    for (slot, part) in out.iter_mut().zip(v.split('.')) {
        *slot = part.parse().unwrap_or(0);
    }
    out
}

/// The workspace's declared minimum Rust version.
fn declared_rust_version() -> String {
    let manifest = read("Cargo.toml");
    let line = manifest
        .lines()
        .find(|l| l.starts_with("rust-version"))
        .expect("Cargo.toml declares rust-version");
    line.split('"').nth(1).expect("quoted version").to_string()
}

#[test]
fn rust_version_covers_every_locked_dependency() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked", "--offline"])
        .current_dir(root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let declared = declared_rust_version();
    let packages = meta["packages"].as_array().expect("packages");
    assert!(packages.len() > 100, "metadata lists the locked graph");
    let mut too_new = Vec::new();
    for p in packages {
        if let Some(rv) = p["rust_version"].as_str() {
            if version(rv) > version(&declared) {
                too_new.push(format!("{} {} needs {rv}", p["name"], p["version"]));
            }
        }
    }
    assert!(
        too_new.is_empty(),
        "rust-version = \"{declared}\" is untrue: {too_new:?}"
    );
}

#[test]
fn containerfiles_use_the_declared_toolchain_and_a_lean_context() {
    let declared = declared_rust_version();
    for file in [
        "deploy/container/Containerfile",
        "deploy/container/Containerfile.agent",
    ] {
        let text = read(file);
        let from = text
            .lines()
            .find(|l| l.starts_with("FROM ") && l.contains("library/rust:"))
            .unwrap_or_else(|| panic!("{file}: no rust build stage"));
        assert!(
            from.contains(&format!("rust:{declared}-")),
            "{file}: `{from}` does not match rust-version {declared}"
        );
        assert!(
            text.contains("--locked"),
            "{file}: builds from the lock file"
        );
    }
    let agent = read("deploy/container/Containerfile.agent");
    let runtime = agent.rsplit("FROM ").next().expect("runtime stage");
    assert!(
        runtime.contains("ca-certificates"),
        "the agent image needs a CA bundle"
    );
    let ignore = read(".containerignore");
    let ignored: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    for must in ["target/", ".git/"] {
        assert!(
            ignored.contains(&must),
            ".containerignore leaves {must} in the build context"
        );
    }
    assert_eq!(
        std::fs::read_link(root().join(".dockerignore"))
            .expect(".dockerignore is a link")
            .to_str(),
        Some(".containerignore")
    );
}
