#![no_main]
//! Fuzz target `policy_load`: arbitrary input must never panic.
use libfuzzer_sys::fuzz_target;
use evident_core::policy::{PolicySet, PolicySource};
fuzz_target!(|data: &[u8]| {
    let src = PolicySource::new("fuzz.toml", data);
    if let Ok(set) = PolicySet::load(&[src], evident_core::Catalog::annex_a()) {
        let _ = set.with_waivers("w.toml", data);
    }
});
