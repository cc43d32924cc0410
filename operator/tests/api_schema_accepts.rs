//! Our generated schemas accept the objects users write and the objects we write ourselves, and
//! prune nothing from them. A small structural validator (type, nullable, enum, required,
//! bounds, unknown fields) stands in for the API server here; patterns are not checked.

use std::collections::BTreeMap;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use metal_operator::api::{BareMetalHost, BareMetalHostStatus, crds};
use serde::Deserialize;
use serde_json::Value;

fn schemas() -> BTreeMap<String, JSONSchemaProps> {
    crds()
        .into_iter()
        .map(|c| {
            let s = c.spec.versions[0]
                .schema
                .clone()
                .unwrap()
                .open_api_v3_schema
                .unwrap();
            (c.spec.names.kind, s)
        })
        .collect()
}

/// Every reason the API server would reject `v`, or silently prune part of it.
fn check(path: &str, s: &JSONSchemaProps, v: &Value, out: &mut Vec<String>) {
    if v.is_null() {
        if s.nullable != Some(true) {
            out.push(format!("{path}: null but not nullable"));
        }
        return;
    }
    let type_ok = match s.type_.as_deref() {
        Some("object") => v.is_object(),
        Some("array") => v.is_array(),
        Some("string") => v.is_string(),
        Some("boolean") => v.is_boolean(),
        Some("integer") => v.is_i64() || v.is_u64(),
        Some("number") => v.is_number(),
        _ => true,
    };
    if !type_ok {
        out.push(format!("{path}: {v} is not of type {:?}", s.type_));
        return;
    }
    if let Some(values) = &s.enum_
        && !values.iter().any(|e| &e.0 == v)
    {
        out.push(format!("{path}: {v} not in enum"));
    }
    if let Some(n) = v.as_f64()
        && (s.minimum.is_some_and(|m| n < m) || s.maximum.is_some_and(|m| n > m))
    {
        out.push(format!("{path}: {n} out of bounds"));
    }
    if let Some(text) = v.as_str()
        && s.max_length
            .is_some_and(|m| text.chars().count() as i64 > m)
    {
        out.push(format!("{path}: too long"));
    }
    if let Some(items) = v.as_array() {
        let n = items.len() as i64;
        if s.min_items.is_some_and(|m| n < m) || s.max_items.is_some_and(|m| n > m) {
            out.push(format!("{path}: {n} items out of bounds"));
        }
        if let Some(JSONSchemaPropsOrArray::Schema(item)) = &s.items {
            for (i, x) in items.iter().enumerate() {
                check(&format!("{path}[{i}]"), item, x, out);
            }
        }
    }
    if let Some(map) = v.as_object() {
        for r in s.required.iter().flatten() {
            if !map.contains_key(r) {
                out.push(format!("{path}: required {r} missing"));
            }
        }
        let free_form = s.x_kubernetes_preserve_unknown_fields == Some(true)
            || (s.properties.is_none() && s.additional_properties.is_none());
        for (k, x) in map {
            let child = format!("{path}.{k}");
            match (
                s.properties.as_ref().and_then(|p| p.get(k)),
                &s.additional_properties,
            ) {
                (Some(p), _) => check(&child, p, x, out),
                (None, Some(JSONSchemaPropsOrBool::Schema(a))) => check(&child, a, x, out),
                (None, _) if free_form => {}
                (None, _) => out.push(format!("{child}: unknown field, would be pruned")),
            }
        }
    }
}

/// What the API server does before validating: drop nulls from non-nullable fields, then fill
/// in defaults (recursively, so a defaulted `spec: {}` gets its own defaults too).
fn prune_and_default(s: &JSONSchemaProps, v: &mut Value) {
    if let (Some(map), Some(props)) = (v.as_object_mut(), s.properties.as_ref()) {
        for (k, child) in props {
            if map.get(k).is_some_and(Value::is_null) && child.nullable != Some(true) {
                map.remove(k);
            }
            if !map.contains_key(k)
                && let Some(d) = &child.default
            {
                map.insert(k.clone(), d.0.clone());
            }
            if let Some(x) = map.get_mut(k) {
                prune_and_default(child, x);
            }
        }
    }
    if let (Some(items), Some(JSONSchemaPropsOrArray::Schema(item))) = (v.as_array_mut(), &s.items)
    {
        items.iter_mut().for_each(|x| prune_and_default(item, x));
    }
}

/// Admits `object` as the API server would: the stored object, or the reasons for rejection.
fn admit(kind: &str, mut object: Value) -> Result<Value, Vec<String>> {
    let schema = &schemas()[kind];
    prune_and_default(schema, &mut object);
    let p = problems(kind, &object);
    if p.is_empty() { Ok(object) } else { Err(p) }
}

fn problems(kind: &str, object: &Value) -> Vec<String> {
    let mut out = Vec::new();
    check("", &schemas()[kind], object, &mut out);
    out
}

fn documents(yaml: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(yaml)
        .map(|d| Value::deserialize(d).unwrap())
        .filter(|v| v["kind"] == "BareMetalHost")
        .collect()
}

const FIXTURES: [&str; 3] = [
    include_str!("fixtures/bulk-registration.yaml"),
    include_str!("fixtures/externally-provisioned-cluster.yaml"),
    include_str!("fixtures/baremetalhost-every-field.yaml"),
];

