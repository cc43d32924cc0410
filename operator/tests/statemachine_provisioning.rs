//! Provisioning, provisioned, externally provisioned (both ways) and deprovisioning rows,
//! the provisioning retry limit and actions the provisioner refused.

mod statemachine_support;

use std::time::Duration;

use metal_operator::api::{AutomatedCleaningMode, ErrorType};
use metal_operator::provisioner::Action;
use metal_operator::statemachine::{ActionFailure, Effect, SlotChange};
use statemachine_support::*;

// ---- provisioning ---------------------------------------------------------------------------

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
fn root_device_hints_reach_ironic_in_its_own_syntax() {
    let mut case = provisioning_case("available");
    case.host.spec.root_device_hints = Some(metal_operator::api::RootDeviceHints {
        device_name: Some("/dev/disk/by-path/pci-0000:00:1f.2-scsi-0:0:0:0".into()),
        model: Some("Micron".into()),
        serial_number: Some("S1".into()),
        min_size_gigabytes: Some(100),
        rotational: Some(false),
        ..Default::default()
    });
    let d = case.run();
    let Some(Action::Deploy(dep)) = action(&d) else {
        panic!("expected Deploy, got {:?}", d.effect)
    };
    assert_eq!(
        dep.root_device_hints,
        Some(serde_json::json!({
            "by_path": "s== /dev/disk/by-path/pci-0000:00:1f.2-scsi-0:0:0:0",
            "model": "<in> Micron",
            "serial": "s== S1",
            "size": ">= 100",
            "rotational": "false",
        }))
    );
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
