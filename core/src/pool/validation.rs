//! What a HostPool must satisfy before it is stored: a replica count the pool can reach, a
//! template whose labels do not fight the pool's own, and a template spec that passes the
//! HostClaim rules (every claim made from it would fail them otherwise).

use kube::ResourceExt;

use super::claim_for;
use crate::api::hostpool::POOL_LABEL;
use crate::api::{FieldError, FieldErrorKind, HostPool};
use crate::claim;

/// Path of the template's claim spec, the prefix of the claim rules' field errors.
const TEMPLATE_SPEC: &str = "spec.template.spec";

/// Everything wrong with `pool` (empty when it may be stored), as Kubernetes field errors.
pub fn validate(pool: &HostPool) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if pool.spec.replicas < 0 {
        errors.push(FieldError::new(
            FieldErrorKind::Invalid,
            "spec.replicas",
            pool.spec.replicas.to_string(),
            "must be greater than or equal to 0",
        ));
    }
    let pool_label = pool
        .spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.get(POOL_LABEL));
    if let Some(value) = pool_label.filter(|v| **v != pool.name_any()) {
        errors.push(FieldError::new(
            FieldErrorKind::Forbidden,
            format!("spec.template.metadata.labels[{POOL_LABEL}]"),
            value,
            "the pool sets this label on its claims to the pool's own name",
        ));
    }
    // Judged as the claims will be: in the pool's namespace, with the pool's template spec.
    let sample = claim_for(pool, pool.name_any());
    errors.extend(
        claim::validate(&sample)
            .iter()
            .map(|p| p.field_error(&sample.spec, TEMPLATE_SPEC)),
    );
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pool(spec: serde_json::Value) -> HostPool {
        serde_json::from_value(json!({
            "apiVersion": "metal-operator.io/v1alpha1", "kind": "HostPool",
            "metadata": {"name": "gpu", "namespace": "team"},
            "spec": spec,
        }))
        .unwrap()
    }

    fn paths(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.path.as_str()).collect()
    }

    #[test]
    fn a_pool_with_a_valid_template_has_no_errors() {
        let p = pool(json!({"replicas": 3, "template": {
            "metadata": {"labels": {"role": "gpu", POOL_LABEL: "gpu"}},
            "spec": {"image": {"url": "http://i/os.img", "checksum": "abc"}}}}));
        assert_eq!(validate(&p), []);
    }

    #[test]
    fn negative_replicas_are_invalid_naming_the_value() {
        let errors = validate(&pool(json!({"replicas": -1})));
        assert_eq!(
            errors[0].to_string(),
            "spec.replicas: Invalid value: \"-1\": must be greater than or equal to 0"
        );
    }

    #[test]
    fn a_template_label_claiming_another_pool_is_forbidden() {
        let errors = validate(&pool(json!({"replicas": 1, "template": {
            "metadata": {"labels": {POOL_LABEL: "other"}}}})));
        assert_eq!(
            paths(&errors),
            ["spec.template.metadata.labels[metal-operator.io/pool]"]
        );
        assert_eq!(errors[0].value, "other");
    }

    #[test]
    fn the_template_spec_is_held_to_the_claim_rules_under_its_own_path() {
        let errors = validate(&pool(json!({"replicas": 1, "template": {"spec": {
            "image": {"url": "http://i/os.img"},
            "userData": {"name": "ud", "namespace": "elsewhere"},
            "hostSelector": {"matchExpressions": [{"key": "k", "operator": "near", "values": []}]},
        }}})));
        assert_eq!(
            paths(&errors),
            [
                "spec.template.spec.hostSelector.matchExpressions[0].operator",
                "spec.template.spec.image.checksum",
                "spec.template.spec.userData.namespace",
            ]
        );
    }
}
