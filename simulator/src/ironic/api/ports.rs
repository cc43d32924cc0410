//! Port routes: create, list (all, by node, by address), show, JSON patch, delete.

use super::nodes::{body_object, find};
use super::paging::{Listing, NextQuery, PORT_COLUMNS, Paging, PagingQuery, Sortable};
use super::{AppState, Ctx, NodeRequest, Store, json_response, parse_fields, query_pairs};
use crate::ironic::error::ApiError;
use crate::ironic::model::{Port, Shape, parse_mac, port_field_min_version};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use uuid::Uuid;

fn known_fields(ctx: &Ctx) -> Vec<String> {
    let probe = Port {
        uuid: Uuid::nil(),
        address: String::new(),
        node_uuid: Uuid::nil(),
        pxe_enabled: true,
        misc: Default::default(),
        created_at: chrono::DateTime::<chrono::Utc>::MIN_UTC,
        updated_at: None,
    };
    probe
        .document("")
        .0
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| ctx.version.at_least(port_field_min_version(k)))
        .collect()
}

/// Lists a port group's ports (`/v1/portgroups/{id}/ports`).
pub(crate) fn list_of_group(
    state: &AppState,
    ctx: &Ctx,
    q: Option<&str>,
    detail: bool,
    group: Uuid,
) -> Result<Response, ApiError> {
    list_inner(state, ctx, q, detail, None, Some(group))
}

fn list_inner(
    state: &AppState,
    ctx: &Ctx,
    q: Option<&str>,
    detail: bool,
    node_ident: Option<&str>,
    mut group: Option<Uuid>,
) -> Result<Response, ApiError> {
    let store = state.lock();
    let mut shape = if detail { Shape::Detail } else { Shape::List };
    let mut node: Option<Uuid> = match node_ident {
        Some(i) => Some(find(&store, ctx, i)?),
        None => None,
    };
    let mut address: Option<String> = None;
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
                shape = parse_fields(&v, &known_fields(ctx))?;
                if let Shape::Fields(f) = &shape {
                    fields = Some(f.join(","));
                }
            }
            "detail" => {
                let asked = matches!(
                    v.to_ascii_lowercase().as_str(),
                    "true" | "1" | "yes" | "on" | "t" | "y"
                );
                detail_asked = Some(asked);
                if asked {
                    shape = Shape::Detail;
                }
            }
            "address" => address = Some(parse_mac(&v).unwrap_or(v)),
            "node" | "node_uuid" => node = Some(find(&store, ctx, &v)?),
            "portgroup" => {
                group = Some(
                    store
                        .portgroup(&v)
                        .map(|g| g.uuid)
                        .ok_or_else(|| super::portgroups::not_found(&v))?,
                );
            }
            other => {
                return Err(ApiError::BadRequest(format!(
                    "Unexpected arguments: {other}"
                )));
            }
        }
    }
    if group.is_some() && node.is_some() && node_ident.is_none() {
        return Err(ApiError::Forbidden("Operation not permitted.".into()));
    }
    // Ironic's order for ports: the form of the parameters, the marker, then the sort key.
    let paging = paging.check()?;
    let marker_at = match paging.marker {
        Some(m) => {
            let p = store
                .ports
                .get(&m)
                .ok_or_else(|| ApiError::PortNotFound(m.to_string()))?;
            Some(sortable(&store, p, &paging))
        }
        None => None,
    };
    paging.refuse_json_key(&PORT_COLUMNS)?;
    paging.refuse_unknown_key(&PORT_COLUMNS)?;
    let page: Vec<&Port> = match &address {
        // By address Ironic answers the one port (or none), unpaged.
        Some(a) => store
            .ports
            .with_address(a)
            .filter(|p| node.is_none_or(|n| p.node_uuid == n))
            .into_iter()
            .collect(),
        None => {
            let candidates: Vec<&Port> = match node {
                Some(n) => store.ports.of_node(n).collect(),
                None => store.ports.values().collect(),
            };
            let candidates: Vec<&Port> = match group {
                Some(g) => candidates
                    .into_iter()
                    .filter(|p| p.portgroup() == Some(g))
                    .collect(),
                None => candidates,
            };
            paging.page(candidates, |p| sortable(&store, p, &paging), marker_at)
        }
    };
    let items: Vec<_> = page
        .iter()
        .map(|p| p.render(&ctx.base, ctx.version, &shape))
        .collect();
    let uuids: Vec<Uuid> = page.iter().map(|p| p.uuid).collect();
    let next = paging.next_of(
        &ctx.base,
        &NextQuery {
            collection: "ports",
            detail_endpoint: detail,
            detail_asked,
            filters: Vec::new(),
            fields,
            default_fields: "uuid,address",
        },
        &uuids,
    );
    Ok(json_response(
        StatusCode::OK,
        &Listing {
            name: "ports",
            items,
            next,
        },
    ))
}

