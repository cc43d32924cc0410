//! Power management and reboot annotations, paused hosts, the status and hardware-details
//! annotations, and the provisioning capacity gate.

mod statemachine_support;

use std::time::Duration;

use metal_operator::api::annotations::{HARDWARE_DETAILS, PAUSED, REBOOT, STATUS};
use metal_operator::api::{ErrorType, InspectionMode, OperationalStatus};
use metal_operator::provisioner::{Action, Observation, PowerChange};
use metal_operator::statemachine::{CapacityView, Effect, Note, SlotChange};
use statemachine_support::*;

// ---- power and reboot -----------------------------------------------------------------------

#[test]
fn a_provisioned_host_that_should_be_online_is_powered_on() {
    let h = host(S::Provisioned).provisioned_image().build();
    let d = Case::at(h, "active").run();
    assert_eq!(action(&d), Some(&Action::Power(PowerChange::On)));
    assert!(d.notes.contains(&Note::PowerChange(true)));
}

#[test]
fn an_observed_power_change_is_recorded_before_acting() {
    let h = host(S::Provisioned)
        .provisioned_image()
        .powered(false)
        .build();
    let d = Case::at(h, "active")
        .node(|n| n.power_state = Some("power on".into()))
        .run();
    assert!(d.status.powered_on);
    assert_eq!(d.effect, Effect::None);
}

#[test]
fn an_offline_provisioned_host_is_powered_off_softly() {
    let h = host(S::Provisioned)
        .provisioned_image()
        .online(false)
        .powered(true)
        .build();
    let d = Case::at(h, "active")
        .node(|n| n.power_state = Some("power on".into()))
        .run();
    assert_eq!(action(&d), Some(&Action::Power(PowerChange::SoftOff)));
}

#[test]
fn a_reboot_annotation_powers_a_provisioned_host_off_softly() {
    let h = host(S::Provisioned)
        .provisioned_image()
        .powered(true)
        .annotation(REBOOT, "")
        .build();
    let d = Case::at(h, "active")
        .node(|n| n.power_state = Some("power on".into()))
        .run();
    assert_eq!(action(&d), Some(&Action::Power(PowerChange::SoftOff)));
}

