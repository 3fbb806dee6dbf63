//! Test utilities shared by the probes' unit tests: fixture trees built in
//! a temporary directory, symbolic links, and the dotted field names of data.

#![allow(clippy::unwrap_used)]

use std::os::unix::fs::symlink;
use std::path::Path;

/// Build a root tree from `(host path, content)` pairs.
pub fn tree(files: &[(&str, &str)], dirs: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (p, c) in files {
        let full = dir.path().join(p.trim_start_matches('/'));
        std::fs::create_dir_all(full.parent().unwrap_or(Path::new("/"))).unwrap();
        std::fs::write(full, c).unwrap();
    }
    for d in dirs {
        std::fs::create_dir_all(dir.path().join(d.trim_start_matches('/'))).unwrap();
    }
    dir
}

/// Create a symbolic link `at` (host path) pointing to `target`.
pub fn link(dir: &tempfile::TempDir, target: &str, at: &str) {
    let p = dir.path().join(at.trim_start_matches('/'));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    symlink(target, p).unwrap();
}

/// Dotted names of every field in `v` (lists as `name[]`).
pub fn field_names(v: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
    if let serde_json::Value::Object(m) = v {
        for (k, val) in m {
            let name = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            out.push(name.clone());
            match val {
                serde_json::Value::Object(_) => field_names(val, &name, out),
                serde_json::Value::Array(a) => {
                    if let Some(first) = a.first() {
                        field_names(first, &format!("{name}[]"), out);
                    }
                }
                _ => {}
            }
        }
    }
}
