//! The RAID target API: `PUT /v1/nodes/{id}/states/raid` (the target configuration, validated as
//! Ironic validates it, `{}` to clear it) and `GET /v1/drivers/{name}/raid/logical_disk_properties`.

use super::nodes::{Lock, body_object, found_mut};
use super::{Ctx, NodeRequest, json_response};
use crate::ironic::encoding::python_repr;
use crate::ironic::error::ApiError;
use crate::ironic::model::{DRIVERS, default_interface, raid};
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// The microversion the RAID API (and the nodes' RAID fields) appeared in.
pub const RAID_VERSION: u32 = 12;

fn no_raid(driver: &str) -> ApiError {
    ApiError::NotFoundText(format!(
        "Driver {driver} does not support raid (disabled or not implemented)."
    ))
}

/// `PUT /v1/nodes/{id}/states/raid`.
pub(crate) async fn set_target(
    NodeRequest { s, ctx, ident }: NodeRequest,
    body: Bytes,
) -> Result<Response, ApiError> {
    let config = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(m)) => m,
        Ok(other) => {
            return Err(ApiError::BadRequest(format!(
                "Expected types <class 'dict'> for target_raid_config: {}",
                python_repr(&other)
            )));
        }
        Err(_) => body_object(&body, "raid")?,
    };
    let mut store = s.lock();
    let n = found_mut(&mut store, &ctx, &ident, Lock::Respected)?;
    if !ctx.version.at_least(RAID_VERSION) {
        return Err(ApiError::NotAcceptable);
    }
    let iface = match n.interfaces.get("raid").and_then(Value::as_str) {
        Some(i) if !i.is_empty() => i.to_string(),
        _ => default_interface(&n.driver, "raid").to_string(),
    };
    if iface == "no-raid" {
        return Err(no_raid(&n.driver));
    }
    // An empty configuration clears the target without validation.
    if !config.is_empty() {
        raid::validate_target(&config, &iface).map_err(ApiError::BadRequest)?;
    }
    n.misc
        .insert("target_raid_config".into(), Value::Object(config));
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /v1/drivers/{name}/raid/logical_disk_properties`.
pub(crate) async fn logical_disk_properties(
    ctx: Ctx,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    if !ctx.version.at_least(RAID_VERSION) {
        return Err(ApiError::NotAcceptable);
    }
    // Every hardware type answers, whatever its RAID interface (no-raid included).
    if !DRIVERS.contains(&name.as_str()) {
        return Err(ApiError::NotFoundText(format!(
            "The driver '{name}' is unknown."
        )));
    }
    Ok(json_response(
        StatusCode::OK,
        &raid::logical_disk_properties(),
    ))
}
