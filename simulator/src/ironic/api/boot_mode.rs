//! A node's boot mode and secure boot changes (`PUT /v1/nodes/{id}/states/boot_mode` and
//! `/states/secure_boot`, from 1.76), with Ironic 39's checks: the node first, then the
//! microversion, then the target; 202 and the change carried out by the conductor
//! (`Conductor::change_boot`).

use super::management::{flag, params};
use super::nodes::find;
use super::{AppState, NodeRequest, accepted};
use crate::ironic::conductor::{BmcOp, BootModeTarget};
use crate::ironic::encoding::python_repr;
use crate::ironic::error::ApiError;
use axum::Router;
use axum::body::Bytes;
use axum::response::Response;
use axum::routing::put;
use serde_json::Value;

/// The microversion that added both endpoints.
const BOOT_MODE_VERSION: u32 = 76;

/// The routes, merged into the API's router.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/nodes/{ident}/states/boot_mode",
            put(boot_mode).fallback(super::traits::not_allowed),
        )
        .route(
            "/v1/nodes/{ident}/states/secure_boot",
            put(secure_boot).fallback(super::traits::not_allowed),
        )
}

/// Checks the node and the microversion, turns the body's `target` into an operation with
/// `op`, and hands it to the conductor.
fn change(
    r: NodeRequest,
    body: &Bytes,
    op: impl FnOnce(&Value) -> Result<BmcOp, ApiError>,
) -> Result<Response, ApiError> {
    let NodeRequest { s, ctx, ident } = r;
    let now = s.now();
    {
        let mut store = s.lock();
        let uuid = find(&store, &ctx, &ident)?;
        if !ctx.version.at_least(BOOT_MODE_VERSION) {
            return Err(ApiError::NotFoundText(format!(
                "This endpoint is supported starting with the API version 1.{BOOT_MODE_VERSION}"
            )));
        }
        let body = params(body, &["target"], "target")?;
        let op = op(&body["target"])?;
        store.conductor.change_boot(uuid, op, now)?;
    }
    s.kick();
    Ok(accepted(&ctx, &ident))
}

/// `PUT /v1/nodes/{id}/states/boot_mode` with `{"target": "uefi" | "bios"}`.
async fn boot_mode(r: NodeRequest, body: Bytes) -> Result<Response, ApiError> {
    change(r, &body, |target| {
        target
            .as_str()
            .and_then(BootModeTarget::parse)
            .map(BmcOp::SetBootMode)
            .ok_or_else(|| {
                let shown = target
                    .as_str()
                    .map_or_else(|| python_repr(target), str::to_string);
                ApiError::BadRequest(format!(
                    "Invalid boot mode {shown} requested for node. Allowed boot modes are: bios, uefi"
                ))
            })
    })
}

/// `PUT /v1/nodes/{id}/states/secure_boot` with `{"target": true | false}`.
async fn secure_boot(r: NodeRequest, body: Bytes) -> Result<Response, ApiError> {
    change(r, &body, |target| {
        flag("target", target).map(BmcOp::SetSecureBoot)
    })
}
