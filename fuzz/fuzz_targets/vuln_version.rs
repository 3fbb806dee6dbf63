//! Both version comparators (Debian and rpm) on arbitrary pairs: never a
//! panic, and on valid pairs an ordering that is antisymmetric.
#![no_main]

use evident_core::vuln::version::{compare, Scheme};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (a, b) = text.split_once('\n').unwrap_or((&text, ""));
    for scheme in [Scheme::Deb, Scheme::Rpm] {
        if let (Ok(x), Ok(y)) = (compare(scheme, a, b), compare(scheme, b, a)) {
            assert_eq!(x, y.reverse(), "{scheme:?} {a:?} {b:?}");
        }
    }
    let _ = evident_core::vuln::version::deb::compare_lenient(a, b);
});
