//! The node bodies and JSON patches the provisioner writes: a registration's desired node,
//! the patch that brings an existing node to it, and a deployment's instance_info.

use serde_json::{Map, Value, json};

use super::node::{FINGERPRINT_KEY, Node, PatchOp};
use crate::bmc::{BmcAddress, DeployImages, SECRET_DRIVER_INFO_KEYS};
use crate::provisioner::{Deployment, HostRef, ProvisionerError, Registration};

/// Provision states in which Ironic accepts changes to a node's driver and interfaces.
const RECONFIGURABLE_STATES: [&str; 5] = [
    "enroll",
    "manageable",
    "available",
    "inspect failed",
    "clean failed",
];

/// Ironic's capability string for a boot mode.
fn boot_capabilities(boot_mode: &str) -> &'static str {
    match boot_mode {
        "UEFISecureBoot" => "boot_mode:uefi,secure_boot:true",
        "legacy" => "boot_mode:bios",
        _ => "boot_mode:uefi",
    }
}

/// The full node body a registration asks for (the `POST /v1/nodes` body).
pub(super) fn desired_node(
    host: &HostRef,
    reg: &Registration,
    images: &DeployImages,
) -> Result<Value, ProvisionerError> {
    let invalid = |m: String| ProvisionerError::InvalidBmc(m);
    let bmc = BmcAddress::parse(&reg.bmc_address).map_err(|e| invalid(e.to_string()))?;
    let scheme = bmc.kind.scheme();
    if bmc.needs_mac() && reg.boot_mac.as_deref().is_none_or(str::is_empty) {
        return Err(invalid(format!(
            "BMC driver {scheme} requires a BootMACAddress value"
        )));
    }
    if reg.boot_mode == "UEFISecureBoot" && !bmc.supports_secure_boot() {
        return Err(invalid(format!(
            "BMC driver {scheme} does not support secure boot"
        )));
    }
    let inspect = bmc
        .inspect_interface(reg.inspect_mode)
        .map_err(|e| invalid(e.to_string()))?;
    let mut body = Map::new();
    body.insert("name".into(), Value::String(host.node_name()));
    body.insert("driver".into(), Value::String(bmc.driver().to_string()));
    for (field, value) in bmc.interfaces().fields() {
        body.insert(field.into(), Value::String(value.to_string()));
    }
    body.insert(
        "inspect_interface".into(),
        Value::String(inspect.to_string()),
    );
    body.insert(
        "driver_info".into(),
        Value::Object(bmc.driver_info(
            &reg.credentials,
            reg.disable_certificate_verification,
            images,
        )),
    );
    let mut properties = Map::new();
    properties.insert(
        "capabilities".into(),
        Value::String(boot_capabilities(&reg.boot_mode).to_string()),
    );
    if let Some(arch) = reg.architecture.as_deref().filter(|a| !a.is_empty()) {
        properties.insert("cpu_arch".into(), Value::String(arch.to_string()));
    }
    body.insert("properties".into(), Value::Object(properties));
    body.insert(
        "extra".into(),
        json!({ FINGERPRINT_KEY: reg.fingerprint.clone() }),
    );
    body.insert("automated_clean".into(), Value::Bool(reg.automated_clean));
    Ok(Value::Object(body))
}

