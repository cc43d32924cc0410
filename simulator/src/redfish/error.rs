//! Redfish error responses: the `error` envelope with `@Message.ExtendedInfo` entries whose message
//! ids come from the DMTF Base message registry.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::document::{self, ODATA_VERSION};

/// Version prefix of the Base message registry our message ids come from.
pub const BASE_REGISTRY: &str = "Base.1.18";

/// Everything a Redfish request can fail with; each variant maps to one HTTP status and one
/// Base registry message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedfishError {
    /// No credentials, or wrong ones.
    #[error("authentication required or credentials refused")]
    Unauthorized,
    /// Valid credentials that do not grant this resource.
    #[error("the account may not access this resource")]
    Forbidden,
    /// The URI names no resource of this service.
    #[error("resource {uri} does not exist")]
    NotFound { uri: String },
    /// The resource exists but does not support the method.
    #[error("method {method} is not allowed on {uri}")]
    MethodNotAllowed {
        uri: String,
        method: String,
        allow: String,
    },
    /// The request body is not JSON, or not a JSON object.
    #[error("request body is not a valid JSON object: {reason}")]
    MalformedJson { reason: String },
    /// A property the service does not know or does not let clients change.
    #[error("property {property} is unknown or read-only")]
    PropertyNotWritable { property: String },
    /// A property the resource does not have.
    #[error("property {property} is not a property of this resource")]
    PropertyUnknown { property: String },
    /// A numeric property value outside the supported range.
    #[error("value {value} is out of range for property {property}")]
    PropertyValueOutOfRange { property: String, value: String },
    /// A string property value longer than allowed.
    #[error("value of property {property} is longer than {length}")]
    StringValueTooLong { property: String, length: usize },
    /// A property value of the right type but a format the property cannot take.
    #[error("value {value} has the wrong format for property {property}")]
    PropertyValueFormatError { property: String, value: String },
    /// A property value the implementation cannot take, with why.
    #[error("value {value} of property {property} is refused: {reason}")]
    PropertyValueIncorrect {
        property: String,
        value: String,
        reason: String,
    },
    /// A create request without a property it needs.
    #[error("create request lacks required property {property}")]
    CreateFailedMissingReqProperties { property: String },
    /// A property value outside the allowed set.
    #[error("value {value} is not allowed for property {property}")]
    PropertyValueNotInList { property: String, value: String },
    /// A property with the wrong JSON type.
    #[error("property {property} has the wrong type: {value}")]
    PropertyValueTypeError { property: String, value: String },
    /// An action parameter is missing.
    #[error("action {action} requires parameter {parameter}")]
    ActionParameterMissing { action: String, parameter: String },
    /// An action parameter value outside the allowed set.
    #[error("value {value} is not allowed for parameter {parameter} of {action}")]
    ActionParameterValueNotInList {
        action: String,
        parameter: String,
        value: String,
    },
    /// An action parameter the action does not take.
    #[error("action {action} has no parameter {parameter}")]
    ActionParameterUnknown { action: String, parameter: String },
    /// An action parameter value the service cannot use, with why.
    #[error("parameter {parameter} of {action} is invalid: {reason}")]
    ActionParameterValueError {
        action: String,
        parameter: String,
        reason: String,
    },
    /// `If-Match` did not match the current ETag.
    #[error("If-Match precondition failed on {uri}")]
    PreconditionFailed { uri: String },
    /// The action is known but the resource cannot do it in its current state.
    #[error("action {action} cannot run now: {reason}")]
    ActionNotPossible { action: String, reason: String },
    /// The request conflicts with the resource's state (for example, media already inserted).
    #[error("{reason}")]
    Conflict { reason: String },
    /// The request's `OData-Version` header names a version the service does not speak.
    #[error("OData-Version {version} is not supported")]
    ODataVersionUnsupported { version: String },
    /// A `$` query parameter the service does not implement.
    #[error("query parameter {parameter} is not supported")]
    QueryNotSupported { parameter: String },
    /// An injected fault (or an internal failure) answers with a 5xx.
    #[error("the service is temporarily unavailable")]
    ServiceUnavailable,
    /// A failure inside the service.
    #[error("internal error: {reason}")]
    Internal { reason: String },
}

