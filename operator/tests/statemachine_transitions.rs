//! One test per row of the transition table (notes §1b), the deletion and detach paths,
//! externally provisioned hosts both ways, power and reboot annotations, the capacity gate and
//! the provisioning retry limit.

mod statemachine_support;

use std::time::Duration;

use metal_operator::api::annotations::{
    DETACHED, HARDWARE_DETAILS, INSPECT, PAUSED, REBOOT, STATUS,
};
use metal_operator::api::{AutomatedCleaningMode, ErrorType, InspectionMode, OperationalStatus};
use metal_operator::provisioner::{Action, Observation, PowerChange};
use metal_operator::statemachine::{
    ActionFailure, CapacityView, CredentialsView, Effect, EventKind, FinalizerChange,
    HardwareFetch, Note, SlotChange,
};
use statemachine_support::*;

fn secs(d: &metal_operator::statemachine::Decision) -> f64 {
    d.requeue_after.expect("a requeue").as_secs_f64()
}

fn has_event(d: &metal_operator::statemachine::Decision, reason: &str) -> bool {
    d.events.iter().any(|e| e.reason == reason)
}

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
    let d = Case::new(host(S::None).build(), Observation::NotRegistered).run();
    assert_eq!(state(&d), S::Registering);
    assert_eq!(d.transition, Some((S::None, S::Registering)));
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

// ---- provisioning ---------------------------------------------------------------------------

fn provisioning_case(ironic: &str) -> Case {
    let mut case = Case::at(host(S::Provisioning).image().build(), ironic);
    case.capacity.holds_slot = true;
    case
}

#[test]
fn a_provisioning_host_syncs_automated_clean_before_provide() {
    let h = host(S::Provisioning)
        .image()
        .spec(|s| s.automated_cleaning_mode = AutomatedCleaningMode::Disabled)
        .build();
    let d = Case::at(h, "manageable").run();
    assert_eq!(action(&d), Some(&Action::SetAutomatedClean(false)));
}

#[test]
fn a_provisioning_host_with_a_manageable_node_provides_it() {
    let d = provisioning_case("manageable").run();
    assert_eq!(action(&d), Some(&Action::Provide));
    assert_eq!(d.status.last_attempted_image, Some(image()));
}

#[test]
fn a_provisioning_host_with_an_available_node_deploys_the_image_with_its_config_drive() {
    let mut case = provisioning_case("available");
    case.config = Ok(metal_operator::statemachine::ConfigData {
        user_data: Some("#cloud-config\n".into()),
        network_data: None,
        meta_data: None,
    });
    let d = case.run();
    let Some(Action::Deploy(dep)) = action(&d) else {
        panic!("expected Deploy, got {:?}", d.effect)
    };
    assert_eq!(dep.image_url, IMAGE_URL);
    assert!(dep.checksum.is_some());
    assert_eq!(dep.user_data.as_deref(), Some("#cloud-config\n"));
    assert!(has_event(&d, "ProvisioningStarted"));
}

#[test]
fn a_provisioning_host_whose_user_data_secret_is_missing_gets_a_provisioning_error() {
    let mut case = provisioning_case("available");
    case.config = Err("userData Secret \"worker-user-data\" not found (spec.userData)".into());
    let d = case.run();
    assert_eq!(d.status.error_type, Some(ErrorType::Provisioning));
    assert!(d.status.error_message.contains("worker-user-data"));
}

#[test]
fn a_provisioning_host_waits_while_ironic_deploys() {
    let d = provisioning_case("wait call-back")
        .node(|n| n.target_provision_state = Some("active".into()))
        .run();
    assert_eq!(d.effect, Effect::None);
    assert_eq!(state(&d), S::Provisioning);
}

#[test]
fn a_deployed_host_becomes_provisioned_and_records_the_image() {
    let d = provisioning_case("active")
        .node(|n| n.power_state = Some("power on".into()))
        .run();
    assert_eq!(state(&d), S::Provisioned);
    assert_eq!(d.status.provisioning.image, Some(image()));
    assert_eq!(d.status.provisioning_fail_count, 0);
    assert_eq!(d.slot, SlotChange::Release);
    assert!(has_event(&d, "ProvisioningComplete"));
}

