//! The HostClaim controller: binds claims to BareMetalHosts, keeps the hosts in line with their
//! claims, mirrors progress into the claims' status, and gives hosts back when claims go away.
//!
//! Decisions come from the pure core ([`crate::claim`]); this shell reads the views, applies the
//! one patch decided, writes status and Events. Claims are reconciled by a kube-runtime
//! `Controller`; every relevant BareMetalHost change (a claimed host, or a free available host)
//! reconciles the claims again, after the host cache has seen it.
//!
//! Two claims never take one host: binding runs under one lock per controller, hosts just bound
//! stay reserved until the host cache shows the write, and the bind patch carries the host's
//! `resourceVersion` as precondition, so a lagging cache turns into a 409 and a retry, never a
//! double binding.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::{BoxFuture, Shared};
use futures::{FutureExt, Stream, StreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use tracing::{debug, info, warn};

use super::{Clock, ControllerError, Leadership};
use crate::api::annotations::HOSTCLAIM_FINALIZER;
use crate::api::{BareMetalHost, HostClaim, HostClaimStatus, ProvisioningState};
use crate::claim::deployment::Deployment;
use crate::claim::progress::{HostView, MissingSecret, Observation};
use crate::claim::{self, ClaimRef, HostPolicy, ReleaseStep, Selector, host_key};

/// Event reporting component of the claim controller.
pub const CLAIM_CONTROLLER: &str = "metal3-hostclaim-controller";

/// Knobs of the claim and pool controllers (from the command line).
#[derive(Clone, Debug)]
pub struct ClaimSettings {
    /// Watch one namespace, or all when `None`.
    pub watch_namespace: Option<String>,
    /// Which host namespaces claims may take hosts from.
    pub policy: HostPolicy,
    /// Seed of the host-choice and claim-name RNG streams.
    pub seed: u64,
    /// `reportingInstance` of Events.
    pub instance: Option<String>,
    /// How soon an unbound claim looks again without any host change (hosts changes wake it
    /// sooner), and how often a claim with a missing Secret checks again.
    pub retry: Duration,
    /// How soon to retry after a write conflict.
    pub conflict_retry: Duration,
}

impl Default for ClaimSettings {
    fn default() -> Self {
        Self {
            watch_namespace: None,
            policy: HostPolicy::default(),
            seed: 0,
            instance: None,
            retry: Duration::from_secs(15),
            conflict_retry: Duration::from_millis(200),
        }
    }
}

/// Everything the claim and pool controllers need besides the client.
pub struct ClaimRuntime {
    pub clock: Arc<dyn Clock>,
    pub settings: ClaimSettings,
    pub leadership: Leadership,
}

/// Why one claim reconcile failed (retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    #[error("reading host {namespace}/{name} failed")]
    ReadHost {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("writing the {what} of host {namespace}/{name} failed")]
    WriteHost {
        namespace: String,
        name: String,
        what: &'static str,
        #[source]
        source: kube::Error,
    },
    #[error("writing the {what} of claim {namespace}/{name} failed")]
    WriteClaim {
        namespace: String,
        name: String,
        what: &'static str,
        #[source]
        source: kube::Error,
    },
    #[error("reading secret {namespace}/{name} failed")]
    ReadSecret {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("reconcile of claim {claim} panicked")]
    Panicked { claim: String },
}

/// A host just bound, kept out of choice until the host cache moves past `base_version`.
struct Reservation {
    claim: String,
    base_version: String,
}

/// Shared state of one claim-controller term.
pub struct ClaimContext {
    client: kube::Client,
    recorder: Recorder,
    clock: Arc<dyn Clock>,
    settings: ClaimSettings,
    leadership: Leadership,
    hosts: Store<BareMetalHost>,
    /// Serialises binding; holds the hosts in flight (`namespace/name` → reservation).
    binding: tokio::sync::Mutex<BTreeMap<String, Reservation>>,
    rng: Mutex<ChaCha8Rng>,
    failures: Mutex<HashMap<String, u32>>,
    /// The status last written per claim, so a lagging claim cache neither rewrites it nor
    /// repeats its Events.
    written: Mutex<HashMap<String, HostClaimStatus>>,
}

fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// Outcome of a host write that may conflict.
enum Written {
    Done(Box<BareMetalHost>),
    Conflict,
}

