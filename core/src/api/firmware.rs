//! `HostFirmwareSettings` and `FirmwareSchema`: a host's BIOS settings as Ironic reads them, the
//! settings the user wants, and the schema (types, bounds, allowed values) they are checked
//! against. Types only; the rules are in [`crate::firmware`].

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::wire::null_as_default;

/// The BIOS settings the user wants on the host of the same name. Upstream requires `settings`;
/// we default it to empty, so an object written with no spec is still read.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "metal3.io",
    version = "v1alpha1",
    kind = "HostFirmwareSettings",
    plural = "hostfirmwaresettings",
    singular = "hostfirmwaresettings",
    shortname = "hfs",
    namespaced,
    status = "HostFirmwareSettingsStatus",
    doc = "HostFirmwareSettings is the Schema for the hostfirmwaresettings API."
)]
#[serde(rename_all = "camelCase")]
pub struct HostFirmwareSettingsSpec {
    /// Settings to apply, by name: an integer for Integer settings, a string otherwise.
    #[serde(default, deserialize_with = "null_as_default")]
    pub settings: BTreeMap<String, IntOrString>,
}

/// What Ironic last reported, the schema that describes it, and whether the spec differs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HostFirmwareSettingsStatus {
    /// `ChangeDetected` (the spec asks for something the host does not have) and `Valid` (the
    /// spec passes the schema).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// When the status last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<Time>,
    /// The FirmwareSchema describing these settings.
    #[serde(default, rename = "schema", skip_serializing_if = "Option::is_none")]
    pub schema: Option<SchemaReference>,
    /// The current settings, by name, as text (password settings are never copied here).
    #[serde(default, deserialize_with = "null_as_default")]
    pub settings: BTreeMap<String, String>,
}

/// Names a FirmwareSchema.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SchemaReference {
    /// Object name.
    pub name: String,
    /// Object namespace.
    pub namespace: String,
}

/// The BIOS settings a kind of hardware offers, shared by the hosts that offer the same ones
/// (its name is a hash of the schema; see [`crate::firmware::schema_name`]).
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "metal3.io",
    version = "v1alpha1",
    kind = "FirmwareSchema",
    plural = "firmwareschemas",
    singular = "firmwareschema",
    namespaced,
    doc = "FirmwareSchema is the Schema for the firmwareschemas API."
)]
#[serde(rename_all = "camelCase")]
pub struct FirmwareSchemaSpec {
    /// The hardware model of the first host that produced this schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware_model: Option<String>,
    /// The hardware vendor of the first host that produced this schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware_vendor: Option<String>,
    /// Each setting's description, by name.
    #[serde(default, deserialize_with = "null_as_default")]
    pub schema: BTreeMap<String, SettingSchema>,
}

/// One setting's type and limits, as Ironic's BIOS registry gives them (its field names).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SettingSchema {
    /// The values an Enumeration setting may take.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub allowable_values: Vec<String>,
    /// `Enumeration`, `String`, `Integer`, `Boolean` or `Password` (empty when unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute_type: Option<AttributeType>,
    /// The lowest value of an Integer setting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower_bound: Option<i64>,
    /// The longest value of a String setting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<i64>,
    /// The shortest value of a String setting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_length: Option<i64>,
    /// The setting cannot be changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// The value is unique to the host (a serial number, say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique: Option<bool>,
    /// The highest value of an Integer setting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper_bound: Option<i64>,
}

/// The type of a BIOS setting, as Redfish and Ironic name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum AttributeType {
    /// One of `allowable_values`.
    Enumeration,
    /// Text within `min_length` and `max_length`.
    String,
    /// A whole number within `lower_bound` and `upper_bound`.
    Integer,
    /// `true` or `false`.
    Boolean,
    /// Write-only text; never read back nor set by us.
    Password,
}

impl AttributeType {
    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enumeration => "Enumeration",
            Self::String => "String",
            Self::Integer => "Integer",
            Self::Boolean => "Boolean",
            Self::Password => "Password",
        }
    }

    /// Reads Ironic's `attribute_type`; None for anything else.
    pub fn parse(text: &str) -> Option<AttributeType> {
        [
            Self::Enumeration,
            Self::String,
            Self::Integer,
            Self::Boolean,
            Self::Password,
        ]
        .into_iter()
        .find(|t| t.as_str() == text)
    }
}
