//! Redfish JSON documents on the wire: the standard headers (OData-Version, ETag, Allow,
//! Cache-Control, Link to the schema) and `If-Match` preconditions.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::error::RedfishError;
use super::rendered::Rendered;

/// The OData protocol version every response announces.
pub const ODATA_VERSION: &str = "4.0";
/// Content type of every JSON document.
pub const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// Methods allowed on a read-only resource.
pub const ALLOW_GET: &str = "GET, HEAD";
/// Methods allowed on a resource clients may PATCH.
pub const ALLOW_GET_PATCH: &str = "GET, HEAD, PATCH";
/// Methods allowed on an action target.
pub const ALLOW_POST: &str = "POST";
/// Methods allowed on a collection clients may POST to.
pub const ALLOW_GET_POST: &str = "GET, HEAD, POST";
/// Methods allowed on a resource clients may delete.
pub const ALLOW_GET_DELETE: &str = "GET, HEAD, DELETE";

/// Serializes a JSON value; serde_json cannot fail on a `Value`, an empty body is the fallback.
pub fn json_bytes(body: &Value) -> Vec<u8> {
    serde_json::to_vec(body).unwrap_or_default()
}

/// The strong ETag of a representation: a digest of its serialized bytes.
pub fn etag_of(body: &Value) -> String {
    etag_of_bytes(&json_bytes(body))
}

/// The strong ETag of already serialized bytes: the first eight bytes of their SHA-256, in hex,
/// quoted.
pub(super) fn etag_of_bytes(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(bytes);
    let mut tag = String::with_capacity(18);
    tag.push('"');
    for b in digest.iter().take(8) {
        tag.push(char::from(HEX[usize::from(b >> 4)]));
        tag.push(char::from(HEX[usize::from(b & 0x0F)]));
    }
    tag.push('"');
    tag
}

/// Checks an `If-Match` header against the resource's current ETag: absent or `*` passes, a list
/// passes when any entry (weak or strong) names the current ETag.
pub fn check_if_match(headers: &HeaderMap, current: &str, uri: &str) -> Result<(), RedfishError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(());
    };
    let value = value
        .to_str()
        .map_err(|_| RedfishError::PreconditionFailed {
            uri: uri.to_string(),
        })?;
    let matches = value
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == current);
    if matches {
        Ok(())
    } else {
        Err(RedfishError::PreconditionFailed {
            uri: uri.to_string(),
        })
    }
}

/// A Redfish resource answered with its standard headers.
#[derive(Debug, Clone)]
pub struct Document {
    status: StatusCode,
    body: Value,
    allow: &'static str,
    location: Option<String>,
    extra: Vec<(&'static str, String)>,
}

impl Document {
    /// A 200 answer for a resource allowing `allow`.
    pub fn ok(body: Value, allow: &'static str) -> Self {
        Self {
            status: StatusCode::OK,
            body,
            allow,
            location: None,
            extra: Vec::new(),
        }
    }

    /// A 201 answer with a `Location` header.
    pub fn created(body: Value, allow: &'static str, location: String) -> Self {
        Self {
            status: StatusCode::CREATED,
            body,
            allow,
            location: Some(location),
            extra: Vec::new(),
        }
    }

    /// A 202 answer (an accepted asynchronous operation) with the task monitor as `Location`.
    pub fn accepted(body: Value, location: String) -> Self {
        Self {
            status: StatusCode::ACCEPTED,
            body,
            allow: ALLOW_GET,
            location: Some(location),
            extra: Vec::new(),
        }
    }

    /// Adds a response header (for example `X-Auth-Token`).
    pub fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.extra.push((name, value));
        self
    }
}

/// The DMTF JSON schema a document's `@odata.type` names, for the `Link: rel=describedby` header.
pub(super) fn schema_link(body: &Value) -> Option<String> {
    let odata_type = body.get("@odata.type")?.as_str()?;
    let name = odata_type.strip_prefix('#')?;
    let (namespace, _) = name.rsplit_once('.')?;
    Some(format!(
        "<https://redfish.dmtf.org/schemas/v1/{namespace}.json>; rel=describedby"
    ))
}

/// The headers every successful Redfish answer carries.
pub fn standard_headers(headers: &mut HeaderMap, allow: &'static str) {
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(JSON_CONTENT_TYPE),
    );
    headers.insert("OData-Version", HeaderValue::from_static(ODATA_VERSION));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::ALLOW, HeaderValue::from_static(allow));
}

impl IntoResponse for Document {
    fn into_response(self) -> Response {
        // Serialized once: the same bytes are the body and the ETag's input.
        let mut response = Rendered::of(&self.body).response(self.status, self.allow);
        let headers = response.headers_mut();
        if let Some(v) = self.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            headers.insert(header::LOCATION, v);
        }
        for (name, value) in self.extra {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(name, v);
            }
        }
        response
    }
}

/// A 204 answer with the standard headers (actions, PATCH and DELETE that return no body).
pub fn no_content(allow: &'static str) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    headers.insert("OData-Version", HeaderValue::from_static(ODATA_VERSION));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

/// Parses a request body as a JSON object.
pub fn parse_object(bytes: &[u8]) -> Result<serde_json::Map<String, Value>, RedfishError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Map::new());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(RedfishError::MalformedJson {
            reason: format!("expected an object, got {}", kind_of(&other)),
        }),
        Err(e) => Err(RedfishError::MalformedJson {
            reason: e.to_string(),
        }),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_etag_is_the_quoted_hex_of_the_first_eight_sha256_bytes_of_the_body() {
        let body = serde_json::json!({"Id": "1", "PowerState": "On"});
        let digest = Sha256::digest(serde_json::to_vec(&body).unwrap());
        let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        assert_eq!(etag_of(&body), format!("\"{hex}\""));
        let response = Document::ok(body.clone(), "GET").into_response();
        assert_eq!(response.headers()[header::ETAG], etag_of(&body).as_str());
    }
}
