//! HostClaims and HostPools in engine mode: the objects as values, and in-process reconciles that
//! call the operator's pure claim and pool cores (`metal_core::claim`, `metal_core::pool`)
//! in the order the wire controllers (`controller::claims`, `controller::pools`) do.
//!
//! Reconciles run on a fixed virtual-time tick (see [`TICK`]) rather than on watch events: every
//! tick reconciles every pool (by key), then every claim (by key), against the engine's hosts as
//! they are at that instant. There is no cache lag, so the in-flight reservation set the wire
//! controller keeps is always empty here, and a bind never conflicts.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use metal_core::api::{BareMetalHost, HostClaim, HostClaimStatus, HostPool};
use metal_core::claim::flow::{self, Bind, ClaimObjects, ClaimTiming, Written};
use metal_core::claim::progress::ClaimEvent;
use metal_core::claim::{self, ClaimRef, HostPolicy, Selector};
use metal_core::pool;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use super::ironic::run;
use super::simulation::{Engine, EngineError};
use crate::trace::Happening;

/// How often claims and pools are reconciled (virtual time).
pub const TICK: Duration = Duration::from_secs(1);

/// Why a claim or pool command failed.
#[derive(Debug, thiserror::Error)]
pub enum ClaimWorldError {
    /// The object does not decode as its kind.
    #[error("invalid {kind} {key}: {message}")]
    Invalid {
        /// `HostClaim` or `HostPool`.
        kind: &'static str,
        /// `namespace/name`.
        key: String,
        /// Why.
        message: String,
    },
    /// No such pool.
    #[error("no HostPool {0}")]
    NoSuchPool(String),
    /// The pool found no free name for a new claim this round.
    #[error("no free name for a new claim of pool {0}")]
    NoFreeName(String),
    /// A host write failed.
    #[error("writing host {key} for claim {claim}: {source}")]
    HostWrite {
        /// Host `namespace/name`.
        key: String,
        /// Claim `namespace/name`.
        claim: String,
        /// The engine's error.
        #[source]
        source: EngineError,
    },
}

/// The claims and pools of one engine run, with the controllers' random streams.
pub struct ClaimWorld {
    pub(super) claims: BTreeMap<String, HostClaim>,
    pub(super) pools: BTreeMap<String, HostPool>,
    /// Last status written per claim (what the trace has seen).
    claim_seen: BTreeMap<String, Option<String>>,
    /// Last (replicas, ready) per pool (what the trace has seen).
    pub(super) pool_seen: BTreeMap<String, (u32, u32)>,
    choice_rng: ChaCha8Rng,
    pub(super) name_rng: ChaCha8Rng,
    seed: u64,
    pub(super) policy: HostPolicy,
    uids: u64,
    versions: u64,
    pub(super) happenings: Vec<Happening>,
}

pub(super) fn key_of(ns: &str, name: &str) -> String {
    format!("{ns}/{name}")
}

fn decode<T: serde::de::DeserializeOwned>(
    kind: &'static str,
    value: Value,
) -> Result<T, ClaimWorldError> {
    let key = key_of(
        value
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or_default(),
        value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default(),
    );
    serde_json::from_value(value).map_err(|e| ClaimWorldError::Invalid {
        kind,
        key,
        message: e.to_string(),
    })
}

impl ClaimWorld {
    /// An empty world whose host choice and claim names are drawn from streams of `seed` (the
    /// pool stream is derived the way the pool controller derives it).
    pub fn new(seed: u64) -> Self {
        ClaimWorld {
            claims: BTreeMap::new(),
            pools: BTreeMap::new(),
            claim_seen: BTreeMap::new(),
            pool_seen: BTreeMap::new(),
            choice_rng: ChaCha8Rng::seed_from_u64(seed),
            name_rng: ChaCha8Rng::seed_from_u64(seed ^ 0x706f_6f6c),
            seed,
            policy: HostPolicy::default(),
            uids: 0,
            versions: 0,
            happenings: Vec::new(),
        }
    }

    /// A new operator term: the controllers' random streams start again from the seed, as a
    /// restarted operator's do (the pool controller then skips names its claims already have).
    pub fn restart(&mut self) {
        self.choice_rng = ChaCha8Rng::seed_from_u64(self.seed);
        self.name_rng = ChaCha8Rng::seed_from_u64(self.seed ^ 0x706f_6f6c);
    }

