//! `HostRoot`: every file a probe reads goes through here.
//!
//! Paths are given as they are on the host (`/etc/ssh/sshd_config`) and read
//! under a root prefix (`/` by default, or a mounted image with `--root`).
//! Symbolic links are followed by hand *inside* the root, so an absolute link
//! in an image (`/etc/localtime -> /usr/share/zoneinfo/UTC`) resolves within
//! the image, never on the scanning host. Reads are capped in size, link loops
//! are detected, and binary files are refused, so no file can hang or blow up
//! a probe.

use std::ffi::OsStr;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

/// The largest file a probe reads (the dpkg status database of a big host is ~10 MiB).
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// How many symbolic links one resolution may follow before it is called a loop.
const MAX_LINKS: usize = 40;

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("{path}: file is {size} bytes, over the {MAX_FILE_BYTES}-byte limit")]
    TooLarge { path: String, size: u64 },
    #[error("{path}: looks like a binary file (contains NUL bytes)")]
    Binary { path: String },
    #[error("{path}: too many levels of symbolic links")]
    SymlinkLoop { path: String },
}

impl ReadError {
    /// Whether the error is "permission denied" (probes often report this as a fact).
    pub fn is_permission_denied(&self) -> bool {
        matches!(self, ReadError::Io { source, .. } if source.kind() == io::ErrorKind::PermissionDenied)
    }
}

/// What `stat` says about a file, without its contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    /// Permission bits and type bits (`st_mode`).
    pub mode: u32,
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// Whether it is a directory.
    pub is_dir: bool,
}

/// Whether `dir` is `root` or lies under it (compared canonically as far as
/// the paths exist; a directory that does not exist yet is judged by its
/// nearest existing ancestor).
fn inside(dir: &Path, root: &Path) -> bool {
    let canon = |p: &Path| -> PathBuf {
        let mut missing = Vec::new();
        let mut cur = p.to_path_buf();
        loop {
            if let Ok(c) = fs::canonicalize(&cur) {
                return missing.into_iter().rev().fold(c, |acc, m| acc.join(m));
            }
            match (cur.file_name().map(OsStr::to_os_string), cur.parent()) {
                (Some(name), Some(parent)) => {
                    missing.push(name);
                    cur = parent.to_path_buf();
                }
                _ => return p.to_path_buf(),
            }
        }
    };
    canon(dir).starts_with(canon(root))
}

/// A host file system seen from a root prefix.
#[derive(Debug, Clone)]
pub struct HostRoot {
    root: PathBuf,
    live: bool,
    host_mode: bool,
    cache_dir: Option<PathBuf>,
}

impl HostRoot {
    /// A root at `path`. It is *live* (processes, sockets, clock state are
    /// this machine's) only when `path` is `/`.
    pub fn new(path: impl AsRef<Path>) -> HostRoot {
        let root = path.as_ref().to_path_buf();
        let live = fs::canonicalize(&root)
            .map(|p| p == Path::new("/"))
            .unwrap_or(false);
        HostRoot {
            root,
            live,
            host_mode: false,
            cache_dir: None,
        }
    }

    /// The running host's `/` mounted at `path` inside a container that
    /// shares the host's process and network namespaces (Kubernetes
    /// `hostPID` and `hostNetwork`, like node_exporter's `--path.rootfs`):
    /// files are read under `path`, and `path/proc`, `path/sys` and
    /// `path/run` are the *live* system's, so runtime facts (sysctls,
    /// sockets, time sync, SELinux/AppArmor state) are collected as on the
    /// host itself. Per-process views use the host's init (`/proc/1`), not
    /// the agent's own mount namespace.
    pub fn host_mode(path: impl AsRef<Path>) -> HostRoot {
        HostRoot {
            root: path.as_ref().to_path_buf(),
            live: true,
            host_mode: true,
            cache_dir: None,
        }
    }

    /// A root that is never treated as live, for tests over fixture trees.
    pub fn offline(path: impl AsRef<Path>) -> HostRoot {
        HostRoot {
            root: path.as_ref().to_path_buf(),
            live: false,
            host_mode: false,
            cache_dir: None,
        }
    }

    /// Whether facts only a running system has (`/proc`, sockets, clock sync) may be read.
    pub fn is_live(&self) -> bool {
        self.live
    }

    /// Whether this is [`HostRoot::host_mode`].
    pub fn is_host_mode(&self) -> bool {
        self.host_mode
    }

