#![no_main]
//! Fuzz target `probe_kernel`: arbitrary input must never panic.
use libfuzzer_sys::fuzz_target;
fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        evident_agent::probes::kernel::fuzz_parse(text);
    }
});
