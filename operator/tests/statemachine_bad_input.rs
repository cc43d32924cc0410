//! Bad input: each row is a host a user could write (or a Secret they could forget) and the
//! error status, message and Warning Event the state machine answers with. None may panic,
//! none may act on the provisioner, and no message may contain the BMC password.

mod statemachine_support;

use std::time::Duration;

use metal_operator::api::annotations::{DETACHED, HARDWARE_DETAILS, REBOOT, STATUS};
use metal_operator::api::{
    BootMode, ErrorType, HardwareRaidLevel, HardwareRaidVolume, Image, ImageFormat, InspectionMode,
    RaidConfig,
};
use metal_operator::provisioner::Observation;
use metal_operator::statemachine::{CredentialsView, Decision, Effect, EventKind};
use statemachine_support::*;

/// Runs `case` and checks the common promises of a bad-input answer.
fn rejected(case: Case, kind: ErrorType, needles: &[&str]) {
    let _checked = rejected_decision(case, kind, needles);
}

/// [`rejected`], returning the decision for further checks.
fn rejected_decision(case: Case, kind: ErrorType, needles: &[&str]) -> Decision {
    let d = case.run();
    assert_eq!(
        d.status.error_type,
        Some(kind),
        "error type; message: {}",
        d.status.error_message
    );
    for needle in needles {
        assert!(
            d.status.error_message.contains(needle),
            "message {:?} should name {needle:?}",
            d.status.error_message
        );
    }
    assert_eq!(
        d.effect,
        Effect::None,
        "bad input must not reach the provisioner"
    );
    assert!(
        d.events.iter().any(|e| e.kind == EventKind::Warning),
        "a Warning Event is emitted"
    );
    assert_no_password(&d);
    d
}

fn assert_no_password(d: &Decision) {
    assert!(!d.status.error_message.contains(PASSWORD));
    for e in &d.events {
        assert!(!e.message.contains(PASSWORD), "event leaks the password");
    }
    assert!(
        !format!("{d:?}").contains(PASSWORD),
        "Debug output leaks the password"
    );
    let json = serde_json::to_string(&d.status).expect("status serialises");
    assert!(!json.contains(PASSWORD), "status leaks the password");
}

fn registering() -> HostBuilder {
    host(S::Registering)
}

fn case(h: HostBuilder) -> Case {
    Case::new(h.build(), Observation::NotRegistered)
}

#[test]
fn a_missing_secret_is_a_registration_error_retried_every_ten_seconds() {
    let mut c = case(registering());
    c.credentials = CredentialsView::SecretMissing {
        name: SECRET.into(),
    };
    let d = rejected_decision(
        c,
        ErrorType::Registration,
        &[SECRET, "not found", "spec.bmc.credentialsName"],
    );
    assert_eq!(d.requeue_after, Some(Duration::from_secs(10)));
    assert!(d.events.iter().any(|e| e.reason == "BMCCredentialError"));
}

#[test]
fn a_missing_secret_seen_again_is_not_counted_twice() {
    let mut c = case(registering());
    c.credentials = CredentialsView::SecretMissing {
        name: SECRET.into(),
    };
    let first = c.run();
    apply(&mut c.host, &first);
    let again = c.run();
    assert_eq!(again.status.error_count, 1);
    assert!(again.events.is_empty());
    assert_eq!(again.requeue_after, Some(Duration::from_secs(10)));
}

#[test]
fn a_secret_without_a_username_is_a_registration_error_without_requeue() {
    let mut c = case(registering());
    c.credentials = CredentialsView::MissingKey {
        name: SECRET.into(),
        key: "username",
    };
    let d = rejected_decision(c, ErrorType::Registration, &["'username'", SECRET]);
    assert_eq!(d.requeue_after, None);
}

#[test]
fn a_secret_without_a_password_is_a_registration_error() {
    let mut c = case(registering());
    c.credentials = CredentialsView::MissingKey {
        name: SECRET.into(),
        key: "password",
    };
    rejected(c, ErrorType::Registration, &["'password'"]);
}

#[test]
fn a_secret_in_another_namespace_is_refused() {
    let mut c = case(registering());
    c.credentials = CredentialsView::SecretInOtherNamespace {
        name: SECRET.into(),
        namespace: "other".into(),
    };
    rejected(
        c,
        ErrorType::Registration,
        &["\"other\"", SECRET, "own namespace"],
    );
}

