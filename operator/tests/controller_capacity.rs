//! The provisioning capacity gate holds under a burst: the controller reserves a slot the moment
//! a decision takes it, so hosts reconciled concurrently cannot all see the same free slot.

mod controller_support;

use std::collections::BTreeMap;
use std::time::Duration;

use controller_support::merge_patch;
use controller_support::provisioner::FakeProvisioner;
use controller_support::world::{World, host, secret};
use metal_operator::controller::Leadership;
use serde_json::{Value, json};

/// Replays every status write in order; returns the largest number of hosts that held a slot
/// (inspecting / provisioning / deprovisioning and not delayed) at the same time.
fn max_concurrent_slots(requests: &[controller_support::Recorded]) -> usize {
    let mut statuses: BTreeMap<String, Value> = BTreeMap::new();
    let mut max = 0;
    for r in requests
        .iter()
        .filter(|r| r.method == "PATCH" && r.path.ends_with("/status"))
    {
        let host = r
            .path
            .trim_end_matches("/status")
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        let Ok(body) = serde_json::from_str::<Value>(&r.body) else {
            continue;
        };
        merge_patch(statuses.entry(host).or_insert(json!({})), &body["status"]);
        let holding = statuses
            .values()
            .filter(|s| {
                matches!(
                    s["provisioning"]["state"].as_str(),
                    Some("inspecting" | "provisioning" | "deprovisioning")
                ) && s["operationalStatus"] != "delayed"
            })
            .count();
        max = max.max(holding);
    }
    max
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_hosts_never_overshoots_the_provisioning_limit() {
    let world = World::start_configured(FakeProvisioner::default(), Leadership::always(), 2).await;
    world
        .api
        .upsert("secrets", secret("bmc-burst", "admin", "pw"));
    let names: Vec<String> = (0..6).map(|i| format!("burst-{i}")).collect();
    for name in &names {
        world.api.upsert("baremetalhosts", host(name, "bmc-burst"));
    }
    // Delayed hosts retry after 1–2 minutes upstream; here they are woken by the test instead.
    let all_available = world
        .api
        .wait_until(Duration::from_secs(30), |api| {
            names
                .iter()
                .all(|n| world.state(n).as_deref() == Some("available"))
                || {
                    for n in &names {
                        if api
                            .get("baremetalhosts", "metal3", n)
                            .is_some_and(|h| h["status"]["operationalStatus"] == "delayed")
                        {
                            api.modify("baremetalhosts", "metal3", n, |h| {
                                h["metadata"]["labels"] =
                                    json!({"nudge": format!("{}", rand_label())});
                            });
                        }
                    }
                    false
                }
        })
        .await;
    let requests = world.api.requests();
    let max = max_concurrent_slots(&requests);
    assert!(
        max <= 2,
        "{max} hosts held a slot at once with a limit of 2"
    );
    assert!(max >= 1, "the gate was exercised");
    assert!(
        all_available,
        "states: {:?}",
        names.iter().map(|n| world.state(n)).collect::<Vec<_>>()
    );
    let metrics = world
        .metrics_eventually(
            "metal3_delayed__provisioning_total",
            Duration::from_secs(20),
        )
        .await;
    assert!(
        metrics.contains("metal3_delayed__provisioning_total"),
        "some host was delayed: {metrics}"
    );
    world.stop().await;
}

fn rand_label() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}

/// Delayed hosts look again after 1–2 minutes (as upstream's do); a slot released meanwhile
/// wakes the longest-waiting one at once, so with a limit of one, three hosts go through
/// inspection one after the other without waiting for those timers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_released_slot_wakes_the_next_delayed_host_at_once() {
    let world = World::start_configured(FakeProvisioner::default(), Leadership::always(), 1).await;
    world
        .api
        .upsert("secrets", secret("bmc-line", "admin", "pw"));
    let names: Vec<String> = (0..3).map(|i| format!("line-{i}")).collect();
    for name in &names {
        world.api.upsert("baremetalhosts", host(name, "bmc-line"));
    }
    // Well under the first retry of a delayed host (a minute at least): only wakes get all
    // three through in time.
    let all_available = world
        .api
        .wait_until(Duration::from_secs(25), |_| {
            names
                .iter()
                .all(|n| world.state(n).as_deref() == Some("available"))
        })
        .await;
    let requests = world.api.requests();
    assert!(
        all_available,
        "states: {:?}",
        names.iter().map(|n| world.state(n)).collect::<Vec<_>>()
    );
    assert_eq!(max_concurrent_slots(&requests), 1, "the limit held");
    let delayed = requests
        .iter()
        .filter(|r| r.method == "PATCH" && r.path.ends_with("/status"))
        .any(|r| r.body.contains("\"delayed\""));
    assert!(delayed, "some host was delayed, so the line was used");
    world.stop().await;
}

/// Every reconcile reads the host's BMC Secret; once the Secret carries the BMC label and the
/// watch has delivered it, the reads come from the labelled-Secret watch's cache, not from the
/// API server. (The first reads, before the labelled Secret reaches the cache, go to the API.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bmc_secrets_are_read_from_the_watch_cache_once_labelled() {
    let world = World::start_configured(FakeProvisioner::default(), Leadership::always(), 4).await;
    world
        .api
        .upsert("secrets", secret("bmc-cache", "admin", "pw"));
    world
        .api
        .upsert("baremetalhosts", host("cache-0", "bmc-cache"));
    let available = world
        .api
        .wait_until(Duration::from_secs(20), |_| {
            world.state("cache-0").as_deref() == Some("available")
        })
        .await;
    assert!(available, "state: {:?}", world.state("cache-0"));
    let secret_gets = |api: &controller_support::FakeApiServer| {
        api.requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path.ends_with("/secrets/bmc-cache"))
            .count()
    };
    let status_writes = |api: &controller_support::FakeApiServer| {
        api.requests()
            .iter()
            .filter(|r| r.method == "PATCH" && r.path.ends_with("/status"))
            .count()
    };
    let (gets_before, writes_before) = (secret_gets(&world.api), status_writes(&world.api));
    // More reconciles, each reading the Secret: power the host on (it was created without
    // `online`, so off).
    world
        .api
        .modify("baremetalhosts", "metal3", "cache-0", |h| {
            h["spec"]["online"] = json!(true);
        });
    let on = world
        .api
        .wait_until(Duration::from_secs(20), |api| {
            api.get("baremetalhosts", "metal3", "cache-0")
                .is_some_and(|h| h["status"]["poweredOn"] == json!(true))
        })
        .await;
    assert!(on, "the host powered on");
    let writes = status_writes(&world.api) - writes_before;
    let gets = secret_gets(&world.api) - gets_before;
    assert!(writes >= 1, "{writes} status writes while powering on");
    assert_eq!(
        gets, 0,
        "{gets} GETs of the Secret over {writes} more status writes (before: {gets_before})"
    );
    world.stop().await;
}
