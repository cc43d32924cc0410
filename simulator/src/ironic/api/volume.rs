//! Volume routes (from 1.32): `/v1/volume` and a node's `/v1/nodes/{id}/volume`, connectors and
//! targets — create, list (paged, by node, `detail`, `fields`), show, JSON patch, delete — with
//! Ironic 39's validation order and texts. Both resources are one implementation over
//! [`VolumeKind`]; the conductor's rules (power off to change, a deletable state or power off to
//! delete) are the model's.

use super::nodes::{body_object, bool_of};
use super::paging::{Columns, Listing, NextQuery, Paging, PagingQuery, Sortable, schema_fields};
use super::{AppState, Ctx, Store, json_response, query_pairs};
use crate::ironic::encoding::Doc;
use crate::ironic::error::ApiError;
use crate::ironic::model::{
    Shape, VolumeKind, VolumeRecord, VolumeRefusal, links, may_delete_volume, may_update_volume,
    volume_schema_problem,
};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value};
use uuid::Uuid;

/// The microversion the volume API appeared in.
const VOLUME_VERSION: u32 = 32;

fn gate(ctx: &Ctx) -> Result<(), ApiError> {
    if ctx.version.at_least(VOLUME_VERSION) {
        Ok(())
    } else {
        Err(ApiError::NotFoundText(
            "The API is not supported for this version".into(),
        ))
    }
}

/// Below 1.32 the framework does not route the collections at all.
fn collection_gate(ctx: &Ctx) -> Result<(), ApiError> {
    gate(ctx).map_err(|_| ApiError::Framework(StatusCode::NOT_FOUND, String::new()))
}

fn malformed() -> ApiError {
    ApiError::BadRequest("Malformed request URI.".into())
}

fn not_found(kind: VolumeKind, id: &str) -> ApiError {
    ApiError::NotFoundText(format!("{} {id} could not be found.", kind.noun()))
}

/// The record a path names: a UUID (400 otherwise) that exists (404 otherwise).
fn find<'a>(store: &'a Store, kind: VolumeKind, id: &str) -> Result<&'a VolumeRecord, ApiError> {
    let uuid = Uuid::parse_str(id).map_err(|_| {
        ApiError::BadRequest(format!(
            "Expected UUID for {}_uuid: {id}",
            kind.schema_name()
        ))
    })?;
    store
        .volume(kind)
        .get(&uuid)
        .ok_or_else(|| not_found(kind, id))
}

/// The node of a `/v1/nodes/{id}/volume/...` path: Ironic 39 looks it up by UUID only.
fn path_node(store: &Store, ident: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(ident)
        .ok()
        .filter(|u| store.conductor.nodes.contains_key(u))
        .ok_or_else(|| ApiError::NodeNotFound(ident.to_string()))
}

fn refused(r: VolumeRefusal, node: Uuid) -> ApiError {
    ApiError::InvalidState {
        action: r.action,
        node: node.to_string(),
        state: r.state,
    }
}

fn sortable(kind: VolumeKind, r: &VolumeRecord, paging: &Paging) -> Sortable {
    let value = match paging.sort_key.as_str() {
        "" | "id" => Value::Null,
        column => r
            .document(kind, "")
            .get(column)
            .cloned()
            .unwrap_or(Value::Null),
    };
    Sortable { value, seq: r.id }
}

