//! Multipart firmware push (`UpdateService.MultipartHttpPushUri`): a `multipart/form-data` POST
//! with an `UpdateParameters` part (JSON: `Targets`, optional `@Redfish.OperationApplyTime`) and an
//! `UpdateFile` part (the image). The image is carried in the request, so nothing is fetched; the
//! update runs as the same task as `SimpleUpdate`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::Response;

use super::error::RedfishError;
use super::service::RedfishState;
use super::session::Caller;

/// Where images are pushed.
pub const PUSH_URI: &str = "/redfish/v1/UpdateService/upload";
const ACTION: &str = "UpdateService.MultipartHttpPushUpdate";
/// More parts than a push has are refused rather than read.
const MAX_PARTS: usize = 8;

/// One part of a `multipart/form-data` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part<'a> {
    /// The form field name (`Content-Disposition: form-data; name=...`).
    pub name: String,
    /// The file name, if the part carries one.
    pub filename: Option<String>,
    /// The part's content.
    pub data: &'a [u8],
}

/// Why a body is not a usable `multipart/form-data` body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MultipartError {
    /// The content type is not multipart/form-data with a boundary.
    #[error("the content type is not multipart/form-data with a boundary")]
    NotMultipart,
    /// The body does not follow the boundary structure.
    #[error("the body is not well-formed multipart: {0}")]
    Malformed(&'static str),
    /// More parts than [`MAX_PARTS`].
    #[error("more than {MAX_PARTS} parts")]
    TooManyParts,
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The value of `key=` in a header parameter list (quoted or bare).
fn parameter(header: &str, key: &str) -> Option<String> {
    header.split(';').skip(1).find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(key)
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

/// Splits a `multipart/form-data` body (RFC 7578) into its parts.
pub fn parse<'a>(content_type: &str, body: &'a [u8]) -> Result<Vec<Part<'a>>, MultipartError> {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if !essence.eq_ignore_ascii_case("multipart/form-data") {
        return Err(MultipartError::NotMultipart);
    }
    let boundary = parameter(content_type, "boundary")
        .filter(|b| !b.is_empty() && b.len() <= 70)
        .ok_or(MultipartError::NotMultipart)?;
    let delimiter = format!("--{boundary}");
    let start = find(body, delimiter.as_bytes()).ok_or(MultipartError::Malformed("no boundary"))?;
    let mut rest = &body[start + delimiter.len()..];
    let next_delimiter = format!("\r\n--{boundary}");
    let mut parts = Vec::new();
    loop {
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        rest = rest
            .strip_prefix(b"\r\n")
            .ok_or(MultipartError::Malformed("no line break after a boundary"))?;
        let end = find(rest, next_delimiter.as_bytes()).ok_or(MultipartError::Malformed(
            "a part without a closing boundary",
        ))?;
        let part = &rest[..end];
        rest = &rest[end + next_delimiter.len()..];
        let split =
            find(part, b"\r\n\r\n").ok_or(MultipartError::Malformed("a part without headers"))?;
        let headers = std::str::from_utf8(&part[..split])
            .map_err(|_| MultipartError::Malformed("part headers are not UTF-8"))?;
        let disposition = headers
            .split("\r\n")
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.trim()
                    .eq_ignore_ascii_case("content-disposition")
                    .then_some(value.trim())
            })
            .ok_or(MultipartError::Malformed(
                "a part without Content-Disposition",
            ))?;
        let name = parameter(disposition, "name")
            .ok_or(MultipartError::Malformed("a part without a name"))?;
        if parts.len() == MAX_PARTS {
            return Err(MultipartError::TooManyParts);
        }
        parts.push(Part {
            name,
            filename: parameter(disposition, "filename"),
            data: &part[split + 4..],
        });
    }
}

