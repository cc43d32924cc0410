//! The UDP shell: one tokio task per bound socket (one socket per BMC, whichever address layout),
//! each driving a [`Bmc`] engine against its host's machine through the fault facade.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::net::UdpSocket;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::bmc::{Bmc, BmcConfig, Counters, guid_wire_order};
use super::command::{BootFlags, Chassis, ChassisControl, DeviceIdentity, Refusal, boot_device};
use super::session::{Privilege, SessionPolicy, User};
use crate::fault::{FaultKind, Verdict};
use crate::machine::{
    BootMode, BootOverride, BootSource, Host, ListenerKind, MachineError, OverrideMode, SimTime,
    World,
};

/// Largest datagram accepted; RMCP+ messages are far smaller.
const MAX_DATAGRAM: usize = 1024;

/// One already-bound socket and the host whose BMC answers on it.
#[derive(Debug)]
pub struct IpmiBinding {
    /// The bound UDP socket.
    pub socket: UdpSocket,
    /// Index of the host in the world.
    pub host: usize,
    /// Counters for this BMC; keep a clone to observe it.
    pub counters: Arc<Counters>,
}

/// Settings shared by every IPMI BMC of a run.
#[derive(Clone, Debug, Default)]
pub struct IpmiSettings {
    /// Session policy (suites offered, timeouts, limits).
    pub policy: SessionPolicy,
}

/// Failures of the IPMI shell.
#[derive(Debug, thiserror::Error)]
pub enum IpmiServeError {
    /// A socket could not be bound.
    #[error("cannot bind IPMI socket {socket}")]
    Bind {
        /// The address.
        socket: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A binding names a host the world does not have.
    #[error("no host with index {0}")]
    NoSuchHost(usize),
    /// A serving task failed.
    #[error("IPMI serving task failed")]
    Task(#[source] tokio::task::JoinError),
}

/// Binds one UDP socket per IPMI BMC of the world (the world decides the layout: per-address or
/// consecutive ports on one address).
pub async fn bind_all(world: &World) -> Result<Vec<IpmiBinding>, IpmiServeError> {
    let mut out = Vec::new();
    for plan in world
        .listeners()
        .into_iter()
        .filter(|p| p.kind == ListenerKind::Ipmi)
    {
        let socket = UdpSocket::bind(plan.socket)
            .await
            .map_err(|source| IpmiServeError::Bind {
                socket: plan.socket,
                source,
            })?;
        // IPMI is one BMC per socket (the world refuses to share one).
        if let Some(&host) = plan.hosts.first() {
            out.push(IpmiBinding {
                socket,
                host,
                counters: Arc::default(),
            });
        }
    }
    Ok(out)
}

/// The BMC configuration a host implies: its credentials (Administrator), its SMBIOS UUID as the
/// system GUID and a manufacturer ID that follows its vendor.
pub fn bmc_config(host: &Host, policy: SessionPolicy) -> BmcConfig {
    BmcConfig {
        users: vec![User {
            name: host.bmc.credentials.username.clone(),
            password: host.bmc.credentials.password.clone(),
            max_privilege: Privilege::Administrator,
        }],
        guid: guid_wire_order(&host.profile.system.uuid),
        identity: DeviceIdentity {
            manufacturer_id: manufacturer_id(&host.profile.system.vendor),
            ..Default::default()
        },
        policy,
    }
}

fn manufacturer_id(vendor: &str) -> u32 {
    // IANA private enterprise numbers of common server vendors.
    let v = vendor.to_ascii_lowercase();
    if v.contains("dell") {
        674
    } else if v.contains("hewlett") || v.contains("hpe") {
        11
    } else if v.contains("supermicro") {
        10876
    } else if v.contains("lenovo") {
        19046
    } else if v.contains("intel") {
        343
    } else {
        0
    }
}

/// Serves every binding until `shutdown` is cancelled: one task per socket, no thread per BMC.
pub async fn serve(
    world: Arc<World>,
    bindings: Vec<IpmiBinding>,
    settings: IpmiSettings,
    shutdown: CancellationToken,
) -> Result<(), IpmiServeError> {
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    let count = bindings.len();
    for b in bindings {
        let host = world
            .host(b.host)
            .cloned()
            .ok_or(IpmiServeError::NoSuchHost(b.host))?;
        let bmc = Bmc::new(bmc_config(&host, settings.policy.clone()), b.counters);
        tasks.spawn(run_socket(
            world.clone(),
            host,
            Arc::new(b.socket),
            bmc,
            start,
            shutdown.clone(),
        ));
    }
    info!(bmcs = count, "IPMI BMCs serving");
    while let Some(r) = tasks.join_next().await {
        r.map_err(IpmiServeError::Task)?;
    }
    Ok(())
}

async fn run_socket(
    world: Arc<World>,
    host: Arc<Host>,
    socket: Arc<UdpSocket>,
    mut bmc: Bmc,
    start: Instant,
    shutdown: CancellationToken,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    // One waiter for the whole loop: a fresh `cancelled()` per datagram would register and
    // unregister a waiter (two lock round trips) on every packet.
    let stopped = shutdown.cancelled();
    tokio::pin!(stopped);
    loop {
        let (n, peer) = tokio::select! {
            biased;
            () = &mut stopped => return,
            r = socket.recv_from(&mut buf) => match r {
                Ok(v) => v,
                Err(e) => {
                    // ICMP errors surface here on Linux; the socket itself stays usable.
                    debug!(host = %host.name, error = %e, "IPMI receive failed");
                    continue;
                }
            },
        };
        let now = world.now();
        let delay = match host.fault_verdict(FaultKind::IpmiPacket, now) {
            Verdict::Drop => {
                bmc.counters().faulted.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            Verdict::Delay(d) => {
                bmc.counters().faulted.fetch_add(1, Ordering::Relaxed);
                Some(d)
            }
            _ => None,
        };
        let mut chassis = HostChassis { host: &host, now };
        let Some(reply) = bmc.handle_from(peer.ip(), &buf[..n], start.elapsed(), &mut chassis)
        else {
            continue;
        };
        match delay {
            None => send(&socket, &reply, peer, &host.name).await,
            Some(d) => {
                let socket = socket.clone();
                let name = host.name.clone();
                let stop = shutdown.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        () = stop.cancelled() => {}
                        () = tokio::time::sleep(d) => send(&socket, &reply, peer, &name).await,
                    }
                });
            }
        }
    }
}

