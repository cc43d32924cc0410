use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::json;

use super::*;
use crate::api::firmware::HostFirmwareSettingsSpec;

fn enumeration(values: &[&str]) -> SettingSchema {
    SettingSchema {
        attribute_type: Some(AttributeType::Enumeration),
        allowable_values: values.iter().map(|v| v.to_string()).collect(),
        read_only: Some(false),
        ..SettingSchema::default()
    }
}

fn integer(lo: i64, hi: i64) -> SettingSchema {
    SettingSchema {
        attribute_type: Some(AttributeType::Integer),
        lower_bound: Some(lo),
        upper_bound: Some(hi),
        read_only: Some(false),
        ..SettingSchema::default()
    }
}

fn string(min: i64, max: i64, read_only: bool) -> SettingSchema {
    SettingSchema {
        attribute_type: Some(AttributeType::String),
        min_length: Some(min),
        max_length: Some(max),
        read_only: Some(read_only),
        ..SettingSchema::default()
    }
}

fn read() -> Vec<BiosSetting> {
    let s = |name: &str, value: &str, schema: SettingSchema| BiosSetting {
        name: name.into(),
        value: value.into(),
        schema,
    };
    vec![
        s(
            "ProcTurboMode",
            "Enabled",
            enumeration(&["Enabled", "Disabled"]),
        ),
        s("BootDelay", "5", integer(0, 30)),
        s("AssetTag", "rack-1", string(0, 16, true)),
        s(
            "AdminPassword",
            "",
            SettingSchema {
                attribute_type: Some(AttributeType::Password),
                ..SettingSchema::default()
            },
        ),
        s(
            "SerialConsole",
            "true",
            SettingSchema {
                attribute_type: Some(AttributeType::Boolean),
                ..SettingSchema::default()
            },
        ),
    ]
}

fn hfs(settings: &[(&str, IntOrString)], generation: i64) -> HostFirmwareSettings {
    let mut h = HostFirmwareSettings::new(
        "host-0",
        HostFirmwareSettingsSpec {
            settings: settings
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        },
    );
    h.metadata.generation = Some(generation);
    h
}

fn text(v: &str) -> IntOrString {
    IntOrString::String(v.into())
}

fn reference() -> SchemaReference {
    SchemaReference {
        name: "schema-x".into(),
        namespace: "ns".into(),
    }
}

