//! The HostPool controller: creates and deletes HostClaims until a pool has `spec.replicas` of
//! them, and reports the pool's counts and conditions.
//!
//! The plan and the scale-down order come from the pure core ([`crate::pool`]). Claims are listed
//! from the API server (not a cache) before each plan, so a pool never creates a claim twice
//! because its cache lags. Pools are reconciled when they change, when one of their claims
//! changes (owner reference), and after relevant host changes (for the free-host count).

use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::Store;
use kube::runtime::{Controller, watcher};
use kube::{Api, Resource, ResourceExt};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use tracing::{debug, info, warn};

use super::Leadership;
use super::claims::{ClaimRuntime, ClaimSettings, host_cache};
use crate::api::hostpool::POOL_LABEL;
use crate::api::{BareMetalHost, HostClaim, HostPool, HostPoolStatus};
use crate::pool;

/// Event reporting component of the pool controller.
pub const POOL_CONTROLLER: &str = "metal-operator-hostpool-controller";

/// How often a pool is looked at without any change (a safety net; changes wake it).
const POOL_RESYNC: Duration = Duration::from_secs(60);

/// Create attempts when a generated claim name turns out to be taken on the server.
const NAME_ATTEMPTS: usize = 4;

/// Draws per attempt to find a name no listed claim has.
const NAME_DRAWS: usize = 64;

/// Why one pool reconcile failed (retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
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
    failures: Mutex<HashMap<String, u32>>,
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
        let reporter = Reporter {
            controller: POOL_CONTROLLER.to_owned(),
            instance: runtime.settings.instance.clone(),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            clock: runtime.clock.clone(),
            settings: runtime.settings.clone(),
            leadership: runtime.leadership.clone(),
            hosts,
            // A stream of its own, distinct from the claim controller's host choice.
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(
                runtime.settings.seed ^ 0x706f_6f6c,
            )),
            failures: Mutex::default(),
            written: Mutex::default(),
        }
    }
}

/// The reconciler handed to kube-runtime. A panic inside is contained to this pool.
pub async fn reconcile(pool: Arc<HostPool>, ctx: Arc<PoolContext>) -> Result<Action, PoolError> {
    let key = pool_key(&pool);
    match AssertUnwindSafe(reconcile_pool(&pool, &ctx))
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
        Err(_) => Err(PoolError::Panicked { pool: key }),
    }
}

/// kube-runtime's error policy: per-pool exponential backoff (1 s doubling up to 5 min).
pub fn error_policy(pool: Arc<HostPool>, error: &PoolError, ctx: Arc<PoolContext>) -> Action {
    let key = pool_key(&pool);
    let failures = ctx.failures.lock().map_or(1, |mut m| {
        let n = m.entry(key.clone()).or_insert(0);
        *n = n.saturating_add(1);
        *n
    });
    let delay = super::reconcile::backoff(failures);
    warn!(pool = %key, error = %error, cause = ?std::error::Error::source(error).map(ToString::to_string), failures, "pool reconcile failed");
    Action::requeue(delay)
}

async fn list_claims(api: &Api<HostClaim>, pool: &HostPool) -> Result<Vec<HostClaim>, PoolError> {
    let selector = format!("{POOL_LABEL}={}", pool.name_any());
    api.list(&ListParams::default().labels(&selector))
        .await
        .map(|l| l.items)
        .map_err(|source| PoolError::ListClaims {
            namespace: pool.namespace().unwrap_or_default(),
            name: pool.name_any(),
            source,
        })
}

