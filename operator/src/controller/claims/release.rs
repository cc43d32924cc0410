//! The release of a deleted claim's host, one step per reconcile, then the finalizer.

use kube::ResourceExt;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use serde_json::json;
use tracing::{debug, info};

use super::reconcile::write_status;
use super::{ClaimContext, ClaimError, Written, is_conflict, is_not_found};
use crate::api::annotations::HOSTCLAIM_FINALIZER;
use crate::api::{BareMetalHost, HostClaim, ProvisioningState};
use crate::claim::progress::{HostView, Observation};
use crate::claim::{self, ClaimRef, ReleaseStep, host_key};

/// One round of the release sequence; finishes by dropping the finalizer.
pub(super) async fn release(
    ctx: &ClaimContext,
    claim: &HostClaim,
    me: &ClaimRef,
    mut host: Option<BareMetalHost>,
) -> Result<Action, ClaimError> {
    for _ in 0..3 {
        match claim::release_step(me, host.as_ref()) {
            ReleaseStep::ClearDeployment(patch) | ReleaseStep::ClearConsumer(patch) => {
                let Some(current) = host.as_ref() else { break };
                match ctx.patch_host(current, &patch, "release").await? {
                    Written::Done(h) => host = Some(*h),
                    Written::Conflict => return Ok(Action::requeue(ctx.settings.conflict_retry)),
                }
            }
            ReleaseStep::Wait { state } => {
                debug!(claim = %me.key(), state = state.as_str(), "waiting for the host to come back");
                break;
            }
            ReleaseStep::Done => {
                if let Some(h) = host.as_ref().filter(|h| me.is_consumer_of(h)).map(host_key) {
                    // Only a host that is gone or being deleted ends here still consumed.
                    debug!(claim = %me.key(), host = %h, "host goes away with its claim");
                }
                return drop_finalizer(ctx, claim, me).await;
            }
        }
    }
    let view = match host.as_ref() {
        Some(h) => HostView::Bound(h),
        None => HostView::Released,
    };
    let observation = Observation {
        problems: &[],
        missing_secrets: &[],
        host: view,
        blocked: &[],
        releasing: true,
    };
    write_status(ctx, claim, &observation).await?;
    let waiting_state = host
        .as_ref()
        .and_then(|h| h.status.as_ref())
        .map(|s| s.provisioning.state)
        .unwrap_or_default();
    // Host changes wake the claim; the timer is only a safety net.
    let safety = if waiting_state == ProvisioningState::Deprovisioning {
        ctx.settings.retry
    } else {
        ctx.settings.retry * 2
    };
    Ok(Action::requeue(safety))
}

async fn drop_finalizer(
    ctx: &ClaimContext,
    claim: &HostClaim,
    me: &ClaimRef,
) -> Result<Action, ClaimError> {
    {
        let mut reservations = ctx.binding.lock().await;
        reservations.retain(|_, r| r.claim != me.key());
    }
    if let Ok(mut m) = ctx.written.lock() {
        m.remove(&me.key());
    }
    if !claim.finalizers().iter().any(|f| f == HOSTCLAIM_FINALIZER) {
        return Ok(Action::await_change());
    }
    let finalizers: Vec<String> = claim
        .finalizers()
        .iter()
        .filter(|f| *f != HOSTCLAIM_FINALIZER)
        .cloned()
        .collect();
    let patch = json!({"metadata": {
        "finalizers": finalizers,
        "resourceVersion": claim.metadata.resource_version,
    }});
    match ctx
        .claim_api(&me.namespace)
        .patch(&me.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => {
            info!(claim = %me.key(), "host released, finalizer removed");
            Ok(Action::await_change())
        }
        Err(e) if is_not_found(&e) => Ok(Action::await_change()),
        Err(e) if is_conflict(&e) => Ok(Action::requeue(ctx.settings.conflict_retry)),
        Err(source) => Err(ClaimError::WriteClaim {
            namespace: me.namespace.clone(),
            name: me.name.clone(),
            what: "finalizers",
            source,
        }),
    }
}