#[test]
fn a_failed_deployment_records_a_provisioning_error() {
    let d = provisioning_case("deploy failed")
        .node(|n| n.last_error = Some("image checksum mismatch".into()))
        .run();
    assert_eq!(d.status.error_type, Some(ErrorType::Provisioning));
    assert!(
        d.status
            .error_message
            .starts_with("Image provisioning failed")
    );
}

#[test]
fn a_provisioning_host_with_an_error_deprovisions_and_counts_the_failure() {
    let h = host(S::Provisioning)
        .image()
        .error(ErrorType::Provisioning, 1)
        .status(|st| st.provisioning_fail_count = 2)
        .build();
    let mut case = Case::at(h, "deploy failed");
    case.capacity.holds_slot = true;
    let d = case.run();
    assert_eq!(state(&d), S::Deprovisioning);
    assert_eq!(d.status.provisioning_fail_count, 3);
    assert_eq!(d.slot, SlotChange::Keep, "both states hold the same slot");
}

#[test]
fn a_provisioning_host_whose_image_was_removed_deprovisions() {
    let h = host(S::Provisioning).build();
    let d = Case::at(h, "deploying").run();
    assert_eq!(state(&d), S::Deprovisioning);
    assert_eq!(d.status.provisioning_fail_count, 0);
}

// ---- provisioned / externally provisioned ---------------------------------------------------

fn provisioned_on(ironic: &str) -> Case {
    Case::at(
        host(S::Provisioned)
            .provisioned_image()
            .powered(true)
            .build(),
        ironic,
    )
    .node(|n| n.power_state = Some("power on".into()))
}

#[test]
fn a_provisioned_host_whose_image_was_removed_deprovisions() {
    let h = host(S::Provisioned)
        .status(|st| st.provisioning.image = Some(image()))
        .build();
    let d = Case::at(h, "active").run();
    assert_eq!(state(&d), S::Deprovisioning);
    assert_eq!(d.slot, SlotChange::Take);
}

#[test]
fn a_provisioned_host_whose_image_changed_deprovisions() {
    let h = host(S::Provisioned)
        .provisioned_image()
        .spec(|s| s.image.as_mut().expect("image").url = "http://images.example/v2.qcow2".into())
        .build();
    let d = Case::at(h, "active").run();
    assert_eq!(state(&d), S::Deprovisioning);
}

#[test]
fn a_provisioned_host_in_steady_state_polls_every_minute() {
    let mut case = provisioned_on("active");
    let first = case.run();
    apply(&mut case.host, &first);
    let d = case.run();
    assert_eq!(d.effect, Effect::None);
    assert_eq!(d.requeue_after, Some(Duration::from_secs(60)));
    assert!(!d.status_changed);
}

#[test]
fn a_provisioned_host_with_a_manageable_node_adopts_it() {
    let d = provisioned_on("manageable").run();
    assert_eq!(action(&d), Some(&Action::Adopt));
}

#[test]
fn a_failed_adoption_records_a_provisioned_registration_error() {
    let d = provisioned_on("adopt failed").run();
    assert_eq!(
        d.status.error_type,
        Some(ErrorType::ProvisionedRegistration)
    );
    assert_eq!(state(&d), S::Provisioned);
}

#[test]
fn an_externally_provisioned_host_adopts_its_node() {
    let h = host(S::ExternallyProvisioned)
        .spec(|s| s.externally_provisioned = true)
        .build();
    let d = Case::at(h, "manageable").run();
    assert_eq!(action(&d), Some(&Action::Adopt));
}

#[test]
fn an_externally_provisioned_host_turned_off_becomes_provisioned_with_its_image() {
    let h = host(S::ExternallyProvisioned).image().build();
    let d = Case::at(h, "active").run();
    assert_eq!(state(&d), S::Provisioned);
    assert_eq!(d.status.provisioning.image, Some(image()));
}

#[test]
fn an_externally_provisioned_host_without_an_image_turned_off_then_deprovisions() {
    let mut h = host(S::ExternallyProvisioned).build();
    let d = Case::at(h.clone(), "active").run();
    assert_eq!(state(&d), S::Provisioned);
    apply(&mut h, &d);
    let d = Case::at(h, "active").run();
    assert_eq!(state(&d), S::Deprovisioning);
}

// ---- deprovisioning -------------------------------------------------------------------------

fn deprovisioning(ironic: &str) -> Case {
    let mut case = Case::at(host(S::Deprovisioning).build(), ironic);
    case.capacity.holds_slot = true;
    case
}

