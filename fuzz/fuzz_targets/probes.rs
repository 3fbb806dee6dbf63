#![no_main]
//! Fuzz target `probes`: every registered probe's parsers on arbitrary text
//! must never panic. The first byte picks the probe (index into
//! `evident_agent::probes::REGISTRY`), the rest is the input, so a new probe
//! is fuzzed as soon as it is registered: no target to add.
use libfuzzer_sys::fuzz_target;
fuzz_target!(|data: &[u8]| {
    let registry = evident_agent::probes::REGISTRY;
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Some(probe) = registry.get(usize::from(pick) % registry.len()) else {
        return;
    };
    if let Ok(text) = std::str::from_utf8(rest) {
        (probe.fuzz)(text);
    }
});
