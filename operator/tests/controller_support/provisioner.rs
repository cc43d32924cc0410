//! An in-memory Provisioner double: a tiny Ironic whose transient states finish on the next
//! observation, recording every action it was asked to carry out.

use std::collections::BTreeMap;
use std::sync::Mutex;

use metal_operator::api::{AttributeType, SettingSchema};
use metal_operator::firmware::BiosSetting;
use metal_operator::provisioner::{
    Action, HostRef, NodeView, Observation, Outcome, PowerChange, Provisioner, ProvisionerError,
};
use serde_json::{Value, json};

/// One call the controller made.
#[derive(Clone, Debug)]
pub struct Call {
    pub host: String,
    pub action: &'static str,
    /// The password of a `Register`, so tests can see which credentials were used.
    pub password: Option<String>,
    /// The user data of a `Deploy`.
    pub user_data: Option<String>,
}

#[derive(Default)]
struct State {
    nodes: BTreeMap<String, NodeView>,
    calls: Vec<Call>,
    next_uuid: u32,
    /// Hosts whose node has been inspected (and so has an inventory).
    inspected: std::collections::BTreeSet<String>,
    /// Host name → message of a Rejected error returned for every `Register`.
    refuse_register: BTreeMap<String, String>,
    /// Host name → BIOS settings changed by manual cleaning (the rest are [`default_bios`]).
    bios: BTreeMap<String, BTreeMap<String, String>>,
}

/// Every node's BIOS settings before a clean changes them: an integer, an enumeration, a
/// read-only string.
pub fn default_bios() -> Vec<BiosSetting> {
    let schema = |t: AttributeType| SettingSchema {
        attribute_type: Some(t),
        read_only: Some(false),
        ..SettingSchema::default()
    };
    vec![
        BiosSetting {
            name: "AssetTag".into(),
            value: "fake".into(),
            schema: SettingSchema {
                read_only: Some(true),
                max_length: Some(16),
                ..schema(AttributeType::String)
            },
        },
        BiosSetting {
            name: "BootDelay".into(),
            value: "5".into(),
            schema: SettingSchema {
                lower_bound: Some(0),
                upper_bound: Some(30),
                ..schema(AttributeType::Integer)
            },
        },
        BiosSetting {
            name: "ProcTurboMode".into(),
            value: "Enabled".into(),
            schema: SettingSchema {
                allowable_values: vec!["Enabled".into(), "Disabled".into()],
                ..schema(AttributeType::Enumeration)
            },
        },
    ]
}

#[derive(Default)]
pub struct FakeProvisioner {
    state: Mutex<State>,
}

fn settle(node: &mut NodeView) {
    let manual = node.target_provision_state.as_deref() == Some("manageable");
    let next = match node.provision_state.as_str() {
        "cleaning" if manual => Some("manageable"),
        "verifying" | "inspecting" => Some("manageable"),
        "cleaning" | "deleting" => Some("available"),
        "deploying" | "adopting" => Some("active"),
        _ => None,
    };
    if let Some(next) = next {
        node.provision_state = next.to_owned();
        node.target_provision_state = None;
    }
}

impl FakeProvisioner {
    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().calls.clone()
    }

    pub fn count(&self, host: &str, action: &str) -> usize {
        self.calls()
            .iter()
            .filter(|c| c.host == host && c.action == action)
            .count()
    }

    /// Every `Register` for `host` is rejected with `message`.
    pub fn refuse_register(&self, host: &str, message: &str) {
        self.state
            .lock()
            .unwrap()
            .refuse_register
            .insert(host.to_owned(), message.to_owned());
    }
}

#[async_trait::async_trait]
impl Provisioner for FakeProvisioner {
    async fn observe(&self, host: &HostRef) -> Result<Observation, ProvisionerError> {
        let mut state = self.state.lock().unwrap();
        Ok(match state.nodes.get_mut(&host.name) {
            None => Observation::NotRegistered,
            Some(node) => {
                let seen = node.clone();
                settle(node);
                Observation::Node(seen)
            }
        })
    }

