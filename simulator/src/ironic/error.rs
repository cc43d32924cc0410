//! Ironic's error envelope: a JSON object whose `error_message` is itself JSON text (double encoded).

use super::encoding::{Doc, to_python_json};
use super::version::VersionError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// Every refusal the mock API can send, each rendered with real Ironic's status and text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// No node with this UUID or name.
    #[error("Node {0} could not be found.")]
    NodeNotFound(String),
    /// The node was never inspected (the number is Ironic's internal row id).
    #[error("Node inventory record for node {0} could not be found.")]
    InventoryNotFound(u64),
    /// No port with this UUID.
    #[error("Port {0} could not be found.")]
    PortNotFound(String),
    /// Unknown hardware type in `GET /v1/drivers/<name>`.
    #[error("Could not find the following driver(s) or hardware type(s): {0}.")]
    DriverNotFound(String),
    /// A node whose hardware type (first) or conductor group (second) no conductor serves.
    #[error(
        "No valid host was found. Reason: No conductor service registered which supports driver {0} for conductor group \"{1}\". Ensure the driver is valid and enabled."
    )]
    NoValidHost(String, String),
    /// A provision or power target not allowed from the node's state.
    #[error(
        "The requested action \"{action}\" can not be performed on node \"{node}\" while it is in state \"{state}\"."
    )]
    InvalidState {
        /// Requested target.
        action: String,
        /// Node identifier as Ironic prints it.
        node: String,
        /// Current state.
        state: String,
    },
    /// The conductor holds the node's lock.
    #[error(
        "Node {0} is locked by host localhost, please retry after the current operation is completed."
    )]
    NodeLocked(String),
    /// Delete refused in this provision state.
    #[error(
        "Can not delete node \"{node}\" while it is in provision state \"{state}\". Valid provision states to perform deletion are: \"('manageable', 'enroll', 'adopt failed', 'available')\", or set the node into maintenance mode"
    )]
    DeleteInState {
        /// Node UUID.
        node: String,
        /// Current provision state.
        state: String,
    },
    /// The driver lacks an interface (vmedia on fake-hardware, ...).
    #[error("Driver {driver} does not support {feature} (disabled or not implemented).")]
    Unsupported {
        /// Hardware type.
        driver: String,
        /// Missing capability, as Ironic names it.
        feature: String,
    },
    /// Malformed or invalid request content; the text is Ironic's.
    #[error("{0}")]
    BadRequest(String),
    /// A uniqueness conflict (duplicate name or MAC); the text is Ironic's.
    #[error("{0}")]
    Conflict(String),
    /// Refused credentials (agent token).
    #[error("{0}")]
    Forbidden(String),
    /// A generic missing resource.
    #[error("Resource could not be found.")]
    NotFound,

    /// A 404 with a specific text (e.g. an endpoint that needs a newer microversion).
    #[error("{0}")]
    NotFoundText(String),
    /// A refusal in Ironic's own envelope with a status the other variants do not carry (a 405
    /// from an API controller).
    #[error("{1}")]
    Refused(StatusCode, String),
    /// A refusal of Ironic's web framework rather than of its API code: its `code`/`title`/
    /// `description` envelope (a path not routed at this microversion, a method a route does not
    /// answer, an identifier that is neither a UUID nor a name).
    #[error("{1}")]
    Framework(StatusCode, String),
    /// A field or feature newer than the negotiated microversion.
    #[error("Request not acceptable.")]
    NotAcceptable,
    /// The microversion header could not be honoured.
    #[error(transparent)]
    Version(#[from] VersionError),
    /// A failure on our side (e.g. the BMC refused); the text is shown to the client.
    #[error("{0}")]
    Internal(String),
    /// A request body over the listener's limit (`super::api::BODY_LIMIT`).
    #[error("Request is too large.")]
    TooLarge,
    /// A 5xx the simulator's fault switch (`/_sim/faults`) injected; carries the status.
    #[error("Injected failure: the simulated Ironic API answered {0}.")]
    Injected(StatusCode),
}

