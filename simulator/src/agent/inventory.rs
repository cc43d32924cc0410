//! The inspection inventory an ironic-python-agent reports, built from a machine's hardware profile.
//!
//! [`Inventory`] has Ironic's `inventory` shape (the body of `POST /v1/continue_inspection` and
//! of `GET /v1/nodes/{node}/inventory`): `interfaces` (with raw LLDP TLVs), `cpu`, `disks`, `memory`,
//! `bmc_address`, `system_vendor`, `boot`, `hostname`. [`inspection_data`] adds the plugin data
//! IPA's default collectors send next to it (`pci_devices`, `root_disk`, `boot_interface`).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::machine::{BootMode, Disk, DiskKind, HardwareProfile, Lldp, PcieClass};

/// One network interface.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interface {
    /// OS name.
    pub name: String,
    /// MAC, lower case.
    pub mac_address: String,
    /// IPv4 address (none: the fake ramdisk does not run DHCP).
    pub ipv4_address: Option<String>,
    /// IPv6 address.
    pub ipv6_address: Option<String>,
    /// Link up.
    pub has_carrier: bool,
    /// Raw LLDP TLVs as `[type, hex value]` pairs.
    pub lldp: Vec<(u8, String)>,
    /// PCI vendor of the NIC.
    pub vendor: Option<String>,
    /// Product name.
    pub product: Option<String>,
    /// DHCP client id.
    pub client_id: Option<String>,
    /// BIOS device name.
    pub biosdevname: Option<String>,
    /// Link speed.
    pub speed_mbps: Option<u32>,
    /// PCI address.
    pub pci_address: Option<String>,
    /// Kernel driver.
    pub driver: Option<String>,
}

/// Processors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cpu {
    /// Model name.
    pub model_name: String,
    /// Frequency in MHz, as a string (IPA's spelling).
    pub frequency: String,
    /// Logical CPUs.
    pub count: u32,
    /// `x86_64` or `aarch64`.
    pub architecture: String,
    /// Feature flags.
    pub flags: Vec<String>,
    /// Sockets.
    pub socket_count: u32,
}

/// One block device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockDevice {
    /// Device path.
    pub name: String,
    /// Model.
    pub model: String,
    /// Size in bytes.
    pub size: u64,
    /// Spinning.
    pub rotational: bool,
    /// World Wide Name.
    pub wwn: Option<String>,
    /// Serial.
    pub serial: Option<String>,
    /// Vendor.
    pub vendor: String,
    /// WWN with extension.
    pub wwn_with_extension: Option<String>,
    /// WWN vendor extension.
    pub wwn_vendor_extension: Option<String>,
    /// SCSI address.
    pub hctl: Option<String>,
    /// `/dev/disk/by-path/…` name.
    pub by_path: Option<String>,
    /// Logical sector size.
    pub logical_sectors: u32,
    /// Physical sector size.
    pub physical_sectors: u32,
    /// Transport (`sata`, `sas`, `nvme`).
    pub tran: Option<String>,
}

/// Memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    /// Usable bytes as the kernel reports them.
    pub total: u64,
    /// Installed MiB.
    pub physical_mb: u64,
}

/// System firmware.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Firmware {
    /// Vendor.
    pub vendor: String,
    /// Version.
    pub version: String,
    /// Build date.
    pub build_date: String,
}

/// System identity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SystemVendor {
    /// Product (model) name.
    pub product_name: String,
    /// Serial.
    pub serial_number: String,
    /// Manufacturer.
    pub manufacturer: String,
    /// Firmware.
    pub firmware: Firmware,
}

/// How the ramdisk booted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Boot {
    /// `uefi` or `bios`.
    pub current_boot_mode: String,
    /// MAC of the NIC it network-booted from.
    pub pxe_interface: Option<String>,
}

/// The IPA inventory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    /// NICs.
    pub interfaces: Vec<Interface>,
    /// CPUs.
    pub cpu: Cpu,
    /// Disks.
    pub disks: Vec<BlockDevice>,
    /// Memory.
    pub memory: Memory,
    /// BMC IPv4 address, when the BMC is reached over IPv4.
    pub bmc_address: Option<String>,
    /// BMC IPv6 address (`::/0` when none, as IPA reports).
    pub bmc_v6address: Option<String>,
    /// System identity.
    pub system_vendor: SystemVendor,
    /// Boot information.
    pub boot: Boot,
    /// Host name.
    pub hostname: String,
}

fn hex(s: &[u8]) -> String {
    s.iter().map(|b| format!("{b:02x}")).collect()
}

fn mac_bytes(mac: &str) -> Vec<u8> {
    mac.split(':')
        .filter_map(|p| u8::from_str_radix(p, 16).ok())
        .collect()
}

