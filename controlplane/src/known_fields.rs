//! The fields a built-in kind has: an object is decoded into its typed k8s-openapi struct and
//! encoded again; keys that did not survive are unknown (misspelled or misplaced) and are
//! reported for `fieldValidation` and dropped, as a real API server's decoder drops them. A
//! value of the wrong type is a decoding error.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// One step of a path to an unknown field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// The path to an unknown field.
pub type FieldPath = Vec<Step>;

/// `spec.containers[0].readinesProbe`, as real servers name fields in messages.
pub fn display(path: &[Step]) -> String {
    let mut out = String::new();
    for s in path {
        match s {
            Step::Key(k) if out.is_empty() => out.push_str(k),
            Step::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

fn missing(original: &Value, typed: &Value, path: &mut FieldPath, out: &mut Vec<FieldPath>) {
    match (original, typed) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                path.push(Step::Key(k.clone()));
                match b.get(k) {
                    Some(w) => missing(v, w, path, out),
                    // An explicit null is an absent optional field, not an unknown one.
                    None if v.is_null() => {}
                    None => out.push(path.clone()),
                }
                path.pop();
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                path.push(Step::Index(i));
                missing(v, w, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn check<T: DeserializeOwned + Serialize>(obj: &Value) -> Result<Vec<FieldPath>, String> {
    let typed: T = serde_json::from_value(obj.clone()).map_err(|e| e.to_string())?;
    let back = serde_json::to_value(&typed).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    missing(obj, &back, &mut Vec::new(), &mut out);
    Ok(out)
}

/// The unknown fields of a built-in object of `kind` (in its stored form: Events as core/v1;
/// `ObjectMeta` for a custom object's metadata), or the decoding error when a value has the wrong type. Kinds without a typed struct here
/// report nothing.
pub fn unknown(kind: &str, obj: &Value) -> Result<Vec<FieldPath>, String> {
    use k8s_openapi::api::{
        admissionregistration::v1 as admission, apps::v1 as apps, coordination::v1 as coordination,
        core::v1 as core, networking::v1 as networking, rbac::v1 as rbac,
    };
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as ext;
    match kind {
        "Namespace" => check::<core::Namespace>(obj),
        "Secret" => check::<core::Secret>(obj),
        "ConfigMap" => check::<core::ConfigMap>(obj),
        "Event" => check::<core::Event>(obj),
        "ServiceAccount" => check::<core::ServiceAccount>(obj),
        "Service" => check::<core::Service>(obj),
        "Lease" => check::<coordination::Lease>(obj),
        "Role" => check::<rbac::Role>(obj),
        "RoleBinding" => check::<rbac::RoleBinding>(obj),
        "ClusterRole" => check::<rbac::ClusterRole>(obj),
        "ClusterRoleBinding" => check::<rbac::ClusterRoleBinding>(obj),
        "Deployment" => check::<apps::Deployment>(obj),
        "NetworkPolicy" => check::<networking::NetworkPolicy>(obj),
        "CustomResourceDefinition" => check::<ext::CustomResourceDefinition>(obj),
        "ValidatingWebhookConfiguration" => check::<admission::ValidatingWebhookConfiguration>(obj),
        // The metadata of a custom object (whose schema says only `type: object`).
        "ObjectMeta" => check::<k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>(obj),
        _ => Ok(Vec::new()),
    }
}

/// Removes the field at `path` (a path `unknown` returned).
pub fn remove(obj: &mut Value, path: &[Step]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = obj;
    for s in parents {
        let next = match s {
            Step::Key(k) => cur.get_mut(k.as_str()),
            Step::Index(i) => cur.get_mut(*i),
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    if let (Step::Key(k), Some(m)) = (last, cur.as_object_mut()) {
        m.remove(k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_misspelled_container_field_is_unknown_and_removable() {
        let mut d = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "x", "creationTimestamp": null},
            "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "image": "i", "readinesProbe": {}}]}}}
        });
        let unknown = unknown("Deployment", &d).unwrap();
        assert_eq!(unknown.len(), 1);
        assert_eq!(
            display(&unknown[0]),
            "spec.template.spec.containers[0].readinesProbe"
        );
        remove(&mut d, &unknown[0]);
        assert!(unknown_fields_gone(&d));
    }

    fn unknown_fields_gone(d: &Value) -> bool {
        unknown("Deployment", d).unwrap().is_empty()
    }

    #[test]
    fn a_webhook_configuration_decodes_strictly() {
        let w = json!({"apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration", "metadata": {"name": "w"},
            "webhooks": [{"name": "a.b.io", "sideEffects": "None", "admissionReviewVersions": ["v1"],
                "clientConfig": {"service": {"name": "s", "namespace": "n", "prot": 443}}}]});
        let found = unknown("ValidatingWebhookConfiguration", &w).unwrap();
        assert_eq!(
            found.iter().map(|p| display(p)).collect::<Vec<_>>(),
            ["webhooks[0].clientConfig.service.prot"]
        );
        let mut wrong_type = w.clone();
        wrong_type["webhooks"][0]["admissionReviewVersions"] = json!("v1");
        assert!(unknown("ValidatingWebhookConfiguration", &wrong_type).is_err());
    }

    #[test]
    fn a_value_of_the_wrong_type_is_a_decoding_error() {
        let s = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
            "spec": {"ports": [{"port": "eighty"}]}});
        assert!(unknown("Service", &s).is_err());
    }
}
