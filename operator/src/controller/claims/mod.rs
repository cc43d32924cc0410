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

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::events::Recorder;
use futures::future::{BoxFuture, Shared};
use futures::{FutureExt, Stream, StreamExt};
use kube::api::{Patch, PatchParams};
use kube::runtime::reflector::Store;
use kube::runtime::{Controller, watcher};
use kube::{Api, ResourceExt};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

mod reconcile;

use super::{Clock, ControllerError, Leadership};
use crate::api::{BareMetalHost, HostClaim, HostClaimStatus, ProvisioningState};
use crate::claim::flow::Written;
use crate::claim::{self, HostPolicy};
use crate::controller::failures::{Failures, KubeCallError};

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
    /// The host cache shared with the host controller ([`super::HostCache::start`]).
    pub hosts: super::HostCache,
}

/// Why one claim reconcile failed (retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    /// Reading or writing a host, writing the claim, or reading a Secret.
    #[error(transparent)]
    Kube(#[from] KubeCallError),
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
    failures: Failures,
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

impl ClaimContext {
    pub fn new(client: kube::Client, runtime: &ClaimRuntime, hosts: Store<BareMetalHost>) -> Self {
        let instance = runtime.settings.instance.clone();
        Self {
            recorder: super::term::recorder(&client, CLAIM_CONTROLLER, instance),
            client,
            clock: runtime.clock.clone(),
            settings: runtime.settings.clone(),
            leadership: runtime.leadership.clone(),
            hosts,
            binding: tokio::sync::Mutex::default(),
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(runtime.settings.seed)),
            failures: Failures::default(),
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
            Err(source) => Err(KubeCallError::new("reading host", namespace, name, source).into()),
        }
    }

    async fn patch_host(
        &self,
        host: &BareMetalHost,
        patch: &Value,
        what: &'static str,
    ) -> Result<Written<BareMetalHost>, ClaimError> {
        let namespace = host.namespace().unwrap_or_default();
        let name = host.name_any();
        match self
            .host_api(&namespace)
            .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
            .await
        {
            Ok(h) => Ok(Written::Done(h)),
            Err(e) if is_conflict(&e) => Ok(Written::Conflict),
            Err(source) => {
                let doing = format!("writing the {what} of host");
                Err(KubeCallError::new(doing, namespace, name, source).into())
            }
        }
    }
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

/// The shared host cache and a stream that ticks after each change claims care about (the
/// cache is updated before the tick).
pub(crate) fn host_cache(
    runtime: &ClaimRuntime,
) -> (
    Store<BareMetalHost>,
    impl Stream<Item = ()> + Send + 'static,
) {
    let ticks = runtime
        .hosts
        .subscribe()
        .filter_map(|host| std::future::ready(concerns_claims(&host).then_some(())));
    (runtime.hosts.store(), ticks)
}

/// One leadership term of the claim controller.
async fn claim_term(client: kube::Client, runtime: &ClaimRuntime) {
    let ns = runtime.settings.watch_namespace.as_deref();
    let claims: Api<HostClaim> = match ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let (hosts, ticks) = host_cache(runtime);
    let ctx = Arc::new(ClaimContext::new(client, runtime, hosts));
    let results = Controller::new(claims, watcher::Config::default())
        .reconcile_all_on(ticks)
        .run(reconcile::reconcile, reconcile::error_policy, ctx);
    super::term::drain(results, "HostClaim").await;
}

/// Runs the claim and pool controllers until `shutdown` resolves, acting only while
/// `runtime.leadership` is held (the same leadership as the BareMetalHost controller).
pub async fn run(
    client: kube::Client,
    runtime: ClaimRuntime,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ControllerError> {
    let shutdown: Shared<BoxFuture<'static, ()>> = shutdown.boxed().shared();
    let terms = || async {
        tokio::join!(
            claim_term(client.clone(), &runtime),
            super::pools::term(client.clone(), &runtime)
        );
    };
    super::term::while_leading(
        &runtime.leadership,
        shutdown,
        "claim and pool controllers",
        runtime.settings.watch_namespace.as_deref(),
        terms,
    )
    .await
}
