//! JSON renderings: the report and SoA models as they are (pretty-printed).

use evident_core::report::{Report, SoaRow};

/// The report as JSON.
pub fn report(r: &Report) -> Vec<u8> {
    serde_json::to_vec_pretty(r).unwrap_or_default()
}

/// The SoA rows as JSON.
pub fn soa(rows: &[SoaRow]) -> Vec<u8> {
    serde_json::to_vec_pretty(rows).unwrap_or_default()
}
