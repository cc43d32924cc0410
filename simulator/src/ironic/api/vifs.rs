//! A node's VIFs (`/v1/nodes/{id}/vifs[/{vif}]`, from 1.28): list, attach, detach, with Ironic
//! 39's body schema and texts and its order of checks (the body, then the node, then the request's
//! form, then the node's lock). What happens depends on the node's network interface, as in
//! Ironic: `noop` accepts every attach and detach and lists nothing; any other interface binds the
//! VIF to one of the node's ports or port groups by the model's rule (`model::vif`).

use super::nodes::{Lock, find, node_mut};
use super::{AppState, Ctx, NodeRequest, Store, json_response};
use crate::ironic::encoding::python_repr;
use crate::ironic::error::ApiError;
use crate::ironic::model::{
    PortLike, PortLikeKind, VifAttach, VifError, attached_vifs, holder_of, is_valid_logical_name,
    pick_port_like, vif_of, with_vif,
};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// The microversion VIFs appeared in.
const VIFS_VERSION: u32 = 28;
/// The microversion from which naming both a port and a group is refused.
const ATTACH_PORT_VERSION: u32 = 67;

impl From<VifError> for ApiError {
    fn from(e: VifError) -> Self {
        match e {
            VifError::AlreadyAttached { .. } => ApiError::Conflict(e.to_string()),
            VifError::NoFreePorts(_) | VifError::NotAttached { .. } => {
                ApiError::BadRequest(e.to_string())
            }
        }
    }
}

/// The routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/nodes/{ident}/vifs",
            get(list)
                .post(attach)
                .delete(detach_nothing)
                .fallback(refused),
        )
        .route(
            "/v1/nodes/{ident}/vifs/{vif}",
            MethodRouter::new().delete(detach).fallback(refused),
        )
}

/// 404 (the framework's) below 1.28.
fn gate(ctx: &Ctx) -> Result<(), ApiError> {
    if ctx.version.at_least(VIFS_VERSION) {
        Ok(())
    } else {
        Err(ApiError::Framework(StatusCode::NOT_FOUND, String::new()))
    }
}

/// Ironic's `uuid_or_name` check of `value`, named `what` in the text.
fn uuid_or_name(what: &str, value: &str) -> Result<(), ApiError> {
    if Uuid::parse_str(value).is_ok() || is_valid_logical_name(value) {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "Expected UUID or name for {what}: {value}"
        )))
    }
}

/// Whether the node's network interface keeps VIFs at all (`noop` does not).
fn binds(store: &Store, node: Uuid) -> Result<Option<String>, ApiError> {
    let n = store.conductor.node(node)?;
    let iface = n
        .interfaces
        .get("network")
        .and_then(Value::as_str)
        .unwrap_or("noop")
        .to_string();
    Ok((iface != "noop").then_some(iface))
}

/// The node's ports and groups as the VIF rule reads them, each in creation order.
fn port_likes(store: &Store, node: Uuid, iface: &str) -> (Vec<PortLike>, Vec<PortLike>) {
    let mut ports: Vec<_> = store.ports.of_node(node).collect();
    ports.sort_by_key(|p| store.ports.seq_of(&p.uuid));
    let info = |v: Option<&Value>| v.and_then(Value::as_object).cloned().unwrap_or_default();
    let ports = ports
        .into_iter()
        .map(|p| {
            let extra = info(p.misc.get("extra"));
            let link = info(p.misc.get("local_link_connection"));
            PortLike {
                kind: PortLikeKind::Port,
                uuid: p.uuid,
                vif: vif_of(&info(p.misc.get("internal_info"))),
                pxe_enabled: p.pxe_enabled,
                portgroup: p.portgroup(),
                // The `neutron` interface needs the switch port, unless it is InfiniBand.
                usable: iface != "neutron" || !link.is_empty() || extra.contains_key("client-id"),
            }
        })
        .collect();
    let mut groups: Vec<_> = store
        .portgroups
        .values()
        .filter(|g| g.node_uuid == node)
        .collect();
    groups.sort_by_key(|g| g.id);
    let groups = groups
        .into_iter()
        .map(|g| PortLike {
            kind: PortLikeKind::Portgroup,
            uuid: g.uuid,
            vif: vif_of(&g.internal_info),
            pxe_enabled: true,
            portgroup: None,
            usable: true,
        })
        .collect();
    (ports, groups)
}

