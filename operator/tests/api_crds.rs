//! The committed CRD YAML under kind/crds/ is exactly what the types generate, and it has the
//! shape kubectl users of upstream Metal3 rely on.

use std::path::PathBuf;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use metal_operator::api::{crds, crds_yaml};

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../kind/crds/metal3.io.yaml")
}

fn crd(name: &str) -> CustomResourceDefinition {
    crds()
        .into_iter()
        .find(|c| c.metadata.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no CRD named {name}"))
}

fn root_schema(crd: &CustomResourceDefinition) -> JSONSchemaProps {
    crd.spec.versions[0]
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.clone())
        .expect("schema")
}

fn prop<'a>(schema: &'a JSONSchemaProps, path: &[&str]) -> &'a JSONSchemaProps {
    let mut cur = schema;
    for key in path {
        cur = cur
            .properties
            .as_ref()
            .and_then(|p| p.get(*key))
            .unwrap_or_else(|| panic!("missing property {key} in {path:?}"));
    }
    cur
}

#[test]
fn committed_crd_yaml_matches_the_generated_one() {
    let generated = crds_yaml();
    let path = committed_path();
    if std::env::var_os("UPDATE_CRDS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is stale or missing: run `make crds` (or UPDATE_CRDS=1 cargo nextest run -p metal-operator --test api_crds) and commit the result",
        path.display()
    );
}

#[test]
fn crd_yaml_is_deterministic_and_one_document_per_crd() {
    let a = crds_yaml();
    assert_eq!(a, crds_yaml());
    assert_eq!(a.matches("---\n").count(), 5);
    let docs: Vec<CustomResourceDefinition> = a
        .split("---\n")
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_yaml::from_str(d).unwrap())
        .collect();
    let names: Vec<_> = docs
        .iter()
        .map(|c| c.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "baremetalhosts.metal3.io",
            "firmwareschemas.metal3.io",
            "hardwaredata.metal3.io",
            "hostclaims.metal3.io",
            "hostfirmwaresettings.metal3.io",
        ]
    );
}

#[test]
fn baremetalhost_has_upstream_names_scope_and_status_subresource() {
    let c = crd("baremetalhosts.metal3.io");
    assert_eq!(c.spec.group, "metal3.io");
    assert_eq!(c.spec.scope, "Namespaced");
    assert_eq!(c.spec.names.kind, "BareMetalHost");
    assert_eq!(c.spec.names.list_kind.as_deref(), Some("BareMetalHostList"));
    assert_eq!(c.spec.names.plural, "baremetalhosts");
    assert_eq!(c.spec.names.singular.as_deref(), Some("baremetalhost"));
    assert_eq!(
        c.spec.names.short_names.as_deref(),
        Some(&["bmh".to_string(), "bmhost".to_string()][..])
    );
    let v = &c.spec.versions[0];
    assert_eq!(v.name, "v1alpha1");
    assert!(v.served && v.storage);
    assert!(
        v.subresources
            .as_ref()
            .and_then(|s| s.status.as_ref())
            .is_some()
    );
}

#[test]
fn baremetalhost_printer_columns_are_upstreams_in_order() {
    let c = crd("baremetalhosts.metal3.io");
    let cols = c.spec.versions[0]
        .additional_printer_columns
        .clone()
        .unwrap();
    let got: Vec<(String, String, String, i32)> = cols
        .iter()
        .map(|c| {
            (
                c.name.clone(),
                c.json_path.clone(),
                c.type_.clone(),
                c.priority.unwrap_or(0),
            )
        })
        .collect();
    let want = [
        ("Status", ".status.operationalStatus", "string", 1),
        ("State", ".status.provisioning.state", "string", 0),
        ("Consumer", ".spec.consumerRef.name", "string", 0),
        ("BMC", ".spec.bmc.address", "string", 1),
        ("Online", ".spec.online", "string", 0),
        ("Error", ".status.errorType", "string", 0),
        ("Age", ".metadata.creationTimestamp", "date", 0),
    ];
    let want: Vec<(String, String, String, i32)> = want
        .iter()
        .map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), *d))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn spec_online_is_optional_and_defaults_to_false() {
    let root = root_schema(&crd("baremetalhosts.metal3.io"));
    let spec = prop(&root, &["spec"]);
    assert!(
        spec.required
            .as_ref()
            .is_none_or(|r| !r.contains(&"online".to_string()))
    );
    let online = prop(&root, &["spec", "online"]);
    assert_eq!(
        online.default.as_ref().map(|d| d.0.clone()),
        Some(serde_json::json!(false))
    );
    // An omitted spec is defaulted to {} so that the nested default applies too.
    assert_eq!(
        spec.default.as_ref().map(|d| d.0.clone()),
        Some(serde_json::json!({}))
    );
}

