//! Ironic's wire types: nodes, ports, JSON patches, provision and power requests, validation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::provisioner::{NodeView, PowerChange};

/// The `extra` key a registration's fingerprint is stored under.
pub const FINGERPRINT_KEY: &str = "registration_fingerprint";

/// An Ironic node as `GET /v1/nodes/{id}` returns it (the fields we use).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Node {
    pub uuid: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub driver: Option<String>,
    #[serde(default)]
    pub provision_state: Option<String>,
    #[serde(default)]
    pub target_provision_state: Option<String>,
    #[serde(default)]
    pub power_state: Option<String>,
    #[serde(default)]
    pub target_power_state: Option<String>,
    #[serde(default)]
    pub last_error: Option<String>,
    #[serde(default)]
    pub maintenance: bool,
    #[serde(default)]
    pub maintenance_reason: Option<String>,
    #[serde(default)]
    pub reservation: Option<String>,
    #[serde(default)]
    pub automated_clean: Option<bool>,
    #[serde(default)]
    pub driver_info: Option<Map<String, Value>>,
    #[serde(default)]
    pub instance_info: Option<Map<String, Value>>,
    #[serde(default)]
    pub properties: Option<Map<String, Value>>,
    #[serde(default)]
    pub extra: Option<Map<String, Value>>,
    /// Everything else, including the `*_interface` fields.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl Node {
    /// A top-level string field not modelled above (e.g. `boot_interface`).
    pub fn field(&self, name: &str) -> Option<&str> {
        self.other.get(name).and_then(Value::as_str)
    }

    /// The node's provision state (empty when Ironic omitted it).
    pub fn state(&self) -> &str {
        self.provision_state.as_deref().unwrap_or_default()
    }

    /// The state machine's view of this node.
    pub fn view(&self) -> NodeView {
        let info_str = |m: &Option<Map<String, Value>>, k: &str| {
            m.as_ref()
                .and_then(|m| m.get(k))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        NodeView {
            uuid: self.uuid.clone(),
            provision_state: self.state().to_string(),
            target_provision_state: self.target_provision_state.clone(),
            power_state: self.power_state.clone(),
            target_power_state: self.target_power_state.clone(),
            last_error: self.last_error.clone(),
            maintenance: self.maintenance,
            maintenance_reason: self.maintenance_reason.clone(),
            reservation: self.reservation.clone(),
            automated_clean: self.automated_clean,
            image_source: info_str(&self.instance_info, "image_source"),
            registration_fingerprint: info_str(&self.extra, FINGERPRINT_KEY),
        }
    }
}

/// An Ironic port.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Port {
    #[serde(default)]
    pub uuid: String,
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub node_uuid: Option<String>,
}

/// One RFC 6902 operation as Ironic's PATCH accepts it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PatchOp {
    pub op: &'static str,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

impl PatchOp {
    /// `add` (creates or overwrites a key inside a dict field).
    pub fn add(path: impl Into<String>, value: Value) -> PatchOp {
        PatchOp {
            op: "add",
            path: path.into(),
            value: Some(value),
        }
    }

    /// `replace` (top-level fields).
    pub fn replace(path: impl Into<String>, value: Value) -> PatchOp {
        PatchOp {
            op: "replace",
            path: path.into(),
            value: Some(value),
        }
    }

    /// `remove`.
    pub fn remove(path: impl Into<String>) -> PatchOp {
        PatchOp {
            op: "remove",
            path: path.into(),
            value: None,
        }
    }
}

/// The body of `PUT /v1/nodes/{id}/states/provision`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ProvisionRequest {
    pub target: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub configdrive: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deploy_steps: Option<Vec<Value>>,
}

impl ProvisionRequest {
    /// A bare verb: `manage`, `inspect`, `provide`, `deleted`, `adopt`, `abort`, ...
    pub fn target(target: &str) -> ProvisionRequest {
        ProvisionRequest {
            target: target.to_string(),
            ..ProvisionRequest::default()
        }
    }
}

/// The body of `PUT /v1/nodes/{id}/states/power`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PowerRequest {
    pub target: &'static str,
    /// Seconds Ironic waits for a soft power-off before failing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u32>,
}

/// Upstream's timeout for a soft power off.
pub const SOFT_POWER_OFF_TIMEOUT_SECS: u32 = 180;

impl From<PowerChange> for PowerRequest {
    fn from(change: PowerChange) -> PowerRequest {
        let (target, timeout) = match change {
            PowerChange::On => ("power on", None),
            PowerChange::Off => ("power off", None),
            PowerChange::SoftOff => ("soft power off", Some(SOFT_POWER_OFF_TIMEOUT_SECS)),
            PowerChange::Reboot => ("rebooting", None),
            PowerChange::SoftReboot => ("soft rebooting", None),
        };
        PowerRequest { target, timeout }
    }
}

/// One interface's result in `GET /v1/nodes/{id}/validate`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct InterfaceValidation {
    #[serde(default)]
    pub result: Option<bool>,
    #[serde(default)]
    pub reason: Option<String>,
}

/// `GET /v1/nodes/{id}/validate`: interface name → result.
pub type Validation = BTreeMap<String, InterfaceValidation>;

/// The failures among the named interfaces, as `iface: reason` lines; None when all passed.
pub fn validation_failures(validation: &Validation, interfaces: &[&str]) -> Option<String> {
    let failures: Vec<String> = interfaces
        .iter()
        .filter_map(|name| {
            let v = validation.get(*name)?;
            (v.result == Some(false)).then(|| {
                format!(
                    "{name}: {}",
                    v.reason.as_deref().unwrap_or("no reason given")
                )
            })
        })
        .collect();
    (!failures.is_empty()).then(|| failures.join("; "))
}