#[test]
fn a_deprovisioning_host_undeploys_an_active_node() {
    let d = deprovisioning("active").run();
    assert_eq!(action(&d), Some(&Action::Undeploy));
    assert!(has_event(&d, "DeprovisioningStarted"));
}

#[test]
fn a_deprovisioning_host_syncs_automated_clean_before_undeploy() {
    let d = deprovisioning("active")
        .node(|n| n.automated_clean = Some(false))
        .run();
    assert_eq!(action(&d), Some(&Action::SetAutomatedClean(true)));
}

#[test]
fn a_deprovisioning_host_undeploys_a_failed_deployment() {
    let d = deprovisioning("deploy failed").run();
    assert_eq!(action(&d), Some(&Action::Undeploy));
}

#[test]
fn a_deprovisioning_host_with_a_manageable_node_provides_it() {
    let d = deprovisioning("manageable").run();
    assert_eq!(action(&d), Some(&Action::Provide));
}

#[test]
fn a_deprovisioned_host_becomes_available_and_forgets_its_image() {
    let h = host(S::Deprovisioning)
        .status(|st| st.provisioning.image = Some(image()))
        .build();
    let mut case = Case::at(h, "available");
    case.capacity.holds_slot = true;
    let d = case.run();
    assert_eq!(state(&d), S::Available);
    assert_eq!(d.status.provisioning.image, None);
    assert_eq!(d.slot, SlotChange::Release);
    assert!(has_event(&d, "DeprovisioningComplete"));
}

#[test]
fn a_failed_deprovision_cleaning_records_a_provisioning_error() {
    let d = deprovisioning("clean failed").run();
    assert_eq!(d.status.error_type, Some(ErrorType::Provisioning));
    assert!(d.status.error_message.starts_with("Cleaning failed"));
}

#[test]
fn a_failed_deprovision_cleaning_is_retried_by_leaving_maintenance_first() {
    let h = host(S::Deprovisioning)
        .error(ErrorType::Provisioning, 1)
        .build();
    let d = Case::at(h, "clean failed")
        .node(|n| n.maintenance = true)
        .run();
    assert_eq!(
        action(&d),
        Some(&Action::SetMaintenance {
            on: false,
            reason: None
        })
    );
}

// ---- deletion -------------------------------------------------------------------------------

#[test]
fn deleting_a_registering_host_skips_straight_to_deleting() {
    let d = Case::at(host(S::Registering).deleting().build(), "enroll").run();
    assert_eq!(state(&d), S::Deleting);
}

#[test]
fn deleting_an_unmanaged_host_skips_straight_to_deleting() {
    let h = host(S::Unmanaged)
        .spec(|s| {
            s.bmc.address.clear();
            s.bmc.credentials_name.clear()
        })
        .deleting()
        .build();
    let mut case = Case::new(h, Observation::NotRegistered);
    case.credentials = CredentialsView::NotRequested;
    assert_eq!(state(&case.run()), S::Deleting);
}

#[test]
fn deleting_a_provisioned_host_deprovisions_first() {
    let h = host(S::Provisioned).provisioned_image().deleting().build();
    let d = Case::at(h, "active").run();
    assert_eq!(state(&d), S::Deprovisioning);
}

#[test]
fn deleting_a_provisioning_host_deprovisions_first() {
    let h = host(S::Provisioning).image().deleting().build();
    let mut case = Case::at(h, "deploying");
    case.capacity.holds_slot = true;
    assert_eq!(state(&case.run()), S::Deprovisioning);
}

#[test]
fn deleting_an_available_host_powers_it_off_first() {
    let d = Case::at(host(S::Available).deleting().build(), "manageable").run();
    assert_eq!(state(&d), S::PoweringOffBeforeDelete);
}

#[test]
fn deleting_an_inspecting_host_powers_it_off_and_frees_its_slot() {
    let mut case = Case::at(host(S::Inspecting).deleting().build(), "inspect wait");
    case.capacity.holds_slot = true;
    let d = case.run();
    assert_eq!(state(&d), S::PoweringOffBeforeDelete);
    assert_eq!(d.slot, SlotChange::Release);
}

