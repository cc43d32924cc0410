//! Leader election against the mocked API server: create, renew, take over, conflicts, step-down.

mod controller_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use controller_support::FakeApiServer;
use metal_operator::controller::Clock;
use metal_operator::controller::election::{
    self, Attempt, ElectionSettings, Leadership, LeaseLock,
};
use serde_json::json;

fn settings(identity: &str) -> ElectionSettings {
    ElectionSettings {
        lease_name: "baremetal-operator".into(),
        lease_namespace: "metal3".into(),
        identity: identity.into(),
        lease_duration: Duration::from_secs(15),
        renew_deadline: Duration::from_millis(300),
        retry_period: Duration::from_millis(40),
    }
}

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
}

/// A clock the test moves by hand.
#[derive(Clone, Default)]
struct ManualClock(Arc<AtomicI64>);

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        at(self.0.load(Ordering::SeqCst))
    }
}

/// Every replica's monotonic clock, moved by hand: seconds since the test began.
#[derive(Clone, Default)]
struct Local(Arc<AtomicI64>);

impl Local {
    fn set(&self, secs: i64) {
        self.0.store(secs, Ordering::SeqCst);
    }

    fn clock(&self) -> election::LocalClock {
        let secs = Arc::clone(&self.0);
        Arc::new(move || Duration::from_secs(secs.load(Ordering::SeqCst).max(0).unsigned_abs()))
    }
}

/// A lock whose monotonic clock is `local`.
fn lock(api: &FakeApiServer, identity: &str, local: &Local) -> LeaseLock {
    LeaseLock::new(api.client(), settings(identity)).with_local_clock(local.clock())
}

#[tokio::test]
async fn first_candidate_creates_the_lease_and_the_second_waits_until_it_expires() {
    let api = FakeApiServer::start().await;
    let local = Local::default();
    let a = lock(&api, "a", &local);
    let b = lock(&api, "b", &local);

    assert_eq!(a.try_acquire_or_renew(at(0)).await.unwrap(), Attempt::Held);
    let lease = api.get("leases", "metal3", "baremetal-operator").unwrap();
    assert_eq!(lease["spec"]["holderIdentity"], "a");
    assert_eq!(lease["spec"]["leaseDurationSeconds"], 15);
    assert_eq!(lease["spec"]["leaseTransitions"], 0);

    local.set(5);
    assert_eq!(
        b.try_acquire_or_renew(at(5)).await.unwrap(),
        Attempt::Lost {
            holder: Some("a".into())
        }
    );
    local.set(10);
    assert_eq!(a.try_acquire_or_renew(at(10)).await.unwrap(), Attempt::Held);
    // b first sees a's renewal of 10 at 20; it must stay unchanged 15 s on b's clock.
    local.set(20);
    assert_eq!(
        b.try_acquire_or_renew(at(20)).await.unwrap(),
        Attempt::Lost {
            holder: Some("a".into())
        }
    );
    local.set(34);
    assert_eq!(
        b.try_acquire_or_renew(at(34)).await.unwrap(),
        Attempt::Lost {
            holder: Some("a".into())
        }
    );
    local.set(35);
    assert_eq!(b.try_acquire_or_renew(at(35)).await.unwrap(), Attempt::Held);
    let lease = api.get("leases", "metal3", "baremetal-operator").unwrap();
    assert_eq!(lease["spec"]["holderIdentity"], "b");
    assert_eq!(lease["spec"]["leaseTransitions"], 1);
    local.set(36);
    assert_eq!(
        a.try_acquire_or_renew(at(36)).await.unwrap(),
        Attempt::Lost {
            holder: Some("b".into())
        }
    );

    let writes: Vec<_> = api
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("/leases") && r.method != "GET")
        .map(|r| r.method)
        .collect();
    assert_eq!(writes, ["POST", "PUT", "PUT"], "create, renew, take over");
}

/// Replicas whose wall clocks are 30 s apart (either way), a leader renewing every 2 s and one
/// whose renewals are slow: a follower never takes a lease that is being renewed, and takes it
/// once renewals stop and it has seen the lease unchanged for the lease's duration.
#[tokio::test]
async fn clock_skew_never_makes_two_leaders() {
    for skew in [30, -30] {
        let api = FakeApiServer::start().await;
        let local = Local::default();
        let leader = lock(&api, "a", &local);
        let follower = lock(&api, "b", &local);
        let wall = |t: i64, of_follower: bool| at(if of_follower { t + skew } else { t });
        assert_eq!(
            leader.try_acquire_or_renew(wall(0, false)).await.unwrap(),
            Attempt::Held
        );
        for t in (1..=120).step_by(2) {
            local.set(t);
            // The leader renews every other second; the follower tries every second in between.
            if t % 4 == 1 {
                assert_eq!(
                    leader.try_acquire_or_renew(wall(t, false)).await.unwrap(),
                    Attempt::Held,
                    "skew {skew}: the leader renews at {t}"
                );
            }
            let seen = follower.try_acquire_or_renew(wall(t, true)).await.unwrap();
            assert_eq!(
                seen,
                Attempt::Lost {
                    holder: Some("a".into())
                },
                "skew {skew}: the follower must not take a lease renewed within 15 s (t = {t})"
            );
        }
        // The leader's last renewal was at 117, which the follower read right after it.
        for t in 118..132 {
            local.set(t);
            assert!(
                matches!(
                    follower.try_acquire_or_renew(wall(t, true)).await.unwrap(),
                    Attempt::Lost { .. }
                ),
                "skew {skew}: too early at {t}"
            );
        }
        local.set(132);
        assert_eq!(
            follower
                .try_acquire_or_renew(wall(132, true))
                .await
                .unwrap(),
            Attempt::Held,
            "skew {skew}: taken over after 15 s unchanged"
        );
    }
}