#[test]
fn user_yaml_is_accepted_without_pruning() {
    let mut count = 0;
    for yaml in FIXTURES {
        for doc in documents(yaml) {
            count += 1;
            let p = problems("BareMetalHost", &doc);
            assert!(p.is_empty(), "{}: {p:?}", doc["metadata"]["name"]);
        }
    }
    assert_eq!(count, 8);
}

#[test]
fn what_we_write_back_is_accepted_without_pruning() {
    for yaml in FIXTURES {
        for doc in documents(yaml) {
            let host: BareMetalHost = serde_json::from_value(doc).unwrap();
            let written = serde_json::to_value(&host).unwrap();
            let p = problems("BareMetalHost", &written);
            assert!(p.is_empty(), "{:?}: {p:?}", host.metadata.name);
        }
    }
}

#[test]
fn a_fresh_default_status_is_accepted() {
    let mut host: BareMetalHost = serde_json::from_value(documents(FIXTURES[0]).remove(0)).unwrap();
    host.status = Some(BareMetalHostStatus::default());
    let written = serde_json::to_value(&host).unwrap();
    assert_eq!(written["status"]["operationalStatus"], "");
    assert_eq!(written["status"]["provisioning"]["state"], "");
    assert!(problems("BareMetalHost", &written).is_empty());
}

#[test]
fn the_validator_rejects_what_the_api_server_would() {
    let base = documents(FIXTURES[2]).remove(0);
    type Mutation = fn(&mut Value);
    let cases: [(&str, Mutation); 6] = [
        ("bootMode", |v| v["spec"]["bootMode"] = "BIOS".into()),
        ("errorType", |v| {
            v["status"]["errorType"] = "bogus error".into()
        }),
        ("credentialsName", |v| {
            v["spec"]["bmc"]
                .as_object_mut()
                .unwrap()
                .remove("credentialsName");
        }),
        ("unknown field", |v| v["spec"]["nonsense"] = true.into()),
        ("vlanId", |v| {
            v["status"]["hardware"]["nics"][0]["vlanId"] = 5000.into()
        }),
        ("online", |v| v["spec"]["online"] = "yes".into()),
    ];
    for (what, mutate) in cases {
        let mut doc = base.clone();
        mutate(&mut doc);
        assert!(
            !problems("BareMetalHost", &doc).is_empty(),
            "{what} was accepted"
        );
    }
}

#[test]
fn hostclaim_and_hardwaredata_objects_are_accepted_and_round_trip() {
    let claim = serde_json::json!({
        "apiVersion": "metal3.io/v1alpha1", "kind": "HostClaim",
        "metadata": {"name": "worker-claim", "namespace": "tenant-a"},
        "spec": {
            "poweredOn": true,
            "failureDomain": "rack-2",
            "hostSelector": {"inNamespace": "pool", "matchLabels": {"role": "gpu"},
                             "matchExpressions": [{"key": "rack", "operator": "in", "values": ["rack-1", "rack-2"]}]},
            "image": {"url": "http://images.example/os.qcow2", "checksum": "abc", "checksumType": "sha256", "format": "qcow2"},
            "userData": {"name": "ud", "namespace": "tenant-a"},
            "consumerRef": {"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "Metal3Machine", "name": "m0"}
        },
        "status": {"bareMetalHost": {"name": "gpu-1", "namespace": "pool"}, "poweredOn": true,
                   "lastUpdated": "2025-01-02T03:04:05Z"}
    });
    assert_eq!(problems("HostClaim", &claim), Vec::<String>::new());
    let typed: metal_operator::api::HostClaim = serde_json::from_value(claim.clone()).unwrap();
    assert_eq!(serde_json::to_value(&typed).unwrap(), claim);

    let hd = serde_json::json!({
        "apiVersion": "metal3.io/v1alpha1", "kind": "HardwareData",
        "metadata": {"name": "gpu-1", "namespace": "pool"},
        "spec": {"hardware": {"ramMebibytes": 1024, "cpu": {"count": 4, "clockMegahertz": 2000.5},
                              "gpus": [{"vendorID": "10de", "class": "030200"}]}}
    });
    assert_eq!(problems("HardwareData", &hd), Vec::<String>::new());
}

#[test]
fn objects_with_an_omitted_or_null_spec_are_admitted_and_then_parse() {
    // A discovered host has no spec at all; a claim written as `spec:` has a null spec. Upstream
    // accepts both; the API server prunes the null and our `spec: {}` default fills it in.
    let yaml = r#"
apiVersion: metal3.io/v1alpha1
kind: BareMetalHost
metadata: {name: found-in-rack-9, namespace: lab}
---
apiVersion: metal3.io/v1alpha1
kind: HostClaim
metadata: {name: any-host, namespace: lab}
spec:
"#;
    let docs: Vec<Value> = serde_yaml::Deserializer::from_str(yaml)
        .map(|d| Value::deserialize(d).unwrap())
        .collect();
    let host = admit("BareMetalHost", docs[0].clone()).unwrap();
    assert_eq!(host["spec"]["online"], false);
    assert_eq!(host["spec"]["automatedCleaningMode"], "metadata");
    let host: BareMetalHost = serde_json::from_value(host).unwrap();
    assert!(host.spec.bmc.address.is_empty());
    assert_eq!(metal_operator::api::validate_host(&host), vec![]);

    let claim = admit("HostClaim", docs[1].clone()).unwrap();
    assert_eq!(claim["spec"]["poweredOn"], false);
    let _: metal_operator::api::HostClaim = serde_json::from_value(claim).unwrap();
}
