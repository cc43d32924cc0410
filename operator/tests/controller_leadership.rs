//! The controller acts only while it holds leadership and stops promptly when it loses it;
//! readiness does not depend on leadership.

mod controller_support;

use std::time::Duration;

use controller_support::provisioner::FakeProvisioner;
use controller_support::world::{NS, World, host, host_in, secret, secret_in};
use metal_operator::controller::Leadership;
use serde_json::json;

/// Where the witness, a second controller that always leads, keeps its own host.
const WITNESS_NS: &str = "metal3-witness";

/// Requests other than reads about the objects of `NS` (the witness's live in `WITNESS_NS`).
fn writes(world: &World) -> Vec<String> {
    world
        .api
        .requests()
        .iter()
        .filter(|r| r.method != "GET" && r.path.contains(&format!("/namespaces/{NS}/")))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

fn ask_for_inspection(world: &World, name: &str) {
    world
        .api
        .modify("baremetalhosts", &world.namespace, name, |h| {
            h["metadata"]["annotations"] = json!({"inspect.metal3.io": ""});
        });
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
    // Absence needs a yardstick: a leader started after the follower, on the same server and the
    // same kind of host, takes its host all the way to available. A follower that ignored its
    // lease would have had longer for the same work, so it would have written long before then.
    let witness = World::start_beside(
        &world.api,
        WITNESS_NS,
        FakeProvisioner::default(),
        Leadership::always(),
    );
    witness
        .api
        .upsert("secrets", secret_in(WITNESS_NS, "bmc-w", "admin", "pw"));
    witness
        .api
        .upsert("baremetalhosts", host_in(WITNESS_NS, "witness", "bmc-w"));
    assert!(
        witness
            .wait_for_state("witness", "available", Duration::from_secs(20))
            .await,
        "the witness leads its host to available: {:?}",
        witness.status_states("witness")
    );
    assert_eq!(
        writes(&world),
        Vec::<String>::new(),
        "a follower writes nothing"
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
    // The server sees the term's watch (BMC Secrets) end when the controller is dropped: from
    // then on nothing of it is left running that could write. The one watch left is the host
    // cache's, which reads only and runs leading or not, as controller-runtime's informers do.
    assert!(
        world
            .api
            .wait_until(Duration::from_secs(5), |api| api.open_watches(NS) == 1)
            .await,
        "the controller stops its term's watches when it loses the lease; open: {}",
        world.api.open_watches(NS)
    );
    let (writes_at_loss, calls_at_loss) = (writes(&world).len(), world.provisioner.calls().len());
    // A change that a leader would act on (re-inspection) must now be ignored. The witness, still
    // leading, gets the same change: once it has acted on it, a controller that kept running
    // after losing the lease would have acted too.
    let witness_calls = witness.provisioner.calls().len();
    ask_for_inspection(&world, "led");
    ask_for_inspection(&witness, "witness");
    assert!(
        witness
            .api
            .wait_until(Duration::from_secs(20), |_| {
                witness.provisioner.calls().len() > witness_calls
            })
            .await,
        "the witness acts on the re-inspection"
    );
    assert_eq!(
        writes(&world)[writes_at_loss..],
        [] as [String; 0],
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
    witness.stop().await;
    world.stop().await;
}
