//! The built-in kinds the operator and our manifests use, and the basic shape checks the control
//! plane applies to them (a test double: far fewer rules than a real API server).

use base64::Engine as _;
use serde_json::{Map, Value};

use super::resource::{Resource, ScalePaths};

/// A field-level validation failure (becomes a cause of a 422 Invalid Status).
#[derive(Clone, Debug, PartialEq)]
pub struct FieldError {
    /// `FieldValueRequired`, `FieldValueInvalid`, `FieldValueNotSupported`, `FieldValueTypeInvalid`…
    pub reason: &'static str,
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn required(field: &str) -> Self {
        Self {
            reason: "FieldValueRequired",
            field: field.to_string(),
            message: "Required value".to_string(),
        }
    }
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self {
            reason: "FieldValueInvalid",
            field: field.to_string(),
            message: message.into(),
        }
    }
}

struct Def {
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    status: bool,
    storage: &'static str,
}

const DEFS: &[Def] = &[
    Def {
        group: "",
        version: "v1",
        plural: "namespaces",
        singular: "namespace",
        kind: "Namespace",
        namespaced: false,
        short: &["ns"],
        status: true,
        storage: "/namespaces",
    },
    Def {
        group: "",
        version: "v1",
        plural: "secrets",
        singular: "secret",
        kind: "Secret",
        namespaced: true,
        short: &[],
        status: false,
        storage: "/secrets",
    },
    Def {
        group: "",
        version: "v1",
        plural: "configmaps",
        singular: "configmap",
        kind: "ConfigMap",
        namespaced: true,
        short: &["cm"],
        status: false,
        storage: "/configmaps",
    },
    Def {
        group: "",
        version: "v1",
        plural: "events",
        singular: "event",
        kind: "Event",
        namespaced: true,
        short: &["ev"],
        status: false,
        storage: "/events",
    },
    Def {
        group: "",
        version: "v1",
        plural: "serviceaccounts",
        singular: "serviceaccount",
        kind: "ServiceAccount",
        namespaced: true,
        short: &["sa"],
        status: false,
        storage: "/serviceaccounts",
    },
    Def {
        group: "",
        version: "v1",
        plural: "services",
        singular: "service",
        kind: "Service",
        namespaced: true,
        short: &["svc"],
        status: true,
        storage: "/services",
    },
    Def {
        group: "events.k8s.io",
        version: "v1",
        plural: "events",
        singular: "event",
        kind: "Event",
        namespaced: true,
        short: &["ev"],
        status: false,
        storage: "/events",
    },
    Def {
        group: "coordination.k8s.io",
        version: "v1",
        plural: "leases",
        singular: "lease",
        kind: "Lease",
        namespaced: true,
        short: &[],
        status: false,
        storage: "coordination.k8s.io/leases",
    },
    Def {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        plural: "roles",
        singular: "role",
        kind: "Role",
        namespaced: true,
        short: &[],
        status: false,
        storage: "rbac.authorization.k8s.io/roles",
    },
    Def {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        plural: "rolebindings",
        singular: "rolebinding",
        kind: "RoleBinding",
        namespaced: true,
        short: &[],
        status: false,
        storage: "rbac.authorization.k8s.io/rolebindings",
    },
    Def {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        plural: "clusterroles",
        singular: "clusterrole",
        kind: "ClusterRole",
        namespaced: false,
        short: &[],
        status: false,
        storage: "rbac.authorization.k8s.io/clusterroles",
    },
    Def {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        plural: "clusterrolebindings",
        singular: "clusterrolebinding",
        kind: "ClusterRoleBinding",
        namespaced: false,
        short: &[],
        status: false,
        storage: "rbac.authorization.k8s.io/clusterrolebindings",
    },
    Def {
        group: "apps",
        version: "v1",
        plural: "deployments",
        singular: "deployment",
        kind: "Deployment",
        namespaced: true,
        short: &["deploy"],
        status: true,
        storage: "apps/deployments",
    },
    // Stored and served only: this control plane has no network to enforce it on.
    Def {
        group: "networking.k8s.io",
        version: "v1",
        plural: "networkpolicies",
        singular: "networkpolicy",
        kind: "NetworkPolicy",
        namespaced: true,
        short: &["netpol"],
        status: false,
        storage: "networking.k8s.io/networkpolicies",
    },
    Def {
        group: "apiextensions.k8s.io",
        version: "v1",
        plural: "customresourcedefinitions",
        singular: "customresourcedefinition",
        kind: "CustomResourceDefinition",
        namespaced: false,
        short: &["crd", "crds"],
        status: true,
        storage: "apiextensions.k8s.io/customresourcedefinitions",
    },
    // Stored and served only: this control plane does not call admission webhooks.
    Def {
        group: "admissionregistration.k8s.io",
        version: "v1",
        plural: "validatingwebhookconfigurations",
        singular: "validatingwebhookconfiguration",
        kind: "ValidatingWebhookConfiguration",
        namespaced: false,
        short: &[],
        status: false,
        storage: "admissionregistration.k8s.io/validatingwebhookconfigurations",
    },
];

