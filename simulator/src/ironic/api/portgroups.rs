//! Port group routes (from 1.23): create, list (paged, by node or address), show, update by JSON
//! patch, delete (refused while the group holds ports), a node's groups and a group's ports — with
//! Ironic 39's validation order and texts. The rules tying ports to groups are the model's
//! (`model::portgroup`).

use super::nodes::{body_object, bool_of, find as find_node};
use super::paging::{Columns, Listing, NextQuery, Paging, PagingQuery, Sortable, schema_fields};
use super::{AppState, Ctx, NodeRequest, Store, json_response, query_pairs};
use crate::ironic::encoding::{Doc, python_repr};
use crate::ironic::error::ApiError;
use crate::ironic::model::{
    DEFAULT_PORTGROUP_MODE, PORTGROUP_FIELDS, Portgroup, PortgroupRefusal, Shape,
    is_valid_logical_name, may_delete, may_move, parse_mac,
};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use uuid::Uuid;

/// The microversion port groups appeared in.
pub(crate) const PORTGROUPS_VERSION: u32 = 23;

/// The port group table's columns.
const PORTGROUP_COLUMNS: Columns = Columns {
    columns: &[
        "id",
        "uuid",
        "name",
        "node_id",
        "address",
        "extra",
        "internal_info",
        "standalone_ports_supported",
        "mode",
        "properties",
        "physical_network",
        "category",
        "dynamic_portgroup",
        "version",
        "created_at",
        "updated_at",
    ],
    refused: &["extra", "internal_info", "properties"],
};

/// Fields a body or a patched document may hold, and the ones a patch may change.
const SCHEMA_FIELDS: [&str; 10] = [
    "address",
    "category",
    "extra",
    "mode",
    "name",
    "node_uuid",
    "physical_network",
    "properties",
    "standalone_ports_supported",
    "uuid",
];
const PATCHABLE: [&str; 9] = [
    "address",
    "extra",
    "mode",
    "name",
    "node_uuid",
    "properties",
    "standalone_ports_supported",
    "physical_network",
    "category",
];

impl From<PortgroupRefusal> for ApiError {
    fn from(e: PortgroupRefusal) -> Self {
        match e {
            PortgroupRefusal::NoStandalone(_) => ApiError::Conflict(e.to_string()),
            _ => ApiError::BadRequest(e.to_string()),
        }
    }
}

pub(crate) fn not_found(ident: &str) -> ApiError {
    ApiError::NotFoundText(format!("Portgroup {ident} could not be found."))
}

/// The group a path names: a UUID or a logical name (400 in the framework's envelope
/// otherwise) that exists (404).
fn find<'a>(store: &'a Store, ident: &str) -> Result<&'a Portgroup, ApiError> {
    if Uuid::parse_str(ident).is_err() && !is_valid_logical_name(ident) {
        return Err(ApiError::Framework(
            StatusCode::BAD_REQUEST,
            format!("Expected UUID or name for portgroup: {ident}"),
        ));
    }
    store.portgroup(ident).ok_or_else(|| not_found(ident))
}

fn gate(ctx: &Ctx) -> Result<(), ApiError> {
    if ctx.version.at_least(PORTGROUPS_VERSION) {
        Ok(())
    } else {
        Err(ApiError::NotFoundText(
            "The API is not supported for this version".into(),
        ))
    }
}

fn sortable(g: &Portgroup, paging: &Paging) -> Sortable {
    let value = match paging.sort_key.as_str() {
        "" | "id" => Value::Null,
        column => g.document("").get(column).cloned().unwrap_or(Value::Null),
    };
    Sortable { value, seq: g.id }
}