#[test]
fn an_empty_bmc_address_with_a_secret_is_a_registration_error() {
    let c = case(registering().spec(|s| s.bmc.address.clear()));
    rejected(
        c,
        ErrorType::Registration,
        &["spec.bmc.address", "'Address'"],
    );
}

#[test]
fn an_empty_credentials_name_with_an_address_is_a_registration_error() {
    let c = case(registering().spec(|s| s.bmc.credentials_name.clear()));
    rejected(c, ErrorType::Registration, &["spec.bmc.credentialsName"]);
}

#[test]
fn an_unknown_bmc_scheme_is_a_registration_error_naming_the_address() {
    let c = case(registering().spec(|s| s.bmc.address = "foo://192.0.2.1".into()));
    rejected(
        c,
        ErrorType::Registration,
        &[
            "Unknown BMC type 'foo'",
            "foo://192.0.2.1",
            "spec.bmc.address",
        ],
    );
}

#[test]
fn an_invalid_bmc_host_is_a_registration_error_naming_the_host() {
    let c = case(registering().spec(|s| s.bmc.address = "ipmi://my-.examplehost.com".into()));
    rejected(
        c,
        ErrorType::Registration,
        &["my-.examplehost.com", "is invalid"],
    );
}

#[test]
fn a_malformed_boot_mac_address_is_a_registration_error_naming_the_value() {
    let c = case(registering().spec(|s| s.boot_mac_address = Some("52:54:00:zz:00:01".into())));
    rejected(
        c,
        ErrorType::Registration,
        &["spec.bootMACAddress", "52:54:00:zz:00:01"],
    );
}

#[test]
fn a_libvirt_host_without_a_boot_mac_is_a_registration_error() {
    let c = case(registering().spec(|s| {
        s.bmc.address = "libvirt://192.0.2.1".into();
        s.boot_mac_address = None;
    }));
    rejected(c, ErrorType::Registration, &["spec.bootMACAddress"]);
}

#[test]
fn an_image_without_a_checksum_is_a_provisioning_error_and_is_not_provisioned() {
    let h = host(S::Available).spec(|s| {
        s.image = Some(Image {
            url: "http://images.example/os.qcow2".into(),
            ..Image::default()
        })
    });
    let d = rejected_decision(
        Case::at(h.build(), "manageable"),
        ErrorType::Provisioning,
        &["spec.image.checksum"],
    );
    assert_eq!(state(&d), S::Available);
}

#[test]
fn a_live_iso_image_needs_no_checksum() {
    let h = host(S::Available).spec(|s| {
        s.image = Some(Image {
            url: "http://images.example/live.iso".into(),
            format: Some(ImageFormat::LiveIso),
            ..Image::default()
        })
    });
    let d = Case::at(h.build(), "manageable").run();
    assert_eq!(state(&d), S::Provisioning);
    assert_eq!(d.status.error_type, None);
}

#[test]
fn an_oci_image_needs_no_checksum() {
    let h = host(S::Available).spec(|s| {
        s.image = Some(Image {
            url: "oci://registry.example/os:1".into(),
            ..Image::default()
        })
    });
    assert_eq!(
        state(&Case::at(h.build(), "manageable").run()),
        S::Provisioning
    );
}

#[test]
fn online_false_with_disable_power_off_is_a_power_management_error() {
    let h = host(S::Available)
        .online(false)
        .spec(|s| s.disable_power_off = true);
    rejected(
        Case::at(h.build(), "manageable"),
        ErrorType::PowerManagement,
        &["spec.disablePowerOff"],
    );
}

#[test]
fn secure_boot_on_an_ipmi_host_is_a_registration_error() {
    let c = case(registering().spec(|s| {
        s.bmc.address = "ipmi://192.0.2.1".into();
        s.boot_mode = Some(BootMode::UefiSecureBoot);
    }));
    rejected(
        c,
        ErrorType::Registration,
        &["spec.bootMode", "UEFISecureBoot"],
    );
}

#[test]
fn fast_inspection_on_an_ipmi_host_is_a_registration_error() {
    let c = case(registering().spec(|s| {
        s.bmc.address = "ipmi://192.0.2.1".into();
        s.inspection_mode = Some(InspectionMode::Fast);
    }));
    rejected(c, ErrorType::Registration, &["spec.inspectionMode"]);
}