#[test]
fn a_host_deprovisioned_for_deletion_is_powered_off_next() {
    let mut case = Case::at(host(S::Deprovisioning).deleting().build(), "available");
    case.capacity.holds_slot = true;
    assert_eq!(state(&case.run()), S::PoweringOffBeforeDelete);
}

#[test]
fn powering_off_before_delete_aborts_an_agent_wait_first() {
    let d = Case::at(
        host(S::PoweringOffBeforeDelete).deleting().build(),
        "inspect wait",
    )
    .node(|n| n.power_state = Some("power on".into()))
    .run();
    assert_eq!(action(&d), Some(&Action::Abort));
}

#[test]
fn powering_off_before_delete_starts_with_a_soft_power_off() {
    let d = Case::at(
        host(S::PoweringOffBeforeDelete).deleting().build(),
        "manageable",
    )
    .node(|n| n.power_state = Some("power on".into()))
    .run();
    assert_eq!(action(&d), Some(&Action::Power(PowerChange::SoftOff)));
}

#[test]
fn a_powered_off_host_moves_on_to_deleting() {
    let d = Case::at(
        host(S::PoweringOffBeforeDelete).deleting().build(),
        "manageable",
    )
    .run();
    assert_eq!(state(&d), S::Deleting);
    assert!(!d.status.powered_on);
}

#[test]
fn power_off_before_delete_falls_back_to_hard_after_a_failure() {
    let h = host(S::PoweringOffBeforeDelete)
        .deleting()
        .error(ErrorType::PowerManagement, 1)
        .build();
    let d = Case::at(h, "manageable")
        .node(|n| {
            n.power_state = Some("power on".into());
            n.last_error = Some("Failed to change power state to power off: timeout".into())
        })
        .run();
    assert_eq!(action(&d), Some(&Action::Power(PowerChange::Off)));
}

#[test]
fn power_off_before_delete_gives_up_after_more_than_three_failures() {
    let h = host(S::PoweringOffBeforeDelete)
        .deleting()
        .status(|st| st.error_count = 3)
        .build();
    let d = Case::at(h, "manageable")
        .node(|n| {
            n.power_state = Some("power on".into());
            n.last_error = Some("Failed to change power state to power off".into())
        })
        .run();
    assert_eq!(d.status.error_count, 4);
    assert_eq!(state(&d), S::Deleting);
    assert!(d.notes.contains(&Note::DeleteWithoutPoweringOff));
}

#[test]
fn deprovisioning_for_deletion_gives_up_after_more_than_three_failures() {
    let h = host(S::Deprovisioning)
        .deleting()
        .status(|st| st.error_count = 3)
        .build();
    let mut case = Case::at(h, "clean failed");
    case.capacity.holds_slot = true;
    let d = case.run();
    assert_eq!(state(&d), S::PoweringOffBeforeDelete);
    assert!(d.notes.contains(&Note::DeleteWithoutDeprovisioning));
}

#[test]
fn a_deprovisioning_host_with_repeated_registration_errors_skips_to_deleting() {
    let h = host(S::Deprovisioning)
        .deleting()
        .error(ErrorType::Registration, 4)
        .build();
    let d = Case::at(h, "active").run();
    assert_eq!(state(&d), S::Deleting);
}

#[test]
fn deleting_with_a_missing_secret_and_no_node_skips_to_deleting() {
    let h = host(S::Deprovisioning).deleting().build();
    let mut case = Case::new(h, Observation::NotRegistered);
    case.credentials = CredentialsView::SecretMissing {
        name: SECRET.into(),
    };
    let d = case.run();
    assert_eq!(state(&d), S::Deleting);
    assert_eq!(
        d.status.error_type, None,
        "no credential error while deleting"
    );
}

#[test]
fn powering_off_before_delete_without_a_node_skips_to_deleting() {
    let h = host(S::PoweringOffBeforeDelete).deleting().build();
    let mut case = Case::new(h, Observation::NotRegistered);
    case.credentials = CredentialsView::SecretMissing {
        name: SECRET.into(),
    };
    assert_eq!(state(&case.run()), S::Deleting);
}

#[test]
fn a_deleting_host_removes_its_node() {
    let d = Case::at(host(S::Deleting).deleting().build(), "manageable").run();
    assert_eq!(action(&d), Some(&Action::Delete));
}

