//! Which hosts a claim may take, and the random pick among them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use kube::ResourceExt;
use rand::RngExt;

use super::selector::Selector;
use super::{ClaimRef, HostPolicy, host_key};
use crate::api::annotations::{DETACHED, PAUSED};
use crate::api::{BareMetalHost, HostClaim, OperationalStatus, ProvisioningState};

/// Hosts labelled with this key and the claim's `failureDomain` are preferred.
pub const FAILURE_DOMAIN_LABEL: &str = "infrastructure.cluster.x-k8s.io/failure-domain";

/// Annotations that mark a host unhealthy (CAPM3's current and deprecated spellings).
pub const UNHEALTHY_ANNOTATIONS: [&str; 2] =
    ["capm3.metal3.io/unhealthy", "capi.metal3.io/unhealthy"];

/// Why a host cannot be given to a claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Ineligible {
    /// The host lives in a namespace the claim may not take hosts from.
    NamespaceNotAllowed,
    /// The host's labels do not satisfy the selector.
    SelectorMismatch,
    /// The host is being deleted.
    BeingDeleted,
    /// Another consumer (or an in-flight claim) has it.
    Consumed,
    /// Deployed by something else (seed 2's masters).
    ExternallyProvisioned,
    /// `status.errorMessage` is set or the operational status is `error`.
    InError,
    /// Carries the paused annotation.
    Paused,
    /// Carries the detached annotation or is detached.
    Detached,
    /// Carries an unhealthy annotation.
    Unhealthy,
    /// Not in `available` (or its alias `ready`).
    NotAvailable,
}

impl Ineligible {
    /// A short word for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NamespaceNotAllowed => "namespace not allowed",
            Self::SelectorMismatch => "selector mismatch",
            Self::BeingDeleted => "being deleted",
            Self::Consumed => "claimed",
            Self::ExternallyProvisioned => "externally provisioned",
            Self::InError => "in error",
            Self::Paused => "paused",
            Self::Detached => "detached",
            Self::Unhealthy => "unhealthy",
            Self::NotAvailable => "not available",
        }
    }
}

/// Checks one host for a claim whose hosts must live in `target_namespace`.
///
/// The checks run in a fixed order and the first failing one is reported: namespace, selector,
/// deletion, consumer, externally provisioned, error, paused, detached, unhealthy, state.
pub fn eligibility(
    host: &BareMetalHost,
    claim_namespace: &str,
    target_namespace: &str,
    selector: &Selector,
    policy: &HostPolicy,
    reserved: &BTreeSet<String>,
) -> Result<(), Ineligible> {
    let host_namespace = host.namespace().unwrap_or_default();
    if host_namespace != target_namespace || !policy.allows(claim_namespace, &host_namespace) {
        return Err(Ineligible::NamespaceNotAllowed);
    }
    if !selector.matches(host.labels()) {
        return Err(Ineligible::SelectorMismatch);
    }
    if host.metadata.deletion_timestamp.is_some() {
        return Err(Ineligible::BeingDeleted);
    }
    if host.spec.consumer_ref.is_some() || reserved.contains(&host_key(host)) {
        return Err(Ineligible::Consumed);
    }
    let status = host.status.clone().unwrap_or_default();
    if host.spec.externally_provisioned
        || status.provisioning.state == ProvisioningState::ExternallyProvisioned
    {
        return Err(Ineligible::ExternallyProvisioned);
    }
    if !status.error_message.is_empty() || status.operational_status == OperationalStatus::Error {
        return Err(Ineligible::InError);
    }
    let annotations = host.annotations();
    if annotations.contains_key(PAUSED) {
        return Err(Ineligible::Paused);
    }
    if annotations.contains_key(DETACHED)
        || status.operational_status == OperationalStatus::Detached
    {
        return Err(Ineligible::Detached);
    }
    if UNHEALTHY_ANNOTATIONS
        .iter()
        .any(|a| annotations.contains_key(*a))
    {
        return Err(Ineligible::Unhealthy);
    }
    if !matches!(
        status.provisioning.state,
        ProvisioningState::Available | ProvisioningState::Ready
    ) {
        return Err(Ineligible::NotAvailable);
    }
    Ok(())
}

