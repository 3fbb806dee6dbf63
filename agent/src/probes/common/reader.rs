//! The shared file reader of the probes: every read goes through the
//! [`HostRoot`], and every failure (permission, loop, binary file, size cap)
//! is recorded in `unreadable` (reported in the probe's data) instead of
//! stopping the probe. A missing file is not a failure: it is `None`.
//!
//! Paths refused for lack of permission (an unprivileged scan) are also
//! listed in `denied`, so probes can say which facts are unknown rather than
//! absent. Tests simulate that with [`Reader::denying`] (they run as root,
//! where `chmod 000` changes nothing).

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
    /// Host paths that exist but could not be read for lack of permission.
    pub denied: Vec<String>,
    /// Host paths (and everything below them) to treat as permission denied.
    deny: Vec<String>,
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
            denied: Vec::new(),
            deny: Vec::new(),
        }
    }

    /// The same reader, refusing `paths` (and everything below them) as the
    /// kernel refuses an unprivileged process: what an unprivileged scan
    /// sees, simulated without `chmod` (which root ignores).
    pub fn denying(mut self, paths: &[&str]) -> Reader<'a> {
        self.deny
            .extend(paths.iter().map(|p| p.trim_end_matches('/').to_string()));
        self
    }

    /// Whether `path` is refused by [`Reader::denying`] (and exists, as the
    /// kernel only refuses what is there); records the refusal.
    fn simulated_denial(&mut self, path: &str) -> bool {
        if self.refused(path) {
            self.note_denied(path, format!("{path}: Permission denied (os error 13)"));
            return true;
        }
        false
    }

    fn refused(&self, path: &str) -> bool {
        self.deny.iter().any(|d| {
            path == d
                || path
                    .strip_prefix(d.as_str())
                    .is_some_and(|rest| rest.starts_with('/'))
        }) && self.root.exists(path)
    }

    fn note_denied(&mut self, path: &str, message: String) {
        self.unreadable.push(message);
        if !self.denied.iter().any(|d| d == path) {
            self.denied.push(path.to_string());
        }
    }

    fn note(&mut self, path: &str, e: &crate::hostroot::ReadError) {
        if e.is_permission_denied() {
            self.note_denied(path, e.to_string());
        } else {
            self.unreadable.push(e.to_string());
        }
    }

    /// A text file's contents; `None` when absent or unreadable (recorded).
    pub fn read(&mut self, path: &str) -> Option<String> {
        if self.simulated_denial(path) {
            return None;
        }
        match self.root.read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                self.note(path, &e);
                None
            }
        }
    }

    /// Whether `path` was refused for lack of permission (or is refused by
    /// [`Reader::denying`]).
    pub fn is_denied(&self, path: &str) -> bool {
        self.refused(path) || self.denied.iter().any(|d| d == path)
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
        let dir = match pattern.rsplit_once('/') {
            Some(("", _)) | None => "/",
            Some((d, _)) => d,
        };
        if self.simulated_denial(dir) {
            return Vec::new();
        }
        match self.root.glob(pattern) {
            Ok(v) => v,
            Err(e) => {
                self.note(dir, &e);
                Vec::new()
            }
        }
    }

    /// Names in a directory (empty when absent or unreadable, recorded).
    pub fn names(&mut self, dir: &str) -> Vec<String> {
        if self.simulated_denial(dir) {
            return Vec::new();
        }
        match self.root.read_dir(dir) {
            Ok(n) => n.unwrap_or_default(),
            Err(e) => {
                self.note(dir, &e);
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

    #[test]
    fn denied_paths_are_unreadable_and_listed_like_an_unprivileged_scan() {
        let dir = tree(
            &[
                ("/etc/shadow", "root:*:1::::::\n"),
                ("/etc/sudoers.d/a", "x"),
                ("/etc/passwd", "root:x:0:0::/root:/bin/sh\n"),
            ],
            &[],
        );
        let root = HostRoot::offline(dir.path());
        let mut r = Reader::new(&root).denying(&["/etc/shadow", "/etc/sudoers.d"]);
        assert_eq!(r.read("/etc/shadow"), None);
        assert!(r.read("/etc/passwd").is_some());
        assert!(r.names("/etc/sudoers.d").is_empty());
        assert_eq!(r.read("/etc/sudoers.d/a"), None);
        assert!(r.glob("/etc/sudoers.d/*").is_empty());
        // A denied path that does not exist is simply absent, as for the kernel.
        assert_eq!(r.read("/etc/shadow-"), None);
        assert_eq!(
            r.denied,
            vec!["/etc/shadow", "/etc/sudoers.d", "/etc/sudoers.d/a"]
        );
        assert!(r.unreadable.iter().all(|m| m.contains("Permission denied")));
        assert_eq!(r.unreadable.len(), 4);
        assert!(r.is_denied("/etc/shadow") && !r.is_denied("/etc/passwd"));
    }
}