/// Where `p` falls when sorted by the page's key.
fn sortable(store: &Store, p: &Port, paging: &Paging) -> Sortable {
    let seq = store.ports.seq_of(&p.uuid);
    match paging.sort_key.as_str() {
        "" | "id" => Sortable {
            value: Value::Null,
            seq,
        },
        column => Sortable {
            value: p.document("").get(column).cloned().unwrap_or(Value::Null),
            seq,
        },
    }
}

pub(crate) async fn list(
    State(s): State<AppState>,
    ctx: Ctx,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    list_inner(&s, &ctx, q.as_deref(), false, None, None)
}

pub(crate) async fn list_detail(
    State(s): State<AppState>,
    ctx: Ctx,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    list_inner(&s, &ctx, q.as_deref(), true, None, None)
}

pub(crate) async fn list_of_node(
    NodeRequest { s, ctx, ident }: NodeRequest,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    list_inner(&s, &ctx, q.as_deref(), false, Some(&ident), None)
}

pub(crate) async fn detail_of_node(
    NodeRequest { s, ctx, ident }: NodeRequest,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    list_inner(&s, &ctx, q.as_deref(), true, Some(&ident), None)
}

fn port_uuid(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| ApiError::PortNotFound(id.to_string()))
}

pub(crate) async fn show(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let store = s.lock();
    let p = store
        .ports
        .get(&port_uuid(&id)?)
        .ok_or_else(|| ApiError::PortNotFound(id.clone()))?;
    Ok(json_response(
        StatusCode::OK,
        &p.render(&ctx.base, ctx.version, &Shape::Detail),
    ))
}

pub(crate) async fn delete(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let mut store = s.lock();
    let uuid = port_uuid(&id)?;
    let node = store
        .ports
        .get(&uuid)
        .map(|p| p.node_uuid)
        .ok_or_else(|| ApiError::PortNotFound(id.clone()))?;
    store.conductor.ensure_unlocked(node)?;
    store.ports.remove(&uuid);
    Ok(StatusCode::NO_CONTENT.into_response())
}

const PORT_FIELDS: [&str; 12] = [
    "address",
    "node_uuid",
    "node_ident",
    "uuid",
    "extra",
    "local_link_connection",
    "pxe_enabled",
    "physical_network",
    "is_smartnic",
    "name",
    "description",
    "portgroup_uuid",
];

pub(crate) async fn create(
    State(s): State<AppState>,
    ctx: Ctx,
    body: Bytes,
) -> Result<Response, ApiError> {
    let mut req = body_object(&body, "port")?;
    if let Some(bad) = req.keys().find(|k| !PORT_FIELDS.contains(&k.as_str())) {
        return Err(ApiError::BadRequest(format!(
            "Schema error for port: Additional properties are not allowed ('{bad}' was unexpected)"
        )));
    }
    let raw_mac = req
        .remove("address")
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let address = parse_mac(&raw_mac).ok_or_else(|| {
        ApiError::BadRequest(format!("Expected valid MAC address for address: {raw_mac}"))
    })?;
    let node_ident = match (req.remove("node_uuid"), req.remove("node_ident")) {
        (Some(Value::String(n)), _) | (None, Some(Value::String(n))) => n,
        _ => {
            return Err(ApiError::BadRequest(format!(
                "Schema error for port: {{'address': '{raw_mac}'}} is not valid under any of the given schemas. Possible root cause: 'node_ident' is a required property"
            )));
        }
    };
    let portgroup =
        match req.remove("portgroup_uuid") {
            None | Some(Value::Null) => None,
            Some(_) if !ctx.version.at_least(24) => return Err(ApiError::NotAcceptable),
            Some(Value::String(g)) => Some(Uuid::parse_str(&g).map_err(|_| {
                ApiError::BadRequest(format!("Expected UUID for portgroup_uuid: {g}"))
            })?),
            Some(other) => {
                return Err(ApiError::BadRequest(format!(
                    "Expected UUID for portgroup_uuid: {other}"
                )));
            }
        };
    let now = s.now();
    let mut store = s.lock();
    let node_uuid = find(&store, &ctx, &node_ident)?;
    let pxe_asked = req
        .get("pxe_enabled")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    if let Some(g) = portgroup {
        let group = store
            .portgroups
            .get(&g)
            .ok_or_else(|| ApiError::BadRequest(format!("Portgroup {g} could not be found.")))?;
        crate::ironic::model::may_join(group, node_uuid, pxe_asked)?;
    }
    if store.ports.with_address(&address).is_some() {
        return Err(ApiError::Conflict(format!(
            "A port with MAC address {address} already exists."
        )));
    }
    let cap = store.conductor.settings().max_ports;
    if store.ports.len() >= cap {
        return Err(ApiError::Forbidden(format!(
            "Port limit exceeded: this service holds at most {cap} ports."
        )));
    }
    let uuid = match req.remove("uuid") {
        Some(Value::String(u)) => Uuid::parse_str(&u)
            .map_err(|_| ApiError::BadRequest(format!("Expected a UUID but received {u}.")))?,
        _ => store.new_uuid(),
    };
    let pxe_enabled = req
        .remove("pxe_enabled")
        .and_then(|v| v.as_bool())
        .unwrap_or(true);
    let mut misc = req;
    if let Some(g) = portgroup {
        misc.insert("portgroup_uuid".into(), Value::String(g.to_string()));
    }
    let port = Port {
        uuid,
        address,
        node_uuid,
        pxe_enabled,
        misc,
        created_at: now,
        updated_at: None,
    };
    let doc = port.render(&ctx.base, ctx.version, &Shape::Detail);
    store.ports.insert(port);
    let mut r = json_response(StatusCode::CREATED, &doc);
    if let Ok(v) = HeaderValue::from_str(&format!("{}/v1/ports/{uuid}", ctx.base)) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    Ok(r)
}

