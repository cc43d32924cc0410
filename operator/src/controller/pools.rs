//! The HostPool controller: creates and deletes HostClaims until a pool has `spec.replicas` of
//! them, and reports the pool's counts and conditions.
//!
//! The plan and the scale-down order come from the pure core ([`crate::pool`]). Claims are listed
//! from the API server (not a cache) before each plan, so a pool never creates a claim twice
//! because its cache lags, and the pool itself is read back before claims are created, so a pool
//! deleted while its cache still holds it creates none. Pools are reconciled when they change, when one of their claims
//! changes (owner reference), and after relevant host changes (for the free-host count).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::events::Recorder;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::Store;
use kube::runtime::{Controller, watcher};
use kube::{Api, Resource, ResourceExt};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use tracing::{info, warn};

use super::Leadership;
use super::claims::{ClaimRuntime, ClaimSettings, host_cache};
use super::failures::{Failures, backoff, contained};
use crate::api::hostpool::POOL_LABEL;
use crate::api::{BareMetalHost, HostClaim, HostPool, HostPoolStatus};
use crate::pool::flow::{self, Created, PoolObjects, Summarize};
use crate::pool::{self, PoolEvent};

/// Event reporting component of the pool controller.
pub const POOL_CONTROLLER: &str = "metal-operator-hostpool-controller";

/// How often a pool is looked at without any change (a safety net; changes wake it).
const POOL_RESYNC: Duration = Duration::from_secs(60);

/// Why one pool reconcile failed (retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("reading pool {namespace}/{name} before creating claims failed")]
    ReadPool {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("listing the claims of pool {namespace}/{name} failed")]
    ListClaims {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("creating claim {namespace}/{claim} of pool {pool} failed")]
    CreateClaim {
        namespace: String,
        pool: String,
        claim: String,
        #[source]
        source: kube::Error,
    },
    #[error("no free name for a new claim of pool {namespace}/{pool}")]
    NoFreeName { namespace: String, pool: String },
    #[error("deleting claim {namespace}/{claim} of pool {pool} failed")]
    DeleteClaim {
        namespace: String,
        pool: String,
        claim: String,
        #[source]
        source: kube::Error,
    },
    #[error("writing the status of pool {namespace}/{name} failed")]
    WriteStatus {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("reconcile of pool {pool} panicked")]
    Panicked { pool: String },
}

/// Shared state of one pool-controller term.
pub struct PoolContext {
    client: kube::Client,
    recorder: Recorder,
    clock: Arc<dyn super::Clock>,
    settings: ClaimSettings,
    leadership: Leadership,
    hosts: Store<BareMetalHost>,
    rng: Mutex<ChaCha8Rng>,
    failures: Failures,
    written: Mutex<HashMap<String, HostPoolStatus>>,
}

fn pool_key(pool: &HostPool) -> String {
    format!(
        "{}/{}",
        pool.namespace().unwrap_or_default(),
        pool.name_any()
    )
}

impl PoolContext {
    pub fn new(client: kube::Client, runtime: &ClaimRuntime, hosts: Store<BareMetalHost>) -> Self {
        let instance = runtime.settings.instance.clone();
        Self {
            recorder: super::term::recorder(&client, POOL_CONTROLLER, instance),
            client,
            clock: runtime.clock.clone(),
            settings: runtime.settings.clone(),
            leadership: runtime.leadership.clone(),
            hosts,
            // A stream of its own, distinct from the claim controller's host choice.
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(
                runtime.settings.seed ^ 0x706f_6f6c,
            )),
            failures: Failures::default(),
            written: Mutex::default(),
        }
    }
}

/// The reconciler handed to kube-runtime. A panic inside is contained to this pool.
pub async fn reconcile(pool: Arc<HostPool>, ctx: Arc<PoolContext>) -> Result<Action, PoolError> {
    let key = pool_key(&pool);
    contained(&ctx.failures, &key, reconcile_pool(&pool, &ctx), || {
        PoolError::Panicked { pool: key.clone() }
    })
    .await
}

/// kube-runtime's error policy: per-pool exponential backoff (1 s doubling up to 5 min).
pub fn error_policy(pool: Arc<HostPool>, error: &PoolError, ctx: Arc<PoolContext>) -> Action {
    let key = pool_key(&pool);
    let failures = ctx.failures.count(&key);
    let delay = backoff(failures);
    warn!(pool = %key, error = %error, cause = ?std::error::Error::source(error).map(ToString::to_string), failures, "pool reconcile failed");
    Action::requeue(delay)
}

async fn reconcile_pool(pool: &HostPool, ctx: &PoolContext) -> Result<Action, PoolError> {
    if !ctx.leadership.is_leader() {
        return Ok(Action::requeue(ctx.settings.conflict_retry));
    }
    let key = pool_key(pool);
    let done = flow::reconcile(&mut KubePools(ctx), pool).await?;
    for name in &done.created {
        info!(pool = %key, claim = %name, "claim created");
    }
    for name in &done.deleted {
        info!(pool = %key, claim = %name, "claim deleted (scale down)");
    }
    Ok(if done.acted {
        Action::requeue(POOL_RESYNC)
    } else {
        Action::await_change()
    })
}

/// The API server, the host cache and the controller's name stream.
struct KubePools<'a>(&'a PoolContext);

