#![no_main]
//! Fuzz target `policy_testcase`: arbitrary input must never panic.
use libfuzzer_sys::fuzz_target;
use evident_core::policy::testcase::{parse_fixture, parse_tests};
fuzz_target!(|data: &[u8]| {
    let _ = parse_tests("fuzz_test.toml", data);
    let _ = parse_fixture(data);
});