impl ClaimContext {
    pub fn new(client: kube::Client, runtime: &ClaimRuntime, hosts: Store<BareMetalHost>) -> Self {
        let reporter = Reporter {
            controller: CLAIM_CONTROLLER.to_owned(),
            instance: runtime.settings.instance.clone(),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            clock: runtime.clock.clone(),
            settings: runtime.settings.clone(),
            leadership: runtime.leadership.clone(),
            hosts,
            binding: tokio::sync::Mutex::default(),
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(runtime.settings.seed)),
            failures: Mutex::default(),
            written: Mutex::default(),
        }
    }

    fn host_api(&self, namespace: &str) -> Api<BareMetalHost> {
        Api::namespaced(self.client.clone(), namespace)
    }

    fn claim_api(&self, namespace: &str) -> Api<HostClaim> {
        Api::namespaced(self.client.clone(), namespace)
    }

    async fn get_host(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<BareMetalHost>, ClaimError> {
        match self.host_api(namespace).get(name).await {
            Ok(h) => Ok(Some(h)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(source) => Err(ClaimError::ReadHost {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
                source,
            }),
        }
    }

    async fn patch_host(
        &self,
        host: &BareMetalHost,
        patch: &Value,
        what: &'static str,
    ) -> Result<Written, ClaimError> {
        let namespace = host.namespace().unwrap_or_default();
        let name = host.name_any();
        match self
            .host_api(&namespace)
            .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
            .await
        {
            Ok(h) => Ok(Written::Done(Box::new(h))),
            Err(e) if is_conflict(&e) => Ok(Written::Conflict),
            Err(source) => Err(ClaimError::WriteHost {
                namespace,
                name,
                what,
                source,
            }),
        }
    }
}

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
    let delay = super::reconcile::backoff(failures);
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
        return release(ctx, claim, &me, bound).await;
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

/// One round of the release sequence; finishes by dropping the finalizer.
async fn release(
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

/// Writes the claim's status when it changed and publishes the Events the change deserves.
async fn write_status(
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

/// True for host changes claims care about: a host some claim consumes, or a free host a
/// waiting claim could take.
fn concerns_claims(host: &BareMetalHost) -> bool {
    match host.spec.consumer_ref.as_ref() {
        Some(r) => r.kind.as_deref() == Some(claim::CLAIM_KIND),
        None => host.status.as_ref().is_some_and(|s| {
            matches!(
                s.provisioning.state,
                ProvisioningState::Available | ProvisioningState::Ready
            )
        }),
    }
}

/// A BareMetalHost cache and a stream that ticks after each change claims care about (the cache
/// is updated before the tick).
pub(crate) fn host_cache(
    client: &kube::Client,
    namespace: Option<&str>,
) -> (
    Store<BareMetalHost>,
    impl Stream<Item = ()> + Send + 'static,
) {
    let api: Api<BareMetalHost> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let (store, writer) = reflector::store();
    let ticks = reflector::reflector(writer, watcher(api, watcher::Config::default()))
        .default_backoff()
        .applied_objects()
        .filter_map(|h| async move {
            match h {
                Ok(host) if concerns_claims(&host) => Some(()),
                Ok(_) => None,
                Err(error) => {
                    debug!(error = %error, "host watch error");
                    None
                }
            }
        });
    (store, ticks)
}

/// One leadership term of the claim controller.
async fn claim_term(client: kube::Client, runtime: &ClaimRuntime) {
    let ns = runtime.settings.watch_namespace.as_deref();
    let claims: Api<HostClaim> = match ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let (hosts, ticks) = host_cache(&client, ns);
    let ctx = Arc::new(ClaimContext::new(client, runtime, hosts));
    Controller::new(claims, watcher::Config::default())
        .reconcile_all_on(ticks)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            match result {
                Ok((obj, _)) => debug!(claim = %obj.name, "claim reconcile finished"),
                Err(error) => debug!(error = %error, "claim controller event"),
            }
        })
        .await;
}

/// Runs the claim and pool controllers until `shutdown` resolves, acting only while
/// `runtime.leadership` is held (the same leadership as the BareMetalHost controller).
pub async fn run(
    client: kube::Client,
    runtime: ClaimRuntime,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ControllerError> {
    let shutdown: Shared<BoxFuture<'static, ()>> = shutdown.boxed().shared();
    let mut leadership = runtime.leadership.clone();
    loop {
        tokio::select! {
            () = leadership.acquired() => {}
            () = shutdown.clone() => return Ok(()),
        }
        info!(namespace = ?runtime.settings.watch_namespace, "leading: claim and pool controllers starting");
        let terms = async {
            tokio::join!(
                claim_term(client.clone(), &runtime),
                super::pools::term(client.clone(), &runtime)
            )
        };
        tokio::select! {
            _ = terms => return Err(ControllerError::StreamEnded),
            () = leadership.lost() => warn!("leadership lost: claim and pool controllers stopped"),
            () = shutdown.clone() => return Ok(()),
        }
    }
}
