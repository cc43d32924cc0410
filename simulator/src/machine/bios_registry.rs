//! The BIOS attribute registry of a hardware profile: which attributes the firmware has, their
//! types (integer with bounds, enumeration with allowed values, string with length bounds,
//! boolean), which are read-only, and their factory defaults. Pure: derived from the profile, and
//! the one place a requested BIOS value is judged.

use std::collections::BTreeMap;

use serde::Serialize;

use super::firmware::BiosValue;
use super::profile::{DiskKind, HardwareProfile, PcieClass};

/// The type of one attribute and the values it accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum AttributeType {
    /// `true` or `false`.
    Boolean,
    /// An integer within `lower..=upper`.
    Integer {
        /// Smallest accepted value.
        lower: i64,
        /// Largest accepted value.
        upper: i64,
    },
    /// One of `values` (exact spelling).
    Enumeration {
        /// The accepted values, in display order.
        values: Vec<String>,
    },
    /// A string whose length in characters is within `min_length..=max_length`.
    String {
        /// Shortest accepted length.
        min_length: usize,
        /// Longest accepted length.
        max_length: usize,
    },
}

impl AttributeType {
    /// The Redfish `Type` of the attribute (`Boolean`, `Integer`, `Enumeration`, `String`).
    pub fn as_str(&self) -> &'static str {
        match self {
            AttributeType::Boolean => "Boolean",
            AttributeType::Integer { .. } => "Integer",
            AttributeType::Enumeration { .. } => "Enumeration",
            AttributeType::String { .. } => "String",
        }
    }
}

/// One BIOS attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BiosAttribute {
    /// Attribute name (the key in `Bios.Attributes`).
    pub name: String,
    /// What a setup screen shows.
    pub display_name: String,
    /// Type and accepted values.
    pub kind: AttributeType,
    /// Whether clients may not change it.
    pub read_only: bool,
    /// Factory default.
    pub default: BiosValue,
}

/// Why a requested BIOS value is refused; each names the attribute.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BiosRefusal {
    /// The registry has no attribute of that name.
    #[error("unknown BIOS attribute {name:?}")]
    Unknown {
        /// Attribute name.
        name: String,
    },
    /// The attribute is read-only.
    #[error("BIOS attribute {name:?} is read-only")]
    ReadOnly {
        /// Attribute name.
        name: String,
    },
    /// The value's type is not the attribute's.
    #[error("BIOS attribute {name:?} takes a value of type {expected}, not {value}")]
    WrongType {
        /// Attribute name.
        name: String,
        /// The attribute's Redfish type.
        expected: &'static str,
        /// The refused value, as text.
        value: String,
    },
    /// An integer outside the attribute's bounds.
    #[error("BIOS attribute {name:?}: {value} is outside {lower}..={upper}")]
    OutOfRange {
        /// Attribute name.
        name: String,
        /// The refused value.
        value: i64,
        /// Smallest accepted value.
        lower: i64,
        /// Largest accepted value.
        upper: i64,
    },
    /// An enumeration value not among the allowed ones.
    #[error("BIOS attribute {name:?}: {value:?} is not one of {allowed:?}")]
    NotInList {
        /// Attribute name.
        name: String,
        /// The refused value.
        value: String,
        /// The accepted values.
        allowed: Vec<String>,
    },
    /// A string shorter or longer than the attribute allows.
    #[error("BIOS attribute {name:?}: a length of {length} is outside {min_length}..={max_length}")]
    BadLength {
        /// Attribute name.
        name: String,
        /// The refused value's length in characters.
        length: usize,
        /// Shortest accepted length.
        min_length: usize,
        /// Longest accepted length.
        max_length: usize,
    },
}

impl BiosRefusal {
    /// The attribute the refusal names.
    pub fn attribute(&self) -> &str {
        match self {
            BiosRefusal::Unknown { name }
            | BiosRefusal::ReadOnly { name }
            | BiosRefusal::WrongType { name, .. }
            | BiosRefusal::OutOfRange { name, .. }
            | BiosRefusal::NotInList { name, .. }
            | BiosRefusal::BadLength { name, .. } => name,
        }
    }
}

/// Registry version served in `RegistryVersion` and in the registry id.
pub const BIOS_REGISTRY_VERSION: &str = "1.0.0";

/// The attributes of one hardware profile's firmware, sorted by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BiosRegistry {
    /// Registry id (`Bios.AttributeRegistry`), e.g. `MetalSimBios_compute.1.0.0`.
    pub id: String,
    /// The attributes, sorted by name.
    pub attributes: Vec<BiosAttribute>,
}

fn enumeration(values: &[&str]) -> AttributeType {
    AttributeType::Enumeration {
        values: values.iter().map(|v| v.to_string()).collect(),
    }
}

const ON_OFF: &[&str] = &["Enabled", "Disabled"];

fn attribute(
    name: &str,
    display_name: &str,
    kind: AttributeType,
    default: BiosValue,
) -> BiosAttribute {
    BiosAttribute {
        name: name.into(),
        display_name: display_name.into(),
        kind,
        read_only: false,
        default,
    }
}

