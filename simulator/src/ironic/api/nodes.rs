//! Node routes: CRUD, listing, JSON-patch, and the provision and power state changes.

use super::paging::{Listing, NODE_COLUMNS, NextQuery, Paging, PagingQuery, Sortable};
use super::{
    AppState, Ctx, NodeRequest, Store, accepted, json_response, json_text_response, parse_fields,
    query_pairs,
};
use crate::ironic::encoding::{Doc, to_python_json};
use crate::ironic::error::ApiError;
use crate::ironic::model::{
    DRIVERS, INTERFACES, NODE_LIST_FIELDS, Node, PATCHABLE, ProvisionState, Shape,
    node_field_min_version, unserved_group,
};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// Parses a JSON request body into an object.
pub(crate) fn body_object(body: &Bytes, kind: &str) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(ApiError::BadRequest(format!(
            "Schema error for {kind}: {other} is not of type 'object'"
        ))),
        Err(e) => Err(ApiError::BadRequest(format!(
            "Invalid JSON request body: {e}"
        ))),
    }
}

/// Finds a node by UUID, or by name from microversion 1.5.
pub(crate) fn find(store: &Store, ctx: &Ctx, ident: &str) -> Result<Uuid, ApiError> {
    if let Ok(u) = Uuid::parse_str(ident)
        && store.conductor.nodes.contains_key(&u)
    {
        return Ok(u);
    }
    if ctx.version.at_least(5)
        && let Some(uuid) = store.conductor.nodes.named(ident)
    {
        return Ok(uuid);
    }
    Err(ApiError::NodeNotFound(ident.to_string()))
}

pub(crate) fn node<'a>(store: &'a Store, uuid: &Uuid) -> Result<&'a Node, ApiError> {
    store.conductor.node(*uuid)
}

/// The node `ident` names ([`find`]), to read.
pub(crate) fn found<'a>(store: &'a Store, ctx: &Ctx, ident: &str) -> Result<&'a Node, ApiError> {
    let uuid = find(store, ctx, ident)?;
    node(store, &uuid)
}

/// Whether a change to a node must wait for the conductor's lock on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lock {
    /// Refused (409 `NodeLocked`) while a conductor job holds the node.
    Respected,
    /// Allowed whatever the conductor does (maintenance).
    Ignored,
}

/// The node `uuid`, to change, under `lock`.
pub(crate) fn node_mut(store: &mut Store, uuid: Uuid, lock: Lock) -> Result<&mut Node, ApiError> {
    if lock == Lock::Respected {
        store.conductor.ensure_unlocked(uuid)?;
    }
    store.conductor.node_mut(uuid)
}

/// The node `ident` names ([`find`]), to change, under `lock`.
pub(crate) fn found_mut<'a>(
    store: &'a mut Store,
    ctx: &Ctx,
    ident: &str,
    lock: Lock,
) -> Result<&'a mut Node, ApiError> {
    let uuid = find(store, ctx, ident)?;
    node_mut(store, uuid, lock)
}