#[test]
fn error_type_enum_also_admits_detach_error() {
    let root = root_schema(&crd("baremetalhosts.metal3.io"));
    let e = prop(&root, &["status", "errorType"]);
    let values: Vec<_> = e.enum_.clone().unwrap().into_iter().map(|v| v.0).collect();
    assert!(
        values.contains(&serde_json::json!("detach error")),
        "{values:?}"
    );
    assert!(values.contains(&serde_json::json!("registration error")));
}

#[test]
fn status_provisioning_id_key_is_capitalised() {
    let root = root_schema(&crd("baremetalhosts.metal3.io"));
    prop(&root, &["status", "provisioning", "ID"]);
    assert!(
        prop(&root, &["status", "provisioning"])
            .properties
            .as_ref()
            .unwrap()
            .get("id")
            .is_none()
    );
}

/// Kubernetes' structural-schema rules that a derived schema could break.
fn assert_structural(path: &str, s: &JSONSchemaProps) {
    assert!(s.ref_path.is_none(), "{path}: $ref");
    assert!(s.schema.is_none(), "{path}: $schema");
    assert!(s.definitions.is_none(), "{path}: definitions");
    assert!(s.title.is_none(), "{path}: title");
    for (kw, present) in [
        ("anyOf", s.any_of.is_some()),
        ("oneOf", s.one_of.is_some()),
        ("allOf", s.all_of.is_some()),
        ("not", s.not.is_some()),
    ] {
        assert!(!present, "{path}: {kw} (unions are not structural here)");
    }
    let preserves = s.x_kubernetes_preserve_unknown_fields == Some(true)
        || s.x_kubernetes_int_or_string == Some(true);
    assert!(preserves || s.type_.is_some(), "{path}: no type");
    if let Some(values) = &s.enum_ {
        assert!(
            values.iter().all(|v| !v.0.is_null()),
            "{path}: null in enum"
        );
    }
    if matches!(s.type_.as_deref(), Some("object" | "array")) && path != ".spec" {
        assert!(s.default.is_none(), "{path}: default on a {:?}", s.type_);
    }
    for (k, v) in s.properties.iter().flatten() {
        assert_structural(&format!("{path}.{k}"), v);
    }
    match &s.items {
        Some(JSONSchemaPropsOrArray::Schema(i)) => assert_structural(&format!("{path}[]"), i),
        Some(JSONSchemaPropsOrArray::Schemas(_)) => {
            panic!("{path}: tuple items are not structural")
        }
        None => assert!(
            s.type_.as_deref() != Some("array"),
            "{path}: array without items"
        ),
    }
    if let Some(JSONSchemaPropsOrBool::Schema(a)) = &s.additional_properties {
        assert_structural(&format!("{path}{{}}"), a);
    }
}

#[test]
fn every_generated_schema_is_structural() {
    for c in crds() {
        let root = root_schema(&c);
        assert_eq!(root.type_.as_deref(), Some("object"));
        assert!(root.required.is_none(), "root must not require spec");
        for key in ["apiVersion", "kind", "metadata"] {
            prop(&root, &[key]);
        }
        assert_structural("", &root);
    }
}

#[test]
fn hardwaredata_and_hostclaim_have_upstream_names() {
    let hd = crd("hardwaredata.metal3.io");
    assert_eq!(hd.spec.names.plural, "hardwaredata");
    assert_eq!(
        hd.spec.names.short_names.as_deref(),
        Some(&["hd".to_string()][..])
    );
    let hc = crd("hostclaims.metal3.io");
    assert_eq!(hc.spec.names.kind, "HostClaim");
    assert!(
        hc.spec.versions[0]
            .subresources
            .as_ref()
            .and_then(|s| s.status.as_ref())
            .is_some()
    );
}

#[test]
fn firmware_crds_have_upstream_names_and_hfs_its_status_subresource() {
    let hfs = crd("hostfirmwaresettings.metal3.io");
    assert_eq!(hfs.spec.names.kind, "HostFirmwareSettings");
    assert_eq!(
        hfs.spec.names.singular.as_deref(),
        Some("hostfirmwaresettings")
    );
    assert_eq!(
        hfs.spec.names.short_names.as_deref(),
        Some(&["hfs".to_string()][..])
    );
    assert!(
        hfs.spec.versions[0]
            .subresources
            .as_ref()
            .and_then(|s| s.status.as_ref())
            .is_some()
    );
    let fs = crd("firmwareschemas.metal3.io");
    assert_eq!(fs.spec.names.kind, "FirmwareSchema");
    assert_eq!(fs.spec.names.plural, "firmwareschemas");
    assert!(
        fs.spec.versions[0].subresources.is_none(),
        "upstream has no status"
    );
}
