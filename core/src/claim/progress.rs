//! The claim's status, mirrored from what the controller observed, and the Events its changes
//! deserve.
//!
//! Conditions (each always present once the claim was reconciled):
//! * `Valid`: the spec can be acted on (`False`: a [`Problem`] reason, or `<Field>SecretMissing`);
//! * `Bound`: a host's `consumerRef` names the claim (`False`: `NoMatchingHost`,
//!   `NoHostAvailable`, `InvalidSpec`, `Released`);
//! * `Synced`: the host carries the claim's deployment (`False`: `ChangedWhileProvisioning`,
//!   `NotBound`);
//! * `Ready`: the host is provisioned (or, for a claim that deploys nothing, available) and has
//!   no error (`False`: `NotBound`, `Provisioning`, `HostError`, `Releasing`).

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::ResourceExt;

use super::choice::NoHost;
use super::deployment::{DeployFields, Problem};
use crate::api::hostclaim::NamespacedName;
use crate::api::{BareMetalHost, HostClaim, HostClaimStatus, ProvisioningState};

/// The reasons of the `Bound` condition: every value the claim controller writes.
pub mod bound_reason {
    /// A host's consumerRef names the claim.
    pub const HOST_BOUND: &str = "HostBound";
    /// No host in the allowed namespace matches the selector.
    pub const NO_MATCHING_HOST: &str = "NoMatchingHost";
    /// Hosts match the selector but none is free (the message says why each was passed over).
    pub const NO_HOST_AVAILABLE: &str = "NoHostAvailable";
    /// No host is looked for until the spec is valid.
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// The claim is deleted and its host was given back.
    pub const RELEASED: &str = "Released";
    /// All of them.
    pub const ALL: [&str; 5] = [
        HOST_BOUND,
        NO_MATCHING_HOST,
        NO_HOST_AVAILABLE,
        INVALID_SPEC,
        RELEASED,
    ];
}

/// A data Secret the claim names that does not exist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingSecret {
    /// `userData`, `networkData` or `metaData`.
    pub field: &'static str,
    pub name: String,
}

impl MissingSecret {
    fn reason(&self) -> &'static str {
        match self.field {
            "userData" => "UserDataSecretMissing",
            "networkData" => "NetworkDataSecretMissing",
            _ => "MetaDataSecretMissing",
        }
    }
}

/// Where the claim stands with respect to hosts.
#[derive(Clone, Copy, Debug)]
pub enum Binding<'a> {
    /// A host's consumerRef names the claim.
    Bound(&'a BareMetalHost),
    /// No host was chosen, and why.
    NoHost(&'a NoHost),
    /// No host was looked for (the spec is invalid or a Secret is missing).
    NotTried,
    /// The claim is deleted and its host has been given back.
    Released,
}

/// What the controller observed for one claim.
#[derive(Clone, Copy, Debug)]
pub struct ClaimObservation<'a> {
    pub problems: &'a [Problem],
    pub missing_secrets: &'a [MissingSecret],
    pub host: Binding<'a>,
    /// Deployment fields changed after the host started deploying.
    pub blocked: &'a [&'static str],
    /// The claim is being deleted.
    pub releasing: bool,
}

/// One Event to publish on the claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimEvent {
    pub warning: bool,
    pub reason: String,
    pub message: String,
}

struct Verdict {
    type_: &'static str,
    ok: bool,
    reason: String,
    message: String,
}

fn verdict(type_: &'static str, ok: bool, reason: &str, message: impl Into<String>) -> Verdict {
    Verdict {
        type_,
        ok,
        reason: reason.to_owned(),
        message: message.into(),
    }
}

fn host_name(host: &BareMetalHost) -> String {
    format!(
        "{}/{}",
        host.namespace().unwrap_or_default(),
        host.name_any()
    )
}

fn valid(obs: &ClaimObservation<'_>) -> Verdict {
    if let Some(first) = obs.problems.first() {
        let message: Vec<String> = obs.problems.iter().map(Problem::message).collect();
        return verdict("Valid", false, first.reason(), message.join("; "));
    }
    if let Some(first) = obs.missing_secrets.first() {
        let message: Vec<String> = obs
            .missing_secrets
            .iter()
            .map(|m| format!("{} Secret {:?} does not exist", m.field, m.name))
            .collect();
        return verdict("Valid", false, first.reason(), message.join("; "));
    }
    verdict("Valid", true, "Valid", "")
}

fn bound(obs: &ClaimObservation<'_>) -> Verdict {
    match obs.host {
        Binding::Bound(h) => verdict(
            "Bound",
            true,
            bound_reason::HOST_BOUND,
            format!("bound to {}", host_name(h)),
        ),
        Binding::NoHost(none) if none.matching == 0 => verdict(
            "Bound",
            false,
            bound_reason::NO_MATCHING_HOST,
            none.to_string(),
        ),
        Binding::NoHost(none) => verdict(
            "Bound",
            false,
            bound_reason::NO_HOST_AVAILABLE,
            none.to_string(),
        ),
        Binding::NotTried => verdict(
            "Bound",
            false,
            bound_reason::INVALID_SPEC,
            "no host is chosen until the spec is valid",
        ),
        Binding::Released => verdict(
            "Bound",
            false,
            bound_reason::RELEASED,
            "the host was given back",
        ),
    }
}