/// Lists nodes (of one chassis when `chassis` is given: `/v1/chassis/{id}/nodes`).
pub(crate) fn list_inner(
    state: &AppState,
    ctx: &Ctx,
    q: Option<&str>,
    detail: bool,
    chassis: Option<Uuid>,
) -> Result<Response, ApiError> {
    let mut shape = if detail { Shape::Detail } else { Shape::List };
    let mut filters: Vec<(String, String)> = Vec::new();
    if let Some(c) = chassis {
        filters.push(("chassis_uuid".into(), c.to_string()));
    }
    let mut paging = PagingQuery::default();
    let mut fields: Option<String> = None;
    let mut detail_asked: Option<bool> = None;
    for (k, v) in query_pairs(q) {
        if paging.take(&k, &v) {
            continue;
        }
        match k.as_str() {
            "fields" if detail => {
                return Err(ApiError::BadRequest("Unexpected arguments: fields".into()));
            }
            "fields" => {
                shape = node_fields(ctx, &v, |bad| {
                    ApiError::BadRequest(format!("Field(s) \"{bad}\" are not valid"))
                })?;
                if let Shape::Fields(f) = &shape {
                    fields = Some(f.join(","));
                }
            }
            "detail" => {
                let asked = bool_of(&v)?;
                detail_asked = Some(asked);
                if asked {
                    shape = Shape::Detail;
                }
            }
            "provision_state"
            | "maintenance"
            | "driver"
            | "associated"
            | "resource_class"
            | "conductor_group"
            | "conductor"
            | "owner"
            | "lessee"
            | "fault"
            | "instance_uuid"
            | "shard"
            | "retired"
            | "chassis_uuid"
            | "parent_node"
            | "description_contains" => {
                filters.push((k, v));
            }
            other => {
                return Err(ApiError::BadRequest(format!(
                    "Unexpected arguments: {other}"
                )));
            }
        }
    }
    let paging = paging.check()?;
    paging.refuse_json_key(&NODE_COLUMNS)?;
    let store = state.lock();
    let marker_at = match paging.marker {
        Some(m) => {
            let n = store
                .conductor
                .nodes
                .get(&m)
                .ok_or_else(|| ApiError::NodeNotFound(m.to_string()))?;
            Some(sortable(n, &paging))
        }
        None => None,
    };
    paging.refuse_unknown_key(&NODE_COLUMNS)?;
    let mut nodes: Vec<&Node> = store.conductor.nodes.values().collect();
    nodes.sort_by_key(|n| n.id);
    let mut kept = Vec::new();
    for n in nodes {
        let doc = if filters.is_empty() {
            Doc::new()
        } else {
            n.document("")
        };
        let mut keep = true;
        for (k, v) in &filters {
            keep &= match k.as_str() {
                "maintenance" | "retired" => {
                    doc.get(k).and_then(Value::as_bool) == Some(bool_of(v)?)
                }
                "associated" => {
                    doc.get("instance_uuid").is_some_and(|u| !u.is_null()) == bool_of(v)?
                }
                "description_contains" => doc
                    .get("description")
                    .and_then(Value::as_str)
                    .is_some_and(|d| d.contains(v.as_str())),
                _ => doc.get(k).and_then(Value::as_str) == Some(v.as_str()),
            };
        }
        if keep {
            kept.push(n);
        }
    }
    let page = paging.page(kept, |n| sortable(n, &paging), marker_at);
    let items: Vec<Doc> = page
        .iter()
        .map(|n| n.render(&ctx.base, ctx.version, &shape))
        .collect();
    // Ironic leaves the link out when filtering by instance (a unique column) and carries only
    // these filters, and only when true, into it.
    let filtered_by_instance = filters.iter().any(|(k, _)| k == "instance_uuid");
    let mut carried = Vec::new();
    for name in ["associated", "maintenance", "retired"] {
        if let Some((_, v)) = filters.iter().find(|(k, _)| k == name)
            && bool_of(v)?
        {
            carried.push((name, "True".to_string()));
        }
    }
    let uuids: Vec<Uuid> = page.iter().map(|n| n.uuid).collect();
    let default_fields = NODE_LIST_FIELDS.join(",");
    let next = paging
        .next_of(
            &ctx.base,
            &NextQuery {
                collection: "nodes",
                detail_endpoint: detail,
                detail_asked,
                filters: carried,
                fields,
                default_fields: &default_fields,
            },
            &uuids,
        )
        .filter(|_| !filtered_by_instance);
    Ok(json_response(
        StatusCode::OK,
        &Listing {
            name: "nodes",
            items,
            next,
        },
    ))
}

/// A node's `fields=`: an unknown name refused with `unknown`'s error, a name newer than the
/// request's microversion with 406 (as Ironic checks them).
fn node_fields(
    ctx: &Ctx,
    raw: &str,
    unknown: impl Fn(&str) -> ApiError,
) -> Result<Shape, ApiError> {
    let all = Node::field_names();
    let shape = parse_fields(raw, &all).map_err(|_| {
        let bad = raw
            .split(',')
            .map(str::trim)
            .find(|f| !f.is_empty() && !all.iter().any(|a| a == f))
            .unwrap_or_default();
        unknown(bad)
    })?;
    if let Shape::Fields(f) = &shape
        && f.iter()
            .any(|f| !ctx.version.at_least(node_field_min_version(f)))
    {
        return Err(ApiError::NotAcceptable);
    }
    Ok(shape)
}

