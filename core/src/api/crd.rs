//! CRD generation: the schemas kube/schemars derive from our types, tidied so Kubernetes accepts
//! them as structural schemas and so they accept everything upstream Metal3 v0.13.2 accepts.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSON, JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use kube::CustomResourceExt;

use super::baremetalhost::BareMetalHost;
use super::firmware::{FirmwareSchema, HostFirmwareSettings};
use super::hardwaredata::HardwareData;
use super::hostclaim::HostClaim;
use super::hostpool::HostPool;

/// Every CRD we serve, in a fixed order (by CRD name).
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        finish(BareMetalHost::crd(), "BareMetalHostList"),
        finish(FirmwareSchema::crd(), "FirmwareSchemaList"),
        finish(HardwareData::crd(), "HardwareDataList"),
        finish(HostClaim::crd(), "HostClaimList"),
        finish(HostFirmwareSettings::crd(), "HostFirmwareSettingsList"),
    ]
}

/// The CRDs of our own API group (`metal-operator.io`), kept apart from the Metal3 ones so the
/// Metal3 stream stays exactly upstream's set.
pub fn pool_crds() -> Vec<CustomResourceDefinition> {
    vec![finish(HostPool::crd(), "HostPoolList")]
}

/// Every Metal3 CRD as one deterministic YAML stream, each document starting with `---`.
pub fn crds_yaml() -> String {
    yaml_stream(crds())
}

/// [`pool_crds`] as one deterministic YAML stream (`kind/crds/hostpools.yaml`).
pub fn pool_crds_yaml() -> String {
    yaml_stream(pool_crds())
}

fn yaml_stream(crds: Vec<CustomResourceDefinition>) -> String {
    let mut out = String::new();
    for crd in crds {
        out.push_str("---\n");
        // Serializing plain data (strings, numbers, maps with string keys) to YAML cannot fail.
        let doc = serde_yaml::to_string(&crd).expect("a CRD always serializes to YAML");
        out.push_str(&doc);
    }
    out
}

/// Applies the post-processing every generated CRD needs.
fn finish(mut crd: CustomResourceDefinition, list_kind: &str) -> CustomResourceDefinition {
    crd.spec.names.list_kind = Some(list_kind.to_owned());
    for version in &mut crd.spec.versions {
        if let Some(schema) = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
        {
            tidy_root(schema);
        }
    }
    crd
}

/// Root-level fixes: standard object fields, no required `spec`, and an empty-object default for
/// `spec` so nested defaults (e.g. `spec.online: false`) apply even when `spec` is omitted.
fn tidy_root(root: &mut JSONSchemaProps) {
    root.title = None;
    root.required = None;
    tidy(root);
    let properties = root.properties.get_or_insert_with(Default::default);
    properties.insert("apiVersion".into(), string_schema());
    properties.insert("kind".into(), string_schema());
    properties.insert(
        "metadata".into(),
        JSONSchemaProps {
            type_: Some("object".into()),
            ..Default::default()
        },
    );
    if let Some(spec) = properties.get_mut("spec") {
        spec.default = Some(JSON(serde_json::json!({})));
    }
    if let Some(status) = properties.get_mut("status") {
        status.nullable = None;
    }
}

/// A plain string schema.
fn string_schema() -> JSONSchemaProps {
    JSONSchemaProps {
        type_: Some("string".into()),
        ..Default::default()
    }
}

/// Recursive fixes applied to every subschema.
///
/// * `null` is dropped from `enum` lists: `nullable: true` already admits null, and a `null`
///   member in a string enum only confuses readers and validators;
/// * defaults on objects and arrays are dropped: Go zero values of whole structs (such as an empty
///   `bmc`) must not be stamped into stored objects; scalar defaults stay;
/// * schema-document keywords Kubernetes forbids (`$schema`, `definitions`, `title`) are removed.
fn tidy(schema: &mut JSONSchemaProps) {
    schema.schema = None;
    schema.definitions = None;
    schema.title = None;
    if let Some(values) = schema.enum_.as_mut() {
        values.retain(|v| !v.0.is_null());
    }
    if matches!(schema.type_.as_deref(), Some("object" | "array")) {
        schema.default = None;
    }
    if let Some(properties) = schema.properties.as_mut() {
        properties.values_mut().for_each(tidy);
    }
    match schema.items.as_mut() {
        Some(JSONSchemaPropsOrArray::Schema(item)) => tidy(item),
        Some(JSONSchemaPropsOrArray::Schemas(items)) => items.iter_mut().for_each(tidy),
        None => {}
    }
    if let Some(JSONSchemaPropsOrBool::Schema(extra)) = schema.additional_properties.as_mut() {
        tidy(extra);
    }
    for list in [&mut schema.all_of, &mut schema.any_of, &mut schema.one_of] {
        if let Some(list) = list.as_mut() {
            list.iter_mut().for_each(tidy);
        }
    }
}
