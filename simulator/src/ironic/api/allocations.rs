//! Allocation routes (from 1.52): create (the allocation process runs at once: the answer says
//! `allocating`, the next read `active` or `error`), list (paged, by node, resource class, state,
//! owner), show by UUID or name, JSON patch of `name` and `extra`, delete releasing the node, and a
//! node's allocation. The process and the release rule are the model's (`model::allocation`).

use super::nodes::body_object;
use super::paging::{Columns, Listing, NextQuery, Paging, PagingQuery, Sortable, schema_fields};
use super::{AppState, Ctx, NodeRequest, Store, json_response, query_pairs};
use crate::ironic::encoding::{Doc, python_repr};
use crate::ironic::error::ApiError;
use crate::ironic::model::{
    ALLOCATION_FIELDS, Allocation, Shape, backfill, deallocation_refusal, is_valid_logical_name,
    pick_node, settle_allocation, trait_problem,
};
use axum::Router;
use axum::body::Bytes;
use axum::extract::RawQuery;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value};
use uuid::Uuid;

/// The microversion allocations appeared in.
const ALLOCATIONS_VERSION: u32 = 52;
/// The microversion allocations may be updated from.
const UPDATE_VERSION: u32 = 57;
/// The microversion allocations may name the node to backfill.
const BACKFILL_VERSION: u32 = 58;

const COLUMNS: Columns = Columns {
    columns: &[
        "id",
        "uuid",
        "name",
        "node_id",
        "state",
        "owner",
        "last_error",
        "resource_class",
        "traits",
        "candidate_nodes",
        "extra",
        "conductor_affinity",
        "version",
        "created_at",
        "updated_at",
    ],
    refused: &["extra", "candidate_nodes", "traits"],
};

fn gate(ctx: &Ctx, method: &Method) -> Result<(), ApiError> {
    super::crud::version_gate(ctx, method, ALLOCATIONS_VERSION, "allocations")
        .map_err(|(status, text)| ApiError::Refused(status, text))
}

fn not_found(ident: &str) -> ApiError {
    ApiError::NotFoundText(format!("Allocation {ident} could not be found."))
}

fn find<'a>(store: &'a Store, ident: &str) -> Result<&'a Allocation, ApiError> {
    let by_uuid = Uuid::parse_str(ident).ok();
    store
        .allocations
        .values()
        .find(|a| Some(a.uuid) == by_uuid || a.name.as_deref() == Some(ident))
        .ok_or_else(|| not_found(ident))
}

fn render(a: &Allocation, base: &str, shape: &Shape) -> Doc {
    let mut d = a.document(base);
    if let Shape::Fields(f) = shape {
        let mut keep = f.clone();
        keep.push("links".into());
        d.retain_keys(&keep);
    }
    d
}

fn sortable(a: &Allocation, paging: &Paging) -> Sortable {
    let value = match paging.sort_key.as_str() {
        "" | "id" => Value::Null,
        "node_id" => a
            .node_uuid
            .map_or(Value::Null, |u| Value::String(u.to_string())),
        column => a.document("").get(column).cloned().unwrap_or(Value::Null),
    };
    Sortable { value, seq: a.id }
}

