//! The route table of a top-level resource served whole by synchronous handlers
//! (`/v1/{name}`, with or without a trailing slash, and `/v1/{name}/{ident}`), written once for every
//! such resource (deploy templates, allocations); and the version gate and path identifiers those
//! resources share.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::get;
use uuid::Uuid;

use super::{AppState, Ctx};
use crate::ironic::error::ApiError;
use crate::ironic::model::is_valid_logical_name;

/// A handler's answer.
type Answer = Result<Response, ApiError>;

/// The five handlers of a resource.
#[derive(Clone, Copy)]
pub(crate) struct Crud {
    /// `GET /v1/{name}` with its query.
    pub list: fn(&AppState, &Ctx, Option<&str>) -> Answer,
    /// `POST /v1/{name}` with its body.
    pub create: fn(&AppState, &Ctx, &Bytes) -> Answer,
    /// `GET /v1/{name}/{ident}` with its query.
    pub show: fn(&AppState, &Ctx, &str, Option<&str>) -> Answer,
    /// `PATCH /v1/{name}/{ident}` with its body.
    pub patch: fn(&AppState, &Ctx, &str, &Bytes) -> Answer,
    /// `DELETE /v1/{name}/{ident}`.
    pub delete: fn(&AppState, &Ctx, &str) -> Answer,
}

/// `/v1/{name}`, `/v1/{name}/` and `/v1/{name}/{ident}` routed to `h`.
pub(crate) fn routes(name: &str, h: Crud) -> Router<AppState> {
    let collection = get(
        move |State(s): State<AppState>, ctx: Ctx, RawQuery(q): RawQuery| async move {
            (h.list)(&s, &ctx, q.as_deref())
        },
    )
    .post(
        move |State(s): State<AppState>, ctx: Ctx, body: Bytes| async move {
            (h.create)(&s, &ctx, &body)
        },
    );
    let item = get(
        move |State(s): State<AppState>,
              ctx: Ctx,
              Path(id): Path<String>,
              RawQuery(q): RawQuery| async move { (h.show)(&s, &ctx, &id, q.as_deref()) },
    )
    .patch(
        move |State(s): State<AppState>, ctx: Ctx, Path(id): Path<String>, body: Bytes| async move {
            (h.patch)(&s, &ctx, &id, &body)
        },
    )
    .delete(
        move |State(s): State<AppState>, ctx: Ctx, Path(id): Path<String>| async move {
            (h.delete)(&s, &ctx, &id)
        },
    );
    Router::new()
        .route(&format!("/v1/{name}"), collection.clone())
        .route(&format!("/v1/{name}/"), collection)
        .route(&format!("/v1/{name}/{{ident}}"), item)
}

/// Below the microversion `minor` a resource's routes answer 404 to a read and 405 to anything
/// else, saying `The API version does not allow {what}`: that status and text (each resource
/// wraps them in the envelope real Ironic uses for it).
pub(crate) fn version_gate(
    ctx: &Ctx,
    method: &Method,
    minor: u32,
    what: &str,
) -> Result<(), (StatusCode, String)> {
    if ctx.version.at_least(minor) {
        return Ok(());
    }
    let status = if method == Method::GET {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::METHOD_NOT_ALLOWED
    };
    Err((status, format!("The API version does not allow {what}")))
}

/// How a path names a template or runbook: its UUID (`Some`) or a logical name (`None`); anything
/// else is refused with `Expected UUID or name for {field}: {ident}`.
pub(crate) fn uuid_or_name(ident: &str, field: &str) -> Result<Option<Uuid>, ApiError> {
    let by_uuid = Uuid::parse_str(ident).ok();
    if by_uuid.is_none() && !is_valid_logical_name(ident) {
        return Err(ApiError::BadRequest(format!(
            "Expected UUID or name for {field}: {ident}"
        )));
    }
    Ok(by_uuid)
}