/// Raw LLDP TLVs for a neighbour: chassis id (subtype 4, MAC), port id (subtype 5, interface name),
/// system name.
pub fn lldp_tlvs(l: &Lldp) -> Vec<(u8, String)> {
    let mut chassis = vec![4u8];
    chassis.extend(mac_bytes(&l.switch_id));
    let mut port = vec![5u8];
    port.extend(l.port_id.as_bytes());
    vec![
        (1, hex(&chassis)),
        (2, hex(&port)),
        (5, hex(l.switch_name.as_bytes())),
    ]
}

fn tran(d: &Disk) -> &'static str {
    match d.kind {
        DiskKind::Nvme => "nvme",
        DiskKind::Ssd | DiskKind::Hdd => "sas",
    }
}

/// Builds the inventory of `profile` as the agent running on `hostname` sees it. `bmc_address`
/// is the BMC's IPv4 address (None when unknown), `boot_mode` the firmware's mode, `pxe_mac` the
/// NIC the ramdisk network-booted from.
pub fn build(
    hostname: &str,
    profile: &HardwareProfile,
    bmc_address: Option<&str>,
    boot_mode: BootMode,
    pxe_mac: Option<&str>,
) -> Inventory {
    let interfaces = profile
        .nics
        .iter()
        .enumerate()
        .map(|(i, n)| Interface {
            name: n.name.clone(),
            mac_address: n.mac.to_ascii_lowercase(),
            ipv4_address: None,
            ipv6_address: None,
            has_carrier: true,
            lldp: n.lldp.as_ref().map(lldp_tlvs).unwrap_or_default(),
            vendor: Some(n.vendor.clone()),
            product: Some(n.model.clone()),
            client_id: None,
            biosdevname: Some(format!("em{}", i + 1)),
            speed_mbps: Some(n.speed_mbps),
            pci_address: Some(format!("0000:{:02x}:00.0", 0x18 + i)),
            driver: Some("simnet".to_string()),
        })
        .collect();
    let disks = profile
        .disks
        .iter()
        .map(|d| BlockDevice {
            name: d.name.clone(),
            model: d.model.clone(),
            size: d.size_bytes,
            rotational: d.rotational,
            wwn: Some(d.wwn.clone()),
            serial: Some(d.serial.clone()),
            vendor: d.vendor.clone(),
            wwn_with_extension: Some(d.wwn.clone()),
            wwn_vendor_extension: None,
            hctl: Some(d.hctl.clone()),
            by_path: Some(format!(
                "/dev/disk/by-path/pci-0000:00:1f.2-scsi-{}",
                d.hctl
            )),
            logical_sectors: 512,
            physical_sectors: if d.kind == DiskKind::Hdd { 4096 } else { 512 },
            tran: Some(tran(d).to_string()),
        })
        .collect();
    let mem_bytes = profile.memory.total_mib.saturating_mul(1024 * 1024);
    Inventory {
        interfaces,
        cpu: Cpu {
            model_name: profile.cpu.model.clone(),
            frequency: profile.cpu.mhz.to_string(),
            count: profile.cpu_threads(),
            architecture: profile.cpu.arch.clone(),
            flags: profile.cpu.flags.clone(),
            socket_count: profile.cpu.count,
        },
        disks,
        memory: Memory {
            // The kernel keeps a little for itself: report 98 % as usable.
            total: mem_bytes / 50 * 49,
            physical_mb: profile.memory.total_mib,
        },
        bmc_address: bmc_address.map(str::to_string),
        bmc_v6address: Some("::/0".to_string()),
        system_vendor: SystemVendor {
            product_name: profile.system.model.clone(),
            serial_number: profile.system.serial.clone(),
            manufacturer: profile.system.vendor.clone(),
            firmware: Firmware {
                vendor: profile.bios.vendor.clone(),
                version: profile.bios.version.clone(),
                build_date: profile.bios.date.clone(),
            },
        },
        boot: Boot {
            current_boot_mode: match boot_mode {
                BootMode::Uefi => "uefi".to_string(),
                BootMode::Legacy => "bios".to_string(),
            },
            pxe_interface: pxe_mac.map(str::to_ascii_lowercase),
        },
        hostname: hostname.to_string(),
    }
}

fn pci_class(c: PcieClass) -> &'static str {
    match c {
        PcieClass::Gpu => "030200",
        PcieClass::Storage => "010400",
        PcieClass::Network => "020000",
        PcieClass::Other => "ff0000",
    }
}

/// The PCI devices as IPA's `pci-devices` collector lists them (`vendor_id`, `product_id`,
/// `class`, `revision`, `bus`), GPUs included.
pub fn pci_devices(profile: &HardwareProfile) -> Vec<Value> {
    profile
        .pcie
        .iter()
        .map(|d| {
            json!({
                "vendor_id": d.vendor_id.trim_start_matches("0x"),
                "product_id": d.device_id.trim_start_matches("0x"),
                "class": pci_class(d.class),
                "revision": "a1",
                "bus": d.address,
            })
        })
        .collect()
}