/// Fields a port PATCH may change (Ironic's list, in its order).
const PORT_PATCHABLE: [&str; 14] = [
    "address",
    "extra",
    "is_smartnic",
    "local_link_connection",
    "node_ident",
    "node_uuid",
    "physical_network",
    "portgroup_uuid",
    "pxe_enabled",
    "name",
    "description",
    "vendor",
    "category",
    "available_for_dynamic_portgroup",
];

/// `PATCH /v1/ports/{id}`: the patched document checked as a create's body is (MAC, node,
/// group rules, a free address), under the node's lock; nothing changes unless all holds.
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
        let top = path.split('/').nth(1).unwrap_or("");
        if !PORT_PATCHABLE.contains(&top) {
            return Err(ApiError::BadRequest(format!(
                "Cannot patch {path}. Only the following can be updated: {}",
                PORT_PATCHABLE.join(", ")
            )));
        }
    }
    let now = s.now();
    let mut store = s.lock();
    let uuid = port_uuid(&id)?;
    let current = store
        .ports
        .get(&uuid)
        .cloned()
        .ok_or_else(|| ApiError::PortNotFound(id.clone()))?;
    store.conductor.ensure_unlocked(current.node_uuid)?;
    let mut view = current.document("").to_value();
    json_patch::patch(&mut view, &ops).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let mut doc = view.as_object().cloned().unwrap_or_default();
    let raw_mac = match doc.remove("address") {
        Some(Value::String(a)) => a,
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let address = parse_mac(&raw_mac).ok_or_else(|| {
        ApiError::BadRequest(format!("Expected valid MAC address for address: {raw_mac}"))
    })?;
    let pxe_enabled = match doc.remove("pxe_enabled") {
        Some(Value::Bool(b)) => b,
        Some(Value::String(v)) => super::nodes::bool_of(&v)
            .map_err(|e| ApiError::BadRequest(format!("Invalid pxe_enabled: {e}")))?,
        _ => true,
    };
    for key in ["extra", "local_link_connection"] {
        match doc.get(key) {
            None | Some(Value::Object(_)) => {}
            Some(Value::Null) => {
                doc.insert(key.into(), Value::Object(Default::default()));
            }
            Some(other) => {
                return Err(ApiError::BadRequest(format!(
                    "Invalid {key}: {other} is not a dictionary"
                )));
            }
        }
    }
    let node_text = match doc.remove("node_ident").or_else(|| doc.remove("node_uuid")) {
        Some(Value::String(n)) => n,
        _ => current.node_uuid.to_string(),
    };
    let node_uuid = find(&store, &ctx, &node_text)
        .map_err(|_| ApiError::BadRequest(format!("Node {node_text} could not be found.")))?;
    let portgroup =
        match doc.get("portgroup_uuid") {
            None | Some(Value::Null) => None,
            Some(Value::String(g)) => Some(Uuid::parse_str(g).map_err(|_| {
                ApiError::BadRequest(format!("Expected UUID for portgroup_uuid: {g}"))
            })?),
            Some(other) => {
                return Err(ApiError::BadRequest(format!(
                    "Expected UUID for portgroup_uuid: {other}"
                )));
            }
        };
    if let Some(g) = portgroup {
        let group = store
            .portgroups
            .get(&g)
            .ok_or_else(|| ApiError::BadRequest(format!("Portgroup {g} could not be found.")))?;
        crate::ironic::model::may_join(group, node_uuid, pxe_enabled)?;
    }
    if store
        .ports
        .with_address(&address)
        .is_some_and(|p| p.uuid != uuid)
    {
        return Err(ApiError::Conflict(format!(
            "A port with MAC address {address} already exists."
        )));
    }
    // What the document holds beside the columns kept apart goes back into `misc`.
    for key in ["uuid", "created_at", "updated_at", "links"] {
        doc.remove(key);
    }
    doc.remove("node_uuid");
    let updated = Port {
        uuid,
        address,
        node_uuid,
        pxe_enabled,
        misc: doc,
        created_at: current.created_at,
        updated_at: Some(now),
    };
    let answer = updated.render(&ctx.base, ctx.version, &Shape::Detail);
    store.ports.update(updated);
    Ok(json_response(StatusCode::OK, &answer))
}
