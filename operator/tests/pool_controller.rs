//! The pool controller (with the claim controller) against the mocked API server: scale up,
//! scale down with host release, reuse, and a shortage that heals when hosts appear.

mod controller_support;

use std::time::Duration;

use controller_support::FakeApiServer;
use metal_operator::controller::Leadership;
use metal_operator::controller::claims::ClaimSettings;
use metal_testkit::wait::{Check, Wait};
use serde_json::{Value, json};
use tokio::sync::oneshot;

const NS: &str = "lab";
const WAIT: Duration = Duration::from_secs(15);

async fn start(api: &FakeApiServer) -> (oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let settings = ClaimSettings {
        seed: 11,
        retry: Duration::from_millis(300),
        conflict_retry: Duration::from_millis(50),
        ..ClaimSettings::default()
    };
    controller_support::claims::spawn(api, settings, Leadership::always())
}

async fn wait(api: &FakeApiServer, what: &str, mut pred: impl FnMut(&FakeApiServer) -> bool) {
    if let Err(e) = Wait::new(what, WAIT).until(|| Check::from(pred(api))).await {
        panic!(
            "{e}\npools: {:#?}\nclaims: {:#?}",
            api.list("hostpools"),
            api.list("hostclaims")
        );
    }
}

fn host(name: &str, state: &str, labels: Value) -> Value {
    controller_support::claims::host(NS, name, state, labels)
}

fn pool(name: &str, replicas: i32, selector: Value) -> Value {
    json!({
        "metadata": {"name": name, "namespace": NS, "generation": 1},
        "spec": {"replicas": replicas, "template": {"spec": {
            "hostSelector": selector, "poweredOn": true,
            "image": {"url": "http://127.0.0.1/os.qcow2", "checksum": "abc123"}}}},
    })
}

fn claims_of(api: &FakeApiServer, pool: &str) -> Vec<Value> {
    api.list("hostclaims")
        .into_iter()
        .filter(|c| c["metadata"]["labels"]["metal-operator.io/pool"] == pool)
        .collect()
}

fn consumer(api: &FakeApiServer, host: &str) -> Value {
    api.get("baremetalhosts", NS, host).unwrap()["spec"]["consumerRef"]["name"].clone()
}

fn set_state(api: &FakeApiServer, host: &str, state: &str) {
    controller_support::claims::set_state(api, NS, host, state);
}

/// The message of a claim's Ready condition.
fn ready_message(api: &FakeApiServer, claim: &str) -> Option<String> {
    let claim = api.get("hostclaims", NS, claim)?;
    claim["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")?["message"]
        .as_str()
        .map(str::to_owned)
}