fn list(
    s: &AppState,
    ctx: &Ctx,
    kind: VolumeKind,
    q: Option<&str>,
    node_path: Option<&str>,
) -> Result<Response, ApiError> {
    collection_gate(ctx)?;
    let mut shape = Shape::List;
    let mut paging = PagingQuery::default();
    let mut fields: Option<String> = None;
    let mut detail: Option<bool> = None;
    let mut node_query: Option<String> = None;
    for (k, v) in query_pairs(q) {
        if paging.take(&k, &v) {
            continue;
        }
        match k.as_str() {
            "fields" => {
                shape = schema_fields(&v, kind.field_names())?;
                if let Shape::Fields(f) = &shape {
                    fields = Some(f.join(","));
                }
            }
            "detail" => detail = Some(bool_of(&v)?),
            "node" => node_query = Some(v),
            other => {
                return Err(ApiError::BadRequest(format!(
                    "Unexpected arguments: {other}"
                )));
            }
        }
    }
    if detail == Some(true) {
        if fields.is_some() {
            return Err(ApiError::BadRequest(
                "Can't fetch a subset of fields with 'detail' set".into(),
            ));
        }
        shape = Shape::Detail;
    }
    let paging = paging.check()?;
    let store = s.lock();
    let marker_at = match paging.marker {
        Some(m) => Some(sortable(
            kind,
            store
                .volume(kind)
                .get(&m)
                .ok_or_else(|| not_found(kind, &m.to_string()))?,
            &paging,
        )),
        None => None,
    };
    let (columns, refused_keys) = kind.columns();
    let columns = Columns {
        columns,
        refused: refused_keys,
    };
    paging.refuse_json_key(&columns)?;
    let node = match (node_path, node_query) {
        (Some(n), _) => Some(path_node(&store, n)?),
        (None, Some(n)) => Some(super::nodes::find(&store, ctx, &n)?),
        (None, None) => None,
    };
    paging.refuse_unknown_key(&columns)?;
    let all: Vec<&VolumeRecord> = store
        .volume(kind)
        .values()
        .filter(|r| node.is_none_or(|n| r.node_uuid == n))
        .collect();
    let page = paging.page(all, |r| sortable(kind, r, &paging), marker_at);
    let items: Vec<Doc> = page
        .iter()
        .map(|r| r.render(kind, &ctx.base, &shape))
        .collect();
    let uuids: Vec<Uuid> = page.iter().map(|r| r.uuid).collect();
    let default_fields = kind.list_fields().join(",");
    let next = paging.next_of(
        &ctx.base,
        &NextQuery {
            collection: kind.path(),
            detail_endpoint: false,
            detail_asked: detail,
            filters: Vec::new(),
            fields,
            default_fields: &default_fields,
        },
        &uuids,
    );
    Ok(json_response(
        StatusCode::OK,
        &Listing {
            name: kind.collection(),
            items,
            next,
        },
    ))
}

fn show(
    s: &AppState,
    ctx: &Ctx,
    kind: VolumeKind,
    id: &str,
    q: Option<&str>,
) -> Result<Response, ApiError> {
    collection_gate(ctx)?;
    let mut shape = Shape::Detail;
    for (k, v) in query_pairs(q) {
        match k.as_str() {
            "fields" => shape = schema_fields(&v, kind.field_names())?,
            other => {
                return Err(ApiError::BadRequest(format!(
                    "Unexpected arguments: {other}"
                )));
            }
        }
    }
    let store = s.lock();
    let r = find(&store, kind, id)?;
    Ok(json_response(
        StatusCode::OK,
        &r.render(kind, &ctx.base, &shape),
    ))
}

/// The schema (`what` names the document), then the UUID validators, in Ironic's order.
fn validate(kind: VolumeKind, doc: &Map<String, Value>, what: &str) -> Result<(), ApiError> {
    if let Some(p) = volume_schema_problem(kind, doc) {
        return Err(ApiError::BadRequest(format!(
            "Schema error for {what}: {p}"
        )));
    }
    for key in ["node_uuid", "uuid"] {
        if let Some(u) = doc.get(key).and_then(Value::as_str)
            && Uuid::parse_str(u).is_err()
        {
            return Err(ApiError::BadRequest(format!(
                "Expected UUID for {key}: {u}"
            )));
        }
    }
    Ok(())
}

fn own_fields(kind: VolumeKind, doc: &Map<String, Value>) -> Map<String, Value> {
    kind.own_fields()
        .iter()
        .filter_map(|f| doc.get(*f).map(|v| (f.to_string(), v.clone())))
        .collect()
}

fn refuse_duplicates(store: &Store, kind: VolumeKind, r: &VolumeRecord) -> Result<(), ApiError> {
    for other in store.volume(kind).values().filter(|o| o.uuid != r.uuid) {
        if let Some(text) = kind.duplicate(r, other) {
            return Err(ApiError::Conflict(text));
        }
    }
    Ok(())
}

