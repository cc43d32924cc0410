//! Chassis routes: create, list (paged), show, update by JSON patch, delete (refused while the
//! chassis holds nodes), and the nodes of a chassis — with Ironic 39's validation and texts.

use super::nodes::body_object;
use super::paging::{Columns, Listing, NextQuery, Paging, PagingQuery, Sortable};
use super::{AppState, Ctx, Store, json_response, query_pairs};
use crate::ironic::encoding::{Doc, python_repr};
use crate::ironic::error::ApiError;
use crate::ironic::model::{CHASSIS_FIELDS, Chassis, DESCRIPTION_MAX, Shape};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use uuid::Uuid;

/// The chassis table's columns.
const CHASSIS_COLUMNS: Columns = Columns {
    columns: &[
        "id",
        "uuid",
        "extra",
        "description",
        "version",
        "created_at",
        "updated_at",
    ],
    refused: &["extra"],
};

/// Fields a request body or a patch may set.
const WRITABLE: [&str; 3] = ["uuid", "extra", "description"];

fn not_found(id: &str) -> ApiError {
    ApiError::NotFoundText(format!("Chassis {id} could not be found."))
}

/// The chassis a path names: a UUID (400 otherwise) that exists (404 otherwise).
fn find<'a>(store: &'a Store, id: &str) -> Result<&'a Chassis, ApiError> {
    let uuid = Uuid::parse_str(id)
        .map_err(|_| ApiError::BadRequest(format!("Expected UUID for chassis_uuid: {id}")))?;
    store.chassis.get(&uuid).ok_or_else(|| not_found(id))
}

/// `fields=` checked against the chassis schema's names.
fn parse_fields(raw: &str) -> Result<Shape, ApiError> {
    super::paging::schema_fields(raw, &CHASSIS_FIELDS)
}

fn sortable(c: &Chassis, paging: &Paging) -> Sortable {
    let value = match paging.sort_key.as_str() {
        "" | "id" => Value::Null,
        column => c.document("").get(column).cloned().unwrap_or(Value::Null),
    };
    Sortable { value, seq: c.id }
}

fn list_inner(
    state: &AppState,
    ctx: &Ctx,
    q: Option<&str>,
    detail: bool,
) -> Result<Response, ApiError> {
    let mut shape = if detail { Shape::Detail } else { Shape::List };
    let mut paging = PagingQuery::default();
    let mut fields: Option<String> = None;
    let mut detail_asked: Option<bool> = None;
    for (k, v) in query_pairs(q) {
        if paging.take(&k, &v) {
            continue;
        }
        match k.as_str() {
            "fields" if !detail => {
                shape = parse_fields(&v)?;
                if let Shape::Fields(f) = &shape {
                    fields = Some(f.join(","));
                }
            }
            "detail" if !detail => {
                let asked = matches!(
                    v.to_ascii_lowercase().as_str(),
                    "true" | "1" | "yes" | "on" | "t" | "y"
                );
                detail_asked = Some(asked);
                if asked {
                    shape = Shape::Detail;
                }
            }
            other => {
                return Err(ApiError::BadRequest(format!(
                    "Unexpected arguments: {other}"
                )));
            }
        }
    }
    let paging = paging.check()?;
    let store = state.lock();
    let marker_at = match paging.marker {
        Some(m) => Some(sortable(
            store
                .chassis
                .get(&m)
                .ok_or_else(|| not_found(&m.to_string()))?,
            &paging,
        )),
        None => None,
    };
    paging.refuse_json_key(&CHASSIS_COLUMNS)?;
    paging.refuse_unknown_key(&CHASSIS_COLUMNS)?;
    let all: Vec<&Chassis> = store.chassis.values().collect();
    let page = paging.page(all, |c| sortable(c, &paging), marker_at);
    let items: Vec<Doc> = page.iter().map(|c| c.render(&ctx.base, &shape)).collect();
    let uuids: Vec<Uuid> = page.iter().map(|c| c.uuid).collect();
    let next = paging.next_of(
        &ctx.base,
        &NextQuery {
            collection: "chassis",
            detail_endpoint: detail,
            detail_asked,
            filters: Vec::new(),
            fields,
            default_fields: "uuid,description",
        },
        &uuids,
    );
    Ok(json_response(
        StatusCode::OK,
        &Listing {
            name: "chassis",
            items,
            next,
        },
    ))
}

/// `GET /v1/chassis`.
pub(crate) async fn list(
    State(s): State<AppState>,
    ctx: Ctx,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    list_inner(&s, &ctx, q.as_deref(), false)
}

/// `GET /v1/chassis/detail`.
pub(crate) async fn list_detail(
    State(s): State<AppState>,
    ctx: Ctx,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    list_inner(&s, &ctx, q.as_deref(), true)
}

/// `GET /v1/chassis/{id}`.
pub(crate) async fn show(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let mut shape = Shape::Detail;
    for (k, v) in query_pairs(q.as_deref()) {
        match k.as_str() {
            "fields" => shape = parse_fields(&v)?,
            other => {
                return Err(ApiError::BadRequest(format!(
                    "Unexpected arguments: {other}"
                )));
            }
        }
    }
    let store = s.lock();
    let c = find(&store, &id)?;
    Ok(json_response(StatusCode::OK, &c.render(&ctx.base, &shape)))
}