#[test]
fn a_deleting_host_whose_node_is_gone_drops_the_finalizer() {
    let d = Case::new(
        host(S::Deleting).deleting().build(),
        Observation::NotRegistered,
    )
    .run();
    assert_eq!(d.finalizer, FinalizerChange::Remove);
    assert_eq!(d.requeue_after, None);
}

#[test]
fn a_deleted_host_without_the_finalizer_is_left_alone() {
    let h = host(S::Deleting).deleting().no_finalizer().build();
    let d = Case::new(h, Observation::NotRegistered).run();
    assert_eq!(d.finalizer, FinalizerChange::Keep);
    assert_eq!(d.effect, Effect::None);
    assert!(!d.status_changed);
}

// ---- detach ---------------------------------------------------------------------------------

#[test]
fn a_provisioned_host_with_the_detached_annotation_detaches_its_node() {
    let h = host(S::Provisioned)
        .provisioned_image()
        .annotation(DETACHED, "")
        .build();
    let d = Case::at(h, "active").run();
    assert_eq!(action(&d), Some(&Action::Detach { force: false }));
}

#[test]
fn a_detached_host_without_a_node_reports_detached_and_polls_every_ten_minutes() {
    let h = host(S::Provisioned)
        .provisioned_image()
        .annotation(DETACHED, "")
        .build();
    let d = Case::new(h, Observation::NotRegistered).run();
    assert_eq!(d.status.operational_status, OperationalStatus::Detached);
    assert_eq!(d.requeue_after, Some(Duration::from_secs(600)));
    assert_eq!(state(&d), S::Provisioned);
    assert!(has_event(&d, "Detached"));
}

#[test]
fn a_provisioning_host_is_not_detached_without_force() {
    let h = host(S::Provisioning)
        .image()
        .annotation(DETACHED, "")
        .build();
    let mut case = Case::at(h, "manageable");
    case.capacity.holds_slot = true;
    let d = case.run();
    assert_eq!(action(&d), Some(&Action::Provide));
}