/// Every built-in resource served.
pub fn resources() -> Vec<Resource> {
    DEFS.iter()
        .map(|d| Resource {
            group: d.group.to_string(),
            version: d.version.to_string(),
            plural: d.plural.to_string(),
            singular: d.singular.to_string(),
            kind: d.kind.to_string(),
            namespaced: d.namespaced,
            short_names: d.short.iter().map(|s| s.to_string()).collect(),
            categories: if matches!(d.kind, "Deployment" | "Service") {
                vec!["all".to_string()]
            } else {
                Vec::new()
            },
            status: d.status,
            scale: (d.kind == "Deployment").then(|| ScalePaths {
                spec_replicas: ".spec.replicas".to_string(),
                status_replicas: ".status.replicas".to_string(),
                label_selector: None,
            }),
            columns: super::printers::columns(d.kind),
            schema: None,
            storage: d.storage.to_string(),
            custom: false,
        })
        .collect()
}

fn is_string_map(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Object(m)) => m.values().all(Value::is_string),
        Some(_) => false,
    }
}

/// Normalises and checks a built-in object's shape in place (Secret `stringData` folds into
/// `data`; defaults such as Secret `type` and Service `type` are filled).
pub fn admit(kind: &str, obj: &mut Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let Some(map) = obj.as_object_mut() else {
        return vec![FieldError::invalid("", "must be an object")];
    };
    match kind {
        "Secret" => admit_secret(map, &mut errors),
        "ConfigMap" => {
            if !is_string_map(map.get("data")) {
                errors.push(FieldError::invalid("data", "values must be strings"));
            }
            if !is_string_map(map.get("binaryData")) {
                errors.push(FieldError::invalid(
                    "binaryData",
                    "values must be base64 strings",
                ));
            }
        }
        "Namespace" => {
            let spec = map
                .entry("spec")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(s) = spec.as_object_mut() {
                s.entry("finalizers")
                    .or_insert_with(|| Value::from(vec!["kubernetes"]));
            }
            let status = map
                .entry("status")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(s) = status.as_object_mut() {
                s.entry("phase").or_insert_with(|| Value::from("Active"));
            }
        }
        "Event" => {
            if map.get("involvedObject").is_none_or(|v| !v.is_object()) {
                errors.push(FieldError::required("involvedObject"));
            }
            // The core/v1 form always carries these (null or empty when unset).
            for key in ["firstTimestamp", "lastTimestamp"] {
                map.entry(key).or_insert(Value::Null);
            }
            map.entry("source")
                .or_insert_with(|| Value::Object(Map::new()));
        }
        "Lease" => {
            if let Some(spec) = map.get("spec") {
                for (f, ok) in [
                    (
                        "holderIdentity",
                        spec.get("holderIdentity")
                            .is_none_or(|v| v.is_string() || v.is_null()),
                    ),
                    (
                        "leaseDurationSeconds",
                        spec.get("leaseDurationSeconds")
                            .is_none_or(|v| v.is_i64() || v.is_null()),
                    ),
                    (
                        "leaseTransitions",
                        spec.get("leaseTransitions")
                            .is_none_or(|v| v.is_i64() || v.is_null()),
                    ),
                ] {
                    if !ok {
                        errors.push(FieldError::invalid(&format!("spec.{f}"), "wrong type"));
                    }
                }
            }
        }
        "Role" | "ClusterRole"
            if map
                .get("rules")
                .is_some_and(|r| !r.is_array() && !r.is_null()) =>
        {
            errors.push(FieldError::invalid("rules", "must be a list"));
        }
        "RoleBinding" | "ClusterRoleBinding" => {
            let role_ref = map.get("roleRef");
            for f in ["apiGroup", "kind", "name"] {
                if role_ref
                    .and_then(|r| r.get(f))
                    .is_none_or(|v| !v.is_string())
                {
                    errors.push(FieldError::required(&format!("roleRef.{f}")));
                }
            }
        }
        "Deployment" => admit_deployment(map, &mut errors),
        "ValidatingWebhookConfiguration" => admit_webhooks(map, &mut errors),
        "Service" => {
            let spec = map
                .entry("spec")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(s) = spec.as_object_mut() {
                s.entry("type").or_insert_with(|| Value::from("ClusterIP"));
                if let Some(ports) = s.get("ports").and_then(Value::as_array) {
                    for (i, p) in ports.iter().enumerate() {
                        if p.get("port")
                            .and_then(Value::as_i64)
                            .is_none_or(|n| !(1..=65535).contains(&n))
                        {
                            errors.push(FieldError::invalid(
                                &format!("spec.ports[{i}].port"),
                                "must be between 1 and 65535, inclusive",
                            ));
                        }
                    }
                }
            }
        }
        _ => {}
    }
    errors
}

