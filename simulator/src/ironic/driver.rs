//! Drivers: perform the conductor's calls over the wire — BMC operations (Redfish with reqwest, IPMI
//! with our RMCP+ client) and agent commands (IPA's `/v1/commands/` API).
//!
//! Every BMC call passes the egress [`Gate`] first (once, in [`Drivers::perform`]), so a BMC off
//! loopback and off the `--allow-bmc-network` networks is refused before any socket is opened.
//!
//! Error texts follow sushy's and Ironic's shape so a fault reads in `last_error` the way real Ironic
//! shows it.

mod agent;
/// The BIOS operations over Redfish.
mod bios;
/// The Redfish read of a node's firmware components.
mod firmware;
/// The egress rule applied to BMC calls (loopback only unless `--allow-bmc-network`).
mod gate;
/// The Redfish reads of a node's boot mode and health.
mod status;
/// Error texts as sushy (the Redfish library Ironic uses) writes them.
pub mod sushy;
/// The BMC a node's driver_info names.
mod target;

pub use gate::Gate;
pub use target::{Bmc, IpmiTarget, RedfishTarget, VerifyCa};

use super::conductor::{BmcOp, BootDevice, Call, CallResult, DriverCall};
use super::model::NodePower;
use crate::egress::Network;
use crate::ipmi::command::{ChassisControl, boot_device};
use crate::ipmi::{Client, ClientConfig};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Why the HTTP client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// reqwest refused the TLS configuration.
    #[error("building the BMC HTTP client failed")]
    Client(#[source] reqwest::Error),
    /// rustls refused the protocol versions.
    #[error("building the BMC TLS configuration failed: {0}")]
    Tls(#[source] metal_tls::ClientError),
}

/// How long a power change is waited for (Ironic's `power_state_change_timeout`), in wall time:
/// slow answers from the BMC count against it.
const POWER_WAIT: Duration = Duration::from_secs(60);

/// Between power-state polls.
const POWER_WAIT_INTERVAL: Duration = Duration::from_millis(50);

/// The wall-time budget of one power-change wait: every poll and pause counts against
/// [`POWER_WAIT`], so a BMC slow to answer cannot stretch it (a poll still running at the deadline
/// is abandoned).
struct PowerWait {
    deadline: tokio::time::Instant,
}

impl PowerWait {
    fn start() -> Self {
        Self {
            deadline: tokio::time::Instant::now() + POWER_WAIT,
        }
    }

    /// Runs one poll within the budget; `None` when the budget ran out first.
    async fn poll<T>(&self, poll: impl std::future::Future<Output = T>) -> Option<T> {
        tokio::time::timeout_at(self.deadline, poll).await.ok()
    }

    /// Pauses before the next poll; false when no time is left for one.
    async fn pause(&self) -> bool {
        if tokio::time::Instant::now() + POWER_WAIT_INTERVAL >= self.deadline {
            return false;
        }
        tokio::time::sleep(POWER_WAIT_INTERVAL).await;
        true
    }
}

fn power_timeout(node: &str, target: NodePower, actual: &str) -> String {
    format!(
        "Timed out after 60 secs waiting for power state {} on node {node}; the BMC reports {actual}",
        target.settled().as_str()
    )
}

/// CA bundles remembered (one HTTP client each).
const MAX_BUNDLES: usize = 64;
/// Largest CA bundle read (all files of a directory together).
const MAX_BUNDLE_BYTES: u64 = 4 << 20;

/// The PEM text of a CA bundle: the file, or every regular file of the directory (as OpenSSL's
/// CA path, certificates in any file name).
fn read_bundle(path: &Path) -> Result<Vec<u8>, String> {
    let unreadable =
        |e: std::io::Error| format!("The CA bundle {} cannot be read: {e}", path.display());
    let files: Vec<PathBuf> = if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(unreadable)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        files
    } else {
        vec![path.to_path_buf()]
    };
    let mut pem = Vec::new();
    for file in files {
        let len = std::fs::metadata(&file).map_err(unreadable)?.len();
        if pem.len() as u64 + len > MAX_BUNDLE_BYTES {
            return Err(format!(
                "The CA bundle {} is larger than {MAX_BUNDLE_BYTES} bytes",
                path.display()
            ));
        }
        pem.extend(std::fs::read(&file).map_err(unreadable)?);
        pem.push(b'\n');
    }
    Ok(pem)
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
    /// `redfish_verify_ca=true`: the system's roots, read on first use (reading and parsing the
    /// system's certificate store takes milliseconds; most mocks never need it).
    system: Arc<Mutex<Option<reqwest::Client>>>,
    /// `redfish_verify_ca=false`: any certificate.
    insecure: reqwest::Client,
    /// `redfish_verify_ca=<path>`: one client per CA bundle, built on first use.
    bundles: Arc<Mutex<HashMap<PathBuf, reqwest::Client>>>,
    /// Agent calls: loopback only, whatever BMC networks are allowed.
    agents: reqwest::Client,
    gate: Gate,
}