#[test]
fn the_schema_name_is_the_one_upstream_computes() {
    // Expected values printed by upstream's algorithm run in Go (fmt's `%v` of a sorted
    // []string, SHA-256, first 8 hex digits) for the same three settings, and for none.
    let schema: BTreeMap<String, SettingSchema> = [
        ("ProcTurboMode", enumeration(&["Enabled", "Disabled"])),
        ("BootDelay", integer(0, 30)),
        ("AssetTag", string(0, 16, true)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(schema_name(&schema), "schema-bd67893e");
    assert_eq!(schema_name(&BTreeMap::new()), "schema-4f53cda1");
}

#[test]
fn passwords_stay_out_of_the_status_and_the_published_schema_but_count_in_the_name() {
    let observed = Observed::from_ironic(&read());
    assert!(!observed.settings.contains_key("AdminPassword"));
    assert!(!observed.published_schema().contains_key("AdminPassword"));
    assert!(observed.schema.contains_key("AdminPassword"));
    assert_eq!(observed.settings["BootDelay"], "5");
    let without: Vec<BiosSetting> = read()
        .into_iter()
        .filter(|s| s.name != "AdminPassword")
        .collect();
    assert_ne!(
        observed.schema_name(),
        Observed::from_ironic(&without).schema_name()
    );
}

#[test]
fn each_bad_value_is_refused_naming_the_setting() {
    let observed = Observed::from_ironic(&read());
    let check = |name: &str, value: IntOrString| {
        validate_setting(name, &value, &observed.settings, observed.schema.get(name))
    };
    assert_eq!(check("ProcTurboMode", text("Disabled")), Ok(()));
    assert_eq!(check("BootDelay", IntOrString::Int(30)), Ok(()));
    assert_eq!(check("BootDelay", text("12")), Ok(()));
    assert_eq!(check("SerialConsole", text("false")), Ok(()));
    let cases = [
        (
            "ProcTurboMode",
            text("Turbo"),
            "not one of the allowed values",
        ),
        ("BootDelay", IntOrString::Int(31), "above the maximum 30"),
        ("BootDelay", IntOrString::Int(-1), "below the minimum 0"),
        ("BootDelay", text("soon"), "is not an integer"),
        ("AssetTag", text("x"), "read-only"),
        (
            "AdminPassword",
            text("secret"),
            "password settings cannot be set",
        ),
        ("SerialConsole", text("yes"), "not a boolean"),
        ("NoSuchSetting", text("1"), "the host has no such setting"),
    ];
    for (name, value, expected) in cases {
        let err = check(name, value).unwrap_err();
        assert!(err.starts_with(&format!("setting {name}: ")), "{err}");
        assert!(err.contains(expected), "{name}: {err}");
    }
}

#[test]
fn only_changed_settings_are_applied_and_integers_stay_integers() {
    let observed = Observed::from_ironic(&read());
    let wanted: BTreeMap<String, IntOrString> = [
        ("BootDelay", IntOrString::Int(10)),
        ("ProcTurboMode", text("Enabled")),
        ("SerialConsole", text("false")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(
        changes(&wanted, &observed.settings),
        vec![
            json!({"name": "BootDelay", "value": 10}),
            json!({"name": "SerialConsole", "value": "false"}),
        ]
    );
    let same: BTreeMap<String, IntOrString> = [("BootDelay".to_string(), IntOrString::Int(5))]
        .into_iter()
        .collect();
    assert!(changes(&same, &observed.settings).is_empty());
}

#[test]
fn the_status_says_changed_and_valid_for_this_generation() {
    let observed = Observed::from_ironic(&read());
    let now = Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).unwrap();
    let h = hfs(&[("BootDelay", IntOrString::Int(10))], 3);
    let (status, problems) = status(&h, &observed, Some(reference()), now);
    assert!(problems.is_empty());
    let cond = |t: &str| status.conditions.iter().find(|c| c.type_ == t).unwrap();
    assert_eq!(cond(CHANGE_DETECTED).status, "True");
    assert_eq!(cond(VALID).status, "True");
    assert_eq!(cond(CHANGE_DETECTED).observed_generation, Some(3));
    assert_eq!(status.schema, Some(reference()));
    assert!(status.last_updated.is_some());
    let mut done = h.clone();
    done.status = Some(status.clone());
    assert_eq!(pending(Some(&done)), Pending::Changes);
    // Computing it again changes nothing, not even lastUpdated.
    let later = now + chrono::TimeDelta::minutes(5);
    assert_eq!(
        super::status(&done, &observed, Some(reference()), later).0,
        status
    );
    // A new generation not yet read is not a change to act on.
    done.metadata.generation = Some(4);
    assert!(matches!(pending(Some(&done)), Pending::NotReady(_)));
}

#[test]
fn an_invalid_spec_is_not_applied_and_the_condition_names_each_setting() {
    let observed = Observed::from_ironic(&read());
    let now = Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).unwrap();
    let mut h = hfs(
        &[
            ("BootDelay", IntOrString::Int(99)),
            ("ProcTurboMode", text("Turbo")),
        ],
        1,
    );
    let (status, problems) = status(&h, &observed, Some(reference()), now);
    assert_eq!(problems.len(), 2);
    let valid = status.conditions.iter().find(|c| c.type_ == VALID).unwrap();
    assert_eq!(valid.status, "False");
    assert_eq!(valid.reason, REASON_CONFIGURATION_ERROR);
    assert!(
        valid
            .message
            .contains("setting BootDelay: 99 is above the maximum 30")
    );
    assert!(valid.message.contains("setting ProcTurboMode"));
    h.status = Some(status);
    assert_eq!(pending(Some(&h)), Pending::Nothing);
}

#[test]
fn no_settings_object_or_no_wish_is_nothing_to_do() {
    assert_eq!(pending(None), Pending::Nothing);
    let empty = hfs(&[], 1);
    assert_eq!(pending(Some(&empty)), Pending::Nothing);
    let unread = hfs(&[("BootDelay", IntOrString::Int(10))], 1);
    assert!(matches!(pending(Some(&unread)), Pending::NotReady(_)));
}