fn list_inner(
    state: &AppState,
    ctx: &Ctx,
    q: Option<&str>,
    detail: bool,
    node_path: Option<&str>,
) -> Result<Response, ApiError> {
    gate(ctx)?;
    let mut shape = if detail { Shape::Detail } else { Shape::List };
    let mut paging = PagingQuery::default();
    let mut fields: Option<String> = None;
    let mut detail_asked: Option<bool> = None;
    let mut node_ident = node_path.map(str::to_string);
    let mut address: Option<String> = None;
    let mut shard: Option<String> = None;
    for (k, v) in query_pairs(q) {
        if paging.take(&k, &v) {
            continue;
        }
        match k.as_str() {
            "fields" if !detail => {
                shape = schema_fields(&v, &PORTGROUP_FIELDS)?;
                if let Shape::Fields(f) = &shape {
                    fields = Some(f.join(","));
                }
            }
            "detail" if !detail => {
                let asked = bool_of(&v)?;
                detail_asked = Some(asked);
                if asked {
                    shape = Shape::Detail;
                }
            }
            "node" if node_path.is_none() => node_ident = Some(v),
            "address" => address = Some(v),
            "shard" => shard = Some(v),
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
                .portgroups
                .get(&m)
                .ok_or_else(|| not_found(&m.to_string()))?,
            &paging,
        )),
        None => None,
    };
    paging.refuse_json_key(&PORTGROUP_COLUMNS)?;
    let exclusive = [&node_ident, &address, &shard]
        .iter()
        .filter(|f| f.as_ref().is_some_and(|v| !v.is_empty()))
        .count();
    if exclusive > 1 {
        return Err(ApiError::BadRequest(
            "Filtering by node, address, or shard simultaneously is not supported.".into(),
        ));
    }
    paging.refuse_unknown_key(&PORTGROUP_COLUMNS)?;
    let page: Vec<&Portgroup> = match (&node_ident, &address) {
        (Some(n), _) if !n.is_empty() => {
            let node = find_node(&store, ctx, n)?;
            let of_node = store
                .portgroups
                .values()
                .filter(|g| g.node_uuid == node)
                .collect();
            paging.page(of_node, |g| sortable(g, &paging), marker_at)
        }
        // By address Ironic answers the one group (or none), unpaged.
        (_, Some(a)) if !a.is_empty() => {
            let a = parse_mac(a).unwrap_or_else(|| a.clone());
            store
                .portgroups
                .values()
                .filter(|g| g.address.as_deref() == Some(a.as_str()))
                .collect()
        }
        _ => {
            let all = store
                .portgroups
                .values()
                .filter(|g| {
                    shard.as_deref().is_none_or(|s| {
                        s.is_empty()
                            || store.conductor.nodes.get(&g.node_uuid).is_some_and(|n| {
                                n.misc.get("shard").and_then(Value::as_str) == Some(s)
                            })
                    })
                })
                .collect();
            paging.page(all, |g| sortable(g, &paging), marker_at)
        }
    };
    let items: Vec<Doc> = page
        .iter()
        .map(|g| g.render(&ctx.base, ctx.version, &shape, false))
        .collect();
    let uuids: Vec<Uuid> = page.iter().map(|g| g.uuid).collect();
    let next = paging.next_of(
        &ctx.base,
        &NextQuery {
            collection: "portgroups",
            detail_endpoint: detail,
            detail_asked,
            filters: Vec::new(),
            fields,
            default_fields: "uuid,address,name",
        },
        &uuids,
    );
    Ok(json_response(
        StatusCode::OK,
        &Listing {
            name: "portgroups",
            items,
            next,
        },
    ))
}

/// `GET /v1/portgroups`.
pub(crate) async fn list(
    State(s): State<AppState>,
    ctx: Ctx,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    list_inner(&s, &ctx, q.as_deref(), false, None)
}

/// `GET /v1/portgroups/detail`.
pub(crate) async fn list_detail(
    State(s): State<AppState>,
    ctx: Ctx,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    list_inner(&s, &ctx, q.as_deref(), true, None)
}

/// `GET /v1/nodes/{id}/portgroups`.
pub(crate) async fn list_of_node(
    NodeRequest { s, ctx, ident }: NodeRequest,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    list_inner(&s, &ctx, q.as_deref(), false, Some(&ident))
}

/// `GET /v1/nodes/{id}/portgroups/detail`.
pub(crate) async fn detail_of_node(
    NodeRequest { s, ctx, ident }: NodeRequest,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    list_inner(&s, &ctx, q.as_deref(), true, Some(&ident))
}

