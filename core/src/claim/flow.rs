//! One reconcile of one HostClaim, written once: find the bound host; for a deleted claim, run the
//! release sequence (up to three steps) and then drop the finalizer; otherwise put the finalizer
//! on, validate, check the data Secrets, keep the bound host in line or bind one, and write the
//! status with its Events.
//!
//! The controller (`metal_operator::controller::claims`) runs it against the API server and its
//! host cache; the simulator's engine against its in-memory objects. Where the objects live, how a
//! host is found and bound (the controller serialises binds with an in-flight set and a
//! `resourceVersion` precondition), and how Events are published come in through [`ClaimObjects`].

use std::time::Duration;

use serde_json::Value;

use crate::api::annotations::HOSTCLAIM_FINALIZER;
use crate::api::{BareMetalHost, HostClaim, HostClaimStatus, ProvisioningState};

use super::deployment::DeployFields;
use super::progress::{Binding, ClaimEvent, ClaimObservation, MissingSecret};
use super::{ClaimRef, NoHost, ReleaseStep};

/// Release steps carried out in one reconcile of a deleted claim.
pub const RELEASE_ROUNDS: usize = 3;

/// A write that carries a `resourceVersion` precondition.
#[derive(Debug)]
pub enum Written<T> {
    Done(T),
    /// The object changed since it was read: read again and retry.
    Conflict,
}

/// What binding a host gave.
#[derive(Debug)]
pub enum Bind {
    Bound(Box<BareMetalHost>),
    /// No host is eligible; why.
    NoHost(NoHost),
    /// The chosen host changed while binding: retry.
    Conflict,
}

/// When to look at the claim again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// When the claim or a host it cares about changes.
    AwaitChange,
    /// After this long (waiting for a host, or after a conflict), or sooner on a change.
    After(Duration),
}

/// How long to wait, per reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimTiming {
    /// No host yet, or missing Secrets: look again after this.
    pub retry: Duration,
    /// A write met a newer version: look again after this.
    pub conflict_retry: Duration,
}

/// Where claims and hosts live, for [`reconcile`].
#[async_trait::async_trait]
pub trait ClaimObjects: Send {
    type Error: Send;
    /// False when this replica must not write (it lost the lease).
    fn may_act(&self) -> bool {
        true
    }
    /// The host bound to the claim, if any.
    async fn bound_host(
        &mut self,
        me: &ClaimRef,
        claim: &HostClaim,
    ) -> Result<Option<BareMetalHost>, Self::Error>;
    /// True when Secret `namespace/name` exists.
    async fn secret_exists(&mut self, namespace: &str, name: &str) -> Result<bool, Self::Error>;
    /// Merge-patches the host (the patch may carry a `resourceVersion` precondition).
    async fn patch_host(
        &mut self,
        host: &BareMetalHost,
        patch: &Value,
        what: &'static str,
    ) -> Result<Written<BareMetalHost>, Self::Error>;
    /// Chooses an eligible host for the claim and binds it (`claim::choose`, `claim::bind_patch`).
    async fn bind(&mut self, me: &ClaimRef, claim: &HostClaim) -> Result<Bind, Self::Error>;
    /// Writes the claim's finalizer list (with the claim's `resourceVersion` as precondition).
    async fn write_finalizers(
        &mut self,
        claim: &HostClaim,
        finalizers: Vec<String>,
    ) -> Result<Written<()>, Self::Error>;
    /// The claim's status as last written by us (or as read).
    fn last_status(&self, claim: &HostClaim) -> HostClaimStatus {
        claim.status.clone().unwrap_or_default()
    }
    /// The time written into the status.
    fn now(&self) -> chrono::DateTime<chrono::Utc>;
    /// Stores a changed status.
    async fn write_status(
        &mut self,
        claim: &HostClaim,
        status: &HostClaimStatus,
    ) -> Result<(), Self::Error>;
    /// Publishes the Events a status change deserves.
    async fn publish(&mut self, claim: &HostClaim, events: Vec<ClaimEvent>);
    /// The claim let its host go and its finalizer is being dropped: forget what is kept for it.
    async fn forget(&mut self, _me: &ClaimRef) {}
}

