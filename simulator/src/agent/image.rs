//! What `write_image` is asked to write (`image_info`) and how its checksum is verified.
//!
//! Ironic sends either `os_hash_algo` + `os_hash_value` (preferred) or the legacy `checksum`: a hex
//! digest whose length names the algorithm (32 = MD5, only when Ironic allows it; 64 = SHA-256;
//! 128 = SHA-512), or the URL of a checksum file. Pure: the bytes come in as arguments.

use md5::Md5;
use serde_json::Value;
use sha2::{Digest, Sha256, Sha512};

/// A hash algorithm the agent can verify with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlgo {
    /// MD5 (legacy; refused unless Ironic's lookup enabled it).
    Md5,
    /// SHA-256.
    Sha256,
    /// SHA-512.
    Sha512,
}

impl HashAlgo {
    /// Reads Glance's `os_hash_algo` spelling.
    pub fn parse(name: &str) -> Option<HashAlgo> {
        match name.to_ascii_lowercase().as_str() {
            "md5" => Some(HashAlgo::Md5),
            "sha256" => Some(HashAlgo::Sha256),
            "sha512" => Some(HashAlgo::Sha512),
            _ => None,
        }
    }

    /// The algorithm a bare hex digest of `len` characters implies.
    pub fn by_length(len: usize) -> Option<HashAlgo> {
        match len {
            32 => Some(HashAlgo::Md5),
            64 => Some(HashAlgo::Sha256),
            128 => Some(HashAlgo::Sha512),
            _ => None,
        }
    }

    /// Lower-case hex digest of `data`.
    pub fn hex_digest(self, data: &[u8]) -> String {
        fn hex(bytes: &[u8]) -> String {
            bytes.iter().map(|b| format!("{b:02x}")).collect()
        }
        match self {
            HashAlgo::Md5 => hex(&Md5::digest(data)),
            HashAlgo::Sha256 => hex(&Sha256::digest(data)),
            HashAlgo::Sha512 => hex(&Sha512::digest(data)),
        }
    }
}

/// The expected checksum of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// A digest with a known algorithm.
    Digest {
        /// Algorithm.
        algo: HashAlgo,
        /// Lower-case hex value.
        value: String,
    },
    /// A checksum file to download first (legacy `checksum` given as a URL).
    File {
        /// URL of the checksum file.
        url: String,
    },
}

/// The parts of Ironic's `image_info` the fake agent uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    /// Image id (the last path segment of `image_source`).
    pub id: String,
    /// Download URLs, tried in order.
    pub urls: Vec<String>,
    /// Expected checksum.
    pub expected: Expected,
    /// `disk_format` (`raw`, `qcow2`, …), when given.
    pub disk_format: Option<String>,
}

/// Why `image_info` (or the image) is refused; the text becomes the command error's details.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    /// A required field is missing or has the wrong type.
    #[error("Image is missing '{field}' field.")]
    MissingField {
        /// The field.
        field: &'static str,
    },
    /// `urls` is empty or not a list of strings.
    #[error("Image 'urls' must be a list with at least one element.")]
    BadUrls,
    /// No usable checksum at all.
    #[error("Image checksum is not available, cannot verify the image {id}")]
    NoChecksum {
        /// Image id.
        id: String,
    },
    /// `os_hash_algo` names an algorithm we do not know.
    #[error("Unsupported os_hash_algo {algo:?} for image {id}")]
    UnknownAlgo {
        /// Image id.
        id: String,
        /// The algorithm given.
        algo: String,
    },
    /// A legacy checksum whose length names no algorithm.
    #[error(
        "Unable to identify checksum algorithm used, and a value is not specified in the os_hash_algo setting."
    )]
    UnknownLength,
    /// MD5 requested but not enabled by Ironic.
    #[error("MD5 support is disabled, and support will be removed in a 2024 version of Ironic.")]
    Md5Disabled,
    /// The checksum file had no usable line for the image.
    #[error("checksum file {url} has no checksum for image {id}")]
    ChecksumFile {
        /// Checksum file URL.
        url: String,
        /// Image id.
        id: String,
    },
    /// The digest of the downloaded bytes differs from the expected one.
    #[error(
        "Image failed to verify against checksum. location: {url}; image ID: {id}; image checksum: {expected}; verification checksum: {actual}"
    )]
    Mismatch {
        /// Where the bytes came from.
        url: String,
        /// Image id.
        id: String,
        /// Expected digest.
        expected: String,
        /// Digest of what was downloaded.
        actual: String,
    },
    /// The image could not be downloaded.
    #[error("Download of image {id} failed: {reason}")]
    Download {
        /// Image id.
        id: String,
        /// Why.
        reason: String,
    },
    /// Zero bytes downloaded.
    #[error("Image {id} is empty")]
    Empty {
        /// Image id.
        id: String,
    },
}

