//! Real user YAML parses into our types and passes validation: bulk registration (no
//! `spec.online`), an externally provisioned control plane plus a worker, and a host that sets
//! every upstream field, which must survive a round trip unchanged.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Secret;
use metal_operator::api::{
    AutomatedCleaningMode, BareMetalHost, OperationalStatus, ProvisioningState, validate_host,
};
use serde::Deserialize;
use serde_json::Value;

/// The documents of a multi-document YAML stream, split by kind.
struct Stream {
    hosts: Vec<BareMetalHost>,
    secrets: Vec<Secret>,
}

fn parse_stream(yaml: &str) -> Stream {
    let mut stream = Stream {
        hosts: Vec::new(),
        secrets: Vec::new(),
    };
    for doc in serde_yaml::Deserializer::from_str(yaml) {
        let value = Value::deserialize(doc).unwrap();
        if value.is_null() {
            continue;
        }
        match value["kind"].as_str() {
            Some("BareMetalHost") => stream.hosts.push(serde_json::from_value(value).unwrap()),
            Some("Secret") => stream.secrets.push(serde_json::from_value(value).unwrap()),
            other => panic!("unexpected kind {other:?}"),
        }
    }
    stream
}

/// Each host's BMC Secret exists in the host's namespace and carries username and password.
fn assert_credentials_resolve(stream: &Stream) {
    for host in &stream.hosts {
        let name = &host.spec.bmc.credentials_name;
        let ns = host.metadata.namespace.as_deref();
        let secret = stream.secrets.iter().find(|s| {
            s.metadata.name.as_deref() == Some(name) && s.metadata.namespace.as_deref() == ns
        });
        let Some(secret) = secret else { continue };
        for key in ["username", "password"] {
            let in_string_data = secret
                .string_data
                .as_ref()
                .is_some_and(|d| d.contains_key(key));
            let in_data = secret
                .data
                .as_ref()
                .is_some_and(|d| d.get(key).is_some_and(|v| !v.0.is_empty()));
            assert!(in_string_data || in_data, "secret {name} lacks {key}");
        }
    }
}

#[test]
fn bulk_registration_without_spec_online_parses_and_validates() {
    let stream = parse_stream(include_str!("fixtures/bulk-registration.yaml"));
    assert_eq!(stream.hosts.len(), 3);
    assert_eq!(stream.secrets.len(), 3);
    assert_credentials_resolve(&stream);
    for host in &stream.hosts {
        assert!(!host.spec.online, "online defaults to false");
        assert_eq!(
            host.spec.automated_cleaning_mode,
            AutomatedCleaningMode::Metadata
        );
        assert!(host.status.is_none());
        let labels = host.metadata.labels.as_ref().expect("labels kept");
        assert!(labels.contains_key("role") && labels.contains_key("rack"));
        assert_eq!(validate_host(host), vec![], "{:?}", host.metadata.name);
        // Upstream Go clients require spec.online: we always write it back.
        let json = serde_json::to_value(host).unwrap();
        assert_eq!(json["spec"]["online"], Value::Bool(false));
    }
    assert!(stream.hosts[0].spec.bmc.disable_certificate_verification);
    assert_eq!(stream.hosts[2].spec.bmc.address, "ipmi://10.20.1.1:623");
}

#[test]
fn externally_provisioned_control_plane_and_new_worker_parse_and_validate() {
    let stream = parse_stream(include_str!("fixtures/externally-provisioned-cluster.yaml"));
    assert_eq!(stream.hosts.len(), 4);
    assert_credentials_resolve(&stream);
    let (masters, workers): (Vec<_>, Vec<_>) = stream
        .hosts
        .iter()
        .partition(|h| h.spec.externally_provisioned);
    assert_eq!(masters.len(), 3);
    assert_eq!(workers.len(), 1);
    for m in &masters {
        let consumer = m.spec.consumer_ref.as_ref().expect("consumed by a Machine");
        assert_eq!(consumer.kind.as_deref(), Some("Machine"));
        assert!(m.spec.online);
    }
    let status = masters[0]
        .status
        .as_ref()
        .expect("status of the first master");
    assert_eq!(
        status.provisioning.state,
        ProvisioningState::ExternallyProvisioned
    );
    assert_eq!(status.operational_status, OperationalStatus::Ok);
    assert_eq!(
        status.provisioning.id,
        "8a7e6c52-0f0d-4c55-9a52-1f0c2b7d9e10"
    );
    // An unquoted MAC (as in the upstream intro) is still a string.
    assert_eq!(
        workers[0].spec.boot_mac_address.as_deref(),
        Some("52:54:00:aa:00:20")
    );
    for host in &stream.hosts {
        assert_eq!(validate_host(host), vec![], "{:?}", host.metadata.name);
    }
}

