//! Many hosts at once through the real controller: all reach `available`, and the API traffic
//! per host stays bounded (the figures are printed for the record).

mod controller_support;

use std::time::{Duration, Instant};

use controller_support::provisioner::FakeProvisioner;
use controller_support::world::{World, host, secret};
use metal_operator::controller::Leadership;

const HOSTS: usize = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_hosts_all_become_available_with_bounded_api_traffic() {
    // A limit that fits the fleet: with the default 20, ten hosts would be `delayed` and, as
    // upstream, retry only after 1–2 minutes (the capacity test covers that gate).
    let world = World::start_configured(
        FakeProvisioner::default(),
        Leadership::always(),
        u32::try_from(HOSTS).unwrap(),
    )
    .await;
    world
        .api
        .upsert("secrets", secret("bmc-fleet", "admin", "pw"));
    let names: Vec<String> = (0..HOSTS).map(|i| format!("fleet-{i:02}")).collect();
    let started = Instant::now();
    for name in &names {
        world.api.upsert("baremetalhosts", host(name, "bmc-fleet"));
    }
    let done = world
        .api
        .wait_until(Duration::from_secs(60), |_| {
            names
                .iter()
                .all(|n| world.state(n).as_deref() == Some("available"))
        })
        .await;
    let elapsed = started.elapsed();
    let requests = world.api.requests();
    let writes = requests.iter().filter(|r| r.method != "GET").count();
    let status_writes = requests
        .iter()
        .filter(|r| r.path.ends_with("/status"))
        .count();
    let calls = world.provisioner.calls().len();
    println!(
        "{HOSTS} hosts to available in {elapsed:?}: {} API requests ({writes} writes, {status_writes} status writes), {calls} provisioner actions",
        requests.len()
    );
    assert!(
        done,
        "not all available: {:?}",
        names.iter().map(|n| world.state(n)).collect::<Vec<_>>()
    );
    let registers = world
        .provisioner
        .calls()
        .iter()
        .filter(|c| c.action == "register")
        .count();
    assert_eq!(registers, HOSTS, "each host is registered exactly once");
    assert!(
        status_writes <= HOSTS * 12,
        "{status_writes} status writes for {HOSTS} hosts"
    );
    world.stop().await;
}
