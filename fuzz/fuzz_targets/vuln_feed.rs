//! Both feed parsers (the streamed Debian tracker and OSV records) and
//! matching on what they produce: errors, never panics.
#![no_main]

use evident_core::vuln::feed::{add_osv_record, parse_debian_tracker, OsvStats};
use evident_core::vuln::index::{FeedFormat, SnapshotIndex};
use evident_core::vuln::{match_host, Inventory, InventoryPackage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut osv = SnapshotIndex::new(FeedFormat::Osv);
    let _ = add_osv_record(&mut osv, "fuzz.json", data, &mut OsvStats::default());
    let tracker = parse_debian_tracker(data, "fuzz.json");
    let inv = Inventory {
        manager: "dpkg".into(),
        inventory_collected: true,
        os_id: "debian".into(),
        os_version_id: "12".into(),
        os_codename: "bookworm".into(),
        kernel_running: Some("6.1.0-28-amd64".into()),
        inventory: vec![InventoryPackage {
            name: "libssl3".into(),
            version: "3.0.11-1~deb12u2".into(),
            arch: "amd64".into(),
            source: "openssl".into(),
            source_version: "3.0.11-1~deb12u2".into(),
        }],
    };
    let _ = match_host(&inv, &osv);
    if let Ok(ix) = tracker {
        let _ = match_host(&inv, &ix);
    }
});