    async fn act(&self, host: &HostRef, action: &Action) -> Result<Outcome, ProvisionerError> {
        let mut state = self.state.lock().unwrap();
        let password = match action {
            Action::Register(r) => Some(r.credentials.password.clone()),
            _ => None,
        };
        let user_data = match action {
            Action::Deploy(d) => d.user_data.clone(),
            _ => None,
        };
        state.calls.push(Call {
            host: host.name.clone(),
            action: action.name(),
            password,
            user_data,
        });
        if let Action::Register(_) = action
            && let Some(message) = state.refuse_register.get(&host.name).cloned()
        {
            return Err(ProvisionerError::Rejected {
                operation: "create node",
                status: 400,
                message,
            });
        }
        if let Action::Register(r) = action {
            state.next_uuid += 1;
            let uuid = format!("0000-node-{}", state.next_uuid);
            let node = state
                .nodes
                .entry(host.name.clone())
                .or_insert_with(|| NodeView {
                    uuid,
                    provision_state: "enroll".into(),
                    power_state: Some("power off".into()),
                    ..NodeView::default()
                });
            node.registration_fingerprint = Some(r.fingerprint.clone());
            return Ok(Outcome::Accepted {
                node_id: Some(node.uuid.clone()),
            });
        }
        if matches!(action, Action::Delete | Action::Detach { .. }) {
            state.nodes.remove(&host.name);
            state.inspected.remove(&host.name);
            return Ok(Outcome::Accepted { node_id: None });
        }
        if matches!(action, Action::Inspect) && state.nodes.contains_key(&host.name) {
            state.inspected.insert(host.name.clone());
        }
        let Some(node) = state.nodes.get_mut(&host.name) else {
            return Err(ProvisionerError::Rejected {
                operation: action.name(),
                status: 404,
                message: format!("node {} could not be found", host.node_name()),
            });
        };
        let target = match action {
            Action::Manage => Some("verifying"),
            Action::Inspect => Some("inspecting"),
            Action::Provide => Some("cleaning"),
            Action::Deploy(_) => Some("deploying"),
            Action::Undeploy => Some("deleting"),
            Action::Adopt => Some("adopting"),
            Action::Abort => Some("manageable"),
            _ => None,
        };
        if let Some(t) = target {
            node.provision_state = t.to_owned();
            node.target_provision_state = None;
        }
        if let Action::Clean { steps, .. } = action {
            node.provision_state = "cleaning".into();
            node.target_provision_state = Some("manageable".into());
            let changed = state.bios.entry(host.name.clone()).or_default();
            let settings = steps
                .iter()
                .filter(|s| s["step"] == "apply_configuration")
                .flat_map(|s| {
                    s["args"]["settings"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                });
            for setting in settings {
                let value = match &setting["value"] {
                    Value::String(v) => v.clone(),
                    other => other.to_string(),
                };
                changed.insert(setting["name"].as_str().unwrap_or_default().into(), value);
            }
            return Ok(Outcome::Accepted {
                node_id: Some(state.nodes[&host.name].uuid.clone()),
            });
        }
        match action {
            Action::Power(PowerChange::On) => node.power_state = Some("power on".into()),
            Action::Power(PowerChange::Off | PowerChange::SoftOff) => {
                node.power_state = Some("power off".into())
            }
            Action::SetMaintenance { on, reason } => {
                node.maintenance = *on;
                node.maintenance_reason = reason.clone();
            }
            Action::SetAutomatedClean(v) => node.automated_clean = Some(*v),
            _ => {}
        }
        Ok(Outcome::Accepted {
            node_id: Some(node.uuid.clone()),
        })
    }

    async fn bios_settings(&self, host: &HostRef) -> Result<Vec<BiosSetting>, ProvisionerError> {
        let state = self.state.lock().unwrap();
        if !state.nodes.contains_key(&host.name) {
            return Err(ProvisionerError::Rejected {
                operation: "bios settings",
                status: 404,
                message: format!("node {} could not be found", host.node_name()),
            });
        }
        let changed = state.bios.get(&host.name);
        Ok(default_bios()
            .into_iter()
            .map(|mut s| {
                if let Some(v) = changed.and_then(|c| c.get(&s.name)) {
                    s.value = v.clone();
                }
                s
            })
            .collect())
    }

    async fn hardware_details(&self, host: &HostRef) -> Result<Value, ProvisionerError> {
        let state = self.state.lock().unwrap();
        if !state.inspected.contains(&host.name) {
            return Ok(Value::Null);
        }
        Ok(json!({
            "cpu": {"arch": "x86_64", "model": "Fake CPU", "clockMegahertz": 2400.0, "count": 4, "flags": []},
            "ramMebibytes": 8192,
            "hostname": host.name,
            "nics": [{"name": "eth0", "mac": "00:11:22:33:44:55", "ip": "192.0.2.10", "speedGbps": 10, "pxe": true, "model": "fake"}],
            "storage": [{"name": "/dev/sda", "sizeBytes": 107374182400_i64, "rotational": false, "type": "SSD"}],
            "systemVendor": {"manufacturer": "Fake", "productName": "Simulated", "serialNumber": "SN1"},
            "firmware": {"bios": {"vendor": "Fake", "version": "1.0", "date": "2024-01-01"}}
        }))
    }
}