    /// True while there is anything to reconcile.
    pub fn is_empty(&self) -> bool {
        self.claims.is_empty() && self.pools.is_empty()
    }

    /// A claim by `namespace/name`.
    pub fn claim(&self, key: &str) -> Option<&HostClaim> {
        self.claims.get(key)
    }

    /// A pool by `namespace/name`.
    pub fn pool(&self, key: &str) -> Option<&HostPool> {
        self.pools.get(key)
    }

    /// The trace events produced since the last call (claim bindings, pool counts, Events).
    pub fn take_happenings(&mut self) -> Vec<Happening> {
        std::mem::take(&mut self.happenings)
    }

    pub(super) fn next_uid(&mut self, kind: &str) -> String {
        self.uids += 1;
        format!("engine-{kind}-{:08}", self.uids)
    }

    pub(super) fn next_version(&mut self) -> String {
        self.versions += 1;
        self.versions.to_string()
    }

    /// Creates a claim, or replaces the spec, labels and annotations of an existing one.
    pub fn apply_claim(&mut self, value: Value, now: Time) -> Result<(), ClaimWorldError> {
        let mut claim: HostClaim = decode("HostClaim", value)?;
        let key = key_of(&claim.namespace().unwrap_or_default(), &claim.name_any());
        if let Some(old) = self.claims.get(&key) {
            claim.metadata.uid = old.metadata.uid.clone();
            claim.metadata.creation_timestamp = old.metadata.creation_timestamp.clone();
            claim.metadata.finalizers = old.metadata.finalizers.clone();
            claim.metadata.deletion_timestamp = old.metadata.deletion_timestamp.clone();
            claim.metadata.owner_references = old
                .metadata
                .owner_references
                .clone()
                .or(claim.metadata.owner_references);
            claim.status = old.status.clone();
        } else {
            claim.metadata.uid = Some(self.next_uid("claim"));
            claim.metadata.creation_timestamp = Some(now);
            claim.status = None;
        }
        claim.metadata.resource_version = Some(self.next_version());
        self.claims.insert(key, claim);
        Ok(())
    }

    /// Creates a pool, or replaces the spec of an existing one.
    pub fn apply_pool(&mut self, value: Value, now: Time) -> Result<(), ClaimWorldError> {
        let mut p: HostPool = decode("HostPool", value)?;
        let key = key_of(&p.namespace().unwrap_or_default(), &p.name_any());
        if let Some(old) = self.pools.get(&key) {
            p.metadata.uid = old.metadata.uid.clone();
            p.metadata.creation_timestamp = old.metadata.creation_timestamp.clone();
            p.metadata.generation = Some(old.metadata.generation.unwrap_or(1) + 1);
            p.status = old.status.clone();
        } else {
            p.metadata.uid = Some(self.next_uid("pool"));
            p.metadata.creation_timestamp = Some(now);
            p.metadata.generation = Some(1);
            p.status = None;
        }
        p.metadata.resource_version = Some(self.next_version());
        self.pools.insert(key.clone(), p);
        self.observe_pool(&key);
        Ok(())
    }

    /// Sets a pool's replicas (its scale subresource).
    pub fn scale_pool(&mut self, key: &str, replicas: u32) -> Result<(), ClaimWorldError> {
        let version = self.next_version();
        let p = self
            .pools
            .get_mut(key)
            .ok_or_else(|| ClaimWorldError::NoSuchPool(key.to_owned()))?;
        p.spec.replicas = i32::try_from(replicas).unwrap_or(i32::MAX);
        p.metadata.generation = Some(p.metadata.generation.unwrap_or(1) + 1);
        p.metadata.resource_version = Some(version);
        self.observe_pool(key);
        Ok(())
    }

    /// Deletes a claim: marks it deleted while its finalizer holds it, else removes it. Returns
    /// false when there was no such claim.
    pub fn delete_claim(&mut self, key: &str, now: Time) -> bool {
        let Some(c) = self.claims.get_mut(key) else {
            return false;
        };
        if c.finalizers().is_empty() {
            self.claims.remove(key);
            self.forget_claim(key);
        } else if c.metadata.deletion_timestamp.is_none() {
            c.metadata.deletion_timestamp = Some(now);
        }
        true
    }

