//! The controller's side of one claim reconcile: the API server and the host cache as the
//! [`ClaimObjects`] the claim flow (`crate::claim::flow`) runs against — finding the bound host
//! through the in-flight set and the cache, binding under the controller's lock, finalizer and
//! status writes, Events.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Api, Resource};
use serde_json::{Value, json};
use tracing::{debug, info, warn};

use super::{ClaimContext, ClaimError, Reservation, is_conflict, is_not_found};
use crate::api::{BareMetalHost, HostClaim, HostClaimStatus};
use crate::claim::flow::{self, Bind, ClaimObjects, ClaimTiming, Next, Written};
use crate::claim::progress::ClaimEvent;
use crate::claim::{self, ClaimRef, Selector, host_key};
use crate::controller::failures::{KubeCallError, backoff, contained};

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
            Ok(Bind::Bound(Box::new(bound)))
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
    contained(&ctx.failures, &key, reconcile_claim(&claim, &ctx), || {
        ClaimError::Panicked { claim: key.clone() }
    })
    .await
}

/// kube-runtime's error policy: per-claim exponential backoff (1 s doubling up to 5 min).
pub fn error_policy(claim: Arc<HostClaim>, error: &ClaimError, ctx: Arc<ClaimContext>) -> Action {
    let key = ClaimRef::of(&claim).key();
    let failures = ctx.failures.count(&key);
    let delay = backoff(failures);
    warn!(claim = %key, error = %error, cause = ?std::error::Error::source(error).map(ToString::to_string), failures, "claim reconcile failed");
    Action::requeue(delay)
}

async fn reconcile_claim(claim: &HostClaim, ctx: &ClaimContext) -> Result<Action, ClaimError> {
    let timing = ClaimTiming {
        retry: ctx.settings.retry,
        conflict_retry: ctx.settings.conflict_retry,
    };
    let next = flow::reconcile(&mut KubeClaims(ctx), claim, timing).await?;
    Ok(match next {
        Next::AwaitChange => Action::await_change(),
        Next::After(delay) => Action::requeue(delay),
    })
}

/// The API server, the host cache and the controller's in-flight set.
struct KubeClaims<'a>(&'a ClaimContext);

#[async_trait::async_trait]
impl ClaimObjects for KubeClaims<'_> {
    type Error = ClaimError;

    fn may_act(&self) -> bool {
        self.0.leadership.is_leader()
    }

    async fn bound_host(
        &mut self,
        me: &ClaimRef,
        claim: &HostClaim,
    ) -> Result<Option<BareMetalHost>, ClaimError> {
        find_bound(self.0, me, claim).await
    }

    async fn secret_exists(&mut self, namespace: &str, name: &str) -> Result<bool, ClaimError> {
        let api: Api<Secret> = Api::namespaced(self.0.client.clone(), namespace);
        api.get_opt(name)
            .await
            .map(|s| s.is_some())
            .map_err(|source| KubeCallError::new("reading secret", namespace, name, source).into())
    }

    async fn patch_host(
        &mut self,
        host: &BareMetalHost,
        patch: &Value,
        what: &'static str,
    ) -> Result<Written<BareMetalHost>, ClaimError> {
        self.0.patch_host(host, patch, what).await
    }

    async fn bind(&mut self, me: &ClaimRef, claim: &HostClaim) -> Result<Bind, ClaimError> {
        bind(self.0, me, claim).await
    }

    async fn write_finalizers(
        &mut self,
        claim: &HostClaim,
        finalizers: Vec<String>,
    ) -> Result<Written<()>, ClaimError> {
        let me = ClaimRef::of(claim);
        let patch = json!({"metadata": {
            "finalizers": finalizers,
            "resourceVersion": claim.metadata.resource_version,
        }});
        match self
            .0
            .claim_api(&me.namespace)
            .patch(&me.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => Ok(Written::Done(())),
            // A claim already gone needs no finalizer change.
            Err(e) if is_not_found(&e) => Ok(Written::Done(())),
            Err(e) if is_conflict(&e) => Ok(Written::Conflict),
            Err(source) => Err(KubeCallError::new(
                "writing the finalizers of claim",
                &me.namespace,
                &me.name,
                source,
            )
            .into()),
        }
    }

    fn last_status(&self, claim: &HostClaim) -> HostClaimStatus {
        // A lagging claim cache neither rewrites the status nor repeats its Events.
        let known = self
            .0
            .written
            .lock()
            .ok()
            .and_then(|m| m.get(&ClaimRef::of(claim).key()).cloned());
        known.unwrap_or_else(|| claim.status.clone().unwrap_or_default())
    }

    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.clock.now()
    }

    async fn write_status(
        &mut self,
        claim: &HostClaim,
        status: &HostClaimStatus,
    ) -> Result<(), ClaimError> {
        let me = ClaimRef::of(claim);
        let Ok(Value::Object(mut fields)) = serde_json::to_value(status) else {
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
        self.0
            .claim_api(&me.namespace)
            .patch_status(&me.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|source| {
                KubeCallError::new(
                    "writing the status of claim",
                    &me.namespace,
                    &me.name,
                    source,
                )
            })?;
        if let Ok(mut m) = self.0.written.lock() {
            m.insert(me.key(), status.clone());
        }
        Ok(())
    }

    async fn publish(&mut self, claim: &HostClaim, events: Vec<ClaimEvent>) {
        crate::controller::publish_events(
            &self.0.recorder,
            &claim.object_ref(&()),
            &ClaimRef::of(claim).key(),
            events.into_iter().map(|e| (e.warning, e.reason, e.message)),
        )
        .await;
    }

    async fn forget(&mut self, me: &ClaimRef) {
        self.0
            .binding
            .lock()
            .await
            .retain(|_, r| r.claim != me.key());
        if let Ok(mut m) = self.0.written.lock() {
            m.remove(&me.key());
        }
    }
}