impl ImageError {
    /// IPA's error class name for the command error `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            ImageError::MissingField { .. } | ImageError::BadUrls => "InvalidCommandParamsError",
            ImageError::Mismatch { .. }
            | ImageError::ChecksumFile { .. }
            | ImageError::NoChecksum { .. } => "ImageChecksumError",
            ImageError::Download { .. } => "ImageDownloadError",
            ImageError::Empty { .. } => "InvalidImage",
            ImageError::UnknownAlgo { .. }
            | ImageError::UnknownLength
            | ImageError::Md5Disabled => "ImageChecksumError",
        }
    }

    /// IPA's short error message for the command error `message`.
    pub fn message(&self) -> &'static str {
        match self.kind() {
            "InvalidCommandParamsError" => "Invalid command parameters",
            "ImageDownloadError" => "Error downloading image",
            "InvalidImage" => "The provided image is not valid for use",
            _ => "Error verifying image checksum",
        }
    }
}

fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://") || s.starts_with("file://")
}

impl ImageInfo {
    /// Reads `image_info` as Ironic sends it. `md5_allowed` comes from the lookup config
    /// (`agent_md5_checksum_enable`).
    pub fn parse(v: &Value, md5_allowed: bool) -> Result<ImageInfo, ImageError> {
        let id = v
            .get("id")
            .and_then(Value::as_str)
            .ok_or(ImageError::MissingField { field: "id" })?
            .to_string();
        let urls = v
            .get("urls")
            .ok_or(ImageError::MissingField { field: "urls" })?
            .as_array()
            .ok_or(ImageError::BadUrls)?
            .iter()
            .map(|u| u.as_str().map(str::to_string).ok_or(ImageError::BadUrls))
            .collect::<Result<Vec<_>, _>>()?;
        if urls.is_empty() {
            return Err(ImageError::BadUrls);
        }
        let text = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let expected = match (
            text("os_hash_algo"),
            text("os_hash_value"),
            text("checksum"),
        ) {
            (Some(algo), Some(value), _) => {
                let a = HashAlgo::parse(&algo).ok_or_else(|| ImageError::UnknownAlgo {
                    id: id.clone(),
                    algo: algo.clone(),
                })?;
                if a == HashAlgo::Md5 && !md5_allowed {
                    return Err(ImageError::Md5Disabled);
                }
                if is_url(&value) {
                    Expected::File { url: value }
                } else {
                    Expected::Digest {
                        algo: a,
                        value: value.to_ascii_lowercase(),
                    }
                }
            }
            (_, _, Some(sum)) if is_url(&sum) => Expected::File { url: sum },
            (_, _, Some(sum)) => {
                let algo = HashAlgo::by_length(sum.len()).ok_or(ImageError::UnknownLength)?;
                if algo == HashAlgo::Md5 && !md5_allowed {
                    return Err(ImageError::Md5Disabled);
                }
                Expected::Digest {
                    algo,
                    value: sum.to_ascii_lowercase(),
                }
            }
            _ => return Err(ImageError::NoChecksum { id }),
        };
        Ok(ImageInfo {
            id,
            urls,
            expected,
            disk_format: text("disk_format"),
        })
    }

    /// The file name the image URL ends with (used to pick a line of a checksum file).
    pub fn file_name(&self) -> &str {
        self.urls
            .first()
            .and_then(|u| u.rsplit('/').next())
            .map(|n| n.split(['?', '#']).next().unwrap_or(n))
            .unwrap_or("")
    }

    /// Resolves a checksum file's text into a digest: a single hex value, or `sha256sum`-style
    /// lines (`<hex>  <name>`), where the line naming this image wins.
    pub fn digest_from_file(&self, url: &str, text: &str) -> Result<Expected, ImageError> {
        let name = self.file_name();
        let mut lone = None;
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let mut parts = line.split_whitespace();
            let Some(hex) = parts.next() else { continue };
            let file = parts.next().map(|f| f.trim_start_matches('*'));
            let Some(algo) = HashAlgo::by_length(hex.len()) else {
                continue;
            };
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                continue;
            }
            let digest = Expected::Digest {
                algo,
                value: hex.to_ascii_lowercase(),
            };
            match file {
                Some(f) if !name.is_empty() && f.rsplit('/').next() == Some(name) => {
                    return Ok(digest);
                }
                None if lone.is_none() => lone = Some(digest),
                _ => {}
            }
        }
        lone.ok_or_else(|| ImageError::ChecksumFile {
            url: url.to_string(),
            id: self.id.clone(),
        })
    }
}

