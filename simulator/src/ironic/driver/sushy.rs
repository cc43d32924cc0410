//! Redfish errors as sushy words them: Ironic's `last_error` quotes them, so the mock's drivers
//! and engine mode write them the same way for the steps compared with real Ironic.

use crate::ironic::encoding::python_repr;
use serde_json::Value;

/// sushy's `HTTPError` text for an error answer with body `body`: `HTTP <method> <url> returned
/// code <status>. <code>: <detail> Extended information: <repr of @Message.ExtendedInfo>`. The
/// detail is the first Critical (then Warning) extended message by its `Severity`, else the
/// envelope's `message`; a body that is not JSON reads `unknown error`.
pub fn http_error(method: &str, url: &str, status: u16, body: &str) -> String {
    let Ok(doc) = serde_json::from_str::<Value>(body) else {
        return format!(
            "HTTP {method} {url} returned code {status}. unknown error Extended information: None"
        );
    };
    let error = doc.get("error").cloned().unwrap_or(Value::Null);
    let code = error
        .get("code")
        .and_then(Value::as_str)
        .unwrap_or("Base.1.0.GeneralError");
    let info = error.get("@Message.ExtendedInfo").cloned();
    let severe = info.as_ref().and_then(|i| match i {
        Value::Array(items) => ["Critical", "Warning"].iter().find_map(|sev| {
            items
                .iter()
                .find(|m| m.get("Severity").and_then(Value::as_str) == Some(sev))
                .and_then(|m| m.get("Message").and_then(Value::as_str))
        }),
        other => other.get("Message").and_then(Value::as_str),
    });
    let detail = severe
        .or_else(|| error.get("message").and_then(Value::as_str))
        .filter(|d| !d.is_empty())
        .unwrap_or("unknown error.");
    let ext = info
        .as_ref()
        .map_or_else(|| "None".to_string(), python_repr);
    format!(
        "HTTP {method} {url} returned code {status}. {code}: {detail} Extended information: {ext}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_message_is_used_when_no_extended_message_has_a_severity() {
        let body = r#"{"error": {"code": "Base.1.8.PropertyUnknown", "message": "The property X is not in the list.",
            "@Message.ExtendedInfo": [{"MessageId": "Base.1.8.PropertyUnknown", "MessageSeverity": "Warning"}]}}"#;
        assert_eq!(
            http_error("PATCH", "http://b/s", 400, body),
            "HTTP PATCH http://b/s returned code 400. Base.1.8.PropertyUnknown: The property X is not in the list. Extended information: [{'MessageId': 'Base.1.8.PropertyUnknown', 'MessageSeverity': 'Warning'}]"
        );
    }

    #[test]
    fn a_critical_extended_message_wins_over_the_envelope() {
        let body = r#"{"error": {"code": "C", "message": "m",
            "@Message.ExtendedInfo": [{"Message": "w", "Severity": "Warning"}, {"Message": "c", "Severity": "Critical"}]}}"#;
        assert!(
            http_error("POST", "u", 409, body)
                .starts_with("HTTP POST u returned code 409. C: c Extended")
        );
    }

    #[test]
    fn a_body_that_is_not_json_reads_unknown_error() {
        assert_eq!(
            http_error("GET", "u", 500, "oops"),
            "HTTP GET u returned code 500. unknown error Extended information: None"
        );
    }
}
