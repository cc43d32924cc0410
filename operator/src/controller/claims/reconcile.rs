//! One reconcile of one claim: find or bind its host, keep the host in line, write status (a
//! deleted claim goes to [`super::release`]).

use std::collections::{BTreeSet, HashMap};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::{Api, Resource, ResourceExt};
use serde_json::{Value, json};
use tracing::{debug, info, warn};

use super::{ClaimContext, ClaimError, Reservation, Written, is_conflict};
use crate::api::annotations::HOSTCLAIM_FINALIZER;
use crate::api::{BareMetalHost, HostClaim};
use crate::claim::deployment::Deployment;
use crate::claim::progress::{HostView, MissingSecret, Observation};
use crate::claim::{self, ClaimRef, Selector, host_key};

/// The host bound to the claim: the host just reserved for it (read fresh), else the one the cache
/// shows with its consumerRef, else the one its status names (read fresh; the consumerRef wins).
async fn find_bound(
    ctx: &ClaimContext,
    me: &ClaimRef,
    claim: &HostClaim,
) -> Result<Option<BareMetalHost>, ClaimError> {
    let reserved: Option<String> = ctx
        .binding
        .lock()
        .await
        .iter()
        .find(|(_, r)| r.claim == me.key())
        .map(|(h, _)| h.clone());
    let cached = ctx.hosts.state();
    let mut guesses: Vec<(String, String)> = Vec::new();
    if let Some((ns, name)) = reserved.as_deref().and_then(|k| k.split_once('/')) {
        guesses.push((ns.to_owned(), name.to_owned()));
    } else if let Some(h) = claim::bound_host(me, cached.iter().map(AsRef::as_ref)) {
        // The cache caught up with the binding: use it (every host write carries its
        // resourceVersion, so a stale copy costs a conflict and a retry, never a wrong write).
        return Ok(Some(h.clone()));
    }
    if let Some(h) = claim
        .status
        .as_ref()
        .and_then(|s| s.bare_metal_host.as_ref())
    {
        guesses.push((h.namespace.clone(), h.name.clone()));
    }
    drop(cached);
    let mut seen = BTreeSet::new();
    for (ns, name) in guesses {
        if !seen.insert((ns.clone(), name.clone())) {
            continue;
        }
        if let Some(host) = ctx.get_host(&ns, &name).await?
            && me.is_consumer_of(&host)
        {
            return Ok(Some(host));
        }
    }
    Ok(None)
}

/// The data Secrets the claim names that do not exist.
async fn missing_secrets(
    ctx: &ClaimContext,
    claim: &HostClaim,
) -> Result<Vec<MissingSecret>, ClaimError> {
    let mut missing = Vec::new();
    for (field, namespace, name) in Deployment::of_claim(claim).secrets() {
        let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
        match api.get_opt(&name).await {
            Ok(Some(_)) => {}
            Ok(None) => missing.push(MissingSecret { field, name }),
            Err(source) => {
                return Err(ClaimError::ReadSecret {
                    namespace,
                    name,
                    source,
                });
            }
        }
    }
    Ok(missing)
}

enum Bind {
    Bound(Box<BareMetalHost>),
    NoHost(claim::NoHost),
    Conflict,
}