/// Checks `data` (downloaded from `url`) against `expected` (a digest, never a file).
/// Returns the verified `algo:hex` string recorded on the disk.
pub fn verify(
    info: &ImageInfo,
    expected: &Expected,
    url: &str,
    data: &[u8],
    md5_allowed: bool,
) -> Result<String, ImageError> {
    let Expected::Digest { algo, value } = expected else {
        return Err(ImageError::ChecksumFile {
            url: url.to_string(),
            id: info.id.clone(),
        });
    };
    if *algo == HashAlgo::Md5 && !md5_allowed {
        return Err(ImageError::Md5Disabled);
    }
    if data.is_empty() {
        return Err(ImageError::Empty {
            id: info.id.clone(),
        });
    }
    let actual = algo.hex_digest(data);
    if &actual != value {
        return Err(ImageError::Mismatch {
            url: url.to_string(),
            id: info.id.clone(),
            expected: value.clone(),
            actual,
        });
    }
    let name = match algo {
        HashAlgo::Md5 => "md5",
        HashAlgo::Sha256 => "sha256",
        HashAlgo::Sha512 => "sha512",
    };
    Ok(format!("{name}:{actual}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn os_hash_fields_win_over_the_legacy_checksum() {
        let v = json!({"id": "img", "urls": ["http://127.0.0.1/x.img"],
            "os_hash_algo": "sha512", "os_hash_value": "AB", "checksum": "ignored"});
        let info = ImageInfo::parse(&v, false).unwrap();
        assert_eq!(
            info.expected,
            Expected::Digest {
                algo: HashAlgo::Sha512,
                value: "ab".into()
            }
        );
    }

    #[test]
    fn a_32_character_checksum_is_md5_and_refused_unless_enabled() {
        let v = json!({"id": "img", "urls": ["http://h/x"], "checksum": "0".repeat(32)});
        assert_eq!(ImageInfo::parse(&v, false), Err(ImageError::Md5Disabled));
        let info = ImageInfo::parse(&v, true).unwrap();
        assert!(matches!(
            info.expected,
            Expected::Digest {
                algo: HashAlgo::Md5,
                ..
            }
        ));
    }

    #[test]
    fn missing_urls_and_checksum_are_reported_by_name() {
        let v = json!({"id": "img"});
        assert_eq!(
            ImageInfo::parse(&v, false),
            Err(ImageError::MissingField { field: "urls" })
        );
        let v = json!({"id": "img", "urls": []});
        assert_eq!(ImageInfo::parse(&v, false), Err(ImageError::BadUrls));
        let v = json!({"id": "img", "urls": ["http://h/x"]});
        assert!(matches!(
            ImageInfo::parse(&v, false),
            Err(ImageError::NoChecksum { .. })
        ));
    }

    #[test]
    fn checksum_file_line_naming_the_image_is_chosen() {
        let v = json!({"id": "img", "urls": ["http://h/dir/b.img"], "checksum": "http://h/dir/SHA256SUMS"});
        let info = ImageInfo::parse(&v, false).unwrap();
        let a = "a".repeat(64);
        let b = "b".repeat(64);
        let text = format!("{a}  a.img\n{b} *b.img\n");
        assert_eq!(
            info.digest_from_file("http://h/dir/SHA256SUMS", &text),
            Ok(Expected::Digest {
                algo: HashAlgo::Sha256,
                value: b
            })
        );
    }

    #[test]
    fn mismatching_bytes_fail_verification_with_both_digests() {
        let v = json!({"id": "img", "urls": ["http://h/x"],
            "os_hash_algo": "sha256", "os_hash_value": HashAlgo::Sha256.hex_digest(b"good")});
        let info = ImageInfo::parse(&v, false).unwrap();
        let ok = verify(&info, &info.expected, "http://h/x", b"good", false).unwrap();
        assert!(ok.starts_with("sha256:"));
        let err = verify(&info, &info.expected, "http://h/x", b"evil", false).unwrap_err();
        assert!(matches!(err, ImageError::Mismatch { .. }));
        assert!(
            err.to_string()
                .contains("Image failed to verify against checksum")
        );
    }
}
