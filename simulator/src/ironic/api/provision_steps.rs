//! The steps a `states/provision` request carries: `clean_steps` for `clean`, `service_steps` for
//! `service` (1.87), each refused where Ironic refuses it, with its texts.

use super::Ctx;
use crate::ironic::error::ApiError;
use serde_json::{Map, Value};

/// The microversion the `service` verb appeared in.
const SERVICE_VERSION: u32 = 87;

fn list(req: &Map<String, Value>, key: &str) -> Result<Option<Vec<Value>>, ApiError> {
    match req.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => Ok(Some(a.clone())),
        Some(other) => Err(ApiError::BadRequest(format!(
            "Invalid {key}: {other} is not a list"
        ))),
    }
}

/// The requested steps for `target`, or Ironic's refusal.
pub(crate) fn requested(
    req: &Map<String, Value>,
    target: &str,
    ctx: &Ctx,
) -> Result<Option<Vec<Value>>, ApiError> {
    let clean = list(req, "clean_steps")?;
    let service = list(req, "service_steps")?;
    if clean.as_ref().is_some_and(|s| !s.is_empty()) && target != "clean" {
        return Err(ApiError::BadRequest(
            "\"clean_steps\" is only valid when setting target provision state to clean".into(),
        ));
    }
    if service.as_ref().is_some_and(|s| !s.is_empty()) && target != "service" {
        return Err(ApiError::BadRequest(
            "\"service_steps\" is only valid when setting target provision state to service".into(),
        ));
    }
    if target == "service" {
        if !ctx.version.at_least(SERVICE_VERSION) {
            return Err(ApiError::NotAcceptable);
        }
        return Ok(service);
    }
    Ok(clean)
}