/// `maintenance`, `associated`, `retired` and `detail` values, read as Ironic reads booleans.
pub(crate) fn bool_of(v: &str) -> Result<bool, ApiError> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" | "t" | "y" => Ok(true),
        "false" | "0" | "no" | "off" | "f" | "n" => Ok(false),
        _ => Err(ApiError::BadRequest(format!(
            "Unrecognized value '{v}', acceptable values are: '0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'"
        ))),
    }
}

/// Where `n` falls when sorted by the page's key (its document is rendered only for a column).
fn sortable(n: &Node, paging: &Paging) -> Sortable {
    match paging.sort_key.as_str() {
        "" | "id" => Sortable {
            value: Value::Null,
            seq: n.id,
        },
        column => Sortable {
            value: n.document("").get(column).cloned().unwrap_or(Value::Null),
            seq: n.id,
        },
    }
}

pub(crate) async fn list(
    State(s): State<AppState>,
    ctx: Ctx,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    list_inner(&s, &ctx, q.as_deref(), false, None)
}

pub(crate) async fn list_detail(
    State(s): State<AppState>,
    ctx: Ctx,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    list_inner(&s, &ctx, q.as_deref(), true, None)
}

pub(crate) async fn show(
    NodeRequest { s, ctx, ident }: NodeRequest,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let mut store = s.lock();
    let uuid = find(&store, &ctx, &ident)?;
    let mut shape = Shape::Detail;
    for (k, v) in query_pairs(q.as_deref()) {
        if k == "fields" {
            shape = node_fields(&ctx, &v, |bad| {
                ApiError::BadRequest(format!("Field {bad} is not a valid field."))
            })?;
        }
    }
    if shape == Shape::Detail {
        // The whole document is what clients poll: rendered once per change of the node.
        let text = store
            .conductor
            .nodes
            .detail_text(uuid, &ctx.base, ctx.version, |n| {
                to_python_json(&n.render(&ctx.base, ctx.version, &Shape::Detail))
            })
            .ok_or_else(|| ApiError::NodeNotFound(ident.clone()))?;
        return Ok(json_text_response(StatusCode::OK, text));
    }
    let n = node(&store, &uuid)?;
    Ok(json_response(
        StatusCode::OK,
        &n.render(&ctx.base, ctx.version, &shape),
    ))
}

const CREATABLE: [&str; 25] = [
    "driver",
    "name",
    "uuid",
    "driver_info",
    "properties",
    "extra",
    "instance_info",
    "resource_class",
    "owner",
    "lessee",
    "description",
    "network_data",
    "automated_clean",
    "conductor_group",
    "shard",
    "parent_node",
    "chassis_uuid",
    "instance_uuid",
    "instance_name",
    "protected",
    "protected_reason",
    "retired",
    "retired_reason",
    "disable_power_off",
    "boot_mode",
];