fn create(s: &AppState, ctx: &Ctx, kind: VolumeKind, body: &Bytes) -> Result<Response, ApiError> {
    collection_gate(ctx)?;
    let req = body_object(body, kind.schema_name())?;
    validate(kind, &req, kind.schema_name())?;
    let now = s.now();
    let mut store = s.lock();
    let node_text = req
        .get("node_uuid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let node_uuid = Uuid::parse_str(node_text)
        .ok()
        .filter(|u| store.conductor.nodes.contains_key(u))
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "Invalid input for field/attribute node_uuid. Value: '{node_text}'. "
            ))
        })?;
    let uuid = match req.get("uuid").and_then(Value::as_str) {
        Some(u) => Uuid::parse_str(u)
            .map_err(|_| ApiError::BadRequest(format!("Expected UUID for uuid: {u}")))?,
        None => store.new_uuid(),
    };
    if store.volume(kind).contains_key(&uuid) {
        return Err(ApiError::Conflict(format!(
            "A {} with UUID {uuid} already exists.",
            kind.lower()
        )));
    }
    let cap = store.conductor.settings().max_ports;
    if store.volume(kind).len() >= cap {
        return Err(ApiError::Forbidden(format!(
            "{} limit exceeded: this service holds at most {cap}.",
            kind.noun()
        )));
    }
    let mut r = VolumeRecord {
        id: 0,
        uuid,
        node_uuid,
        fields: own_fields(kind, &req),
        created_at: now,
        updated_at: None,
    };
    refuse_duplicates(&store, kind, &r)?;
    r.id = store.next_volume_id();
    let doc = r.render(kind, &ctx.base, &Shape::Detail);
    store.volume_mut(kind).insert(uuid, r);
    let mut resp = json_response(StatusCode::CREATED, &doc);
    if let Ok(v) = HeaderValue::from_str(&format!("{}/v1/{}/{uuid}", ctx.base, kind.path())) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

fn patch(
    s: &AppState,
    ctx: &Ctx,
    kind: VolumeKind,
    id: &str,
    body: &Bytes,
) -> Result<Response, ApiError> {
    collection_gate(ctx)?;
    let ops: json_patch::Patch = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("Invalid JSON patch: {e}")))?;
    let now = s.now();
    let mut store = s.lock();
    let current = find(&store, kind, id)?.clone();
    for op in &ops.0 {
        let path = op.path().to_string();
        let top = path.trim_start_matches('/').split('/').next().unwrap_or("");
        if !kind.patchable().contains(&top) {
            return Err(ApiError::BadRequest(format!(
                "Cannot patch {path}. Only the following can be updated: {}",
                kind.patchable().join(", ")
            )));
        }
    }
    use json_patch::PatchOperation as Op;
    for op in &ops.0 {
        let value = match op {
            Op::Add(a) if a.path == "/node_uuid" => Some(&a.value),
            Op::Replace(r) if r.path == "/node_uuid" => Some(&r.value),
            _ => None,
        };
        if let Some(v) = value
            && v.as_str().is_none_or(|u| Uuid::parse_str(u).is_err())
        {
            let shown = v.as_str().map_or_else(|| v.to_string(), str::to_string);
            return Err(ApiError::BadRequest(format!(
                "Expected a UUID for node_uuid, but received {shown}."
            )));
        }
    }
    let mut view = current.fields.clone();
    for json_field in ["extra", "properties"] {
        if kind.own_fields().contains(&json_field)
            && view.get(json_field).is_none_or(Value::is_null)
        {
            view.insert(json_field.into(), Value::Object(Map::new()));
        }
    }
    view.insert(
        "node_uuid".into(),
        Value::String(current.node_uuid.to_string()),
    );
    view.insert("uuid".into(), Value::String(current.uuid.to_string()));
    let mut view = Value::Object(view);
    json_patch::patch(&mut view, &ops).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let doc = view.as_object().cloned().unwrap_or_default();
    validate(kind, &doc, "patch")?;
    let node_text = doc
        .get("node_uuid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let node_uuid = Uuid::parse_str(node_text)
        .ok()
        .filter(|u| store.conductor.nodes.contains_key(u))
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "Unable to apply the requested node_uuid '{node_text}'. Requested value was invalid."
            ))
        })?;
    store.conductor.ensure_unlocked(node_uuid)?;
    let power = store.conductor.node(node_uuid)?.power_state;
    may_update_volume(kind, power).map_err(|r| refused(r, node_uuid))?;
    let mut updated = current;
    updated.fields = own_fields(kind, &doc);
    updated.node_uuid = node_uuid;
    refuse_duplicates(&store, kind, &updated)?;
    updated.updated_at = Some(now);
    let answer = updated.render(kind, &ctx.base, &Shape::Detail);
    store.volume_mut(kind).insert(updated.uuid, updated);
    Ok(json_response(StatusCode::OK, &answer))
}

