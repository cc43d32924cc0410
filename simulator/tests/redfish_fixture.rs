//! Shared by the Redfish tests: a small simulated fleet and a Redfish server on loopback.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use metal_sim::fault::FaultSet;
use metal_sim::machine::{
    BiosInfo, BmcEndpoint, BmcProtocol, CpuInfo, Credentials, Disk, DiskKind, FirmwareComponent,
    HardwareProfile, HostSpec, MemoryInfo, Nic, PcieClass, PcieDevice, SimClock, SystemInfo,
    Timing, World,
};
use metal_sim::redfish::{self, RedfishState, ServiceOptions, TlsIdentity};
use tokio_util::sync::CancellationToken;

pub const USER: &str = "admin";
pub const PASSWORD: &str = "s3cret-pw";

/// A deterministic hardware profile for host `n` (a GPU box when `gpus > 0`, else a box with a
/// RAID controller over its two drives).
pub fn profile(n: u8, gpus: usize) -> HardwareProfile {
    let uuid = uuid::Uuid::from_bytes([0x5a, 0x1d, 0, n, 0, 0, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, n]);
    HardwareProfile {
        profile: if gpus > 0 { "gpu" } else { "compute" }.into(),
        system: SystemInfo {
            vendor: "Contoso".into(),
            model: "R650".into(),
            serial: format!("CT{n:06}"),
            sku: "R650-SKU".into(),
            uuid,
        },
        bios: BiosInfo {
            vendor: "Contoso".into(),
            version: "2.1.9".into(),
            date: "2025-03-01".into(),
        },
        cpu: CpuInfo {
            arch: "x86_64".into(),
            model: "Intel(R) Xeon(R) Gold 6338".into(),
            count: 2,
            cores: 32,
            threads_per_core: 2,
            mhz: 2000,
            flags: vec!["vmx".into(), "avx2".into()],
        },
        memory: MemoryInfo {
            total_mib: 262_144,
            dimms: 8,
            speed_mts: 3200,
        },
        nics: vec![
            Nic {
                name: "eno1".into(),
                mac: format!("02:00:00:00:{n:02x}:01"),
                speed_mbps: 25_000,
                pxe: true,
                vendor: "Intel".into(),
                model: "E810".into(),
                lldp: None,
            },
            Nic {
                name: "eno2".into(),
                mac: format!("02:00:00:00:{n:02x}:02"),
                speed_mbps: 25_000,
                pxe: false,
                vendor: "Intel".into(),
                model: "E810".into(),
                lldp: None,
            },
        ],
        disks: vec![
            Disk {
                name: "/dev/sda".into(),
                kind: DiskKind::Ssd,
                size_bytes: 480_000_000_000,
                vendor: "Micron".into(),
                model: "5300".into(),
                serial: format!("MI{n:08}"),
                wwn: format!("0x5000c500{n:08x}"),
                rotational: false,
                hctl: "0:0:0:0".into(),
            },
            Disk {
                name: "/dev/sdb".into(),
                kind: DiskKind::Hdd,
                size_bytes: 4_000_000_000_000,
                vendor: "Seagate".into(),
                model: "Exos".into(),
                serial: format!("SG{n:08}"),
                wwn: format!("0x5000c600{n:08x}"),
                rotational: true,
                hctl: "0:0:1:0".into(),
            },
        ],
        // A GPU box has its drives on the board; the others have a RAID controller.
        pcie: if gpus == 0 {
            vec![PcieDevice {
                class: PcieClass::Storage,
                vendor: "Broadcom".into(),
                model: "MegaRAID 9560-8i".into(),
                vendor_id: "0x1000".into(),
                device_id: "0x10e2".into(),
                address: "0000:65:00.0".into(),
                serial: format!("RAID{n}"),
            }]
        } else {
            (0..gpus)
                .map(|g| PcieDevice {
                    class: PcieClass::Gpu,
                    vendor: "NVIDIA".into(),
                    model: "A100".into(),
                    vendor_id: "0x10de".into(),
                    device_id: "0x20b0".into(),
                    address: format!("0000:{:02x}:00.0", 0x17 + g),
                    serial: format!("GPU{n}{g}"),
                })
                .collect()
        },
        firmware: vec![
            FirmwareComponent {
                id: "BIOS".into(),
                name: "System BIOS".into(),
                version: "2.1.9".into(),
                updateable: true,
            },
            FirmwareComponent {
                id: "BMC".into(),
                name: "BMC firmware".into(),
                version: "7.00.30".into(),
                updateable: true,
            },
        ],
    }
}