/// Why no host was chosen: how many hosts match the selector, and why each was passed over.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NoHost {
    /// Hosts in the allowed namespace that match the selector.
    pub matching: usize,
    /// Matching hosts by the reason they were passed over.
    pub passed_over: BTreeMap<Ineligible, usize>,
}

impl fmt::Display for NoHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.matching == 0 {
            return f.write_str("no host matches the selector");
        }
        write!(
            f,
            "{} host(s) match the selector but none is free",
            self.matching
        )?;
        let reasons: Vec<String> = self
            .passed_over
            .iter()
            .map(|(why, n)| format!("{n} {}", why.as_str()))
            .collect();
        if !reasons.is_empty() {
            write!(f, " ({})", reasons.join(", "))?;
        }
        Ok(())
    }
}

/// The namespace a claim takes hosts from: `hostSelector.inNamespace`, else its own.
pub fn target_namespace(claim: &HostClaim) -> String {
    claim
        .spec
        .host_selector
        .as_ref()
        .and_then(|s| s.in_namespace.clone())
        .filter(|ns| !ns.is_empty())
        .unwrap_or_else(|| claim.namespace().unwrap_or_default())
}

/// Every host the claim could take now, sorted by `namespace/name`.
pub fn candidates<'a>(
    claim: &HostClaim,
    selector: &Selector,
    hosts: impl IntoIterator<Item = &'a BareMetalHost>,
    reserved: &BTreeSet<String>,
    policy: &HostPolicy,
) -> Result<Vec<&'a BareMetalHost>, NoHost> {
    let claim_namespace = claim.namespace().unwrap_or_default();
    let target = target_namespace(claim);
    let mut found = Vec::new();
    let mut none = NoHost::default();
    for host in hosts {
        match eligibility(host, &claim_namespace, &target, selector, policy, reserved) {
            Ok(()) => {
                none.matching += 1;
                found.push(host);
            }
            Err(Ineligible::NamespaceNotAllowed | Ineligible::SelectorMismatch) => {}
            Err(why) => {
                none.matching += 1;
                *none.passed_over.entry(why).or_default() += 1;
            }
        }
    }
    if found.is_empty() {
        return Err(none);
    }
    found.sort_by_key(|h| host_key(h));
    Ok(found)
}

/// Picks a host for `claim`: uniformly at random (from `rng`) among the eligible hosts, restricted
/// to those labelled with the claim's failure domain when there are any. `reserved` holds hosts
/// that in-flight claims are taking (`namespace/name`); they count as consumed.
///
/// The same inputs and RNG state always give the same host.
pub fn choose<'a, R: rand::Rng + ?Sized>(
    claim: &HostClaim,
    selector: &Selector,
    hosts: impl IntoIterator<Item = &'a BareMetalHost>,
    reserved: &BTreeSet<String>,
    policy: &HostPolicy,
    rng: &mut R,
) -> Result<&'a BareMetalHost, NoHost> {
    let all = candidates(claim, selector, hosts, reserved, policy)?;
    let preferred: Vec<&BareMetalHost> = match claim.spec.failure_domain.as_deref() {
        Some(fd) if !fd.is_empty() => all
            .iter()
            .copied()
            .filter(|h| h.labels().get(FAILURE_DOMAIN_LABEL).map(String::as_str) == Some(fd))
            .collect(),
        _ => Vec::new(),
    };
    let pool = if preferred.is_empty() { all } else { preferred };
    let index = rng.random_range(0..pool.len());
    Ok(pool[index])
}

/// The host whose `consumerRef` names this claim (the consumerRef wins over the claim's status).
pub fn bound_host<'a>(
    claim: &ClaimRef,
    hosts: impl IntoIterator<Item = &'a BareMetalHost>,
) -> Option<&'a BareMetalHost> {
    hosts.into_iter().find(|h| claim.is_consumer_of(h))
}
