//! What the firmware knows besides power: boot sources and overrides, BIOS settings, virtual media
//! slots and disk contents. Plain data; [`super::Machine`] owns and changes it.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::bios_registry::BiosRegistry;

/// A device the firmware can boot from (names as in Redfish `BootSourceOverrideTarget`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum BootSource {
    /// Network boot (PXE) from the first PXE-enabled NIC.
    Pxe,
    /// The local disks, in controller order.
    Hdd,
    /// The virtual CD slot.
    Cd,
    /// The virtual floppy/USB slot.
    Floppy,
    /// UEFI HTTP boot from the first PXE-enabled NIC (UEFI mode only).
    UefiHttp,
    /// Stop in the firmware setup screen.
    BiosSetup,
}

impl BootSource {
    /// Every source, in a stable order.
    pub const ALL: [BootSource; 6] = [
        BootSource::Pxe,
        BootSource::Hdd,
        BootSource::Cd,
        BootSource::Floppy,
        BootSource::UefiHttp,
        BootSource::BiosSetup,
    ];

    /// The Redfish spelling (`Pxe`, `Hdd`, `Cd`, `Floppy`, `UefiHttp`, `BiosSetup`).
    pub fn as_str(self) -> &'static str {
        match self {
            BootSource::Pxe => "Pxe",
            BootSource::Hdd => "Hdd",
            BootSource::Cd => "Cd",
            BootSource::Floppy => "Floppy",
            BootSource::UefiHttp => "UefiHttp",
            BootSource::BiosSetup => "BiosSetup",
        }
    }

    /// Reads the Redfish spelling (exact match).
    pub fn parse(s: &str) -> Option<BootSource> {
        BootSource::ALL.into_iter().find(|b| b.as_str() == s)
    }
}

/// How long a boot override lasts (Redfish `BootSourceOverrideEnabled`, IPMI boot flag persistence).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum OverrideMode {
    /// No override: the boot order decides.
    #[default]
    Disabled,
    /// The next boot only; the firmware clears it when it boots.
    Once,
    /// Every boot until changed.
    Continuous,
}

impl OverrideMode {
    /// The Redfish spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            OverrideMode::Disabled => "Disabled",
            OverrideMode::Once => "Once",
            OverrideMode::Continuous => "Continuous",
        }
    }

    /// Reads the Redfish spelling (exact match).
    pub fn parse(s: &str) -> Option<OverrideMode> {
        [
            OverrideMode::Disabled,
            OverrideMode::Once,
            OverrideMode::Continuous,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
    }
}

/// A boot override: a target and how long it lasts. `mode == Disabled` means no override.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootOverride {
    /// Device to boot instead of the boot order.
    pub target: BootSource,
    /// Once, Continuous, or Disabled.
    pub mode: OverrideMode,
}

impl BootOverride {
    /// No override (target kept as `Hdd` for display, mode `Disabled`).
    pub const NONE: BootOverride = BootOverride {
        target: BootSource::Hdd,
        mode: OverrideMode::Disabled,
    };

    /// Whether this override decides the next boot.
    pub fn is_active(&self) -> bool {
        self.mode != OverrideMode::Disabled
    }
}

/// Firmware boot mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum BootMode {
    /// UEFI.
    #[default]
    Uefi,
    /// Legacy BIOS.
    Legacy,
}

impl BootMode {
    /// The Redfish spelling (`UEFI`, `Legacy`).
    pub fn as_str(self) -> &'static str {
        match self {
            BootMode::Uefi => "UEFI",
            BootMode::Legacy => "Legacy",
        }
    }

    /// Reads `UEFI`/`Uefi` or `Legacy`.
    pub fn parse(s: &str) -> Option<BootMode> {
        match s {
            "UEFI" | "Uefi" => Some(BootMode::Uefi),
            "Legacy" => Some(BootMode::Legacy),
            _ => None,
        }
    }
}

