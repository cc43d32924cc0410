//! API microversions: parsing `X-OpenStack-Ironic-API-Version` and negotiating it against our range.

use std::fmt;

/// Header carrying the requested (and, in responses, the served) microversion.
pub const VERSION_HEADER: &str = "X-OpenStack-Ironic-API-Version";
/// Header carrying the oldest supported microversion.
pub const MIN_HEADER: &str = "X-OpenStack-Ironic-API-Minimum-Version";
/// Header carrying the newest supported microversion.
pub const MAX_HEADER: &str = "X-OpenStack-Ironic-API-Maximum-Version";

/// An API v1 microversion `1.minor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// Major version (always 1 for what we serve).
    pub major: u32,
    /// Minor version.
    pub minor: u32,
}

impl Version {
    /// `1.minor`.
    pub const fn v1(minor: u32) -> Self {
        Self { major: 1, minor }
    }

    /// True when this version is at least `1.minor`.
    pub fn at_least(self, minor: u32) -> bool {
        self >= Self::v1(minor)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The oldest microversion we serve (as Ironic 39.0.0).
pub const MIN: Version = Version::v1(1);
/// The newest microversion we serve (as Ironic 39.0.0).
pub const MAX: Version = Version::v1(115);

/// Why a requested microversion was refused (both become 406).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// The header is not `latest` nor `X.Y`.
    #[error("Invalid value for X-OpenStack-Ironic-API-Version header")]
    Malformed,
    /// The version is outside [MIN, MAX].
    #[error(
        "Mutually exclusive versions requested. Version {0} requested but not supported by this service. The supported version range is: [{MIN}, {MAX}]."
    )]
    Unsupported(Version),
}

/// Negotiates the version to serve: no header means 1.1, `latest` means MAX.
pub fn negotiate(header: Option<&str>) -> Result<Version, VersionError> {
    let Some(raw) = header else {
        return Ok(MIN);
    };
    let raw = raw.trim();
    if raw.eq_ignore_ascii_case("latest") {
        return Ok(MAX);
    }
    let (major, minor) = raw.split_once('.').ok_or(VersionError::Malformed)?;
    let parse = |s: &str| -> Result<u32, VersionError> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(VersionError::Malformed);
        }
        s.parse().map_err(|_| VersionError::Malformed)
    };
    let v = Version {
        major: parse(major)?,
        minor: parse(minor)?,
    };
    if v < MIN || v > MAX {
        return Err(VersionError::Unsupported(v));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_header_means_one_point_one() {
        assert_eq!(negotiate(None), Ok(Version::v1(1)));
    }

    #[test]
    fn latest_means_the_maximum() {
        assert_eq!(negotiate(Some("latest")), Ok(MAX));
    }

    #[test]
    fn numbers_inside_the_range_are_served_as_asked() {
        assert_eq!(negotiate(Some("1.89")), Ok(Version::v1(89)));
        assert_eq!(negotiate(Some("1.115")), Ok(Version::v1(115)));
    }

    #[test]
    fn versions_outside_the_range_are_unsupported() {
        assert_eq!(
            negotiate(Some("2.0")),
            Err(VersionError::Unsupported(Version { major: 2, minor: 0 }))
        );
        assert_eq!(
            negotiate(Some("1.116")),
            Err(VersionError::Unsupported(Version::v1(116)))
        );
        assert_eq!(
            negotiate(Some("1.0")),
            Err(VersionError::Unsupported(Version::v1(0)))
        );
    }

    #[test]
    fn garbage_is_malformed() {
        for bad in ["1.abc", "1", "", "one.two", "1.-1", "1.2.3"] {
            assert_eq!(negotiate(Some(bad)), Err(VersionError::Malformed), "{bad}");
        }
    }

    #[test]
    fn unsupported_message_matches_ironic() {
        let e = VersionError::Unsupported(Version { major: 2, minor: 0 });
        assert_eq!(
            e.to_string(),
            "Mutually exclusive versions requested. Version 2.0 requested but not supported by this service. The supported version range is: [1.1, 1.115]."
        );
    }
}
