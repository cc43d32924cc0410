//! The operator's provisioner view carried out in-process against the mock Ironic's conductor.
//!
//! In wire mode the operator's `IronicProvisioner` turns each [`Action`] into HTTP requests and the
//! mock's API handlers turn those into changes of the conductor's node records. Here one adapter
//! does both halves: it looks nodes up as the provisioner does (UUID, then `namespace~name`, then
//! the boot MAC's port), builds the same node body and patches, validates like the mock's
//! `validate` endpoint, and starts provision and power jobs through the same
//! [`Conductor::provision`] and [`Conductor::power`] calls, with the same refusals (invalid state,
//! node locked, delete in a busy state).
//!
//! Every node lives in a [`Conductor`] of its own: a conductor's jobs are per node, and one
//! conductor per node keeps each step O(1) however large the fleet. Ironic API faults (5xx
//! answers, an unavailable API) are drawn here from the engine's seeded stream.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use metal_operator::bmc::{BmcAddress, DeployImages, SECRET_DRIVER_INFO_KEYS};
use metal_operator::provisioner::ironic::{FINGERPRINT_KEY, config_drive, hardware_details};
use metal_operator::provisioner::{
    Action, Deployment, HostRef, NodeView, Observation, Outcome, PowerChange, ProvisionerError,
    Registration,
};

use crate::fault::Window;
use crate::ironic::conductor::{Conductor, Settings as ConductorSettings};
use crate::ironic::error::ApiError;
use crate::ironic::model::{DRIVERS, Node, ProvisionState, default_interface};
use crate::ironic::version::MAX as MAX_VERSION;
use crate::machine::SimTime;

/// Provision states in which Ironic accepts changes to a node's driver and interfaces.
const RECONFIGURABLE: [ProvisionState; 5] = [
    ProvisionState::Enroll,
    ProvisionState::Manageable,
    ProvisionState::Available,
    ProvisionState::InspectFailed,
    ProvisionState::CleanFailed,
];
/// Provision states in which the provisioner waits before removing a node.
const BUSY: [&str; 9] = [
    "verifying",
    "cleaning",
    "deploying",
    "deleting",
    "inspecting",
    "adopting",
    "rescuing",
    "servicing",
    "unrescuing",
];
/// Provision states that wait for an agent and can be aborted.
const WAITING: [&str; 5] = [
    "wait call-back",
    "clean wait",
    "inspect wait",
    "rescue wait",
    "service wait",
];

/// Faults of the Ironic API itself (not of a BMC).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IronicFaults {
    /// Fraction (0..=1) of API requests answered with `status`.
    pub http_5xx_rate: f64,
    /// The status of injected failures (default 503).
    pub status: Option<u16>,
    /// Windows in which the API does not answer at all.
    pub unavailable: Vec<Window>,
}

/// The mock Ironic, in-process.
#[derive(Debug)]
pub struct InProcessIronic {
    settings: ConductorSettings,
    images: DeployImages,
    /// Every node, each in a conductor of its own.
    nodes: BTreeMap<Uuid, Conductor>,
    by_name: BTreeMap<String, Uuid>,
    /// Normalised MAC → node.
    ports: BTreeMap<String, Uuid>,
    rng: ChaCha8Rng,
    next_id: u64,
    faults: IronicFaults,
    fault_rng: ChaCha8Rng,
    /// API requests answered (faults included).
    pub requests: u64,
}

fn rejected(operation: &'static str, e: &ApiError) -> ProvisionerError {
    ProvisionerError::Rejected {
        operation,
        status: e.status().as_u16(),
        message: e.to_string(),
    }
}

fn normalise_mac(mac: &str) -> String {
    mac.trim().to_ascii_lowercase().replace('-', ":")
}

fn capabilities(boot_mode: &str) -> &'static str {
    match boot_mode {
        "UEFISecureBoot" => "boot_mode:uefi,secure_boot:true",
        "legacy" => "boot_mode:bios",
        _ => "boot_mode:uefi",
    }
}

