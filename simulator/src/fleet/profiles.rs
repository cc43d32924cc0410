//! Hardware profile templates (built in or from a fleet file) and seeded per-host generation.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

use crate::machine::{
    BiosInfo, CpuInfo, Disk, DiskKind, FirmwareComponent, HardwareProfile, Lldp, MemoryInfo, Nic,
    PcieClass, PcieDevice, SystemInfo,
};

const BUILTIN: &str = include_str!("builtin-profiles.yaml");

/// A hardware model: everything but the per-host identities (serials, MACs, UUIDs, WWNs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileTemplate {
    /// System manufacturer.
    pub vendor: String,
    /// System model.
    pub model: String,
    /// SKU.
    #[serde(default)]
    pub sku: String,
    /// Firmware identity.
    pub bios: BiosInfo,
    /// Processors.
    pub cpu: CpuInfo,
    /// Memory.
    pub memory: MemoryInfo,
    /// NIC models, in slot order.
    pub nics: Vec<NicTemplate>,
    /// Disk models, in controller order.
    pub disks: Vec<DiskTemplate>,
    /// PCIe devices.
    #[serde(default)]
    pub pcie: Vec<PcieTemplate>,
    /// Firmware components besides the BIOS (which is always listed).
    #[serde(default)]
    pub firmware: Vec<FirmwareComponent>,
}

/// A NIC model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NicTemplate {
    /// Interface name.
    pub name: String,
    /// Link speed in Mbit/s.
    pub speed_mbps: u32,
    /// Network-boot capable.
    #[serde(default)]
    pub pxe: bool,
    /// Vendor.
    pub vendor: String,
    /// Model.
    pub model: String,
    /// Whether the port sees an LLDP neighbour (a generated switch and port).
    #[serde(default)]
    pub lldp: bool,
}

/// A disk model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiskTemplate {
    /// HDD, SSD or NVMe.
    pub kind: DiskKind,
    /// Capacity in (decimal) GB.
    pub size_gb: u64,
    /// Vendor.
    pub vendor: String,
    /// Model.
    pub model: String,
}

/// A PCIe device model, repeated `count` times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PcieTemplate {
    /// Device class.
    pub class: PcieClass,
    /// How many identical devices.
    #[serde(default = "one")]
    pub count: u32,
    /// Vendor.
    pub vendor: String,
    /// Model.
    pub model: String,
    /// PCI vendor id.
    pub vendor_id: String,
    /// PCI device id.
    pub device_id: String,
}

fn one() -> u32 {
    1
}

/// The built-in templates: `compute`, `gpu` (4 GPUs), `small` (a VM-like box).
pub fn builtin_profiles() -> BTreeMap<String, ProfileTemplate> {
    // The embedded file is part of the binary and covered by a test, so a parse failure is a
    // build defect; an empty map keeps this non-panicking all the same.
    serde_yaml::from_str(BUILTIN).unwrap_or_default()
}

/// Identity inputs of one host.
#[derive(Debug, Clone, Copy)]
pub struct HostIdentity {
    /// Fleet seed (mixed into MACs so two fleets with different seeds do not collide).
    pub seed: u64,
    /// Host index in the fleet (makes MACs unique).
    pub index: u32,
}

impl ProfileTemplate {
    /// Checks the sizes a generated host can have (bounded, so a typo cannot exhaust memory).
    pub fn validate(&self) -> Result<(), String> {
        let gpus: u64 = self.pcie.iter().map(|p| u64::from(p.count)).sum();
        let checks = [
            (
                self.cpu.count >= 1 && self.cpu.count <= 16,
                "cpu.count must be 1..=16",
            ),
            (
                self.cpu.cores >= 1 && self.cpu.threads_per_core >= 1,
                "cpu.cores and cpu.threads_per_core must be at least 1",
            ),
            (self.memory.dimms >= 1, "memory.dimms must be at least 1"),
            (self.nics.len() <= 32, "at most 32 NICs"),
            (self.disks.len() <= 64, "at most 64 disks"),
            (gpus <= 64, "at most 64 PCIe devices"),
        ];
        match checks.iter().find(|(ok, _)| !ok) {
            Some((_, why)) => Err((*why).to_string()),
            None => Ok(()),
        }
    }