fn apply_field(n: &mut Node, key: &str, value: Value) -> Result<(), ApiError> {
    let obj = |v: Value| match v {
        Value::Object(m) => Ok(m),
        Value::Null => Ok(Map::new()),
        other => Err(ApiError::BadRequest(format!(
            "Invalid input for field/attribute {key}. Value: {other}. Wrong type. Expected 'dict', got '{}'",
            type_name(&other)
        ))),
    };
    match key {
        "driver_info" => n.driver_info = obj(value)?,
        "properties" => n.properties = obj(value)?,
        "extra" => n.extra = obj(value)?,
        "instance_info" => n.instance_info = obj(value)?,
        // Only the default group has a conductor.
        "conductor_group" => match value.as_str() {
            Some(group) if unserved_group(group) => {
                return Err(ApiError::NoValidHost(n.driver.clone(), group.to_string()));
            }
            _ => {
                n.misc.insert(key.to_string(), json!(""));
            }
        },
        "name" => {
            n.name = match value {
                Value::Null => None,
                Value::String(s) => Some(s),
                other => {
                    return Err(ApiError::BadRequest(format!(
                        "Expected a logical name but received {other}."
                    )));
                }
            }
        }
        "driver" => match value.as_str() {
            Some(d) if DRIVERS.contains(&d) => n.driver = d.to_string(),
            _ => {
                return Err(ApiError::NoValidHost(
                    value.as_str().unwrap_or_default().to_string(),
                    n.misc
                        .get("conductor_group")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                ));
            }
        },
        "maintenance" => {
            n.maintenance = value.as_bool().ok_or_else(|| {
                ApiError::BadRequest(format!("Invalid input for field/attribute maintenance. Value: {value}. Wrong type. Expected 'bool', got '{}'", type_name(&value)))
            })?;
        }
        k if k.ends_with("_interface") => {
            let i = k.trim_end_matches("_interface");
            if !INTERFACES.contains(&i) {
                return Err(ApiError::BadRequest(format!("Unknown interface {k}")));
            }
            match value {
                Value::String(s) if !s.is_empty() => {
                    n.interfaces.insert(i.to_string(), Value::String(s));
                }
                Value::Null => {
                    n.interfaces.insert(
                        i.to_string(),
                        json!(crate::ironic::model::default_interface(&n.driver, i)),
                    );
                }
                other => {
                    return Err(ApiError::BadRequest(format!(
                        "Invalid interface value {other} for {k}"
                    )));
                }
            }
        }
        _ => {
            n.misc.insert(key.to_string(), value);
        }
    }
    Ok(())
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

fn name_taken(store: &Store, name: &str, except: Uuid) -> bool {
    store
        .conductor
        .nodes
        .named(name)
        .is_some_and(|u| u != except)
}

pub(crate) async fn create(
    State(s): State<AppState>,
    ctx: Ctx,
    body: Bytes,
) -> Result<Response, ApiError> {
    let mut req = body_object(&body, "node")?;
    if let Some(bad) = req
        .keys()
        .find(|k| !CREATABLE.contains(&k.as_str()) && !k.ends_with("_interface"))
    {
        return Err(ApiError::BadRequest(format!(
            "Schema error for node: Additional properties are not allowed ('{bad}' was unexpected)"
        )));
    }
    let driver = match req.remove("driver") {
        Some(Value::String(d)) => d,
        _ => {
            return Err(ApiError::BadRequest(
                "Schema error for node: 'driver' is a required property".into(),
            ));
        }
    };
    if !DRIVERS.contains(&driver.as_str()) {
        return Err(ApiError::NoValidHost(driver, String::new()));
    }
    let now = s.now();
    let mut store = s.lock();
    let uuid = match req.remove("uuid") {
        Some(Value::String(u)) => Uuid::parse_str(&u)
            .map_err(|_| ApiError::BadRequest(format!("Expected a UUID but received {u}.")))?,
        _ => store.new_uuid(),
    };
    if store.conductor.nodes.contains_key(&uuid) {
        return Err(ApiError::Conflict(format!(
            "A node with UUID {uuid} already exists."
        )));
    }
    let cap = store.conductor.settings().max_nodes;
    if store.conductor.nodes.len() >= cap {
        return Err(ApiError::Forbidden(format!(
            "Node limit exceeded: this service holds at most {cap} nodes."
        )));
    }
    let id = store.next_id();
    let mut n = Node::new(id, uuid, &driver, now, ctx.version);
    for (k, v) in req {
        apply_field(&mut n, &k, v)?;
    }
    store.check_chassis(&n)?;
    store.resolve_parent(&mut n)?;
    if let Some(name) = &n.name
        && name_taken(&store, name, uuid)
    {
        return Err(ApiError::Conflict(format!(
            "A node with name {name} already exists."
        )));
    }
    let doc = n.render(&ctx.base, ctx.version, &Shape::Detail);
    store.conductor.nodes.insert(n);
    let mut r = json_response(StatusCode::CREATED, &doc);
    if let Ok(v) = HeaderValue::from_str(&format!("{}/v1/nodes/{uuid}", ctx.base)) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    Ok(r)
}

pub(crate) async fn patch(
    NodeRequest { s, ctx, ident }: NodeRequest,
    body: Bytes,
) -> Result<Response, ApiError> {
    let ops: json_patch::Patch = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("Invalid JSON patch: {e}")))?;
    let now = s.now();
    let mut store = s.lock();
    let uuid = find(&store, &ctx, &ident)?;
    store.conductor.ensure_unlocked(uuid)?;
    for op in &ops.0 {
        let path = op.path().to_string();
        let top = path
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or_default()
            .to_string();
        if !PATCHABLE.contains(&top.as_str()) {
            return Err(ApiError::BadRequest(format!(
                "Cannot patch {path}. Only the following can be updated: {}",
                PATCHABLE.join(", ")
            )));
        }
    }
    for op in &ops.0 {
        super::node_secrets::refuse_secret_reads(op)?;
    }
    let current = node(&store, &uuid)?;
    // Patch the unmasked view, so a driver_info or instance_info edit keeps the real secrets
    // (which no operation may read: refuse_secret_reads).
    let mut view = current.document("").to_value();
    if let Some(o) = view.as_object_mut() {
        o.insert(
            "driver_info".into(),
            Value::Object(current.driver_info.clone()),
        );
        o.insert(
            "instance_info".into(),
            Value::Object(current.instance_info.clone()),
        );
    }
    let before = view.clone();
    json_patch::patch(&mut view, &ops).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let mut updated = current.clone();
    for field in PATCHABLE {
        let new = view.get(field).cloned().unwrap_or(Value::Null);
        if before.get(field) != Some(&new) {
            apply_field(&mut updated, field, new)?;
        }
    }
    if let Some(name) = &updated.name
        && name_taken(&store, name, uuid)
    {
        return Err(ApiError::Conflict(format!(
            "A node with name {name} already exists."
        )));
    }
    store.check_chassis(&updated)?;
    store.resolve_parent(&mut updated)?;
    updated.updated_at = Some(now);
    let doc = updated.render(&ctx.base, ctx.version, &Shape::Detail);
    store.conductor.nodes.insert(updated);
    Ok(json_response(StatusCode::OK, &doc))
}

