//! The agent's Ed25519 signing key: the ONLY module that touches key material.
//!
//! On first start the key is generated from the operating system's random
//! generator (`OsRng`) and written atomically (temporary file created with
//! mode 0600, fsync, rename, fsync of the directory) as `agent.key` in the
//! state directory: the 32-byte RFC 8032 secret seed, nothing else. Later
//! starts load it. The seed never leaves this module except inside an
//! [`evident_core::Signer`], whose `Debug` prints only the key id; nothing
//! here logs key bytes.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use evident_core::Signer;
use std::fs;
use std::io::{self, Read as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use zeroize::Zeroize as _;

/// The key file's name inside the state directory.
pub const KEY_FILE: &str = "agent.key";

/// Why the key could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("{path}: not an Evident agent key (expected 32 bytes, found {len})")]
    Length { path: String, len: usize },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The key file path under `state_dir`.
pub fn key_path(state_dir: &Path) -> PathBuf {
    state_dir.join(KEY_FILE)
}

/// Whether a key exists under `state_dir`.
pub fn exists(state_dir: &Path) -> bool {
    key_path(state_dir).exists()
}

/// Load the key, or generate and store a new one. The flag says whether it was generated.
pub fn load_or_generate(state_dir: &Path) -> Result<(Signer, bool), KeyError> {
    let path = key_path(state_dir);
    match load(&path) {
        Ok(s) => Ok((s, false)),
        Err(KeyError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            Ok((generate(&path)?, true))
        }
        Err(e) => Err(e),
    }
}

/// Load an existing key file; a key readable by others is tightened to 0600 with a warning.
pub fn load(path: &Path) -> Result<Signer, KeyError> {
    let mut file = fs::File::open(path).map_err(io_err(path))?;
    let meta = file.metadata().map_err(io_err(path))?;
    if meta.permissions().mode() & 0o077 != 0 {
        tracing::warn!(path = %path.display(), "key file was readable by others; setting mode 0600");
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(io_err(path))?;
    }
    let mut buf = Vec::with_capacity(33);
    (&mut file)
        .take(33)
        .read_to_end(&mut buf)
        .map_err(io_err(path))?;
    let seed: Result<[u8; 32], _> = buf.as_slice().try_into();
    let len = buf.len();
    buf.zeroize();
    match seed {
        Ok(mut seed) => {
            let signer = Signer::from_seed(&seed);
            seed.zeroize();
            Ok(signer)
        }
        Err(_) => Err(KeyError::Length {
            path: path.display().to_string(),
            len,
        }),
    }
}

fn generate(path: &Path) -> Result<Signer, KeyError> {
    use rand_core::RngCore as _;
    let mut seed = [0u8; 32];
    rand_core::OsRng.fill_bytes(&mut seed);
    let signer = Signer::from_seed(&seed);
    let written = crate::fsutil::write_atomic(path, &seed, 0o600);
    seed.zeroize();
    written.map_err(io_err(path))?;
    tracing::info!(key_id = signer.key_id(), "generated a new agent key");
    Ok(signer)
}

/// The public key as standard base64 of its 32 bytes (for enrollment).
pub fn public_key_b64(signer: &Signer) -> String {
    B64.encode(signer.verifying_key().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_once_with_mode_0600_then_reuses() {
        let dir = tempfile::tempdir().unwrap();
        let (a, fresh) = load_or_generate(dir.path()).unwrap();
        assert!(fresh);
        let mode = fs::metadata(key_path(dir.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let (b, fresh) = load_or_generate(dir.path()).unwrap();
        assert!(!fresh);
        assert_eq!(a.key_id(), b.key_id());
        // Debug never shows key bytes.
        assert!(!format!("{a:?}").contains(&public_key_b64(&a)));
    }

    #[test]
    fn wrong_length_is_an_error_and_loose_mode_is_fixed() {
        let dir = tempfile::tempdir().unwrap();
        let p = key_path(dir.path());
        fs::write(&p, b"short").unwrap();
        assert!(matches!(load(&p), Err(KeyError::Length { len: 5, .. })));
        fs::write(&p, [7u8; 32]).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        load(&p).unwrap();
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
