#![no_main]
//! Fuzz target `envelope_decode`: arbitrary input must never panic.
use libfuzzer_sys::fuzz_target;
use evident_core::dsse::Envelope;
use evident_core::evidence::{Evidence, Statement};
fuzz_target!(|data: &[u8]| {
    if let Ok(env) = Envelope::from_json(data) {
        let _ = env.to_json();
    }
    if let Ok(st) = Statement::from_bytes(data) {
        let _ = Evidence::from_statement(&st, |_| Some(data));
    }
});
