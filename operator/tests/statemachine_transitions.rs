//! One test per row of the transition table (notes §1b) from creation to `available`, and
//! the conditions each state reports.

mod statemachine_support;

use std::time::Duration;

use metal_operator::api::annotations::INSPECT;
use metal_operator::api::{ErrorType, InspectionMode, OperationalStatus};
use metal_operator::provisioner::{Action, Observation};
use metal_operator::statemachine::{
    CredentialsView, Effect, EventKind, FinalizerChange, HardwareFetch, Note, SlotChange,
};
use statemachine_support::*;

// ---- creation, unmanaged, registration ------------------------------------------------------

#[test]
fn a_new_host_gets_the_finalizer_before_anything_else() {
    let d = Case::new(fresh_host().build(), Observation::NotRegistered).run();
    assert_eq!(d.finalizer, FinalizerChange::Add);
    assert_eq!(d.effect, Effect::None);
    assert_eq!(d.requeue_after, Some(Duration::ZERO));
}

#[test]
fn a_created_host_with_bmc_details_starts_registering() {
    let d = Case::new(
        host(S::None).op(OperationalStatus::Unknown).build(),
        Observation::NotRegistered,
    )
    .run();
    assert_eq!(state(&d), S::Registering);
    assert_eq!(d.transition, Some((S::None, S::Registering)));
    assert_eq!(d.status.operational_status, OperationalStatus::Ok);
    let history = d.status.operation_history.as_ref().expect("history");
    assert!(
        history
            .register
            .as_ref()
            .is_some_and(|m| m.start.is_some() && m.end.is_none())
    );
}

#[test]
fn a_created_host_without_bmc_details_becomes_unmanaged_and_discovered() {
    let h = host(S::None)
        .spec(|s| {
            s.bmc.address.clear();
            s.bmc.credentials_name.clear();
        })
        .build();
    let mut case = Case::new(h, Observation::NotRegistered);
    case.credentials = CredentialsView::NotRequested;
    let d = case.run();
    assert_eq!(state(&d), S::Unmanaged);
    assert_eq!(d.status.operational_status, OperationalStatus::Discovered);
    assert!(has_event(&d, "Discovered"));
    assert_eq!(d.requeue_after, Some(Duration::from_secs(600)));
}

#[test]
fn an_unmanaged_host_polls_every_ten_minutes() {
    let h = host(S::Unmanaged)
        .spec(|s| {
            s.bmc.address.clear();
            s.bmc.credentials_name.clear();
        })
        .op(OperationalStatus::Discovered)
        .build();
    let mut case = Case::new(h, Observation::NotRegistered);
    case.credentials = CredentialsView::NotRequested;
    let first = case.run();
    apply(&mut case.host, &first);
    let d = case.run();
    assert_eq!(state(&d), S::Unmanaged);
    assert!(!d.status_changed);
    assert_eq!(d.requeue_after, Some(Duration::from_secs(600)));
}

#[test]
fn an_unmanaged_host_whose_bmc_details_appear_starts_registering() {
    let h = host(S::Unmanaged).op(OperationalStatus::Discovered).build();
    let d = Case::new(h, Observation::NotRegistered).run();
    assert_eq!(state(&d), S::Registering);
    assert_eq!(d.status.operational_status, OperationalStatus::Ok);
}

#[test]
fn a_registering_host_without_a_node_registers_it() {
    let d = Case::new(host(S::Registering).build(), Observation::NotRegistered).run();
    let Some(Action::Register(reg)) = action(&d) else {
        panic!("expected Register, got {:?}", d.effect)
    };
    assert_eq!(reg.bmc_address, REDFISH);
    assert_eq!(reg.boot_mac.as_deref(), Some(MAC));
    assert_eq!(reg.credentials.password, PASSWORD);
    let tried = d
        .status
        .tried_credentials
        .as_ref()
        .expect("triedCredentials");
    assert_eq!(tried.credentials_version.as_deref(), Some(SECRET_VERSION));
    assert_eq!(d.requeue_after, Some(Duration::from_secs(3)));
    assert!(has_event(&d, "Registered"));
}

