//! The pool half of engine mode's claim world: each tick a pool's scale plan (claims to create,
//! claims to delete in release order) and its status, from the operator's pure pool core
//! (`metal_operator::pool`), in the order `controller::pools::reconcile_pool` runs them.

use kube::ResourceExt;
use metal_operator::api::hostpool::POOL_LABEL;
use metal_operator::api::{HostClaim, HostPool, HostPoolStatus};
use metal_operator::claim;
use metal_operator::pool;

use super::claims::{ClaimWorld, event, key_of};
use super::simulation::Engine;
use crate::scenario::trace::Happening;

/// Draws per new claim name to find one no claim has (the pool controller's bound).
const NAME_DRAWS: usize = 64;

impl ClaimWorld {
    pub(super) fn reconcile_pool(&mut self, engine: &Engine, key: &str) {
        let Some(p) = self.pools.get(key).cloned() else {
            return;
        };
        let claims: Vec<HostClaim> = self
            .claims
            .values()
            .filter(|c| c.labels().get(POOL_LABEL) == Some(&p.name_any()))
            .cloned()
            .collect();
        let plan = pool::plan(&p, &claims);
        let mut taken: Vec<String> = claims.iter().map(ResourceExt::name_any).collect();
        let now = claim::progress::to_time(engine.wall(engine.now()));
        for _ in 0..plan.create {
            let mut name = pool::claim_name(&p, &mut self.name_rng);
            for _ in 0..NAME_DRAWS {
                if !taken.contains(&name) && !self.claims.contains_key(&key_of_pool(&p, &name)) {
                    break;
                }
                name = pool::claim_name(&p, &mut self.name_rng);
            }
            if self.claims.contains_key(&key_of_pool(&p, &name)) {
                // The API server would refuse the name (409); the wire controller gives up this
                // round (`NoFreeName`) and the next one tries again.
                break;
            }
            taken.push(name.clone());
            let mut c = pool::claim_for(&p, name.clone());
            c.metadata.uid = Some(self.next_uid("claim"));
            c.metadata.creation_timestamp = Some(now.clone());
            c.metadata.resource_version = Some(self.next_version());
            self.claims.insert(key_of_pool(&p, &name), c);
        }
        for name in &plan.delete {
            self.delete_claim(&key_of_pool(&p, name), now.clone());
        }
        self.pool_status(engine, key);
    }

    pub(super) fn pool_status(&mut self, engine: &Engine, key: &str) {
        let Some(p) = self.pools.get(key).cloned() else {
            return;
        };
        let claims: Vec<&HostClaim> = self
            .claims
            .values()
            .filter(|c| c.labels().get(POOL_LABEL) == Some(&p.name_any()))
            .collect();
        let old = p.status.clone().unwrap_or_default();
        let new: HostPoolStatus = pool::summarize(
            &p,
            claims,
            engine.hosts(),
            &self.policy,
            engine.wall(engine.now()),
        );
        if new == old {
            return;
        }
        let name = p.name_any();
        for ev in pool::events(&old, &new) {
            self.happenings
                .push(event("HostPool", &name, ev.warning, ev.reason, ev.message));
        }
        if let Some(stored) = self.pools.get_mut(key) {
            stored.status = Some(new);
        }
        self.observe_pool(key);
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

fn key_of_pool(p: &HostPool, name: &str) -> String {
    key_of(&p.namespace().unwrap_or_default(), name)
}
