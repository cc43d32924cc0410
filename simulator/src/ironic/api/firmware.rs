//! A node's cached firmware components (`GET /v1/nodes/{id}/firmware`, from 1.86; `vendor`,
//! `model` and `serial_number` from 1.114), with Ironic 39's refusals: an unknown query
//! parameter or field, identity fields below 1.114, any `detail`. The cache is the
//! model's (`model::firmware`), filled by the conductor when a node is verified. One component
//! (`/firmware/{component}`) is not served: 405, as Ironic 39 answers.

use super::nodes::found;
use super::{AppState, NodeRequest, json_response, query_pairs};
use crate::ironic::error::ApiError;
use crate::ironic::model::firmware::{
    FIELDS, FIRMWARE_VERSION, FieldsRefusal, IDENTITY_VERSION, shown_fields,
};
use axum::Router;
use axum::extract::RawQuery;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};

/// The firmware routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/nodes/{ident}/firmware",
            get(list).fallback(super::traits::not_allowed),
        )
        .route(
            "/v1/nodes/{ident}/firmware/{component}",
            axum::routing::any(super::traits::not_allowed),
        )
}

/// `GET /v1/nodes/{id}/firmware[?fields=...]`.
async fn list(r: NodeRequest, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    if !r.ctx.version.at_least(FIRMWARE_VERSION) {
        return Err(ApiError::Framework(StatusCode::NOT_FOUND, String::new()));
    }
    let pairs = query_pairs(q.as_deref());
    // Pecan refuses what the handler does not take before anything else.
    let unexpected: Vec<&str> = pairs
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| !matches!(*k, "detail" | "fields"))
        .collect();
    if !unexpected.is_empty() {
        return Err(ApiError::BadRequest(format!(
            "Unexpected arguments: {}",
            unexpected.join(", ")
        )));
    }
    let mut fields: Option<Vec<String>> = None;
    for (k, v) in pairs {
        if k == "detail" {
            // Ironic 39's schema types `detail` as a boolean, but query values are text.
            return Err(ApiError::BadRequest(format!(
                "Schema error: '{v}' is not of type 'boolean'"
            )));
        }
        fields = Some(
            v.split(',')
                .map(|f| f.trim().to_string())
                .filter(|f| !f.is_empty())
                .collect(),
        );
    }
    let minor = if r.ctx.version.at_least(IDENTITY_VERSION) {
        IDENTITY_VERSION
    } else {
        FIRMWARE_VERSION
    };
    let shown = shown_fields(minor, fields.as_deref()).map_err(|e| {
        ApiError::BadRequest(match e {
            FieldsRefusal::Unknown(bad) => format!(
                "Schema error: '{bad}' is not one of [{}]",
                FIELDS.map(|f| format!("'{f}'")).join(", ")
            ),
            FieldsRefusal::TooNew(names) => format!(
                "Fields {names} are not allowed in this API version. They require at least API version 1.{IDENTITY_VERSION}."
            ),
        })
    })?;
    let store = r.s.lock();
    let node = found(&store, &r.ctx, &r.ident)?;
    let components: Vec<Value> = node.firmware.iter().map(|c| c.document(&shown)).collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "firmware": components }),
    ))
}