#[test]
fn a_registering_host_whose_node_is_enrolled_asks_ironic_to_manage_it() {
    let d = Case::at(host(S::Registering).build(), "enroll").run();
    assert_eq!(action(&d), Some(&Action::Manage));
}

#[test]
fn a_registering_host_waits_while_ironic_verifies_the_bmc() {
    let d = Case::at(host(S::Registering).build(), "verifying").run();
    assert_eq!(d.effect, Effect::None);
    assert_eq!(state(&d), S::Registering);
    assert_eq!(d.requeue_after, Some(Duration::from_secs(3)));
}

#[test]
fn a_registering_host_whose_bmc_check_failed_gets_a_registration_error() {
    let d = Case::at(host(S::Registering).build(), "enroll")
        .node(|n| n.last_error = Some("Failed to get power state: 401 Unauthorized".into()))
        .run();
    assert_eq!(d.status.error_type, Some(ErrorType::Registration));
    assert_eq!(d.status.operational_status, OperationalStatus::Error);
    assert_eq!(d.status.error_count, 1);
    assert!(d.status.error_message.contains("401"));
    let s = secs(&d);
    assert!((60.0..=120.0).contains(&s), "backoff {s}");
    assert!(
        d.events
            .iter()
            .any(|e| e.kind == EventKind::Warning && e.reason == "RegistrationError")
    );
    assert!(d.notes.contains(&Note::HostError(ErrorType::Registration)));
}

#[test]
fn a_registration_error_is_retried_with_manage_after_the_backoff() {
    let h = host(S::Registering)
        .error(ErrorType::Registration, 1)
        .build();
    let d = Case::at(h, "enroll")
        .node(|n| n.last_error = Some("Failed to get power state".into()))
        .run();
    assert_eq!(action(&d), Some(&Action::Manage));
    assert_eq!(d.status.error_type, None);
    assert_eq!(d.status.error_count, 1, "the count survives a retry");
}

#[test]
fn a_registration_error_inside_the_backoff_window_waits() {
    let h = host(S::Registering)
        .error(ErrorType::Registration, 1)
        .status(|st| st.last_updated = Some(time(now() - chrono::Duration::seconds(10))))
        .build();
    let d = Case::at(h, "enroll")
        .node(|n| n.last_error = Some("Failed to get power state".into()))
        .run();
    assert_eq!(d.effect, Effect::None);
    assert_eq!(d.requeue_after, Some(Duration::from_secs(50)));
}

#[test]
fn a_registered_host_moves_on_to_inspecting() {
    let d = Case::at(host(S::Registering).build(), "manageable").run();
    assert_eq!(state(&d), S::Inspecting);
    assert_eq!(d.slot, SlotChange::Take);
    let good = d.status.good_credentials.as_ref().expect("goodCredentials");
    assert_eq!(good.credentials_version.as_deref(), Some(SECRET_VERSION));
    assert!(has_event(&d, "BMCAccessValidated"));
    let history = d.status.operation_history.as_ref().expect("history");
    assert!(
        history.register.as_ref().is_some_and(|m| m.end.is_some()) || history.register.is_none()
    );
    assert_eq!(
        d.status.provisioning.id,
        "4b2c0c3e-0000-4000-8000-000000000001"
    );
}

#[test]
fn a_registered_externally_provisioned_host_skips_to_externally_provisioned() {
    let h = host(S::Registering)
        .spec(|s| s.externally_provisioned = true)
        .build();
    let d = Case::at(h, "manageable").run();
    assert_eq!(state(&d), S::ExternallyProvisioned);
    assert_eq!(d.slot, SlotChange::Keep);
}

#[test]
fn a_registered_host_with_inspection_disabled_goes_to_preparing() {
    let h = host(S::Registering)
        .spec(|s| s.inspection_mode = Some(InspectionMode::Disabled))
        .build();
    let d = Case::at(h, "manageable").run();
    assert_eq!(state(&d), S::Preparing);
    assert!(has_event(&d, "InspectionSkipped"));
}

