//! `HardwareData` and `HardwareDetails`: what inspection found on a host.

use std::ops::Deref;
use std::sync::Arc;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::baremetalhost::MAC_ADDRESS_PATTERN;
use super::enumeration::string_enum;
use super::wire::{is_empty, is_zero_f64, is_zero_i32, is_zero_i64, null_as_default};

/// The spec of a HardwareData object (named like its host, owned by it).
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "metal3.io",
    version = "v1alpha1",
    kind = "HardwareData",
    plural = "hardwaredata",
    singular = "hardwaredata",
    namespaced,
    shortname = "hd",
    doc = "HardwareData is the Schema for the hardwaredata API.",
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp",
        description = "Time duration since creation of HardwareData"
    )
)]
pub struct HardwareDataSpec {
    /// The inspection result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware: Option<HardwareDetails>,
}

/// Inspection result (`status.hardware`, `HardwareData.spec.hardware`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HardwareDetails {
    /// Manufacturer, product and serial number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_vendor: Option<HardwareSystemVendor>,
    /// Firmware versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware: Option<Firmware>,
    /// Memory in MiB.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_zero_i64"
    )]
    pub ram_mebibytes: i64,
    /// Network interfaces (one entry per IP address on dual-stack NICs).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub nics: Vec<Nic>,
    /// Block devices.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub storage: Vec<Storage>,
    /// Processor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Cpu>,
    /// Hostname reported by the ramdisk.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_empty"
    )]
    pub hostname: String,
    /// Every PCI device (our extension; upstream v0.13.2 has no such field).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        rename = "pciDevices",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub pci_devices: Vec<PciDevice>,
    /// The PCI display controllers among [`HardwareDetails::pci_devices`] (our extension).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub gpus: Vec<PciDevice>,
}

/// One PCI device as the inspection ramdisk reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PciDevice {
    /// PCI vendor id, e.g. `10de`.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        rename = "vendorID",
        skip_serializing_if = "is_empty"
    )]
    pub vendor_id: String,
    /// PCI device id.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        rename = "productID",
        skip_serializing_if = "is_empty"
    )]
    pub product_id: String,
    /// PCI class code, e.g. `030200` for a 3D controller.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_empty"
    )]
    pub class: String,
    /// Revision.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_empty"
    )]
    pub revision: String,
    /// Bus address, e.g. `0000:3b:00.0`.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_empty"
    )]
    pub bus: String,
}

/// System vendor information.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HardwareSystemVendor {
    /// Manufacturer name.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_empty"
    )]
    pub manufacturer: String,
    /// Product name.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_empty"
    )]
    pub product_name: String,
    /// Chassis serial number.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_empty"
    )]
    pub serial_number: String,
}

/// Firmware information.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Firmware {
    /// BIOS/UEFI firmware.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bios: Option<Bios>,
}

/// BIOS/UEFI firmware details.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Bios {
    /// Release date.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_empty"
    )]
    pub date: String,
    /// Vendor.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_empty"
    )]
    pub vendor: String,
    /// Version.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_empty"
    )]
    pub version: String,
}

/// One network interface.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Nic {
    /// Interface name (`eth0`).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_empty"
    )]
    pub name: String,
    /// PCI vendor and device ids, e.g. `0x8086 0x1572`.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_empty"
    )]
    pub model: String,
    /// MAC address.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_empty"
    )]
    #[schemars(regex(pattern = MAC_ADDRESS_PATTERN))]
    pub mac: String,
    /// One IPv4 or IPv6 address.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_empty"
    )]
    pub ip: String,
    /// Link speed in Gbps.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_zero_i64"
    )]
    pub speed_gbps: i64,
    /// VLANs seen on the link.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub vlans: Vec<Vlan>,
    /// Untagged VLAN id.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        rename = "vlanId",
        skip_serializing_if = "is_zero_i32"
    )]
    #[schemars(range(min = 0, max = 4094))]
    pub vlan_id: i32,
    /// Whether the NIC PXE-boots.
    #[serde(default, deserialize_with = "null_as_default")]
    pub pxe: bool,
    /// LLDP data from the attached switch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lldp: Option<Lldp>,
    /// PCI address, e.g. `0000:3b:00.0`.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_empty"
    )]
    pub pci_address: String,
}

/// A VLAN on a NIC.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Vlan {
    /// VLAN id.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_zero_i32"
    )]
    #[schemars(range(min = 0, max = 4094))]
    pub id: i32,
    /// VLAN name.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_empty"
    )]
    pub name: String,
}

