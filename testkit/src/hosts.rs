//! BareMetalHost objects for tests, as JSON values (or YAML text): what a user or the API server
//! holds. Typed tests deserialize them into the API types (this crate cannot depend on
//! `metal-operator`, whose own tests depend on it).
//!
//! ```ignore
//! let h = Bmh::new("worker-0").namespace("lab").labels(json!({"rack": "r1"}))
//!     .bmc("ipmi://127.0.0.1:623", "bmc").state("available").json();
//! ```

use serde_json::{Map, Value, json};

/// The apiVersion of BareMetalHost.
pub const API_VERSION: &str = "metal3.io/v1alpha1";
/// The default BMC address of [`Bmh::new`].
pub const BMC_ADDRESS: &str = "ipmi://127.0.0.1";
/// The default BMC credentials Secret of [`Bmh::new`].
pub const BMC_SECRET: &str = "bmc";

/// A BareMetalHost being built.
#[derive(Debug, Clone, PartialEq)]
pub struct Bmh(Value);

impl Bmh {
    /// A host named `name`: `online: false`, BMC [`BMC_ADDRESS`] with Secret [`BMC_SECRET`], no
    /// namespace, no status.
    pub fn new(name: &str) -> Bmh {
        Bmh(json!({
            "apiVersion": API_VERSION,
            "kind": "BareMetalHost",
            "metadata": {"name": name},
            "spec": {"online": false, "bmc": {"address": BMC_ADDRESS, "credentialsName": BMC_SECRET}},
        }))
    }

    /// The host's namespace.
    pub fn namespace(self, namespace: &str) -> Bmh {
        self.set("/metadata/namespace", json!(namespace))
    }

    /// The host's labels (an object).
    pub fn labels(self, labels: Value) -> Bmh {
        self.set("/metadata/labels", labels)
    }

    /// The BMC address and the name of its credentials Secret.
    pub fn bmc(self, address: &str, credentials: &str) -> Bmh {
        self.set(
            "/spec/bmc",
            json!({"address": address, "credentialsName": credentials}),
        )
    }

    /// `spec.online`.
    pub fn online(self, online: bool) -> Bmh {
        self.set("/spec/online", json!(online))
    }

    /// `spec.bootMACAddress`.
    pub fn boot_mac(self, mac: &str) -> Bmh {
        self.set("/spec/bootMACAddress", json!(mac))
    }

    /// `spec.externallyProvisioned`.
    pub fn externally_provisioned(self, external: bool) -> Bmh {
        self.set("/spec/externallyProvisioned", json!(external))
    }

    /// A status as the operator writes it for a host in provisioning `state` (operational,
    /// no error, no Ironic ID), powered on or off as `spec.online` says.
    pub fn state(self, state: &str) -> Bmh {
        let on = self.0["spec"]["online"].as_bool().unwrap_or(false);
        self.set(
            "/status",
            json!({"operationalStatus": "OK", "provisioning": {"state": state, "ID": ""},
                   "errorMessage": "", "poweredOn": on, "errorCount": 0}),
        )
    }

    /// Sets the value at a JSON pointer (`/spec/image`), creating the objects on its way.
    pub fn set(mut self, pointer: &str, value: Value) -> Bmh {
        let mut at = &mut self.0;
        let mut keys = pointer.split('/').skip(1).peekable();
        while let Some(key) = keys.next() {
            if !at.is_object() {
                *at = Value::Object(Map::new());
            }
            let Value::Object(map) = at else {
                unreachable!("made an object above")
            };
            if keys.peek().is_none() {
                map.insert(key.to_owned(), value);
                return self;
            }
            at = map.entry(key.to_owned()).or_insert(Value::Null);
        }
        self.0 = value;
        self
    }

    /// Removes the field at a JSON pointer (e.g. `/apiVersion` for objects stored without one).
    pub fn without(mut self, pointer: &str) -> Bmh {
        if let Some((parent, key)) = pointer.rsplit_once('/')
            && let Some(Value::Object(map)) = self.0.pointer_mut(parent)
        {
            map.remove(key);
        }
        self
    }

    /// The host as JSON.
    pub fn json(self) -> Value {
        self.0
    }

    /// The host as a YAML document.
    pub fn yaml(&self) -> String {
        serde_yaml::to_string(&self.0).expect("a JSON value is YAML")
    }
}

impl From<Bmh> for Value {
    fn from(b: Bmh) -> Value {
        b.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_is_built_field_by_field() {
        let h = Bmh::new("w0")
            .namespace("lab")
            .labels(json!({"rack": "r1"}))
            .bmc("redfish://192.0.2.1/redfish/v1/Systems/1", "w0-bmc")
            .online(true)
            .boot_mac("00:11:22:33:44:55")
            .state("available")
            .set("/spec/image/url", json!("http://127.0.0.1/os.img"))
            .json();
        assert_eq!(
            h,
            json!({
                "apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalHost",
                "metadata": {"name": "w0", "namespace": "lab", "labels": {"rack": "r1"}},
                "spec": {"online": true, "bootMACAddress": "00:11:22:33:44:55",
                    "bmc": {"address": "redfish://192.0.2.1/redfish/v1/Systems/1", "credentialsName": "w0-bmc"},
                    "image": {"url": "http://127.0.0.1/os.img"}},
                "status": {"operationalStatus": "OK", "provisioning": {"state": "available", "ID": ""},
                    "errorMessage": "", "poweredOn": true, "errorCount": 0},
            })
        );
    }

    #[test]
    fn yaml_and_removal() {
        let b = Bmh::new("w1").without("/apiVersion").without("/kind");
        assert_eq!(b.0.get("apiVersion"), None);
        let yaml = Bmh::new("w1").namespace("ns").yaml();
        assert!(
            yaml.starts_with("apiVersion: metal3.io/v1alpha1\nkind: BareMetalHost\n"),
            "{yaml}"
        );
        let back: Value = serde_yaml::from_str(&yaml).unwrap();
        assert_eq!(back, Bmh::new("w1").namespace("ns").json());
    }
}
