//! Reading trust anchors given on the command line, and opening a bundle
//! file only once it verifies against them.

use super::bundle_file::read_bundle;
use super::error::{io, ReviewError};
use super::model::Members;
use evident_core::bundle::{self, trust, Pins, TrustedKey};
use std::path::Path;

/// A trust anchor given as `arg`: a file holding a key (the PEM from
/// `key show`, or base64), else the argument itself (a bare key id).
pub fn load_trust(arg: &str) -> Result<TrustedKey, ReviewError> {
    let path = Path::new(arg);
    let text = if path.is_file() {
        std::fs::read_to_string(path).map_err(io(path))?
    } else {
        arg.to_string()
    };
    trust::parse_trust(&text).map_err(|e| {
        ReviewError::Invalid(format!(
            "--trust {arg}: {e} (give the file `evident-collector key show` printed, or the 64-hex-digit key id)"
        ))
    })
}

/// Why a bundle could not be opened for rendering.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The file could not be read as a bundle at all.
    #[error(transparent)]
    File(#[from] ReviewError),
    /// The bundle did not verify (or its signer is not the pinned key).
    #[error("the bundle does not verify; nothing is rendered:\n{}", failures.join("\n"))]
    Failed {
        /// The failing checks, one line each: `[kind] subject: message`.
        failures: Vec<String>,
        /// The full verification report.
        report: Box<bundle::Report>,
    },
}

/// Read `path` and verify it against `pins`; the members only when every
/// check passes and the signer is the pinned key.
pub fn open_verified(
    path: &Path,
    pins: &Pins,
    progress: bundle::Progress<'_>,
) -> Result<(Members, bundle::Report), OpenError> {
    let members = read_bundle(path)?;
    let report = bundle::verify_pinned(&members, pins, progress);
    checked(members, report)
}

/// [`open_verified`] streaming, keeping only what reports read (see
/// [`super::stream::verify_for_report`]): the statements' envelopes and
/// blobs are checked, not held.
pub fn open_for_report(
    path: &Path,
    pins: &Pins,
    progress: bundle::Progress<'_>,
    cuts: &[chrono::DateTime<chrono::Utc>],
) -> Result<(Members, bundle::Report), OpenError> {
    let (report, members) = super::stream::verify_for_report(path, pins, progress, cuts)?;
    checked(members, report)
}

fn checked(
    members: Members,
    report: bundle::Report,
) -> Result<(Members, bundle::Report), OpenError> {
    if !report.ok || !report.pinned {
        let mut failures: Vec<String> = report
            .failures()
            .map(|f| format!("[{}] {}: {}", f.kind, f.subject, f.message))
            .collect();
        if failures.is_empty() {
            failures.push("[trust] the signer is not pinned (pass --trust)".into());
        }
        return Err(OpenError::Failed {
            failures,
            report: Box::new(report),
        });
    }
    Ok((members, report))
}
