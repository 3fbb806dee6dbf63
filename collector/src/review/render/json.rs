//! JSON renderings: the report and SoA models as they are (pretty-printed).

use evident_core::report::{Report, SoaRow};

/// The report as JSON, written to `out` (the host rows one at a time).
pub fn report(r: &Report, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, r).map_err(std::io::Error::other)
}

/// The SoA rows as JSON.
pub fn soa(rows: &[SoaRow]) -> Vec<u8> {
    serde_json::to_vec_pretty(rows).unwrap_or_default()
}
