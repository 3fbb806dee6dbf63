//! The rpm header blob reader (name, version, release, epoch, arch, install
//! time) for rpmdb.sqlite rows.

/// One installed package, from its rpm header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpmPackage {
    /// `NAME` (tag 1000).
    pub name: String,
    /// `EPOCH` (tag 1003), when set.
    pub epoch: Option<u32>,
    /// `VERSION` (tag 1001).
    pub version: String,
    /// `RELEASE` (tag 1002).
    pub release: String,
    /// `ARCH` (tag 1022); absent for `gpg-pubkey` pseudo-packages.
    pub arch: Option<String>,
    /// `INSTALLTIME` (tag 1008), Unix seconds.
    pub install_time: Option<i64>,
    /// `SOURCERPM` (tag 1044, `openssh-8.7p1-38.el9.src.rpm`); absent for
    /// `gpg-pubkey` pseudo-packages.
    pub source_rpm: Option<String>,
}

/// Why an rpm header blob could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RpmHeaderError {
    #[error("rpm header: {0}")]
    Malformed(&'static str),
    #[error("rpm header: no {0} tag")]
    Missing(&'static str),
}

pub(super) const RPMTAG_NAME: u32 = 1000;
pub(super) const RPMTAG_VERSION: u32 = 1001;
pub(super) const RPMTAG_RELEASE: u32 = 1002;
pub(super) const RPMTAG_EPOCH: u32 = 1003;
pub(super) const RPMTAG_INSTALLTIME: u32 = 1008;
pub(super) const RPMTAG_ARCH: u32 = 1022;
pub(super) const RPMTAG_SOURCERPM: u32 = 1044;
pub(super) const RPM_INT32_TYPE: u32 = 4;
pub(super) const RPM_STRING_TYPE: u32 = 6;
pub(super) const RPM_I18NSTRING_TYPE: u32 = 9;

pub(super) fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// Parse an rpm header blob as the rpm database stores it (no lead, no
/// magic): index length and data length (big-endian), then 16-byte index
/// entries (tag, type, offset, count), then the data. Only the tags above
/// are read; any inconsistency is an error, never a panic.
pub fn parse_rpm_header(blob: &[u8]) -> Result<RpmPackage, RpmHeaderError> {
    let il = be32(blob, 0).ok_or(RpmHeaderError::Malformed("truncated"))? as usize;
    let dl = be32(blob, 4).ok_or(RpmHeaderError::Malformed("truncated"))? as usize;
    let index_len = il
        .checked_mul(16)
        .ok_or(RpmHeaderError::Malformed("index too large"))?;
    let data_start = index_len
        .checked_add(8)
        .ok_or(RpmHeaderError::Malformed("index too large"))?;
    let data = blob
        .get(data_start..)
        .and_then(|d| d.get(..dl))
        .ok_or(RpmHeaderError::Malformed("data shorter than declared"))?;
    let mut name = None;
    let mut version = None;
    let mut release = None;
    let mut arch = None;
    let mut epoch = None;
    let mut install_time = None;
    let mut source_rpm = None;
    for i in 0..il {
        let at = 8 + i * 16;
        let (Some(tag), Some(ty), Some(offset), Some(count)) = (
            be32(blob, at),
            be32(blob, at + 4),
            be32(blob, at + 8),
            be32(blob, at + 12),
        ) else {
            return Err(RpmHeaderError::Malformed("truncated index"));
        };
        let offset = offset as usize;
        let string = || -> Result<String, RpmHeaderError> {
            if ty != RPM_STRING_TYPE && ty != RPM_I18NSTRING_TYPE {
                return Err(RpmHeaderError::Malformed("string tag of another type"));
            }
            let rest = data
                .get(offset..)
                .ok_or(RpmHeaderError::Malformed("offset out of range"))?;
            let end = rest
                .iter()
                .position(|b| *b == 0)
                .ok_or(RpmHeaderError::Malformed("unterminated string"))?;
            Ok(String::from_utf8_lossy(rest.get(..end).unwrap_or_default()).into_owned())
        };
        let int32 = || -> Result<u32, RpmHeaderError> {
            if ty != RPM_INT32_TYPE || count < 1 {
                return Err(RpmHeaderError::Malformed("int32 tag of another type"));
            }
            be32(data, offset).ok_or(RpmHeaderError::Malformed("offset out of range"))
        };
        match tag {
            RPMTAG_NAME => name = Some(string()?),
            RPMTAG_VERSION => version = Some(string()?),
            RPMTAG_RELEASE => release = Some(string()?),
            RPMTAG_ARCH => arch = Some(string()?),
            RPMTAG_EPOCH => epoch = Some(int32()?),
            RPMTAG_INSTALLTIME => install_time = Some(i64::from(int32()?)),
            RPMTAG_SOURCERPM => source_rpm = Some(string()?),
            _ => {}
        }
    }
    Ok(RpmPackage {
        name: name.ok_or(RpmHeaderError::Missing("NAME"))?,
        epoch,
        version: version.ok_or(RpmHeaderError::Missing("VERSION"))?,
        release: release.ok_or(RpmHeaderError::Missing("RELEASE"))?,
        arch,
        install_time,
        source_rpm,
    })
}