impl KubePools<'_> {
    fn api(&self, pool: &HostPool) -> Api<HostClaim> {
        Api::namespaced(self.0.client.clone(), &pool.namespace().unwrap_or_default())
    }
}

#[async_trait::async_trait]
impl PoolObjects for KubePools<'_> {
    type Error = PoolError;

    fn may_act(&self) -> bool {
        self.0.leadership.is_leader()
    }

    async fn is_current(&mut self, pool: &HostPool) -> Result<bool, PoolError> {
        let namespace = pool.namespace().unwrap_or_default();
        match Api::<HostPool>::namespaced(self.0.client.clone(), &namespace)
            .get_opt(&pool.name_any())
            .await
        {
            Ok(live) => Ok(live.is_some_and(|live| {
                live.uid() == pool.uid() && live.metadata.deletion_timestamp.is_none()
            })),
            Err(source) => Err(PoolError::ReadPool {
                namespace,
                name: pool.name_any(),
                source,
            }),
        }
    }

    async fn claims(&mut self, pool: &HostPool) -> Result<Vec<HostClaim>, PoolError> {
        let selector = format!("{POOL_LABEL}={}", pool.name_any());
        self.api(pool)
            .list(&ListParams::default().labels(&selector))
            .await
            .map(|l| l.items)
            .map_err(|source| PoolError::ListClaims {
                namespace: pool.namespace().unwrap_or_default(),
                name: pool.name_any(),
                source,
            })
    }

    fn draw_name(&mut self, pool: &HostPool) -> String {
        match self.0.rng.lock() {
            Ok(mut rng) => pool::claim_name(pool, &mut *rng),
            Err(poisoned) => pool::claim_name(pool, &mut *poisoned.into_inner()),
        }
    }

    async fn create_claim(
        &mut self,
        pool: &HostPool,
        claim: HostClaim,
    ) -> Result<Created, PoolError> {
        match self.api(pool).create(&PostParams::default(), &claim).await {
            Ok(_) => Ok(Created::Done),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(Created::NameTaken),
            Err(source) => Err(PoolError::CreateClaim {
                namespace: pool.namespace().unwrap_or_default(),
                pool: pool.name_any(),
                claim: claim.name_any(),
                source,
            }),
        }
    }

    fn no_free_name(&self, pool: &HostPool) -> PoolError {
        PoolError::NoFreeName {
            namespace: pool.namespace().unwrap_or_default(),
            pool: pool.name_any(),
        }
    }

    async fn delete_claim(&mut self, pool: &HostPool, name: &str) -> Result<(), PoolError> {
        match self.api(pool).delete(name, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(source) => Err(PoolError::DeleteClaim {
                namespace: pool.namespace().unwrap_or_default(),
                pool: pool.name_any(),
                claim: name.to_owned(),
                source,
            }),
        }
    }

    fn summarize(&self, f: &mut Summarize<'_>) -> HostPoolStatus {
        let hosts = self.0.hosts.state();
        f(
            &mut hosts.iter().map(AsRef::as_ref),
            &self.0.settings.policy,
            self.0.clock.now(),
        )
    }

    fn last_status(&self, pool: &HostPool) -> HostPoolStatus {
        let known = self
            .0
            .written
            .lock()
            .ok()
            .and_then(|m| m.get(&pool_key(pool)).cloned());
        known.unwrap_or_else(|| pool.status.clone().unwrap_or_default())
    }

    async fn write_status(
        &mut self,
        pool: &HostPool,
        status: &HostPoolStatus,
    ) -> Result<(), PoolError> {
        let namespace = pool.namespace().unwrap_or_default();
        let Ok(Value::Object(mut fields)) = serde_json::to_value(status) else {
            return Ok(());
        };
        for key in [
            "claimedHosts",
            "conditions",
            "observedGeneration",
            "selector",
        ] {
            fields.entry(key).or_insert(Value::Null);
        }
        let patch = json!({"status": Value::Object(fields)});
        Api::<HostPool>::namespaced(self.0.client.clone(), &namespace)
            .patch_status(
                &pool.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
            .map_err(|source| PoolError::WriteStatus {
                namespace,
                name: pool.name_any(),
                source,
            })?;
        if let Ok(mut m) = self.0.written.lock() {
            m.insert(pool_key(pool), status.clone());
        }
        Ok(())
    }

    async fn publish(&mut self, pool: &HostPool, events: Vec<PoolEvent>) {
        super::publish_events(
            &self.0.recorder,
            &pool.object_ref(&()),
            &pool_key(pool),
            events.into_iter().map(|e| (e.warning, e.reason, e.message)),
        )
        .await;
    }
}

/// One leadership term of the pool controller.
pub(crate) async fn term(client: kube::Client, runtime: &ClaimRuntime) {
    let ns = runtime.settings.watch_namespace.as_deref();
    let (pools, claims): (Api<HostPool>, Api<HostClaim>) = match ns {
        Some(ns) => (
            Api::namespaced(client.clone(), ns),
            Api::namespaced(client.clone(), ns),
        ),
        None => (Api::all(client.clone()), Api::all(client.clone())),
    };
    let (hosts, ticks) = host_cache(runtime);
    let ctx = Arc::new(PoolContext::new(client, runtime, hosts));
    let results = Controller::new(pools, watcher::Config::default())
        .owns(claims, watcher::Config::default())
        .reconcile_all_on(ticks)
        .run(reconcile, error_policy, ctx);
    super::term::drain(results, "HostPool").await;
}