impl RedfishError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::MalformedJson { .. }
            | Self::PropertyNotWritable { .. }
            | Self::PropertyValueNotInList { .. }
            | Self::PropertyUnknown { .. }
            | Self::PropertyValueIncorrect { .. }
            | Self::CreateFailedMissingReqProperties { .. }
            | Self::PropertyValueOutOfRange { .. }
            | Self::StringValueTooLong { .. }
            | Self::PropertyValueFormatError { .. }
            | Self::PropertyValueTypeError { .. }
            | Self::ActionParameterMissing { .. }
            | Self::ActionParameterValueNotInList { .. }
            | Self::ActionParameterValueError { .. }
            | Self::ActionParameterUnknown { .. }
            | Self::ActionNotPossible { .. } => StatusCode::BAD_REQUEST,
            Self::PreconditionFailed { .. } | Self::ODataVersionUnsupported { .. } => {
                StatusCode::PRECONDITION_FAILED
            }
            Self::QueryNotSupported { .. } => StatusCode::NOT_IMPLEMENTED,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The Base registry message key, the human message, its arguments and a resolution.
    fn message(&self) -> (&'static str, String, Vec<String>, &'static str) {
        match self {
            Self::Unauthorized => (
                "NoValidSession",
                "There is no valid session established with the implementation.".into(),
                vec![],
                "Establish a session before attempting any operations.",
            ),
            Self::Forbidden => (
                "InsufficientPrivilege",
                "There are insufficient privileges for the account or credentials associated with the current session to perform the requested operation.".into(),
                vec![],
                "Either abandon the operation or change the associated access rights and resubmit the request if the operation failed.",
            ),
            Self::NotFound { uri } => (
                "ResourceNotFound",
                format!("The requested resource of type Resource named '{uri}' was not found."),
                vec!["Resource".into(), uri.clone()],
                "Provide a valid resource identifier and resubmit the request.",
            ),
            Self::MethodNotAllowed { uri, method, .. } => (
                "OperationNotAllowed",
                format!("The HTTP method {method} is not allowed on the resource {uri}."),
                vec![],
                "None.",
            ),
            Self::MalformedJson { .. } => (
                "MalformedJSON",
                "The request body submitted was malformed JSON and could not be parsed by the \
                 receiving service."
                    .into(),
                vec![],
                "Ensure that the request body is valid JSON and resubmit the request.",
            ),
            Self::PropertyNotWritable { property } => (
                "PropertyNotWritable",
                format!("The property '{property}' is a read-only property and cannot be assigned a value."),
                vec![property.clone()],
                "Remove the property from the request body and resubmit the request if the operation failed.",
            ),
            Self::PropertyValueIncorrect {
                property,
                value,
                reason,
            } => (
                "PropertyValueIncorrect",
                format!("The property '{property}' with the requested value of '{value}' could not be written because the value does not meet the constraints of the implementation: {reason}."),
                vec![property.clone(), value.clone()],
                "No resolution is required.",
            ),
            Self::CreateFailedMissingReqProperties { property } => (
                "CreateFailedMissingReqProperties",
                format!("The create operation failed because the required property {property} was missing from the request."),
                vec![property.clone()],
                "Correct the body to include the required property with a valid value and resubmit the request if the operation failed.",
            ),
            Self::PropertyUnknown { property } => (
                "PropertyUnknown",
                format!("The property {property} is not in the list of valid properties for the resource."),
                vec![property.clone()],
                "Remove the unknown property from the request body and resubmit the request if the operation failed.",
            ),
            Self::PropertyValueOutOfRange { property, value } => (
                "PropertyValueOutOfRange",
                format!("The value '{value}' for the property {property} is not in the supported range of acceptable values."),
                vec![value.clone(), property.clone()],
                "Correct the value for the property in the request body and resubmit the request if the operation failed.",
            ),
            Self::StringValueTooLong { property, length } => (
                "StringValueTooLong",
                format!("The string '{property}' exceeds the length limit {length}."),
                vec![property.clone(), length.to_string()],
                "Resubmit the request with an appropriate string length.",
            ),
            Self::PropertyValueFormatError { property, value } => (
                "PropertyValueFormatError",
                format!("The value '{value}' for the property {property} is not a format that the property can accept."),
                vec![value.clone(), property.clone()],
                "Correct the value for the property in the request body and resubmit the request if the operation failed.",
            ),
            Self::PropertyValueNotInList { property, value } => (
                "PropertyValueNotInList",
                format!("The value '{value}' for the property {property} is not in the list of acceptable values."),
                vec![value.clone(), property.clone()],
                "Choose a value from the enumeration list that the implementation can support and resubmit the request if the operation failed.",
            ),
            Self::PropertyValueTypeError { property, value } => (
                "PropertyValueTypeError",
                format!("The value '{value}' for the property {property} is not a type that the property can accept."),
                vec![value.clone(), property.clone()],
                "Correct the value for the property in the request body and resubmit the request if the operation failed.",
            ),
            Self::ActionParameterMissing { action, parameter } => (
                "ActionParameterMissing",
                format!("The action {action} requires the parameter {parameter} to be present in the request body."),
                vec![action.clone(), parameter.clone()],
                "Supply the action with the required parameter in the request body when the request is resubmitted.",
            ),
            Self::ActionParameterValueNotInList {
                action,
                parameter,
                value,
            } => (
                "ActionParameterValueNotInList",
                format!("The value '{value}' for the parameter {parameter} in the action {action} is not in the list of acceptable values."),
                vec![value.clone(), parameter.clone(), action.clone()],
                "Choose a value from the enumeration list that the implementation can support and resubmit the request if the operation failed.",
            ),
            Self::ActionParameterUnknown { action, parameter } => (
                "ActionParameterUnknown",
                format!("The action {action} was submitted with the invalid parameter {parameter}."),
                vec![action.clone(), parameter.clone()],
                "Correct the invalid parameter and resubmit the request if the operation failed.",
            ),
            Self::ActionParameterValueError {
                action,
                parameter,
                reason,
            } => (
                "ActionParameterValueError",
                format!("The value for the parameter {parameter} in the action {action} is invalid: {reason}."),
                vec![parameter.clone(), action.clone()],
                "Correct the value for the parameter in the request body and resubmit the request if the operation failed.",
            ),
            Self::PreconditionFailed { .. } => (
                "PreconditionFailed",
                "The ETag supplied did not match the ETag required to change this resource.".into(),
                vec![],
                "Try the operation again using the appropriate ETag.",
            ),
            Self::ODataVersionUnsupported { version } => (
                "HeaderInvalid",
                format!("The header 'OData-Version: {version}' is invalid: this service supports OData-Version 4.0."),
                vec![format!("OData-Version: {version}")],
                "Resubmit the request with OData-Version 4.0, or without the header.",
            ),
            Self::QueryNotSupported { parameter } => (
                "QueryNotSupported",
                format!("Querying is not supported by the implementation: {parameter}."),
                vec![],
                "Remove the query parameters and resubmit the request if the operation failed.",
            ),
            Self::ActionNotPossible { action, reason } => (
                "ActionNotSupported",
                format!("The action {action} is not supported by the resource: {reason}."),
                vec![action.clone()],
                "The action supplied cannot be resubmitted to the implementation.",
            ),
            Self::Conflict { reason } => (
                "ResourceInUse",
                format!("The change to the requested resource failed because the resource is in use or in transition: {reason}."),
                vec![],
                "Remove the condition and resubmit the request if the operation failed.",
            ),
            Self::ServiceUnavailable => (
                "ServiceTemporarilyUnavailable",
                "The service is temporarily unavailable. Retry in 1 seconds.".into(),
                vec!["1".into()],
                "Wait for the indicated retry duration and retry the operation.",
            ),
            Self::Internal { .. } => (
                "InternalError",
                "The request failed due to an internal service error. The service is still operational."
                    .into(),
                vec![],
                "Resubmit the request. If the problem persists, consider resetting the service.",
            ),
        }
    }

    /// The Redfish error envelope for this error.
    pub fn body(&self) -> Value {
        let (key, message, args, resolution) = self.message();
        let id = format!("{BASE_REGISTRY}.{key}");
        json!({
            "error": {
                "code": id,
                "message": message,
                "@Message.ExtendedInfo": [{
                    "@odata.type": "#Message.v1_1_1.Message",
                    "MessageId": id,
                    "Message": message,
                    "MessageArgs": args,
                    "MessageSeverity": "Critical",
                    "Resolution": resolution,
                }],
            }
        })
    }
}

impl IntoResponse for RedfishError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = (status, document::json_bytes(&self.body())).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(document::JSON_CONTENT_TYPE),
        );
        headers.insert("OData-Version", HeaderValue::from_static(ODATA_VERSION));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        match &self {
            Self::Unauthorized => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"metal-sim\""),
                );
            }
            Self::MethodNotAllowed { allow, .. } => {
                if let Ok(v) = HeaderValue::from_str(allow) {
                    headers.insert(header::ALLOW, v);
                }
            }
            Self::ServiceUnavailable => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}