/// A world of `count` Redfish hosts all behind `socket` (single-address layout when `count > 1`).
pub fn world(count: u8, socket: SocketAddr, tls: bool, timing: Timing) -> Arc<World> {
    world_with_faults(count, socket, tls, timing, FaultSet::default())
}

/// Same as [`world`], with faults on every host.
pub fn world_with_faults(
    count: u8,
    socket: SocketAddr,
    tls: bool,
    timing: Timing,
    faults: FaultSet,
) -> Arc<World> {
    build(count, socket, tls, timing, faults, |_| PASSWORD.to_string())
}

/// A single-address world whose host `n` (1-based) has the password `password(n)`.
pub fn world_with_passwords(
    count: u8,
    socket: SocketAddr,
    password: impl Fn(u8) -> String,
) -> Arc<World> {
    build(
        count,
        socket,
        false,
        Timing::instant(),
        FaultSet::default(),
        password,
    )
}

/// `count` Redfish hosts, each behind its own loopback address (per-address layout).
pub fn world_per_address(count: u8) -> Arc<World> {
    build_at(
        count,
        |n| SocketAddr::from(([127, 0, 9, n], 8000)),
        false,
        Timing::instant(),
        FaultSet::default(),
        |_| PASSWORD.to_string(),
    )
}

fn build(
    count: u8,
    socket: SocketAddr,
    tls: bool,
    timing: Timing,
    faults: FaultSet,
    password: impl Fn(u8) -> String,
) -> Arc<World> {
    build_at(count, |_| socket, tls, timing, faults, password)
}

fn build_at(
    count: u8,
    socket: impl Fn(u8) -> SocketAddr,
    tls: bool,
    timing: Timing,
    faults: FaultSet,
    password: impl Fn(u8) -> String,
) -> Arc<World> {
    let specs = (1..=count)
        .map(|n| {
            let profile = profile(n, if n == 1 { 2 } else { 0 });
            HostSpec {
                name: format!("node-{n}"),
                labels: BTreeMap::new(),
                bmc: BmcEndpoint {
                    protocol: BmcProtocol::Redfish,
                    socket: socket(n),
                    tls,
                    system_id: profile.system.uuid.to_string(),
                    credentials: Credentials {
                        username: USER.into(),
                        password: password(n),
                    },
                },
                profile,
                faults: faults.clone(),
            }
        })
        .collect();
    Arc::new(World::new(7, timing, SimClock::start_now(), specs).expect("valid world"))
}

/// The Redfish state of the (single) listener of `world`.
pub fn state(world: &Arc<World>) -> RedfishState {
    let plan = world.listeners().into_iter().next().expect("one listener");
    let options = ServiceOptions {
        update_duration: Some(std::time::Duration::from_millis(300)),
        ..ServiceOptions::default()
    };
    redfish::state_for(world, &plan, options)
}

/// The first system's id.
pub fn system_id(world: &World) -> String {
    world.hosts()[0].bmc.system_id.clone()
}

/// The id of the n-th system (0-based).
pub fn nth_system_id(world: &World, n: usize) -> String {
    world.hosts()[n].bmc.system_id.clone()
}

/// A running Redfish server on 127.0.0.1 (ephemeral port) with `count` systems.
pub struct Server {
    pub world: Arc<World>,
    pub address: SocketAddr,
    pub tls: bool,
    /// The served certificate (PEM) when `tls`.
    pub certificate_pem: Option<String>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    pub async fn start(count: u8, tls: bool, timing: Timing) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let address = listener.local_addr().unwrap();
        let world = world(count, address, tls, timing);
        let app = redfish::app(state(&world));
        let identity = tls
            .then(|| TlsIdentity::self_signed(&["127.0.0.1".into(), "localhost".into()]).unwrap());
        let certificate_pem = identity.as_ref().map(|i| i.certificate_pem.clone());
        let stop = CancellationToken::new();
        let task = tokio::spawn({
            let stop = stop.clone();
            async move {
                redfish::serve(listener, app, identity, stop)
                    .await
                    .expect("serve");
            }
        });
        Server {
            world,
            address,
            tls,
            certificate_pem,
            stop,
            task,
        }
    }

    pub fn base_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.address)
    }

    pub async fn stop(self) {
        self.stop.cancel();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), self.task).await;
    }
}