impl ApiError {
    /// The framework's 405 for a method a route does not answer.
    pub fn method_not_allowed() -> ApiError {
        ApiError::Framework(StatusCode::METHOD_NOT_ALLOWED, String::new())
    }

    /// HTTP status real Ironic uses for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NodeNotFound(_)
            | Self::InventoryNotFound(_)
            | Self::PortNotFound(_)
            | Self::DriverNotFound(_)
            | Self::NotFound
            | Self::NotFoundText(_) => StatusCode::NOT_FOUND,
            Self::NoValidHost(..)
            | Self::InvalidState { .. }
            | Self::Unsupported { .. }
            | Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NodeLocked(_) | Self::DeleteInState { .. } | Self::Conflict(_) => {
                StatusCode::CONFLICT
            }
            Self::NotAcceptable | Self::Version(_) => StatusCode::NOT_ACCEPTABLE,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Framework(status, _) | Self::Refused(status, _) => *status,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Injected(status) => *status,
        }
    }

    /// The inner (encoded) error document.
    fn inner(&self) -> Doc {
        let mut d = Doc::new();
        if let Self::Version(_) = self {
            // Version negotiation failures come from a different layer in Ironic and use this shape.
            d.put("code", 406);
            d.put("title", "Not Acceptable");
            d.put("description", self.to_string());
        } else if let Self::Framework(status, text) = self {
            d.put("code", status.as_u16());
            d.put("title", status.canonical_reason().unwrap_or_default());
            d.put("description", text.clone());
        } else {
            let code = if self.status().is_server_error() {
                "Server"
            } else {
                "Client"
            };
            d.put("faultcode", code);
            d.put("faultstring", self.to_string());
            d.put("debuginfo", Value::Null);
        }
        d
    }

    /// The full response body text, exactly as Ironic writes it.
    pub fn body(&self) -> String {
        let mut outer = Doc::new();
        outer.put("error_message", to_python_json(&self.inner()));
        to_python_json(&outer)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status(), self.body()).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ironic::version::Version;

    #[test]
    fn not_found_is_double_encoded_like_ironic() {
        assert_eq!(
            ApiError::NodeNotFound("nope".into()).body(),
            r#"{"error_message": "{\"faultcode\": \"Client\", \"faultstring\": \"Node nope could not be found.\", \"debuginfo\": null}"}"#
        );
    }

    #[test]
    fn invalid_state_escapes_inner_quotes_twice() {
        let e = ApiError::InvalidState {
            action: "provide".into(),
            node: "u".into(),
            state: "enroll".into(),
        };
        assert_eq!(
            e.body(),
            r#"{"error_message": "{\"faultcode\": \"Client\", \"faultstring\": \"The requested action \\\"provide\\\" can not be performed on node \\\"u\\\" while it is in state \\\"enroll\\\".\", \"debuginfo\": null}"}"#
        );
    }

    #[test]
    fn version_refusal_uses_the_code_title_description_shape() {
        let e = ApiError::from(VersionError::Unsupported(Version { major: 2, minor: 0 }));
        assert_eq!(e.status(), StatusCode::NOT_ACCEPTABLE);
        assert!(e.body().starts_with(r#"{"error_message": "{\"code\": 406, \"title\": \"Not Acceptable\", \"description\": \"Mutually"#));
    }

    #[test]
    fn framework_refusals_use_the_code_title_description_shape() {
        assert_eq!(
            ApiError::method_not_allowed().body(),
            r#"{"error_message": "{\"code\": 405, \"title\": \"Method Not Allowed\", \"description\": \"\"}"}"#
        );
        let e = ApiError::Framework(
            StatusCode::BAD_REQUEST,
            "Expected UUID or name for portgroup: a b".into(),
        );
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        assert!(
            e.body()
                .contains(r#"\"title\": \"Bad Request\", \"description\": \"Expected UUID"#)
        );
    }

    #[test]
    fn server_side_failures_are_server_faults() {
        assert!(
            ApiError::Internal("x".into())
                .body()
                .contains(r#"\"faultcode\": \"Server\""#)
        );
    }
}