fn text(v: &str) -> BiosValue {
    BiosValue::Text(v.into())
}

impl BiosRegistry {
    /// The registry of `profile`'s firmware: the attributes every machine has, plus those its
    /// hardware calls for (hyper-threading with more than one thread per core, SR-IOV with a
    /// NIC, SATA mode with a SATA drive, above-4G decoding with a GPU).
    pub fn for_profile(profile: &HardwareProfile) -> Self {
        let mut attributes = vec![
            attribute(
                "BootMode",
                "Boot Mode",
                enumeration(&["Uefi", "Legacy"]),
                text("Uefi"),
            ),
            attribute(
                "ProcVirtualization",
                "Virtualization Technology",
                enumeration(ON_OFF),
                text("Enabled"),
            ),
            attribute(
                "NumaNodesPerSocket",
                "NUMA Nodes Per Socket",
                AttributeType::Integer {
                    lower: 1,
                    upper: i64::from(profile.cpu.cores.clamp(1, 4)),
                },
                BiosValue::Int(1),
            ),
            attribute(
                "PxeRetryCount",
                "PXE Retry Count",
                AttributeType::Integer {
                    lower: 0,
                    upper: 10,
                },
                BiosValue::Int(3),
            ),
            attribute(
                "SecureBootAllowed",
                "Secure Boot Allowed",
                AttributeType::Boolean,
                BiosValue::Bool(true),
            ),
            attribute(
                "AssetTag",
                "Asset Tag",
                AttributeType::String {
                    min_length: 0,
                    max_length: 32,
                },
                text(""),
            ),
            BiosAttribute {
                read_only: true,
                ..attribute(
                    "SystemServiceTag",
                    "Service Tag",
                    AttributeType::String {
                        min_length: 1,
                        max_length: 64,
                    },
                    text(&profile.system.serial),
                )
            },
            BiosAttribute {
                read_only: true,
                ..attribute(
                    "SystemMemorySizeMiB",
                    "System Memory Size (MiB)",
                    // 16 TiB. Real registries keep bounds far below 2^53: clients that read
                    // JSON numbers as doubles (gophercloud, and so upstream BMO) refuse more.
                    AttributeType::Integer {
                        lower: 0,
                        upper: 1 << 24,
                    },
                    BiosValue::Int(i64::try_from(profile.memory.total_mib).unwrap_or(i64::MAX)),
                )
            },
        ];
        if profile.cpu.threads_per_core > 1 {
            attributes.push(attribute(
                "ProcHyperThreading",
                "Hyper-Threading",
                enumeration(ON_OFF),
                text("Enabled"),
            ));
        }
        if !profile.nics.is_empty() {
            attributes.push(attribute(
                "SriovGlobalEnable",
                "SR-IOV Global Enable",
                enumeration(ON_OFF),
                text("Disabled"),
            ));
        }
        if profile.disks.iter().any(|d| d.kind != DiskKind::Nvme) {
            attributes.push(attribute(
                "EmbeddedSata",
                "Embedded SATA",
                enumeration(&["AhciMode", "RaidMode", "Off"]),
                text("AhciMode"),
            ));
        }
        if profile.pcie.iter().any(|d| d.class == PcieClass::Gpu) {
            attributes.push(attribute(
                "Above4GDecoding",
                "Above 4G Decoding",
                enumeration(ON_OFF),
                text("Enabled"),
            ));
        }
        attributes.sort_by(|a, b| a.name.cmp(&b.name));
        BiosRegistry {
            id: format!(
                "{}.{BIOS_REGISTRY_VERSION}",
                Self::name_of(&profile.profile)
            ),
            attributes,
        }
    }

    /// The registry name of a profile (`MetalSimBios_<profile>`, other characters than ASCII
    /// letters and digits turned into `_`), without the version.
    pub fn name_of(profile: &str) -> String {
        let clean: String = profile
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        format!("MetalSimBios_{clean}")
    }

    /// The attribute named `name`.
    pub fn get(&self, name: &str) -> Option<&BiosAttribute> {
        self.attributes
            .binary_search_by(|a| a.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.attributes[i])
    }

    /// The factory defaults of every attribute.
    pub fn defaults(&self) -> BTreeMap<String, BiosValue> {
        self.attributes
            .iter()
            .map(|a| (a.name.clone(), a.default.clone()))
            .collect()
    }

