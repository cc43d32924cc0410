//! The controller acts only while it holds leadership and stops promptly when it loses it;
//! readiness does not depend on leadership.

mod controller_support;

use std::time::Duration;

use controller_support::provisioner::FakeProvisioner;
use controller_support::world::{NS, World, host, secret};
use metal_operator::controller::Leadership;
use serde_json::json;

fn writes(world: &World) -> usize {
    world
        .api
        .requests()
        .iter()
        .filter(|r| r.method != "GET")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_is_ready_but_writes_nothing_until_it_leads_and_stops_when_it_loses_the_lease() {
    let (tx, leadership) = Leadership::channel();
    let world = World::start_led(FakeProvisioner::default(), leadership).await;
    world.api.upsert("secrets", secret("bmc-l", "admin", "pw"));
    world.api.upsert("baremetalhosts", host("led", "bmc-l"));

    assert!(
        world
            .api
            .wait_until(Duration::from_secs(5), |_| world.readiness.is_ready())
            .await,
        "ready as a follower"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        writes(&world),
        0,
        "a follower writes nothing: {:?}",
        world.api.requests()
    );
    assert!(world.provisioner.calls().is_empty());

    tx.send_replace(true);
    assert!(
        world
            .wait_for_state("led", "available", Duration::from_secs(20))
            .await,
        "states: {:?}",
        world.status_states("led")
    );

    tx.send_replace(false);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (writes_at_loss, calls_at_loss) = (writes(&world), world.provisioner.calls().len());
    // A change that a leader would act on (re-inspection) must now be ignored.
    world.api.modify("baremetalhosts", NS, "led", |h| {
        h["metadata"]["annotations"] = json!({"inspect.metal3.io": ""});
    });
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        writes(&world),
        writes_at_loss,
        "no writes after losing leadership"
    );
    assert_eq!(
        world.provisioner.calls().len(),
        calls_at_loss,
        "no provisioner calls after losing leadership"
    );

    // Leading again picks the pending change up.
    tx.send_replace(true);
    let resumed = world
        .api
        .wait_until(Duration::from_secs(20), |_| {
            world.provisioner.calls().len() > calls_at_loss
        })
        .await;
    assert!(resumed, "acts again once leading");
    world.stop().await;
}