/// The state machine's view of a node record.
pub fn node_view(n: &Node) -> NodeView {
    let info =
        |m: &Map<String, Value>, k: &str| m.get(k).and_then(Value::as_str).map(str::to_owned);
    NodeView {
        uuid: n.uuid.to_string(),
        provision_state: n.provision_state.as_str().to_owned(),
        target_provision_state: n.target_provision_state.map(|s| s.as_str().to_owned()),
        power_state: n.power_state.map(|p| p.as_str().to_owned()),
        target_power_state: n.target_power_state.map(|p| p.as_str().to_owned()),
        last_error: n.last_error.clone(),
        maintenance: n.maintenance,
        maintenance_reason: n.maintenance_reason.clone(),
        reservation: n.reservation.clone(),
        automated_clean: n.misc.get("automated_clean").and_then(Value::as_bool),
        image_source: info(&n.instance_info, "image_source"),
        registration_fingerprint: info(&n.extra, FINGERPRINT_KEY),
    }
}

impl InProcessIronic {
    /// An Ironic with no nodes. `rng` drives node UUIDs, `fault_rng` the API fault draws.
    pub fn new(
        settings: ConductorSettings,
        images: DeployImages,
        rng: ChaCha8Rng,
        fault_rng: ChaCha8Rng,
    ) -> Self {
        InProcessIronic {
            settings,
            images,
            nodes: BTreeMap::new(),
            by_name: BTreeMap::new(),
            ports: BTreeMap::new(),
            rng,
            next_id: 0,
            faults: IronicFaults::default(),
            fault_rng,
            requests: 0,
        }
    }

    /// Replaces the API faults.
    pub fn set_faults(&mut self, faults: IronicFaults) {
        self.faults = faults;
    }

    /// The current API faults.
    pub fn faults(&self) -> &IronicFaults {
        &self.faults
    }

    /// The conductor holding node `uuid`.
    pub fn conductor_mut(&mut self, uuid: Uuid) -> Option<&mut Conductor> {
        self.nodes.get_mut(&uuid)
    }

    /// The node record `uuid`.
    pub fn node(&self, uuid: Uuid) -> Option<&Node> {
        self.nodes.get(&uuid).and_then(|c| c.nodes.get(&uuid))
    }

