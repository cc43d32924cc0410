//! Drivers: perform the conductor's calls over the wire — BMC operations (Redfish with reqwest, IPMI
//! with our RMCP+ client) and agent commands (IPA's `/v1/commands/` API).
//!
//! Every BMC call passes the egress [`Gate`] first (once, in [`Drivers::perform`]), so a BMC off
//! loopback and off the `--allow-bmc-network` networks is refused before any socket is opened.
//!
//! Error texts follow sushy's and Ironic's shape so a fault reads in `last_error` the way real Ironic
//! shows it.

mod agent;
/// The egress rule applied to BMC calls (loopback only unless `--allow-bmc-network`).
mod gate;
/// The BMC a node's driver_info names.
mod target;

pub use gate::Gate;
pub use target::{Bmc, IpmiTarget, RedfishTarget};

use super::conductor::{BmcOp, BootDevice, Call, CallResult, DriverCall};
use super::model::NodePower;
use crate::egress::Network;
use crate::ipmi::command::{ChassisControl, boot_device};
use crate::ipmi::{Client, ClientConfig};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use serde_json::{Value, json};
use std::time::Duration;

/// Why the HTTP client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// reqwest refused the TLS configuration.
    #[error("building the BMC HTTP client failed")]
    Client(#[source] reqwest::Error),
    /// rustls refused the protocol versions.
    #[error("building the BMC TLS configuration failed")]
    Tls,
}

/// Polls of the power state after a power change (with `POWER_WAIT_INTERVAL`, about 60 s in all, as
/// Ironic's `power_state_change_timeout`).
const POWER_WAIT_POLLS: u32 = 1200;

/// Between power-state polls.
const POWER_WAIT_INTERVAL: Duration = Duration::from_millis(50);

fn power_timeout(node: &str, target: NodePower, actual: &str) -> String {
    format!(
        "Timed out after 60 secs waiting for power state {} on node {node}; the BMC reports {actual}",
        target.settled().as_str()
    )
}

/// Most members read from one Redfish collection during inspection.
const MAX_MEMBERS: usize = 256;

/// The `@odata.id` of each entry of the array `key` of `doc` (none when it has no such array).
fn odata_ids(doc: &Value, key: &str) -> Vec<String> {
    doc.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|m| m.get("@odata.id").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Ironic prefixes Redfish connection failures with the node.
fn redfish_context(node: &str, e: String) -> String {
    if e.starts_with("Unable to connect") {
        format!("Redfish connection failed for node {node}: {e}")
    } else {
        e
    }
}

/// Performs BMC calls; one shared HTTP client with bounded timeouts. Every BMC call passes the
/// [`Gate`] first, so a BMC off loopback (and off the allowed networks) is never sent a packet.
#[derive(Debug, Clone)]
pub struct Drivers {
    http: reqwest::Client,
    insecure: reqwest::Client,
    /// Agent calls: loopback only, whatever BMC networks are allowed.
    agents: reqwest::Client,
    gate: Gate,
}

/// An HTTP client confined by `gate` (names resolve through it, redirects are checked).
fn http_client(insecure: bool, gate: &Gate) -> Result<reqwest::Client, DriverError> {
    // No roots: `redfish_verify_ca=true` refuses every certificate; `insecure` accepts any
    // (`redfish_verify_ca=false`, handshake signatures still checked).
    let tls = metal_tls::client_config(metal_tls::Roots::Empty, insecure)
        .map_err(|_| DriverError::Tls)?;
    gate.confine(reqwest::Client::builder())
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(3))
        .tls_backend_preconfigured(tls)
        .build()
        .map_err(DriverError::Client)
}

impl Drivers {
    /// Builds the HTTP clients (ring-backed rustls, no system proxy, 10 s timeout per request). BMCs
    /// are reached on loopback and in `bmc_networks` only.
    pub fn new(bmc_networks: &[Network]) -> Result<Self, DriverError> {
        let gate = Gate::new(bmc_networks);
        Ok(Self {
            http: http_client(false, &gate)?,
            insecure: http_client(true, &gate)?,
            agents: http_client(true, &Gate::default())?,
            gate,
        })
    }

    /// Performs any conductor call; the error string is what lands in `last_error`.
    pub async fn perform_call(&self, call: &Call) -> Result<CallResult, String> {
        match call {
            Call::Bmc(c) => self.perform(c).await,
            Call::Agent(c) => agent::perform(&self.agents, c).await,
        }
    }

    /// The gate every BMC call passes.
    pub fn gate(&self) -> &Gate {
        &self.gate
    }

    /// Performs one BMC call; the error string is what lands in `last_error`. The gate runs here,
    /// once, before either protocol opens a socket.
    pub async fn perform(&self, call: &DriverCall) -> Result<CallResult, String> {
        let node = call.node.to_string();
        match self
            .gate
            .check_node(&node, &call.driver, &call.driver_info)
            .await?
        {
            Bmc::Redfish(target) => self.redfish(call, &target).await,
            Bmc::Ipmi(target) => self.ipmi(call, &target).await,
        }
    }

