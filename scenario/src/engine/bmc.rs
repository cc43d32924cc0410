//! The conductor's BMC calls carried out in-process against the machine models.
//!
//! In wire mode a [`DriverCall`] becomes Redfish HTTP requests or an IPMI RMCP+ session on a
//! socket, answered by the fake BMC in front of the machine. Here the same call is split in two
//! steps that keep the wire semantics that matter to the conductor:
//!
//! 1. [`BmcDirectory::approach`] (when the call is sent): find the BMC the node's `driver_info`
//!    names, and draw the host's fault verdicts the way its facade would (Redfish: one HTTP
//!    request; IPMI: every datagram of the session, each exchange retried like our RMCP+ client,
//!    1 s timeout and 2 retries). The result is when the request reaches the machine, or the
//!    error the driver would report and when.
//! 2. [`operate`] (when it arrives): check the login, apply the operation to the machine (power
//!    actions through the `PowerAction` fault verdict) and produce the call's result or the
//!    driver's error text.
//!
//! No egress gate here: engine mode opens no socket, so wire mode's rule that the mock Ironic's
//! drivers reach loopback BMCs only ([`metal_sim::egress`], unless `--allow-bmc-network`) has nothing to
//! guard. A node naming an address no simulated host has (e.g. `http://192.168.1.100`) finds no BMC
//! in the [`BmcDirectory`] and fails like a refused connection, without leaving the process.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use metal_sim::fault::{FaultKind, FaultSet, Verdict};
use metal_sim::ipmi::ClientError;
use metal_sim::ironic::conductor::{BmcOp, BootDevice, BootModeTarget, CallResult, DriverCall};
use metal_sim::ironic::driver::{IpmiTarget, RedfishTarget, VerifyCa};
use metal_sim::ironic::model::NodePower;
use metal_sim::ironic::model::bmc_status;
use metal_sim::machine::{
    Ack, BmcEndpoint, BmcProtocol, BootMode, BootSource, HardwareProfile, HostSpec, Machine,
    MachineError, OverrideMode, SimTime,
};
use metal_sim::redfish::{RedfishError, ResetType};

/// Our RMCP+ client's answer timeout per attempt.
const IPMI_TIMEOUT: Duration = Duration::from_secs(1);
/// Attempts per exchange (one try and two retries).
const IPMI_ATTEMPTS: u32 = 3;
/// The exchanges of one IPMI call: the session handshake, privilege, then the command itself.
const IPMI_HANDSHAKE: [&str; 5] = [
    "pre-session command",
    "Open Session",
    "RAKP 1",
    "RAKP 3",
    "command",
];

/// Chassis network function and its Chassis Control command (for completion-code errors).
const NETFN_CHASSIS: u8 = 0x00;
const CMD_CHASSIS_CONTROL: u8 = 0x02;
/// RAKP status "unauthorized name".
const RAKP_UNAUTHORIZED_NAME: u8 = 0x0D;

/// Where a call goes: the host index and the protocol-specific target.
#[derive(Debug, Clone)]
pub enum Route {
    /// A Redfish system; `url` is the system URL the driver would request.
    Redfish {
        /// Host index.
        host: usize,
        /// The node's Redfish login and address.
        target: RedfishTarget,
        /// `address + system path`.
        url: String,
    },
    /// An IPMI BMC.
    Ipmi {
        /// Host index.
        host: usize,
        /// The node's IPMI login and socket.
        target: IpmiTarget,
    },
}

impl Route {
    /// The host the call reaches.
    pub fn host(&self) -> usize {
        match self {
            Route::Redfish { host, .. } | Route::Ipmi { host, .. } => *host,
        }
    }
}

/// How sending a call went.
#[derive(Debug, Clone)]
pub enum Approach {
    /// The request reaches the machine after `after`.
    Reach {
        /// Time on the wire (latency, lost datagrams retried).
        after: Duration,
        /// Where it goes.
        route: Route,
    },
    /// The driver gives up after `after` with this error.
    Fail {
        /// Time until the driver gives up.
        after: Duration,
        /// The driver's error.
        error: BmcFailure,
    },
}

/// A BMC call that failed: the driver's `last_error` text and, when a Redfish BMC answered with
/// an HTTP error, its status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct BmcFailure {
    /// The HTTP status of the BMC's answer (absent when it did not answer over HTTP).
    pub status: Option<u16>,
    /// The driver's `last_error` text.
    pub message: String,
}

impl BmcFailure {
    /// A failure with no HTTP answer (connection, TLS, IPMI, addressing).
    fn text(message: String) -> Self {
        BmcFailure {
            status: None,
            message,
        }
    }