/// Creates one claim of `pool` under a fresh random name that no claim in `taken` has (names a
/// restarted controller's RNG repeats are skipped); `taken` gains the name.
async fn create_claim(
    ctx: &PoolContext,
    api: &Api<HostClaim>,
    pool: &HostPool,
    taken: &mut HashSet<String>,
) -> Result<String, PoolError> {
    let namespace = pool.namespace().unwrap_or_default();
    for _ in 0..NAME_ATTEMPTS {
        let name = match ctx.rng.lock() {
            Ok(mut rng) => {
                let mut name = pool::claim_name(pool, &mut *rng);
                for _ in 0..NAME_DRAWS {
                    if !taken.contains(&name) {
                        break;
                    }
                    name = pool::claim_name(pool, &mut *rng);
                }
                name
            }
            Err(_) => break,
        };
        taken.insert(name.clone());
        let claim = pool::claim_for(pool, name.clone());
        match api.create(&PostParams::default(), &claim).await {
            Ok(_) => return Ok(name),
            Err(kube::Error::Api(s)) if s.code == 409 => continue,
            Err(source) => {
                return Err(PoolError::CreateClaim {
                    namespace,
                    pool: pool.name_any(),
                    claim: name,
                    source,
                });
            }
        }
    }
    Err(PoolError::NoFreeName {
        namespace,
        pool: pool.name_any(),
    })
}

async fn reconcile_pool(pool: &HostPool, ctx: &PoolContext) -> Result<Action, PoolError> {
    if !ctx.leadership.is_leader() {
        return Ok(Action::requeue(ctx.settings.conflict_retry));
    }
    if pool.metadata.deletion_timestamp.is_some() {
        // Owner references hand the claims to garbage collection; each claim releases its host.
        return Ok(Action::await_change());
    }
    let namespace = pool.namespace().unwrap_or_default();
    let key = pool_key(pool);
    let api: Api<HostClaim> = Api::namespaced(ctx.client.clone(), &namespace);
    let mut claims = list_claims(&api, pool).await?;
    let plan = pool::plan(pool, &claims);
    let mut taken: HashSet<String> = claims.iter().map(ResourceExt::name_any).collect();
    for _ in 0..plan.create {
        let name = create_claim(ctx, &api, pool, &mut taken).await?;
        info!(pool = %key, claim = %name, "claim created");
    }
    for name in &plan.delete {
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => info!(pool = %key, claim = %name, "claim deleted (scale down)"),
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(source) => {
                return Err(PoolError::DeleteClaim {
                    namespace,
                    pool: pool.name_any(),
                    claim: name.clone(),
                    source,
                });
            }
        }
    }
    if plan.create > 0 || !plan.delete.is_empty() {
        claims = list_claims(&api, pool).await?;
    }
    let known = ctx.written.lock().ok().and_then(|m| m.get(&key).cloned());
    let old = known.unwrap_or_else(|| pool.status.clone().unwrap_or_default());
    let mut view = pool.clone();
    view.status = Some(old.clone());
    let hosts = ctx.hosts.state();
    let new = pool::summarize(
        &view,
        &claims,
        hosts.iter().map(AsRef::as_ref),
        &ctx.settings.policy,
        ctx.clock.now(),
    );
    drop(hosts);
    if new != old {
        write_status(ctx, pool, &new).await?;
        publish(ctx, pool, &old, &new).await;
    }
    Ok(Action::requeue(POOL_RESYNC))
}

async fn write_status(
    ctx: &PoolContext,
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
    Api::<HostPool>::namespaced(ctx.client.clone(), &namespace)
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
    if let Ok(mut m) = ctx.written.lock() {
        m.insert(pool_key(pool), status.clone());
    }
    Ok(())
}

async fn publish(ctx: &PoolContext, pool: &HostPool, old: &HostPoolStatus, new: &HostPoolStatus) {
    let reference = pool.object_ref(&());
    for ev in pool::events(old, new) {
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
            warn!(pool = %pool_key(pool), reason = %ev.reason, error = %error, "publishing event failed");
        }
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
    let (hosts, ticks) = host_cache(&client, ns);
    let ctx = Arc::new(PoolContext::new(client, runtime, hosts));
    Controller::new(pools, watcher::Config::default())
        .owns(claims, watcher::Config::default())
        .reconcile_all_on(ticks)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            match result {
                Ok((obj, _)) => debug!(pool = %obj.name, "pool reconcile finished"),
                Err(error) => debug!(error = %error, "pool controller event"),
            }
        })
        .await;
}