/// `POST /redfish/v1/UpdateService/upload`: starts the update of the component `Targets` names
/// with the pushed image (202 with the task monitor).
pub async fn push(
    State(state): State<RedfishState>,
    caller: Option<axum::Extension<Caller>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, RedfishError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let parts = parse(content_type, &body).map_err(|e| RedfishError::MalformedJson {
        reason: format!("multipart push: {e}"),
    })?;
    let part = |name: &str| parts.iter().find(|p| p.name == name);
    let missing = |parameter: &str| RedfishError::ActionParameterMissing {
        action: ACTION.into(),
        parameter: parameter.into(),
    };
    let parameters = part("UpdateParameters").ok_or_else(|| missing("UpdateParameters"))?;
    let parameters = super::document::parse_object(parameters.data)?;
    for (key, value) in &parameters {
        match key.as_str() {
            "Targets" => {}
            "@Redfish.OperationApplyTime" if value.as_str() == Some("Immediate") => {}
            "@Redfish.OperationApplyTime" => {
                return Err(RedfishError::ActionParameterValueNotInList {
                    action: ACTION.into(),
                    parameter: key.clone(),
                    value: value.to_string(),
                });
            }
            other => {
                return Err(RedfishError::ActionParameterUnknown {
                    action: ACTION.into(),
                    parameter: other.to_string(),
                });
            }
        }
    }
    let targets = super::update::read_targets(parameters.get("Targets"))?;
    let file = part("UpdateFile").ok_or_else(|| missing("UpdateFile"))?;
    if file.data.is_empty() {
        return Err(RedfishError::ActionParameterValueError {
            action: ACTION.into(),
            parameter: "UpdateFile".into(),
            reason: "the image is empty".into(),
        });
    }
    let image = format!(
        "pushed image {} ({} bytes)",
        file.filename.as_deref().unwrap_or("without a name"),
        file.data.len()
    );
    super::update::start_update(&state, caller.map(|c| c.0.0), ACTION, &targets, &image)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CT: &str = "multipart/form-data; boundary=XyZ";

    fn body(parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
        let mut b = Vec::new();
        for (name, file, data) in parts {
            b.extend_from_slice(b"--XyZ\r\nContent-Disposition: form-data; name=\"");
            b.extend_from_slice(name.as_bytes());
            b.push(b'"');
            if let Some(f) = file {
                b.extend_from_slice(format!("; filename=\"{f}\"").as_bytes());
            }
            b.extend_from_slice(b"\r\n\r\n");
            b.extend_from_slice(data);
            b.extend_from_slice(b"\r\n");
        }
        b.extend_from_slice(b"--XyZ--\r\n");
        b
    }

    #[test]
    fn parts_are_read_with_their_names_files_and_bytes() {
        let raw = body(&[
            ("UpdateParameters", None, br#"{"Targets": []}"#),
            ("UpdateFile", Some("bios.bin"), b"\x00\x01\r\n--Xy\xff"),
        ]);
        let parts = parse(CT, &raw).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "UpdateParameters");
        assert_eq!(parts[1].filename.as_deref(), Some("bios.bin"));
        assert_eq!(parts[1].data, b"\x00\x01\r\n--Xy\xff");
    }

    #[test]
    fn bodies_that_are_not_multipart_are_errors_not_panics() {
        assert_eq!(
            parse("application/json", b"{}"),
            Err(MultipartError::NotMultipart)
        );
        assert_eq!(
            parse("multipart/form-data", b""),
            Err(MultipartError::NotMultipart)
        );
        for bad in [
            &b""[..],
            b"--XyZ",
            b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end",
            b"--XyZ\r\nX: y\r\n\r\ndata\r\n--XyZ--",
            b"--XyZ\r\nContent-Disposition: form-data\r\n\r\ndata\r\n--XyZ--",
        ] {
            assert!(
                parse(CT, bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let many: Vec<(&str, Option<&str>, &[u8])> =
            (0..9).map(|_| ("p", None, &b"x"[..])).collect();
        assert_eq!(parse(CT, &body(&many)), Err(MultipartError::TooManyParts));
    }
}