#[test]
fn a_registered_host_with_the_deprecated_inspect_disabled_annotation_goes_to_preparing() {
    let h = host(S::Registering).annotation(INSPECT, "disabled").build();
    let d = Case::at(h, "manageable").run();
    assert_eq!(state(&d), S::Preparing);
}

#[test]
fn a_changed_bmc_secret_makes_a_provisioned_host_register_again() {
    let h = host(S::Provisioned)
        .provisioned_image()
        .powered(true)
        .build();
    let d = Case::at(h, "active")
        .node(|n| n.registration_fingerprint = Some("v1;secret=bmc-secret@6;old".into()))
        .run();
    assert_eq!(action_name(&d), Some("register"));
    assert!(d.notes.contains(&Note::RegistrationRequired));
    assert_eq!(state(&d), S::Provisioned);
}

#[test]
fn a_provisioned_host_whose_node_vanished_is_registered_again() {
    let h = host(S::Provisioned)
        .provisioned_image()
        .powered(true)
        .build();
    let d = Case::new(h, Observation::NotRegistered).run();
    assert_eq!(action_name(&d), Some("register"));
    assert_eq!(state(&d), S::Provisioned);
}

// ---- inspection -----------------------------------------------------------------------------

#[test]
fn an_inspecting_host_first_checks_for_an_inventory() {
    let d = Case::at(host(S::Inspecting).build(), "manageable").run();
    assert_eq!(d.effect, Effect::FetchHardwareDetails);
}

#[test]
fn an_inspecting_host_without_an_inventory_starts_inspection() {
    let mut case = Case::at(host(S::Inspecting).build(), "manageable");
    case.hardware = HardwareFetch::Missing;
    let d = case.run();
    assert_eq!(action(&d), Some(&Action::Inspect));
    assert!(has_event(&d, "InspectionStarted"));
    let s = secs(&d);
    assert!((10.0..=12.5).contains(&s), "poll {s}");
}

#[test]
fn an_inspecting_host_waits_while_ironic_inspects() {
    let d = Case::at(host(S::Inspecting).build(), "inspect wait")
        .node(|n| n.target_provision_state = Some("manageable".into()))
        .run();
    assert_eq!(d.effect, Effect::None);
    let s = secs(&d);
    assert!((10.0..=12.5).contains(&s), "poll {s}");
}

#[test]
fn fast_inspection_polls_every_three_seconds() {
    let h = host(S::Inspecting)
        .spec(|s| s.inspection_mode = Some(InspectionMode::Fast))
        .build();
    let d = Case::at(h, "inspecting")
        .node(|n| n.target_provision_state = Some("manageable".into()))
        .run();
    assert_eq!(d.requeue_after, Some(Duration::from_secs(3)));
}

#[test]
fn an_inspected_host_stores_hardware_details_and_moves_to_preparing() {
    let h = host(S::Inspecting)
        .status(|st| {
            st.operation_history = Some(metal_operator::api::OperationHistory {
                inspect: Some(metal_operator::api::OperationMetric {
                    start: Some(time(now() - chrono::Duration::seconds(90))),
                    end: None,
                }),
                ..Default::default()
            })
        })
        .build();
    let mut case = Case::at(h, "manageable");
    case.capacity.holds_slot = true;
    case.hardware =
        HardwareFetch::Found(serde_json::json!({"ramMebibytes": 4096, "hostname": "h0"}));
    let d = case.run();
    assert_eq!(state(&d), S::Preparing);
    assert!(matches!(d.effect, Effect::WriteHardwareData(_)));
    assert_eq!(
        d.status.hardware.as_ref().map(|h| h.ram_mebibytes),
        Some(4096)
    );
    assert_eq!(d.slot, SlotChange::Release);
    assert!(has_event(&d, "InspectionComplete"));
    assert!(d.notes.iter().any(|n| matches!(
        n,
        Note::OperationFinished(metal_operator::statemachine::Phase::Inspect, 90)
    )));
}