/// `GET /v1/portgroups/{id}`.
pub(crate) async fn show(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(ident): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    gate(&ctx)?;
    let mut shape = Shape::Detail;
    for (k, v) in query_pairs(q.as_deref()) {
        match k.as_str() {
            "fields" => shape = schema_fields(&v, &PORTGROUP_FIELDS)?,
            other => {
                return Err(ApiError::BadRequest(format!(
                    "Unexpected arguments: {other}"
                )));
            }
        }
    }
    let store = s.lock();
    let g = find(&store, &ident)?;
    Ok(json_response(
        StatusCode::OK,
        &g.render(&ctx.base, ctx.version, &shape, true),
    ))
}

/// Ironic's schema for a body (`what` = `portgroup`) or a patched document (`patch`), then its
/// field validators (MAC, node UUID, boolean, UUID), in its order.
fn validate(doc: &Map<String, Value>, what: &str) -> Result<(), ApiError> {
    let schema = |m: String| ApiError::BadRequest(format!("Schema error for {what}: {m}"));
    if let Some(bad) = doc.keys().find(|k| !SCHEMA_FIELDS.contains(&k.as_str())) {
        return Err(schema(format!(
            "Additional properties are not allowed ('{bad}' was unexpected)"
        )));
    }
    if !doc.contains_key("node_uuid") {
        return Err(schema("'node_uuid' is a required property".into()));
    }
    for (key, v) in doc {
        let (types, max): (&[&str], Option<usize>) = match key.as_str() {
            "category" => (&["string", "null"], Some(80)),
            "physical_network" => (&["string", "null"], Some(64)),
            "extra" | "properties" => (&["object", "null"], None),
            "node_uuid" => (&["string"], None),
            "standalone_ports_supported" => (&["string", "boolean", "null"], None),
            _ => (&["string", "null"], None),
        };
        let fits = types.iter().any(|t| match *t {
            "string" => v.is_string(),
            "null" => v.is_null(),
            "object" => v.is_object(),
            "boolean" => v.is_boolean(),
            _ => false,
        });
        if !fits {
            let listed: Vec<String> = types.iter().map(|t| format!("'{t}'")).collect();
            return Err(schema(format!(
                "{} is not of type {}",
                python_repr(v),
                listed.join(", ")
            )));
        }
        if let (Some(max), Some(text)) = (max, v.as_str())
            && text.chars().count() > max
        {
            return Err(schema(format!("{} is too long", python_repr(v))));
        }
    }
    if let Some(a) = doc.get("address").and_then(Value::as_str)
        && parse_mac(a).is_none()
    {
        return Err(ApiError::BadRequest(format!(
            "Expected valid MAC address for address: {a}"
        )));
    }
    if let Some(n) = doc.get("node_uuid").and_then(Value::as_str)
        && Uuid::parse_str(n).is_err()
    {
        return Err(ApiError::BadRequest(format!(
            "Expected UUID for node_uuid: {n}"
        )));
    }
    if let Some(b) = doc
        .get("standalone_ports_supported")
        .and_then(Value::as_str)
    {
        bool_of(b).map_err(|e| {
            ApiError::BadRequest(format!("Invalid standalone_ports_supported: {e}"))
        })?;
    }
    if let Some(u) = doc.get("uuid").and_then(Value::as_str)
        && Uuid::parse_str(u).is_err()
    {
        return Err(ApiError::BadRequest(format!("Expected UUID for uuid: {u}")));
    }
    Ok(())
}

fn text(doc: &Map<String, Value>, key: &str) -> Option<String> {
    doc.get(key).and_then(Value::as_str).map(str::to_string)
}

fn object(doc: &Map<String, Value>, key: &str) -> Map<String, Value> {
    doc.get(key)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// Writes a validated document's fields onto `g`.
fn fill(g: &mut Portgroup, doc: &Map<String, Value>) -> Result<(), ApiError> {
    g.name = text(doc, "name");
    g.address = text(doc, "address").and_then(|a| parse_mac(&a));
    g.mode = text(doc, "mode").unwrap_or_else(|| DEFAULT_PORTGROUP_MODE.to_string());
    g.properties = object(doc, "properties");
    g.extra = object(doc, "extra");
    g.standalone_ports_supported = match doc.get("standalone_ports_supported") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => bool_of(s)?,
        _ => true,
    };
    g.physical_network = text(doc, "physical_network");
    g.category = text(doc, "category");
    Ok(())
}