#[test]
fn a_hard_reboot_annotation_powers_the_host_off_hard() {
    let h = host(S::Provisioned)
        .provisioned_image()
        .powered(true)
        .annotation("reboot.metal3.io/a", r#"{"mode":"soft"}"#)
        .annotation("reboot.metal3.io/b", r#"{"mode":"hard"}"#)
        .build();
    let d = Case::at(h, "active")
        .node(|n| n.power_state = Some("power on".into()))
        .run();
    assert_eq!(
        action(&d),
        Some(&Action::Power(PowerChange::Off)),
        "hard wins"
    );
}

#[test]
fn a_reboot_falls_back_to_hard_after_an_error() {
    let h = host(S::Provisioned)
        .provisioned_image()
        .powered(true)
        .annotation(REBOOT, "")
        .error(ErrorType::PowerManagement, 1)
        .build();
    let d = Case::at(h, "active")
        .node(|n| n.power_state = Some("power on".into()))
        .run();
    assert_eq!(action(&d), Some(&Action::Power(PowerChange::Off)));
    assert_eq!(d.status.error_type, None);
}

#[test]
fn the_one_shot_reboot_annotation_is_removed_once_the_host_is_off() {
    let h = host(S::Provisioned)
        .provisioned_image()
        .powered(false)
        .annotation(REBOOT, "")
        .build();
    let d = Case::at(h, "active").run();
    assert_eq!(d.remove_annotations, vec![REBOOT.to_string()]);
    assert_eq!(d.effect, Effect::None);
}

#[test]
fn a_phased_reboot_annotation_keeps_the_host_off() {
    let h = host(S::Provisioned)
        .provisioned_image()
        .powered(false)
        .annotation("reboot.metal3.io/upgrade", "")
        .build();
    let d = Case::at(h, "active").run();
    assert_eq!(d.effect, Effect::None);
    assert!(d.remove_annotations.is_empty());
    assert_eq!(d.requeue_after, Some(Duration::from_secs(60)));
}

#[test]
fn the_host_powers_on_again_once_every_reboot_annotation_is_gone() {
    let h = host(S::Provisioned)
        .provisioned_image()
        .powered(false)
        .build();
    let d = Case::at(h, "active").run();
    assert_eq!(action(&d), Some(&Action::Power(PowerChange::On)));
}

#[test]
fn an_available_host_ignores_a_reboot_annotation_without_force() {
    let h = host(S::Available)
        .powered(true)
        .annotation(REBOOT, "")
        .build();
    let d = Case::at(h, "manageable")
        .node(|n| n.power_state = Some("power on".into()))
        .run();
    assert_eq!(d.effect, Effect::None);
}

#[test]
fn an_available_host_honours_a_forced_reboot_annotation() {
    let h = host(S::Available)
        .powered(true)
        .annotation(REBOOT, r#"{"force":true}"#)
        .build();
    let d = Case::at(h, "manageable")
        .node(|n| n.power_state = Some("power on".into()))
        .run();
    assert_eq!(action(&d), Some(&Action::Power(PowerChange::SoftOff)));
}

#[test]
fn disable_power_off_turns_a_reboot_request_into_a_reboot() {
    let h = host(S::Provisioned)
        .provisioned_image()
        .powered(true)
        .spec(|s| s.disable_power_off = true)
        .annotation(REBOOT, "")
        .build();
    let d = Case::at(h, "active")
        .node(|n| n.power_state = Some("power on".into()))
        .run();
    assert_eq!(action(&d), Some(&Action::Power(PowerChange::SoftReboot)));
    assert_eq!(d.remove_annotations, vec![REBOOT.to_string()]);
}

#[test]
fn a_failed_soft_power_off_records_a_power_management_error_with_the_fallback_note() {
    let h = host(S::Provisioned)
        .provisioned_image()
        .online(false)
        .powered(true)
        .build();
    let d = Case::at(h, "active")
        .node(|n| {
            n.power_state = Some("power on".into());
            n.last_error = Some("Failed to change power state to soft power off".into())
        })
        .run();
    assert_eq!(d.status.error_type, Some(ErrorType::PowerManagement));
    assert!(
        d.status
            .error_message
            .starts_with("Continuing with hard poweroff after soft poweroff fails")
    );
}

#[test]
fn a_power_management_error_clears_when_the_power_state_matches() {
    let h = host(S::Provisioned)
        .provisioned_image()
        .powered(true)
        .error(ErrorType::PowerManagement, 2)
        .build();
    let d = Case::at(h, "active")
        .node(|n| n.power_state = Some("power on".into()))
        .run();
    assert_eq!(d.status.error_type, None);
    assert_eq!(d.status.error_count, 0);
    assert_eq!(d.status.operational_status, OperationalStatus::Ok);
}

// ---- paused, status and hardware-details annotations ----------------------------------------

#[test]
fn a_paused_host_is_left_alone_without_requeue() {
    let h = host(S::Available)
        .image()
        .annotation(PAUSED, "metal3.io/capm3")
        .build();
    let d = Case::at(h, "manageable").run();
    assert_eq!(d.effect, Effect::None);
    assert_eq!(d.requeue_after, None);
    assert!(!d.status_changed);
}

#[test]
fn a_moved_host_restores_its_status_from_the_status_annotation() {
    let mut h = host(S::None)
        .annotation(
            STATUS,
            r#"{"operationalStatus":"OK","provisioning":{"state":"provisioned","ID":"abc"},"poweredOn":true,"errorMessage":"","errorCount":0}"#,
        )
        .build();
    h.status = None;
    let d = Case::new(h, Observation::NotRegistered).run();
    assert_eq!(state(&d), S::Provisioned);
    assert_eq!(d.status.provisioning.id, "abc");
    assert!(d.status_changed);
    assert_eq!(d.remove_annotations, vec![STATUS.to_string()]);
}

#[test]
fn the_status_annotation_on_a_host_with_status_is_only_removed() {
    let h = host(S::Available)
        .annotation(STATUS, r#"{"provisioning":{"state":"provisioned"}}"#)
        .build();
    let d = Case::at(h, "manageable").run();
    assert_eq!(state(&d), S::Available);
    assert_eq!(d.remove_annotations, vec![STATUS.to_string()]);
}

#[test]
fn the_hardware_details_annotation_is_consumed_when_inspection_is_disabled() {
    let h = host(S::Available)
        .spec(|s| s.inspection_mode = Some(InspectionMode::Disabled))
        .annotation(HARDWARE_DETAILS, r#"{"ramMebibytes":2048}"#)
        .build();
    let d = Case::at(h, "manageable").run();
    assert_eq!(
        d.status.hardware.as_ref().map(|h| h.ram_mebibytes),
        Some(2048)
    );
    assert!(matches!(d.effect, Effect::WriteHardwareData(_)));
    assert_eq!(d.remove_annotations, vec![HARDWARE_DETAILS.to_string()]);
}

// ---- capacity gate --------------------------------------------------------------------------

#[test]
fn a_full_provisioning_limit_delays_an_available_host() {
    let mut case = Case::at(host(S::Available).image().build(), "manageable");
    case.capacity = CapacityView {
        in_use: 20,
        limit: 20,
        holds_slot: false,
    };
    let d = case.run();
    assert_eq!(state(&d), S::Available);
    assert_eq!(d.status.operational_status, OperationalStatus::Delayed);
    assert_eq!(d.slot, SlotChange::Keep);
    assert!(d.notes.contains(&Note::Delayed(S::Provisioning)));
    let s = secs(&d);
    assert!((60.0..=120.0).contains(&s), "delay {s}");
}

#[test]
fn a_delayed_host_proceeds_once_a_slot_frees_up() {
    let h = host(S::Available)
        .image()
        .op(OperationalStatus::Delayed)
        .build();
    let mut case = Case::at(h, "manageable");
    case.capacity.in_use = 19;
    let d = case.run();
    assert_eq!(state(&d), S::Provisioning);
    assert_eq!(d.status.operational_status, OperationalStatus::Ok);
    assert_eq!(d.slot, SlotChange::Take);
}

#[test]
fn virtual_media_hosts_ignore_the_provisioning_limit() {
    let h = host(S::Available)
        .image()
        .spec(|s| s.bmc.address = "redfish-virtualmedia://192.0.2.10/redfish/v1/Systems/1".into())
        .build();
    let mut case = Case::at(h, "manageable");
    case.capacity.in_use = 50;
    let d = case.run();
    assert_eq!(state(&d), S::Provisioning);
    assert_eq!(d.slot, SlotChange::Keep, "exempt hosts take no slot");
}

#[test]
fn a_host_already_holding_a_slot_is_not_delayed() {
    let mut case = provisioning_case("manageable");
    case.capacity.in_use = 20;
    let d = case.run();
    assert_eq!(action(&d), Some(&Action::Provide));
}

#[test]
fn a_virtual_media_host_leaving_provisioning_releases_no_slot() {
    let h = host(S::Provisioning)
        .image()
        .spec(|s| s.bmc.address = "redfish-virtualmedia://192.0.2.10/redfish/v1/Systems/1".into())
        .build();
    let d = Case::at(h, "active")
        .node(|n| n.power_state = Some("power on".into()))
        .run();
    assert_eq!(state(&d), S::Provisioned);
    assert_eq!(d.slot, SlotChange::Keep);
}

#[test]
fn a_delayed_host_that_is_deleted_is_not_held_back_by_the_gate() {
    let h = host(S::Available)
        .image()
        .op(OperationalStatus::Delayed)
        .deleting()
        .build();
    let mut case = Case::at(h, "manageable");
    case.capacity.in_use = 20;
    let d = case.run();
    assert_eq!(state(&d), S::PoweringOffBeforeDelete);
    assert_eq!(d.status.operational_status, OperationalStatus::Ok);
}
