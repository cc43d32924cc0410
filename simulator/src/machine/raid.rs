//! Hardware RAID: the storage controller a profile's PCIe storage device gives a machine, the RAID
//! levels it supports, and the logical volumes built on its drives. Pure: a request is judged
//! whole (level, drives, capacity) before anything changes.

use serde::Serialize;

use super::profile::{HardwareProfile, PcieClass};

/// A hardware RAID level (Redfish `RAIDType` spelling via [`RaidLevel::as_str`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum RaidLevel {
    /// Striping.
    Raid0,
    /// Mirroring of two drives.
    Raid1,
    /// Striping with one parity drive.
    Raid5,
    /// Striping with two parity drives.
    Raid6,
    /// Striped mirrors.
    Raid10,
}

impl RaidLevel {
    /// Every level, in a stable order.
    pub const ALL: [RaidLevel; 5] = [
        RaidLevel::Raid0,
        RaidLevel::Raid1,
        RaidLevel::Raid5,
        RaidLevel::Raid6,
        RaidLevel::Raid10,
    ];

    /// The Redfish spelling (`RAID0`, `RAID1`, `RAID5`, `RAID6`, `RAID10`).
    pub fn as_str(self) -> &'static str {
        match self {
            RaidLevel::Raid0 => "RAID0",
            RaidLevel::Raid1 => "RAID1",
            RaidLevel::Raid5 => "RAID5",
            RaidLevel::Raid6 => "RAID6",
            RaidLevel::Raid10 => "RAID10",
        }
    }

    /// Reads the Redfish spelling (exact match).
    pub fn parse(s: &str) -> Option<RaidLevel> {
        RaidLevel::ALL.into_iter().find(|l| l.as_str() == s)
    }

    /// What `drives` drives of which the smallest holds `smallest` bytes give at this level, or
    /// why that drive count does not make such a volume.
    pub fn usable_bytes(self, drives: usize, smallest: u64) -> Result<u64, &'static str> {
        let n = u64::try_from(drives).unwrap_or(u64::MAX);
        let data_drives = match self {
            RaidLevel::Raid0 if n >= 1 => n,
            RaidLevel::Raid1 if n == 2 => 1,
            RaidLevel::Raid5 if n >= 3 => n - 1,
            RaidLevel::Raid6 if n >= 4 => n - 2,
            RaidLevel::Raid10 if n >= 4 && n % 2 == 0 => n / 2,
            RaidLevel::Raid0 => return Err("at least 1 drive"),
            RaidLevel::Raid1 => return Err("exactly 2 drives"),
            RaidLevel::Raid5 => return Err("at least 3 drives"),
            RaidLevel::Raid6 => return Err("at least 4 drives"),
            RaidLevel::Raid10 => return Err("an even number of drives, at least 4"),
        };
        Ok(data_drives.saturating_mul(smallest))
    }
}

/// The RAID controller of a machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RaidController {
    /// Vendor and model of the PCIe device it is.
    pub model: String,
    /// The levels it can build.
    pub levels: Vec<RaidLevel>,
}

impl RaidController {
    /// The controller of `profile`: its first PCIe storage device, supporting RAID 0, 1, 5, 6 and
    /// 10 over every drive; none when the profile has no storage device (drives on the board).
    pub fn for_profile(profile: &HardwareProfile) -> Option<Self> {
        let device = profile
            .pcie
            .iter()
            .find(|d| d.class == PcieClass::Storage)?;
        Some(RaidController {
            model: format!("{} {}", device.vendor, device.model),
            levels: RaidLevel::ALL.to_vec(),
        })
    }
}

/// One logical volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Volume {
    /// Stable id within the machine (`1`, `2`, ...; never reused).
    pub id: u64,
    /// Name given at creation (or `Volume <id>`).
    pub name: String,
    /// RAID level.
    pub level: RaidLevel,
    /// Member drives, as indices into the profile's disks, ascending.
    pub drives: Vec<usize>,
    /// Size in bytes.
    pub capacity_bytes: u64,
}

/// A request for a new volume, as a client gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeRequest {
    /// Name; `None` gives `Volume <id>`.
    pub name: Option<String>,
    /// The RAID type as spelled by the client.
    pub raid_type: String,
    /// Member drives (profile disk indices).
    pub drives: Vec<usize>,
    /// Requested size; `None` = all the drives give at that level.
    pub capacity_bytes: Option<u64>,
}