/// A BIOS attribute value (Redfish `Bios.Attributes` values are strings, integers or booleans).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum BiosValue {
    /// Boolean attribute.
    Bool(bool),
    /// Integer attribute.
    Int(i64),
    /// Enumeration or string attribute.
    Text(String),
}

impl BiosValue {
    /// The value as JSON, as `Bios.Attributes` and the registry's defaults show it.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            BiosValue::Bool(b) => serde_json::Value::Bool(*b),
            BiosValue::Int(i) => serde_json::Value::from(*i),
            BiosValue::Text(t) => serde_json::Value::String(t.clone()),
        }
    }

    /// True when both values have the same type.
    pub fn same_type(&self, other: &BiosValue) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

/// BIOS settings: what is in effect and what waits for the next reset (Redfish `@Redfish.Settings`),
/// judged by the profile's attribute registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BiosSettings {
    /// Attributes in effect now.
    pub current: BTreeMap<String, BiosValue>,
    /// Attributes to apply at the next reset or power-on.
    pub pending: BTreeMap<String, BiosValue>,
    /// Factory defaults (what `ResetBios` restores).
    pub defaults: BTreeMap<String, BiosValue>,
    /// The attributes this firmware has and the values each accepts.
    #[serde(skip)]
    pub registry: Arc<BiosRegistry>,
}

impl BiosSettings {
    /// The settings a new machine of this registry ships with: its defaults.
    pub fn factory(registry: Arc<BiosRegistry>) -> Self {
        let defaults = registry.defaults();
        BiosSettings {
            current: defaults.clone(),
            pending: BTreeMap::new(),
            defaults,
            registry,
        }
    }
}

/// A virtual media slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum MediaSlot {
    /// Virtual CD/DVD.
    Cd,
    /// Virtual floppy/USB stick.
    Floppy,
}

impl MediaSlot {
    /// Both slots.
    pub const ALL: [MediaSlot; 2] = [MediaSlot::Cd, MediaSlot::Floppy];

    /// The Redfish id (`Cd`, `Floppy`).
    pub fn as_str(self) -> &'static str {
        match self {
            MediaSlot::Cd => "Cd",
            MediaSlot::Floppy => "Floppy",
        }
    }

    /// Reads the Redfish id (exact match).
    pub fn parse(s: &str) -> Option<MediaSlot> {
        MediaSlot::ALL.into_iter().find(|m| m.as_str() == s)
    }

    pub(crate) fn index(self) -> usize {
        match self {
            MediaSlot::Cd => 0,
            MediaSlot::Floppy => 1,
        }
    }
}

/// State of one virtual media slot.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct VirtualMedia {
    /// URL of the inserted image; `None` when empty.
    pub image: Option<String>,
    /// Whether the guest sees the medium read-only.
    pub write_protected: bool,
    /// Whether the BMC has the image attached to the host (true while inserted).
    pub connected: bool,
}

impl VirtualMedia {
    /// True when an image is inserted.
    pub fn inserted(&self) -> bool {
        self.image.is_some()
    }
}

/// An image written to a disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WrittenImage {
    /// Where the image came from.
    pub url: String,
    /// Its checksum as given by the writer (e.g. `sha256:...`).
    pub checksum: String,
    /// The config drive written beside it (its partition), if the deploy gave one. Not serialised:
    /// user data may carry credentials; the guest's own status says what it found there.
    #[serde(skip)]
    pub config_drive: Option<crate::guest::ConfigDrive>,
}

/// What is on one disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiskContents {
    /// Device name, copied from the hardware profile.
    pub name: String,
    /// The image written, if any (kept after a partition-table wipe: the data is still there).
    pub image: Option<WrittenImage>,
    /// Whether a partition table is present (a wipe removes it and makes the disk unbootable).
    pub partition_table: bool,
}

impl DiskContents {
    /// Whether the firmware can boot from this disk.
    pub fn bootable(&self) -> bool {
        self.partition_table && self.image.is_some()
    }
}
