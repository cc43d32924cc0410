//! A node's management and console sub-resources: `/management/boot_device` (+`/supported`),
//! `/management/indicators[/{indicator}]`, `/states/console` — with Ironic 39's parameter
//! checks and texts. The `fake` management interface answers as Ironic's does
//! (`model::management`); the simulated BMC drivers' management (Redfish, IPMI) is reached by the
//! conductor only, so these requests refuse such a node plainly; `/management/inject_nmi` is
//! handed to the conductor for a redfish node. Every hardware type has `no-console`, whose
//! console cannot be switched.

use super::nodes::{bool_of, find, found};
use super::{AppState, Ctx, NodeRequest, json_response};
use crate::ironic::error::ApiError;
use crate::ironic::model::{
    FAKE_BOOT_DEVICES, Node, boot_device_problem, fake_boot_device, fake_indicator_state,
    fake_indicators,
};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use serde_json::{Map, Value, json};

/// The node's management interface, when it is `fake`; a plain refusal otherwise.
fn fake_management(n: &Node) -> Result<(), ApiError> {
    let iface = n
        .interfaces
        .get("management")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if iface == "fake" {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "The simulated Ironic answers management requests for the fake management interface only; node {} uses {iface}.",
            n.uuid
        )))
    }
}

/// A request body's parameters (an object; empty when there is no body), each checked against
/// `known` (`Unexpected arguments: <name>`), and `required` present (none when empty).
pub(super) fn params(
    body: &Bytes,
    known: &[&str],
    required: &str,
) -> Result<Map<String, Value>, ApiError> {
    let o = if body.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(o)) => o,
            Ok(_) => Map::new(),
            Err(e) => {
                return Err(ApiError::BadRequest(format!(
                    "Invalid JSON request body: {e}"
                )));
            }
        }
    };
    if let Some(bad) = o.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(ApiError::BadRequest(format!("Unexpected arguments: {bad}")));
    }
    if !required.is_empty() && !o.contains_key(required) {
        return Err(ApiError::BadRequest(format!(
            "Missing mandatory parameter: {required}"
        )));
    }
    Ok(o)
}

/// `args.boolean` on a body parameter.
pub(super) fn flag(name: &str, v: &Value) -> Result<bool, ApiError> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) => {
            bool_of(s).map_err(|e| ApiError::BadRequest(format!("Invalid {name}: {e}")))
        }
        other => bool_of(&other.to_string())
            .map_err(|e| ApiError::BadRequest(format!("Invalid {name}: {e}"))),
    }
}

/// `GET .../management/boot_device`.
async fn boot_device(r: NodeRequest) -> Result<Response, ApiError> {
    let store = r.s.lock();
    fake_management(found(&store, &r.ctx, &r.ident)?)?;
    Ok(json_response(StatusCode::OK, &fake_boot_device()))
}

/// `GET .../management/boot_device/supported`.
async fn supported(r: NodeRequest) -> Result<Response, ApiError> {
    let store = r.s.lock();
    fake_management(found(&store, &r.ctx, &r.ident)?)?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "supported_boot_devices": FAKE_BOOT_DEVICES }),
    ))
}

/// `PUT .../management/boot_device` with `boot_device` and optional `persistent`.
async fn set_boot_device(r: NodeRequest, body: Bytes) -> Result<Response, ApiError> {
    let p = params(&body, &["boot_device", "persistent"], "boot_device")?;
    if let Some(v) = p.get("persistent") {
        flag("persistent", v)?;
    }
    let store = r.s.lock();
    fake_management(found(&store, &r.ctx, &r.ident)?)?;
    let device = match &p["boot_device"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if let Some(problem) = boot_device_problem(&device) {
        return Err(ApiError::BadRequest(problem));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET .../management/indicators`.
async fn indicators(r: NodeRequest) -> Result<Response, ApiError> {
    let store = r.s.lock();
    fake_management(found(&store, &r.ctx, &r.ident)?)?;
    Ok(json_response(
        StatusCode::OK,
        &fake_indicators(&r.ctx.base, &r.ident),
    ))
}

/// `GET .../management/indicators/{indicator}`.
async fn indicator(
    State(s): State<AppState>,
    ctx: Ctx,
    Path((ident, unique)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let store = s.lock();
    fake_management(found(&store, &ctx, &ident)?)?;
    let state = fake_indicator_state(&unique).map_err(ApiError::BadRequest)?;
    Ok(json_response(StatusCode::OK, &json!({ "state": state })))
}

/// `PUT .../management/indicators/{indicator}` with `state`: the fake interface sets none.
async fn set_indicator(
    State(s): State<AppState>,
    ctx: Ctx,
    Path((ident, unique)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let store = s.lock();
    let n = found(&store, &ctx, &ident)?;
    if !unique.contains('@') {
        return Err(ApiError::BadRequest(format!(
            "Malformed indicator name \"{unique}\""
        )));
    }
    params(&body, &["state"], "state")?;
    fake_management(n)?;
    Err(ApiError::Unsupported {
        driver: n.driver.clone(),
        feature: "set_indicator_state".into(),
    })
}

/// `GET .../states/console`: no console is ever enabled.
async fn console(r: NodeRequest) -> Result<Response, ApiError> {
    let store = r.s.lock();
    found(&store, &r.ctx, &r.ident)?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"console_enabled": false, "console_info": null}),
    ))
}

/// `PUT .../states/console` with `enabled`: `no-console` refuses either way.
async fn set_console(r: NodeRequest, body: Bytes) -> Result<Response, ApiError> {
    let p = params(&body, &["enabled"], "enabled")?;
    flag("enabled", &p["enabled"])?;
    let store = r.s.lock();
    let n = found(&store, &r.ctx, &r.ident)?;
    Err(ApiError::Unsupported {
        driver: n.driver.clone(),
        feature: "console".into(),
    })
}

/// `PUT /v1/nodes/{id}/management/inject_nmi` (1.29): no parameters; 204 once the conductor
/// has the NMI to send (Ironic answers after sending it).
async fn inject_nmi(r: NodeRequest, body: Bytes) -> Result<Response, ApiError> {
    if !r.ctx.version.at_least(29) {
        return Err(ApiError::NotFound);
    }
    let now = r.s.now();
    {
        let mut store = r.s.lock();
        let uuid = find(&store, &r.ctx, &r.ident)?;
        params(&body, &[], "")?;
        store.conductor.inject_nmi(uuid, now)?;
    }
    r.s.kick();
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The routes, merged into the API's router.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/nodes/{ident}/management/inject_nmi",
            put(inject_nmi).fallback(super::traits::not_allowed),
        )
        .route(
            "/v1/nodes/{ident}/management/boot_device",
            get(boot_device).put(set_boot_device),
        )
        .route(
            "/v1/nodes/{ident}/management/boot_device/supported",
            get(supported),
        )
        .route("/v1/nodes/{ident}/management/indicators", get(indicators))
        .route(
            "/v1/nodes/{ident}/management/indicators/{indicator}",
            get(indicator).put(set_indicator),
        )
        .route(
            "/v1/nodes/{ident}/states/console",
            get(console).merge(put(set_console)),
        )
}