#[test]
fn force_detaches_a_host_in_any_state() {
    let h = host(S::Inspecting)
        .annotation(DETACHED, r#"{"force":true}"#)
        .build();
    let mut case = Case::at(h, "inspect wait");
    case.capacity.holds_slot = true;
    let d = case.run();
    assert_eq!(action(&d), Some(&Action::Detach { force: true }));
}

#[test]
fn removing_the_detached_annotation_re_attaches_and_re_registers_the_host() {
    let mut h = host(S::Provisioned)
        .provisioned_image()
        .op(OperationalStatus::Detached)
        .build();
    let d = Case::new(h.clone(), Observation::NotRegistered).run();
    assert_eq!(d.status.operational_status, OperationalStatus::Ok);
    apply(&mut h, &d);
    let d = Case::new(h, Observation::NotRegistered).run();
    assert_eq!(action_name(&d), Some("register"));
    assert_eq!(state(&d), S::Provisioned, "no state change on re-attach");
}

#[test]
fn deleting_a_detached_host_goes_straight_to_deleting() {
    let h = host(S::Provisioned)
        .provisioned_image()
        .op(OperationalStatus::Detached)
        .annotation(DETACHED, r#"{"deleteAction":"delete"}"#)
        .deleting()
        .build();
    let d = Case::new(h, Observation::NotRegistered).run();
    assert_eq!(state(&d), S::Deleting);
}

#[test]
fn deleting_a_detached_host_with_delete_action_delay_waits() {
    let h = host(S::Provisioned)
        .provisioned_image()
        .op(OperationalStatus::Detached)
        .annotation(DETACHED, r#"{"deleteAction":"delay"}"#)
        .deleting()
        .build();
    let d = Case::new(h, Observation::NotRegistered).run();
    assert_eq!(state(&d), S::Provisioned);
    assert!(d.notes.contains(&Note::DeleteDelayedForDetached));
}

#[test]
fn a_detach_error_is_cleared_once_the_annotation_is_gone() {
    let h = host(S::Available).error(ErrorType::Detach, 2).build();
    let d = Case::at(h, "manageable").run();
    assert_eq!(d.status.error_type, None);
    assert_eq!(d.status.error_count, 0);
}

#[test]
fn a_refused_detach_becomes_a_detach_error() {
    let h = host(S::Available).annotation(DETACHED, "").build();
    let mut case = Case::at(h, "manageable");
    case.failure = Some(ActionFailure {
        action: "detach",
        message: "node is locked by another conductor".into(),
        transient: false,
    });
    let d = case.run();
    assert_eq!(d.status.error_type, Some(ErrorType::Detach));
}

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

// ---- retry limit and refused actions --------------------------------------------------------

#[test]
fn provisioning_stops_after_the_retry_limit_for_the_same_image() {
    let h = host(S::Available)
        .image()
        .status(|st| {
            st.provisioning_fail_count = 5;
            st.last_attempted_image = Some(image());
        })
        .build();
    let d = Case::at(h, "available").run();
    assert_eq!(state(&d), S::Available);
    assert_eq!(d.status.error_type, Some(ErrorType::Provisioning));
    assert!(d.status.error_message.contains("retry limit (5) reached"));
    assert_eq!(d.requeue_after, None);
}

#[test]
fn a_new_image_resets_the_provisioning_fail_count() {
    let h = host(S::Available)
        .image()
        .status(|st| {
            st.provisioning_fail_count = 5;
            st.last_attempted_image = Some(metal_operator::api::Image {
                url: "http://images.example/old.qcow2".into(),
                ..image()
            });
        })
        .build();
    let d = Case::at(h, "available").run();
    assert_eq!(state(&d), S::Provisioning);
    assert_eq!(d.status.provisioning_fail_count, 0);
}

#[test]
fn removing_the_image_resets_the_fail_count() {
    let h = host(S::Available)
        .status(|st| {
            st.provisioning_fail_count = 3;
            st.last_attempted_image = Some(image());
        })
        .build();
    let d = Case::at(h, "available").run();
    assert_eq!(d.status.provisioning_fail_count, 0);
    assert_eq!(d.status.last_attempted_image, None);
}

#[test]
fn a_refused_deploy_becomes_a_provisioning_error() {
    let mut case = provisioning_case("available");
    case.failure = Some(ActionFailure {
        action: "deploy",
        message: "node validation failed: deploy interface".into(),
        transient: false,
    });
    let d = case.run();
    assert_eq!(d.status.error_type, Some(ErrorType::Provisioning));
    assert!(d.status.error_message.contains("validation failed"));
}

#[test]
fn a_transient_refusal_retries_shortly_without_an_error() {
    let mut case = provisioning_case("available");
    case.failure = Some(ActionFailure {
        action: "deploy",
        message: "NodeLocked".into(),
        transient: true,
    });
    let d = case.run();
    assert_eq!(d.status.error_type, None);
    let s = secs(&d);
    assert!((3.0..=3.75).contains(&s), "retry {s}");
}

// ---- conditions -----------------------------------------------------------------------------

fn condition<'a>(d: &'a metal_operator::statemachine::Decision, kind: &str) -> (&'a str, &'a str) {
    let c = d
        .status
        .conditions
        .iter()
        .find(|c| c.type_ == kind)
        .unwrap_or_else(|| panic!("condition {kind} missing"));
    (c.status.as_str(), c.reason.as_str())
}

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

#[test]
fn a_provisioned_host_whose_re_registration_failed_gets_a_provisioned_registration_error() {
    let h = host(S::Provisioned)
        .provisioned_image()
        .powered(true)
        .build();
    let d = Case::at(h, "enroll")
        .node(|n| n.last_error = Some("BMC unreachable".into()))
        .run();
    assert_eq!(
        d.status.error_type,
        Some(ErrorType::ProvisionedRegistration)
    );
    assert_eq!(
        state(&d),
        S::Provisioned,
        "a provisioned host is never deprovisioned for this"
    );
}

#[test]
fn a_provisioned_registration_error_is_retried_with_manage() {
    let h = host(S::Provisioned)
        .provisioned_image()
        .powered(true)
        .error(ErrorType::ProvisionedRegistration, 1)
        .build();
    let d = Case::at(h, "enroll")
        .node(|n| n.last_error = Some("BMC unreachable".into()))
        .run();
    assert_eq!(action(&d), Some(&Action::Manage));
}

#[test]
fn a_failed_adoption_is_retried_after_the_backoff() {
    let h = host(S::Provisioned)
        .provisioned_image()
        .powered(true)
        .error(ErrorType::ProvisionedRegistration, 1)
        .build();
    let d = Case::at(h, "adopt failed").run();
    assert_eq!(action(&d), Some(&Action::Adopt));
    assert_eq!(d.status.error_type, None);
}