/// Chooses and binds a host under the binding lock.
async fn bind(ctx: &ClaimContext, me: &ClaimRef, claim: &HostClaim) -> Result<Bind, ClaimError> {
    let mut reservations = ctx.binding.lock().await;
    let cached = ctx.hosts.state();
    let versions: HashMap<String, Option<String>> = cached
        .iter()
        .map(|h| (host_key(h), h.metadata.resource_version.clone()))
        .collect();
    reservations.retain(|key, r| {
        versions
            .get(key)
            .is_some_and(|v| v.as_deref() == Some(r.base_version.as_str()))
    });
    let reserved: BTreeSet<String> = reservations.keys().cloned().collect();
    let selector = match Selector::compile(claim.spec.host_selector.as_ref()) {
        Ok(s) => s,
        // validate() runs first; an invalid selector never gets here.
        Err(_) => return Ok(Bind::NoHost(claim::NoHost::default())),
    };
    let chosen = {
        let Ok(mut rng) = ctx.rng.lock() else {
            return Ok(Bind::Conflict);
        };
        claim::choose(
            claim,
            &selector,
            cached.iter().map(AsRef::as_ref),
            &reserved,
            &ctx.settings.policy,
            &mut *rng,
        )
        .cloned()
    };
    drop(cached);
    let host = match chosen {
        Ok(h) => h,
        Err(none) => return Ok(Bind::NoHost(none)),
    };
    let patch = claim::bind_patch(me, claim, &host);
    match ctx.patch_host(&host, &patch, "consumerRef").await? {
        Written::Done(bound) => {
            reservations.insert(
                host_key(&host),
                Reservation {
                    claim: me.key(),
                    base_version: host.metadata.resource_version.clone().unwrap_or_default(),
                },
            );
            info!(claim = %me.key(), host = %host_key(&host), "host bound");
            Ok(Bind::Bound(bound))
        }
        Written::Conflict => {
            debug!(claim = %me.key(), host = %host_key(&host), "host changed while binding, retrying");
            Ok(Bind::Conflict)
        }
    }
}

/// The reconciler handed to kube-runtime. A panic inside is contained to this claim.
pub async fn reconcile(
    claim: Arc<HostClaim>,
    ctx: Arc<ClaimContext>,
) -> Result<Action, ClaimError> {
    let key = ClaimRef::of(&claim).key();
    match AssertUnwindSafe(reconcile_claim(&claim, &ctx))
        .catch_unwind()
        .await
    {
        Ok(Ok(action)) => {
            if let Ok(mut m) = ctx.failures.lock() {
                m.remove(&key);
            }
            Ok(action)
        }
        Ok(Err(e)) => Err(e),
        Err(_) => Err(ClaimError::Panicked { claim: key }),
    }
}

/// kube-runtime's error policy: per-claim exponential backoff (1 s doubling up to 5 min).
pub fn error_policy(claim: Arc<HostClaim>, error: &ClaimError, ctx: Arc<ClaimContext>) -> Action {
    let key = ClaimRef::of(&claim).key();
    let failures = ctx.failures.lock().map_or(1, |mut m| {
        let n = m.entry(key.clone()).or_insert(0);
        *n = n.saturating_add(1);
        *n
    });
    let delay = crate::controller::reconcile::backoff(failures);
    warn!(claim = %key, error = %error, cause = ?std::error::Error::source(error).map(ToString::to_string), failures, "claim reconcile failed");
    Action::requeue(delay)
}