#[tokio::test]
async fn a_conflicting_write_loses_the_round_instead_of_failing() {
    let api = FakeApiServer::start().await;
    let a = LeaseLock::new(api.client(), settings("a"));
    assert_eq!(a.try_acquire_or_renew(at(0)).await.unwrap(), Attempt::Held);
    api.fail_next("PUT", "/leases/baremetal-operator", 409);
    assert_eq!(
        a.try_acquire_or_renew(at(1)).await.unwrap(),
        Attempt::Lost { holder: None }
    );
    api.fail_next("POST", "/leases", 409);
    let b = LeaseLock::new(
        api.client(),
        ElectionSettings {
            lease_name: "other".into(),
            ..settings("b")
        },
    );
    assert_eq!(
        b.try_acquire_or_renew(at(1)).await.unwrap(),
        Attempt::Lost { holder: None }
    );
}

#[tokio::test]
async fn a_server_error_is_an_error_naming_the_lease() {
    let api = FakeApiServer::start().await;
    let a = LeaseLock::new(api.client(), settings("a"));
    api.fail_next("GET", "/leases/baremetal-operator", 500);
    let err = a.try_acquire_or_renew(at(0)).await.unwrap_err();
    assert!(
        err.to_string().contains("metal3/baremetal-operator"),
        "{err}"
    );
}

#[tokio::test]
async fn the_elector_steps_down_promptly_when_another_replica_takes_the_lease() {
    let api = FakeApiServer::start().await;
    let clock = ManualClock::default();
    let (tx, mut leadership) = Leadership::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let lock = LeaseLock::new(api.client(), settings("a"));
    let elector = tokio::spawn(election::run(lock, clock.clone(), tx, async {
        let _ = stop_rx.await;
    }));

    tokio::time::timeout(Duration::from_secs(5), leadership.acquired())
        .await
        .expect("acquired");
    assert!(leadership.is_leader());

    // Another replica overwrites the lease with a fresh renewal in its own name.
    api.modify("leases", "metal3", "baremetal-operator", |l| {
        l["spec"]["holderIdentity"] = json!("b");
        l["spec"]["renewTime"] = json!("2027-01-15T08:00:30.000000Z");
    });
    tokio::time::timeout(Duration::from_secs(2), leadership.lost())
        .await
        .expect("stepped down");
    assert!(!leadership.is_leader());

    stop_tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(2), elector)
        .await
        .expect("elector stops")
        .unwrap();
    // Not the holder any more, so shutting down must not clear b's claim.
    let lease = api.get("leases", "metal3", "baremetal-operator").unwrap();
    assert_eq!(lease["spec"]["holderIdentity"], "b");
}

#[tokio::test]
async fn a_leader_that_cannot_renew_steps_down_after_the_renew_deadline_and_releases_on_exit() {
    let api = FakeApiServer::start().await;
    let (tx, mut leadership) = Leadership::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let lock = LeaseLock::new(api.client(), settings("a"));
    let elector = tokio::spawn(election::run(lock, ManualClock::default(), tx, async {
        let _ = stop_rx.await;
    }));
    tokio::time::timeout(Duration::from_secs(5), leadership.acquired())
        .await
        .expect("acquired");

    for _ in 0..40 {
        api.fail_next("GET", "/leases/baremetal-operator", 503);
    }
    let started = tokio::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(3), leadership.lost())
        .await
        .expect("stepped down");
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "not before the deadline"
    );

    // Let renewals succeed again: leadership comes back, and a clean exit releases the lease.
    api.modify("leases", "metal3", "baremetal-operator", |_| {});
    tokio::time::timeout(Duration::from_secs(5), leadership.acquired())
        .await
        .expect("re-acquired");
    stop_tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(2), elector)
        .await
        .expect("elector stops")
        .unwrap();
    let lease = api.get("leases", "metal3", "baremetal-operator").unwrap();
    assert!(
        lease["spec"]["holderIdentity"].is_null(),
        "released: {lease}"
    );
}