    /// The `/proc` directory of the process whose view of mounts is the
    /// host's: `/proc/self` on the host itself, `/proc/1` (the host's init,
    /// seen through `hostPID`) in host mode, where the agent's own mount
    /// namespace is the container's.
    pub fn proc_self(&self) -> &'static str {
        if self.host_mode {
            "/proc/1"
        } else {
            "/proc/self"
        }
    }

    /// The same root with a directory where probes may keep derived data
    /// between runs (the packages probe's apt list cache), or none. The
    /// directory is the *agent's* (its state directory, or the user's cache
    /// directory for `scan`), never a place inside the scanned root: a
    /// directory under a root other than this machine's `/` (an image, or
    /// the host's `/` in host mode) is refused, and nothing is cached.
    pub fn with_cache_dir(mut self, dir: Option<PathBuf>) -> HostRoot {
        let own_root = self.live && !self.host_mode;
        self.cache_dir = dir.filter(|d| own_root || !inside(d, &self.root));
        self
    }

    /// Where probes may cache derived data (see [`HostRoot::with_cache_dir`]).
    pub fn cache_dir(&self) -> Option<&Path> {
        self.cache_dir.as_deref()
    }

    /// The root prefix.
    pub fn prefix(&self) -> &Path {
        &self.root
    }

    /// The path under the root, without following links (for messages).
    pub fn display_path(&self, host_path: &str) -> PathBuf {
        self.root.join(host_path.trim_start_matches('/'))
    }

    /// Resolve `host_path` to a real path under the root, following symbolic
    /// links inside the root. A missing final component is not an error (the
    /// returned path simply does not exist).
    pub fn resolve(&self, host_path: &str) -> Result<PathBuf, ReadError> {
        let mut pending: Vec<std::ffi::OsString> = Vec::new();
        push_components(&mut pending, Path::new(host_path));
        pending.reverse();
        let mut resolved: Vec<std::ffi::OsString> = Vec::new();
        let mut links = 0;
        while let Some(part) = pending.pop() {
            if part == OsStr::new("..") {
                resolved.pop();
                continue;
            }
            let candidate = self.join(&resolved).join(&part);
            match fs::symlink_metadata(&candidate) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(ReadError::SymlinkLoop {
                            path: host_path.to_string(),
                        });
                    }
                    let target = fs::read_link(&candidate).map_err(|source| ReadError::Io {
                        path: host_path.to_string(),
                        source,
                    })?;
                    if target.is_absolute() {
                        resolved.clear();
                    }
                    let mut parts = Vec::new();
                    push_components(&mut parts, &target);
                    for p in parts.into_iter().rev() {
                        pending.push(p);
                    }
                }
                _ => resolved.push(part),
            }
        }
        Ok(self.join(&resolved))
    }

    fn join(&self, parts: &[std::ffi::OsString]) -> PathBuf {
        let mut p = self.root.clone();
        for part in parts {
            p.push(part);
        }
        p
    }

    /// Read a text file. `Ok(None)` when it does not exist.
    pub fn read_to_string(&self, host_path: &str) -> Result<Option<String>, ReadError> {
        let Some(bytes) = self.read_bytes(host_path)? else {
            return Ok(None);
        };
        if bytes.contains(&0) {
            return Err(ReadError::Binary {
                path: host_path.to_string(),
            });
        }
        Ok(Some(match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }))
    }

    /// Read a file's bytes (capped at [`MAX_FILE_BYTES`]). `Ok(None)` when it does not exist.
    pub fn read_bytes(&self, host_path: &str) -> Result<Option<Vec<u8>>, ReadError> {
        let path = self.resolve(host_path)?;
        let io_err = |source| ReadError::Io {
            path: host_path.to_string(),
            source,
        };
        let file = match fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(e)),
        };
        let meta = file.metadata().map_err(io_err)?;
        if meta.is_dir() {
            return Err(io_err(io::Error::other("is a directory")));
        }
        if meta.len() > MAX_FILE_BYTES {
            return Err(ReadError::TooLarge {
                path: host_path.to_string(),
                size: meta.len(),
            });
        }
        // procfs/sysfs files report size 0 and the kernel regenerates them on
        // every read call (~2.5 ms for /proc/net/tcp on some VMs), so read
        // into a buffer sized up front and stop at the first empty read:
        // `read_to_end` would issue an extra probing read per file.
        let initial = if meta.len() == 0 {
            64 * 1024
        } else {
            meta.len() + 1
        };
        let mut buf = vec![0u8; usize::try_from(initial.min(MAX_FILE_BYTES + 1)).unwrap_or(4096)];
        let mut file = file;
        let mut len = 0usize;
        loop {
            if len == buf.len() {
                if len as u64 > MAX_FILE_BYTES {
                    return Err(ReadError::TooLarge {
                        path: host_path.to_string(),
                        size: len as u64,
                    });
                }
                let grown =
                    (len * 2).min(usize::try_from(MAX_FILE_BYTES + 1).unwrap_or(usize::MAX));
                buf.resize(grown.max(len + 1), 0);
            }
            let Some(free) = buf.get_mut(len..) else {
                break;
            };
            match file.read(free) {
                Ok(0) => break,
                Ok(n) => len += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_err(e)),
            }
        }
        if len as u64 > MAX_FILE_BYTES {
            return Err(ReadError::TooLarge {
                path: host_path.to_string(),
                size: len as u64,
            });
        }
        buf.truncate(len);
        Ok(Some(buf))
    }

    /// Whether `host_path` exists (following links inside the root).
    pub fn exists(&self, host_path: &str) -> bool {
        self.resolve(host_path).map(|p| p.exists()).unwrap_or(false)
    }

    /// `stat` a path (following links inside the root). `Ok(None)` when it does not exist.
    pub fn metadata(&self, host_path: &str) -> Result<Option<FileMeta>, ReadError> {
        let path = self.resolve(host_path)?;
        match fs::metadata(&path) {
            Ok(m) => Ok(Some(FileMeta {
                mode: m.mode(),
                uid: m.uid(),
                gid: m.gid(),
                size: m.len(),
                mtime: m.mtime(),
                is_dir: m.is_dir(),
            })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(ReadError::Io {
                path: host_path.to_string(),
                source,
            }),
        }
    }

    /// Names in a directory, sorted. `Ok(None)` when the directory does not exist.
    pub fn read_dir(&self, host_path: &str) -> Result<Option<Vec<String>>, ReadError> {
        let path = self.resolve(host_path)?;
        let entries = match fs::read_dir(&path) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(ReadError::Io {
                    path: host_path.to_string(),
                    source,
                })
            }
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        Ok(Some(names))
    }

    /// Host paths matching a glob pattern such as `/etc/ssh/sshd_config.d/*.conf`,
    /// sorted (the order sshd and most tools use). Only the final component may
    /// contain wildcards; the directory part is resolved inside the root.
    pub fn glob(&self, host_pattern: &str) -> Result<Vec<String>, ReadError> {
        let (dir, pattern) = match host_pattern.rsplit_once('/') {
            Some((d, p)) => (if d.is_empty() { "/" } else { d }, p),
            None => ("/", host_pattern),
        };
        let Ok(matcher) = glob::Pattern::new(pattern) else {
            return Ok(Vec::new());
        };
        let opts = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: true,
        };
        let Some(names) = self.read_dir(dir)? else {
            return Ok(Vec::new());
        };
        Ok(names
            .into_iter()
            .filter(|n| matcher.matches_with(n, opts))
            .map(|n| format!("{}/{}", dir.trim_end_matches('/'), n))
            .collect())
    }
}

