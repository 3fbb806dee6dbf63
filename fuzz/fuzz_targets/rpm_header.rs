#![no_main]
//! Fuzz target `rpm_header`: any bytes as an rpm header blob (the rpm
//! database's `Packages.blob`) must give a package or an error, never a panic.
use libfuzzer_sys::fuzz_target;
fuzz_target!(|data: &[u8]| {
    let _ = evident_agent::probes::packages::parse_rpm_header(data);
});
