//! Agent endpoints: `lookup` (find my node by MAC, get a token), `heartbeat` (resumes a deploy or clean
//! parked for the agent) and `continue_inspection` (the agent's inventory ends `inspect wait`).

use super::nodes::{body_object, find};
use super::{AppState, Ctx, json_response, query_pairs};
use crate::ironic::error::ApiError;
use crate::ironic::model::parse_mac;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

pub(crate) async fn lookup(
    State(s): State<AppState>,
    ctx: Ctx,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    if !ctx.version.at_least(22) {
        return Err(ApiError::NotFound);
    }
    let mut macs = Vec::new();
    let mut node_uuid = None;
    for (k, v) in query_pairs(q.as_deref()) {
        match k.as_str() {
            "addresses" => macs.extend(v.split(',').filter_map(parse_mac)),
            "node_uuid" => node_uuid = Some(v),
            other => {
                return Err(ApiError::BadRequest(format!(
                    "Unexpected arguments: {other}"
                )));
            }
        }
    }
    if macs.is_empty() && node_uuid.is_none() {
        return Err(ApiError::BadRequest(
            "Either node_uuid or addresses parameter is required".into(),
        ));
    }
    let mut store = s.lock();
    let uuid = match node_uuid {
        Some(u) => find(&store, &ctx, &u).map_err(|_| ApiError::NotFound)?,
        None => store
            .ports
            .values()
            .find(|p| macs.contains(&p.address))
            .map(|p| p.node_uuid)
            .ok_or(ApiError::NotFound)?,
    };
    let allowed = store
        .conductor
        .nodes
        .get(&uuid)
        .is_some_and(|n| n.provision_state.agent_may_call());
    if !allowed {
        return Err(ApiError::NotFound);
    }
    store.conductor.ensure_unlocked(uuid)?;
    let fresh = store.token();
    let n = store
        .conductor
        .nodes
        .get_mut(&uuid)
        .ok_or(ApiError::NotFound)?;
    let token = match &n.agent.token {
        Some(_) => "******".to_string(),
        None => {
            n.agent.token = Some(fresh.clone());
            fresh
        }
    };
    Ok(json_response(StatusCode::OK, &lookup_body(n, &ctx, &token)))
}

/// The `{node, config}` document lookup (and continue_inspection from 1.84) answers.
fn lookup_body(n: &crate::ironic::model::Node, ctx: &Ctx, token: &str) -> Value {
    json!({
        "node": {
            "uuid": n.uuid.to_string(),
            "properties": Value::Object(n.properties.clone()),
            "instance_info": Value::Object(n.instance_info.clone()),
            "driver_internal_info": Value::Object(n.driver_internal_info.clone()),
            "links": crate::ironic::model::links(&ctx.base, &format!("nodes/{}", n.uuid)),
        },
        "config": {
            "metrics": {"backend": "noop", "prepend_host": false, "prepend_uuid": false, "prepend_host_reverse": true, "global_prefix": null},
            "metrics_statsd": {"statsd_host": "localhost", "statsd_port": 8125},
            "heartbeat_timeout": 300,
            "agent_token": token,
            "agent_token_required": true,
            "agent_md5_checksum_enable": false,
            "disable_deep_image_inspection": false,
            "permitted_image_formats": ["raw", "qcow2", "iso"],
        }
    })
}

pub(crate) async fn heartbeat(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(ident): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req = body_object(&body, "heartbeat")?;
    let Some(callback) = req
        .get("callback_url")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return Err(ApiError::BadRequest(
            "Missing argument: \"callback_url\"".into(),
        ));
    };
    let Some(token) = req
        .get("agent_token")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return Err(ApiError::BadRequest(
            "Agent token is required for heartbeat processing.".into(),
        ));
    };
    let now = s.now();
    let mut store = s.lock();
    let uuid = find(&store, &ctx, &ident)?;
    store.conductor.ensure_unlocked(uuid)?;
    let n = store
        .conductor
        .nodes
        .get_mut(&uuid)
        .ok_or_else(|| ApiError::NodeNotFound(ident.clone()))?;
    if n.agent.token.as_deref() != Some(token.as_str()) {
        return Err(ApiError::Forbidden(
            "Invalid or missing agent token received.".into(),
        ));
    }
    n.agent.callback_url = Some(callback);
    n.agent.version = req
        .get("agent_version")
        .and_then(Value::as_str)
        .map(str::to_string);
    n.agent.last_heartbeat = Some(now);
    let resumed = store.conductor.heartbeat(uuid, now);
    drop(store);
    if resumed {
        s.kick();
    }
    Ok(StatusCode::ACCEPTED.into_response())
}