/// Refuses a name or address another group holds (Ironic's database's 409s).
fn refuse_duplicates(store: &Store, g: &Portgroup) -> Result<(), ApiError> {
    for other in store.portgroups.values().filter(|o| o.uuid != g.uuid) {
        if g.name.is_some() && other.name == g.name {
            return Err(ApiError::Conflict(format!(
                "A portgroup with name {} already exists.",
                g.name.as_deref().unwrap_or_default()
            )));
        }
        if g.address.is_some() && other.address == g.address {
            return Err(ApiError::Conflict(format!(
                "A portgroup with MAC address {} already exists.",
                g.address.as_deref().unwrap_or_default()
            )));
        }
    }
    Ok(())
}

fn newer_fields_refused(ctx: &Ctx, touched: bool) -> Result<(), ApiError> {
    if touched && !ctx.version.at_least(26) {
        return Err(ApiError::NotAcceptable);
    }
    Ok(())
}

/// `POST /v1/portgroups`.
pub(crate) async fn create(
    State(s): State<AppState>,
    ctx: Ctx,
    body: Bytes,
) -> Result<Response, ApiError> {
    gate(&ctx)?;
    let req = body_object(&body, "portgroup")?;
    validate(&req, "portgroup")?;
    let node_text = text(&req, "node_uuid").unwrap_or_default();
    let now = s.now();
    let mut store = s.lock();
    let node_uuid = Uuid::parse_str(&node_text)
        .ok()
        .filter(|u| store.conductor.nodes.contains_key(u))
        .ok_or_else(|| ApiError::BadRequest(format!("Node {node_text} could not be found.")))?;
    newer_fields_refused(
        &ctx,
        req.contains_key("mode") || req.contains_key("properties"),
    )?;
    if let Some(name) = text(&req, "name")
        && !is_valid_logical_name(&name)
    {
        return Err(ApiError::BadRequest(format!(
            "Cannot create portgroup with invalid name '{name}'"
        )));
    }
    let uuid = match text(&req, "uuid") {
        Some(u) => Uuid::parse_str(&u)
            .map_err(|_| ApiError::BadRequest(format!("Expected UUID for uuid: {u}")))?,
        None => store.new_uuid(),
    };
    if store.portgroups.contains_key(&uuid) {
        return Err(ApiError::Conflict(format!(
            "A portgroup with UUID {uuid} already exists."
        )));
    }
    let cap = store.conductor.settings().max_ports;
    if store.portgroups.len() >= cap {
        return Err(ApiError::Forbidden(format!(
            "Port group limit exceeded: this service holds at most {cap} port groups."
        )));
    }
    let mut g = Portgroup {
        id: 0,
        uuid,
        name: None,
        address: None,
        node_uuid,
        mode: DEFAULT_PORTGROUP_MODE.into(),
        properties: Map::new(),
        extra: Map::new(),
        internal_info: Map::new(),
        standalone_ports_supported: true,
        physical_network: None,
        category: None,
        created_at: now,
        updated_at: None,
    };
    fill(&mut g, &req)?;
    refuse_duplicates(&store, &g)?;
    g.id = store.next_portgroup_id();
    let doc = g.render(&ctx.base, ctx.version, &Shape::Detail, true);
    store.portgroups.insert(uuid, g);
    let mut r = json_response(StatusCode::CREATED, &doc);
    if let Ok(v) = HeaderValue::from_str(&format!("{}/v1/portgroups/{uuid}", ctx.base)) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    Ok(r)
}

/// The group's fields as a patch sees them.
fn patch_view(g: &Portgroup) -> Value {
    let doc = g.document("");
    let mut view = Map::new();
    for k in SCHEMA_FIELDS.iter().filter(|k| **k != "uuid") {
        view.insert(k.to_string(), doc.get(k).cloned().unwrap_or(Value::Null));
    }
    Value::Object(view)
}