/// One entry met by [`HostRoot::walk_tree`]: its host path and `lstat` data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeEntry {
    /// Host path (`/etc/cron.d/x`).
    pub path: String,
    /// `st_mode` (type and permission bits) of the entry itself, links not followed.
    pub mode: u32,
    /// A directory (not a link to one).
    pub is_dir: bool,
    /// A symbolic link (never followed).
    pub is_symlink: bool,
}

/// What one [`HostRoot::walk_tree`] saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeWalk {
    /// Entries visited.
    pub entries: usize,
    /// The entry budget ran out before the tree did.
    pub truncated: bool,
    /// Directories that exist but could not be listed (with the reason).
    pub unlisted: Vec<String>,
}

/// How deep [`HostRoot::walk_tree`] descends below the tree's top.
const MAX_WALK_DEPTH: usize = 32;

impl HostRoot {
    /// Visit every entry below `host_path` (the top is resolved inside the
    /// root; below it symbolic links are reported, never followed, so the
    /// walk cannot leave the root or loop), in sorted order per directory,
    /// spending at most `*budget` entries (shared by several walks; the walk
    /// stops and says `truncated` when it runs out). `Ok(None)` when the top
    /// does not exist or is not a directory.
    pub fn walk_tree(
        &self,
        host_path: &str,
        budget: &mut usize,
        visit: &mut dyn FnMut(&TreeEntry),
    ) -> Result<Option<TreeWalk>, ReadError> {
        let top = self.resolve(host_path)?;
        match fs::metadata(&top) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(ReadError::Io {
                    path: host_path.to_string(),
                    source,
                })
            }
        }
        let mut walk = TreeWalk::default();
        let mut stack: Vec<(PathBuf, String, usize)> =
            vec![(top, host_path.trim_end_matches('/').to_string(), 0)];
        while let Some((dir, host_dir, depth)) = stack.pop() {
            let listing = match fs::read_dir(&dir) {
                Ok(l) => l,
                Err(e) => {
                    walk.unlisted.push(format!("{host_dir}: {e}"));
                    continue;
                }
            };
            let mut entries: Vec<(String, fs::Metadata)> = listing
                .filter_map(Result::ok)
                .filter_map(|e| {
                    let meta = e.metadata().ok()?; // lstat: links are not followed
                    Some((e.file_name().to_string_lossy().into_owned(), meta))
                })
                .collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            let mut subdirs = Vec::new();
            for (name, meta) in entries {
                if *budget == 0 {
                    walk.truncated = true;
                    return Ok(Some(walk));
                }
                *budget -= 1;
                walk.entries += 1;
                let entry = TreeEntry {
                    path: format!("{host_dir}/{name}"),
                    mode: meta.mode(),
                    is_dir: meta.is_dir(),
                    is_symlink: meta.file_type().is_symlink(),
                };
                visit(&entry);
                if entry.is_dir && depth < MAX_WALK_DEPTH {
                    subdirs.push((dir.join(&name), entry.path, depth + 1));
                }
            }
            // Depth first, in sorted order.
            stack.extend(subdirs.into_iter().rev());
        }
        Ok(Some(walk))
    }
}