    /// Deletes a pool; garbage collection deletes the claims it owns. Returns false when there
    /// was no such pool.
    pub fn delete_pool(&mut self, key: &str, now: &Time) -> bool {
        let Some(p) = self.pools.remove(key) else {
            return false;
        };
        self.pool_seen.remove(key);
        let owned: Vec<String> = self
            .claims
            .iter()
            .filter(|(_, c)| pool::belongs_to(&p, c))
            .map(|(k, _)| k.clone())
            .collect();
        for k in owned {
            self.delete_claim(&k, now.clone());
        }
        true
    }

    fn forget_claim(&mut self, key: &str) {
        if let Some(Some(_)) = self.claim_seen.remove(key) {
            let name = key.split_once('/').map_or(key, |(_, n)| n).to_owned();
            self.happenings.push(Happening::Claim {
                claim: name,
                host: None,
                revision: None,
            });
        }
    }

    /// One tick: every pool, then every claim, reconciled once (in key order).
    pub fn reconcile_all(&mut self, engine: &mut Engine) -> Result<(), ClaimWorldError> {
        let pools: Vec<String> = self.pools.keys().cloned().collect();
        for key in pools {
            self.reconcile_pool(engine, &key);
        }
        let claims: Vec<String> = self.claims.keys().cloned().collect();
        for key in claims {
            self.reconcile_claim(engine, &key)?;
        }
        // Pool counts follow the claims' statuses in the same tick, as the owner watch does.
        let pools: Vec<String> = self.pools.keys().cloned().collect();
        for key in pools {
            self.pool_status(engine, &key);
        }
        Ok(())
    }

    // ----- claims: the operator's own claim flow (`metal_core::claim::flow`) -----

    fn reconcile_claim(&mut self, engine: &mut Engine, key: &str) -> Result<(), ClaimWorldError> {
        let Some(c) = self.claims.get(key).cloned() else {
            return Ok(());
        };
        // The engine reconciles every claim on every tick, so the flow's "when next" is moot.
        let timing = ClaimTiming {
            retry: TICK,
            conflict_retry: TICK,
        };
        let mut objects = EngineClaims {
            world: self,
            engine,
            key,
        };
        run(flow::reconcile(&mut objects, &c, timing)).map(drop)
    }

    /// True when some claim is bound to a host (by its status).
    pub fn is_bound(&self, key: &str) -> bool {
        self.claim_seen.get(key).is_some_and(Option::is_some)
    }

    /// The reason of the claim's `Bound` condition, once one was written.
    pub fn bound_reason(&self, key: &str) -> Option<String> {
        self.claims
            .get(key)?
            .status
            .as_ref()?
            .conditions
            .iter()
            .find(|c| c.type_ == "Bound")
            .map(|c| c.reason.clone())
    }

    /// Ready members of a pool (from its status), 0 when it has none or does not exist.
    pub fn pool_ready(&self, key: &str) -> u32 {
        self.pools
            .get(key)
            .and_then(|p| p.status.as_ref())
            .map_or(0, |s| u32::try_from(s.ready_replicas.max(0)).unwrap_or(0))
    }

    /// Hosts still waiting to come back for a deleted claim (for messages).
    pub fn releasing(&self) -> usize {
        self.claims
            .values()
            .filter(|c| c.metadata.deletion_timestamp.is_some())
            .count()
    }
}

/// The engine's claims and hosts as the claim flow sees them.
struct EngineClaims<'a> {
    world: &'a mut ClaimWorld,
    engine: &'a mut Engine,
    /// `namespace/name` of the claim being reconciled.
    key: &'a str,
}

