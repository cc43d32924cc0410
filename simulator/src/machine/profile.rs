//! The hardware a simulated machine has: fixed for its life, generated from the fleet's seed.

use serde::{Deserialize, Serialize};

/// Everything a BMC or an inspection agent can report about a machine's hardware.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HardwareProfile {
    /// The name of the profile it was generated from (e.g. `compute`, `gpu`, `small`).
    pub profile: String,
    /// Manufacturer, model, serial and identity of the system.
    pub system: SystemInfo,
    /// Firmware (BIOS/UEFI) identity.
    pub bios: BiosInfo,
    /// Processors: all sockets are identical.
    pub cpu: CpuInfo,
    /// Installed memory.
    pub memory: MemoryInfo,
    /// Network interfaces, in slot order; the first PXE-capable one is the boot NIC.
    pub nics: Vec<Nic>,
    /// Block devices, in controller order; index 0 is the usual root device.
    pub disks: Vec<Disk>,
    /// PCIe devices other than NICs and disks (GPUs, HBAs, ...).
    pub pcie: Vec<PcieDevice>,
    /// Updatable firmware components with their versions.
    pub firmware: Vec<FirmwareComponent>,
}

impl HardwareProfile {
    /// The MAC of the NIC the machine network-boots from (first PXE-enabled NIC), if any.
    pub fn boot_mac(&self) -> Option<&str> {
        self.nics.iter().find(|n| n.pxe).map(|n| n.mac.as_str())
    }

    /// Number of GPUs among the PCIe devices.
    pub fn gpu_count(&self) -> usize {
        self.pcie
            .iter()
            .filter(|d| d.class == PcieClass::Gpu)
            .count()
    }

    /// Total logical CPU threads.
    pub fn cpu_threads(&self) -> u32 {
        self.cpu.count.saturating_mul(self.cpu.threads_per_socket())
    }
}

/// System identity (what Redfish `ComputerSystem` and IPMI `Get Device ID`/`Get System GUID` report).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemInfo {
    /// Manufacturer, e.g. `Contoso`.
    pub vendor: String,
    /// Product name, e.g. `C4140`.
    pub model: String,
    /// Chassis serial number (seeded).
    pub serial: String,
    /// SKU / part number.
    pub sku: String,
    /// SMBIOS system UUID (seeded); also the Redfish system id.
    pub uuid: uuid::Uuid,
}

/// BIOS / UEFI firmware identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BiosInfo {
    /// Firmware vendor.
    pub vendor: String,
    /// Firmware version string.
    pub version: String,
    /// Release date, `YYYY-MM-DD`.
    pub date: String,
}

/// Processor description (per socket) and socket count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuInfo {
    /// Architecture as IPA reports it: `x86_64` or `aarch64`.
    pub arch: String,
    /// Model name.
    pub model: String,
    /// Number of sockets.
    pub count: u32,
    /// Cores per socket.
    pub cores: u32,
    /// Threads per core.
    pub threads_per_core: u32,
    /// Nominal frequency in MHz.
    pub mhz: u32,
    /// CPU feature flags (`vmx`, `avx2`, ...).
    pub flags: Vec<String>,
}

impl CpuInfo {
    /// Logical threads in one socket.
    pub fn threads_per_socket(&self) -> u32 {
        self.cores.saturating_mul(self.threads_per_core)
    }
}

/// Installed memory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryInfo {
    /// Total size in MiB.
    pub total_mib: u64,
    /// Number of identical DIMMs making up the total.
    pub dimms: u32,
    /// DIMM speed in MT/s.
    pub speed_mts: u32,
}

impl MemoryInfo {
    /// Size of one DIMM in MiB.
    pub fn dimm_mib(&self) -> u64 {
        self.total_mib / u64::from(self.dimms.max(1))
    }
}

/// One network interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nic {
    /// OS interface name, e.g. `eno1`.
    pub name: String,
    /// MAC address, lower-case colon-separated (seeded).
    pub mac: String,
    /// Link speed in Mbit/s.
    pub speed_mbps: u32,
    /// Whether the firmware may network-boot from it.
    pub pxe: bool,
    /// NIC vendor.
    pub vendor: String,
    /// NIC model.
    pub model: String,
    /// Neighbour seen over LLDP, if the port is cabled to a managed switch.
    pub lldp: Option<Lldp>,
}

/// LLDP neighbour of a NIC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lldp {
    /// Switch chassis id (a MAC).
    pub switch_id: String,
    /// Switch system name.
    pub switch_name: String,
    /// Switch port id, e.g. `Ethernet1/7`.
    pub port_id: String,
}

/// Kind of block device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiskKind {
    /// Rotational hard drive.
    Hdd,
    /// SATA/SAS solid-state drive.
    Ssd,
    /// NVMe solid-state drive.
    Nvme,
}

/// One block device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disk {
    /// OS device name, e.g. `/dev/sda`, `/dev/nvme0n1`.
    pub name: String,
    /// Drive type.
    pub kind: DiskKind,
    /// Capacity in bytes.
    pub size_bytes: u64,
    /// Drive vendor.
    pub vendor: String,
    /// Drive model.
    pub model: String,
    /// Drive serial (seeded).
    pub serial: String,
    /// World Wide Name, `0x` + 16 hex digits (seeded).
    pub wwn: String,
    /// Whether the drive spins (true for HDDs).
    pub rotational: bool,
    /// SCSI address `host:channel:target:lun`.
    pub hctl: String,
}

/// Class of a PCIe device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PcieClass {
    /// Graphics / compute accelerator.
    Gpu,
    /// Storage controller (RAID/HBA).
    Storage,
    /// Network controller not listed as a NIC.
    Network,
    /// Anything else.
    Other,
}

/// One PCIe device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PcieDevice {
    /// Device class.
    pub class: PcieClass,
    /// Vendor name.
    pub vendor: String,
    /// Model name.
    pub model: String,
    /// PCI vendor id, e.g. `0x10de`.
    pub vendor_id: String,
    /// PCI device id, e.g. `0x20b0`.
    pub device_id: String,
    /// Bus address `dddd:bb:dd.f`.
    pub address: String,
    /// Device serial (seeded; empty when the device has none).
    pub serial: String,
}

/// An updatable firmware component (Redfish `FirmwareInventory` member).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirmwareComponent {
    /// Stable id, e.g. `BIOS`, `BMC`, `NIC.1`.
    pub id: String,
    /// Human name.
    pub name: String,
    /// Installed version.
    pub version: String,
    /// Whether SimpleUpdate may replace it.
    pub updateable: bool,
}