fn push_components(out: &mut Vec<std::ffi::OsString>, path: &Path) {
    for c in path.components() {
        match c {
            Component::Normal(p) => out.push(p.to_os_string()),
            Component::ParentDir => out.push("..".into()),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn absolute_links_resolve_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::create_dir_all(root.join("usr/share/zoneinfo")).unwrap();
        fs::write(root.join("usr/share/zoneinfo/UTC"), "TZif").unwrap();
        symlink("/usr/share/zoneinfo/UTC", root.join("etc/localtime")).unwrap();
        symlink("../usr/share/zoneinfo/UTC", root.join("etc/rel")).unwrap();
        let hr = HostRoot::offline(root);
        assert_eq!(
            hr.read_to_string("/etc/localtime").unwrap().unwrap(),
            "TZif"
        );
        assert_eq!(hr.read_to_string("/etc/rel").unwrap().unwrap(), "TZif");
        assert!(!hr.is_live());
        // `..` never climbs above the root.
        symlink("/../../../../etc/passwd", root.join("etc/escape")).unwrap();
        assert_eq!(hr.read_to_string("/etc/escape").unwrap(), None);
    }

    #[test]
    fn loops_missing_binary_and_directories_are_errors_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("etc")).unwrap();
        symlink("/etc/b", root.join("etc/a")).unwrap();
        symlink("/etc/a", root.join("etc/b")).unwrap();
        fs::write(root.join("etc/bin"), b"abc\0def").unwrap();
        let hr = HostRoot::offline(root);
        assert!(matches!(
            hr.read_to_string("/etc/a"),
            Err(ReadError::SymlinkLoop { .. })
        ));
        assert_eq!(hr.read_to_string("/etc/missing").unwrap(), None);
        assert!(matches!(
            hr.read_to_string("/etc/bin"),
            Err(ReadError::Binary { .. })
        ));
        assert!(hr.read_to_string("/etc").is_err());
        assert_eq!(hr.read_dir("/nope").unwrap(), None);
    }

    #[test]
    fn reads_files_of_every_size_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let hr = HostRoot::offline(dir.path());
        for size in [0usize, 1, 4095, 4096, 65_536, 65_537, 300_000] {
            let data: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
            std::fs::write(dir.path().join("f"), &data).unwrap();
            assert_eq!(hr.read_bytes("/f").unwrap().unwrap(), data, "size {size}");
        }
    }

    #[test]
    fn glob_matches_sorted_names_in_one_directory() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("etc/ssh/sshd_config.d");
        fs::create_dir_all(&d).unwrap();
        for n in ["50-cloud.conf", "10-a.conf", ".hidden.conf", "x.txt"] {
            fs::write(d.join(n), "").unwrap();
        }
        let hr = HostRoot::offline(dir.path());
        assert_eq!(
            hr.glob("/etc/ssh/sshd_config.d/*.conf").unwrap(),
            vec![
                "/etc/ssh/sshd_config.d/10-a.conf",
                "/etc/ssh/sshd_config.d/50-cloud.conf"
            ]
        );
        assert!(hr.glob("/nope/*.conf").unwrap().is_empty());
    }

    #[test]
    fn file_metadata_reports_mode_and_owner() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("shadow");
        fs::write(&f, "x").unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(0o640)).unwrap();
        let hr = HostRoot::offline(dir.path());
        let m = hr.metadata("/shadow").unwrap().unwrap();
        assert_eq!(m.mode & 0o7777, 0o640);
        assert_eq!(hr.metadata("/nope").unwrap(), None);
    }
}
