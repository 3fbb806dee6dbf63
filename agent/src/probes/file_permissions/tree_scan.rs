//! The scan of the privileged trees for world-writable files and
//! directories: bounded, links never followed, honest about where it stopped.

use crate::hostroot::HostRoot;
use serde::Serialize;

/// The directories that hold what root runs and how the system is
/// configured: a file anyone can write there is a way to root.
pub const PRIVILEGED_TREES: &[&str] = &[
    "/etc",
    "/usr/bin",
    "/usr/sbin",
    "/usr/local/bin",
    "/usr/local/sbin",
    "/usr/lib/systemd/system",
    "/usr/local/lib/systemd/system",
    "/bin",
    "/sbin",
    "/lib/systemd/system",
    "/var/spool/cron",
];

/// The most entries the tree scan visits (all trees together).
pub const TREE_SCAN_LIMIT: usize = 200_000;
/// The most world-writable entries (and unlisted directories) reported by path.
pub const TREE_SCAN_REPORTED: usize = 100;

/// A world-writable entry found by the tree scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WritableEntry {
    /// Host path.
    pub path: String,
    /// Permission bits, octal.
    pub mode: String,
    /// A directory (world-writable without the sticky bit).
    pub is_dir: bool,
}

/// The scan of [`PRIVILEGED_TREES`] for world-writable files and directories.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TreeScan {
    /// Trees scanned (existing ones; a tree that is a link to another, such
    /// as `/bin` → `usr/bin`, is scanned once under its first name).
    pub trees: Vec<String>,
    /// Entries visited.
    pub entries: usize,
    /// The entry limit.
    pub limit: usize,
    /// The limit was reached before the trees were done.
    pub truncated: bool,
    /// Directories that could not be listed (first [`TREE_SCAN_REPORTED`]).
    pub unlisted: Vec<String>,
    /// World-writable regular files and world-writable directories without
    /// the sticky bit (first [`TREE_SCAN_REPORTED`], in scan order).
    pub world_writable: Vec<WritableEntry>,
    /// How many there are in all.
    pub world_writable_count: usize,
}

/// Whether a `lstat` mode is a finding: a regular file others may write, or
/// a directory others may write without the sticky bit (which would let
/// anyone delete and replace the files in it). Links, devices, sockets and
/// pipes are not.
pub fn is_world_writable_finding(mode: u32) -> bool {
    const S_IFMT: u32 = 0o170000;
    let other_write = mode & 0o002 != 0;
    match mode & S_IFMT {
        0o100000 => other_write,
        0o040000 => other_write && mode & 0o1000 == 0,
        _ => false,
    }
}

