//! `HostClaim`: a request to bind and deploy some BareMetalHost (types only; no controller yet).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ObjectReference, SecretReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::baremetalhost::{CustomDeploy, Image};
use super::wire::null_as_default;

/// What the claimant wants: which hosts qualify, what to deploy, and the power state.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "metal3.io",
    version = "v1alpha1",
    kind = "HostClaim",
    plural = "hostclaims",
    singular = "hostclaim",
    namespaced,
    status = "HostClaimStatus",
    doc = "HostClaim is the Schema for the hostclaims API."
)]
#[serde(rename_all = "camelCase")]
pub struct HostClaimSpec {
    /// Who uses the claimed host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-map-type" = "atomic"))]
    pub consumer_ref: Option<ObjectReference>,
    /// A ramdisk-specific custom deploy step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_deploy: Option<CustomDeploy>,
    /// Preferred failure domain (hosts labelled `infrastructure.cluster.x-k8s.io/failure-domain`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_domain: Option<String>,
    /// Label criteria a BareMetalHost must meet to be bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_selector: Option<HostSelector>,
    /// The image to deploy on the bound host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Image>,
    /// Secret with metadata for the config drive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-map-type" = "atomic"))]
    pub meta_data: Option<SecretReference>,
    /// Secret with network data for the config drive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-map-type" = "atomic"))]
    pub network_data: Option<SecretReference>,
    /// Desired power state of the bound host. Upstream requires it; we default it to `false`,
    /// as for `BareMetalHost.spec.online`, so a claim with an empty spec is still accepted.
    #[serde(default, deserialize_with = "null_as_default")]
    pub powered_on: bool,
    /// Secret with user data for the config drive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-map-type" = "atomic"))]
    pub user_data: Option<SecretReference>,
}

/// Label criteria for choosing a BareMetalHost.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HostSelector {
    /// Only consider hosts in this namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_namespace: Option<String>,
    /// Labels a host must carry with exactly these values.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub match_labels: BTreeMap<String, String>,
    /// Set-based label requirements.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub match_expressions: Vec<HostSelectorRequirement>,
}

/// One set-based label requirement (`key operator values`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HostSelectorRequirement {
    /// Label key.
    pub key: String,
    /// Operator (`in`, `notin`, `exists`, `!`, ...), as Kubernetes label selection spells it.
    pub operator: String,
    /// Values the operator compares against.
    pub values: Vec<String>,
}

/// What the claim is bound to.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HostClaimStatus {
    /// The bound BareMetalHost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bare_metal_host: Option<NamespacedName>,
    /// Standard conditions.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub conditions: Vec<Condition>,
    /// The HardwareData of the bound host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware_data: Option<NamespacedName>,
    /// When the status was last saved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<Time>,
    /// Observed power state of the bound host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub powered_on: Option<bool>,
}

/// A namespaced object name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NamespacedName {
    /// Object name.
    pub name: String,
    /// Object namespace.
    pub namespace: String,
}