fn synced(obs: &ClaimObservation<'_>) -> Verdict {
    match obs.host {
        Binding::Bound(h) if !obs.blocked.is_empty() => verdict(
            "Synced",
            false,
            "ChangedWhileProvisioning",
            format!(
                "{} changed after host {} started deploying; the host keeps its deployment \
                 (delete and recreate the claim to redeploy)",
                obs.blocked.join(", "),
                host_name(h)
            ),
        ),
        Binding::Bound(_) => verdict("Synced", true, "Synced", ""),
        _ => verdict("Synced", false, "NotBound", "no host is bound"),
    }
}

fn ready(claim: &HostClaim, obs: &ClaimObservation<'_>) -> Verdict {
    let Binding::Bound(host) = obs.host else {
        let reason = if obs.releasing {
            "Released"
        } else {
            "NotBound"
        };
        return verdict("Ready", false, reason, "no host is bound");
    };
    let status = host.status.clone().unwrap_or_default();
    let state = status.provisioning.state;
    if obs.releasing {
        return verdict(
            "Ready",
            false,
            "Releasing",
            format!("giving host {} back (it is {state})", host_name(host)),
        );
    }
    if !status.error_message.is_empty() {
        let kind = status.error_type.map(|t| t.as_str()).unwrap_or("error");
        return verdict(
            "Ready",
            false,
            "HostError",
            format!(
                "host {} reports {kind}: {}",
                host_name(host),
                status.error_message
            ),
        );
    }
    let done = if DeployFields::of_claim(claim).deploys() {
        state == ProvisioningState::Provisioned
    } else {
        matches!(
            state,
            ProvisioningState::Available
                | ProvisioningState::Ready
                | ProvisioningState::Provisioned
        )
    };
    if done {
        verdict(
            "Ready",
            true,
            "HostReady",
            format!("host {} is {state}", host_name(host)),
        )
    } else {
        verdict(
            "Ready",
            false,
            "Provisioning",
            format!("host {} is {}", host_name(host), display_state(state)),
        )
    }
}

/// Kubernetes times carry whole seconds on the wire; keep them so, so a status read back compares
/// equal to the one computed.
pub fn to_time(now: DateTime<Utc>) -> Time {
    Time(
        k8s_openapi::jiff::Timestamp::from_second(now.timestamp())
            .unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
    )
}

fn display_state(state: ProvisioningState) -> &'static str {
    if state == ProvisioningState::None {
        "not yet registered"
    } else {
        state.as_str()
    }
}

fn condition(old: &[Condition], v: Verdict, generation: Option<i64>, now: &Time) -> Condition {
    let status = if v.ok { "True" } else { "False" };
    let previous = old.iter().find(|c| c.type_ == v.type_);
    let last_transition_time = match previous {
        Some(p) if p.status == status => p.last_transition_time.clone(),
        _ => now.clone(),
    };
    Condition {
        type_: v.type_.to_owned(),
        status: status.to_owned(),
        reason: v.reason,
        message: v.message,
        observed_generation: generation,
        last_transition_time,
    }
}

/// The claim's new status. `lastUpdated` moves to `now` only when something else changed, so
/// writing an unchanged status is a no-op.
pub fn status(
    claim: &HostClaim,
    obs: &ClaimObservation<'_>,
    now: DateTime<Utc>,
) -> HostClaimStatus {
    let old = claim.status.clone().unwrap_or_default();
    let now = to_time(now);
    let generation = claim.metadata.generation;
    let verdicts = [valid(obs), bound(obs), synced(obs), ready(claim, obs)];
    let conditions = verdicts
        .into_iter()
        .map(|v| condition(&old.conditions, v, generation, &now))
        .collect();
    let host = match obs.host {
        Binding::Bound(h) => Some(h),
        _ => None,
    };
    let reference = host.map(|h| NamespacedName {
        name: h.name_any(),
        namespace: h.namespace().unwrap_or_default(),
    });
    let mut next = HostClaimStatus {
        bare_metal_host: reference.clone(),
        conditions,
        hardware_data: reference,
        last_updated: old.last_updated.clone(),
        powered_on: host.map(|h| h.status.as_ref().is_some_and(|s| s.powered_on)),
    };
    if next != old {
        next.last_updated = Some(now);
    }
    next
}

/// Events for the conditions whose status or reason changed between `old` and `new`.
pub fn events(old: &HostClaimStatus, new: &HostClaimStatus) -> Vec<ClaimEvent> {
    let mut out = Vec::new();
    for c in &new.conditions {
        let before = old.conditions.iter().find(|o| o.type_ == c.type_);
        if before.is_some_and(|b| b.status == c.status && b.reason == c.reason) {
            continue;
        }
        let ok = c.status == "True";
        let event = match (c.type_.as_str(), ok) {
            ("Valid", true) => before.map(|_| (false, "SpecValid")),
            ("Valid", false) => Some((true, c.reason.as_str())),
            ("Bound", true) => Some((false, "HostBound")),
            ("Bound", false) if c.reason == "Released" => Some((false, "HostReleased")),
            ("Bound", false) if c.reason != "InvalidSpec" => Some((true, c.reason.as_str())),
            ("Synced", false) if c.reason == "ChangedWhileProvisioning" => {
                Some((true, "ChangedWhileProvisioning"))
            }
            ("Ready", true) => Some((false, "HostReady")),
            ("Ready", false) if c.reason == "HostError" => Some((true, "HostError")),
            ("Ready", false) if c.reason == "Releasing" => Some((false, "Releasing")),
            _ => None,
        };
        if let Some((warning, reason)) = event {
            out.push(ClaimEvent {
                warning,
                reason: reason.to_owned(),
                message: if c.message.is_empty() {
                    format!("{} is {}", c.type_, c.status)
                } else {
                    c.message.clone()
                },
            });
        }
    }
    out
}
