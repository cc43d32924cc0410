//! One reconcile of one HostPool, written once: list the pool's claims, create the missing ones
//! under fresh random names, delete the surplus in release order, then write the pool's status
//! with its Events when it changed.
//!
//! The controller (`metal_operator::controller::pools`) runs it against the API server; the
//! simulator's engine against its in-memory objects. Where the objects live and how Events are
//! published come in through [`PoolObjects`].

use std::collections::HashSet;

use kube::ResourceExt;

use crate::api::{BareMetalHost, HostClaim, HostPool, HostPoolStatus};

use super::{PoolEvent, claim_for, events, plan, summarize};
use crate::claim::HostPolicy;

/// Names tried per new claim when the API server says a name is taken.
pub const NAME_ATTEMPTS: usize = 4;
/// Draws per name to find one no known claim has (a restarted controller's stream repeats).
pub const NAME_DRAWS: usize = 64;

/// What creating a claim under a name gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    Done,
    /// A claim of that name exists already (409).
    NameTaken,
}

/// `f(hosts, policy, now)`: summarises a pool's status (the caller supplies the arguments).
pub type Summarize<'a> = dyn FnMut(
        &mut dyn Iterator<Item = &BareMetalHost>,
        &HostPolicy,
        chrono::DateTime<chrono::Utc>,
    ) -> HostPoolStatus
    + 'a;

/// Where pools, claims and hosts live, for [`reconcile`].
#[async_trait::async_trait]
pub trait PoolObjects: Send {
    type Error: Send;
    /// False when this replica must not write (it lost the lease).
    fn may_act(&self) -> bool {
        true
    }
    /// Whether `pool` is still the live object: not deleted, not replaced by a new pool of the
    /// same name. Asked before claims are created, so a pool cache that has not yet seen the
    /// pool's deletion creates none (each would claim and provision a host until the garbage
    /// collector removed it). Stores that are the truth themselves keep the default.
    async fn is_current(&mut self, _pool: &HostPool) -> Result<bool, Self::Error> {
        Ok(true)
    }
    /// The pool's claims (by its label).
    async fn claims(&mut self, pool: &HostPool) -> Result<Vec<HostClaim>, Self::Error>;
    /// The next random claim name for the pool (the controller's seeded stream).
    fn draw_name(&mut self, pool: &HostPool) -> String;
    /// Creates `claim`.
    async fn create_claim(
        &mut self,
        pool: &HostPool,
        claim: HostClaim,
    ) -> Result<Created, Self::Error>;
    /// The error for a pool that found no free claim name in [`NAME_ATTEMPTS`] tries.
    fn no_free_name(&self, pool: &HostPool) -> Self::Error;
    /// Deletes claim `name` of the pool (gone already is fine).
    async fn delete_claim(&mut self, pool: &HostPool, name: &str) -> Result<(), Self::Error>;
    /// Calls `f` with the hosts, the host policy and the time a status is summarised with.
    fn summarize(&self, f: &mut Summarize<'_>) -> HostPoolStatus;
    /// The pool's status as last written by us (or as read).
    fn last_status(&self, pool: &HostPool) -> HostPoolStatus {
        pool.status.clone().unwrap_or_default()
    }
    /// Stores a changed status.
    async fn write_status(
        &mut self,
        pool: &HostPool,
        status: &HostPoolStatus,
    ) -> Result<(), Self::Error>;
    /// Publishes the Events a status change deserves.
    async fn publish(&mut self, pool: &HostPool, events: Vec<PoolEvent>);
}

/// What a pool reconcile did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// Names of the claims created.
    pub created: Vec<String>,
    /// Names of the claims deleted.
    pub deleted: Vec<String>,
    /// False when the replica may not act or the pool is being deleted or gone (nothing was done).
    pub acted: bool,
}

/// One reconcile of `pool`.
pub async fn reconcile<W: PoolObjects>(
    world: &mut W,
    pool: &HostPool,
) -> Result<Reconciled, W::Error> {
    // A deleted pool's owner references hand its claims to garbage collection; each claim then
    // releases its host.
    if !world.may_act() || pool.metadata.deletion_timestamp.is_some() {
        return Ok(Reconciled::default());
    }
    let mut claims = world.claims(pool).await?;
    let plan = plan(pool, &claims);
    let mut taken: HashSet<String> = claims.iter().map(ResourceExt::name_any).collect();
    if plan.create > 0 && !world.is_current(pool).await? {
        return Ok(Reconciled::default());
    }
    let mut done = Reconciled {
        acted: true,
        ..Reconciled::default()
    };
    for _ in 0..plan.create {
        done.created
            .push(create_one(world, pool, &mut taken).await?);
    }
    for name in &plan.delete {
        world.delete_claim(pool, name).await?;
        done.deleted.push(name.clone());
    }
    if plan.create > 0 || !plan.delete.is_empty() {
        claims = world.claims(pool).await?;
    }
    write_status(world, pool, &claims).await?;
    Ok(done)
}

/// Creates one claim under a fresh name no known claim has; `taken` gains it.
async fn create_one<W: PoolObjects>(
    world: &mut W,
    pool: &HostPool,
    taken: &mut HashSet<String>,
) -> Result<String, W::Error> {
    for _ in 0..NAME_ATTEMPTS {
        let mut name = world.draw_name(pool);
        for _ in 0..NAME_DRAWS {
            if !taken.contains(&name) {
                break;
            }
            name = world.draw_name(pool);
        }
        taken.insert(name.clone());
        if world
            .create_claim(pool, claim_for(pool, name.clone()))
            .await?
            == Created::Done
        {
            return Ok(name);
        }
    }
    Err(world.no_free_name(pool))
}

/// Summarises the pool from its claims and the hosts; stores the status and publishes its
/// Events when it changed.
pub async fn write_status<W: PoolObjects>(
    world: &mut W,
    pool: &HostPool,
    claims: &[HostClaim],
) -> Result<(), W::Error> {
    let old = world.last_status(pool);
    let mut view = pool.clone();
    view.status = Some(old.clone());
    let new =
        world.summarize(&mut |hosts, policy, now| summarize(&view, claims, hosts, policy, now));
    if new == old {
        return Ok(());
    }
    world.write_status(pool, &new).await?;
    world.publish(pool, events(&old, &new)).await;
    Ok(())
}