/// `PATCH /v1/portgroups/{id}`.
pub(crate) async fn patch(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(ident): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    gate(&ctx)?;
    let ops: json_patch::Patch = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("Invalid JSON patch: {e}")))?;
    let now = s.now();
    let mut store = s.lock();
    let current = find(&store, &ident)?.clone();
    let top = |op: &json_patch::PatchOperation| {
        let path = op.path().to_string();
        let first = path
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or_default()
            .to_string();
        (path, first)
    };
    newer_fields_refused(
        &ctx,
        ops.0
            .iter()
            .any(|op| matches!(top(op).1.as_str(), "mode" | "properties")),
    )?;
    for op in &ops.0 {
        let (path, first) = top(op);
        if !PATCHABLE.contains(&first.as_str()) {
            return Err(ApiError::BadRequest(format!(
                "Cannot patch {path}. Only the following can be updated: {}",
                PATCHABLE.join(", ")
            )));
        }
    }
    use json_patch::PatchOperation as Op;
    for op in &ops.0 {
        let value = match op {
            Op::Add(a) if a.path == "/name" => Some(&a.value),
            Op::Replace(r) if r.path == "/name" => Some(&r.value),
            _ => None,
        };
        if let Some(Value::String(name)) = value
            && !is_valid_logical_name(name)
        {
            return Err(ApiError::BadRequest(format!(
                "Portgroup {ident}: Cannot change name to invalid name '{name}'"
            )));
        }
        if let Op::Remove(r) = op
            && r.path == "/mode"
        {
            return Err(ApiError::BadRequest(
                "'mode' is a mandatory attribute and can not be removed".into(),
            ));
        }
    }
    let mut view = patch_view(&current);
    json_patch::patch(&mut view, &ops).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let doc = view.as_object().cloned().unwrap_or_default();
    validate(&doc, "patch")?;
    let node_text = text(&doc, "node_uuid").unwrap_or_default();
    let node_uuid = Uuid::parse_str(&node_text)
        .ok()
        .filter(|u| store.conductor.nodes.contains_key(u))
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "Unable to apply the requested node_uuid '{node_text}'. Requested value was invalid."
            ))
        })?;
    may_move(&current, node_uuid, store.ports_in(&current))?;
    let mut updated = current;
    fill(&mut updated, &doc)?;
    updated.node_uuid = node_uuid;
    refuse_duplicates(&store, &updated)?;
    updated.updated_at = Some(now);
    let answer = updated.render(&ctx.base, ctx.version, &Shape::Detail, true);
    store.portgroups.insert(updated.uuid, updated);
    Ok(json_response(StatusCode::OK, &answer))
}

/// `DELETE /v1/portgroups/{id}`: refused while ports belong to it.
pub(crate) async fn delete(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(ident): Path<String>,
) -> Result<Response, ApiError> {
    gate(&ctx)?;
    let mut store = s.lock();
    let g = find(&store, &ident)?;
    may_delete(g, store.ports_in(g))?;
    let uuid = g.uuid;
    store.portgroups.remove(&uuid);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The group `/v1/portgroups/{id}/ports` names (by UUID only, as Ironic routes it).
fn group_of_path(s: &AppState, ctx: &Ctx, ident: &str) -> Result<Uuid, ApiError> {
    if !ctx.version.at_least(24) {
        return Err(ApiError::NotFound);
    }
    Uuid::parse_str(ident)
        .ok()
        .filter(|u| s.lock().portgroups.contains_key(u))
        .ok_or_else(|| not_found(ident))
}

/// `GET /v1/portgroups/{id}/ports`.
pub(crate) async fn ports(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(ident): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let group = group_of_path(&s, &ctx, &ident)?;
    super::ports::list_of_group(&s, &ctx, q.as_deref(), false, group)
}

/// `GET /v1/portgroups/{id}/ports/detail`.
pub(crate) async fn ports_detail(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(ident): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let group = group_of_path(&s, &ctx, &ident)?;
    super::ports::list_of_group(&s, &ctx, q.as_deref(), true, group)
}

/// The port group routes (and a node's groups), merged into the API's router.
pub(crate) fn routes() -> axum::Router<AppState> {
    use axum::routing::get;
    axum::Router::new()
        .route("/v1/portgroups", get(list).post(create))
        .route("/v1/portgroups/", get(list).post(create))
        .route("/v1/portgroups/detail", get(list_detail))
        .route("/v1/portgroups/{id}", get(show).patch(patch).delete(delete))
        .route("/v1/portgroups/{id}/ports", get(ports))
        .route("/v1/portgroups/{id}/ports/detail", get(ports_detail))
        .route("/v1/nodes/{ident}/portgroups", get(list_of_node))
        .route("/v1/nodes/{ident}/portgroups/detail", get(detail_of_node))
}
