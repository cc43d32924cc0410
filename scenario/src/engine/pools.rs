//! The pool half of engine mode's claim world: each tick a pool is reconciled by the operator's
//! own pool flow (`metal_core::pool::flow`: scale plan, claims created under fresh names or
//! deleted in release order, status and Events), against the engine's objects.

use kube::ResourceExt;
use metal_core::api::hostpool::POOL_LABEL;
use metal_core::api::{HostClaim, HostPool, HostPoolStatus};
use metal_core::claim;
use metal_core::pool::flow::{self, Created, PoolObjects, Summarize};
use metal_core::pool::{self, PoolEvent};

use super::claims::{ClaimWorld, ClaimWorldError, event, key_of};
use super::ironic::run;
use super::simulation::Engine;
use crate::trace::Happening;

impl ClaimWorld {
    /// The pool `key` and the engine's objects as its flow sees them.
    fn pool_objects<'a>(
        &'a mut self,
        engine: &'a Engine,
        key: &'a str,
    ) -> Option<(HostPool, EnginePools<'a>)> {
        let p = self.pools.get(key).cloned()?;
        Some((
            p,
            EnginePools {
                world: self,
                engine,
                key,
            },
        ))
    }

    pub(super) fn reconcile_pool(&mut self, engine: &Engine, key: &str) {
        let Some((p, mut objects)) = self.pool_objects(engine, key) else {
            return;
        };
        // A pool that found no free claim name gives up this round, as the wire controller
        // does (its error backs off); the next tick tries again.
        let _ = run(flow::reconcile(&mut objects, &p));
    }

    /// The pool's status again, from its claims as they are now (the owner watch in wire mode).
    pub(super) fn pool_status(&mut self, engine: &Engine, key: &str) {
        let Some((p, mut objects)) = self.pool_objects(engine, key) else {
            return;
        };
        let claims = objects.pool_claims(&p);
        let _ = run(flow::write_status(&mut objects, &p, &claims));
    }

    /// Records the pool's (replicas, ready) when it changed, as the wire runner's pool watch
    /// does on any write of the pool.
    pub(super) fn observe_pool(&mut self, key: &str) {
        let Some(p) = self.pools.get(key) else {
            return;
        };
        let ready = p.status.as_ref().map_or(0, |s| s.ready_replicas);
        let counts = (
            u32::try_from(p.spec.replicas.max(0)).unwrap_or(0),
            u32::try_from(ready.max(0)).unwrap_or(0),
        );
        if self.pool_seen.get(key) != Some(&counts) {
            self.pool_seen.insert(key.to_owned(), counts);
            self.happenings.push(Happening::Pool {
                pool: p.name_any(),
                replicas: counts.0,
                ready: counts.1,
            });
        }
    }
}

/// The engine's pools, claims and hosts as the pool flow sees them.
struct EnginePools<'a> {
    world: &'a mut ClaimWorld,
    engine: &'a Engine,
    /// `namespace/name` of the pool being reconciled.
    key: &'a str,
}

impl EnginePools<'_> {
    fn pool_claims(&self, p: &HostPool) -> Vec<HostClaim> {
        self.world
            .claims
            .values()
            .filter(|c| c.labels().get(POOL_LABEL) == Some(&p.name_any()))
            .cloned()
            .collect()
    }
}

fn key_of_pool(p: &HostPool, name: &str) -> String {
    key_of(&p.namespace().unwrap_or_default(), name)
}

#[async_trait::async_trait]
impl PoolObjects for EnginePools<'_> {
    type Error = ClaimWorldError;

    async fn claims(&mut self, p: &HostPool) -> Result<Vec<HostClaim>, ClaimWorldError> {
        Ok(self.pool_claims(p))
    }

    fn draw_name(&mut self, p: &HostPool) -> String {
        pool::claim_name(p, &mut self.world.name_rng)
    }

    async fn create_claim(
        &mut self,
        p: &HostPool,
        mut c: HostClaim,
    ) -> Result<Created, ClaimWorldError> {
        let key = key_of_pool(p, &c.name_any());
        if self.world.claims.contains_key(&key) {
            return Ok(Created::NameTaken);
        }
        let now = claim::progress::to_time(self.engine.wall(self.engine.now()));
        c.metadata.uid = Some(self.world.next_uid("claim"));
        c.metadata.creation_timestamp = Some(now);
        c.metadata.resource_version = Some(self.world.next_version());
        self.world.claims.insert(key, c);
        Ok(Created::Done)
    }

    fn no_free_name(&self, p: &HostPool) -> ClaimWorldError {
        ClaimWorldError::NoFreeName(key_of_pool(p, &p.name_any()))
    }

    async fn delete_claim(&mut self, p: &HostPool, name: &str) -> Result<(), ClaimWorldError> {
        let now = claim::progress::to_time(self.engine.wall(self.engine.now()));
        self.world.delete_claim(&key_of_pool(p, name), now);
        Ok(())
    }

    fn summarize(&self, f: &mut Summarize<'_>) -> HostPoolStatus {
        f(
            &mut self.engine.hosts(),
            &self.world.policy,
            self.engine.wall(self.engine.now()),
        )
    }

    async fn write_status(
        &mut self,
        _p: &HostPool,
        status: &HostPoolStatus,
    ) -> Result<(), ClaimWorldError> {
        if let Some(stored) = self.world.pools.get_mut(self.key) {
            stored.status = Some(status.clone());
        }
        self.world.observe_pool(self.key);
        Ok(())
    }

    async fn publish(&mut self, p: &HostPool, events: Vec<PoolEvent>) {
        let name = p.name_any();
        for ev in events {
            self.world
                .happenings
                .push(event("HostPool", &name, ev.warning, ev.reason, ev.message));
        }
    }
}
