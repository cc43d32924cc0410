//! The pool's status: counts of its claims and of the free hosts it could still take, and the
//! `HostsAvailable` / `Ready` conditions.
//!
//! `HostsAvailable` is `False` (reason `NotEnoughHosts`) when the pool wants more hosts than are
//! bound plus free and matching; it turns `True` again by itself when hosts become available, as
//! the unbound claims then bind them.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::ResourceExt;

use super::{Standing, belongs_to, standing};
use crate::api::hostpool::POOL_LABEL;
use crate::api::{BareMetalHost, HostClaim, HostPool, HostPoolStatus};
use crate::claim::choice::candidates;
use crate::claim::progress::to_time;
use crate::claim::{HostPolicy, Selector};

/// One Event to publish on the pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolEvent {
    pub warning: bool,
    pub reason: String,
    pub message: String,
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Free hosts that a claim made from the pool's template could take now.
fn free_hosts<'a>(
    pool: &HostPool,
    hosts: impl IntoIterator<Item = &'a BareMetalHost>,
    policy: &HostPolicy,
) -> usize {
    let Ok(selector) = Selector::compile(pool.spec.template.spec.host_selector.as_ref()) else {
        return 0;
    };
    let probe = super::claim_for(pool, pool.name_any());
    candidates(&probe, &selector, hosts, &BTreeSet::new(), policy).map_or(0, |c| c.len())
}

fn set(
    old: &[Condition],
    type_: &str,
    ok: bool,
    reason: &str,
    message: String,
    generation: Option<i64>,
    now: &Time,
) -> Condition {
    let status = if ok { "True" } else { "False" };
    let last_transition_time = match old.iter().find(|c| c.type_ == type_) {
        Some(p) if p.status == status => p.last_transition_time.clone(),
        _ => now.clone(),
    };
    Condition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: reason.to_owned(),
        message,
        observed_generation: generation,
        last_transition_time,
    }
}

/// The pool's status from its claims and the hosts. Conditions keep their transition time while
/// their status holds; the result equals the old status when nothing changed.
pub fn summarize<'c, 'h>(
    pool: &HostPool,
    claims: impl IntoIterator<Item = &'c HostClaim>,
    hosts: impl IntoIterator<Item = &'h BareMetalHost>,
    policy: &HostPolicy,
    now: DateTime<Utc>,
) -> HostPoolStatus {
    let old = pool.status.clone().unwrap_or_default();
    let live: Vec<&HostClaim> = claims
        .into_iter()
        .filter(|c| belongs_to(pool, c) && c.metadata.deletion_timestamp.is_none())
        .collect();
    let want = usize::try_from(pool.spec.replicas.max(0)).unwrap_or(0);
    let bound = live
        .iter()
        .filter(|c| standing(c) != Standing::Unbound)
        .count();
    let ready = live
        .iter()
        .filter(|c| standing(c) == Standing::Ready)
        .count();
    let mut claimed_hosts: Vec<String> = live
        .iter()
        .filter_map(|c| c.status.as_ref()?.bare_metal_host.as_ref())
        .map(|h| format!("{}/{}", h.namespace, h.name))
        .collect();
    claimed_hosts.sort();
    let free = free_hosts(pool, hosts, policy);
    let now = to_time(now);
    let generation = pool.metadata.generation;
    let short = want.saturating_sub(bound);
    let hosts_available = if short > free {
        set(
            &old.conditions,
            "HostsAvailable",
            false,
            "NotEnoughHosts",
            format!(
                "wants {want} host(s): {bound} bound and only {free} free host(s) match the template; \
                 waiting for hosts to become available"
            ),
            generation,
            &now,
        )
    } else {
        set(
            &old.conditions,
            "HostsAvailable",
            true,
            "EnoughHosts",
            format!("{bound} bound, {free} free host(s) match the template"),
            generation,
            &now,
        )
    };
    let all_ready = ready == want && live.len() == want;
    let ready_condition = set(
        &old.conditions,
        "Ready",
        all_ready,
        if all_ready { "AllReady" } else { "Scaling" },
        format!("{ready} of {want} claim(s) ready"),
        generation,
        &now,
    );
    HostPoolStatus {
        replicas: count(live.len()),
        bound_replicas: count(bound),
        ready_replicas: count(ready),
        available_hosts: count(free),
        claimed_hosts,
        selector: Some(format!("{POOL_LABEL}={}", pool.name_any())),
        observed_generation: generation,
        conditions: vec![hosts_available, ready_condition],
    }
}

/// Events for condition changes between two statuses: a shortage (Warning `NotEnoughHosts`),
/// its end (`HostsAvailable`), and the pool becoming fully ready (`PoolReady`).
pub fn events(old: &HostPoolStatus, new: &HostPoolStatus) -> Vec<PoolEvent> {
    let mut out = Vec::new();
    for c in &new.conditions {
        let before = old.conditions.iter().find(|o| o.type_ == c.type_);
        if before.is_some_and(|b| b.status == c.status && b.reason == c.reason) {
            continue;
        }
        let event = match (c.type_.as_str(), c.status.as_str()) {
            ("HostsAvailable", "False") => Some((true, "NotEnoughHosts")),
            ("HostsAvailable", "True") if before.is_some() => Some((false, "HostsAvailable")),
            ("Ready", "True") => Some((false, "PoolReady")),
            _ => None,
        };
        if let Some((warning, reason)) = event {
            out.push(PoolEvent {
                warning,
                reason: reason.to_owned(),
                message: c.message.clone(),
            });
        }
    }
    out
}