pub(crate) async fn delete(
    NodeRequest { s, ctx, ident }: NodeRequest,
) -> Result<Response, ApiError> {
    let mut store = s.lock();
    let n = found_mut(&mut store, &ctx, &ident, Lock::Respected)?;
    let uuid = n.uuid;
    use ProvisionState as P;
    if !n.maintenance
        && !matches!(
            n.provision_state,
            P::Manageable | P::Enroll | P::AdoptFailed | P::Available
        )
    {
        return Err(ApiError::DeleteInState {
            node: uuid.to_string(),
            state: n.provision_state.as_str().into(),
        });
    }
    store.conductor.remove(uuid);
    store.ports.remove_of_node(uuid);
    store.forget_node_records(uuid);
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) async fn states(
    NodeRequest { s, ctx, ident }: NodeRequest,
) -> Result<Response, ApiError> {
    let store = s.lock();
    let n = found(&store, &ctx, &ident)?;
    Ok(json_response(
        StatusCode::OK,
        &n.states_document(ctx.version),
    ))
}

pub(crate) async fn provision(
    NodeRequest { s, ctx, ident }: NodeRequest,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req = body_object(&body, "provision")?;
    let Some(target) = req
        .get("target")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return Err(ApiError::BadRequest(
            "Invalid input for field/attribute target. Value: None. Mandatory field missing."
                .into(),
        ));
    };
    let steps = super::provision_steps::requested(&req, &target, &ctx)?;
    let now = s.now();
    {
        let mut store = s.lock();
        let uuid = find(&store, &ctx, &ident)?;
        if target == "active"
            && let Some(cd) = req.get("configdrive")
        {
            node_mut(&mut store, uuid, Lock::Respected)?
                .instance_info
                .insert("configdrive".into(), cd.clone());
        }
        store.conductor.provision(uuid, &target, steps, now)?;
    }
    s.kick();
    Ok(accepted(&ctx, &ident))
}

pub(crate) async fn power(
    NodeRequest { s, ctx, ident }: NodeRequest,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req = body_object(&body, "power")?;
    let target = req
        .get("target")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let now = s.now();
    {
        let mut store = s.lock();
        let uuid = find(&store, &ctx, &ident)?;
        store.conductor.power(&ident, uuid, &target, now)?;
    }
    s.kick();
    Ok(accepted(&ctx, &ident))
}