/// The host part of a BMC address in driver_info (`redfish_address` URL or `ipmi_address`).
fn bmc_host(info: &serde_json::Map<String, Value>) -> Option<String> {
    if let Some(a) = info.get("ipmi_address").and_then(Value::as_str) {
        return Some(a.to_string());
    }
    let raw = info.get("redfish_address").and_then(Value::as_str)?;
    let with_scheme = if raw.contains("://") {
        raw.to_string()
    } else {
        format!("https://{raw}")
    };
    let url = url::Url::parse(&with_scheme).ok()?;
    url.host_str()
        .map(|h| h.trim_matches(['[', ']']).to_string())
}

/// `POST /v1/continue_inspection`: the agent's inspection data. The node is found by `node_uuid`
/// (from 1.84), the inventory's MACs (ports) or its BMC address, and must be in `inspect wait`.
pub(crate) async fn continue_inspection(
    State(s): State<AppState>,
    ctx: Ctx,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let new_api = ctx.version.at_least(84);
    let mut node_uuid = None;
    for (k, v) in query_pairs(q.as_deref()) {
        match k.as_str() {
            "node_uuid" => node_uuid = Some(v),
            other => {
                return Err(ApiError::BadRequest(format!(
                    "Unexpected arguments: {other}"
                )));
            }
        }
    }
    // 1.1 is accepted too (ironic-inspector compatibility), but without node_uuid.
    let legacy = ctx.version == crate::ironic::version::MIN && node_uuid.is_none();
    if !new_api && !legacy {
        return Err(ApiError::NotFoundText(
            "API version 1.84 or newer is required".into(),
        ));
    }
    let data = body_object(&body, "continue_inspection")?;
    let Some(inventory) = data.get("inventory").and_then(Value::as_object) else {
        return Err(ApiError::BadRequest(
            "Invalid input for field/attribute data. Value: 'inventory' is a required property"
                .into(),
        ));
    };
    let Some(ifaces) = inventory.get("interfaces").and_then(Value::as_array) else {
        return Err(ApiError::BadRequest(
            "Invalid input for field/attribute data. Value: 'interfaces' is a required property"
                .into(),
        ));
    };
    let macs: Vec<String> = ifaces
        .iter()
        .filter_map(|i| i.get("mac_address").and_then(Value::as_str))
        .filter_map(parse_mac)
        .collect();
    let bmcs: Vec<String> = ["bmc_address", "bmc_v6address"]
        .iter()
        .filter_map(|k| inventory.get(*k).and_then(Value::as_str))
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .collect();
    if macs.is_empty() && bmcs.is_empty() && node_uuid.is_none() {
        return Err(ApiError::BadRequest(
            "No lookup information provided".into(),
        ));
    }
    let now = s.now();
    let mut store = s.lock();
    let uuid = match &node_uuid {
        Some(u) => uuid::Uuid::parse_str(u)
            .ok()
            .filter(|u| store.conductor.nodes.contains_key(u))
            .ok_or(ApiError::NotFound)?,
        None => store
            .ports
            .values()
            .find(|p| macs.contains(&p.address))
            .map(|p| p.node_uuid)
            .or_else(|| {
                store
                    .conductor
                    .nodes
                    .values()
                    .find(|n| bmc_host(&n.driver_info).is_some_and(|h| bmcs.contains(&h)))
                    .map(|n| n.uuid)
            })
            .ok_or(ApiError::NotFound)?,
    };
    store.conductor.continue_inspection(uuid, data, now)?;
    store.adopt_discovered_ports(now);
    let fresh = store.token();
    let n = store
        .conductor
        .nodes
        .get_mut(&uuid)
        .ok_or(ApiError::NotFound)?;
    let body = if new_api {
        let token = match &n.agent.token {
            Some(_) => "******".to_string(),
            None => {
                n.agent.token = Some(fresh.clone());
                fresh
            }
        };
        lookup_body(n, &ctx, &token)
    } else {
        json!({"uuid": uuid.to_string()})
    };
    drop(store);
    s.kick();
    Ok(json_response(StatusCode::ACCEPTED, &body))
}