#[test]
fn a_failed_inspection_records_an_inspection_error() {
    let d = Case::at(host(S::Inspecting).build(), "inspect failed")
        .node(|n| n.last_error = Some("timeout waiting for the agent".into()))
        .run();
    assert_eq!(d.status.error_type, Some(ErrorType::Inspection));
    assert!(d.status.error_message.contains("timeout"));
}

#[test]
fn a_failed_inspection_is_retried_after_the_backoff() {
    let h = host(S::Inspecting).error(ErrorType::Inspection, 2).build();
    let d = Case::at(h, "inspect failed").run();
    assert_eq!(action(&d), Some(&Action::Inspect));
    assert_eq!(d.status.error_type, None);
    assert_eq!(d.status.error_count, 2);
}

#[test]
fn a_match_profile_host_moves_straight_to_preparing() {
    let d = Case::at(host(S::MatchProfile).build(), "manageable").run();
    assert_eq!(state(&d), S::Preparing);
}

// ---- preparing ------------------------------------------------------------------------------

#[test]
fn a_preparing_host_whose_node_is_settled_becomes_available() {
    let h = host(S::Preparing)
        .spec(|s| {
            s.root_device_hints = Some(metal_operator::api::RootDeviceHints {
                device_name: Some("/dev/sda".into()),
                ..Default::default()
            })
        })
        .build();
    let d = Case::at(h, "manageable").run();
    assert_eq!(state(&d), S::Available);
    assert_eq!(
        d.status
            .provisioning
            .root_device_hints
            .as_ref()
            .and_then(|h| h.device_name.as_deref()),
        Some("/dev/sda")
    );
}

#[test]
fn a_failed_cleaning_while_preparing_records_a_preparation_error() {
    let d = Case::at(host(S::Preparing).build(), "clean failed").run();
    assert_eq!(d.status.error_type, Some(ErrorType::Preparation));
}

#[test]
fn a_preparation_error_is_retried_by_returning_the_node_to_manageable() {
    let h = host(S::Preparing).error(ErrorType::Preparation, 1).build();
    let d = Case::at(h, "clean failed").run();
    assert_eq!(action(&d), Some(&Action::Manage));
}

// ---- available ------------------------------------------------------------------------------

#[test]
fn an_available_host_marked_externally_provisioned_becomes_externally_provisioned() {
    let h = host(S::Available)
        .spec(|s| s.externally_provisioned = true)
        .build();
    let d = Case::at(h, "manageable").run();
    assert_eq!(state(&d), S::ExternallyProvisioned);
}

#[test]
fn an_available_host_with_the_inspect_annotation_is_inspected_again() {
    let h = host(S::Available).annotation(INSPECT, "").build();
    let d = Case::at(h, "manageable").run();
    assert_eq!(state(&d), S::Inspecting);
    assert_eq!(d.slot, SlotChange::Take);
    assert!(
        d.remove_annotations.is_empty(),
        "removed only when inspection starts"
    );
}

#[test]
fn re_inspection_removes_the_inspect_annotation_when_it_starts() {
    let h = host(S::Inspecting).annotation(INSPECT, "").build();
    let mut case = Case::at(h, "manageable");
    case.capacity.holds_slot = true;
    case.hardware = HardwareFetch::Found(serde_json::json!({}));
    let d = case.run();
    assert_eq!(
        action(&d),
        Some(&Action::Inspect),
        "old inventory must not end re-inspection"
    );
    assert_eq!(d.remove_annotations, vec![INSPECT.to_string()]);
}

#[test]
fn re_inspection_of_an_available_node_moves_it_to_manageable_first() {
    let h = host(S::Inspecting).annotation(INSPECT, "").build();
    let d = Case::at(h, "available").run();
    assert_eq!(action(&d), Some(&Action::Manage));
}

