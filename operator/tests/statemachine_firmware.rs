//! BIOS settings in the host state machine: a valid change in the host's HostFirmwareSettings
//! takes an `available` host to `preparing`, which moves the node to `manageable` and applies
//! only the changed settings by manual cleaning (`bios.apply_configuration`, integers as
//! integers); what is applied is always computed from a fresh read of the node, so a status not
//! yet refreshed never starts a second clean, and an invalid or unread spec is never applied.

mod statemachine_support;

use std::collections::BTreeMap;

use chrono::TimeZone;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use metal_operator::api::{
    ErrorType, HostFirmwareSettings, HostFirmwareSettingsSpec, SchemaReference,
};
use metal_operator::firmware::{self, BiosSetting, Observed};
use metal_operator::provisioner::Action;
use metal_operator::statemachine::{BiosFetch, Effect};
use serde_json::json;
use statemachine_support::*;

fn read() -> Vec<BiosSetting> {
    let mut boot = BiosSetting {
        name: "BootDelay".into(),
        value: "5".into(),
        ..BiosSetting::default()
    };
    boot.schema.attribute_type = Some(metal_operator::api::AttributeType::Integer);
    boot.schema.upper_bound = Some(30);
    let mut turbo = BiosSetting {
        name: "ProcTurboMode".into(),
        value: "Enabled".into(),
        ..BiosSetting::default()
    };
    turbo.schema.attribute_type = Some(metal_operator::api::AttributeType::Enumeration);
    turbo.schema.allowable_values = vec!["Enabled".into(), "Disabled".into()];
    vec![boot, turbo]
}

fn current() -> BTreeMap<String, String> {
    Observed::from_ironic(&read()).settings
}

/// A HostFirmwareSettings wanting `wanted`, its status computed by the firmware rules from
/// [`read`], as the firmware-settings controller writes it.
fn settings(wanted: &[(&str, IntOrString)]) -> HostFirmwareSettings {
    let mut h = HostFirmwareSettings::new(
        "host-0",
        HostFirmwareSettingsSpec {
            settings: wanted
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        },
    );
    h.metadata.generation = Some(2);
    let reference = SchemaReference {
        name: "schema-x".into(),
        namespace: "ns".into(),
    };
    let now = chrono::Utc.with_ymd_and_hms(2026, 12, 7, 0, 0, 0).unwrap();
    h.status = Some(firmware::status(&h, &Observed::from_ironic(&read()), Some(reference), now).0);
    h
}

fn boot_delay_10() -> HostFirmwareSettings {
    settings(&[
        ("BootDelay", IntOrString::Int(10)),
        ("ProcTurboMode", IntOrString::String("Enabled".into())),
    ])
}

fn case(state: S, ironic: &str, hfs: HostFirmwareSettings, bios: BiosFetch) -> Case {
    let mut c = Case::at(host(state).build(), ironic);
    c.firmware = Some(hfs);
    c.bios = bios;
    c
}

#[test]
fn an_available_host_with_a_valid_change_reads_the_node_then_goes_to_preparing() {
    let d = case(
        S::Available,
        "available",
        boot_delay_10(),
        BiosFetch::NotFetched,
    )
    .run();
    assert_eq!(d.effect, Effect::FetchBiosSettings);
    assert_eq!(state(&d), S::Available);
    let d = case(
        S::Available,
        "available",
        boot_delay_10(),
        BiosFetch::Found(current()),
    )
    .run();
    assert_eq!(state(&d), S::Preparing);
    assert_eq!(d.cause, "available: firmware settings changed");
}

#[test]
fn a_status_not_yet_refreshed_after_the_clean_does_not_send_the_host_back() {
    let mut applied = current();
    applied.insert("BootDelay".into(), "10".into());
    let d = case(
        S::Available,
        "manageable",
        boot_delay_10(),
        BiosFetch::Found(applied),
    )
    .run();
    assert_eq!(state(&d), S::Available);
    assert_ne!(d.effect, Effect::FetchBiosSettings);
}

#[test]
fn preparing_moves_an_available_node_to_manageable_first() {
    let d = case(
        S::Preparing,
        "available",
        boot_delay_10(),
        BiosFetch::Found(current()),
    )
    .run();
    assert_eq!(action(&d), Some(&Action::Manage));
    assert_eq!(state(&d), S::Preparing);
}

#[test]
fn preparing_applies_only_the_changed_settings_with_integers_as_integers() {
    let d = case(
        S::Preparing,
        "manageable",
        boot_delay_10(),
        BiosFetch::Found(current()),
    )
    .run();
    let expected = Action::Clean {
        steps: vec![json!({
            "interface": "bios",
            "step": "apply_configuration",
            "args": {"settings": [{"name": "BootDelay", "value": 10}]},
        })],
        raid: None,
    };
    assert_eq!(action(&d), Some(&expected));
    assert_eq!(state(&d), S::Preparing);
}

#[test]
fn preparing_ends_once_the_node_has_the_settings() {
    let mut applied = current();
    applied.insert("BootDelay".into(), "10".into());
    let d = case(
        S::Preparing,
        "manageable",
        boot_delay_10(),
        BiosFetch::Found(applied),
    )
    .run();
    assert_eq!(state(&d), S::Available);
    assert_eq!(action(&d), None);
}

#[test]
fn a_failed_clean_is_a_preparation_error_naming_ironics_reason() {
    let d = case(
        S::Preparing,
        "clean failed",
        boot_delay_10(),
        BiosFetch::NotFetched,
    )
    .node(|n| n.last_error = Some("Redfish refused BootDelay".into()))
    .run();
    assert_eq!(d.status.error_type, Some(ErrorType::Preparation));
    assert!(
        d.status.error_message.contains("Redfish refused BootDelay"),
        "{}",
        d.status.error_message
    );
}

#[test]
fn an_invalid_spec_is_never_applied_and_the_host_provisions() {
    let hfs = settings(&[("BootDelay", IntOrString::Int(99))]);
    let valid = hfs.status.as_ref().unwrap().conditions.iter();
    assert!(
        valid
            .clone()
            .any(|c| c.type_ == "Valid" && c.status == "False")
    );
    let mut c = case(S::Available, "available", hfs, BiosFetch::NotFetched);
    c.host = host(S::Available).image().build();
    let d = c.run();
    assert_eq!(state(&d), S::Provisioning);
}

#[test]
fn a_spec_the_controller_has_not_read_yet_holds_the_host_in_available() {
    let mut hfs = boot_delay_10();
    hfs.metadata.generation = Some(3);
    let mut c = case(S::Available, "available", hfs, BiosFetch::NotFetched);
    c.host = host(S::Available).image().build();
    let d = c.run();
    assert_eq!(state(&d), S::Available);
    assert_eq!(d.effect, Effect::None);
    assert!(
        d.cause.contains("waiting for the firmware settings"),
        "{}",
        d.cause
    );
}

#[test]
fn an_unreadable_node_is_polled_not_failed() {
    let d = case(
        S::Preparing,
        "manageable",
        boot_delay_10(),
        BiosFetch::Unavailable("connection refused".into()),
    )
    .run();
    assert_eq!(state(&d), S::Preparing);
    assert_eq!(d.status.error_type, None);
    assert!(d.requeue_after.is_some());
}