    /// Generates one host's concrete hardware from this template, drawing identities from `rng`
    /// (the host's `"profile"` stream). MACs are `02:SS:II:II:II:NN` (locally administered; seed byte,
    /// 24-bit host index, NIC index) so they are unique within a fleet of up to 16 M hosts.
    pub fn generate<R: Rng + ?Sized>(
        &self,
        name: &str,
        id: HostIdentity,
        rng: &mut R,
    ) -> HardwareProfile {
        let mut uuid_bytes = [0u8; 16];
        rng.fill_bytes(&mut uuid_bytes);
        let uuid = uuid::Builder::from_random_bytes(uuid_bytes).into_uuid();
        let serial = format!("{}{}", initials(&self.vendor), alnum(rng, 8));
        let seed_byte = (id.seed ^ (id.seed >> 8) ^ (id.seed >> 16) ^ (id.seed >> 24)) as u8;
        let [_, i1, i2, i3] = id.index.to_be_bytes();
        let switch_mac = format!("02:5e:{seed_byte:02x}:{:02x}:00:01", id.index / 48 % 256);
        let nics = self
            .nics
            .iter()
            .enumerate()
            .map(|(n, t)| Nic {
                name: t.name.clone(),
                mac: format!(
                    "02:{seed_byte:02x}:{i1:02x}:{i2:02x}:{i3:02x}:{:02x}",
                    n as u8
                ),
                speed_mbps: t.speed_mbps,
                pxe: t.pxe,
                vendor: t.vendor.clone(),
                model: t.model.clone(),
                lldp: t.lldp.then(|| Lldp {
                    switch_id: switch_mac.clone(),
                    switch_name: format!("leaf-{:02}", id.index / 48 + 1),
                    port_id: format!("Ethernet1/{}", (id.index % 48) * 2 + n as u32 % 2 + 1),
                }),
            })
            .collect();
        let (mut sd, mut nvme) = (0u32, 0u32);
        let disks = self
            .disks
            .iter()
            .enumerate()
            .map(|(n, t)| {
                let dev = if t.kind == DiskKind::Nvme {
                    nvme += 1;
                    format!("/dev/nvme{}n1", nvme - 1)
                } else {
                    sd += 1;
                    format!("/dev/sd{}", sd_letters(sd - 1))
                };
                let mut wwn = String::from("0x5");
                for _ in 0..15 {
                    let _ = write!(wwn, "{:x}", rng.random_range(0..16u8));
                }
                Disk {
                    name: dev,
                    kind: t.kind,
                    size_bytes: t.size_gb.saturating_mul(1_000_000_000),
                    vendor: t.vendor.clone(),
                    model: t.model.clone(),
                    serial: format!("{}{}", initials(&t.vendor), alnum(rng, 10)),
                    wwn,
                    rotational: t.kind == DiskKind::Hdd,
                    hctl: format!("{n}:0:0:0"),
                }
            })
            .collect();
        let mut pcie = Vec::new();
        let mut bus = 0x17u32;
        for t in &self.pcie {
            for _ in 0..t.count {
                pcie.push(PcieDevice {
                    class: t.class,
                    vendor: t.vendor.clone(),
                    model: t.model.clone(),
                    vendor_id: t.vendor_id.clone(),
                    device_id: t.device_id.clone(),
                    address: format!("0000:{:02x}:00.0", bus % 256),
                    serial: if t.class == PcieClass::Gpu {
                        alnum(rng, 13)
                    } else {
                        String::new()
                    },
                });
                bus += 0x14;
            }
        }
        let mut firmware = vec![FirmwareComponent {
            id: "BIOS".into(),
            name: "System BIOS".into(),
            version: self.bios.version.clone(),
            updateable: true,
        }];
        firmware.extend(self.firmware.iter().cloned());
        HardwareProfile {
            profile: name.to_string(),
            system: SystemInfo {
                vendor: self.vendor.clone(),
                model: self.model.clone(),
                serial,
                sku: self.sku.clone(),
                uuid,
            },
            bios: self.bios.clone(),
            cpu: self.cpu.clone(),
            memory: self.memory.clone(),
            nics,
            disks,
            pcie,
            firmware,
        }
    }
}

/// `sda`, …, `sdz`, `sdaa`, … as Linux names them.
fn sd_letters(n: u32) -> String {
    let letter = |k: u32| char::from(b'a' + (k % 26) as u8);
    if n < 26 {
        letter(n).to_string()
    } else {
        format!("{}{}", letter(n / 26 - 1), letter(n))
    }
}

fn initials(vendor: &str) -> String {
    let s: String = vendor
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(2)
        .collect();
    s.to_ascii_uppercase()
}

fn alnum<R: Rng + ?Sized>(rng: &mut R, len: usize) -> String {
    const CHARS: &[u8] = b"0123456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    (0..len)
        .map(|_| char::from(CHARS[rng.random_range(0..CHARS.len())]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::derive_rng;

    #[test]
    fn builtin_profiles_parse_and_the_gpu_server_has_four_gpus() {
        let b = builtin_profiles();
        assert_eq!(b.keys().collect::<Vec<_>>(), ["compute", "gpu", "small"]);
        let hw = b["gpu"].generate(
            "gpu",
            HostIdentity { seed: 1, index: 0 },
            &mut derive_rng(1, "profile", 0),
        );
        assert_eq!(hw.gpu_count(), 4);
        assert_eq!(hw.firmware[0].id, "BIOS");
        assert_eq!(hw.disks[1].name, "/dev/nvme1n1");
    }

    #[test]
    fn scsi_disk_names_continue_after_sdz_like_linux() {
        let names: Vec<String> = [0, 25, 26, 27, 51, 52]
            .into_iter()
            .map(sd_letters)
            .collect();
        assert_eq!(names, ["a", "z", "aa", "ab", "az", "ba"]);
    }

    #[test]
    fn macs_are_unique_across_hosts_and_nics() {
        let t = &builtin_profiles()["compute"];
        let mut macs = std::collections::BTreeSet::new();
        for i in 0..300u32 {
            let hw = t.generate(
                "compute",
                HostIdentity { seed: 9, index: i },
                &mut derive_rng(9, "profile", u64::from(i)),
            );
            for n in hw.nics {
                assert!(macs.insert(n.mac));
            }
        }
    }
}