    /// The driver's text, as sushy words it, for an HTTP error answer with the Redfish `body`.
    fn sushy(method: &str, url: &str, status: u16, body: &Value) -> Self {
        BmcFailure {
            status: Some(status),
            message: metal_sim::ironic::driver::sushy::http_error(
                method,
                url,
                status,
                &body.to_string(),
            ),
        }
    }

    /// The driver's text for an HTTP error answer.
    fn http(method: &str, url: &str, status: u16, detail: impl std::fmt::Display) -> Self {
        BmcFailure {
            status: Some(status),
            message: format!("HTTP {method} {url} returned code {status}. {detail}"),
        }
    }
}

/// Finds a host's BMC from the address a node's `driver_info` names.
#[derive(Debug, Clone, Default)]
pub struct BmcDirectory {
    /// (`http[s]://socket`, `/redfish/v1/Systems/<id>`) → host index.
    redfish: BTreeMap<(String, String), usize>,
    /// Redfish sockets (a wrong system id on a live socket is a 404, not a refused connection).
    redfish_sockets: BTreeMap<String, bool>,
    /// IPMI socket → host index.
    ipmi: BTreeMap<SocketAddr, usize>,
}

fn redfish_base(bmc: &BmcEndpoint) -> String {
    let scheme = if bmc.tls { "https" } else { "http" };
    format!("{scheme}://{}", bmc.socket)
}

impl BmcDirectory {
    /// Indexes the BMC of every host.
    pub fn new(hosts: &[HostSpec]) -> Self {
        let mut d = BmcDirectory::default();
        for (index, h) in hosts.iter().enumerate() {
            match h.bmc.protocol {
                BmcProtocol::Ipmi => {
                    d.ipmi.insert(h.bmc.socket, index);
                }
                BmcProtocol::Redfish | BmcProtocol::RedfishVirtualmedia => {
                    let base = redfish_base(&h.bmc);
                    d.redfish_sockets.insert(base.clone(), h.bmc.tls);
                    d.redfish.insert(
                        (base, format!("/redfish/v1/Systems/{}", h.bmc.system_id)),
                        index,
                    );
                }
            }
        }
        d
    }

    /// Sends `call` at `now`: resolves its BMC and draws that host's fault verdicts.
    /// `verdict(host, kind, at)` asks the host's facade (its fault settings and fault stream).
    pub fn approach(
        &self,
        call: &DriverCall,
        now: SimTime,
        mut verdict: impl FnMut(usize, FaultKind, SimTime) -> Verdict,
    ) -> Approach {
        let node = call.node.to_string();
        match call.driver.as_str() {
            "redfish" => {
                let target = match RedfishTarget::from_driver_info(&node, &call.driver_info) {
                    Ok(t) => t,
                    Err(error) => {
                        return Approach::Fail {
                            after: Duration::ZERO,
                            error: BmcFailure::text(error),
                        };
                    }
                };
                self.approach_redfish(call, target, now, &mut verdict)
            }
            "ipmi" => {
                let target = match IpmiTarget::from_driver_info(&node, &call.driver_info) {
                    Ok(t) => t,
                    Err(error) => {
                        return Approach::Fail {
                            after: Duration::ZERO,
                            error: BmcFailure::text(error),
                        };
                    }
                };
                self.approach_ipmi(call, target, now, &mut verdict)
            }
            other => Approach::Fail {
                after: Duration::ZERO,
                error: BmcFailure::text(format!(
                    "Driver {other} has no wire implementation in the mock"
                )),
            },
        }
    }

    fn approach_redfish(
        &self,
        call: &DriverCall,
        target: RedfishTarget,
        now: SimTime,
        verdict: &mut impl FnMut(usize, FaultKind, SimTime) -> Verdict,
    ) -> Approach {
        let node = call.node.to_string();
        let system = target.system_id.clone().unwrap_or_default();
        let url = format!("{}{}", target.address, system);
        let method = redfish_method(&call.op);
        let fail = |error: String| Approach::Fail {
            after: Duration::ZERO,
            error: BmcFailure::text(format!(
                "Redfish connection failed for node {node}: {error}"
            )),
        };
        let Some(&tls) = self.redfish_sockets.get(&target.address) else {
            return fail(format!(
                "Unable to connect to {url}. Error: connection refused (no BMC listens there)"
            ));
        };
        // The fleet's BMCs serve self-signed certificates that exist only in wire mode: no root
        // and no CA bundle a node names can hold them here, so any check fails.
        if tls && target.verify_ca != VerifyCa::Off {
            return fail(format!(
                "Unable to connect to {url}. Error: invalid peer certificate: UnknownIssuer"
            ));
        }
        let Some(&host) = self.redfish.get(&(target.address.clone(), system.clone())) else {
            let e = RedfishError::NotFound {
                uri: system.clone(),
            };
            return Approach::Fail {
                after: Duration::ZERO,
                error: BmcFailure::http(method, &url, e.status().as_u16(), e),
            };
        };
        match verdict(host, FaultKind::HttpRequest, now) {
            Verdict::Drop => Approach::Fail {
                after: Duration::ZERO,
                error: BmcFailure::text(format!(
                    "HTTP {method} {url} failed. Error: connection closed before message completed"
                )),
            },
            Verdict::Fail5xx(status) => Approach::Fail {
                after: Duration::ZERO,
                error: BmcFailure::http(method, &url, status, RedfishError::ServiceUnavailable),
            },
            Verdict::Delay(after) => Approach::Reach {
                after,
                route: Route::Redfish { host, target, url },
            },
            // An HTTP request never gets the power or firmware verdicts; they proceed.
            Verdict::Proceed | Verdict::AckNoEffect | Verdict::Stick | Verdict::FailTask => {
                Approach::Reach {
                    after: Duration::ZERO,
                    route: Route::Redfish { host, target, url },
                }
            }
        }
    }

