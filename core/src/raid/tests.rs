use serde_json::json;

use super::*;
use crate::api::{
    HardwareRaidLevel, HardwareRaidVolume, RootDeviceHints, SoftwareRaidLevel, SoftwareRaidVolume,
};

fn hw(volumes: Vec<HardwareRaidVolume>) -> RaidConfig {
    RaidConfig {
        hardware_raid_volumes: Some(volumes),
        software_raid_volumes: None,
    }
}

fn mirror(name: &str) -> HardwareRaidVolume {
    HardwareRaidVolume {
        size_gibibytes: Some(100),
        level: HardwareRaidLevel::Raid1,
        name: Some(name.into()),
        rotational: Some(false),
        ..HardwareRaidVolume::default()
    }
}

fn names(steps: &[Value]) -> Vec<String> {
    steps
        .iter()
        .map(|s| {
            format!(
                "{}.{}",
                s["interface"].as_str().unwrap(),
                s["step"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn hardware_volumes_are_deleted_then_created_with_the_first_as_root() {
    let target = hw(vec![mirror("os"), HardwareRaidVolume::default()]);
    let p = plan("redfish", Some(&target), None, false).unwrap();
    assert_eq!(p.interface, "redfish");
    assert_eq!(
        names(&p.steps),
        ["raid.delete_configuration", "raid.create_configuration"]
    );
    assert_eq!(
        p.logical_disks,
        vec![
            json!({"size_gb": 100, "raid_level": "1", "volume_name": "os", "disk_type": "ssd", "is_root_volume": true}),
            json!({"size_gb": "MAX", "raid_level": "1"}),
        ]
    );
    let hinted = plan("redfish", Some(&target), None, true).unwrap();
    assert!(hinted.logical_disks[0].get("is_root_volume").is_none());
}

#[test]
fn the_layout_already_applied_needs_nothing_and_an_empty_list_clears() {
    let target = hw(vec![mirror("os")]);
    assert_eq!(
        plan("redfish", Some(&target), Some(&target), false).unwrap(),
        RaidPlan {
            interface: "redfish".into(),
            ..RaidPlan::default()
        }
    );
    let clear = hw(vec![]);
    let p = plan("redfish", Some(&clear), Some(&target), false).unwrap();
    assert_eq!(names(&p.steps), ["raid.delete_configuration"]);
    assert!(p.logical_disks.is_empty());
    assert!(
        plan("redfish", None, Some(&target), false)
            .unwrap()
            .steps
            .is_empty()
    );
}

#[test]
fn drivers_without_raid_refuse_hardware_volumes_by_name() {
    let target = hw(vec![mirror("os")]);
    assert_eq!(
        plan("no-raid", Some(&target), None, false).unwrap_err(),
        "RAID settings are defined, but the node's driver no-raid does not support RAID"
    );
    assert!(
        plan("agent", Some(&target), None, false)
            .unwrap_err()
            .contains("only supports software RAID")
    );
}

#[test]
fn bad_volumes_are_refused_naming_what_is_wrong() {
    let twice = hw(vec![mirror("os"), mirror("os")]);
    assert_eq!(
        plan("redfish", Some(&twice), None, false).unwrap_err(),
        "the names(os) of volume[1] and volume[0] are repeated"
    );
    let no_controller = hw(vec![HardwareRaidVolume {
        physical_disks: vec!["Disk.0".into()],
        ..mirror("os")
    }]);
    assert!(
        plan("redfish", Some(&no_controller), None, false)
            .unwrap_err()
            .contains("'controller' must be specified")
    );
    let count = hw(vec![HardwareRaidVolume {
        physical_disks: vec!["Disk.0".into(), "Disk.1".into()],
        controller: Some("RAID.Integrated.1-1".into()),
        number_of_physical_disks: Some(3),
        ..mirror("os")
    }]);
    assert!(
        plan("redfish", Some(&count), None, false)
            .unwrap_err()
            .contains("numberOfPhysicalDisks[3]")
    );
}

#[test]
fn software_raid_goes_through_the_agent_and_erases_metadata_between() {
    let member = |name: &str| RootDeviceHints {
        device_name: Some(name.into()),
        ..RootDeviceHints::default()
    };
    let target = RaidConfig {
        hardware_raid_volumes: None,
        software_raid_volumes: Some(vec![SoftwareRaidVolume {
            size_gibibytes: None,
            level: SoftwareRaidLevel::Raid1,
            physical_disks: vec![member("/dev/sda"), member("/dev/sdb")],
            root_volume: false,
        }]),
    };
    let p = plan("redfish", Some(&target), None, false).unwrap();
    assert_eq!(p.interface, "agent");
    assert_eq!(
        names(&p.steps),
        [
            "raid.delete_configuration",
            "deploy.erase_devices_metadata",
            "raid.create_configuration"
        ]
    );
    assert_eq!(
        p.logical_disks,
        vec![json!({
            "size_gb": "MAX", "raid_level": "1", "controller": "software", "is_root_volume": true,
            "physical_disks": [{"name": "s== /dev/sda"}, {"name": "s== /dev/sdb"}],
        })]
    );
    let raid0 = RaidConfig {
        software_raid_volumes: Some(vec![SoftwareRaidVolume {
            level: SoftwareRaidLevel::Raid0,
            ..target.software_raid_volumes.clone().unwrap()[0].clone()
        }]),
        ..target.clone()
    };
    assert_eq!(
        plan("redfish", Some(&raid0), None, false).unwrap_err(),
        "the level in first volume of software raid must be RAID1"
    );
}
