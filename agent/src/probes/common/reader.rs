//! The shared file reader of the probes: every read goes through the
//! [`HostRoot`], and every failure (permission, loop, binary file, size cap)
//! is recorded in `unreadable` (reported in the probe's data) instead of
//! stopping the probe. A missing file is not a failure: it is `None`.

use crate::hostroot::HostRoot;

/// Reads files under a root, remembering what could not be read.
#[derive(Debug)]
pub struct Reader<'a> {
    /// The root read under.
    pub root: &'a HostRoot,
    /// Whether runtime state (`/run`) may be read: only on a live root.
    pub live: bool,
    /// One message per path that exists but could not be read.
    pub unreadable: Vec<String>,
}

impl<'a> Reader<'a> {
    /// A reader over `root`, live when the root is.
    pub fn new(root: &'a HostRoot) -> Reader<'a> {
        Reader::with_live(root, root.is_live())
    }

    /// A reader that treats the root as live or not (tests of live-only paths).
    pub fn with_live(root: &'a HostRoot, live: bool) -> Reader<'a> {
        Reader {
            root,
            live,
            unreadable: Vec::new(),
        }
    }

    /// A text file's contents; `None` when absent or unreadable (recorded).
    pub fn read(&mut self, path: &str) -> Option<String> {
        match self.root.read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                self.unreadable.push(e.to_string());
                None
            }
        }
    }

    /// The first of `paths` that can be read: (path, contents).
    pub fn first(&mut self, paths: &[&str]) -> Option<(String, String)> {
        paths
            .iter()
            .find_map(|p| self.read(p).map(|t| (p.to_string(), t)))
    }

    /// Sorted paths matching a glob. `/run` holds runtime state (e.g.
    /// DHCP-provided time sources): it is globbed on live roots only.
    pub fn glob(&mut self, pattern: &str) -> Vec<String> {
        if pattern.starts_with("/run/") && !self.live {
            return Vec::new();
        }
        match self.root.glob(pattern) {
            Ok(v) => v,
            Err(e) => {
                self.unreadable.push(e.to_string());
                Vec::new()
            }
        }
    }

    /// Names in a directory (empty when absent or unreadable, recorded).
    pub fn names(&mut self, dir: &str) -> Vec<String> {
        match self.root.read_dir(dir) {
            Ok(n) => n.unwrap_or_default(),
            Err(e) => {
                self.unreadable.push(e.to_string());
                Vec::new()
            }
        }
    }

    /// Whether `path` exists and is not a directory.
    pub fn is_file(&self, path: &str) -> bool {
        matches!(self.root.metadata(path), Ok(Some(m)) if !m.is_dir)
    }
}

/// A text file's contents, or `None` when absent or unreadable, for probes
/// whose facts do not report unreadable files.
pub fn read_quiet(root: &HostRoot, path: &str) -> Option<String> {
    root.read_to_string(path).ok().flatten()
}

/// A text file's contents; an unreadable file is noted in `unreadable`.
pub fn read_noting(root: &HostRoot, path: &str, unreadable: &mut Vec<String>) -> Option<String> {
    match root.read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            unreadable.push(e.to_string());
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probes::common::testutil::tree;

    #[test]
    fn records_unreadable_and_skips_run_offline() {
        let dir = tree(&[("/etc/a.conf", "x"), ("/run/b.conf", "y")], &["/etc/d"]);
        let root = HostRoot::offline(dir.path());
        let mut r = Reader::new(&root);
        assert_eq!(r.read("/etc/a.conf").as_deref(), Some("x"));
        assert_eq!(r.read("/etc/missing"), None);
        assert_eq!(
            r.first(&["/etc/missing", "/etc/a.conf"]),
            Some(("/etc/a.conf".into(), "x".into()))
        );
        assert!(r.glob("/run/*.conf").is_empty());
        assert!(r.is_file("/etc/a.conf") && !r.is_file("/etc/d"));
        assert!(r.unreadable.is_empty(), "{:?}", r.unreadable);
        // a directory read as a file is unreadable, and recorded
        assert_eq!(r.read("/etc/d"), None);
        assert_eq!(r.unreadable.len(), 1);
        let mut live = Reader::with_live(&root, true);
        assert_eq!(live.glob("/run/*.conf"), vec!["/run/b.conf".to_string()]);
    }
}