/// Sets (or clears) the VIF kept on a port or group.
fn keep(store: &mut Store, (kind, uuid): (PortLikeKind, Uuid), vif: Option<&str>) {
    match kind {
        PortLikeKind::Port => {
            let info = store
                .ports
                .get(&uuid)
                .and_then(|p| p.misc.get("internal_info"))
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            store.ports.set_internal_info(&uuid, with_vif(&info, vif));
        }
        PortLikeKind::Portgroup => {
            if let Some(g) = store.portgroups.get_mut(&uuid) {
                g.internal_info = with_vif(&g.internal_info, vif);
            }
        }
    }
}

/// `GET /v1/nodes/{id}/vifs`.
async fn list(r: NodeRequest) -> Result<Response, ApiError> {
    gate(&r.ctx)?;
    let store = r.s.lock();
    let node = find(&store, &r.ctx, &r.ident)?;
    let vifs = match binds(&store, node)? {
        Some(iface) => {
            let (ports, groups) = port_likes(&store, node, &iface);
            attached_vifs(&ports, &groups)
        }
        None => Vec::new(),
    };
    Ok(json_response(StatusCode::OK, &json!({ "vifs": vifs })))
}

/// A body member as the conductor compares it with UUIDs: None when absent or falsy (Python's
/// truth), else its text.
fn member(o: &Map<String, Value>, key: &str) -> Option<String> {
    match o.get(key)? {
        Value::Null | Value::Bool(false) => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        Value::Array(a) if a.is_empty() => None,
        Value::Object(m) if m.is_empty() => None,
        Value::Number(n) if n.as_f64() == Some(0.0) => None,
        other => Some(other.to_string()),
    }
}

/// The attach body checked as Ironic checks it (`{"id": <uuid or name>, ...}`, more keys allowed).
fn attach_body(body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    let schema = |m: String| ApiError::BadRequest(format!("Schema error for vif: {m}"));
    let v: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::BadRequest(format!("Invalid JSON request body: {e}")))?
    };
    let Value::Object(o) = v else {
        return Err(schema(format!(
            "{} is not of type 'object'",
            python_repr(&v)
        )));
    };
    match o.get("id") {
        None => Err(schema("'id' is a required property".into())),
        Some(Value::String(id)) => uuid_or_name("id", id).map(|()| o),
        Some(other) => Err(schema(format!(
            "{} is not of type 'string'",
            python_repr(other)
        ))),
    }
}

/// `POST /v1/nodes/{id}/vifs`: attaches a VIF.
async fn attach(r: NodeRequest, body: Bytes) -> Result<Response, ApiError> {
    gate(&r.ctx)?;
    let o = attach_body(&body)?;
    let mut store = r.s.lock();
    let node = find(&store, &r.ctx, &r.ident)?;
    if r.ctx.version.at_least(ATTACH_PORT_VERSION)
        && o.contains_key("port_uuid")
        && o.contains_key("portgroup_uuid")
    {
        return Err(ApiError::BadRequest(
            "Cannot specify both port_uuid and portgroup_uuid".into(),
        ));
    }
    node_mut(&mut store, node, Lock::Respected)?;
    let Some(iface) = binds(&store, node)? else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let req = VifAttach {
        id: o["id"].as_str().unwrap_or_default().to_string(),
        port_uuid: member(&o, "port_uuid"),
        // A `port_uuid` key, even an empty one, makes the conductor ignore `portgroup_uuid`.
        portgroup_uuid: member(&o, "portgroup_uuid").filter(|_| !o.contains_key("port_uuid")),
    };
    let (ports, groups) = port_likes(&store, node, &iface);
    let target = pick_port_like(&ports, &groups, &req)?;
    keep(&mut store, target, Some(&req.id));
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /v1/nodes/{id}/vifs/{vif}`: detaches a VIF.
async fn detach(
    State(s): State<AppState>,
    ctx: Ctx,
    Path((ident, vif)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    gate(&ctx)?;
    uuid_or_name("vif_id", &vif)?;
    let mut store = s.lock();
    let node = find(&store, &ctx, &ident)?;
    node_mut(&mut store, node, Lock::Respected)?;
    if let Some(iface) = binds(&store, node)? {
        let (ports, groups) = port_likes(&store, node, &iface);
        let holder = holder_of(&ports, &groups, &vif, node)?;
        keep(&mut store, holder, None);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /v1/nodes/{id}/vifs` with no VIF named.
async fn detach_nothing(r: NodeRequest) -> Result<Response, ApiError> {
    gate(&r.ctx)?;
    Err(ApiError::BadRequest(
        "Missing mandatory parameter: vif_id".into(),
    ))
}

/// Any other method on these routes: the framework's 405.
async fn refused() -> ApiError {
    ApiError::method_not_allowed()
}
