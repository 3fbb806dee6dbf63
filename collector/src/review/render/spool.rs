//! Lines of a rendering kept in a temporary file, grouped by a key and
//! written out in key order: a table sorted across the fleet (failing rules
//! by severity, rule and host) is rendered host by host without holding
//! its rows. Memory holds 12 bytes per line plus the keys.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::FileExt as _;

/// Lines by key, in the order pushed within a key.
pub struct Spool<K: Ord> {
    file: std::io::BufWriter<std::fs::File>,
    written: u64,
    at: BTreeMap<K, Vec<(u64, u32)>>,
}

impl<K: Ord> Spool<K> {
    /// An empty spool in the system's temporary directory.
    pub fn new() -> std::io::Result<Spool<K>> {
        Ok(Spool {
            file: std::io::BufWriter::with_capacity(1 << 16, tempfile::tempfile()?),
            written: 0,
            at: BTreeMap::new(),
        })
    }

    /// Append `line` under `key`.
    pub fn push(&mut self, key: K, line: &str) -> std::io::Result<()> {
        let len = u32::try_from(line.len())
            .map_err(|_| std::io::Error::other("a rendered line over 4 GiB"))?;
        self.file.write_all(line.as_bytes())?;
        self.at.entry(key).or_default().push((self.written, len));
        self.written += u64::from(len);
        Ok(())
    }

    /// Write every line to `out`, keys in order.
    pub fn write_to(self, out: &mut dyn Write) -> std::io::Result<()> {
        let file = self.file.into_inner().map_err(|e| e.into_error())?;
        let mut buf = Vec::new();
        for lines in self.at.into_values() {
            for (offset, len) in lines {
                buf.resize(len as usize, 0);
                file.read_exact_at(&mut buf, offset)?;
                out.write_all(&buf)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_come_out_by_key_then_in_push_order() {
        let mut s = Spool::new().unwrap();
        s.push((2, "b"), "x1\n").unwrap();
        s.push((1, "z"), "y1\n").unwrap();
        s.push((2, "b"), "x2\n").unwrap();
        s.push((1, "a"), "").unwrap();
        let mut out = Vec::new();
        s.write_to(&mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "y1\nx1\nx2\n");
    }
}