fn pool_status(api: &FakeApiServer, name: &str) -> Value {
    api.get("hostpools", NS, name).unwrap()["status"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_one_zero_one_provisions_releases_and_reuses_the_worker() {
    let api = FakeApiServer::start().await;
    controller_support::claims::seed_openshift_fleet(&api, NS);
    api.upsert("hostpools", pool("ostest-worker-0", 0, json!({})));
    let (stop, task) = start(&api).await;

    wait(&api, "status with zero replicas", |a| {
        pool_status(a, "ostest-worker-0")["selector"] == "metal-operator.io/pool=ostest-worker-0"
    })
    .await;
    assert!(claims_of(&api, "ostest-worker-0").is_empty());

    api.modify("hostpools", NS, "ostest-worker-0", |p| {
        p["spec"]["replicas"] = json!(1);
    });
    wait(&api, "one claim binds the worker", |a| {
        let claims = claims_of(a, "ostest-worker-0");
        claims.len() == 1 && consumer(a, "openshift-worker-0") == claims[0]["metadata"]["name"]
    })
    .await;
    let first = claims_of(&api, "ostest-worker-0")[0]["metadata"]["name"].clone();
    let claim = &claims_of(&api, "ostest-worker-0")[0];
    assert_eq!(claim["metadata"]["ownerReferences"][0]["kind"], "HostPool");
    for i in 0..3 {
        assert!(consumer(&api, &format!("openshift-master-{i}")).is_null());
    }
    api.modify("baremetalhosts", NS, "openshift-worker-0", |h| {
        h["status"]["provisioning"]["state"] = json!("provisioned");
        h["status"]["poweredOn"] = json!(true);
    });
    wait(&api, "pool ready", |a| {
        let s = pool_status(a, "ostest-worker-0");
        s["readyReplicas"] == 1 && s["boundReplicas"] == 1 && s["replicas"] == 1
    })
    .await;
    assert_eq!(
        pool_status(&api, "ostest-worker-0")["claimedHosts"],
        json!([format!("{NS}/openshift-worker-0")])
    );

    api.modify("hostpools", NS, "ostest-worker-0", |p| {
        p["spec"]["replicas"] = json!(0);
    });
    wait(&api, "deployment cleared on scale down", |a| {
        a.get("baremetalhosts", NS, "openshift-worker-0").unwrap()["spec"]["image"].is_null()
    })
    .await;
    set_state(&api, "openshift-worker-0", "deprovisioning");
    // The claim's Releasing condition names the host's state: once it says deprovisioning, the
    // claim controller has reconciled against the deprovisioning host and chosen to wait (had it
    // let go, the host would have lost its consumer instead).
    wait(
        &api,
        "the claim seen against the deprovisioning host",
        |a| {
            consumer(a, "openshift-worker-0") != first
                || ready_message(a, first.as_str().unwrap_or_default())
                    .is_some_and(|m| m.contains("(it is deprovisioning)"))
        },
    )
    .await;
    assert_eq!(
        consumer(&api, "openshift-worker-0"),
        first,
        "held while deprovisioning"
    );
    set_state(&api, "openshift-worker-0", "available");
    wait(&api, "host free and claim gone", |a| {
        consumer(a, "openshift-worker-0").is_null() && claims_of(a, "ostest-worker-0").is_empty()
    })
    .await;

    api.modify("hostpools", NS, "ostest-worker-0", |p| {
        p["spec"]["replicas"] = json!(1);
    });
    wait(&api, "a new claim reuses the worker", |a| {
        let claims = claims_of(a, "ostest-worker-0");
        claims.len() == 1
            && claims[0]["metadata"]["name"] != first
            && consumer(a, "openshift-worker-0") == claims[0]["metadata"]["name"]
    })
    .await;
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_short_of_hosts_says_so_and_catches_up_when_one_becomes_available() {
    let api = FakeApiServer::start().await;
    api.upsert(
        "baremetalhosts",
        host("gpu-0", "available", json!({"role": "gpu"})),
    );
    api.upsert(
        "baremetalhosts",
        host("cpu-0", "available", json!({"role": "compute"})),
    );
    api.upsert(
        "baremetalhosts",
        host("gpu-1", "inspecting", json!({"role": "gpu"})),
    );
    api.upsert(
        "hostpools",
        pool("gpu", 2, json!({"matchLabels": {"role": "gpu"}})),
    );
    api.upsert(
        "hostpools",
        pool("compute", 1, json!({"matchLabels": {"role": "compute"}})),
    );
    let (stop, task) = start(&api).await;

    wait(&api, "gpu pool short of hosts", |a| {
        let s = pool_status(a, "gpu");
        s["replicas"] == 2
            && s["boundReplicas"] == 1
            && s["conditions"].as_array().is_some_and(|c| {
                c.iter().any(|x| {
                    x["type"] == "HostsAvailable"
                        && x["status"] == "False"
                        && x["reason"] == "NotEnoughHosts"
                })
            })
    })
    .await;
    wait(
        &api,
        "the compute pool takes cpu-0 and the shortage is an Event",
        |a| {
            consumer(a, "cpu-0")
                .as_str()
                .is_some_and(|n| n.starts_with("compute-"))
                && a.list("events")
                    .iter()
                    .any(|e| e["reason"] == "NotEnoughHosts" && e["type"] == "Warning")
        },
    )
    .await;
    assert_eq!(
        consumer(&api, "gpu-0")
            .as_str()
            .map(|n| n.starts_with("gpu-")),
        Some(true)
    );

    set_state(&api, "gpu-1", "available");
    wait(&api, "the waiting gpu claim binds gpu-1", |a| {
        consumer(a, "gpu-1")
            .as_str()
            .is_some_and(|n| n.starts_with("gpu-"))
    })
    .await;
    wait(&api, "shortage over", |a| {
        pool_status(a, "gpu")["conditions"]
            .as_array()
            .is_some_and(|c| {
                c.iter()
                    .any(|x| x["type"] == "HostsAvailable" && x["status"] == "True")
            })
    })
    .await;
    assert_ne!(consumer(&api, "gpu-0"), consumer(&api, "gpu-1"));

    api.modify("hostpools", NS, "gpu", |p| {
        p["spec"]["replicas"] = json!(1);
    });
    wait(&api, "one gpu claim released", |a| {
        [consumer(a, "gpu-0"), consumer(a, "gpu-1")]
            .iter()
            .filter(|c| !c.is_null())
            .count()
            == 1
            || a.get("baremetalhosts", NS, "gpu-0").unwrap()["spec"]["image"].is_null()
            || a.get("baremetalhosts", NS, "gpu-1").unwrap()["spec"]["image"].is_null()
    })
    .await;
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_controller_does_not_retry_claim_names_its_seed_already_used() {
    let api = FakeApiServer::start().await;
    api.upsert("hostpools", pool("workers", 5, json!({})));
    let (stop, task) = start(&api).await;
    wait(&api, "five claims", |a| claims_of(a, "workers").len() == 5).await;
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;

    let posts = |a: &FakeApiServer| {
        a.requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/hostclaims"))
            .count()
    };
    let before = posts(&api);
    assert_eq!(before, 5);
    // Same seed: the new controller's name stream starts over with the five names in use.
    api.modify("hostpools", NS, "workers", |p| {
        p["spec"]["replicas"] = json!(7);
    });
    let (stop, task) = start(&api).await;
    wait(&api, "seven claims", |a| claims_of(a, "workers").len() == 7).await;
    // The pool's status is written after the creations of the same reconcile, from a fresh list:
    // once it counts seven, every create of the scale-up, refused or not, has been sent.
    wait(&api, "the pool reports seven", |a| {
        pool_status(a, "workers")["replicas"] == 7
    })
    .await;
    assert_eq!(
        posts(&api) - before,
        2,
        "two creations, none refused for a name already taken"
    );
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
}

/// A pool deleted while the controller's pool cache still holds it: a change to one of its claims
/// wakes the stale pool, which must read itself back and create nothing. (Creating would claim a
/// host for a claim the garbage collector then deletes: e2e `pools` once saw two hosts
/// provisioned for a pool already deleted.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_deleted_before_its_cache_knows_creates_no_claims() {
    let api = FakeApiServer::start().await;
    api.upsert(
        "hostpools",
        pool("gpu", 1, json!({"matchLabels": {"role": "gpu"}})),
    );
    let (stop, task) = start(&api).await;
    wait(&api, "the pool's claim", |a| claims_of(a, "gpu").len() == 1).await;
    let claim = claims_of(&api, "gpu")[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = api.requests().len();
    api.remove_unseen("hostpools", NS, "gpu");
    api.delete("hostclaims", NS, &claim);
    let creates = |a: &FakeApiServer| {
        a.requests()[before..]
            .iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/hostclaims"))
            .count()
    };
    wait(&api, "the stale pool to act (read itself or create)", |a| {
        creates(a) > 0
            || a.requests()[before..]
                .iter()
                .any(|r| r.method == "GET" && r.path.ends_with("/hostpools/gpu"))
    })
    .await;
    assert_eq!(creates(&api), 0, "claims: {:#?}", api.list("hostclaims"));
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
}
