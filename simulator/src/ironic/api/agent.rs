//! Agent endpoints: `lookup` (find my node by MAC, get a token) and `heartbeat`.

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
    let body = json!({
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
    });
    Ok(json_response(StatusCode::OK, &body))
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
    Ok(StatusCode::ACCEPTED.into_response())
}