#[test]
fn an_inspect_annotation_outside_available_is_not_acted_on() {
    let h = host(S::Provisioned)
        .provisioned_image()
        .powered(true)
        .annotation(INSPECT, "")
        .build();
    let d = Case::at(h, "active")
        .node(|n| n.power_state = Some("power on".into()))
        .run();
    assert_eq!(state(&d), S::Provisioned);
    assert_eq!(d.effect, Effect::None);
}

#[test]
fn an_available_host_whose_root_device_hints_changed_is_prepared_again() {
    let h = host(S::Available)
        .spec(|s| {
            s.root_device_hints = Some(metal_operator::api::RootDeviceHints {
                device_name: Some("/dev/sdb".into()),
                ..Default::default()
            })
        })
        .build();
    let d = Case::at(h, "manageable").run();
    assert_eq!(state(&d), S::Preparing);
}

#[test]
fn an_available_host_with_an_image_and_online_starts_provisioning() {
    let d = Case::at(host(S::Available).image().build(), "manageable").run();
    assert_eq!(state(&d), S::Provisioning);
    assert_eq!(d.slot, SlotChange::Take);
    assert_eq!(d.requeue_after, Some(Duration::ZERO));
    let history = d.status.operation_history.as_ref().expect("history");
    assert!(
        history
            .provision
            .as_ref()
            .is_some_and(|m| m.start.is_some())
    );
}

#[test]
fn an_available_host_with_a_custom_deploy_starts_provisioning() {
    let h = host(S::Available)
        .spec(|s| {
            s.custom_deploy = Some(metal_operator::api::CustomDeploy {
                method: "install_coreos".into(),
            })
        })
        .build();
    let d = Case::at(h, "manageable").run();
    assert_eq!(state(&d), S::Provisioning);
}

#[test]
fn an_available_host_with_an_image_but_offline_stays_available() {
    let d = Case::at(
        host(S::Available).image().online(false).build(),
        "manageable",
    )
    .run();
    assert_eq!(state(&d), S::Available);
}

#[test]
fn an_available_host_without_work_polls_power_every_minute() {
    let h = host(S::Available).online(false).build();
    let d = Case::at(h, "manageable").run();
    assert_eq!(d.effect, Effect::None);
    assert_eq!(d.requeue_after, Some(Duration::from_secs(60)));
}

#[test]
fn a_ready_host_is_handled_like_an_available_one() {
    let d = Case::at(host(S::Ready).image().build(), "manageable").run();
    assert_eq!(state(&d), S::Provisioning);
}

// ---- conditions -----------------------------------------------------------------------------

#[test]
fn a_provisioned_host_reports_provisioned_and_ready() {
    let d = provisioning_case("active").run();
    assert_eq!(condition(&d, "Provisioned"), ("True", "Provisioned"));
    assert_eq!(condition(&d, "Ready"), ("True", "Provisioned"));
    assert_eq!(condition(&d, "Manageable"), ("True", "Manageable"));
    assert_eq!(condition(&d, "Progressing"), ("False", "NotProgressing"));
    assert_eq!(condition(&d, "Healthy"), ("Unknown", "Unknown"));
}

#[test]
fn an_available_host_is_available_for_provisioning() {
    let d = Case::at(host(S::Preparing).build(), "manageable").run();
    assert_eq!(
        condition(&d, "AvailableForProvisioning"),
        ("True", "Available")
    );
}

#[test]
fn a_host_in_error_is_not_ready() {
    let d = provisioned_on("adopt failed").run();
    assert_eq!(condition(&d, "Ready"), ("False", "Error"));
}

#[test]
fn a_registration_failure_shows_in_the_manageable_condition() {
    let d = Case::at(host(S::Registering).build(), "enroll")
        .node(|n| n.last_error = Some("bad credentials".into()))
        .run();
    assert_eq!(condition(&d, "Manageable"), ("False", "RegistrationFailed"));
    assert_eq!(condition(&d, "Progressing"), ("True", "Registering"));
}