/// LLDP neighbour information.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Lldp {
    /// Chassis id of the switch.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        rename = "switchID",
        skip_serializing_if = "is_empty"
    )]
    pub switch_id: String,
    /// Port id on the switch.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        rename = "portID",
        skip_serializing_if = "is_empty"
    )]
    pub port_id: String,
    /// System name of the switch.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        rename = "switchSystemName",
        skip_serializing_if = "is_empty"
    )]
    pub switch_system_name: String,
}

string_enum! {
    /// Kind of disk.
    pub enum DiskType {
        /// Rotational disk.
        Hdd => "HDD",
        /// Solid-state disk.
        Ssd => "SSD",
        /// NVMe device.
        Nvme => "NVME",
    }
}

/// One block device.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Storage {
    /// Device name (`/dev/sda`).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_empty"
    )]
    pub name: String,
    /// Other names (by-path, by-id links).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub alternate_names: Vec<String>,
    /// True for rotational media.
    #[serde(default, deserialize_with = "null_as_default")]
    pub rotational: bool,
    /// HDD, SSD or NVME.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub disk_type: Option<DiskType>,
    /// Size in bytes.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_zero_i64"
    )]
    pub size_bytes: i64,
    /// Vendor.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_empty"
    )]
    pub vendor: String,
    /// Model.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_empty"
    )]
    pub model: String,
    /// Serial number.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_empty"
    )]
    pub serial_number: String,
    /// World wide name.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_empty"
    )]
    pub wwn: String,
    /// Vendor WWN extension.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_empty"
    )]
    pub wwn_vendor_extension: String,
    /// WWN with the vendor extension.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_empty"
    )]
    pub wwn_with_extension: String,
    /// SCSI address.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_empty"
    )]
    pub hctl: String,
}

/// The processor.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Cpu {
    /// Architecture (`x86_64`).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_empty"
    )]
    pub arch: String,
    /// Model name.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_empty"
    )]
    pub model: String,
    /// Clock speed in MHz.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_zero_f64"
    )]
    pub clock_megahertz: f64,
    /// CPU flags.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub flags: Vec<String>,
    /// Logical CPU count.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_zero_i64"
    )]
    pub count: i64,
}

/// `status.hardware`: hardware details shared by the copies of a status. The state machine copies
/// a host's status for every decision and compares the result with the status read; the details
/// are the largest part of a status and change only at inspection, so the copies share one value
/// (a copy is a reference count) and compare by identity before comparing fields. Reads and
/// writes JSON exactly as [`HardwareDetails`] does.
#[derive(Clone, Debug, Default)]
pub struct SharedHardware(Arc<HardwareDetails>);

impl SharedHardware {
    /// Details to share.
    pub fn new(details: HardwareDetails) -> SharedHardware {
        SharedHardware(Arc::new(details))
    }
}

impl From<HardwareDetails> for SharedHardware {
    fn from(details: HardwareDetails) -> SharedHardware {
        SharedHardware::new(details)
    }
}

impl Deref for SharedHardware {
    type Target = HardwareDetails;

    fn deref(&self) -> &HardwareDetails {
        &self.0
    }
}

impl PartialEq for SharedHardware {
    fn eq(&self, other: &SharedHardware) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

impl Serialize for SharedHardware {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for SharedHardware {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<SharedHardware, D::Error> {
        HardwareDetails::deserialize(deserializer).map(SharedHardware::new)
    }
}

#[cfg(test)]
mod shared_tests {
    use super::*;

    fn details() -> HardwareDetails {
        serde_json::from_value(serde_json::json!({
            "ramMebibytes": 4096,
            "hostname": "h-0",
            "nics": [{"name": "eth0", "mac": "52:54:00:00:00:01", "pxe": true, "speedGbps": 10}],
        }))
        .expect("details")
    }

    #[test]
    fn shared_details_read_and_write_the_json_of_the_details() {
        let plain = details();
        let shared = SharedHardware::new(plain.clone());
        let text = serde_json::to_string(&shared).expect("encode");
        assert_eq!(text, serde_json::to_string(&plain).expect("encode"));
        let back: SharedHardware = serde_json::from_str(&text).expect("decode");
        assert_eq!(*back, plain);
    }

    #[test]
    fn copies_share_one_value_and_equality_is_by_fields() {
        let a = SharedHardware::new(details());
        let copy = a.clone();
        assert!(Arc::ptr_eq(&a.0, &copy.0), "a copy is a reference count");
        assert_eq!(a, copy);
        assert_eq!(
            a,
            SharedHardware::new(details()),
            "equal fields, other value"
        );
        let mut other = details();
        other.ram_mebibytes = 8192;
        assert_ne!(a, SharedHardware::new(other));
    }
}