#[test]
fn hardware_raid_on_an_ipmi_host_is_a_preparation_error() {
    let c = case(registering().spec(|s| {
        s.bmc.address = "ipmi://192.0.2.1".into();
        s.raid = Some(RaidConfig {
            hardware_raid_volumes: Some(vec![HardwareRaidVolume {
                level: HardwareRaidLevel::Raid1,
                ..HardwareRaidVolume::default()
            }]),
            software_raid_volumes: None,
        });
    }));
    rejected(
        c,
        ErrorType::Preparation,
        &["spec.raid.hardwareRAIDVolumes"],
    );
}

#[test]
fn an_unknown_boot_mode_is_a_registration_error_naming_the_value() {
    let c = case(registering().spec(|s| s.boot_mode = Some(BootMode::Unknown("BIOS".into()))));
    rejected(c, ErrorType::Registration, &["spec.bootMode", "BIOS"]);
}

#[test]
fn an_invalid_reboot_annotation_is_a_power_management_error_naming_it() {
    let h = host(S::Provisioned)
        .provisioned_image()
        .powered(true)
        .annotation(REBOOT, r#"{"mode":"gentle"}"#);
    rejected(
        Case::at(h.build(), "active"),
        ErrorType::PowerManagement,
        &[REBOOT, "gentle"],
    );
}

#[test]
fn an_invalid_detached_annotation_is_a_detach_error_naming_it() {
    let h = host(S::Provisioned)
        .provisioned_image()
        .annotation(DETACHED, "{not json");
    rejected(
        Case::at(h.build(), "active"),
        ErrorType::Detach,
        &[DETACHED],
    );
}

#[test]
fn a_uuid_host_name_is_a_registration_error() {
    let mut h = registering().build();
    h.metadata.name = Some("4b2c0c3e-0000-4000-8000-000000000001".into());
    rejected(
        Case::new(h, Observation::NotRegistered),
        ErrorType::Registration,
        &["metadata.name"],
    );
}

#[test]
fn a_user_data_secret_in_another_namespace_is_refused() {
    let c = case(registering().spec(|s| {
        s.user_data = Some(k8s_openapi::api::core::v1::SecretReference {
            name: Some("user-data".into()),
            namespace: Some("elsewhere".into()),
        })
    }));
    rejected(
        c,
        ErrorType::Registration,
        &["spec.userData.namespace", "elsewhere"],
    );
}

#[test]
fn an_invalid_status_annotation_is_dropped_with_a_warning() {
    let mut h = registering().annotation(STATUS, "{broken").build();
    h.status = None;
    let d = Case::new(h, Observation::NotRegistered).run();
    assert!(
        d.events
            .iter()
            .any(|e| e.reason == "InvalidAnnotationValue")
    );
    assert_eq!(d.remove_annotations, vec![STATUS.to_string()]);
    assert_no_password(&d);
}

#[test]
fn an_invalid_hardware_details_annotation_is_dropped_with_a_warning() {
    let h = host(S::Available)
        .spec(|s| s.inspection_mode = Some(InspectionMode::Disabled))
        .annotation(HARDWARE_DETAILS, "[1,2");
    let d = Case::at(h.build(), "manageable").run();
    assert!(
        d.events
            .iter()
            .any(|e| e.reason == "InvalidAnnotationValue")
    );
    assert_eq!(d.remove_annotations, vec![HARDWARE_DETAILS.to_string()]);
    assert!(!matches!(d.effect, Effect::WriteHardwareData(_)));
}

#[test]
fn bad_input_does_not_block_deletion() {
    let h = host(S::Available)
        .spec(|s| s.boot_mac_address = Some("nonsense".into()))
        .deleting();
    let mut c = Case::at(h.build(), "manageable");
    c.credentials = CredentialsView::MissingKey {
        name: SECRET.into(),
        key: "password",
    };
    let d = c.run();
    assert_eq!(state(&d), S::PoweringOffBeforeDelete);
    assert_eq!(d.status.error_type, None);
}

#[test]
fn fixing_the_input_lets_registration_continue() {
    let mut c = case(registering().spec(|s| s.boot_mac_address = Some("nonsense".into())));
    let d = c.run();
    assert_eq!(d.status.error_type, Some(ErrorType::Registration));
    apply(&mut c.host, &d);
    c.host.spec.boot_mac_address = Some(MAC.into());
    c.now += chrono::Duration::minutes(5);
    let d = c.run();
    assert_eq!(action_name(&d), Some("register"));
}

#[test]
fn a_registration_request_carries_the_password_but_never_prints_it() {
    let d = case(registering()).run();
    assert_eq!(action_name(&d), Some("register"));
    assert_no_password(&d);
}
