//! Fuzz the collector's ingest decoder: any bytes from the network must give
//! a decoded request or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(decoded) = evident_core::wire::decode_ingest(data) {
        let _ = decoded.check_blobs();
        let _ = evident_core::Statement::from_bytes(&decoded.envelope.payload);
    }
});
