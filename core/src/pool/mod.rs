//! The pure HostPool core: how many claims to create or which to delete, the claims' shape, and
//! the pool's status ([`summary`]), and the rules a pool must satisfy ([`validation`]).
//!
//! Scale-down rule (which claims a pool releases first), applied to the live claims (those not
//! already being deleted), deterministic for the same inputs:
//! 1. by readiness, least useful first: unbound claims, then claims whose host reports an error,
//!    then claims whose host is bound but not yet ready (still deploying), then ready claims;
//! 2. then newest first, by `creationTimestamp` (a claim without one counts as newest);
//! 3. then by name, ascending.
//!
//! Claims already being deleted count neither as existing nor as to-be-deleted: a pool scaled
//! 1 → 0 → 1 creates a new claim at once, which binds a host once one is `available` again.

/// One pool reconcile over `PoolObjects` (controller and engine).
pub mod flow;
pub mod summary;
pub mod validation;

use std::cmp::Ordering;
use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::ResourceExt;
use rand::RngExt;

use crate::api::hostpool::POOL_LABEL;
use crate::api::{HostClaim, HostPool};

pub use summary::{PoolEvent, events, summarize};
pub use validation::validate;

/// How a claim stands, for the scale-down order (lower is released first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Standing {
    Unbound,
    HostError,
    NotReady,
    Ready,
}

fn condition_is(claim: &HostClaim, type_: &str, status: &str) -> Option<String> {
    claim
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .map(|c| c.reason.clone())
}

/// The claim's standing, read from its status (written by the claim controller).
pub fn standing(claim: &HostClaim) -> Standing {
    let bound = claim
        .status
        .as_ref()
        .is_some_and(|s| s.bare_metal_host.is_some());
    if !bound {
        return Standing::Unbound;
    }
    if condition_is(claim, "Ready", "True").is_some() {
        return Standing::Ready;
    }
    if condition_is(claim, "Ready", "False").as_deref() == Some("HostError") {
        return Standing::HostError;
    }
    Standing::NotReady
}

/// The scale-down order of the module documentation: `Less` is released first.
pub fn release_order(a: &HostClaim, b: &HostClaim) -> Ordering {
    let newest_first = match (
        a.metadata.creation_timestamp.as_ref(),
        b.metadata.creation_timestamp.as_ref(),
    ) {
        (Some(x), Some(y)) => y.0.cmp(&x.0),
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    };
    standing(a)
        .cmp(&standing(b))
        .then(newest_first)
        .then_with(|| a.name_any().cmp(&b.name_any()))
}

/// True when `claim` belongs to `pool`: it carries the pool label and, when both uids are known,
/// a controller owner reference to this very pool (not an older pool of the same name).
pub fn belongs_to(pool: &HostPool, claim: &HostClaim) -> bool {
    if claim.namespace() != pool.namespace()
        || claim.labels().get(POOL_LABEL) != Some(&pool.name_any())
    {
        return false;
    }
    match pool.uid() {
        Some(uid) => claim
            .owner_references()
            .iter()
            .any(|o| o.kind == "HostPool" && o.uid == uid),
        None => true,
    }
}

/// What the pool controller must do now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Claims to create.
    pub create: usize,
    /// Names of the claims to delete, in release order.
    pub delete: Vec<String>,
}

/// Replicas versus the pool's live claims (see the module's scale-down rule).
pub fn plan<'a>(pool: &HostPool, claims: impl IntoIterator<Item = &'a HostClaim>) -> Plan {
    let want = usize::try_from(pool.spec.replicas.max(0)).unwrap_or(0);
    let mut live: Vec<&HostClaim> = claims
        .into_iter()
        .filter(|c| belongs_to(pool, c) && c.metadata.deletion_timestamp.is_none())
        .collect();
    if live.len() <= want {
        return Plan {
            create: want - live.len(),
            delete: Vec::new(),
        };
    }
    live.sort_by(|a, b| release_order(a, b));
    Plan {
        create: 0,
        delete: live
            .iter()
            .take(live.len() - want)
            .map(|c| c.name_any())
            .collect(),
    }
}

/// Characters of generated name suffixes (Kubernetes' own alphabet: no vowels, no look-alikes).
const SUFFIX_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// `<pool>-<5 characters>` drawn from `rng`.
pub fn claim_name<R: rand::Rng + ?Sized>(pool: &HostPool, rng: &mut R) -> String {
    let suffix: String = (0..5)
        .map(|_| char::from(SUFFIX_ALPHABET[rng.random_range(0..SUFFIX_ALPHABET.len())]))
        .collect();
    let base: String = pool.name_any().chars().take(57).collect();
    format!("{base}-{suffix}")
}

/// A new claim of `pool` named `name`: the template's spec, its labels plus the pool label, its
/// annotations, and a controller owner reference to the pool (so deleting the pool deletes its
/// claims, which then release their hosts).
pub fn claim_for(pool: &HostPool, name: String) -> HostClaim {
    let template = &pool.spec.template;
    let mut labels: BTreeMap<String, String> = template
        .metadata
        .as_ref()
        .map(|m| m.labels.clone())
        .unwrap_or_default();
    labels.insert(POOL_LABEL.to_owned(), pool.name_any());
    let annotations = template
        .metadata
        .as_ref()
        .map(|m| m.annotations.clone())
        .filter(|a| !a.is_empty());
    let owner = pool.uid().map(|uid| OwnerReference {
        api_version: "metal-operator.io/v1alpha1".to_owned(),
        kind: "HostPool".to_owned(),
        name: pool.name_any(),
        uid,
        controller: Some(true),
        block_owner_deletion: Some(true),
    });
    HostClaim {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: pool.namespace(),
            labels: Some(labels),
            annotations,
            owner_references: owner.map(|o| vec![o]),
            ..Default::default()
        },
        spec: template.spec.clone(),
        status: None,
    }
}
