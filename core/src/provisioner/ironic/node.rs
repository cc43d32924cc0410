//! Ironic's wire types: nodes, ports, JSON patches, provision and power requests, validation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::provisioner::{NodeView, PowerChange};

/// The `extra` key a registration's fingerprint is stored under.
pub const FINGERPRINT_KEY: &str = "registration_fingerprint";

/// An Ironic node as `GET /v1/nodes/{id}` returns it (the fields we use). Decoded straight from
/// the answer's bytes (see the `Deserialize` impl below): fields not modelled here are skipped
/// without being built, except the `*_interface` fields, kept in `other`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Node {
    pub uuid: String,
    pub name: Option<String>,
    pub driver: Option<String>,
    pub provision_state: Option<String>,
    pub target_provision_state: Option<String>,
    pub power_state: Option<String>,
    pub target_power_state: Option<String>,
    pub last_error: Option<String>,
    pub maintenance: bool,
    pub maintenance_reason: Option<String>,
    pub reservation: Option<String>,
    pub automated_clean: Option<bool>,
    pub driver_info: Option<Map<String, Value>>,
    pub instance_info: Option<Map<String, Value>>,
    pub properties: Option<Map<String, Value>>,
    pub extra: Option<Map<String, Value>>,
    /// The `*_interface` fields (`boot_interface`, `deploy_interface`, ...), as sent.
    pub other: Map<String, Value>,
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Node, D::Error> {
        deserializer.deserialize_map(NodeVisitor)
    }
}

/// Reads a node document key by key: each modelled field into its type, `*_interface` fields
/// into `other`, everything else skipped (no JSON tree is built for it).
struct NodeVisitor;

/// A map key, borrowed from the input when it can be (no allocation per field).
struct Key<'de>(std::borrow::Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Key<'de>, D::Error> {
        struct KeyVisitor;
        impl<'de> serde::de::Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a field name")
            }

            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Borrowed(v)))
            }

            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Owned(v.to_owned())))
            }

            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

impl<'de> serde::de::Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an Ironic node object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut node = Node::default();
        let mut uuid = None;
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            match key.as_ref() {
                "uuid" => uuid = Some(map.next_value()?),
                "name" => node.name = map.next_value()?,
                "driver" => node.driver = map.next_value()?,
                "provision_state" => node.provision_state = map.next_value()?,
                "target_provision_state" => node.target_provision_state = map.next_value()?,
                "power_state" => node.power_state = map.next_value()?,
                "target_power_state" => node.target_power_state = map.next_value()?,
                "last_error" => node.last_error = map.next_value()?,
                "maintenance" => node.maintenance = map.next_value()?,
                "maintenance_reason" => node.maintenance_reason = map.next_value()?,
                "reservation" => node.reservation = map.next_value()?,
                "automated_clean" => node.automated_clean = map.next_value()?,
                "driver_info" => node.driver_info = map.next_value()?,
                "instance_info" => node.instance_info = map.next_value()?,
                "properties" => node.properties = map.next_value()?,
                "extra" => node.extra = map.next_value()?,
                other if other.ends_with("_interface") => {
                    let value: Value = map.next_value()?;
                    node.other.insert(other.to_owned(), value);
                }
                _ => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        node.uuid = uuid.ok_or_else(|| serde::de::Error::missing_field("uuid"))?;
        Ok(node)
    }
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
    /// The steps of a manual clean (`target: clean`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clean_steps: Option<Vec<Value>>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_keeps_its_modelled_and_interface_fields_and_skips_the_rest() {
        let text = r#"{"uuid": "u-1", "name": "ns~h", "provision_state": "manageable",
            "maintenance": true, "reservation": null, "boot_interface": "ipxe",
            "extra": {"registration_fingerprint": "f"}, "instance_info": {"image_source": "i"},
            "driver_internal_info": {"deep": [1, {"x": null}]}, "links": [{"href": "h"}],
            "deploy\u005finterface": "direct"}"#;
        let node: Node = serde_json::from_str(text).expect("a node");
        assert_eq!(node.uuid, "u-1");
        assert_eq!(node.state(), "manageable");
        assert!(node.maintenance);
        assert_eq!(node.reservation, None);
        assert_eq!(node.field("boot_interface"), Some("ipxe"));
        // An escaped key is read as well as a borrowed one.
        assert_eq!(node.field("deploy_interface"), Some("direct"));
        assert_eq!(node.other.len(), 2, "{:?}", node.other);
        let view = node.view();
        assert_eq!(view.registration_fingerprint.as_deref(), Some("f"));
        assert_eq!(view.image_source.as_deref(), Some("i"));
        // The same node from a JSON tree (owned keys).
        let again: Node = serde_json::from_value(serde_json::from_str(text).expect("json"))
            .expect("a node from a value");
        assert_eq!(again, node);
    }

    #[test]
    fn a_node_without_a_uuid_or_with_a_wrong_type_is_refused() {
        assert!(serde_json::from_str::<Node>(r#"{"name": "n"}"#).is_err());
        assert!(serde_json::from_str::<Node>(r#"{"uuid": "u", "maintenance": "yes"}"#).is_err());
        assert!(serde_json::from_str::<Node>("[]").is_err());
    }
}