async fn reconcile_claim(claim: &HostClaim, ctx: &ClaimContext) -> Result<Action, ClaimError> {
    if !ctx.leadership.is_leader() {
        return Ok(Action::requeue(ctx.settings.conflict_retry));
    }
    let me = ClaimRef::of(claim);
    let bound = find_bound(ctx, &me, claim).await?;
    if claim.metadata.deletion_timestamp.is_some() {
        return super::release::release(ctx, claim, &me, bound).await;
    }
    if !claim.finalizers().iter().any(|f| f == HOSTCLAIM_FINALIZER) {
        let mut finalizers = claim.finalizers().to_vec();
        finalizers.push(HOSTCLAIM_FINALIZER.to_owned());
        let patch = json!({"metadata": {
            "finalizers": finalizers,
            "resourceVersion": claim.metadata.resource_version,
        }});
        return match ctx
            .claim_api(&me.namespace)
            .patch(&me.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            // The write comes back through the watch and reconciles the claim again.
            Ok(_) => Ok(Action::await_change()),
            Err(e) if is_conflict(&e) => Ok(Action::requeue(ctx.settings.conflict_retry)),
            Err(source) => Err(ClaimError::WriteClaim {
                namespace: me.namespace.clone(),
                name: me.name.clone(),
                what: "finalizers",
                source,
            }),
        };
    }
    let problems = claim::validate(claim);
    // Secrets are checked before they are first written to a host (binding, or an edit of a host
    // that has not started deploying); afterwards the host reports a missing Secret itself.
    let writes_deployment = match &bound {
        None => true,
        Some(host) => claim::sync(claim, host).patch.is_some_and(|p| {
            p["spec"]
                .as_object()
                .is_some_and(|fields| fields.keys().any(|k| k != "online"))
        }),
    };
    let missing = if problems.is_empty() && writes_deployment {
        missing_secrets(ctx, claim).await?
    } else {
        Vec::new()
    };
    let usable = problems.is_empty() && missing.is_empty();
    let mut requeue = None;
    let mut no_host = claim::NoHost::default();
    let mut blocked = Vec::new();
    let host: Option<BareMetalHost> = match bound {
        Some(host) => {
            let sync = claim::sync(claim, &host);
            blocked = sync.blocked;
            match sync.patch {
                Some(patch) if usable => match ctx.patch_host(&host, &patch, "deployment").await? {
                    Written::Done(h) => Some(*h),
                    Written::Conflict => return Ok(Action::requeue(ctx.settings.conflict_retry)),
                },
                _ => Some(host),
            }
        }
        None if usable => match bind(ctx, &me, claim).await? {
            Bind::Bound(h) => Some(*h),
            Bind::NoHost(none) => {
                no_host = none;
                requeue = Some(ctx.settings.retry);
                None
            }
            Bind::Conflict => return Ok(Action::requeue(ctx.settings.conflict_retry)),
        },
        None => {
            if !missing.is_empty() {
                requeue = Some(ctx.settings.retry);
            }
            None
        }
    };
    let view = match (&host, usable) {
        (Some(h), _) => HostView::Bound(h),
        (None, true) => HostView::NoHost(&no_host),
        (None, false) => HostView::NotTried,
    };
    let observation = Observation {
        problems: &problems,
        missing_secrets: &missing,
        host: view,
        blocked: &blocked,
        releasing: false,
    };
    write_status(ctx, claim, &observation).await?;
    Ok(requeue.map_or_else(Action::await_change, Action::requeue))
}

/// Writes the claim's status when it changed and publishes the Events the change deserves.
pub(super) async fn write_status(
    ctx: &ClaimContext,
    claim: &HostClaim,
    observation: &Observation<'_>,
) -> Result<(), ClaimError> {
    let me = ClaimRef::of(claim);
    let known = ctx
        .written
        .lock()
        .ok()
        .and_then(|m| m.get(&me.key()).cloned());
    let old = known.unwrap_or_else(|| claim.status.clone().unwrap_or_default());
    let mut view = claim.clone();
    view.status = Some(old.clone());
    let new = claim::status(&view, observation, ctx.clock.now());
    if new == old {
        return Ok(());
    }
    let Ok(Value::Object(mut fields)) = serde_json::to_value(&new) else {
        return Ok(());
    };
    // Every top-level field is written; absent ones as null, so cleared fields really go.
    for key in [
        "bareMetalHost",
        "conditions",
        "hardwareData",
        "lastUpdated",
        "poweredOn",
    ] {
        fields.entry(key).or_insert(Value::Null);
    }
    let patch = json!({"status": Value::Object(fields)});
    ctx.claim_api(&me.namespace)
        .patch_status(&me.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|source| ClaimError::WriteClaim {
            namespace: me.namespace.clone(),
            name: me.name.clone(),
            what: "status",
            source,
        })?;
    if let Ok(mut m) = ctx.written.lock() {
        m.insert(me.key(), new.clone());
    }
    let reference = claim.object_ref(&());
    for ev in claim::events(&old, &new) {
        let event = Event {
            type_: if ev.warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: ev.reason.clone(),
            note: Some(ev.message),
            action: ev.reason.clone(),
            secondary: None,
        };
        if let Err(error) = ctx.recorder.publish(&event, &reference).await {
            warn!(claim = %me.key(), reason = %ev.reason, error = %error, "publishing event failed");
        }
    }
    Ok(())
}