/// The whole body of `POST /v1/continue_inspection`: the inventory plus the plugin data IPA's
/// collectors add (`root_disk`, `boot_interface`, `pci_devices`, `lldp_raw` per interface name,
/// `error`).
pub fn inspection_data(inventory: &Inventory, profile: &HardwareProfile) -> Value {
    let root = super::core::root_disk_index(profile, None)
        .ok()
        .and_then(|i| inventory.disks.get(i));
    let lldp_raw: serde_json::Map<String, Value> = inventory
        .interfaces
        .iter()
        .filter(|i| !i.lldp.is_empty())
        .map(|i| (i.name.clone(), json!(i.lldp)))
        .collect();
    json!({
        "inventory": inventory,
        "root_disk": root,
        "boot_interface": inventory.boot.pxe_interface,
        "pci_devices": pci_devices(profile),
        "lldp_raw": lldp_raw,
        "error": null,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::machine::{
        BiosInfo, CpuInfo, HardwareProfile, MemoryInfo, Nic, PcieDevice, SystemInfo,
    };

    pub(crate) fn gpu_profile() -> HardwareProfile {
        HardwareProfile {
            profile: "gpu".into(),
            system: SystemInfo {
                vendor: "Contoso".into(),
                model: "G8".into(),
                serial: "SN1".into(),
                sku: "SKU".into(),
                uuid: uuid::Uuid::nil(),
            },
            bios: BiosInfo {
                vendor: "SimBIOS".into(),
                version: "1.2.3".into(),
                date: "2026-01-01".into(),
            },
            cpu: CpuInfo {
                arch: "x86_64".into(),
                model: "Sim Xeon".into(),
                count: 2,
                cores: 8,
                threads_per_core: 2,
                mhz: 2400,
                flags: vec!["vmx".into()],
            },
            memory: MemoryInfo {
                total_mib: 65536,
                dimms: 4,
                speed_mts: 3200,
            },
            nics: vec![Nic {
                name: "eno1".into(),
                mac: "52:54:00:AA:BB:01".into(),
                speed_mbps: 25000,
                pxe: true,
                vendor: "SimNet".into(),
                model: "X1".into(),
                lldp: Some(Lldp {
                    switch_id: "00:11:22:33:44:55".into(),
                    switch_name: "leaf1".into(),
                    port_id: "Ethernet1/7".into(),
                }),
            }],
            disks: vec![
                Disk {
                    name: "/dev/sda".into(),
                    kind: DiskKind::Ssd,
                    size_bytes: 480 << 30,
                    vendor: "SimDisk".into(),
                    model: "S480".into(),
                    serial: "D1".into(),
                    wwn: "0x5000000000000001".into(),
                    rotational: false,
                    hctl: "0:0:0:0".into(),
                },
                Disk {
                    name: "/dev/sdb".into(),
                    kind: DiskKind::Hdd,
                    size_bytes: 4000 << 30,
                    vendor: "SimDisk".into(),
                    model: "H4T".into(),
                    serial: "D2".into(),
                    wwn: "0x5000000000000002".into(),
                    rotational: true,
                    hctl: "1:0:0:0".into(),
                },
            ],
            pcie: vec![PcieDevice {
                class: PcieClass::Gpu,
                vendor: "NVIDIA".into(),
                model: "A100".into(),
                vendor_id: "0x10de".into(),
                device_id: "0x20b0".into(),
                address: "0000:3b:00.0".into(),
                serial: "G1".into(),
            }],
            firmware: vec![],
        }
    }

    #[test]
    fn inventory_reports_gpus_lldp_and_the_boot_nic() {
        let p = gpu_profile();
        let inv = build(
            "node-1",
            &p,
            Some("127.0.0.1"),
            BootMode::Uefi,
            p.boot_mac(),
        );
        assert_eq!(inv.cpu.count, 32);
        assert_eq!(inv.cpu.socket_count, 2);
        assert_eq!(inv.memory.physical_mb, 65536);
        assert_eq!(inv.interfaces[0].mac_address, "52:54:00:aa:bb:01");
        let lldp = &inv.interfaces[0].lldp;
        assert_eq!(lldp[0], (1, "04001122334455".to_string()));
        assert_eq!(lldp[2].1, hex(b"leaf1"));
        assert_eq!(inv.boot.pxe_interface.as_deref(), Some("52:54:00:aa:bb:01"));
        assert_eq!(inv.system_vendor.manufacturer, "Contoso");
        let data = inspection_data(&inv, &p);
        assert_eq!(data["pci_devices"][0]["vendor_id"], "10de");
        assert_eq!(data["pci_devices"][0]["class"], "030200");
        assert_eq!(data["root_disk"]["name"], "/dev/sda");
        assert_eq!(data["inventory"]["interfaces"][0]["lldp"][1][0], 2);
        assert_eq!(data["lldp_raw"]["eno1"][0][1], "04001122334455");
    }
}
