//! Node hardware sub-resources: validation, maintenance, inventory, BIOS and virtual media.

use super::nodes::{Lock, body_object, found, found_mut, node_mut};
use super::{Ctx, NodeRequest, Store, json_response, json_text_response};
use crate::ironic::encoding::Doc;
use crate::ironic::error::ApiError;
use crate::ironic::model::Node;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

fn unsupported(driver: &str, feature: &str) -> Value {
    json!({"result": false, "reason": format!("Driver {driver} does not support {feature} (disabled or not implemented).")})
}

pub(crate) async fn validate(
    NodeRequest { s, ctx, ident }: NodeRequest,
) -> Result<Response, ApiError> {
    let (uuid, n, has_port) = {
        let store = s.lock();
        let n = found(&store, &ctx, &ident)?.clone();
        let has_port = store.ports.node_has_port(n.uuid);
        (n.uuid, n, has_port)
    };
    let ok = json!({"result": true});
    let mut d = Doc::new();
    if n.driver == "fake-hardware" {
        for i in ["boot", "deploy", "management", "network", "power"] {
            d.put(i, ok.clone());
        }
        d.put("bios", unsupported(&n.driver, "bios"));
        d.put("console", unsupported(&n.driver, "console"));
        d.put("firmware", unsupported(&n.driver, "firmware"));
        d.put("inspect", ok.clone());
        d.put("raid", unsupported(&n.driver, "raid"));
        d.put("rescue", unsupported(&n.driver, "rescue"));
        d.put("storage", ok);
    } else {
        let pxe = matches!(
            n.interfaces.get("boot").and_then(Value::as_str),
            Some("ipxe" | "pxe")
        );
        let missing: Vec<String> = ["deploy_kernel", "deploy_ramdisk"]
            .iter()
            .filter(|k| pxe && !n.driver_info.contains_key(**k))
            .map(|k| format!("'{k}'"))
            .collect();
        let boot = if !has_port {
            json!({"result": false, "reason": format!("Node {uuid} does not have any port associated with it")})
        } else if !missing.is_empty() {
            json!({"result": false, "reason": format!("Cannot validate PXE bootloader. Some parameters were missing in node's driver_info and configuration. Missing are: [{}]", missing.join(", "))})
        } else {
            ok.clone()
        };
        // The driver_info is parsed and the BMC passed through the egress gate, as a call would.
        let checked = s
            .gate
            .check_node(&uuid.to_string(), &n.driver, &n.driver_info)
            .await;
        let bmc = match checked {
            Ok(_) => ok.clone(),
            Err(reason) => json!({"result": false, "reason": reason}),
        };
        let redfish = n.driver == "redfish";
        let inspect = if redfish || has_port {
            ok.clone()
        } else {
            json!({"result": false, "reason": format!("Insufficient information provided for managed inspection: Node {uuid} does not have any port associated with it")})
        };
        d.put("boot", boot.clone());
        d.put("deploy", boot);
        d.put("management", bmc.clone());
        d.put("network", ok.clone());
        d.put("power", bmc);
        d.put(
            "bios",
            if redfish {
                ok.clone()
            } else {
                unsupported(&n.driver, "bios")
            },
        );
        d.put("console", unsupported(&n.driver, "console"));
        d.put("firmware", unsupported(&n.driver, "firmware"));
        d.put("inspect", inspect);
        d.put(
            "raid",
            if redfish {
                ok.clone()
            } else {
                unsupported(&n.driver, "raid")
            },
        );
        d.put("rescue", unsupported(&n.driver, "rescue"));
        d.put("storage", ok);
    }
    Ok(json_response(StatusCode::OK, &d))
}

pub(crate) async fn maintenance_on(
    NodeRequest { s, ctx, ident }: NodeRequest,
    body: Bytes,
) -> Result<Response, ApiError> {
    let reason = if body.is_empty() {
        None
    } else {
        body_object(&body, "maintenance")?
            .get("reason")
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let mut store = s.lock();
    let n = found_mut(&mut store, &ctx, &ident, Lock::Ignored)?;
    n.maintenance = true;
    n.maintenance_reason = reason;
    Ok(StatusCode::ACCEPTED.into_response())
}

pub(crate) async fn maintenance_off(
    NodeRequest { s, ctx, ident }: NodeRequest,
) -> Result<Response, ApiError> {
    let mut store = s.lock();
    let n = found_mut(&mut store, &ctx, &ident, Lock::Ignored)?;
    n.maintenance = false;
    n.maintenance_reason = None;
    n.fault = None;
    Ok(StatusCode::ACCEPTED.into_response())
}

pub(crate) async fn inventory(
    NodeRequest { s, ctx, ident }: NodeRequest,
) -> Result<Response, ApiError> {
    let store = s.lock();
    let n = found(&store, &ctx, &ident)?;
    match &n.inventory {
        Some(inv) => Ok(json_text_response(StatusCode::OK, inv.text())),
        None => Err(ApiError::InventoryNotFound(n.id)),
    }
}

/// The node `ident` names, when its driver has virtual media.
fn vmedia_node<'a>(
    store: &'a Store,
    ctx: &Ctx,
    ident: &str,
    feature: &str,
) -> Result<&'a Node, ApiError> {
    let n = found(store, ctx, ident)?;
    if n.driver == "fake-hardware" {
        return Err(ApiError::Unsupported {
            driver: n.driver.clone(),
            feature: feature.into(),
        });
    }
    Ok(n)
}

pub(crate) async fn vmedia_get(
    NodeRequest { s, ctx, ident }: NodeRequest,
) -> Result<Response, ApiError> {
    let store = s.lock();
    let media = vmedia_node(&store, &ctx, &ident, "get_virtual_media")?
        .vmedia
        .clone()
        .unwrap_or_else(|| json!({}));
    Ok(json_response(StatusCode::OK, &media))
}

pub(crate) async fn vmedia_attach(
    NodeRequest { s, ctx, ident }: NodeRequest,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req = body_object(&body, "vmedia")?;
    if req.get("image_url").and_then(Value::as_str).is_none() {
        return Err(ApiError::BadRequest(
            "Schema error for vmedia: 'image_url' is a required property".into(),
        ));
    }
    let mut store = s.lock();
    let uuid = vmedia_node(&store, &ctx, &ident, "attach_virtual_media")?.uuid;
    node_mut(&mut store, uuid, Lock::Respected)?.vmedia = Some(Value::Object(req));
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) async fn vmedia_detach(
    NodeRequest { s, ctx, ident }: NodeRequest,
) -> Result<Response, ApiError> {
    let mut store = s.lock();
    let uuid = vmedia_node(&store, &ctx, &ident, "detach_virtual_media")?.uuid;
    node_mut(&mut store, uuid, Lock::Respected)?.vmedia = None;
    Ok(StatusCode::NO_CONTENT.into_response())
}