    fn approach_ipmi(
        &self,
        call: &DriverCall,
        target: IpmiTarget,
        now: SimTime,
        verdict: &mut impl FnMut(usize, FaultKind, SimTime) -> Verdict,
    ) -> Approach {
        let socket = target.socket;
        let timeout = |operation: &'static str, what: &str, after: Duration| Approach::Fail {
            after,
            error: BmcFailure::text(format!(
                "IPMI call failed: {what}. Error: {}",
                ClientError::Timeout {
                    target: socket,
                    operation,
                    attempts: IPMI_ATTEMPTS,
                }
            )),
        };
        let Some(&host) = self.ipmi.get(&socket) else {
            return timeout(IPMI_HANDSHAKE[0], "session", IPMI_TIMEOUT * IPMI_ATTEMPTS);
        };
        let mut elapsed = Duration::ZERO;
        let exchanges = IPMI_HANDSHAKE
            .iter()
            .map(|op| (*op, "session"))
            .chain(std::iter::once(("command", ipmi_what(&call.op))));
        for (operation, what) in exchanges {
            let mut answered = false;
            for _ in 0..IPMI_ATTEMPTS {
                match verdict(host, FaultKind::IpmiPacket, now + elapsed) {
                    Verdict::Drop => elapsed += IPMI_TIMEOUT,
                    Verdict::Delay(d) => {
                        elapsed += d.min(IPMI_TIMEOUT);
                        answered = d < IPMI_TIMEOUT;
                        if answered {
                            break;
                        }
                    }
                    _ => {
                        answered = true;
                        break;
                    }
                }
            }
            if !answered {
                return timeout(operation, what, elapsed);
            }
        }
        Approach::Reach {
            after: elapsed,
            route: Route::Ipmi { host, target },
        }
    }
}

fn redfish_method(op: &BmcOp) -> &'static str {
    match op {
        BmcOp::GetPower
        | BmcOp::GetSystem
        | BmcOp::GetBios
        | BmcOp::GetFirmware
        | BmcOp::GetBootMode
        | BmcOp::GetHealth => "GET",
        BmcOp::SetPower(_) | BmcOp::InjectNmi | BmcOp::ResetBios => "POST",
        BmcOp::SetBootMode(_) | BmcOp::SetSecureBoot(_) => "PATCH",
        BmcOp::SetBootDevice(_) | BmcOp::PatchBiosSettings(_) => "PATCH",
    }
}

fn ipmi_what(op: &BmcOp) -> &'static str {
    match op {
        BmcOp::GetPower => "power status",
        BmcOp::SetPower(_) => "power",
        BmcOp::SetBootDevice(_) => "chassis bootdev",
        BmcOp::GetSystem => "mc guid",
        BmcOp::GetBios | BmcOp::PatchBiosSettings(_) | BmcOp::ResetBios => "bios",
        BmcOp::GetFirmware => "firmware",
        BmcOp::GetBootMode => "boot mode",
        BmcOp::GetHealth => "health",
        BmcOp::SetBootMode(_) => "boot mode",
        BmcOp::SetSecureBoot(_) => "secure boot",
        BmcOp::InjectNmi => "nmi",
    }
}

/// One host's side of a call: its BMC login, hardware, machine and power-action faults.
pub struct HostBmc<'a> {
    /// The BMC's endpoint and credentials.
    pub bmc: &'a BmcEndpoint,
    /// The host's hardware (for the system document).
    pub profile: &'a HardwareProfile,
    /// The host's name (the system document's `Name`).
    pub name: &'a str,
    /// The machine.
    pub machine: &'a mut Machine,
    /// The host's faults.
    pub faults: &'a FaultSet,
    /// The host's fault stream.
    pub fault_rng: &'a mut ChaCha8Rng,
    /// The node the call is for (Ironic's texts name it).
    pub node: uuid::Uuid,
}

