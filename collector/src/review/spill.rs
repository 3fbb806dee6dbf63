//! Host rows of a report written to an unlinked temporary file as they are
//! built, read back one at a time when the report is rendered: a report's
//! memory then holds per host only its sort key and the row's place in the
//! file (~100 bytes), not the row (~20–40 KB of failing rules with their
//! values and remediation at fleet scale).

use evident_core::report::{HostRow, HostRowSource};
use std::io::Write as _;
use std::os::unix::fs::FileExt as _;

/// Rows being written; [`HostSpill::finish`] orders them as the report
/// does (host name, then agent).
pub struct HostSpill {
    file: std::io::BufWriter<std::fs::File>,
    written: u64,
    /// (host name, agent, offset, length) per row.
    rows: Vec<(String, String, u64, u32)>,
}

impl HostSpill {
    /// An empty spill in the system's temporary directory (`TMPDIR`).
    pub fn new() -> std::io::Result<HostSpill> {
        Ok(HostSpill {
            file: std::io::BufWriter::with_capacity(1 << 16, tempfile::tempfile()?),
            written: 0,
            rows: Vec::new(),
        })
    }

    /// Append `row`.
    pub fn push(&mut self, row: &HostRow) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(row).map_err(std::io::Error::other)?;
        let len = u32::try_from(bytes.len())
            .map_err(|_| std::io::Error::other("a host row over 4 GiB"))?;
        self.file.write_all(&bytes)?;
        self.rows
            .push((row.hostname.clone(), row.agent.clone(), self.written, len));
        self.written += u64::from(len);
        Ok(())
    }

    /// The rows, readable by position in report order.
    pub fn finish(self) -> std::io::Result<SpilledHosts> {
        let HostSpill { file, mut rows, .. } = self;
        let file = file.into_inner().map_err(|e| e.into_error())?;
        rows.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
        Ok(SpilledHosts {
            file,
            at: rows.into_iter().map(|(_, _, o, l)| (o, l)).collect(),
        })
    }
}

/// Spilled host rows in report order.
#[derive(Debug)]
pub struct SpilledHosts {
    file: std::fs::File,
    /// (offset, length) per row, in report order.
    at: Vec<(u64, u32)>,
}

impl HostRowSource for SpilledHosts {
    fn len(&self) -> usize {
        self.at.len()
    }

    fn get(&self, index: usize) -> Result<HostRow, String> {
        let (offset, len) = *self.at.get(index).ok_or("beyond the last row")?;
        let mut buf = vec![0u8; len as usize];
        self.file
            .read_exact_at(&mut buf, offset)
            .map_err(|e| format!("reading the report's temporary file: {e}"))?;
        serde_json::from_slice(&buf).map_err(|e| format!("decoding a spilled row: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;
    use evident_core::report::HostRows;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    fn row(host: &str, agent: &str) -> HostRow {
        HostRow {
            agent: agent.into(),
            hostname: host.into(),
            statements: 1,
            last_sequence: 1,
            last_collected: chrono::Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
            age_seconds: 1,
            fresh: true,
            rules: BTreeMap::new(),
            controls: BTreeMap::new(),
            failing_rules: Vec::new(),
            waived_rules: Vec::new(),
            keys: Vec::new(),
        }
    }

    #[test]
    fn rows_come_back_in_report_order_and_equal() {
        let mut s = HostSpill::new().unwrap();
        let rows = [row("web", "b"), row("db <x>", "z"), row("web", "a")];
        for r in &rows {
            s.push(r).unwrap();
        }
        let spilled = HostRows::Source(Arc::new(s.finish().unwrap()));
        let back = spilled.to_vec().unwrap();
        let names: Vec<_> = back
            .iter()
            .map(|r| (r.hostname.as_str(), r.agent.as_str()))
            .collect();
        assert_eq!(names, [("db <x>", "z"), ("web", "a"), ("web", "b")]);
        assert_eq!(back[1], rows[2]);
    }
}
