//! Node traits (`/v1/nodes/{id}/traits[/{trait}]`, from 1.37): list, replace all, add one,
//! remove one or all — with Ironic 39's schema texts, its order of checks (the names and body
//! first, then the node, then the request's form) and its refusals below 1.37 (406 to read, 405 to
//! replace or add, 404 to remove). The rules on names and counts are the model's
//! (`model::traits`).

use super::nodes::{Lock, find, found, node_mut};
use super::{AppState, Ctx, NodeRequest, json_response};
use crate::ironic::error::ApiError;
use crate::ironic::model::trait_problem;
use crate::ironic::model::{TraitChange, TraitError, changed_traits, node_traits, set_node_traits};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The microversion node traits appeared in.
const TRAITS_VERSION: u32 = 37;

const ONE_OR_ALL: &str = "A single node trait may be added via PUT /v1/nodes/<node identifier>/traits/<trait> with no body, or all node traits may be replaced via PUT /v1/nodes/<node identifier>/traits with the list of traits specified in the request body.";

impl From<TraitError> for ApiError {
    fn from(e: TraitError) -> Self {
        match e {
            TraitError::Missing { .. } => ApiError::NotFoundText(e.to_string()),
            TraitError::TooMany { .. } => ApiError::BadRequest(e.to_string()),
        }
    }
}

/// `Schema error for <what>: <problem>` for an invalid trait name.
pub(crate) fn check_name(value: &Value, what: &str) -> Result<(), ApiError> {
    match trait_problem(value) {
        Some(p) => Err(ApiError::BadRequest(format!(
            "Schema error for {what}: {p}"
        ))),
        None => Ok(()),
    }
}

/// The request body checked against Ironic's schema (`{"traits": [name, ...]}`, nothing else):
/// None when the body is empty, else the list when one was given.
pub(crate) fn body_traits(body: &Bytes) -> Result<Option<Option<Vec<String>>>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("Invalid JSON request body: {e}")))?;
    let schema = |m: String| ApiError::BadRequest(format!("Schema error for body: {m}"));
    let Value::Object(o) = &v else {
        return Err(schema(format!(
            "{} is not of type 'object'",
            crate::ironic::encoding::python_repr(&v)
        )));
    };
    if let Some(bad) = o.keys().find(|k| k.as_str() != "traits") {
        return Err(schema(format!(
            "Additional properties are not allowed ('{bad}' was unexpected)"
        )));
    }
    match o.get("traits") {
        None => Ok(Some(None)),
        Some(Value::Array(items)) => {
            for item in items {
                check_name(item, "body")?;
            }
            Ok(Some(Some(
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect(),
            )))
        }
        Some(other) => Err(schema(format!(
            "{} is not of type 'array'",
            crate::ironic::encoding::python_repr(other)
        ))),
    }
}

/// Applies `change` to the node `ident` names, under its lock, and stamps it.
fn change(s: &AppState, ctx: &Ctx, ident: &str, change: &TraitChange) -> Result<(), ApiError> {
    let now = s.now();
    let mut store = s.lock();
    let uuid = find(&store, ctx, ident)?;
    let n = node_mut(&mut store, uuid, Lock::Respected)?;
    let traits = changed_traits(n, change)?;
    set_node_traits(n, traits);
    n.updated_at = Some(now);
    Ok(())
}

/// `GET /v1/nodes/{id}/traits`.
pub(crate) async fn list(r: NodeRequest) -> Result<Response, ApiError> {
    if !r.ctx.version.at_least(TRAITS_VERSION) {
        return Err(ApiError::NotAcceptable);
    }
    let store = r.s.lock();
    let n = found(&store, &r.ctx, &r.ident)?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"traits": node_traits(n)}),
    ))
}

/// `PUT /v1/nodes/{id}/traits` with `{"traits": [...]}`: replaces them all.
pub(crate) async fn replace(r: NodeRequest, body: Bytes) -> Result<Response, ApiError> {
    if !r.ctx.version.at_least(TRAITS_VERSION) {
        return Err(ApiError::method_not_allowed());
    }
    let asked = body_traits(&body)?;
    found(&r.s.lock(), &r.ctx, &r.ident)?;
    let Some(Some(all)) = asked else {
        return Err(ApiError::BadRequest(ONE_OR_ALL.into()));
    };
    change(&r.s, &r.ctx, &r.ident, &TraitChange::Replace(all))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `PUT /v1/nodes/{id}/traits/{trait}` (no body, or an empty object): adds one.
pub(crate) async fn add(
    State(s): State<AppState>,
    ctx: Ctx,
    Path((ident, name)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    if !ctx.version.at_least(TRAITS_VERSION) {
        return Err(ApiError::method_not_allowed());
    }
    check_name(&Value::String(name.clone()), "trait")?;
    let asked = body_traits(&body)?;
    found(&s.lock(), &ctx, &ident)?;
    if matches!(asked, Some(Some(_))) {
        return Err(ApiError::BadRequest(ONE_OR_ALL.into()));
    }
    change(&s, &ctx, &ident, &TraitChange::Add(name.clone()))?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let at = format!("{}/v1/nodes/{ident}/traits/{name}", ctx.base);
    if let Ok(v) = HeaderValue::from_str(&at) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// `DELETE /v1/nodes/{id}/traits`: removes them all.
pub(crate) async fn clear(r: NodeRequest) -> Result<Response, ApiError> {
    if !r.ctx.version.at_least(TRAITS_VERSION) {
        return Err(ApiError::NotFound);
    }
    change(&r.s, &r.ctx, &r.ident, &TraitChange::Clear)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /v1/nodes/{id}/traits/{trait}`: removes one (404 when the node lacks it).
pub(crate) async fn remove(
    State(s): State<AppState>,
    ctx: Ctx,
    Path((ident, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    if !ctx.version.at_least(TRAITS_VERSION) {
        return Err(ApiError::NotFound);
    }
    change(&s, &ctx, &ident, &TraitChange::Remove(name))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Any other method on the traits routes.
pub(crate) async fn not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}
