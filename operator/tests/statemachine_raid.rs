//! `spec.raid` in `preparing`: the node's RAID interface and target configuration are set and the
//! RAID steps run in one manual clean (with the BIOS steps when both are wanted); nothing is
//! recorded as applied before Ironic accepts the clean; a driver without RAID is a preparation
//! error naming it; after a failed clean the layout is built again.

mod statemachine_support;

use metal_operator::api::{ErrorType, HardwareRaidLevel, HardwareRaidVolume, RaidConfig};
use metal_operator::provisioner::{Action, TargetRaid};
use serde_json::json;
use statemachine_support::*;

fn raid() -> RaidConfig {
    RaidConfig {
        hardware_raid_volumes: Some(vec![HardwareRaidVolume {
            size_gibibytes: Some(200),
            level: HardwareRaidLevel::Raid1,
            name: Some("os".into()),
            ..HardwareRaidVolume::default()
        }]),
        software_raid_volumes: None,
    }
}

fn preparing_with_raid(ironic: &str) -> Case {
    Case::at(
        host(S::Preparing).spec(|s| s.raid = Some(raid())).build(),
        ironic,
    )
}

#[test]
fn an_available_host_whose_raid_changed_goes_to_preparing() {
    let h = host(S::Available).spec(|s| s.raid = Some(raid())).build();
    let d = Case::at(h, "available").run();
    assert_eq!(state(&d), S::Preparing);
}

#[test]
fn preparing_moves_the_node_to_manageable_then_cleans_with_the_target_configuration() {
    let d = preparing_with_raid("available").run();
    assert_eq!(action(&d), Some(&Action::Manage));
    assert_eq!(d.status.provisioning.raid, None, "nothing applied yet");

    let d = preparing_with_raid("manageable").run();
    let expected = Action::Clean {
        steps: vec![
            json!({"interface": "raid", "step": "delete_configuration"}),
            json!({"interface": "raid", "step": "create_configuration"}),
        ],
        raid: Some(TargetRaid {
            interface: "redfish".into(),
            logical_disks: vec![json!({
                "size_gb": 200, "raid_level": "1", "volume_name": "os", "is_root_volume": true,
            })],
        }),
    };
    assert_eq!(action(&d), Some(&expected));
    assert_eq!(state(&d), S::Preparing);
    assert_eq!(
        d.status.provisioning.raid,
        Some(raid()),
        "recorded with the clean"
    );
}

#[test]
fn once_the_layout_is_applied_preparing_ends() {
    let h = host(S::Preparing)
        .spec(|s| s.raid = Some(raid()))
        .status(|s| s.provisioning.raid = Some(raid()))
        .build();
    let d = Case::at(h, "manageable").run();
    assert_eq!(action(&d), None);
    assert_eq!(state(&d), S::Available);
}

#[test]
fn a_driver_without_raid_is_refused_naming_the_field_and_nothing_is_sent() {
    let h = host(S::Preparing)
        .spec(|s| {
            s.raid = Some(raid());
            s.bmc.address = "ipmi://127.0.0.1:6230".into();
        })
        .build();
    let d = Case::at(h, "manageable").run();
    // The spec check every decision starts with refuses it first, naming the field.
    assert_eq!(
        d.status.error_message,
        "spec.raid.hardwareRAIDVolumes: Forbidden: \"ipmi\": RAID settings are defined, but the \
         BMC driver ipmi doesn't support setting RAID"
    );
    assert_eq!(action(&d), None);
    assert_eq!(state(&d), S::Preparing);
}

#[test]
fn after_a_failed_clean_the_layout_is_unknown_and_built_again() {
    let h = host(S::Preparing)
        .spec(|s| s.raid = Some(raid()))
        .status(|s| s.provisioning.raid = Some(raid()))
        .error(ErrorType::Preparation, 1)
        .build();
    let mut case = Case::at(h, "clean failed");
    case.now += chrono::Duration::hours(1);
    let d = case.run();
    assert_eq!(action(&d), Some(&Action::Manage));
    assert_eq!(d.status.provisioning.raid, None);
}
