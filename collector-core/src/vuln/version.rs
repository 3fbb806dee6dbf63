//! Distribution version ordering: Debian (`dpkg --compare-versions`) and
//! rpm (`rpmvercmp` on epoch:version-release). Invalid strings are typed
//! errors, never panics; comparison of two valid versions is total.

pub mod deb;
pub mod rpm;

use std::cmp::Ordering;

/// Which version ordering a distribution uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// dpkg (Debian, Ubuntu).
    Deb,
    /// rpm (RHEL, AlmaLinux, Rocky, Fedora, SUSE).
    Rpm,
}

impl Scheme {
    /// The ordering of a distribution by its os-release `ID` (lower case);
    /// `None` for a distribution Evident does not know.
    pub fn for_distro(id: &str) -> Option<Scheme> {
        match id {
            "debian" | "ubuntu" | "raspbian" | "linuxmint" | "kali" | "devuan" => Some(Scheme::Deb),
            "rhel" | "almalinux" | "rocky" | "centos" | "fedora" | "ol" | "amzn" | "sles"
            | "opensuse-leap" | "opensuse" | "suse" | "mariner" | "azurelinux" => Some(Scheme::Rpm),
            _ => None,
        }
    }
}

/// Why a version string cannot be ordered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// Empty (or only blanks).
    #[error("version string is empty")]
    Empty,
    /// Blanks inside the version.
    #[error("version string {0:?} has embedded spaces")]
    EmbeddedSpace(String),
    /// The epoch before `:` is empty, not a number, negative or too big.
    #[error("epoch in version {version:?} {reason}")]
    Epoch {
        /// The whole version.
        version: String,
        /// `is empty`, `is not a number`, `is too big`.
        reason: &'static str,
    },
    /// Nothing after the epoch's colon.
    #[error("nothing after colon in version {0:?}")]
    NothingAfterColon(String),
    /// A trailing `-` with no revision after it.
    #[error("revision in version {0:?} is empty")]
    EmptyRevision(String),
    /// The upstream part is empty.
    #[error("upstream version in {0:?} is empty")]
    EmptyUpstream(String),
    /// A control character or a byte outside ASCII.
    #[error("version {0:?} has an invalid character")]
    InvalidCharacter(String),
}

/// The version string without surrounding blanks, checked as both schemes
/// require: not empty, no blanks inside, printable ASCII only.
fn trimmed(s: &str) -> Result<&str, VersionError> {
    let v = s.trim_matches([' ', '\t']);
    if v.is_empty() {
        return Err(VersionError::Empty);
    }
    if v.contains([' ', '\t']) {
        return Err(VersionError::EmbeddedSpace(s.to_string()));
    }
    if v.bytes().any(|c| !c.is_ascii_graphic()) {
        return Err(VersionError::InvalidCharacter(s.to_string()));
    }
    Ok(v)
}

/// Compare two version strings under a scheme; an invalid string on either
/// side is an error naming it.
pub fn compare(scheme: Scheme, a: &str, b: &str) -> Result<Ordering, VersionError> {
    match scheme {
        Scheme::Deb => Ok(deb::DebVersion::parse(a)?.cmp(&deb::DebVersion::parse(b)?)),
        Scheme::Rpm => Ok(rpm::RpmVersion::parse(a)?.cmp(&rpm::RpmVersion::parse(b)?)),
    }
}

/// Check that a version string can be ordered under a scheme.
pub fn validate(scheme: Scheme, v: &str) -> Result<(), VersionError> {
    match scheme {
        Scheme::Deb => deb::DebVersion::parse(v).map(|_| ()),
        Scheme::Rpm => rpm::RpmVersion::parse(v).map(|_| ()),
    }
}
