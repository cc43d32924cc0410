//! Port routes: create, list (all, by node, by address), show, delete.

use super::nodes::{body_object, find};
use super::{AppState, Ctx, NodeRequest, json_response, parse_fields, query_pairs};
use crate::ironic::error::ApiError;
use crate::ironic::model::{Port, Shape, parse_mac, port_field_min_version};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::collections::BTreeMap;
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

fn list_inner(
    state: &AppState,
    ctx: &Ctx,
    q: Option<&str>,
    detail: bool,
    node_ident: Option<&str>,
) -> Result<Response, ApiError> {
    let store = state.lock();
    let mut shape = if detail { Shape::Detail } else { Shape::List };
    let mut node: Option<Uuid> = match node_ident {
        Some(i) => Some(find(&store, ctx, i)?),
        None => None,
    };
    let mut address: Option<String> = None;
    for (k, v) in query_pairs(q) {
        match k.as_str() {
            "fields" if detail => {
                return Err(ApiError::BadRequest("Unexpected arguments: fields".into()));
            }
            "fields" => shape = parse_fields(&v, &known_fields(ctx))?,
            "detail" if v == "true" => shape = Shape::Detail,
            "address" => address = Some(parse_mac(&v).unwrap_or(v)),
            "node" | "node_uuid" => node = Some(find(&store, ctx, &v)?),
            "limit" | "marker" | "sort_key" | "sort_dir" | "detail" | "portgroup" => {}
            other => {
                return Err(ApiError::BadRequest(format!(
                    "Unexpected arguments: {other}"
                )));
            }
        }
    }
    let candidates: Box<dyn Iterator<Item = &Port>> = match (&address, node) {
        (Some(a), _) => Box::new(store.ports.with_address(a).into_iter()),
        (None, Some(n)) => Box::new(store.ports.of_node(n)),
        (None, None) => Box::new(store.ports.values()),
    };
    let mut ports: Vec<&Port> = candidates
        .filter(|p| node.is_none_or(|n| p.node_uuid == n))
        .filter(|p| address.as_ref().is_none_or(|a| &p.address == a))
        .collect();
    ports.sort_by_key(|p| p.created_at);
    let out: Vec<_> = ports
        .iter()
        .map(|p| p.render(&ctx.base, ctx.version, &shape))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &BTreeMap::from([("ports", out)]),
    ))
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

pub(crate) async fn list_of_node(
    NodeRequest { s, ctx, ident }: NodeRequest,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    list_inner(&s, &ctx, q.as_deref(), false, Some(&ident))
}

pub(crate) async fn detail_of_node(
    NodeRequest { s, ctx, ident }: NodeRequest,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    list_inner(&s, &ctx, q.as_deref(), true, Some(&ident))
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
    let now = s.now();
    let mut store = s.lock();
    let node_uuid = find(&store, &ctx, &node_ident)?;
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
    let port = Port {
        uuid,
        address,
        node_uuid,
        pxe_enabled,
        misc: req,
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