    /// Every node UUID, in order.
    pub fn node_ids(&self) -> impl Iterator<Item = Uuid> + '_ {
        self.nodes.keys().copied()
    }

    /// The host's node, by UUID or name, without an API request (for the engine's bookkeeping).
    pub fn locate(&self, host: &HostRef) -> Option<Uuid> {
        host.node_id
            .as_deref()
            .and_then(|id| self.by_ident(id))
            .or_else(|| self.by_name.get(&host.node_name()).copied())
    }

    /// The node one of these MACs belongs to (the agent's lookup by `addresses`).
    pub fn node_by_macs(&self, macs: &[String]) -> Option<Uuid> {
        macs.iter()
            .find_map(|m| self.ports.get(&normalise_mac(m)).copied())
    }

    /// The node whose BMC address (`ipmi_address`, or the host of `redfish_address`) is `host`
    /// (how `continue_inspection` finds a node whose ports are unknown). A linear scan.
    pub fn node_by_bmc_host(&self, host: &str) -> Option<Uuid> {
        self.nodes.iter().find_map(|(uuid, c)| {
            let n = c.nodes.get(uuid)?;
            let info = &n.driver_info;
            let found = if let Some(a) = info.get("ipmi_address").and_then(Value::as_str) {
                a == host
            } else {
                let raw = info.get("redfish_address").and_then(Value::as_str)?;
                let with_scheme = if raw.contains("://") {
                    raw.to_owned()
                } else {
                    format!("https://{raw}")
                };
                url::Url::parse(&with_scheme)
                    .ok()
                    .and_then(|u| u.host_str().map(|h| h.trim_matches(['[', ']']) == host))
                    .unwrap_or(false)
            };
            found.then_some(*uuid)
        })
    }

    /// A fresh agent token for the node, or `None` when it already has one (the API then
    /// answers `******`, and only the agent that got the token knows it).
    pub fn issue_token(&mut self, uuid: Uuid) -> Option<String> {
        let bytes: [u8; 24] = self.rng.random();
        let fresh: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let n = self.nodes.get_mut(&uuid)?.nodes.get_mut(&uuid)?;
        if n.agent.token.is_some() {
            return None;
        }
        n.agent.token = Some(fresh.clone());
        Some(fresh)
    }

    /// Creates the ports inspection discovered on node `uuid` that are not known yet.
    pub fn adopt_discovered_ports(&mut self, uuid: Uuid) {
        let found = match self.nodes.get_mut(&uuid) {
            Some(c) => c.take_discovered_ports(),
            None => return,
        };
        for p in found {
            self.ports
                .entry(normalise_mac(&p.address))
                .or_insert(p.node);
        }
    }

    /// Draws the API fault for one request at `now`.
    fn request(&mut self, operation: &'static str, now: SimTime) -> Result<(), ProvisionerError> {
        self.requests += 1;
        if self.faults.unavailable.iter().any(|w| w.contains(now)) {
            return Err(ProvisionerError::Unreachable {
                operation,
                message: "connection refused (the Ironic API is down)".into(),
            });
        }
        let rate = self.faults.http_5xx_rate;
        let hit = if rate >= 1.0 {
            true
        } else if rate > 0.0 {
            self.fault_rng.random_bool(rate)
        } else {
            false
        };
        if hit {
            let status = self.faults.status.unwrap_or(503);
            return Err(ProvisionerError::Rejected {
                operation,
                status,
                message: format!("HTTP {status}: injected Ironic API failure"),
            });
        }
        Ok(())
    }

    fn by_ident(&self, ident: &str) -> Option<Uuid> {
        Uuid::parse_str(ident)
            .ok()
            .filter(|u| self.nodes.contains_key(u))
            .or_else(|| self.by_name.get(ident).copied())
    }

    /// Finds the host's node as the provisioner does: UUID, name, then boot MAC.
    fn find(&mut self, host: &HostRef, now: SimTime) -> Result<Option<Uuid>, ProvisionerError> {
        if let Some(id) = host.node_id.as_deref().filter(|id| !id.is_empty()) {
            self.request("get node", now)?;
            if let Some(u) = self.by_ident(id) {
                return Ok(Some(u));
            }
        }
        let name = host.node_name();
        self.request("get node", now)?;
        if let Some(u) = self.by_name.get(&name) {
            return Ok(Some(*u));
        }
        let Some(mac) = host.boot_mac.as_deref().filter(|m| !m.is_empty()) else {
            return Ok(None);
        };
        self.request("find port", now)?;
        let Some(&uuid) = self.ports.get(&normalise_mac(mac)) else {
            return Ok(None);
        };
        self.request("get node", now)?;
        match self.node(uuid).and_then(|n| n.name.clone()) {
            Some(other) if !other.is_empty() && other != name => Err(ProvisionerError::Rejected {
                operation: "lookup",
                status: 409,
                message: format!("MAC address {mac} conflicts with existing node {other} ({uuid})"),
            }),
            _ => Ok(Some(uuid)),
        }
    }

    fn require(
        &mut self,
        host: &HostRef,
        operation: &'static str,
        now: SimTime,
    ) -> Result<Uuid, ProvisionerError> {
        self.find(host, now)?
            .ok_or_else(|| ProvisionerError::Rejected {
                operation,
                status: 404,
                message: format!("no Ironic node for host {}", host.node_name()),
            })
    }

    /// The provisioner's `observe`.
    pub fn observe(&mut self, host: &HostRef, now: SimTime) -> Observation {
        match self.find(host, now) {
            Ok(Some(uuid)) => match self.node(uuid) {
                Some(n) => Observation::Node(node_view(n)),
                None => Observation::NotRegistered,
            },
            Ok(None) => Observation::NotRegistered,
            Err(e @ ProvisionerError::Unreachable { .. }) => {
                Observation::Unavailable(e.to_string())
            }
            Err(e @ ProvisionerError::Rejected { status, .. }) if status >= 500 => {
                Observation::Unavailable(e.to_string())
            }
            // A MAC conflict: the wire provisioner's error makes the reconcile fail and retry.
            Err(e) => Observation::Unavailable(e.to_string()),
        }
    }

    /// The provisioner's `hardware_details`: the inventory as `status.hardware` JSON, or
    /// `Null` when the node has none.
    pub fn hardware_details(
        &mut self,
        host: &HostRef,
        now: SimTime,
    ) -> Result<Value, ProvisionerError> {
        let uuid = self.node_id(host, "inventory", now)?;
        self.request("inventory", now)?;
        Ok(match self.node(uuid).and_then(|n| n.inventory.as_ref()) {
            Some(data) => hardware_details(&data["inventory"], &data["plugin_data"]),
            None => Value::Null,
        })
    }

    fn node_id(
        &mut self,
        host: &HostRef,
        operation: &'static str,
        now: SimTime,
    ) -> Result<Uuid, ProvisionerError> {
        match host.node_id.as_deref().filter(|id| !id.is_empty()) {
            Some(id) => self.by_ident(id).ok_or_else(|| {
                let e = ApiError::NodeNotFound(id.to_owned());
                rejected(operation, &e)
            }),
            None => self.require(host, operation, now),
        }
    }

    /// The provisioner's `act`: a locked node is [`Outcome::Busy`].
    pub fn act(
        &mut self,
        host: &HostRef,
        action: &Action,
        now: SimTime,
        wall: DateTime<Utc>,
    ) -> Result<Outcome, ProvisionerError> {
        match self.act_inner(host, action, now, wall) {
            Err(ProvisionerError::Rejected {
                status: 409,
                message,
                ..
            }) if message.contains("is locked by host") => Ok(Outcome::Busy),
            other => other,
        }
    }

    fn act_inner(
        &mut self,
        host: &HostRef,
        action: &Action,
        now: SimTime,
        wall: DateTime<Utc>,
    ) -> Result<Outcome, ProvisionerError> {
        let verb = |s: &mut Self, target: &'static str| -> Result<Outcome, ProvisionerError> {
            let uuid = s.node_id(host, target, now)?;
            s.provision(uuid, target, now, wall)?;
            Ok(Outcome::Accepted {
                node_id: Some(uuid.to_string()),
            })
        };
        match action {
            Action::Register(reg) => self.register(host, reg, now, wall),
            Action::Manage => verb(self, "manage"),
            Action::Inspect => verb(self, "inspect"),
            Action::Provide => verb(self, "provide"),
            Action::Undeploy => verb(self, "deleted"),
            Action::Adopt => verb(self, "adopt"),
            Action::Abort => verb(self, "abort"),
            Action::Deploy(d) => self.deploy(host, d, now, wall),
            Action::Power(change) => {
                let uuid = self.node_id(host, "power", now)?;
                self.request("power", now)?;
                let target = match change {
                    PowerChange::On => "power on",
                    PowerChange::Off => "power off",
                    PowerChange::SoftOff => "soft power off",
                    PowerChange::Reboot => "rebooting",
                    PowerChange::SoftReboot => "soft rebooting",
                };
                let conductor = self.conductor(uuid, "power")?;
                conductor
                    .power(&uuid.to_string(), uuid, target, wall)
                    .map_err(|e| rejected("power", &e))?;
                Ok(Outcome::Accepted {
                    node_id: Some(uuid.to_string()),
                })
            }
            Action::SetMaintenance { on, reason } => {
                let uuid = self.node_id(host, "maintenance", now)?;
                self.request("maintenance", now)?;
                let n = self.node_mut(uuid, "maintenance")?;
                n.maintenance = *on;
                n.maintenance_reason = if *on { reason.clone() } else { None };
                if !*on {
                    n.fault = None;
                }
                Ok(Outcome::Accepted {
                    node_id: Some(uuid.to_string()),
                })
            }
            Action::SetAutomatedClean(on) => {
                let uuid = self.node_id(host, "automated_clean", now)?;
                self.request("patch node", now)?;
                self.ensure_unlocked(uuid, "patch node")?;
                let n = self.node_mut(uuid, "patch node")?;
                n.misc.insert("automated_clean".into(), Value::Bool(*on));
                n.updated_at = Some(wall);
                Ok(Outcome::Accepted {
                    node_id: Some(uuid.to_string()),
                })
            }
            Action::Detach { force } => self.remove(host, *force, now, wall),
            Action::Delete => self.remove(host, false, now, wall),
        }
    }

    fn conductor(
        &mut self,
        uuid: Uuid,
        operation: &'static str,
    ) -> Result<&mut Conductor, ProvisionerError> {
        self.nodes
            .get_mut(&uuid)
            .ok_or_else(|| rejected(operation, &ApiError::NodeNotFound(uuid.to_string())))
    }

    fn node_mut(
        &mut self,
        uuid: Uuid,
        operation: &'static str,
    ) -> Result<&mut Node, ProvisionerError> {
        self.conductor(uuid, operation)?
            .nodes
            .get_mut(&uuid)
            .ok_or_else(|| rejected(operation, &ApiError::NodeNotFound(uuid.to_string())))
    }

    fn ensure_unlocked(
        &mut self,
        uuid: Uuid,
        operation: &'static str,
    ) -> Result<(), ProvisionerError> {
        self.conductor(uuid, operation)?
            .ensure_unlocked(uuid)
            .map_err(|e| rejected(operation, &e))
    }

    fn provision(
        &mut self,
        uuid: Uuid,
        target: &'static str,
        now: SimTime,
        wall: DateTime<Utc>,
    ) -> Result<(), ProvisionerError> {
        self.request("set provision state", now)?;
        self.conductor(uuid, "set provision state")?
            .provision(uuid, target, None, wall)
            .map_err(|e| rejected("set provision state", &e))
    }

    fn desired(
        &self,
        host: &HostRef,
        reg: &Registration,
    ) -> Result<(BmcAddress, Map<String, Value>), ProvisionerError> {
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
        body.insert("driver".into(), Value::String(bmc.driver().to_owned()));
        for (field, value) in bmc.interfaces().fields() {
            body.insert(field.into(), Value::String(value.to_owned()));
        }
        body.insert(
            "inspect_interface".into(),
            Value::String(inspect.to_owned()),
        );
        body.insert(
            "driver_info".into(),
            Value::Object(bmc.driver_info(
                &reg.credentials,
                reg.disable_certificate_verification,
                &self.images,
            )),
        );
        let mut properties = Map::new();
        properties.insert(
            "capabilities".into(),
            Value::String(capabilities(&reg.boot_mode).to_owned()),
        );
        if let Some(arch) = reg.architecture.as_deref().filter(|a| !a.is_empty()) {
            properties.insert("cpu_arch".into(), Value::String(arch.to_owned()));
        }
        body.insert("properties".into(), Value::Object(properties));
        body.insert(
            "extra".into(),
            json!({ FINGERPRINT_KEY: reg.fingerprint.clone() }),
        );
        body.insert("automated_clean".into(), Value::Bool(reg.automated_clean));
        Ok((bmc, body))
    }

    fn register(
        &mut self,
        host: &HostRef,
        reg: &Registration,
        now: SimTime,
        wall: DateTime<Utc>,
    ) -> Result<Outcome, ProvisionerError> {
        let (_, desired) = self.desired(host, reg)?;
        let lookup = HostRef {
            boot_mac: reg.boot_mac.clone().or_else(|| host.boot_mac.clone()),
            ..host.clone()
        };
        let Some(uuid) = self.find(&lookup, now)? else {
            self.request("create node", now)?;
            let uuid = self.create(&desired, wall)?;
            if let Some(mac) = reg.boot_mac.as_deref() {
                self.request("create port", now)?;
                self.create_port(uuid, mac)?;
            }
            return Ok(Outcome::Accepted {
                node_id: Some(uuid.to_string()),
            });
        };
        self.request("patch node", now)?;
        self.update(uuid, &desired, wall)?;
        if let Some(mac) = reg.boot_mac.as_deref() {
            self.request("find port", now)?;
            if !self.ports.contains_key(&normalise_mac(mac)) {
                self.request("create port", now)?;
                self.create_port(uuid, mac)?;
            }
        }
        Ok(Outcome::Accepted {
            node_id: Some(uuid.to_string()),
        })
    }

    fn create(
        &mut self,
        desired: &Map<String, Value>,
        wall: DateTime<Utc>,
    ) -> Result<Uuid, ProvisionerError> {
        let driver = desired["driver"].as_str().unwrap_or_default();
        if !DRIVERS.contains(&driver) {
            return Err(rejected(
                "create node",
                &ApiError::NoValidHost(driver.to_owned()),
            ));
        }
        let name = desired["name"].as_str().unwrap_or_default().to_owned();
        if self.by_name.contains_key(&name) {
            return Err(rejected(
                "create node",
                &ApiError::Conflict(format!("A node with name {name} already exists.")),
            ));
        }
        let bytes: [u8; 16] = self.rng.random();
        let uuid = uuid::Builder::from_random_bytes(bytes).into_uuid();
        self.next_id += 1;
        let mut node = Node::new(self.next_id, uuid, driver, wall, MAX_VERSION);
        node.name = Some(name.clone());
        for (field, value) in desired {
            set_field(&mut node, field, value.clone());
        }
        let mut conductor = Conductor::new(self.settings);
        conductor.nodes.insert(uuid, node);
        self.nodes.insert(uuid, conductor);
        self.by_name.insert(name, uuid);
        Ok(uuid)
    }

    fn create_port(&mut self, uuid: Uuid, mac: &str) -> Result<(), ProvisionerError> {
        let mac = normalise_mac(mac);
        if let Some(other) = self.ports.get(&mac) {
            return Err(rejected(
                "create port",
                &ApiError::Conflict(format!(
                    "A port with MAC address {mac} already exists (node {other})."
                )),
            ));
        }
        self.ports.insert(mac, uuid);
        Ok(())
    }

    /// The registration patch: only what differs, as the provisioner computes it.
    fn update(
        &mut self,
        uuid: Uuid,
        desired: &Map<String, Value>,
        wall: DateTime<Utc>,
    ) -> Result<(), ProvisionerError> {
        let name = desired["name"].as_str().unwrap_or_default().to_owned();
        if let Some(&other) = self.by_name.get(&name)
            && other != uuid
        {
            return Err(rejected(
                "patch node",
                &ApiError::Conflict(format!("A node with name {name} already exists.")),
            ));
        }
        self.ensure_unlocked(uuid, "patch node")?;
        let node = self.node_mut(uuid, "patch node")?;
        let old_name = node.name.clone();
        let mut changed = false;
        if node.name.as_deref() != Some(name.as_str()) {
            node.name = Some(name.clone());
            changed = true;
        }
        if RECONFIGURABLE.contains(&node.provision_state) {
            for (field, value) in desired
                .iter()
                .filter(|(k, _)| *k == "driver" || k.ends_with("_interface"))
            {
                let current = if field == "driver" {
                    Some(node.driver.as_str())
                } else {
                    node.interfaces
                        .get(field.trim_end_matches("_interface"))
                        .and_then(Value::as_str)
                };
                if current != value.as_str() {
                    set_field(node, field, value.clone());
                    changed = true;
                }
            }
        }
        let fingerprint = node.extra.get(FINGERPRINT_KEY).and_then(Value::as_str);
        let wanted = desired["extra"][FINGERPRINT_KEY].as_str();
        if fingerprint != wanted {
            set_field(node, "driver_info", desired["driver_info"].clone());
            node.extra.insert(
                FINGERPRINT_KEY.into(),
                desired["extra"][FINGERPRINT_KEY].clone(),
            );
            changed = true;
        } else if let Some(info) = desired["driver_info"].as_object() {
            for (k, v) in info {
                if !SECRET_DRIVER_INFO_KEYS.contains(&k.as_str())
                    && node.driver_info.get(k) != Some(v)
                {
                    node.driver_info.insert(k.clone(), v.clone());
                    changed = true;
                }
            }
        }
        if node.misc.get("automated_clean") != Some(&desired["automated_clean"]) {
            node.misc
                .insert("automated_clean".into(), desired["automated_clean"].clone());
            changed = true;
        }
        if let Some(want) = desired["properties"].as_object() {
            for (k, v) in want {
                if node.properties.get(k) != Some(v) {
                    node.properties.insert(k.clone(), v.clone());
                    changed = true;
                }
            }
        }
        if changed {
            node.updated_at = Some(wall);
        }
        if let Some(old) = old_name.filter(|o| *o != name) {
            self.by_name.remove(&old);
        }
        self.by_name.insert(name, uuid);
        Ok(())
    }

    fn deploy(
        &mut self,
        host: &HostRef,
        d: &Deployment,
        now: SimTime,
        wall: DateTime<Utc>,
    ) -> Result<Outcome, ProvisionerError> {
        let uuid = self.require(host, "deploy", now)?;
        self.request("patch node", now)?;
        self.ensure_unlocked(uuid, "patch node")?;
        let node = self.node_mut(uuid, "patch node")?;
        write_deployment(node, d);
        node.updated_at = Some(wall);
        self.request("validate", now)?;
        let has_port = self.ports.values().any(|u| *u == uuid);
        let node = self.node_mut(uuid, "validate")?;
        if let Some(reason) = boot_validation(node, has_port) {
            return Err(ProvisionerError::Rejected {
                operation: "validate",
                status: 400,
                message: format!("host validation error: boot: {reason}; deploy: {reason}"),
            });
        }
        let drive = config_drive(host, d).map_err(|message| ProvisionerError::Rejected {
            operation: "configdrive",
            status: 400,
            message,
        })?;
        self.request("set provision state", now)?;
        let conductor = self.conductor(uuid, "set provision state")?;
        conductor
            .ensure_unlocked(uuid)
            .map_err(|e| rejected("set provision state", &e))?;
        if let Some(n) = conductor.nodes.get_mut(&uuid) {
            n.instance_info.insert("configdrive".into(), drive);
            if let Some(method) = &d.custom_deploy {
                n.driver_internal_info.insert(
                    "deploy_steps".into(),
                    json!([{"interface": "deploy", "step": method, "args": {}, "priority": 80}]),
                );
            }
        }
        conductor
            .provision(uuid, "active", None, wall)
            .map_err(|e| rejected("set provision state", &e))?;
        Ok(Outcome::Accepted {
            node_id: Some(uuid.to_string()),
        })
    }

    fn remove(
        &mut self,
        host: &HostRef,
        force: bool,
        now: SimTime,
        wall: DateTime<Utc>,
    ) -> Result<Outcome, ProvisionerError> {
        let Some(uuid) = self.find(host, now)? else {
            return Ok(Outcome::Accepted { node_id: None });
        };
        let state = self
            .node(uuid)
            .map(|n| n.provision_state.as_str())
            .unwrap_or_default();
        if BUSY.contains(&state) {
            return Ok(Outcome::Busy);
        }
        if WAITING.contains(&state) {
            if force {
                self.provision(uuid, "abort", now, wall)?;
            }
            return Ok(Outcome::Busy);
        }
        let idle = matches!(state, "enroll" | "available" | "manageable");
        if !idle && !self.node(uuid).is_some_and(|n| n.maintenance) {
            self.request("maintenance", now)?;
            let n = self.node_mut(uuid, "maintenance")?;
            n.maintenance = true;
            n.maintenance_reason = Some("removed by metal3 operator".into());
        }
        self.request("delete node", now)?;
        self.ensure_unlocked(uuid, "delete node")?;
        let n = self.node_mut(uuid, "delete node")?;
        use ProvisionState as P;
        if !n.maintenance
            && !matches!(
                n.provision_state,
                P::Manageable | P::Enroll | P::AdoptFailed | P::Available
            )
        {
            return Err(rejected(
                "delete node",
                &ApiError::DeleteInState {
                    node: uuid.to_string(),
                    state: n.provision_state.as_str().into(),
                },
            ));
        }
        if let Some(mut c) = self.nodes.remove(&uuid)
            && let Some(n) = c.remove(uuid)
            && let Some(name) = n.name
        {
            self.by_name.remove(&name);
        }
        self.ports.retain(|_, u| *u != uuid);
        Ok(Outcome::Accepted {
            node_id: Some(uuid.to_string()),
        })
    }
}

