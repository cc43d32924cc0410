//! Agent endpoints: `lookup` (find my node by MAC, get a token), `heartbeat` (resumes a deploy or clean
//! parked for the agent) and `continue_inspection` (the agent's inventory ends `inspect wait`).

use super::nodes::{body_object, find};
use super::{AppState, Ctx, NodeRequest, json_response, query_pairs};
use crate::ironic::error::ApiError;
use crate::ironic::model::parse_mac;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
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
    let node = match node_uuid {
        Some(u) => Some(find(&store, &ctx, &u).map_err(|_| ApiError::NotFound)?),
        None => None,
    };
    let found = store.agent_lookup(node, &macs)?;
    let n = store
        .conductor
        .nodes
        .get(&found.node)
        .ok_or(ApiError::NotFound)?;
    Ok(json_response(
        StatusCode::OK,
        &lookup_body(n, &ctx, &found.token),
    ))
}

/// The `{node, config}` document lookup (and continue_inspection from 1.84) answers.
fn lookup_body(n: &crate::ironic::model::Node, ctx: &Ctx, token: &str) -> Value {
    json!({
        "node": {
            "uuid": n.uuid.to_string(),
            "properties": Value::Object(n.properties.clone()),
            // Masked as Ironic masks every node it shows, the config drive (user data) included:
            // a lookup needs no token, and the agent gets what it deploys in its step arguments.
            "instance_info": n.masked_instance_info(),
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
    NodeRequest { s, ctx, ident }: NodeRequest,
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
    let version = req
        .get("agent_version")
        .and_then(Value::as_str)
        .map(str::to_string);
    let resumed = store.agent_heartbeat(uuid, &token, callback, version, now)?;
    drop(store);
    if resumed {
        s.kick();
    }
    Ok(StatusCode::ACCEPTED.into_response())
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
    let node = match &node_uuid {
        Some(u) => Some(uuid::Uuid::parse_str(u).map_err(|_| ApiError::NotFound)?),
        None => None,
    };
    let (uuid, found) = store.agent_continue_inspection(node, &macs, &bmcs, data, new_api, now)?;
    let body = match found {
        Some(found) => {
            let n = store
                .conductor
                .nodes
                .get(&found.node)
                .ok_or(ApiError::NotFound)?;
            lookup_body(n, &ctx, &found.token)
        }
        None => json!({"uuid": uuid.to_string()}),
    };
    drop(store);
    s.kick();
    Ok(json_response(StatusCode::ACCEPTED, &body))
}