/// Scan [`PRIVILEGED_TREES`] under `root` (bounded by `limit` entries).
pub fn scan_trees(root: &HostRoot, limit: usize) -> TreeScan {
    let mut scan = TreeScan {
        limit,
        ..TreeScan::default()
    };
    let mut budget = limit;
    let mut seen = Vec::new();
    for tree in PRIVILEGED_TREES {
        let Ok(real) = root.resolve(tree) else {
            continue;
        };
        if seen.contains(&real) {
            continue;
        }
        // The top itself (`/usr/local/bin` drwxrwxrwx) counts like its entries.
        if let Ok(Some(top)) = root.metadata(tree) {
            if top.is_dir && is_world_writable_finding(top.mode) {
                scan.world_writable_count += 1;
                if scan.world_writable.len() < TREE_SCAN_REPORTED {
                    scan.world_writable.push(WritableEntry {
                        path: (*tree).to_string(),
                        mode: format!("{:04o}", top.mode & 0o7777),
                        is_dir: true,
                    });
                }
            }
        }
        let mut visit = |e: &crate::hostroot::TreeEntry| {
            if !e.is_symlink && is_world_writable_finding(e.mode) {
                scan.world_writable_count += 1;
                if scan.world_writable.len() < TREE_SCAN_REPORTED {
                    scan.world_writable.push(WritableEntry {
                        path: e.path.clone(),
                        mode: format!("{:04o}", e.mode & 0o7777),
                        is_dir: e.is_dir,
                    });
                }
            }
        };
        match root.walk_tree(tree, &mut budget, &mut visit) {
            Ok(None) => continue,
            Ok(Some(walk)) => {
                scan.entries += walk.entries;
                scan.truncated |= walk.truncated;
                for u in walk.unlisted {
                    if scan.unlisted.len() < TREE_SCAN_REPORTED {
                        scan.unlisted.push(u);
                    }
                }
            }
            Err(e) => {
                if scan.unlisted.len() < TREE_SCAN_REPORTED {
                    scan.unlisted.push(e.to_string());
                }
            }
        }
        seen.push(real);
        scan.trees.push((*tree).to_string());
        if scan.truncated {
            break;
        }
    }
    scan
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn tree_scan_finds_world_writable_files_and_unsticky_dirs_without_following_links() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        let put = |p: &str, mode: u32| {
            let full = r.join(p);
            fs::create_dir_all(full.parent().unwrap()).unwrap();
            fs::write(&full, "x").unwrap();
            fs::set_permissions(&full, fs::Permissions::from_mode(mode)).unwrap();
        };
        let mkdir = |p: &str, mode: u32| {
            fs::create_dir_all(r.join(p)).unwrap();
            fs::set_permissions(r.join(p), fs::Permissions::from_mode(mode)).unwrap();
        };
        put("etc/hosts", 0o644);
        put("etc/cron.d/evil", 0o666);
        put("etc/profile.d/zz.sh", 0o646);
        mkdir("etc/sysctl.d", 0o777);
        mkdir("etc/spool-like", 0o1777); // sticky: not a finding
        put("usr/bin/tool", 0o777);
        put("usr/bin/ls", 0o755);
        // A link is never a finding, and never followed out of the tree.
        put("srv/open", 0o666);
        std::os::unix::fs::symlink("/srv/open", r.join("etc/link")).unwrap();
        std::os::unix::fs::symlink("/srv", r.join("etc/srv-dir")).unwrap();
        // /bin is a link to usr/bin (merged /usr): scanned once.
        std::os::unix::fs::symlink("usr/bin", r.join("bin")).unwrap();
        let root = HostRoot::offline(r);
        let scan = scan_trees(&root, TREE_SCAN_LIMIT);
        let found: Vec<(&str, &str, bool)> = scan
            .world_writable
            .iter()
            .map(|w| (w.path.as_str(), w.mode.as_str(), w.is_dir))
            .collect();
        assert_eq!(
            found,
            vec![
                // A directory's entries first, then its subdirectories in order.
                ("/etc/sysctl.d", "0777", true),
                ("/etc/cron.d/evil", "0666", false),
                ("/etc/profile.d/zz.sh", "0646", false),
                ("/usr/bin/tool", "0777", false),
            ]
        );
        assert_eq!(scan.world_writable_count, 4);
        assert_eq!(scan.trees, vec!["/etc", "/usr/bin"]);
        assert!(!scan.truncated && scan.unlisted.is_empty());
        // etc: hosts, cron.d, evil, profile.d, zz.sh, sysctl.d, spool-like, link, srv-dir; usr/bin: 2.
        assert_eq!(scan.entries, 11);
        // A limit below the tree's size is reported, never a clean result.
        let small = scan_trees(&root, 3);
        assert!(small.truncated);
        assert_eq!(small.entries, 3);
        assert_eq!(small.trees, vec!["/etc"]);
        // The top of a tree counts too.
        fs::create_dir_all(r.join("usr/local/bin")).unwrap();
        fs::set_permissions(r.join("usr/local/bin"), fs::Permissions::from_mode(0o777)).unwrap();
        let scan = scan_trees(&root, TREE_SCAN_LIMIT);
        assert_eq!(scan.world_writable_count, 5);
        assert!(scan
            .world_writable
            .iter()
            .any(|w| w.path == "/usr/local/bin" && w.is_dir));
        assert!(is_world_writable_finding(0o100002));
        assert!(!is_world_writable_finding(0o120777));
        assert!(!is_world_writable_finding(0o041777));
    }
}
