//! Reading a large apt list on two threads: most of the time of a first
//! (uncached) read of the 50 MB Debian `main` list is the kernel copying it
//! out of the page cache, which one core does alone.
//!
//! The list is cut at the first paragraph break (`\n\n`) at or after its
//! middle, the two parts are read with `pread` (no shared file offset) on
//! two threads, each through [`read_newest`] with half the usual buffer (so
//! memory stays what one reader uses), and the two results are merged in
//! file order. The streamed reader itself only ever cuts at paragraph
//! breaks, and per (name, architecture) the first of the newest versions
//! wins whether the paragraphs come in one pass or in two merged in order,
//! so the result is the same as reading the list whole.

use super::apt_lists::{read_newest, Candidates, Newest, CHUNK, MAX_LIST_BYTES};
use super::dpkg::DpkgInventory;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt as _;

/// Lists smaller than this are read on one thread (security and updates
/// lists: a few MB at most; a thread would cost more than it saves).
const SPLIT_MIN: u64 = 8 * 1024 * 1024;

/// Bytes `[pos, end)` of a file, read with `pread`.
struct Range<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
}

impl Read for Range<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let want = usize::try_from(self.end.saturating_sub(self.pos))
            .unwrap_or(usize::MAX)
            .min(buf.len());
        if want == 0 {
            return Ok(0);
        }
        let n = self
            .file
            .read_at(buf.get_mut(..want).unwrap_or_default(), self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// What the list open as `file` offers the installed packages; a large list
/// is read in two parts on two threads when there are two cores.
pub(super) fn read_list_file(
    file: &File,
    path: &str,
    inv: &DpkgInventory,
) -> Result<Newest, String> {
    let size = file.metadata().map_err(|e| format!("{path}: {e}"))?.len();
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    if size < SPLIT_MIN || cores < 2 {
        let whole = Range {
            file,
            pos: 0,
            end: MAX_LIST_BYTES,
        };
        return read_newest(whole, path, inv, CHUNK);
    }
    read_split(file, size / 2, path, inv)
}

/// Read `file` as two parts cut at the first paragraph break at or after
/// `mid` (one part when there is none).
fn read_split(file: &File, mid: u64, path: &str, inv: &DpkgInventory) -> Result<Newest, String> {
    let cut = cut_point(file, mid).map_err(|e| format!("{path}: {e}"))?;
    let cut = cut.unwrap_or(MAX_LIST_BYTES);
    let (first, second) = std::thread::scope(|s| {
        let second = s.spawn(|| {
            let part = Range {
                file,
                pos: cut,
                end: MAX_LIST_BYTES,
            };
            read_newest(part, path, inv, CHUNK / 2)
        });
        let part = Range {
            file,
            pos: 0,
            end: cut,
        };
        let first = read_newest(part, path, inv, CHUNK / 2);
        match second.join() {
            Ok(second) => (first, second),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    });
    let mut c = Candidates::default();
    c.merge(&first?, false);
    c.merge(&second?, false);
    Ok(c.any)
}

/// The offset just after the first `\n\n` that ends at or after `mid` (a
/// paragraph starts there), or `None` when no break follows.
fn cut_point(file: &File, mid: u64) -> std::io::Result<Option<u64>> {
    let mut at = mid.saturating_sub(2);
    let mut window = vec![0u8; 64 * 1024];
    while at < MAX_LIST_BYTES {
        let n = match file.read_at(&mut window, at) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok(None);
        }
        let got = window.get(..n).unwrap_or_default();
        if let Some(i) = memchr::memmem::find(got, b"\n\n") {
            return Ok(Some(at + i as u64 + 2));
        }
        // The last byte again: a break may straddle two windows.
        at += (n as u64).saturating_sub(1).max(1);
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::super::apt_lists::add_packages_list;
    use super::*;

    /// Cut anywhere, the two parts give what the whole list gives.
    #[test]
    fn any_cut_gives_the_whole_list_result() {
        let mut inv = DpkgInventory::default();
        for (n, a, v) in [
            ("bash", "amd64", "5.2.15-2"),
            ("tzdata", "all", "2024a-0+deb12u1"),
            ("libc6", "amd64", "2.36-9"),
        ] {
            inv.installed
                .insert((n.to_string(), a.to_string()), v.to_string());
        }
        // Several versions of each, equal ones written differently (the
        // first must win), a whitespace-only separator, blank-line runs.
        let mut list = String::new();
        for i in 0..40 {
            list.push_str(&format!(
                "Package: bash\nArchitecture: amd64\nVersion: 5.2.{}\nDescription: x\n Package: tzdata\n\n\n",
                i % 7
            ));
            list.push_str(&format!(
                "Package: tzdata\nArchitecture: all\nVersion: {}2024b-0\n \nPackage: libc6\nArchitecture: amd64\nVersion: 2.36-{}\n\n",
                if i % 2 == 0 { "0:" } else { "" },
                i % 5
            ));
            list.push_str(&format!("Package: other{i}\nVersion: 9\n\n"));
        }
        list.push_str("Package: libc6\nArchitecture: amd64\nVersion: 2.36-3");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x_Packages");
        std::fs::write(&path, &list).unwrap();
        let file = File::open(&path).unwrap();
        let mut whole = Candidates::default();
        add_packages_list(&mut whole, "x_Packages", &list, &inv);
        assert_eq!(whole.any.len(), 3);
        assert_eq!(
            read_list_file(&file, "x_Packages", &inv).unwrap(),
            whole.any
        );
        for mid in 0..=list.len() as u64 + 3 {
            let split = read_split(&file, mid, "x_Packages", &inv).unwrap();
            assert_eq!(split, whole.any, "cut after {mid}");
        }
        // The cut is a paragraph start.
        let cut = cut_point(&file, 100).unwrap().unwrap() as usize;
        assert!(cut >= 100 && &list[cut - 2..cut] == "\n\n");
        assert_eq!(cut_point(&file, list.len() as u64).unwrap(), None);
    }
}