/// The chassis schema Ironic validates bodies and patched documents against; `what` names the
/// document in the message (`chassis`, `patch`).
fn validate(doc: &Map<String, Value>, what: &str) -> Result<(), ApiError> {
    let schema_error = |m: String| ApiError::BadRequest(format!("Schema error for {what}: {m}"));
    if let Some(bad) = doc.keys().find(|k| !WRITABLE.contains(&k.as_str())) {
        return Err(schema_error(format!(
            "Additional properties are not allowed ('{bad}' was unexpected)"
        )));
    }
    match doc.get("description") {
        None | Some(Value::Null) => {}
        Some(Value::String(d)) if d.chars().count() > DESCRIPTION_MAX => {
            return Err(schema_error(format!(
                "{} is too long",
                python_repr(&Value::String(d.clone()))
            )));
        }
        Some(Value::String(_)) => {}
        Some(other) => {
            return Err(schema_error(format!(
                "{} is not of type 'string', 'null'",
                python_repr(other)
            )));
        }
    }
    match doc.get("extra") {
        None | Some(Value::Null) | Some(Value::Object(_)) => {}
        Some(other) => {
            return Err(schema_error(format!(
                "{} is not of type 'object', 'null'",
                python_repr(other)
            )));
        }
    }
    match doc.get("uuid") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(u)) if Uuid::parse_str(u).is_ok() => Ok(()),
        Some(Value::String(u)) => Err(ApiError::BadRequest(format!("Expected UUID for uuid: {u}"))),
        Some(other) => Err(schema_error(format!(
            "{} is not of type 'string', 'null'",
            python_repr(other)
        ))),
    }
}

fn description_of(doc: &Map<String, Value>) -> Option<String> {
    doc.get("description")
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn extra_of(doc: &Map<String, Value>) -> Map<String, Value> {
    doc.get("extra")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// `POST /v1/chassis`.
pub(crate) async fn create(
    State(s): State<AppState>,
    ctx: Ctx,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req = body_object(&body, "chassis")?;
    validate(&req, "chassis")?;
    let now = s.now();
    let mut store = s.lock();
    let uuid = match req.get("uuid").and_then(Value::as_str) {
        Some(u) => Uuid::parse_str(u)
            .map_err(|_| ApiError::BadRequest(format!("Expected UUID for uuid: {u}")))?,
        None => store.new_uuid(),
    };
    if store.chassis.contains_key(&uuid) {
        return Err(ApiError::Conflict(format!(
            "A chassis with UUID {uuid} already exists."
        )));
    }
    let cap = store.conductor.settings().max_nodes;
    if store.chassis.len() >= cap {
        return Err(ApiError::Forbidden(format!(
            "Chassis limit exceeded: this service holds at most {cap} chassis."
        )));
    }
    let chassis = Chassis {
        id: store.next_id(),
        uuid,
        description: description_of(&req),
        extra: extra_of(&req),
        created_at: now,
        updated_at: None,
    };
    let doc = chassis.render(&ctx.base, &Shape::Detail);
    store.chassis.insert(uuid, chassis);
    let mut r = json_response(StatusCode::CREATED, &doc);
    if let Ok(v) = HeaderValue::from_str(&format!("{}/v1/chassis/{uuid}", ctx.base)) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    Ok(r)
}

/// `PATCH /v1/chassis/{id}`: only `uuid` (never changed), `extra` and `description`.
pub(crate) async fn patch(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let ops: json_patch::Patch = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("Invalid JSON patch: {e}")))?;
    for op in &ops.0 {
        let path = op.path().to_string();
        let top = path
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or_default();
        if !WRITABLE.contains(&top) {
            return Err(ApiError::BadRequest(format!(
                "Cannot patch {path}. Only the following can be updated: {}",
                WRITABLE.join(", ")
            )));
        }
    }
    let now = s.now();
    let mut store = s.lock();
    let current = Uuid::parse_str(&id)
        .ok()
        .and_then(|u| store.chassis.get(&u))
        .ok_or_else(|| not_found(&id))?
        .clone();
    let mut view = Value::Object(Map::from_iter([
        ("uuid".to_string(), Value::String(current.uuid.to_string())),
        (
            "description".to_string(),
            current
                .description
                .clone()
                .map_or(Value::Null, Value::String),
        ),
        ("extra".to_string(), Value::Object(current.extra.clone())),
    ]));
    json_patch::patch(&mut view, &ops).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let doc = view.as_object().cloned().unwrap_or_default();
    if doc.get("uuid").and_then(Value::as_str) != Some(current.uuid.to_string().as_str()) {
        return Err(ApiError::BadRequest(
            "Cannot overwrite UUID for an existing Chassis.".into(),
        ));
    }
    validate(&doc, "patch")?;
    let mut updated = current;
    updated.description = description_of(&doc);
    updated.extra = extra_of(&doc);
    updated.updated_at = Some(now);
    let answer = updated.render(&ctx.base, &Shape::Detail);
    store.chassis.insert(updated.uuid, updated);
    Ok(json_response(StatusCode::OK, &answer))
}

/// `DELETE /v1/chassis/{id}`: refused while a node belongs to it.
pub(crate) async fn delete(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let mut store = s.lock();
    let uuid = find(&store, &id)?.uuid;
    let text = uuid.to_string();
    let holds_nodes = store
        .conductor
        .nodes
        .values()
        .any(|n| n.misc.get("chassis_uuid").and_then(Value::as_str) == Some(text.as_str()));
    if holds_nodes {
        return Err(ApiError::BadRequest(format!(
            "Cannot complete the requested action because chassis {uuid} contains nodes."
        )));
    }
    store.chassis.remove(&uuid);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /v1/chassis/{id}/nodes`: the chassis' nodes, listed as `/v1/nodes` lists them.
pub(crate) async fn nodes(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let uuid = find(&s.lock(), &id)?.uuid;
    super::nodes::list_inner(&s, &ctx, q.as_deref(), false, Some(uuid))
}

/// `GET /v1/chassis/{id}/nodes/detail`.
pub(crate) async fn nodes_detail(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let uuid = find(&s.lock(), &id)?.uuid;
    super::nodes::list_inner(&s, &ctx, q.as_deref(), true, Some(uuid))
}