async fn send(socket: &UdpSocket, reply: &[u8], peer: SocketAddr, host: &str) {
    if let Err(e) = socket.send_to(reply, peer).await {
        warn!(host, %peer, error = %e, "IPMI send failed");
    }
}

/// The [`Chassis`] view of a host at one instant: power goes through the fault facade.
pub struct HostChassis<'a> {
    /// The host.
    pub host: &'a Host,
    /// Simulated now.
    pub now: SimTime,
}

fn refusal(e: &MachineError) -> Refusal {
    match e {
        MachineError::PoweredOff { .. } => Refusal::NotInPresentState,
        MachineError::InTransition { .. } => Refusal::Busy,
        _ => Refusal::Unsupported,
    }
}

impl Chassis for HostChassis<'_> {
    fn power_is_on(&mut self) -> bool {
        self.host.with_machine(self.now, |m| m.power().is_powered())
    }

    fn control(&mut self, action: ChassisControl) -> Result<(), Refusal> {
        let now = self.now;
        self.host
            .power_action(now, |m| match action {
                ChassisControl::PowerDown => m.force_off(now),
                ChassisControl::PowerUp => m.power_on(now),
                ChassisControl::PowerCycle => m.power_cycle(now),
                ChassisControl::HardReset => m.force_restart(now),
                ChassisControl::DiagnosticInterrupt => m.nmi(now),
                ChassisControl::SoftShutdown => m.graceful_shutdown(now),
            })
            .map(|_| ())
            .map_err(|e| refusal(&e))
    }

    fn boot_flags(&mut self) -> BootFlags {
        let (o, mode) = self
            .host
            .with_machine(self.now, |m| (m.boot_override(), m.boot_mode()));
        let device = match o.target {
            BootSource::Pxe | BootSource::UefiHttp => boot_device::PXE,
            BootSource::Hdd => boot_device::DISK,
            BootSource::Cd => boot_device::CD,
            BootSource::Floppy => boot_device::FLOPPY,
            BootSource::BiosSetup => boot_device::BIOS_SETUP,
        };
        BootFlags {
            valid: o.is_active(),
            persistent: o.mode == OverrideMode::Continuous,
            efi: mode == BootMode::Uefi,
            device: if o.is_active() {
                device
            } else {
                boot_device::NONE
            },
        }
    }

    fn set_boot_flags(&mut self, flags: BootFlags) -> Result<(), Refusal> {
        let now = self.now;
        if !flags.valid || flags.device == boot_device::NONE {
            self.host.with_machine(now, |m| {
                m.set_boot_override(now, BootOverride::NONE.target, OverrideMode::Disabled)
            });
            return Ok(());
        }
        let target = match flags.device {
            boot_device::PXE => BootSource::Pxe,
            boot_device::DISK | boot_device::DISK_SAFE | boot_device::REMOTE_DISK => {
                BootSource::Hdd
            }
            boot_device::CD | boot_device::REMOTE_CD => BootSource::Cd,
            boot_device::BIOS_SETUP => BootSource::BiosSetup,
            boot_device::FLOPPY | boot_device::REMOTE_FLOPPY => BootSource::Floppy,
            _ => return Err(Refusal::Unsupported),
        };
        let mode = if flags.persistent {
            OverrideMode::Continuous
        } else {
            OverrideMode::Once
        };
        let boot_mode = if flags.efi {
            BootMode::Uefi
        } else {
            BootMode::Legacy
        };
        self.host.with_machine(now, |m| {
            m.set_boot_mode(now, boot_mode);
            m.set_boot_override(now, target, mode);
        });
        Ok(())
    }
}