    /// Judges one value a client asks for.
    pub fn check(&self, name: &str, value: &BiosValue) -> Result<(), BiosRefusal> {
        let attribute = self.get(name).ok_or_else(|| BiosRefusal::Unknown {
            name: name.to_string(),
        })?;
        if attribute.read_only {
            return Err(BiosRefusal::ReadOnly {
                name: name.to_string(),
            });
        }
        let wrong_type = || BiosRefusal::WrongType {
            name: name.to_string(),
            expected: attribute.kind.as_str(),
            value: match value {
                BiosValue::Bool(b) => b.to_string(),
                BiosValue::Int(i) => i.to_string(),
                BiosValue::Text(t) => format!("{t:?}"),
            },
        };
        match (&attribute.kind, value) {
            (AttributeType::Boolean, BiosValue::Bool(_)) => Ok(()),
            (AttributeType::Integer { lower, upper }, BiosValue::Int(v)) => {
                if (*lower..=*upper).contains(v) {
                    Ok(())
                } else {
                    Err(BiosRefusal::OutOfRange {
                        name: name.to_string(),
                        value: *v,
                        lower: *lower,
                        upper: *upper,
                    })
                }
            }
            (AttributeType::Enumeration { values }, BiosValue::Text(v)) => {
                if values.contains(v) {
                    Ok(())
                } else {
                    Err(BiosRefusal::NotInList {
                        name: name.to_string(),
                        value: v.clone(),
                        allowed: values.clone(),
                    })
                }
            }
            (
                AttributeType::String {
                    min_length,
                    max_length,
                },
                BiosValue::Text(v),
            ) => {
                let length = v.chars().count();
                if (*min_length..=*max_length).contains(&length) {
                    Ok(())
                } else {
                    Err(BiosRefusal::BadLength {
                        name: name.to_string(),
                        length,
                        min_length: *min_length,
                        max_length: *max_length,
                    })
                }
            }
            _ => Err(wrong_type()),
        }
    }

    /// Judges a whole request: the first refusal in name order, or `Ok` when every value is
    /// acceptable.
    pub fn check_all(&self, changes: &BTreeMap<String, BiosValue>) -> Result<(), BiosRefusal> {
        changes
            .iter()
            .try_for_each(|(name, value)| self.check(name, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::{HostIdentity, builtin_profiles};
    use crate::machine::derive_rng;

    fn registry(profile: &str) -> BiosRegistry {
        let hw = builtin_profiles()[profile].generate(
            profile,
            HostIdentity { seed: 7, index: 0 },
            &mut derive_rng(7, "profile", 0),
        );
        BiosRegistry::for_profile(&hw)
    }

    fn check(r: &BiosRegistry, name: &str, value: BiosValue) -> Result<(), BiosRefusal> {
        r.check(name, &value)
    }

    #[test]
    fn registries_follow_the_hardware_of_each_profile() {
        let gpu = registry("gpu");
        let small = registry("small");
        assert_eq!(gpu.id, "MetalSimBios_gpu.1.0.0");
        assert!(gpu.get("Above4GDecoding").is_some());
        assert!(
            gpu.get("EmbeddedSata").is_none(),
            "gpu has NVMe drives only"
        );
        assert!(
            small.get("ProcHyperThreading").is_none(),
            "one thread per core"
        );
        assert!(small.get("Above4GDecoding").is_none());
        assert_eq!(
            small.get("NumaNodesPerSocket").unwrap().kind,
            AttributeType::Integer { lower: 1, upper: 2 }
        );
        let names: Vec<&str> = gpu.attributes.iter().map(|a| a.name.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
    }

    #[test]
    fn each_kind_of_bad_value_is_refused_naming_the_attribute() {
        let r = registry("compute");
        let cases = [
            ("NoSuchThing", BiosValue::Int(1), "Unknown"),
            ("SystemServiceTag", text("X"), "ReadOnly"),
            ("PxeRetryCount", text("three"), "WrongType"),
            ("ProcVirtualization", BiosValue::Bool(true), "WrongType"),
            ("PxeRetryCount", BiosValue::Int(11), "OutOfRange"),
            ("PxeRetryCount", BiosValue::Int(-1), "OutOfRange"),
            ("ProcVirtualization", text("enabled"), "NotInList"),
            ("AssetTag", text(&"x".repeat(33)), "BadLength"),
        ];
        for (name, value, kind) in cases {
            let refusal = check(&r, name, value.clone()).unwrap_err();
            assert_eq!(refusal.attribute(), name, "{refusal}");
            assert!(
                format!("{refusal:?}").starts_with(kind),
                "{name}={value:?}: {refusal:?}, expected {kind}"
            );
        }
    }

    #[test]
    fn values_within_the_rules_are_accepted() {
        let r = registry("compute");
        for (name, value) in [
            ("PxeRetryCount", BiosValue::Int(0)),
            ("PxeRetryCount", BiosValue::Int(10)),
            ("ProcVirtualization", text("Disabled")),
            ("AssetTag", text(&"x".repeat(32))),
            ("AssetTag", text("")),
            ("SecureBootAllowed", BiosValue::Bool(false)),
        ] {
            assert_eq!(check(&r, name, value.clone()), Ok(()), "{name}={value:?}");
        }
    }

    #[test]
    fn every_default_is_a_value_its_attribute_accepts() {
        for profile in ["compute", "gpu", "small"] {
            let mut r = registry(profile);
            for a in &mut r.attributes {
                a.read_only = false;
            }
            for (name, value) in r.defaults() {
                assert_eq!(r.check(&name, &value), Ok(()), "{profile}: {name}");
            }
        }
    }
}