/// One reconcile of `claim`.
pub async fn reconcile<W: ClaimObjects>(
    world: &mut W,
    claim: &HostClaim,
    timing: ClaimTiming,
) -> Result<Next, W::Error> {
    if !world.may_act() {
        return Ok(Next::After(timing.conflict_retry));
    }
    let me = ClaimRef::of(claim);
    let bound = world.bound_host(&me, claim).await?;
    if claim.metadata.deletion_timestamp.is_some() {
        return release(world, claim, &me, bound, timing).await;
    }
    let finalizers = claim.metadata.finalizers.clone().unwrap_or_default();
    if !finalizers.iter().any(|f| f == HOSTCLAIM_FINALIZER) {
        let mut finalizers = finalizers;
        finalizers.push(HOSTCLAIM_FINALIZER.to_owned());
        // The write comes back as a change and reconciles the claim again.
        return Ok(match world.write_finalizers(claim, finalizers).await? {
            Written::Done(()) => Next::AwaitChange,
            Written::Conflict => Next::After(timing.conflict_retry),
        });
    }
    let problems = super::validate(claim);
    // Secrets are checked before they are first written to a host (binding, or an edit of a host
    // that has not started deploying); afterwards the host reports a missing Secret itself.
    let writes_deployment = match &bound {
        None => true,
        Some(host) => super::sync(claim, host).patch.is_some_and(|p| {
            p["spec"]
                .as_object()
                .is_some_and(|fields| fields.keys().any(|k| k != "online"))
        }),
    };
    let mut missing = Vec::new();
    if problems.is_empty() && writes_deployment {
        for (field, namespace, name) in DeployFields::of_claim(claim).secrets() {
            if !world.secret_exists(&namespace, &name).await? {
                missing.push(MissingSecret { field, name });
            }
        }
    }
    let usable = problems.is_empty() && missing.is_empty();
    let mut next = Next::AwaitChange;
    let mut no_host = NoHost::default();
    let mut blocked = Vec::new();
    let host: Option<BareMetalHost> = match bound {
        Some(host) => {
            let sync = super::sync(claim, &host);
            blocked = sync.blocked;
            match sync.patch {
                Some(patch) if usable => {
                    match world.patch_host(&host, &patch, "deployment").await? {
                        Written::Done(h) => Some(h),
                        Written::Conflict => return Ok(Next::After(timing.conflict_retry)),
                    }
                }
                _ => Some(host),
            }
        }
        None if usable => match world.bind(&me, claim).await? {
            Bind::Bound(h) => Some(*h),
            Bind::NoHost(none) => {
                no_host = none;
                next = Next::After(timing.retry);
                None
            }
            Bind::Conflict => return Ok(Next::After(timing.conflict_retry)),
        },
        None => {
            if !missing.is_empty() {
                next = Next::After(timing.retry);
            }
            None
        }
    };
    let view = match (&host, usable) {
        (Some(h), _) => Binding::Bound(h),
        (None, true) => Binding::NoHost(&no_host),
        (None, false) => Binding::NotTried,
    };
    let observation = ClaimObservation {
        problems: &problems,
        missing_secrets: &missing,
        host: view,
        blocked: &blocked,
        releasing: false,
    };
    write_status(world, claim, &observation).await?;
    Ok(next)
}

/// The release of a deleted claim's host, up to [`RELEASE_ROUNDS`] steps, then the finalizer.
async fn release<W: ClaimObjects>(
    world: &mut W,
    claim: &HostClaim,
    me: &ClaimRef,
    mut host: Option<BareMetalHost>,
    timing: ClaimTiming,
) -> Result<Next, W::Error> {
    for _ in 0..RELEASE_ROUNDS {
        match super::release_step(me, host.as_ref()) {
            ReleaseStep::ClearDeployment(patch) | ReleaseStep::ClearConsumer(patch) => {
                let Some(current) = host.as_ref() else { break };
                match world.patch_host(current, &patch, "release").await? {
                    Written::Done(h) => host = Some(h),
                    Written::Conflict => return Ok(Next::After(timing.conflict_retry)),
                }
            }
            ReleaseStep::Wait { state } => {
                tracing::debug!(claim = %me.key(), state = state.as_str(), "waiting for the host to come back");
                break;
            }
            ReleaseStep::Done => return drop_finalizer(world, claim, me, timing).await,
        }
    }
    let view = match host.as_ref() {
        Some(h) => Binding::Bound(h),
        None => Binding::Released,
    };
    let observation = ClaimObservation {
        problems: &[],
        missing_secrets: &[],
        host: view,
        blocked: &[],
        releasing: true,
    };
    write_status(world, claim, &observation).await?;
    let waiting_state = host
        .as_ref()
        .and_then(|h| h.status.as_ref())
        .map(|s| s.provisioning.state)
        .unwrap_or_default();
    // Host changes wake the claim; the timer is only a safety net.
    Ok(Next::After(
        if waiting_state == ProvisioningState::Deprovisioning {
            timing.retry
        } else {
            timing.retry * 2
        },
    ))
}

async fn drop_finalizer<W: ClaimObjects>(
    world: &mut W,
    claim: &HostClaim,
    me: &ClaimRef,
    timing: ClaimTiming,
) -> Result<Next, W::Error> {
    world.forget(me).await;
    let finalizers = claim.metadata.finalizers.clone().unwrap_or_default();
    if !finalizers.iter().any(|f| f == HOSTCLAIM_FINALIZER) {
        return Ok(Next::AwaitChange);
    }
    let rest = finalizers
        .into_iter()
        .filter(|f| f != HOSTCLAIM_FINALIZER)
        .collect();
    Ok(match world.write_finalizers(claim, rest).await? {
        Written::Done(()) => {
            tracing::info!(claim = %me.key(), "host released, finalizer removed");
            Next::AwaitChange
        }
        Written::Conflict => Next::After(timing.conflict_retry),
    })
}

/// Computes the claim's status from what was observed; stores it and publishes its Events when it
/// changed.
async fn write_status<W: ClaimObjects>(
    world: &mut W,
    claim: &HostClaim,
    observation: &ClaimObservation<'_>,
) -> Result<(), W::Error> {
    let old = world.last_status(claim);
    let mut view = claim.clone();
    view.status = Some(old.clone());
    let new = super::status(&view, observation, world.now());
    if new == old {
        return Ok(());
    }
    world.write_status(claim, &new).await?;
    world.publish(claim, super::events(&old, &new)).await;
    Ok(())
}