/// Writes one create/patch field into the node record, as the mock's API does.
fn set_field(n: &mut Node, key: &str, value: Value) {
    let obj = |v: Value| match v {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    match key {
        "driver_info" => n.driver_info = obj(value),
        "properties" => n.properties = obj(value),
        "extra" => n.extra = obj(value),
        "instance_info" => n.instance_info = obj(value),
        "name" => n.name = value.as_str().map(str::to_owned),
        "driver" => {
            if let Some(d) = value.as_str() {
                n.driver = d.to_owned();
            }
        }
        k if k.ends_with("_interface") => {
            let i = k.trim_end_matches("_interface").to_owned();
            let v = match value {
                Value::String(s) if !s.is_empty() => s,
                _ => default_interface(&n.driver, &i).to_owned(),
            };
            n.interfaces.insert(i, Value::String(v));
        }
        _ => {
            n.misc.insert(key.to_owned(), value);
        }
    }
}

/// The deployment's `instance_info` and deploy interface, as the provisioner patches them.
fn write_deployment(node: &mut Node, d: &Deployment) {
    let live_iso = d.format.as_deref() == Some("live-iso");
    let info = &mut node.instance_info;
    if !d.image_url.is_empty() {
        if live_iso {
            info.insert("boot_iso".into(), Value::String(d.image_url.clone()));
        } else {
            info.insert("image_source".into(), Value::String(d.image_url.clone()));
            if let Some(format) = d.format.as_deref() {
                info.insert("image_disk_format".into(), Value::String(format.to_owned()));
            }
        }
    }
    if let Some(checksum) = d.checksum.as_deref().filter(|c| !c.is_empty()) {
        match d.checksum_type.as_deref() {
            Some(algo @ ("sha256" | "sha512")) => {
                info.insert("image_os_hash_algo".into(), Value::String(algo.into()));
                info.insert(
                    "image_os_hash_value".into(),
                    Value::String(checksum.to_owned()),
                );
            }
            _ => {
                info.insert("image_checksum".into(), Value::String(checksum.to_owned()));
            }
        }
    }
    let current = node.interfaces.get("deploy").and_then(Value::as_str);
    let wanted = if d.custom_deploy.is_some() {
        Some("custom-agent")
    } else if live_iso {
        Some("ramdisk")
    } else if matches!(current, Some("ramdisk" | "custom-agent")) {
        Some("direct")
    } else {
        None
    };
    if let Some(w) = wanted {
        node.interfaces
            .insert("deploy".into(), Value::String(w.to_owned()));
    }
    if let Some(hints) = &d.root_device_hints {
        node.properties.insert("root_device".into(), hints.clone());
    }
}

/// The mock's boot/deploy validation: a port, and the PXE deploy images for (i)PXE boot.
fn boot_validation(n: &Node, has_port: bool) -> Option<String> {
    if n.driver == "fake-hardware" {
        return None;
    }
    if !has_port {
        return Some(format!(
            "Node {} does not have any port associated with it",
            n.uuid
        ));
    }
    let pxe = matches!(
        n.interfaces.get("boot").and_then(Value::as_str),
        Some("ipxe" | "pxe")
    );
    let missing: Vec<String> = ["deploy_kernel", "deploy_ramdisk"]
        .iter()
        .filter(|k| pxe && !n.driver_info.contains_key(**k))
        .map(|k| format!("'{k}'"))
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "Cannot validate PXE bootloader. Some parameters were missing in node's driver_info and configuration. Missing are: [{}]",
            missing.join(", ")
        )
    })
}