fn delete(s: &AppState, ctx: &Ctx, kind: VolumeKind, id: &str) -> Result<Response, ApiError> {
    collection_gate(ctx)?;
    let mut store = s.lock();
    let r = find(&store, kind, id)?;
    let (uuid, node) = (r.uuid, r.node_uuid);
    store.conductor.ensure_unlocked(node)?;
    let n = store.conductor.node(node)?;
    may_delete_volume(kind, n.provision_state, n.power_state).map_err(|r| refused(r, node))?;
    store.volume_mut(kind).remove(&uuid);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /v1/volume` and `GET /v1/nodes/{id}/volume`: links to the two collections.
fn root(ctx: &Ctx, node: Option<&str>) -> Result<Response, ApiError> {
    gate(ctx)?;
    let (resource, prefix) = match node {
        Some(n) => ("nodes", format!("{n}/volume/")),
        None => ("volume", String::new()),
    };
    let b = &ctx.base;
    let mut d = Doc::new();
    d.put("links", links(b, &format!("{resource}/{prefix}")));
    for sub in ["connectors", "targets"] {
        d.put(sub, links(b, &format!("{resource}/{prefix}{sub}")));
    }
    Ok(json_response(StatusCode::OK, &d))
}

type Q = RawQuery;

/// The volume routes, merged into the API's router.
pub(crate) fn routes() -> Router<AppState> {
    let mut r = Router::new()
        .route(
            "/v1/volume",
            get(|ctx: Ctx| async move { root(&ctx, None) }),
        )
        .route(
            "/v1/volume/",
            get(|ctx: Ctx| async move { root(&ctx, None) }),
        )
        .route(
            "/v1/nodes/{ident}/volume",
            get(|ctx: Ctx, Path(n): Path<String>| async move { root(&ctx, Some(&n)) }),
        );
    for kind in [VolumeKind::Connector, VolumeKind::Target] {
        let collection = format!("/v1/{}", kind.path());
        let one = format!("/v1/{}/{{id}}", kind.path());
        let of_node = format!("/v1/nodes/{{ident}}/{}", kind.path());
        let one_of_node = format!("/v1/nodes/{{ident}}/{}/{{id}}", kind.path());
        let listing = move |State(s): State<AppState>, ctx: Ctx, RawQuery(q): Q| async move {
            list(&s, &ctx, kind, q.as_deref(), None)
        };
        // Clients (python-ironicclient) ask for the collection with a trailing slash.
        r = r
            .route(&format!("{collection}/"), get(listing))
            .route(
                &collection,
                get(
                    move |State(s): State<AppState>, ctx: Ctx, RawQuery(q): Q| async move {
                        list(&s, &ctx, kind, q.as_deref(), None)
                    },
                )
                .post(
                    move |State(s): State<AppState>, ctx: Ctx, body: Bytes| async move {
                        create(&s, &ctx, kind, &body)
                    },
                ),
            )
            .route(
                &one,
                get(
                    move |State(s): State<AppState>,
                          ctx: Ctx,
                          Path(id): Path<String>,
                          RawQuery(q): Q| async move {
                        show(&s, &ctx, kind, &id, q.as_deref())
                    },
                )
                .patch(
                    move |State(s): State<AppState>,
                          ctx: Ctx,
                          Path(id): Path<String>,
                          body: Bytes| async move {
                        patch(&s, &ctx, kind, &id, &body)
                    },
                )
                .delete(
                    move |State(s): State<AppState>, ctx: Ctx, Path(id): Path<String>| async move {
                        delete(&s, &ctx, kind, &id)
                    },
                ),
            )
            .route(
                &of_node,
                get(
                    move |State(s): State<AppState>,
                          ctx: Ctx,
                          Path(n): Path<String>,
                          RawQuery(q): Q| async move {
                        list(&s, &ctx, kind, q.as_deref(), Some(&n))
                    },
                )
                .post(
                    move |State(s): State<AppState>, ctx: Ctx, Path(n): Path<String>| async move {
                        collection_gate(&ctx)?;
                        path_node(&s.lock(), &n)?;
                        Err::<Response, _>(malformed())
                    },
                ),
            )
            .route(
                &one_of_node,
                axum::routing::patch(
                    move |State(s): State<AppState>,
                          ctx: Ctx,
                          Path((n, _)): Path<(String, String)>| async move {
                        collection_gate(&ctx)?;
                        path_node(&s.lock(), &n)?;
                        Err::<Response, _>(malformed())
                    },
                )
                .delete(
                    move |State(s): State<AppState>,
                          ctx: Ctx,
                          Path((n, _)): Path<(String, String)>| async move {
                        collection_gate(&ctx)?;
                        path_node(&s.lock(), &n)?;
                        Err::<Response, _>(malformed())
                    },
                ),
            );
    }
    r
}
