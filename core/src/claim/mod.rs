//! The pure HostClaim core: which host a claim gets, what is written on it, how the claim's
//! status mirrors the host, and the steps that give the host back.
//!
//! Nothing here does I/O, reads a clock or owns randomness: the controller
//! (`metal_operator::controller::claims`) and the discrete-event simulator call these functions
//! with a snapshot of hosts, `now` and a seeded RNG, then carry out the patch they return.
//!
//! * [`selector`]: `hostSelector` → label requirements.
//! * [`choice`]: which hosts are eligible and the random pick ([`choice::choose`]).
//! * [`deployment`]: the claim's deployment fields, their validation, the bind patch and how
//!   later edits are applied (or refused while the host is provisioning).
//! * [`progress`]: the claim's status and conditions from what the controller observed, and the
//!   Events a status change deserves.
//! * [`release`]: the release sequence run when a claim is deleted.
//!
//! Serialisation: [`choice::choose`] is given the set of hosts in-flight claims are taking, and
//! the controller binds with a `resourceVersion` precondition, so two claims never take one host
//! even when its cache lags.

pub mod choice;
pub mod deployment;
/// One claim reconcile over a `ClaimObjects` (controller and engine).
pub mod flow;
pub mod progress;
pub mod release;
pub mod selector;

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::ResourceExt;

use crate::api::{BareMetalHost, HostClaim};

pub use choice::{FAILURE_DOMAIN_LABEL, Ineligible, NoHost, bound_host, choose};
pub use deployment::{Problem, Sync, bind_patch, sync, validate};
pub use progress::{Binding, ClaimEvent, ClaimObservation, MissingSecret, events, status};
pub use release::{ReleaseStep, release_step};
pub use selector::{Selector, SelectorError};

/// API version written into a host's `consumerRef` for a claim.
pub const CLAIM_API_VERSION: &str = "metal3.io/v1alpha1";
/// Kind written into a host's `consumerRef` for a claim.
pub const CLAIM_KIND: &str = "HostClaim";

/// `namespace/name` of a host: the key of the in-flight set.
pub fn host_key(host: &BareMetalHost) -> String {
    format!(
        "{}/{}",
        host.namespace().unwrap_or_default(),
        host.name_any()
    )
}

/// Which namespaces a claim may take hosts from.
///
/// A claim may always take hosts from its own namespace. `shared_namespaces` lists host
/// namespaces whose hosts claims from any namespace may take (the infrastructure namespaces of
/// the HostClaim multi-tenancy proposal).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostPolicy {
    pub shared_namespaces: BTreeSet<String>,
}

impl HostPolicy {
    /// True when a claim in `claim_namespace` may take a host in `host_namespace`.
    pub fn allows(&self, claim_namespace: &str, host_namespace: &str) -> bool {
        claim_namespace == host_namespace || self.shared_namespaces.contains(host_namespace)
    }
}

/// The identity of a claim, as written into and compared with a host's `consumerRef`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ClaimRef {
    pub namespace: String,
    pub name: String,
    pub uid: Option<String>,
}

impl ClaimRef {
    pub fn of(claim: &HostClaim) -> Self {
        Self {
            namespace: claim.namespace().unwrap_or_default(),
            name: claim.name_any(),
            uid: claim.uid(),
        }
    }

    /// `namespace/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// The `consumerRef` a bound host carries.
    pub fn consumer_ref(&self) -> ObjectReference {
        ObjectReference {
            api_version: Some(CLAIM_API_VERSION.to_owned()),
            kind: Some(CLAIM_KIND.to_owned()),
            name: Some(self.name.clone()),
            namespace: Some(self.namespace.clone()),
            uid: self.uid.clone(),
            ..Default::default()
        }
    }

    /// True when the host's `consumerRef` names this claim. A reference without a namespace
    /// means the host's own; uids are compared when both sides have one, so a claim recreated
    /// under the same name does not inherit a host its predecessor is still releasing.
    pub fn is_consumer_of(&self, host: &BareMetalHost) -> bool {
        let Some(r) = host.spec.consumer_ref.as_ref() else {
            return false;
        };
        let namespace = r
            .namespace
            .clone()
            .filter(|ns| !ns.is_empty())
            .or_else(|| host.namespace());
        let group_ok = r
            .api_version
            .as_deref()
            .is_none_or(|v| v.starts_with("metal3.io/"));
        let uid_ok = match (&r.uid, &self.uid) {
            (Some(a), Some(b)) if !a.is_empty() => a == b,
            _ => true,
        };
        r.kind.as_deref() == Some(CLAIM_KIND)
            && group_ok
            && r.name.as_deref() == Some(self.name.as_str())
            && namespace.as_deref() == Some(self.namespace.as_str())
            && uid_ok
    }
}