/// Why a volume request or deletion is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RaidRefusal {
    /// The machine has no RAID controller.
    #[error("this machine has no RAID controller")]
    NoController,
    /// A RAID type the controller does not build (or no RAID type at all).
    #[error(
        "RAID type {raid_type:?} is not supported by the controller (supported: {supported:?})"
    )]
    LevelUnsupported {
        /// As given.
        raid_type: String,
        /// The controller's levels.
        supported: Vec<&'static str>,
    },
    /// No drives named.
    #[error("a volume needs at least one drive")]
    NoDrives,
    /// A drive index the controller does not have.
    #[error("drive {index} is not attached to the controller")]
    UnknownDrive {
        /// Index given.
        index: usize,
    },
    /// A drive named twice.
    #[error("drive {index} is named twice")]
    DuplicateDrive {
        /// Index given.
        index: usize,
    },
    /// A drive already in a volume.
    #[error("drive {index} already belongs to volume {volume}")]
    DriveInUse {
        /// Index given.
        index: usize,
        /// The volume holding it.
        volume: u64,
    },
    /// The drive count does not make a volume of that level.
    #[error("{level} needs {need}, got {got}")]
    DriveCount {
        /// The level.
        level: &'static str,
        /// What it needs.
        need: &'static str,
        /// Drives named.
        got: usize,
    },
    /// More capacity than the drives give at that level (or none).
    #[error("a capacity of {requested} bytes is outside 1..={max} for these drives at this level")]
    Capacity {
        /// Requested bytes.
        requested: u64,
        /// What the drives give.
        max: u64,
    },
    /// No volume with that id.
    #[error("no volume {id}")]
    NoSuchVolume {
        /// Id given.
        id: u64,
    },
}

/// The controller, the drive sizes it sees and the volumes built on them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RaidState {
    controller: Option<RaidController>,
    drive_bytes: Vec<u64>,
    volumes: Vec<Volume>,
    next_id: u64,
}

/// At most this many volumes per machine (one per drive is the most a real one builds).
const MAX_VOLUMES: usize = 64;

impl RaidState {
    /// No volumes yet, on `profile`'s controller and drives.
    pub fn new(profile: &HardwareProfile) -> Self {
        RaidState {
            controller: RaidController::for_profile(profile),
            drive_bytes: profile.disks.iter().map(|d| d.size_bytes).collect(),
            volumes: Vec::new(),
            next_id: 1,
        }
    }

    /// The controller, if the machine has one.
    pub fn controller(&self) -> Option<&RaidController> {
        self.controller.as_ref()
    }

    /// The volumes, oldest first.
    pub fn volumes(&self) -> &[Volume] {
        &self.volumes
    }

    /// The volume holding drive `index`, if any.
    pub fn volume_of_drive(&self, index: usize) -> Option<&Volume> {
        self.volumes.iter().find(|v| v.drives.contains(&index))
    }

    /// Judges `request` whole and, when every part is acceptable, builds the volume.
    pub fn create(&mut self, request: VolumeRequest) -> Result<&Volume, RaidRefusal> {
        let controller = self.controller.as_ref().ok_or(RaidRefusal::NoController)?;
        let level = RaidLevel::parse(&request.raid_type)
            .filter(|l| controller.levels.contains(l))
            .ok_or_else(|| RaidRefusal::LevelUnsupported {
                raid_type: request.raid_type.clone(),
                supported: controller.levels.iter().map(|l| l.as_str()).collect(),
            })?;
        if request.drives.is_empty() {
            return Err(RaidRefusal::NoDrives);
        }
        let mut drives = request.drives.clone();
        drives.sort_unstable();
        for pair in drives.windows(2) {
            if pair[0] == pair[1] {
                return Err(RaidRefusal::DuplicateDrive { index: pair[0] });
            }
        }
        let mut smallest = u64::MAX;
        for &index in &drives {
            let bytes = *self
                .drive_bytes
                .get(index)
                .ok_or(RaidRefusal::UnknownDrive { index })?;
            if let Some(v) = self.volume_of_drive(index) {
                return Err(RaidRefusal::DriveInUse {
                    index,
                    volume: v.id,
                });
            }
            smallest = smallest.min(bytes);
        }
        let max =
            level
                .usable_bytes(drives.len(), smallest)
                .map_err(|need| RaidRefusal::DriveCount {
                    level: level.as_str(),
                    need,
                    got: drives.len(),
                })?;
        let capacity_bytes = request.capacity_bytes.unwrap_or(max);
        if capacity_bytes == 0 || capacity_bytes > max {
            return Err(RaidRefusal::Capacity {
                requested: capacity_bytes,
                max,
            });
        }
        if self.volumes.len() >= MAX_VOLUMES {
            // Unreachable with distinct drives below 64, kept as a bound all the same.
            return Err(RaidRefusal::DriveCount {
                level: level.as_str(),
                need: "a free volume slot",
                got: drives.len(),
            });
        }
        let id = self.next_id;
        self.next_id += 1;
        self.volumes.push(Volume {
            id,
            name: request.name.unwrap_or_else(|| format!("Volume {id}")),
            level,
            drives,
            capacity_bytes,
        });
        Ok(&self.volumes[self.volumes.len() - 1])
    }