/// The JSON patch that brings an existing node to the desired registration.
pub(super) fn registration_patch(node: &Node, desired: &Value) -> Vec<PatchOp> {
    let mut ops = Vec::new();
    if node.name.as_deref() != desired["name"].as_str() {
        ops.push(PatchOp::replace("/name", desired["name"].clone()));
    }
    if RECONFIGURABLE_STATES.contains(&node.state()) {
        if node.driver.as_deref() != desired["driver"].as_str() {
            ops.push(PatchOp::replace("/driver", desired["driver"].clone()));
        }
        if let Some(fields) = desired.as_object() {
            for (field, value) in fields.iter().filter(|(k, _)| k.ends_with("_interface")) {
                if node.field(field) != value.as_str() {
                    ops.push(PatchOp::replace(format!("/{field}"), value.clone()));
                }
            }
        }
    }
    let fingerprint = node
        .extra
        .as_ref()
        .and_then(|e| e.get(FINGERPRINT_KEY))
        .and_then(Value::as_str);
    let desired_fingerprint = desired["extra"][FINGERPRINT_KEY].as_str();
    if fingerprint != desired_fingerprint {
        // Credentials or address changed: Ironic masks passwords on read, so replace it all.
        ops.push(PatchOp::replace(
            "/driver_info",
            desired["driver_info"].clone(),
        ));
        ops.push(PatchOp::add(
            format!("/extra/{FINGERPRINT_KEY}"),
            desired["extra"][FINGERPRINT_KEY].clone(),
        ));
    } else if let Some(info) = desired["driver_info"].as_object() {
        let current = node.driver_info.clone().unwrap_or_default();
        for (k, v) in info {
            if !SECRET_DRIVER_INFO_KEYS.contains(&k.as_str()) && current.get(k) != Some(v) {
                ops.push(PatchOp::add(format!("/driver_info/{k}"), v.clone()));
            }
        }
    }
    if node.automated_clean != desired["automated_clean"].as_bool() {
        ops.push(PatchOp::replace(
            "/automated_clean",
            desired["automated_clean"].clone(),
        ));
    }
    let props = node.properties.clone().unwrap_or_default();
    if let Some(want) = desired["properties"].as_object() {
        for (k, v) in want {
            if props.get(k) != Some(v) {
                ops.push(PatchOp::add(format!("/properties/{k}"), v.clone()));
            }
        }
    }
    ops
}

/// The JSON patch that writes a deployment's image into the node before `active`.
pub(super) fn deploy_patch(node: &Node, d: &Deployment) -> Vec<PatchOp> {
    let mut ops = Vec::new();
    let live_iso = d.format.as_deref() == Some("live-iso");
    if !d.image_url.is_empty() {
        if live_iso {
            ops.push(PatchOp::add(
                "/instance_info/boot_iso",
                Value::String(d.image_url.clone()),
            ));
        } else {
            ops.push(PatchOp::add(
                "/instance_info/image_source",
                Value::String(d.image_url.clone()),
            ));
            if let Some(format) = d.format.as_deref() {
                ops.push(PatchOp::add(
                    "/instance_info/image_disk_format",
                    Value::String(format.to_string()),
                ));
            }
        }
    }
    if let Some(checksum) = d.checksum.as_deref().filter(|c| !c.is_empty()) {
        match d.checksum_type.as_deref() {
            Some(algo @ ("sha256" | "sha512")) => {
                ops.push(PatchOp::add(
                    "/instance_info/image_os_hash_algo",
                    Value::String(algo.into()),
                ));
                ops.push(PatchOp::add(
                    "/instance_info/image_os_hash_value",
                    Value::String(checksum.to_string()),
                ));
            }
            _ => ops.push(PatchOp::add(
                "/instance_info/image_checksum",
                Value::String(checksum.to_string()),
            )),
        }
    }
    let current = node.field("deploy_interface");
    let wanted = if d.custom_deploy.is_some() {
        Some("custom-agent")
    } else if live_iso {
        Some("ramdisk")
    } else if matches!(current, Some("ramdisk" | "custom-agent")) {
        Some("direct")
    } else {
        None
    };
    if let Some(w) = wanted.filter(|w| current != Some(*w)) {
        ops.push(PatchOp::replace(
            "/deploy_interface",
            Value::String(w.to_string()),
        ));
    }
    // In the instance's information, as upstream does: Ironic prefers it to the node's
    // properties, and undeploying clears it with the rest of the instance.
    if let Some(hints) = &d.root_device_hints {
        ops.push(PatchOp::add("/instance_info/root_device", hints.clone()));
    }
    ops
}