/// Leaf paths of a JSON value, in the fixture's notation (`.a.b[].c`).
fn leaf_paths(value: &Value, path: String, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                leaf_paths(v, format!("{path}.{k}"), out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for v in items {
                leaf_paths(v, format!("{path}[]"), out);
            }
        }
        _ => {
            out.insert(path);
        }
    }
}

#[test]
fn a_host_with_every_upstream_field_round_trips_unchanged() {
    let yaml = include_str!("fixtures/baremetalhost-every-field.yaml");
    let original: Value = serde_yaml::from_str(yaml).unwrap();
    let host: BareMetalHost = serde_yaml::from_str(yaml).unwrap();
    let again = serde_json::to_value(&host).unwrap();
    assert_eq!(again, original);
    assert_eq!(host.status.as_ref().unwrap().provisioning_fail_count, 1);
    assert!(host.status.as_ref().unwrap().last_attempted_image.is_some());
}

#[test]
fn the_every_field_fixture_really_covers_every_upstream_leaf_path() {
    let original: Value =
        serde_yaml::from_str(include_str!("fixtures/baremetalhost-every-field.yaml")).unwrap();
    let mut present = BTreeSet::new();
    leaf_paths(&original, String::new(), &mut present);
    let upstream = include_str!("fixtures/upstream-v0.13.2-schema.txt");
    let mut missing = Vec::new();
    for line in upstream.lines().filter(|l| l.starts_with("BareMetalHost ")) {
        let mut parts = line.split(' ');
        let path = parts.nth(1).unwrap();
        let type_ = parts.next().unwrap();
        let leaf = !matches!(type_, "object" | "array");
        let covered = present.iter().any(|p| {
            p == path || p.starts_with(&format!("{path}.")) || p.starts_with(&format!("{path}["))
        });
        if (leaf || path.starts_with(".spec") || path.starts_with(".status"))
            && !covered
            && path != "."
        {
            missing.push(path.to_string());
        }
    }
    // `metadata` is free-form in the schema; `apiVersion`/`kind` are present.
    assert!(
        missing.is_empty(),
        "fixture lacks upstream paths: {missing:?}"
    );
}

#[test]
fn a_status_annotation_written_by_go_with_nulls_parses() {
    // Go marshals nil slices and maps as null; a status moved from an upstream cluster has them.
    let raw = r#"{"operationalStatus":"OK","lastUpdated":"2025-01-02T03:04:05Z",
        "hardware":{"systemVendor":{"manufacturer":"QEMU"},"nics":null,"storage":null,
                    "cpu":{"arch":"x86_64","flags":null,"count":2},"ramMebibytes":4096,"hostname":""},
        "provisioning":{"state":"provisioned","ID":"0d6f5c1e-1111-4a4a-8b8b-2c2c2c2c2c2c",
                        "image":{"url":"http://x/y.qcow2","checksum":"abc"},"rootDeviceHints":null,
                        "raid":{"hardwareRAIDVolumes":null,"softwareRAIDVolumes":null}},
        "goodCredentials":{},"triedCredentials":{},"errorMessage":"","poweredOn":true,
        "operationHistory":{"register":{"start":null,"end":null},"inspect":{"start":null,"end":null},
                            "provision":{"start":null,"end":null},"deprovision":{"start":null,"end":null}},
        "errorCount":0,"conditions":null}"#;
    let status = metal_operator::api::annotations::parse_status_annotation(raw).unwrap();
    assert_eq!(status.provisioning.state, ProvisioningState::Provisioned);
    let hw = status.hardware.unwrap();
    assert!(hw.nics.is_empty() && hw.storage.is_empty());
    assert!(hw.cpu.as_ref().unwrap().flags.is_empty());
    assert!(status.conditions.is_empty());
}
