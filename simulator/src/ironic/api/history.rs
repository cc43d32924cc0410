//! A node's history (`/v1/nodes/{id}/history[/{event}]`, from 1.78): list (paged by creation
//! time, `detail`) and show, with Ironic 39's texts and its `next` link (which repeats
//! `marker=None` before the real marker). The events are the model's (`model::history`).

use super::nodes::{bool_of, found};
use super::paging::{Listing, MAX_LIMIT};
use super::{AppState, Ctx, NodeRequest, json_response, query_pairs};
use crate::ironic::encoding::Doc;
use crate::ironic::error::ApiError;
use crate::ironic::model::{HISTORY_VERSION, HistoryEvent, is_valid_logical_name};
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use uuid::Uuid;

const STANDARD_FIELDS: &str = "uuid,created_at,severity,event";
const DETAIL_FIELDS: &str = "uuid,created_at,severity,event_type,event,conductor,user,project,state,target_provision_state,duration_seconds";

fn gate(ctx: &Ctx) -> Result<(), ApiError> {
    if ctx.version.at_least(HISTORY_VERSION) {
        Ok(())
    } else {
        Err(ApiError::Framework(StatusCode::NOT_FOUND, String::new()))
    }
}

fn not_found(ident: &str) -> ApiError {
    ApiError::NotFoundText(format!("Node history record {ident} could not be found."))
}

/// `GET /v1/nodes/{id}/history`.
async fn list(r: NodeRequest, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    gate(&r.ctx)?;
    let mut detail = false;
    let mut marker = None;
    let mut limit = None;
    let mut sort_key = "created_at".to_string();
    let mut descending = false;
    for (k, v) in query_pairs(q.as_deref()) {
        match k.as_str() {
            "detail" => detail = bool_of(&v)?,
            "marker" => {
                marker =
                    Some(Uuid::parse_str(&v).map_err(|_| {
                        ApiError::BadRequest(format!("Expected UUID for marker: {v}"))
                    })?);
            }
            "limit" => {
                limit = Some(v.trim().parse::<i64>().map_err(|_| {
                    ApiError::BadRequest(format!("Expected an integer for limit: {v}"))
                })?);
            }
            "sort_key" => sort_key = v,
            "sort_dir" => descending = v == "desc",
            other => {
                return Err(ApiError::BadRequest(format!(
                    "Unexpected arguments: {other}"
                )));
            }
        }
    }
    let store = r.s.lock();
    let node = found(&store, &r.ctx, &r.ident)?;
    let limit = match limit {
        None => MAX_LIMIT,
        Some(l) if l <= 0 => return Err(ApiError::BadRequest("Limit must be positive".into())),
        Some(l) => usize::try_from(l).unwrap_or(MAX_LIMIT).min(MAX_LIMIT),
    };
    let mut events: Vec<&HistoryEvent> = node.history.iter().collect();
    if descending {
        events.reverse();
    }
    if let Some(m) = marker {
        let at = events
            .iter()
            .position(|e| e.uuid == m)
            .ok_or_else(|| not_found(&m.to_string()))?;
        events.drain(..=at);
    }
    events.truncate(limit);
    let items: Vec<Doc> = events
        .iter()
        .map(|e| e.document(&r.ctx.base, node.uuid, r.ctx.version, detail))
        .collect();
    let next = match events.last() {
        Some(last) if events.len() == limit => Some(format!(
            "{}/v1/nodes/{}/history?marker=None&sort_key={sort_key}&sort_dir={}&fields={}&limit={limit}&marker={}",
            r.ctx.base,
            r.ident,
            if descending { "desc" } else { "asc" },
            if detail {
                DETAIL_FIELDS
            } else {
                STANDARD_FIELDS
            },
            last.uuid
        )),
        _ => None,
    };
    Ok(json_response(
        StatusCode::OK,
        &Listing {
            name: "history",
            items,
            next,
        },
    ))
}

/// `GET /v1/nodes/{id}/history/{event}`.
async fn show(
    State(s): State<AppState>,
    ctx: Ctx,
    Path((ident, event)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    gate(&ctx)?;
    if Uuid::parse_str(&event).is_err() && !is_valid_logical_name(&event) {
        return Err(ApiError::BadRequest(format!(
            "Expected UUID or name for event: {event}"
        )));
    }
    let store = s.lock();
    let node = found(&store, &ctx, &ident)?;
    let e = node
        .history
        .iter()
        .find(|e| e.uuid.to_string() == event)
        .ok_or_else(|| not_found(&event))?;
    Ok(json_response(
        StatusCode::OK,
        &e.document(&ctx.base, node.uuid, ctx.version, true),
    ))
}

/// The history routes, merged into the API's router.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/nodes/{ident}/history", get(list))
        .route("/v1/nodes/{ident}/history/{event}", get(show))
}
