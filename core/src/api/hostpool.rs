//! `HostPool` (`metal-operator.io/v1alpha1`): N interchangeable HostClaims made from one template.
//!
//! A pool is what a MachineSet is to Machines: `kubectl scale hostpool/<name> --replicas=N` makes
//! the pool controller create or delete HostClaims until N exist. Several pools with different
//! host selectors are node types (GPU servers, compute servers, ...).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::hostclaim::HostClaimSpec;
use super::wire::null_as_default;

/// API group of our own resources (not `metal3.io`: pools are not an upstream Metal3 type).
pub const POOL_GROUP: &str = "metal-operator.io";

/// Label every claim of a pool carries, with the pool's name as value.
pub const POOL_LABEL: &str = "metal-operator.io/pool";

/// The desired number of claims and the template they are made from.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "metal-operator.io",
    version = "v1alpha1",
    kind = "HostPool",
    plural = "hostpools",
    singular = "hostpool",
    shortname = "hpool",
    namespaced,
    status = "HostPoolStatus",
    scale(
        spec_replicas_path = ".spec.replicas",
        status_replicas_path = ".status.replicas",
        label_selector_path = ".status.selector"
    ),
    printcolumn = r#"{"name":"Desired","type":"integer","jsonPath":".spec.replicas","description":"Claims wanted"}"#,
    printcolumn = r#"{"name":"Bound","type":"integer","jsonPath":".status.boundReplicas","description":"Claims bound to a host"}"#,
    printcolumn = r#"{"name":"Ready","type":"integer","jsonPath":".status.readyReplicas","description":"Claims whose host is provisioned"}"#,
    printcolumn = r#"{"name":"Available","type":"integer","jsonPath":".status.availableHosts","description":"Free hosts matching the template's selector"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp","description":"Time since creation"}"#,
    doc = "HostPool keeps a number of HostClaims made from one template."
)]
#[serde(rename_all = "camelCase")]
pub struct HostPoolSpec {
    /// How many claims the pool keeps.
    #[serde(default, deserialize_with = "null_as_default")]
    #[schemars(range(min = 0))]
    pub replicas: i32,
    /// What every claim of the pool asks for.
    #[serde(default, deserialize_with = "null_as_default")]
    pub template: HostClaimTemplate,
}

/// The metadata and spec given to each claim of a pool.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HostClaimTemplate {
    /// Labels and annotations copied to each claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<TemplateMetadata>,
    /// The claim spec.
    #[serde(default, deserialize_with = "null_as_default")]
    pub spec: HostClaimSpec,
}

/// Labels and annotations of a claim template.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateMetadata {
    /// Labels for each claim (the pool label is added to them).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: BTreeMap<String, String>,
    /// Annotations for each claim.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub annotations: BTreeMap<String, String>,
}

/// What the pool observed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HostPoolStatus {
    /// Claims that exist and are not being deleted.
    #[serde(default, deserialize_with = "null_as_default")]
    pub replicas: i32,
    /// Claims bound to a host.
    #[serde(default, deserialize_with = "null_as_default")]
    pub bound_replicas: i32,
    /// Claims whose host is provisioned.
    #[serde(default, deserialize_with = "null_as_default")]
    pub ready_replicas: i32,
    /// Free hosts that match the template (what the pool could still claim).
    #[serde(default, deserialize_with = "null_as_default")]
    pub available_hosts: i32,
    /// `namespace/name` of every host bound to one of the pool's claims, sorted.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub claimed_hosts: Vec<String>,
    /// Label selector of the pool's claims (for the scale subresource).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// The pool generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `HostsAvailable` (enough hosts for every claim) and `Ready` (every claim provisioned).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}
