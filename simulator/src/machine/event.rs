//! What a machine reports: power states, boot outcomes, events, acknowledgements and refusals.

use serde::Serialize;

use super::bios_registry::BiosRefusal;
use super::firmware::{BootSource, MediaSlot};
use super::raid::RaidRefusal;
use super::time::SimTime;
use crate::fault::Health;

/// Chassis power as a BMC reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum PowerState {
    /// Off (standby power only).
    Off,
    /// Turning on: power-on self test in progress.
    PoweringOn,
    /// On.
    On,
    /// Turning off (hard or graceful).
    PoweringOff,
}

impl PowerState {
    /// The Redfish spelling (`Off`, `PoweringOn`, `On`, `PoweringOff`).
    pub fn as_str(self) -> &'static str {
        match self {
            PowerState::Off => "Off",
            PowerState::PoweringOn => "PoweringOn",
            PowerState::On => "On",
            PowerState::PoweringOff => "PoweringOff",
        }
    }

    /// What IPMI `Get Chassis Status` reports: main power is on unless fully off.
    pub fn is_powered(self) -> bool {
        self != PowerState::Off
    }
}

/// How a ramdisk was started: the extension point where the fake agent plugs in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind")]
pub enum RamdiskSource {
    /// Network boot (PXE) from the NIC with this MAC.
    Pxe {
        /// MAC of the booting NIC.
        mac: String,
    },
    /// UEFI HTTP boot from the NIC with this MAC.
    UefiHttp {
        /// MAC of the booting NIC.
        mac: String,
    },
    /// Virtual media in `slot` with this image URL.
    VirtualMedia {
        /// The slot booted from.
        slot: MediaSlot,
        /// The inserted image URL.
        image: String,
    },
}

/// What the firmware ended up booting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind")]
pub enum BootOutcome {
    /// A ramdisk (deploy/inspection agent) started.
    Ramdisk {
        /// Which path started it.
        via: RamdiskSource,
    },
    /// The operating system image written on `disk`.
    Disk {
        /// Device name of the disk booted.
        disk: String,
        /// URL of the image written on it.
        image: String,
    },
    /// The firmware setup screen.
    BiosSetup,
    /// Nothing bootable: the machine sits at a firmware error screen.
    NoBootableDevice,
}

/// A boot that happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BootRecord {
    /// When the firmware made its choice.
    pub at: SimTime,
    /// What the firmware picked (override or boot order).
    pub source: Option<BootSource>,
    /// What it booted.
    pub outcome: BootOutcome,
    /// Which boot of this machine it was (1 = first).
    pub count: u64,
}

/// Something that happened to a machine, in order. Drained with [`Machine::take_events`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event")]
pub enum MachineEvent {
    /// Power state changed.
    PowerChanged {
        /// When.
        at: SimTime,
        /// Previous state.
        from: PowerState,
        /// New state.
        to: PowerState,
    },
    /// The firmware booted something (see [`BootOutcome::Ramdisk`] for the agent hook).
    Booted {
        /// The boot.
        record: BootRecord,
    },
    /// A `Once` override was consumed by a boot.
    BootOverrideCleared {
        /// When.
        at: SimTime,
    },
    /// Pending BIOS settings took effect at a reset.
    BiosApplied {
        /// When.
        at: SimTime,
        /// Names of the attributes applied.
        attributes: Vec<String>,
    },
    /// A diagnostic interrupt was delivered.
    Nmi {
        /// When.
        at: SimTime,
    },
    /// Virtual media inserted (`image` set) or ejected (`image` none).
    MediaChanged {
        /// When.
        at: SimTime,
        /// The slot.
        slot: MediaSlot,
        /// The new image, if inserted.
        image: Option<String>,
    },
    /// The health the BMC reports for the machine (the worst of its parts) changed, because a
    /// fault degraded a part or was cleared.
    HealthChanged {
        /// When.
        at: SimTime,
        /// Previous health.
        from: Health,
        /// New health.
        to: Health,
    },
    /// A disk's contents changed (image written, partition table wiped, disk erased).
    DiskChanged {
        /// When.
        at: SimTime,
        /// Device name.
        disk: String,
        /// Whether it is bootable now.
        bootable: bool,
    },
}

/// How a request was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Ack {
    /// A transition started or the change was made.
    Started,
    /// Already in the requested state: nothing to do.
    Unchanged,
    /// Accepted and queued behind the transition in progress.
    Queued,
}

/// A request the machine refuses, with the reason a BMC would give.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MachineError {
    /// The action needs the machine on (graceful shutdown, restart, NMI, power cycle).
    #[error("{action} refused: the machine is powered off")]
    PoweredOff {
        /// The refused action.
        action: &'static str,
    },
    /// The action needs a settled power state.
    #[error("{action} refused: a power transition is in progress")]
    InTransition {
        /// The refused action.
        action: &'static str,
    },
    /// The media slot already holds an image.
    #[error("virtual media slot {slot:?} already holds an image")]
    MediaSlotBusy {
        /// The slot.
        slot: MediaSlot,
    },
    /// No such disk index.
    #[error("no disk at index {index} (the machine has {count})")]
    NoSuchDisk {
        /// Requested index.
        index: usize,
        /// Number of disks.
        count: usize,
    },
    /// A BIOS value the attribute registry refuses (unknown, read-only, wrong type, out of range,
    /// not among the allowed values, bad length).
    #[error("BIOS setting refused: {0}")]
    BiosSettingRefused(BiosRefusal),
    /// A RAID volume request or deletion the controller refuses.
    #[error("RAID request refused: {0}")]
    RaidRefused(RaidRefusal),
    /// Secure boot can only be enabled in UEFI mode.
    #[error("secure boot needs UEFI boot mode")]
    SecureBootNeedsUefi,
    /// A boot order that names a source twice or is empty.
    #[error("invalid boot order: {reason}")]
    InvalidBootOrder {
        /// Why.
        reason: &'static str,
    },
}
