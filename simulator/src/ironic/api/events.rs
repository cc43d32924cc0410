//! External events (`POST /v1/events`, from 1.54): the body checked against Ironic 39's schema,
//! then each event logged, as Ironic does; 204.

use super::{AppState, Ctx};
use crate::ironic::error::ApiError;
use crate::ironic::model::events::{EVENTS_VERSION, events_of, events_problem};
use axum::Router;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::Value;

/// The events route (other methods: 405).
pub(super) fn routes() -> Router<AppState> {
    Router::new().route(
        "/v1/events",
        post(create).fallback(super::traits::not_allowed),
    )
}

async fn create(ctx: Ctx, body: Bytes) -> Result<Response, ApiError> {
    if !ctx.version.at_least(EVENTS_VERSION) {
        return Err(ApiError::NotFoundText(
            "The API is not supported for this version".into(),
        ));
    }
    let body: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("Invalid JSON request body: {e}")))?;
    if let Some(problem) = events_problem(&body) {
        return Err(ApiError::BadRequest(format!("Schema error: {problem}")));
    }
    for event in events_of(&body) {
        tracing::debug!(%event, "received external event");
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
