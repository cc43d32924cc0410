//! Checks of the disk layout: root-device hints and hardware/software RAID.

use super::{FieldError, FieldErrorKind, unsupported};
use crate::api::baremetalhost::{
    HardwareRaidLevel, RaidConfig, RootDeviceHints, SoftwareRaidLevel,
};

/// Largest number of software RAID volumes upstream supports.
pub const MAX_SOFTWARE_RAID_VOLUMES: usize = 2;

/// Root-device hints (also used for software RAID member disks) at `path`.
pub(super) fn validate_hints(path: &str, hints: &RootDeviceHints, errors: &mut Vec<FieldError>) {
    if let Some(device) = &hints.device_name
        && !device.starts_with("/dev/")
    {
        errors.push(FieldError::new(
            FieldErrorKind::Invalid,
            format!("{path}.deviceName"),
            device,
            "device name of a root device hint must be a /dev/ path",
        ));
    }
    if let Some(size) = hints.min_size_gigabytes
        && size < 0
    {
        errors.push(FieldError::new(
            FieldErrorKind::Invalid,
            format!("{path}.minSizeGigabytes"),
            size.to_string(),
            "must not be negative",
        ));
    }
}

/// The RAID layout; `has_root_hints` tells whether `spec.rootDeviceHints` is set.
pub(super) fn validate_raid(raid: &RaidConfig, has_root_hints: bool, errors: &mut Vec<FieldError>) {
    let hardware = raid.hardware_raid_volumes.as_deref().unwrap_or_default();
    let software = raid.software_raid_volumes.as_deref().unwrap_or_default();
    if !hardware.is_empty() && !software.is_empty() {
        errors.push(FieldError::new(
            FieldErrorKind::Forbidden,
            "spec.raid",
            format!(
                "{} hardware and {} software volumes",
                hardware.len(),
                software.len()
            ),
            "hardwareRAIDVolumes and softwareRAIDVolumes can not be set at the same time",
        ));
    }
    for (i, volume) in hardware.iter().enumerate() {
        let path = format!("spec.raid.hardwareRAIDVolumes[{i}]");
        unsupported(
            &format!("{path}.level"),
            volume.level.is_known(),
            volume.level.as_str(),
            HardwareRaidLevel::WIRE_VALUES,
            errors,
        );
        if let Some(name) = &volume.name
            && name.chars().count() > 64
        {
            errors.push(FieldError::new(
                FieldErrorKind::Invalid,
                format!("{path}.name"),
                name,
                "volume name may be at most 64 characters",
            ));
        }
        if volume.number_of_physical_disks.is_some_and(|n| n < 1) {
            errors.push(FieldError::new(
                FieldErrorKind::Invalid,
                format!("{path}.numberOfPhysicalDisks"),
                volume
                    .number_of_physical_disks
                    .unwrap_or_default()
                    .to_string(),
                "must be at least 1",
            ));
        }
    }
    if software.len() > MAX_SOFTWARE_RAID_VOLUMES {
        errors.push(FieldError::new(
            FieldErrorKind::Invalid,
            "spec.raid.softwareRAIDVolumes",
            format!("{} volumes", software.len()),
            format!("at most {MAX_SOFTWARE_RAID_VOLUMES} software RAID volumes are supported"),
        ));
    }
    let mut root_volumes = 0;
    for (i, volume) in software.iter().enumerate() {
        let path = format!("spec.raid.softwareRAIDVolumes[{i}]");
        unsupported(
            &format!("{path}.level"),
            volume.level.is_known(),
            volume.level.as_str(),
            SoftwareRaidLevel::WIRE_VALUES,
            errors,
        );
        if i == 0 && volume.level.is_known() && volume.level != SoftwareRaidLevel::Raid1 {
            errors.push(FieldError::new(
                FieldErrorKind::Invalid,
                format!("{path}.level"),
                volume.level.as_str(),
                "the first software RAID volume holds the OS and must be RAID-1",
            ));
        }
        if !volume.physical_disks.is_empty() && volume.physical_disks.len() < 2 {
            errors.push(FieldError::new(
                FieldErrorKind::Invalid,
                format!("{path}.physicalDisks"),
                format!("{} disk", volume.physical_disks.len()),
                "a software RAID volume needs at least 2 physical disks",
            ));
        }
        for (j, hints) in volume.physical_disks.iter().enumerate() {
            validate_hints(&format!("{path}.physicalDisks[{j}]"), hints, errors);
        }
        if volume.root_volume {
            root_volumes += 1;
            if volume.level != SoftwareRaidLevel::Raid1 {
                errors.push(FieldError::new(
                    FieldErrorKind::Invalid,
                    format!("{path}.rootVolume"),
                    volume.level.as_str(),
                    "the root volume must be RAID-1",
                ));
            }
            if root_volumes > 1 {
                errors.push(FieldError::new(
                    FieldErrorKind::Invalid,
                    format!("{path}.rootVolume"),
                    "true",
                    "rootVolume can be set on only one volume",
                ));
            }
            if has_root_hints {
                errors.push(FieldError::new(
                    FieldErrorKind::Forbidden,
                    format!("{path}.rootVolume"),
                    "true",
                    "rootVolume can not be combined with spec.rootDeviceHints",
                ));
            }
        }
    }
}