fn admit_secret(map: &mut Map<String, Value>, errors: &mut Vec<FieldError>) {
    let engine = base64::engine::general_purpose::STANDARD;
    // An empty type (kubectl's protobuf sends one) defaults like a missing one.
    if map.get("type").is_none_or(|t| t.is_null() || t == "") {
        map.insert("type".into(), Value::from("Opaque"));
    }
    let mut data = match map.remove("data") {
        Some(Value::Object(d)) => d,
        None | Some(Value::Null) => Map::new(),
        Some(_) => {
            errors.push(FieldError::invalid(
                "data",
                "must be a map of base64 strings",
            ));
            Map::new()
        }
    };
    // Values that are not base64 fail the typed decoding (400), as on real servers.
    match map.remove("stringData") {
        Some(Value::Object(sd)) => {
            for (k, v) in sd {
                match v.as_str() {
                    Some(s) => {
                        data.insert(k, Value::from(engine.encode(s.as_bytes())));
                    }
                    None => errors.push(FieldError::invalid(
                        &format!("stringData[{k}]"),
                        "must be a string",
                    )),
                }
            }
        }
        None | Some(Value::Null) => {}
        Some(_) => errors.push(FieldError::invalid(
            "stringData",
            "must be a map of strings",
        )),
    }
    if !data.is_empty() {
        map.insert("data".to_string(), Value::Object(data));
    }
}

fn admit_deployment(map: &mut Map<String, Value>, errors: &mut Vec<FieldError>) {
    let Some(spec) = map.get_mut("spec").and_then(Value::as_object_mut) else {
        errors.push(FieldError::required("spec"));
        return;
    };
    spec.entry("replicas").or_insert_with(|| Value::from(1));
    let selector = spec
        .get("selector")
        .and_then(|s| s.get("matchLabels"))
        .and_then(Value::as_object)
        .cloned();
    let labels = spec
        .get("template")
        .and_then(|t| t.pointer("/metadata/labels"))
        .and_then(Value::as_object)
        .cloned();
    match (selector, labels) {
        (None, _) => errors.push(FieldError::required("spec.selector")),
        (Some(sel), Some(labels)) => {
            if sel.iter().any(|(k, v)| labels.get(k) != Some(v)) {
                errors.push(FieldError::invalid(
                    "spec.template.metadata.labels",
                    "`selector` does not match template `labels`",
                ));
            }
        }
        (Some(_), None) => errors.push(FieldError::required("spec.template.metadata.labels")),
    }
    if spec
        .get("template")
        .and_then(|t| t.pointer("/spec/containers"))
        .and_then(Value::as_array)
        .is_none_or(|c| c.is_empty())
    {
        errors.push(FieldError::required("spec.template.spec.containers"));
    }
}