    /// Removes volume `id`, freeing its drives.
    pub fn delete(&mut self, id: u64) -> Result<Volume, RaidRefusal> {
        let pos = self
            .volumes
            .iter()
            .position(|v| v.id == id)
            .ok_or(RaidRefusal::NoSuchVolume { id })?;
        Ok(self.volumes.remove(pos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::{HostIdentity, builtin_profiles};
    use crate::machine::derive_rng;

    fn state(profile: &str) -> RaidState {
        let hw = builtin_profiles()[profile].generate(
            profile,
            HostIdentity { seed: 3, index: 0 },
            &mut derive_rng(3, "profile", 0),
        );
        RaidState::new(&hw)
    }

    fn request(raid_type: &str, drives: &[usize], capacity: Option<u64>) -> VolumeRequest {
        VolumeRequest {
            name: None,
            raid_type: raid_type.into(),
            drives: drives.to_vec(),
            capacity_bytes: capacity,
        }
    }

    #[test]
    fn usable_capacity_follows_the_level_and_the_smallest_drive() {
        let gb = 1_000_000_000;
        assert_eq!(RaidLevel::Raid0.usable_bytes(3, gb), Ok(3 * gb));
        assert_eq!(RaidLevel::Raid1.usable_bytes(2, gb), Ok(gb));
        assert_eq!(RaidLevel::Raid5.usable_bytes(4, gb), Ok(3 * gb));
        assert_eq!(RaidLevel::Raid6.usable_bytes(4, gb), Ok(2 * gb));
        assert_eq!(RaidLevel::Raid10.usable_bytes(6, gb), Ok(3 * gb));
        assert!(RaidLevel::Raid1.usable_bytes(3, gb).is_err());
        assert!(RaidLevel::Raid5.usable_bytes(2, gb).is_err());
        assert!(RaidLevel::Raid10.usable_bytes(5, gb).is_err());
    }

    #[test]
    fn a_mirror_is_built_freed_and_its_drives_reused() {
        let mut s = state("compute");
        let smallest = s.drive_bytes[0].min(s.drive_bytes[1]);
        let v = s.create(request("RAID1", &[1, 0], None)).unwrap().clone();
        assert_eq!(
            (v.id, v.drives.clone(), v.capacity_bytes),
            (1, vec![0, 1], smallest)
        );
        assert_eq!(
            s.create(request("RAID0", &[0], None)),
            Err(RaidRefusal::DriveInUse {
                index: 0,
                volume: 1
            })
        );
        assert_eq!(s.delete(1).unwrap().id, 1);
        assert_eq!(s.delete(1), Err(RaidRefusal::NoSuchVolume { id: 1 }));
        assert_eq!(s.create(request("RAID0", &[0], None)).unwrap().id, 2);
    }

    #[test]
    fn every_bad_request_is_refused_and_changes_nothing() {
        let mut s = state("compute");
        let before = s.clone();
        let max_mirror = s.drive_bytes[0].min(s.drive_bytes[1]);
        let cases = [
            (request("RAID50", &[0, 1], None), "LevelUnsupported"),
            (request("RAID1", &[], None), "NoDrives"),
            (request("RAID1", &[0, 9], None), "UnknownDrive"),
            (request("RAID1", &[0, 0], None), "DuplicateDrive"),
            (request("RAID1", &[0, 1, 2], None), "DriveCount"),
            (request("RAID10", &[0, 1, 2], None), "DriveCount"),
            (request("RAID1", &[0, 1], Some(max_mirror + 1)), "Capacity"),
            (request("RAID1", &[0, 1], Some(0)), "Capacity"),
        ];
        for (req, kind) in cases {
            let refusal = s.create(req.clone()).unwrap_err();
            assert!(
                format!("{refusal:?}").starts_with(kind),
                "{req:?}: {refusal:?}"
            );
            assert_eq!(s, before);
        }
    }

    #[test]
    fn a_machine_without_a_storage_device_has_no_controller() {
        let mut s = state("gpu");
        assert!(s.controller().is_none());
        assert_eq!(
            s.create(request("RAID1", &[0, 1], None)),
            Err(RaidRefusal::NoController)
        );
    }
}
