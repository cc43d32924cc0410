//! The route table of a top-level resource served whole by synchronous handlers
//! (`/v1/{name}`, with or without a trailing slash, and `/v1/{name}/{ident}`), written once for every
//! such resource (deploy templates, allocations).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use axum::routing::get;

use super::{AppState, Ctx};
use crate::ironic::error::ApiError;

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
