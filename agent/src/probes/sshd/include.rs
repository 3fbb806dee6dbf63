//! Where `Include`d files come from: the host root or a fixed map of files.

use super::MAX_FILES;
use crate::hostroot::HostRoot;
use crate::probes::common::reader::Reader;
use std::cell::RefCell;

/// Where the parser gets included files from.
pub trait IncludeSource {
    /// Sorted host paths matching a glob (only existing entries).
    fn glob(&self, pattern: &str) -> Result<Vec<String>, String>;
    /// Contents of a file.
    fn read(&self, path: &str) -> Result<String, String>;
}

/// Include source over a fixed map of files (for tests and fuzzing).
#[derive(Debug, Default)]
pub struct MapSource(pub Vec<(String, String)>);

impl IncludeSource for MapSource {
    fn glob(&self, pattern: &str) -> Result<Vec<String>, String> {
        let pat = glob::Pattern::new(pattern).map_err(|e| e.to_string())?;
        let opts = glob_opts();
        let mut out: Vec<String> = self
            .0
            .iter()
            .map(|(p, _)| p.clone())
            .filter(|p| pat.matches_with(p, opts))
            .collect();
        out.sort();
        Ok(out)
    }
    fn read(&self, path: &str) -> Result<String, String> {
        self.0
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, c)| c.clone())
            .ok_or_else(|| format!("{path}: not found"))
    }
}

pub(super) fn glob_opts() -> glob::MatchOptions {
    glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: true,
    }
}

/// Include source reading through the probe's [`Reader`], so that a file
/// or directory refused for lack of permission (an unprivileged scan, or
/// [`Reader::denying`] in tests) is recorded in `denied`.
pub(super) struct ReaderSource<'r, 'a>(pub(super) RefCell<&'r mut Reader<'a>>);

impl IncludeSource for ReaderSource<'_, '_> {
    fn glob(&self, pattern: &str) -> Result<Vec<String>, String> {
        let mut r = self.0.borrow_mut();
        // The directory part before the first wildcard.
        let literal = pattern
            .split_once(['*', '?', '['])
            .map_or(pattern, |(head, _)| head);
        let dir = match literal.rsplit_once('/') {
            Some(("", _)) | None => "/",
            Some((d, _)) => d,
        };
        if r.is_denied(dir) {
            r.names(dir);
            return Err(format!("{dir}: Permission denied (os error 13)"));
        }
        root_glob(r.root, pattern).inspect_err(|_| {
            // Records a refusal of the directory, if that is what failed.
            r.names(dir);
        })
    }
    fn read(&self, path: &str) -> Result<String, String> {
        let mut r = self.0.borrow_mut();
        let before = r.unreadable.len();
        match r.read(path) {
            Some(t) => Ok(t),
            None => Err(r
                .unreadable
                .get(before)
                .cloned()
                .unwrap_or_else(|| format!("{path}: not found"))),
        }
    }
}

/// glob(3) over a host root: wildcards allowed in any component, results sorted.
pub(super) fn root_glob(root: &HostRoot, pattern: &str) -> Result<Vec<String>, String> {
    let comps: Vec<&str> = pattern.split('/').filter(|c| !c.is_empty()).collect();
    let mut current: Vec<String> = vec![String::new()];
    let last = comps.len().saturating_sub(1);
    for (i, comp) in comps.iter().enumerate() {
        let mut next = Vec::new();
        let wild = comp.contains(['*', '?', '[']);
        for base in &current {
            if !wild {
                let p = format!("{base}/{comp}");
                if i < last || root.exists(&p) {
                    next.push(p);
                }
                continue;
            }
            let Ok(m) = glob::Pattern::new(comp) else {
                continue;
            };
            let dir = if base.is_empty() { "/" } else { base.as_str() };
            let names = root.read_dir(dir).map_err(|e| e.to_string())?;
            for n in names.unwrap_or_default() {
                if m.matches_with(&n, glob_opts()) {
                    next.push(format!("{base}/{n}"));
                }
            }
        }
        current = next;
        if current.len() > MAX_FILES {
            return Err(format!("{pattern}: too many matches"));
        }
    }
    current.retain(|p| !p.is_empty() && root.exists(p));
    current.sort();
    Ok(current)
}