fn list(s: &AppState, ctx: &Ctx, q: Option<&str>) -> Result<Response, ApiError> {
    gate(ctx, &Method::GET)?;
    let mut shape = Shape::Detail;
    let mut paging = PagingQuery::default();
    let mut fields: Option<String> = None;
    let mut filters: Vec<(String, String)> = Vec::new();
    for (k, v) in query_pairs(q) {
        if paging.take(&k, &v) {
            continue;
        }
        match k.as_str() {
            "fields" => {
                shape = schema_fields(&v, &ALLOCATION_FIELDS)?;
                if let Shape::Fields(f) = &shape {
                    fields = Some(f.join(","));
                }
            }
            "node" | "resource_class" | "state" | "owner" => filters.push((k, v)),
            other => {
                return Err(ApiError::BadRequest(format!(
                    "Unexpected arguments: {other}"
                )));
            }
        }
    }
    let paging = paging.check()?;
    let store = s.lock();
    let marker_at = match paging.marker {
        Some(m) => Some(sortable(
            store
                .allocations
                .get(&m)
                .ok_or_else(|| not_found(&m.to_string()))?,
            &paging,
        )),
        None => None,
    };
    paging.refuse_json_key(&COLUMNS)?;
    paging.refuse_unknown_key(&COLUMNS)?;
    let mut node: Option<Uuid> = None;
    if let Some((_, n)) = filters.iter().find(|(k, _)| k == "node") {
        node = Some(node_of(&store, ctx, n)?);
    }
    let keep = |a: &Allocation| {
        filters.iter().all(|(k, v)| match k.as_str() {
            "node" => a.node_uuid.is_some() && a.node_uuid == node,
            "resource_class" => a.resource_class.as_deref() == Some(v.as_str()),
            "state" => a.state == *v,
            _ => a.owner.as_deref() == Some(v.as_str()),
        })
    };
    let all: Vec<&Allocation> = store.allocations.values().filter(|a| keep(a)).collect();
    let page = paging.page(all, |a| sortable(a, &paging), marker_at);
    let items: Vec<Doc> = page.iter().map(|a| render(a, &ctx.base, &shape)).collect();
    let uuids: Vec<Uuid> = page.iter().map(|a| a.uuid).collect();
    let next = paging.next_of(
        &ctx.base,
        &NextQuery {
            collection: "allocations",
            detail_endpoint: false,
            detail_asked: None,
            filters: Vec::new(),
            fields,
            default_fields: "",
        },
        &uuids,
    );
    Ok(json_response(
        StatusCode::OK,
        &Listing {
            name: "allocations",
            items,
            next,
        },
    ))
}

fn show_fields(q: Option<&str>) -> Result<Shape, ApiError> {
    let mut shape = Shape::Detail;
    for (k, v) in query_pairs(q) {
        match k.as_str() {
            "fields" => shape = schema_fields(&v, &ALLOCATION_FIELDS)?,
            other => {
                return Err(ApiError::BadRequest(format!(
                    "Unexpected arguments: {other}"
                )));
            }
        }
    }
    Ok(shape)
}

fn show(s: &AppState, ctx: &Ctx, ident: &str, q: Option<&str>) -> Result<Response, ApiError> {
    gate(ctx, &Method::GET)?;
    let shape = show_fields(q)?;
    let store = s.lock();
    let a = find(&store, ident)?;
    Ok(json_response(StatusCode::OK, &render(a, &ctx.base, &shape)))
}

/// Ironic's allocation schema's first complaint (`Schema error: <it>`).
fn schema_problem(doc: &Map<String, Value>) -> Option<String> {
    const KNOWN: [&str; 8] = [
        "candidate_nodes",
        "extra",
        "name",
        "node",
        "owner",
        "resource_class",
        "traits",
        "uuid",
    ];
    if let Some(bad) = doc.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Some(format!(
            "Additional properties are not allowed ('{bad}' was unexpected)"
        ));
    }
    for (k, v) in doc {
        let (fits, types) = match k.as_str() {
            "candidate_nodes" | "traits" => (v.is_array() || v.is_null(), "'array', 'null'"),
            "extra" => (v.is_object() || v.is_null(), "'object', 'null'"),
            _ => (v.is_string() || v.is_null(), "'string', 'null'"),
        };
        if !fits {
            return Some(format!("{} is not of type {types}", python_repr(v)));
        }
    }
    if let Some(rc) = doc.get("resource_class").and_then(Value::as_str)
        && rc.chars().count() > 80
    {
        return Some(format!(
            "{} is too long",
            python_repr(&doc["resource_class"])
        ));
    }
    if let Some(Value::Array(items)) = doc.get("candidate_nodes")
        && let Some(bad) = items.iter().find(|i| !i.is_string())
    {
        return Some(format!("{} is not of type 'string'", python_repr(bad)));
    }
    if let Some(Value::Array(items)) = doc.get("traits") {
        return items.iter().find_map(trait_problem);
    }
    None
}