    async fn redfish(
        &self,
        call: &DriverCall,
        target: &RedfishTarget,
    ) -> Result<CallResult, String> {
        let system = self
            .system_path(target)
            .await
            .map_err(|e| redfish_context(&call.node.to_string(), e))?;
        let url = format!("{}{}", target.address, system);
        let node = call.node.to_string();
        self.redfish_op(call, target, &system, &url)
            .await
            .map_err(|e| redfish_context(&node, e))
    }

    async fn redfish_op(
        &self,
        call: &DriverCall,
        target: &RedfishTarget,
        system: &str,
        url: &str,
    ) -> Result<CallResult, String> {
        let target = target.clone();
        let url = url.to_string();
        match call.op {
            BmcOp::GetPower => {
                let doc = self.send(&target, reqwest::Method::GET, &url, None).await?;
                match doc.get("PowerState").and_then(Value::as_str) {
                    Some("On" | "PoweringOff") => Ok(CallResult::Power(NodePower::On)),
                    Some("Off" | "PoweringOn") => Ok(CallResult::Power(NodePower::Off)),
                    other => Err(format!(
                        "Redfish system {system} reported an unknown power state {other:?}"
                    )),
                }
            }
            BmcOp::GetSystem => self.read_inventory(&target, &url).await,
            BmcOp::SetPower(p) => {
                let reset = match p {
                    NodePower::On => "On",
                    NodePower::Off => "ForceOff",
                    NodePower::SoftOff => "GracefulShutdown",
                    NodePower::Rebooting => "ForceRestart",
                    NodePower::SoftRebooting => "GracefulRestart",
                };
                let action = format!("{url}/Actions/ComputerSystem.Reset");
                self.send(
                    &target,
                    reqwest::Method::POST,
                    &action,
                    Some(json!({"ResetType": reset})),
                )
                .await?;
                // Like Ironic, wait until the BMC reports the target state (bounded).
                let want = match p {
                    NodePower::On => "On",
                    NodePower::Off => "Off",
                    _ => return Ok(CallResult::Done),
                };
                let mut last = String::new();
                for _ in 0..POWER_WAIT_POLLS {
                    let doc = self.send(&target, reqwest::Method::GET, &url, None).await?;
                    last = doc
                        .get("PowerState")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string();
                    if last == want {
                        return Ok(CallResult::Done);
                    }
                    tokio::time::sleep(POWER_WAIT_INTERVAL).await;
                }
                Err(power_timeout(&call.node.to_string(), p, &last))
            }
            BmcOp::SetBootDevice(dev) => {
                let (t, enabled) = match dev {
                    BootDevice::Pxe => ("Pxe", "Once"),
                    BootDevice::Disk => ("Hdd", "Continuous"),
                };
                let body = json!({"Boot": {"BootSourceOverrideTarget": t, "BootSourceOverrideEnabled": enabled}});
                self.send(&target, reqwest::Method::PATCH, &url, Some(body))
                    .await?;
                Ok(CallResult::Done)
            }
        }
    }

    async fn ipmi(&self, call: &DriverCall, target: &IpmiTarget) -> Result<CallResult, String> {
        let mut config = ClientConfig::new(target.socket, &target.username, &target.password);
        config.cipher_suite = target.cipher_suite;
        // The console's session id and RAKP random number are secrets: seeded from the OS, never
        // from the run's seed.
        let rng = ChaCha8Rng::from_rng(&mut metal_tls::secret::os_rng());
        let failed = |what: &str, e: crate::ipmi::ClientError| {
            format!("IPMI call failed: {what}. Error: {e}")
        };
        let mut client = Client::new(config, rng)
            .await
            .map_err(|e| failed("session", e))?;
        client
            .open_session()
            .await
            .map_err(|e| failed("session", e))?;
        let result = match call.op {
            BmcOp::GetPower => client
                .power_status()
                .await
                .map(|on| CallResult::Power(if on { NodePower::On } else { NodePower::Off }))
                .map_err(|e| failed("power status", e)),
            BmcOp::SetPower(p) => {
                let action = match p {
                    NodePower::On => ChassisControl::PowerUp,
                    NodePower::Off => ChassisControl::PowerDown,
                    NodePower::SoftOff | NodePower::SoftRebooting => ChassisControl::SoftShutdown,
                    NodePower::Rebooting => ChassisControl::PowerCycle,
                };
                match client.chassis_control(action).await {
                    Err(e) => Err(failed("power", e)),
                    Ok(_) => {
                        let want = match p {
                            NodePower::On => Some(true),
                            NodePower::Off => Some(false),
                            _ => None,
                        };
                        let mut result = Ok(CallResult::Done);
                        if let Some(want) = want {
                            result = Err(power_timeout(&call.node.to_string(), p, "unchanged"));
                            for _ in 0..POWER_WAIT_POLLS {
                                match client.power_status().await {
                                    Ok(on) if on == want => {
                                        result = Ok(CallResult::Done);
                                        break;
                                    }
                                    Ok(_) => tokio::time::sleep(POWER_WAIT_INTERVAL).await,
                                    Err(e) => {
                                        result = Err(failed("power status", e));
                                        break;
                                    }
                                }
                            }
                        }
                        result
                    }
                }
            }
            BmcOp::SetBootDevice(dev) => {
                let (selector, persistent) = match dev {
                    BootDevice::Pxe => (boot_device::PXE, false),
                    BootDevice::Disk => (boot_device::DISK, true),
                };
                client
                    .set_boot_device(selector, persistent, false)
                    .await
                    .map(|_| CallResult::Done)
                    .map_err(|e| failed("chassis bootdev", e))
            }
            BmcOp::GetSystem => client
                .system_guid()
                .await
                .map(|g| CallResult::System(json!({"UUID": uuid::Uuid::from_bytes(g).to_string()})))
                .map_err(|e| failed("mc guid", e)),
        };
        let _ = client.close().await;
        result
    }