#[async_trait::async_trait]
impl ClaimObjects for EngineClaims<'_> {
    type Error = ClaimWorldError;

    async fn bound_host(
        &mut self,
        me: &ClaimRef,
        _claim: &HostClaim,
    ) -> Result<Option<BareMetalHost>, ClaimWorldError> {
        Ok(claim::bound_host(me, self.engine.hosts()).cloned())
    }

    async fn secret_exists(
        &mut self,
        namespace: &str,
        name: &str,
    ) -> Result<bool, ClaimWorldError> {
        Ok(self.engine.secret(&key_of(namespace, name)).is_some())
    }

    async fn patch_host(
        &mut self,
        host: &BareMetalHost,
        patch: &Value,
        _what: &'static str,
    ) -> Result<Written<BareMetalHost>, ClaimWorldError> {
        write_host(self.engine, self.key, host, patch).map(Written::Done)
    }

    async fn bind(&mut self, me: &ClaimRef, c: &HostClaim) -> Result<Bind, ClaimWorldError> {
        // validate() runs first; an invalid selector never gets here.
        let Ok(selector) = Selector::compile(c.spec.host_selector.as_ref()) else {
            return Ok(Bind::NoHost(claim::NoHost::default()));
        };
        // No cache lag in the engine: nothing is ever in flight.
        let chosen = claim::choose(
            c,
            &selector,
            self.engine.hosts(),
            &Default::default(),
            &self.world.policy,
            &mut self.world.choice_rng,
        )
        .cloned();
        match chosen {
            Ok(h) => {
                let patch = claim::bind_patch(me, c, &h);
                let bound = write_host(self.engine, self.key, &h, &patch)?;
                Ok(Bind::Bound(Box::new(bound)))
            }
            Err(none) => Ok(Bind::NoHost(none)),
        }
    }

    async fn write_finalizers(
        &mut self,
        c: &HostClaim,
        finalizers: Vec<String>,
    ) -> Result<Written<()>, ClaimWorldError> {
        if finalizers.is_empty() && c.metadata.deletion_timestamp.is_some() {
            // The finalizer goes; with it the claim.
            self.world.claims.remove(self.key);
            self.world.forget_claim(self.key);
            return Ok(Written::Done(()));
        }
        let version = self.world.next_version();
        if let Some(stored) = self.world.claims.get_mut(self.key) {
            stored.metadata.finalizers = Some(finalizers);
            stored.metadata.resource_version = Some(version);
        }
        Ok(Written::Done(()))
    }

    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.engine.wall(self.engine.now())
    }

    async fn write_status(
        &mut self,
        c: &HostClaim,
        status: &HostClaimStatus,
    ) -> Result<(), ClaimWorldError> {
        let host = status
            .bare_metal_host
            .as_ref()
            .map(|h| h.name.clone())
            .filter(|s| !s.is_empty());
        if self.world.claim_seen.get(self.key).cloned().flatten() != host {
            self.world.happenings.push(Happening::Claim {
                claim: c.name_any(),
                host: host.clone(),
                revision: None,
            });
        }
        self.world.claim_seen.insert(self.key.to_owned(), host);
        let version = self.world.next_version();
        if let Some(stored) = self.world.claims.get_mut(self.key) {
            stored.status = Some(status.clone());
            stored.metadata.resource_version = Some(version);
        }
        Ok(())
    }

    async fn publish(&mut self, c: &HostClaim, events: Vec<ClaimEvent>) {
        let name = c.name_any();
        for ev in events {
            self.world.happenings.push(event(
                "HostClaim",
                &name,
                ev.warning,
                ev.reason,
                ev.message,
            ));
        }
    }
}

pub(super) fn event(
    kind: &str,
    name: &str,
    warning: bool,
    reason: String,
    message: String,
) -> Happening {
    Happening::Event {
        host: None,
        object: format!("{kind}/{name}"),
        reason,
        event_type: if warning { "Warning" } else { "Normal" }.to_owned(),
        message,
    }
}

/// Applies a claim core's host patch. The patch's `resourceVersion` precondition always holds
/// here (the host was read at this instant); it is checked anyway so a stale read is an error,
/// not a silent overwrite.
fn write_host(
    engine: &mut Engine,
    claim_key: &str,
    host: &BareMetalHost,
    patch: &Value,
) -> Result<BareMetalHost, ClaimWorldError> {
    let key = claim::host_key(host);
    let current = engine
        .host(&key)
        .and_then(|h| h.metadata.resource_version.clone());
    let wanted = patch
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str);
    if wanted.is_some() && wanted != current.as_deref() {
        return Err(ClaimWorldError::HostWrite {
            key,
            claim: claim_key.to_owned(),
            source: EngineError::InvalidObject("resourceVersion precondition failed".into()),
        });
    }
    let mut body = patch.clone();
    if let Some(m) = body.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
    }
    engine
        .patch_host(&key, &body)
        .map_err(|source| ClaimWorldError::HostWrite {
            key: key.clone(),
            claim: claim_key.to_owned(),
            source,
        })?;
    engine
        .host(&key)
        .cloned()
        .ok_or_else(|| ClaimWorldError::HostWrite {
            key: key.clone(),
            claim: claim_key.to_owned(),
            source: EngineError::NoSuchHost(key.clone()),
        })
}