impl HostBmc<'_> {
    /// A power action through the `PowerAction` fault verdict, as the BMC facade applies it.
    fn power_action(
        &mut self,
        now: SimTime,
        action: impl FnOnce(&mut Machine) -> Result<Ack, MachineError>,
    ) -> Result<Ack, MachineError> {
        match self
            .faults
            .verdict(FaultKind::PowerAction, now, self.fault_rng)
        {
            Verdict::AckNoEffect => Ok(Ack::Started),
            Verdict::Stick => {
                let r = action(self.machine);
                self.machine.set_stuck(true);
                r
            }
            _ => action(self.machine),
        }
    }
}

/// The Redfish side of [`operate`].
mod redfish;
use redfish::redfish;

/// Performs the call on the machine at `now` (when the request arrives); the error carries the
/// driver's `last_error` text.
pub fn operate(
    route: &Route,
    op: &BmcOp,
    host: &mut HostBmc<'_>,
    now: SimTime,
) -> Result<CallResult, BmcFailure> {
    host.machine.tick(now);
    match route {
        Route::Redfish { target, url, .. } => redfish(target, url, op, host, now),
        Route::Ipmi { target, .. } => ipmi(target, op, host, now),
    }
}

fn ipmi(
    target: &IpmiTarget,
    op: &BmcOp,
    host: &mut HostBmc<'_>,
    now: SimTime,
) -> Result<CallResult, BmcFailure> {
    let socket = target.socket;
    let failed = |what: &str, e: ClientError| {
        BmcFailure::text(format!("IPMI call failed: {what}. Error: {e}"))
    };
    let creds = &host.bmc.credentials;
    if target.username != creds.username {
        return Err(failed(
            "session",
            ClientError::Refused {
                target: socket,
                stage: "RAKP 1",
                status: RAKP_UNAUTHORIZED_NAME,
            },
        ));
    }
    if !creds.matches(&target.username, &target.password) {
        return Err(failed(
            "session",
            ClientError::Authentication {
                target: socket,
                stage: "RAKP 2",
            },
        ));
    }
    match op {
        BmcOp::GetPower => Ok(CallResult::Power(if host.machine.power().is_powered() {
            NodePower::On
        } else {
            NodePower::Off
        })),
        BmcOp::GetSystem => Ok(CallResult::System(
            json!({"UUID": host.profile.system.uuid.to_string()}),
        )),
        // The ipmi hardware type has no BIOS interface: the conductor never asks.
        BmcOp::GetBios | BmcOp::PatchBiosSettings(_) | BmcOp::ResetBios => {
            Err(BmcFailure::text("IPMI has no BIOS settings to read".into()))
        }
        BmcOp::GetFirmware => Err(BmcFailure::text(
            "IPMI has no firmware components to read".into(),
        )),
        BmcOp::GetBootMode | BmcOp::GetHealth => Err(BmcFailure::text(
            "ipmitool management reads no boot mode or health".into(),
        )),
        BmcOp::SetBootMode(_) | BmcOp::SetSecureBoot(_) | BmcOp::InjectNmi => {
            Err(BmcFailure::text(
                "the simulated ipmitool management sends no boot mode, secure boot or NMI".into(),
            ))
        }
        BmcOp::SetPower(p) => {
            let result = host.power_action(now, |m| match p {
                NodePower::On => m.power_on(now),
                NodePower::Off => m.force_off(now),
                NodePower::SoftOff | NodePower::SoftRebooting => m.graceful_shutdown(now),
                NodePower::Rebooting => m.power_cycle(now),
            });
            result.map(|_| CallResult::Done).map_err(|e| {
                let code = match e {
                    MachineError::PoweredOff { .. } => 0xD5,
                    MachineError::InTransition { .. } => 0xC0,
                    _ => 0xCC,
                };
                failed(
                    "power",
                    ClientError::Completion {
                        target: socket,
                        netfn: NETFN_CHASSIS,
                        cmd: CMD_CHASSIS_CONTROL,
                        code,
                    },
                )
            })
        }
        BmcOp::SetBootDevice(dev) => {
            // Our driver asks for a non-EFI boot (the flags' EFI bit clear), which the BMC applies.
            let (source, mode) = match dev {
                BootDevice::Pxe => (BootSource::Pxe, OverrideMode::Once),
                BootDevice::Disk => (BootSource::Hdd, OverrideMode::Continuous),
            };
            host.machine.set_boot_mode(now, BootMode::Legacy);
            host.machine.set_boot_override(now, source, mode);
            Ok(CallResult::Done)
        }
    }
}