    /// Reads the system and its Processors, Memory, EthernetInterfaces, Storage drives and PCIe devices
    /// (out-of-band inspection). Missing sub-resources read as empty lists, as sushy tolerates them.
    async fn read_inventory(
        &self,
        target: &RedfishTarget,
        url: &str,
    ) -> Result<CallResult, String> {
        let system = self.send(target, reqwest::Method::GET, url, None).await?;
        let link = |v: &Value, k: &str| {
            v.pointer(&format!("/{k}/@odata.id"))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let mut out = serde_json::Map::new();
        for (key, res) in [
            ("processors", "Processors"),
            ("memory", "Memory"),
            ("nics", "EthernetInterfaces"),
        ] {
            let docs = match link(&system, res) {
                Some(path) => self.members(target, &path).await,
                None => Vec::new(),
            };
            out.insert(key.into(), Value::Array(docs));
        }
        let mut drives = Vec::new();
        if let Some(path) = link(&system, "Storage") {
            for storage in self.members(target, &path).await {
                drives.extend(self.fetch_all(target, &odata_ids(&storage, "Drives")).await);
            }
        }
        out.insert("drives".into(), Value::Array(drives));
        let pcie = self
            .fetch_all(target, &odata_ids(&system, "PCIeDevices"))
            .await;
        out.insert("pcie".into(), Value::Array(pcie));
        out.insert("system".into(), system);
        Ok(CallResult::System(Value::Object(out)))
    }

    async fn get_path(&self, target: &RedfishTarget, path: &str) -> Result<Value, String> {
        let url = format!("{}{path}", target.address);
        self.send(target, reqwest::Method::GET, &url, None).await
    }

    /// The member documents of a collection (bounded; unreadable members are skipped).
    async fn members(&self, target: &RedfishTarget, path: &str) -> Vec<Value> {
        let Ok(coll) = self.get_path(target, path).await else {
            return Vec::new();
        };
        self.fetch_all(target, &odata_ids(&coll, "Members")).await
    }

    /// The documents at `paths`, the first [`MAX_MEMBERS`] of them; unreadable ones are skipped.
    async fn fetch_all(&self, target: &RedfishTarget, paths: &[String]) -> Vec<Value> {
        let mut out = Vec::new();
        for path in paths.iter().take(MAX_MEMBERS) {
            if let Ok(d) = self.get_path(target, path).await {
                out.push(d);
            }
        }
        out
    }

    async fn system_path(&self, target: &RedfishTarget) -> Result<String, String> {
        if let Some(id) = &target.system_id {
            return Ok(id.clone());
        }
        let url = format!("{}/redfish/v1/Systems", target.address);
        let doc = self.send(target, reqwest::Method::GET, &url, None).await?;
        let members = doc
            .get("Members")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        match members.as_slice() {
            [one] => one
                .get("@odata.id")
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| "Redfish system collection member has no @odata.id".to_string()),
            _ => Err(format!(
                "Redfish system collection at {url} has {} members; set redfish_system_id",
                members.len()
            )),
        }
    }

    async fn send(
        &self,
        target: &RedfishTarget,
        method: reqwest::Method,
        url: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let client = if target.verify_ca {
            &self.http
        } else {
            &self.insecure
        };
        let mut req = client.request(method.clone(), url);
        if let Some(u) = &target.username {
            req = req.basic_auth(u, target.password.as_deref());
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(|e| {
            if e.is_connect() || e.is_timeout() {
                format!("Unable to connect to {url}. Error: {e}")
            } else {
                format!("HTTP {method} {url} failed. Error: {e}")
            }
        })?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            let detail = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| {
                    v.pointer("/error/message")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .unwrap_or_default();
            return Err(format!(
                "HTTP {method} {url} returned code {}. {detail}",
                status.as_u16()
            ));
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text)
            .map_err(|e| format!("HTTP {method} {url} returned invalid JSON: {e}"))
    }
}
