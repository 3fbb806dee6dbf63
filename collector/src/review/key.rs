//! The collector's own Ed25519 signing key (`DIR/collector.key`, hex seed,
//! mode 0600): it signs bundle manifests.

use super::error::{io, ReviewError};
use evident_core::Signer;
use std::path::Path;

/// File name of the collector's signing key inside the data directory.
pub const COLLECTOR_KEY_FILE: &str = "collector.key";

/// The collector's Ed25519 key, created (never overwritten) when missing.
pub fn collector_signer(dir: &Path) -> Result<Signer, ReviewError> {
    let path = dir.join(COLLECTOR_KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let mut seed = [0u8; 32];
            hex::decode_to_slice(text.trim(), &mut seed).map_err(|_| {
                ReviewError::Invalid(format!("{}: not a 32-byte hex key", path.display()))
            })?;
            Ok(Signer::from_seed(&seed))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            use rand_core::RngCore as _;
            use std::io::Write as _;
            use std::os::unix::fs::OpenOptionsExt as _;
            let mut seed = [0u8; 32];
            rand_core::OsRng.fill_bytes(&mut seed);
            std::fs::create_dir_all(dir).map_err(io(dir))?;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(io(&path))?;
            f.write_all(format!("{}\n", hex::encode(seed)).as_bytes())
                .and_then(|()| f.sync_all())
                .map_err(io(&path))?;
            Ok(Signer::from_seed(&seed))
        }
        Err(e) => Err(io(&path)(e)),
    }
}