/// An HTTP client confined by `gate` (names resolve through it, redirects are checked) that trusts
/// `roots`, or any certificate when `insecure` (handshake signatures still checked).
fn http_client(
    roots: metal_tls::Roots<'_>,
    insecure: bool,
    gate: &Gate,
) -> Result<reqwest::Client, DriverError> {
    let tls = metal_tls::client_config(roots, insecure).map_err(DriverError::Tls)?;
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
            system: Arc::default(),
            insecure: http_client(metal_tls::Roots::Empty, true, &gate)?,
            bundles: Arc::default(),
            agents: http_client(metal_tls::Roots::Empty, true, &Gate::default())?,
            gate,
        })
    }

    /// The client that checks a BMC's certificate as `verify` asks.
    fn redfish_client(&self, verify: &VerifyCa) -> Result<reqwest::Client, String> {
        let path = match verify {
            VerifyCa::System => return self.system_client(),
            VerifyCa::Off => return Ok(self.insecure.clone()),
            VerifyCa::Bundle(path) => path,
        };
        if let Some(c) = self.bundles.lock().ok().and_then(|m| m.get(path).cloned()) {
            return Ok(c);
        }
        let pem = read_bundle(path)?;
        let client = http_client(metal_tls::Roots::Pem(&pem), false, &self.gate).map_err(|e| {
            format!(
                "The CA bundle {} given in driver_info/redfish_verify_ca cannot be used: {e}",
                path.display()
            )
        })?;
        if let Ok(mut m) = self.bundles.lock() {
            // Bounded: one entry per distinct path named by a node.
            if m.len() < MAX_BUNDLES {
                m.insert(path.clone(), client.clone());
            }
        }
        Ok(client)
    }

    /// The client trusting the system's roots, built on the first call that needs it.
    fn system_client(&self) -> Result<reqwest::Client, String> {
        let mut slot = self
            .system
            .lock()
            .map_err(|_| "the mock Ironic's client cache is poisoned".to_string())?;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let client = http_client(metal_tls::Roots::System, false, &self.gate)
            .map_err(|e| format!("The system's CA certificates cannot be used: {e}"))?;
        *slot = Some(client.clone());
        Ok(client)
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
        match &call.op {
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
            BmcOp::GetBios => self.read_bios(&target, &url).await,
            BmcOp::GetFirmware => self.read_firmware(&target, &url).await,
            BmcOp::GetBootMode => self.read_boot_mode(&target, &url).await,
            BmcOp::GetHealth => self.read_health(&target, &url).await,
            BmcOp::SetBootMode(mode) => self.set_boot_mode(&target, &url, *mode).await,
            BmcOp::InjectNmi => {
                let action = format!("{url}/Actions/ComputerSystem.Reset");
                self.send(
                    &target,
                    reqwest::Method::POST,
                    &action,
                    Some(json!({"ResetType": "Nmi"})),
                )
                .await?;
                Ok(CallResult::Done)
            }
            BmcOp::SetSecureBoot(on) => {
                self.set_secure_boot(&target, &url, &call.node.to_string(), *on)
                    .await
            }
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
                let wait = PowerWait::start();
                let mut last = String::from("unchanged");
                loop {
                    let Some(doc) = wait
                        .poll(self.send(&target, reqwest::Method::GET, &url, None))
                        .await
                    else {
                        break;
                    };
                    last = doc?
                        .get("PowerState")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string();
                    if last == want {
                        return Ok(CallResult::Done);
                    }
                    if !wait.pause().await {
                        break;
                    }
                }
                Err(power_timeout(&call.node.to_string(), *p, &last))
            }
            BmcOp::PatchBiosSettings(attributes) => {
                self.patch_bios(&target, &url, attributes).await
            }
            BmcOp::ResetBios => self.reset_bios(&target, &url).await,
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
        let result = match &call.op {
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
                    // Labelled: every way out still closes the session below.
                    Ok(_) => 'wait: {
                        let want = match p {
                            NodePower::On => true,
                            NodePower::Off => false,
                            _ => break 'wait Ok(CallResult::Done),
                        };
                        let wait = PowerWait::start();
                        loop {
                            match wait.poll(client.power_status()).await {
                                None => break,
                                Some(Ok(on)) if on == want => break 'wait Ok(CallResult::Done),
                                Some(Ok(_)) => {}
                                Some(Err(e)) => break 'wait Err(failed("power status", e)),
                            }
                            if !wait.pause().await {
                                break;
                            }
                        }
                        Err(power_timeout(&call.node.to_string(), *p, "unchanged"))
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
            // The ipmi hardware type has no BIOS interface: the conductor never asks.
            BmcOp::GetBios | BmcOp::PatchBiosSettings(_) | BmcOp::ResetBios => {
                Err("IPMI has no BIOS settings to read".to_string())
            }
            // Nor a firmware interface but `no-firmware`.
            BmcOp::GetFirmware => Err("IPMI has no firmware components to read".to_string()),
            // ipmitool management reads neither (Ironic stores none).
            BmcOp::GetBootMode | BmcOp::GetHealth => {
                Err("ipmitool management reads no boot mode or health".to_string())
            }
            // The conductor sends these to redfish management only.
            BmcOp::SetBootMode(_) | BmcOp::SetSecureBoot(_) | BmcOp::InjectNmi => Err(
                "the simulated ipmitool management sends no boot mode, secure boot or NMI"
                    .to_string(),
            ),
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

    /// One request; the answer's status and body text.
    async fn exchange(
        &self,
        target: &RedfishTarget,
        method: reqwest::Method,
        url: &str,
        body: Option<Value>,
    ) -> Result<(reqwest::StatusCode, String), String> {
        let client = self.redfish_client(&target.verify_ca)?;
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
        Ok((status, resp.text().await.unwrap_or_default()))
    }

    async fn send(
        &self,
        target: &RedfishTarget,
        method: reqwest::Method,
        url: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let (status, text) = self.exchange(target, method.clone(), url, body).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A BMC that takes 10 s to answer each power poll and never reaches the state: the wait ends
    /// at 60 s of wall time, not after 1 200 polls (3 h 20 min, as the poll count alone bounded it).
    #[tokio::test(start_paused = true)]
    async fn a_power_wait_is_bounded_by_wall_time_when_the_bmc_answers_slowly() {
        let start = tokio::time::Instant::now();
        let wait = PowerWait::start();
        let mut polls = 0u32;
        let slow_poll = || async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            "Off"
        };
        loop {
            match wait.poll(slow_poll()).await {
                None => break,
                Some(state) => {
                    assert_eq!(state, "Off");
                    polls += 1;
                }
            }
            if !wait.pause().await {
                break;
            }
        }
        let took = start.elapsed();
        assert!(took <= POWER_WAIT, "{took:?}");
        assert!(took >= POWER_WAIT - Duration::from_secs(1), "{took:?}");
        assert!((5..=6).contains(&polls), "{polls} polls");
    }

    /// A fast BMC is polled every interval until the budget is spent, and no pause overshoots it.
    #[tokio::test(start_paused = true)]
    async fn a_power_wait_pauses_between_polls_and_stops_before_the_deadline() {
        let start = tokio::time::Instant::now();
        let wait = PowerWait::start();
        let mut polls = 0u32;
        while wait.poll(async {}).await.is_some() {
            polls += 1;
            if !wait.pause().await {
                break;
            }
        }
        assert!(start.elapsed() <= POWER_WAIT);
        let most = u32::try_from(POWER_WAIT.as_millis() / POWER_WAIT_INTERVAL.as_millis()).unwrap();
        assert!(polls >= most - 1 && polls <= most, "{polls}");
    }
}