fn text(doc: &Map<String, Value>, key: &str) -> Option<String> {
    doc.get(key).and_then(Value::as_str).map(str::to_string)
}

/// The node an allocation got carries it as its instance.
fn take_node(store: &mut Store, node: Uuid, allocation: Uuid, now: chrono::DateTime<chrono::Utc>) {
    if let Ok(n) = store.conductor.node_mut(node) {
        let id = Value::String(allocation.to_string());
        n.misc.insert("instance_uuid".into(), id.clone());
        n.misc.insert("allocation_uuid".into(), id);
        n.updated_at = Some(now);
    }
}

fn create(s: &AppState, ctx: &Ctx, body: &Bytes) -> Result<Response, ApiError> {
    gate(ctx, &Method::POST)?;
    let req = body_object(body, "allocation")?;
    // Backfilling (`node`) came in 1.58: before, the schema does not know the key.
    if req.contains_key("node") && !ctx.version.at_least(BACKFILL_VERSION) {
        return Err(ApiError::BadRequest(
            "Schema error: Additional properties are not allowed ('node' was unexpected)".into(),
        ));
    }
    if let Some(p) = schema_problem(&req) {
        return Err(ApiError::BadRequest(format!("Schema error: {p}")));
    }
    if let Some(u) = text(&req, "uuid")
        && Uuid::parse_str(&u).is_err()
    {
        return Err(ApiError::BadRequest(format!("Expected UUID for uuid: {u}")));
    }
    let name = text(&req, "name");
    if let Some(n) = &name
        && !is_valid_logical_name(n)
    {
        return Err(ApiError::BadRequest(format!(
            "Cannot create allocation with invalid name '{n}'"
        )));
    }
    let now = s.now();
    let mut store = s.lock();
    // The node to backfill, by UUID or name (400 when there is none).
    let backfilled = match text(&req, "node") {
        Some(ident) => Some(
            Uuid::parse_str(&ident)
                .ok()
                .filter(|u| store.conductor.nodes.contains_key(u))
                .or_else(|| store.conductor.nodes.named(&ident))
                .ok_or_else(|| ApiError::BadRequest(format!("Node {ident} could not be found.")))?,
        ),
        None => None,
    };
    let node_field = |k: &str| {
        backfilled
            .and_then(|u| store.conductor.nodes.get(&u))
            .and_then(|n| n.misc.get(k))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let resource_class = text(&req, "resource_class")
        .or_else(|| node_field("resource_class"))
        .ok_or_else(|| {
            ApiError::BadRequest(
                "The resource_class field is mandatory when not backfilling".into(),
            )
        })?;
    let mut candidates = Vec::new();
    let mut missing = Vec::new();
    for ident in req
        .get("candidate_nodes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let found = Uuid::parse_str(ident)
            .ok()
            .filter(|u| store.conductor.nodes.contains_key(u))
            .or_else(|| store.conductor.nodes.named(ident));
        match found {
            Some(u) => candidates.push(u),
            None => missing.push(ident.to_string()),
        }
    }
    if !missing.is_empty() {
        return Err(ApiError::BadRequest(format!(
            "Nodes cannot be found: {}",
            missing.join(", ")
        )));
    }
    // A backfill without a UUID takes the node's instance UUID, when it has one.
    let instance = node_field("instance_uuid").and_then(|u| Uuid::parse_str(&u).ok());
    let uuid = match (text(&req, "uuid"), instance) {
        (Some(u), _) => Uuid::parse_str(&u)
            .map_err(|_| ApiError::BadRequest(format!("Expected UUID for uuid: {u}")))?,
        (None, Some(u)) => u,
        (None, None) => store.new_uuid(),
    };
    if store.allocations.contains_key(&uuid) {
        return Err(ApiError::Conflict(format!(
            "An allocation with UUID {uuid} already exists."
        )));
    }
    if let Some(n) = &name
        && store
            .allocations
            .values()
            .any(|a| a.name.as_ref() == Some(n))
    {
        return Err(ApiError::Conflict(format!(
            "An allocation with name {n} already exists."
        )));
    }
    let cap = store.conductor.settings().max_nodes;
    if store.allocations.len() >= cap {
        return Err(ApiError::Forbidden(format!(
            "Allocation limit exceeded: this service holds at most {cap}."
        )));
    }
    let mut a = Allocation {
        id: store.next_allocation_id(),
        uuid,
        name,
        resource_class: Some(resource_class),
        traits: req
            .get("traits")
            .and_then(Value::as_array)
            .map(|t| {
                t.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        candidate_nodes: candidates,
        extra: req
            .get("extra")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default(),
        owner: text(&req, "owner"),
        state: "allocating".into(),
        last_error: None,
        node_uuid: None,
        created_at: now,
        updated_at: None,
    };
    // A backfill is settled within the request and answered as settled; a failed one is kept
    // in `error` and answered 500 with its reason, as Ironic's conductor call does.
    if let Some(node) = backfilled {
        let outcome = match store.conductor.nodes.get(&node) {
            Some(n) => backfill(&a, n),
            None => Err(format!("Node {node} could not be found.")),
        };
        let failed = outcome.clone().err();
        if let Some(n) = settle_allocation(&mut a, outcome, now) {
            take_node(&mut store, n, uuid, now);
        }
        let answer = a.document(&ctx.base);
        store.allocations.insert(uuid, a);
        if let Some(why) = failed {
            return Err(ApiError::Internal(why));
        }
        let mut resp = json_response(StatusCode::CREATED, &answer);
        if let Ok(v) = HeaderValue::from_str(&format!("{}/v1/allocations/{uuid}", ctx.base)) {
            resp.headers_mut().insert(header::LOCATION, v);
        }
        return Ok(resp);
    }
    let answer = a.document(&ctx.base);
    let outcome = pick_node(&a, store.conductor.nodes.values());
    if let Some(node) = settle_allocation(&mut a, outcome, now) {
        take_node(&mut store, node, uuid, now);
    }
    store.allocations.insert(uuid, a);
    let mut resp = json_response(StatusCode::CREATED, &answer);
    if let Ok(v) = HeaderValue::from_str(&format!("{}/v1/allocations/{uuid}", ctx.base)) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

fn patch(s: &AppState, ctx: &Ctx, ident: &str, body: &Bytes) -> Result<Response, ApiError> {
    gate(ctx, &Method::PATCH)?;
    if !ctx.version.at_least(UPDATE_VERSION) {
        return Err(ApiError::Refused(
            StatusCode::METHOD_NOT_ALLOWED,
            "The API version does not allow updating allocations".into(),
        ));
    }
    let ops: json_patch::Patch = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("Invalid JSON patch: {e}")))?;
    let now = s.now();
    let mut store = s.lock();
    let current = find(&store, ident)?.clone();
    for op in &ops.0 {
        let path = op.path().to_string();
        let top = path.trim_start_matches('/').split('/').next().unwrap_or("");
        if !["name", "extra"].contains(&top) {
            return Err(ApiError::BadRequest(format!(
                "Cannot patch {path}. Only the following can be updated: name, extra"
            )));
        }
    }
    let mut view = serde_json::json!({"name": current.name, "extra": current.extra});
    json_patch::patch(&mut view, &ops).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let doc = view.as_object().cloned().unwrap_or_default();
    if let Some(p) = schema_problem(&doc) {
        return Err(ApiError::BadRequest(format!("Schema error: {p}")));
    }
    let name = text(&doc, "name");
    if let Some(n) = &name {
        if !is_valid_logical_name(n) {
            return Err(ApiError::BadRequest(format!(
                "Cannot update allocation with invalid name '{n}'"
            )));
        }
        if store
            .allocations
            .values()
            .any(|a| a.uuid != current.uuid && a.name.as_ref() == Some(n))
        {
            return Err(ApiError::Conflict(format!(
                "An allocation with name {n} already exists."
            )));
        }
    }
    let mut updated = current;
    updated.name = name;
    updated.extra = doc
        .get("extra")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    updated.updated_at = Some(now);
    let answer = updated.document(&ctx.base);
    store.allocations.insert(updated.uuid, updated);
    Ok(json_response(StatusCode::OK, &answer))
}

/// Deletes allocation `uuid`, releasing its node (refused while the node is deployed or busy).
fn remove(store: &mut Store, uuid: Uuid) -> Result<(), ApiError> {
    let node = store.allocations.get(&uuid).and_then(|a| a.node_uuid);
    if let Some(n) = node.and_then(|n| store.conductor.nodes.get(&n)) {
        if let Some(why) = deallocation_refusal(n, uuid) {
            return Err(ApiError::Conflict(why));
        }
        let id = n.uuid;
        store.conductor.ensure_unlocked(id)?;
        let n = store.conductor.node_mut(id)?;
        for k in ["instance_uuid", "allocation_uuid"] {
            n.misc.remove(k);
        }
    }
    store.allocations.remove(&uuid);
    Ok(())
}

fn delete(s: &AppState, ctx: &Ctx, ident: &str) -> Result<Response, ApiError> {
    gate(ctx, &Method::DELETE)?;
    let mut store = s.lock();
    let uuid = find(&store, ident)?.uuid;
    remove(&mut store, uuid)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The node an allocation request names (an unknown one is a 400 here).
fn node_of(store: &Store, ctx: &Ctx, ident: &str) -> Result<Uuid, ApiError> {
    super::nodes::find(store, ctx, ident)
        .map_err(|_| ApiError::BadRequest(format!("Node {ident} could not be found.")))
}

/// The allocation of the node a request names.
fn of_node(store: &Store, ctx: &Ctx, ident: &str) -> Result<Uuid, ApiError> {
    let node = node_of(store, ctx, ident)?;
    store
        .allocations
        .values()
        .find(|a| a.node_uuid == Some(node))
        .map(|a| a.uuid)
        .ok_or_else(|| ApiError::NotFoundText(format!("Allocation for node {ident} was not found")))
}

/// `GET /v1/nodes/{id}/allocation`.
pub(crate) async fn show_of_node(
    NodeRequest { s, ctx, ident }: NodeRequest,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    gate(&ctx, &Method::GET)?;
    let shape = show_fields(q.as_deref())?;
    let store = s.lock();
    let uuid = of_node(&store, &ctx, &ident)?;
    let a = store
        .allocations
        .get(&uuid)
        .ok_or_else(|| not_found(&ident))?;
    Ok(json_response(StatusCode::OK, &render(a, &ctx.base, &shape)))
}

/// `DELETE /v1/nodes/{id}/allocation`.
pub(crate) async fn delete_of_node(
    NodeRequest { s, ctx, ident }: NodeRequest,
) -> Result<Response, ApiError> {
    gate(&ctx, &Method::DELETE)?;
    let mut store = s.lock();
    let uuid = of_node(&store, &ctx, &ident)?;
    remove(&mut store, uuid)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The allocation routes, merged into the API's router.
pub(crate) fn routes() -> Router<AppState> {
    super::crud::routes(
        "allocations",
        super::crud::Crud {
            list,
            create,
            show,
            patch,
            delete,
        },
    )
    .route(
        "/v1/nodes/{ident}/allocation",
        get(show_of_node).delete(delete_of_node),
    )
}