/// The v1 rules a real API server enforces that decoding alone does not: a known `sideEffects`,
/// at least one review version, and exactly one of `clientConfig.url` and `.service`.
fn admit_webhooks(map: &Map<String, Value>, errors: &mut Vec<FieldError>) {
    let webhooks = map.get("webhooks").and_then(Value::as_array);
    for (i, w) in webhooks.into_iter().flatten().enumerate() {
        let side_effects = w.get("sideEffects").and_then(Value::as_str);
        if !matches!(side_effects, Some("None" | "NoneOnDryRun")) {
            errors.push(FieldError::invalid(
                &format!("webhooks[{i}].sideEffects"),
                "must be None or NoneOnDryRun",
            ));
        }
        let versions = w.get("admissionReviewVersions").and_then(Value::as_array);
        if versions.is_none_or(|v| v.is_empty()) {
            errors.push(FieldError::required(&format!(
                "webhooks[{i}].admissionReviewVersions"
            )));
        }
        let config = w.get("clientConfig");
        let set = |k: &str| config.and_then(|c| c.get(k)).is_some_and(|v| !v.is_null());
        if set("url") == set("service") {
            errors.push(FieldError::invalid(
                &format!("webhooks[{i}].clientConfig"),
                "exactly one of url or service is required",
            ));
        }
    }
}

/// Converts an events.k8s.io/v1 Event to the core/v1 form it is stored in.
pub fn event_to_core(ev: &Value) -> Value {
    let mut out = Map::new();
    let get = |k: &str| ev.get(k).cloned();
    out.insert(
        "metadata".into(),
        get("metadata").unwrap_or_else(|| Value::Object(Map::new())),
    );
    for (from, to) in [
        ("regarding", "involvedObject"),
        ("note", "message"),
        ("reason", "reason"),
        ("type", "type"),
        ("eventTime", "eventTime"),
        ("series", "series"),
        ("action", "action"),
        ("related", "related"),
        ("reportingController", "reportingComponent"),
        ("reportingInstance", "reportingInstance"),
        ("deprecatedCount", "count"),
        ("deprecatedFirstTimestamp", "firstTimestamp"),
        ("deprecatedLastTimestamp", "lastTimestamp"),
        ("deprecatedSource", "source"),
    ] {
        if let Some(v) = get(from).filter(|v| !v.is_null()) {
            out.insert(to.into(), v);
        }
    }
    if !out.contains_key("involvedObject") {
        out.insert("involvedObject".into(), Value::Object(Map::new()));
    }
    // Nothing is invented for the deprecated fields: the Table's printer falls back to the series
    // and eventTime, as kube-apiserver's does.
    Value::Object(out)
}

/// Converts a stored core/v1 Event to its events.k8s.io/v1 view.
pub fn event_from_core(ev: &Value) -> Value {
    let mut out = Map::new();
    let get = |k: &str| ev.get(k).cloned();
    out.insert(
        "metadata".into(),
        get("metadata").unwrap_or_else(|| Value::Object(Map::new())),
    );
    for (from, to) in [
        ("involvedObject", "regarding"),
        ("message", "note"),
        ("reason", "reason"),
        ("type", "type"),
        ("eventTime", "eventTime"),
        ("series", "series"),
        ("action", "action"),
        ("related", "related"),
        ("reportingComponent", "reportingController"),
        ("reportingInstance", "reportingInstance"),
        ("count", "deprecatedCount"),
        ("firstTimestamp", "deprecatedFirstTimestamp"),
        ("lastTimestamp", "deprecatedLastTimestamp"),
        ("source", "deprecatedSource"),
    ] {
        if let Some(v) = get(from).filter(|v| !v.is_null()) {
            out.insert(to.into(), v);
        }
    }
    // The deprecated fields are always present in this view (null or empty when unset).
    for key in ["deprecatedFirstTimestamp", "deprecatedLastTimestamp"] {
        out.entry(key).or_insert(Value::Null);
    }
    out.entry("deprecatedSource")
        .or_insert_with(|| Value::Object(Map::new()));
    Value::Object(out)
}
