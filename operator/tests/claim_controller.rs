//! The claim and pool controllers against the mocked API server. Host state changes that the
//! BareMetalHost controller would make are played by the test, so each step is under control.

mod controller_support;

use std::time::Duration;

use controller_support::FakeApiServer;
use metal_operator::controller::Leadership;
use metal_operator::controller::claims::ClaimSettings;
use metal_testkit::wait::{Check, Wait};
use serde_json::{Value, json};
use tokio::sync::oneshot;

const NS: &str = "lab";
/// Where a second, always-leading controller keeps the host and claim it serves as yardstick.
const WITNESS_NS: &str = "lab-witness";
const WAIT: Duration = Duration::from_secs(15);

struct Running {
    api: FakeApiServer,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

/// Runs the claim and pool controllers against `api` until the sender is used.
fn spawn_controllers(
    api: &FakeApiServer,
    settings: ClaimSettings,
    leadership: Leadership,
) -> (oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    controller_support::claims::spawn(api, settings, leadership)
}

impl Running {
    async fn start() -> Self {
        let api = FakeApiServer::start().await;
        let settings = ClaimSettings {
            seed: 7,
            retry: Duration::from_millis(300),
            conflict_retry: Duration::from_millis(50),
            ..ClaimSettings::default()
        };
        let (tx, task) = spawn_controllers(&api, settings, Leadership::always());
        Self {
            api,
            stop: Some(tx),
            task,
        }
    }

    async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut self.task).await;
    }

    fn host(&self, name: &str) -> Value {
        self.api.get("baremetalhosts", NS, name).unwrap()
    }

    fn claim(&self, name: &str) -> Option<Value> {
        self.api.get("hostclaims", NS, name)
    }

    fn condition(&self, claim: &str, type_: &str) -> Option<(String, String)> {
        let c = self.claim(claim)?;
        let conds = c["status"]["conditions"].as_array()?.clone();
        let found = conds.iter().find(|x| x["type"] == type_)?;
        Some((
            found["status"].as_str()?.to_owned(),
            found["reason"].as_str()?.to_owned(),
        ))
    }

    /// The message of a claim's condition.
    fn condition_message(&self, claim: &str, type_: &str) -> Option<String> {
        let c = self.claim(claim)?;
        let conds = c["status"]["conditions"].as_array()?.clone();
        let found = conds.iter().find(|x| x["type"] == type_)?;
        found["message"].as_str().map(str::to_owned)
    }

    async fn wait(&self, what: &str, mut pred: impl FnMut(&Self) -> bool) {
        if let Err(e) = Wait::new(what, WAIT)
            .until(|| Check::from(pred(self)))
            .await
        {
            panic!(
                "{e}\nclaims: {:#?}\nhosts: {:#?}",
                self.api.list("hostclaims"),
                self.api
                    .list("baremetalhosts")
                    .iter()
                    .map(|h| (h["metadata"]["name"].clone(), h["spec"].clone()))
                    .collect::<Vec<_>>()
            );
        }
    }

    fn set_state(&self, host: &str, state: &str) {
        controller_support::claims::set_state(&self.api, NS, host, state);
    }

    /// Waits for an Event with this reason (Events are published after the status write).
    async fn wait_event(&self, reason: &str) {
        self.wait(&format!("a {reason} Event"), |r| {
            !r.events(reason).is_empty()
        })
        .await;
    }

    fn events(&self, reason: &str) -> Vec<Value> {
        self.api
            .list("events")
            .into_iter()
            .filter(|e| e["reason"] == reason)
            .collect()
    }
}

fn host(name: &str, state: &str, labels: Value) -> Value {
    controller_support::claims::host(NS, name, state, labels)
}

fn claim(name: &str, spec: Value) -> Value {
    json!({"metadata": {"name": name, "namespace": NS}, "spec": spec})
}

fn image() -> Value {
    json!({"url": "http://127.0.0.1/os.qcow2", "checksum": "abc123", "checksumType": "sha256"})
}

fn seed_two_fleet(api: &FakeApiServer) {
    controller_support::claims::seed_openshift_fleet(api, NS);
}

fn user_data(api: &FakeApiServer, name: &str) {
    api.upsert(
        "secrets",
        json!({"metadata": {"name": name, "namespace": NS}, "data": {"userData": "I2Nsb3VkLWNvbmZpZw=="}}),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_takes_the_worker_never_a_master_and_follows_it_to_provisioned() {
    let run = Running::start().await;
    seed_two_fleet(&run.api);
    user_data(&run.api, "worker-ud");
    run.api.upsert(
        "hostclaims",
        claim(
            "worker",
            json!({"image": image(), "userData": {"name": "worker-ud"}, "poweredOn": true}),
        ),
    );
    run.wait("the worker is bound", |r| {
        !r.host("openshift-worker-0")["spec"]["consumerRef"].is_null()
    })
    .await;
    let worker = run.host("openshift-worker-0");
    assert_eq!(worker["spec"]["consumerRef"]["kind"], "HostClaim");
    assert_eq!(worker["spec"]["consumerRef"]["name"], "worker");
    assert_eq!(worker["spec"]["image"], image());
    assert_eq!(
        worker["spec"]["userData"],
        json!({"name": "worker-ud", "namespace": NS})
    );
    assert_eq!(worker["spec"]["online"], true);
    for i in 0..3 {
        assert!(
            run.host(&format!("openshift-master-{i}"))["spec"]["consumerRef"].is_null(),
            "masters stay unclaimed"
        );
    }
    let c = run.claim("worker").unwrap();
    assert_eq!(c["metadata"]["finalizers"], json!(["metal3.io/hostclaim"]));
    run.wait("Bound=True", |r| {
        r.condition("worker", "Bound") == Some(("True".into(), "HostBound".into()))
    })
    .await;
    assert_eq!(
        run.claim("worker").unwrap()["status"]["bareMetalHost"],
        json!({"name": "openshift-worker-0", "namespace": NS})
    );

    run.set_state("openshift-worker-0", "provisioning");
    run.wait("Ready=False Provisioning", |r| {
        r.condition("worker", "Ready") == Some(("False".into(), "Provisioning".into()))
    })
    .await;
    run.api
        .modify("baremetalhosts", NS, "openshift-worker-0", |h| {
            h["status"]["provisioning"]["state"] = json!("provisioned");
            h["status"]["poweredOn"] = json!(true);
        });
    run.wait("Ready=True", |r| {
        r.condition("worker", "Ready") == Some(("True".into(), "HostReady".into()))
    })
    .await;
    assert_eq!(run.claim("worker").unwrap()["status"]["poweredOn"], true);
    run.wait_event("HostBound").await;
    run.wait_event("HostReady").await;
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_claim_deprovisions_then_frees_the_host_before_the_claim_goes() {
    let run = Running::start().await;
    seed_two_fleet(&run.api);
    run.api.upsert(
        "hostclaims",
        claim("worker", json!({"image": image(), "poweredOn": true})),
    );
    run.wait("bound", |r| {
        !r.host("openshift-worker-0")["spec"]["consumerRef"].is_null()
    })
    .await;
    run.api
        .modify("baremetalhosts", NS, "openshift-worker-0", |h| {
            h["status"]["provisioning"]["state"] = json!("provisioned");
        });
    run.wait("finalizer", |r| {
        r.claim("worker")
            .is_some_and(|c| !c["metadata"]["finalizers"].is_null())
    })
    .await;
    run.api.delete("hostclaims", NS, "worker");
    run.wait("deployment cleared", |r| {
        r.host("openshift-worker-0")["spec"]["image"].is_null()
    })
    .await;
    let h = run.host("openshift-worker-0");
    assert_eq!(h["spec"]["online"], false);
    assert_eq!(
        h["spec"]["consumerRef"]["name"], "worker",
        "still claimed while deprovisioning"
    );
    run.set_state("openshift-worker-0", "deprovisioning");
    // The Releasing condition names the host's state: once it says deprovisioning, the controller
    // has reconciled the claim against the deprovisioning host and chosen to wait (had it let
    // go, the claim would be gone instead).
    run.wait("the claim seen against the deprovisioning host", |r| {
        r.claim("worker").is_none()
            || r.condition_message("worker", "Ready")
                .is_some_and(|m| m.contains("(it is deprovisioning)"))
    })
    .await;
    assert!(
        run.claim("worker").is_some(),
        "the claim waits for the host"
    );
    run.wait("Ready=False Releasing", |r| {
        r.condition("worker", "Ready") == Some(("False".into(), "Releasing".into()))
    })
    .await;
    run.set_state("openshift-worker-0", "available");
    run.wait("claim gone", |r| r.claim("worker").is_none())
        .await;
    assert!(run.host("openshift-worker-0")["spec"]["consumerRef"].is_null());
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_claims_for_one_host_bind_once_and_the_second_catches_up_when_it_is_free() {
    let run = Running::start().await;
    seed_two_fleet(&run.api);
    run.api.upsert("hostclaims", claim("a", json!({})));
    run.api.upsert("hostclaims", claim("b", json!({})));
    run.wait("one claim bound, the other short of hosts", |r| {
        let bound = ["a", "b"]
            .iter()
            .filter(|c| r.condition(c, "Bound").is_some_and(|(s, _)| s == "True"))
            .count();
        let short = ["a", "b"]
            .iter()
            .filter(|c| r.condition(c, "Bound") == Some(("False".into(), "NoHostAvailable".into())))
            .count();
        bound == 1 && short == 1
    })
    .await;
    let holder = run.host("openshift-worker-0")["spec"]["consumerRef"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let waiting = if holder == "a" { "b" } else { "a" };
    run.wait_event("NoHostAvailable").await;
    let binds = run
        .api
        .requests()
        .iter()
        .filter(|r| {
            r.method == "PATCH"
                && r.path.ends_with("/baremetalhosts/openshift-worker-0")
                && r.body.contains("consumerRef")
        })
        .count();
    assert_eq!(binds, 1, "the host was bound exactly once");

    run.api.delete("hostclaims", NS, &holder);
    run.wait("the waiting claim takes the freed host", |r| {
        r.host("openshift-worker-0")["spec"]["consumerRef"]["name"] == waiting
    })
    .await;
    run.wait("Bound=True", |r| {
        r.condition(waiting, "Bound")
            .is_some_and(|(s, _)| s == "True")
    })
    .await;
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_claims_get_conditions_and_events_and_bind_once_fixed() {
    let run = Running::start().await;
    seed_two_fleet(&run.api);
    run.api.upsert(
        "hostclaims",
        claim(
            "nosum",
            json!({"image": {"url": "http://127.0.0.1/os.qcow2"}}),
        ),
    );
    run.api.upsert(
        "hostclaims",
        claim(
            "noud",
            json!({"image": image(), "userData": {"name": "missing-ud"}}),
        ),
    );
    run.api.upsert(
        "hostclaims",
        claim(
            "fpga",
            json!({"hostSelector": {"matchLabels": {"role": "fpga"}}}),
        ),
    );
    run.wait("three conditions", |r| {
        r.condition("nosum", "Valid") == Some(("False".into(), "ImageChecksumMissing".into()))
            && r.condition("noud", "Valid")
                == Some(("False".into(), "UserDataSecretMissing".into()))
            && r.condition("fpga", "Bound") == Some(("False".into(), "NoMatchingHost".into()))
    })
    .await;
    for reason in [
        "ImageChecksumMissing",
        "UserDataSecretMissing",
        "NoMatchingHost",
    ] {
        run.wait_event(reason).await;
        let evs = run.events(reason);
        assert!(!evs.is_empty(), "{reason} event");
        assert_eq!(evs[0]["type"], "Warning");
    }
    assert!(run.host("openshift-worker-0")["spec"]["consumerRef"].is_null());

    user_data(&run.api, "missing-ud");
    run.wait("bound once the Secret exists", |r| {
        r.host("openshift-worker-0")["spec"]["consumerRef"]["name"] == "noud"
    })
    .await;
    assert_eq!(
        run.condition("nosum", "Valid"),
        Some(("False".into(), "ImageChecksumMissing".into())),
        "nothing lost: the bad claim keeps its condition"
    );
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_while_binding_is_retried_and_an_edit_during_provisioning_is_reported() {
    let run = Running::start().await;
    seed_two_fleet(&run.api);
    run.api
        .fail_next("PATCH", "/baremetalhosts/openshift-worker-0", 409);
    run.api.upsert(
        "hostclaims",
        claim("worker", json!({"image": image(), "poweredOn": true})),
    );
    run.wait("bound after the conflict", |r| {
        r.host("openshift-worker-0")["spec"]["consumerRef"]["name"] == "worker"
    })
    .await;
    run.set_state("openshift-worker-0", "provisioning");
    run.wait("Ready=False Provisioning", |r| {
        r.condition("worker", "Ready") == Some(("False".into(), "Provisioning".into()))
    })
    .await;
    run.api.modify("hostclaims", NS, "worker", |c| {
        c["spec"]["image"]["url"] = json!("http://127.0.0.1/os-v2.qcow2");
    });
    run.wait("Synced=False", |r| {
        r.condition("worker", "Synced") == Some(("False".into(), "ChangedWhileProvisioning".into()))
    })
    .await;
    assert_eq!(
        run.host("openshift-worker-0")["spec"]["image"]["url"],
        "http://127.0.0.1/os.qcow2",
        "the host keeps deploying what it started with"
    );
    assert_eq!(
        run.claim("worker").unwrap()["spec"]["image"]["url"],
        "http://127.0.0.1/os-v2.qcow2",
        "the edit stays in the claim"
    );
    run.wait_event("ChangedWhileProvisioning").await;
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_are_bound_only_while_leadership_is_held() {
    let api = FakeApiServer::start().await;
    seed_two_fleet(&api);
    let settings = |namespace: &str| ClaimSettings {
        watch_namespace: Some(namespace.to_owned()),
        retry: Duration::from_millis(200),
        conflict_retry: Duration::from_millis(50),
        ..ClaimSettings::default()
    };
    let (leader, leadership) = Leadership::channel();
    let (stop, task) = spawn_controllers(&api, settings(NS), leadership);
    api.upsert("hostclaims", claim("worker", json!({})));

    // Absence needs a yardstick: a leader started after the follower, watching a namespace of
    // its own with the same host and claim, binds its claim and reports it. A follower that
    // ignored its lease would have had longer for the same work, so it would have written by then.
    let mut witness_host = host("openshift-worker-0", "available", json!({}));
    witness_host["metadata"]["namespace"] = json!(WITNESS_NS);
    api.upsert("baremetalhosts", witness_host);
    let mut witness_claim = claim("worker", json!({}));
    witness_claim["metadata"]["namespace"] = json!(WITNESS_NS);
    api.upsert("hostclaims", witness_claim);
    let (witness_stop, witness_task) =
        spawn_controllers(&api, settings(WITNESS_NS), Leadership::always());
    let witness_reported = api
        .wait_until(WAIT, |a| {
            a.get("hostclaims", WITNESS_NS, "worker").is_some_and(|c| {
                c["status"]["conditions"].as_array().is_some_and(|conds| {
                    conds
                        .iter()
                        .any(|x| x["type"] == "Bound" && x["status"] == "True")
                })
            })
        })
        .await;
    assert!(witness_reported, "the witness binds its claim");

    assert!(
        api.get("baremetalhosts", NS, "openshift-worker-0").unwrap()["spec"]["consumerRef"]
            .is_null(),
        "a follower binds nothing"
    );
    let follower_writes: Vec<String> = api
        .requests()
        .iter()
        .filter(|r| r.method != "GET" && r.path.contains(&format!("/namespaces/{NS}/")))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(
        follower_writes.is_empty(),
        "a follower writes nothing: {follower_writes:?}"
    );
    leader.send_replace(true);
    let bound = api
        .wait_until(WAIT, |a| {
            !a.get("baremetalhosts", NS, "openshift-worker-0").unwrap()["spec"]["consumerRef"]
                .is_null()
        })
        .await;
    assert!(bound, "the leader binds");
    for (stop, task) in [(stop, task), (witness_stop, witness_task)] {
        let _ = stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_claims_racing_for_four_hosts_bind_each_host_exactly_once() {
    let run = Running::start().await;
    for i in 0..4 {
        run.api.upsert(
            "baremetalhosts",
            host(&format!("node-{i}"), "available", json!({})),
        );
    }
    for i in 0..8 {
        run.api
            .upsert("hostclaims", claim(&format!("c{i}"), json!({})));
    }
    run.wait("four claims bound, four short", |r| {
        let conds: Vec<_> = (0..8)
            .filter_map(|i| r.condition(&format!("c{i}"), "Bound"))
            .collect();
        conds.iter().filter(|(s, _)| s == "True").count() == 4
            && conds
                .iter()
                .filter(|(_, reason)| reason == "NoHostAvailable")
                .count()
                == 4
    })
    .await;
    let requests = run.api.requests();
    let mut holders = std::collections::BTreeSet::new();
    for i in 0..4 {
        let name = format!("node-{i}");
        let binds = requests
            .iter()
            .filter(|r| {
                r.method == "PATCH"
                    && r.path.ends_with(&format!("/baremetalhosts/{name}"))
                    && r.body.contains("\"consumerRef\":{")
            })
            .count();
        assert_eq!(binds, 1, "{name} was bound {binds} times");
        let holder = run.host(&name)["spec"]["consumerRef"]["name"].clone();
        assert!(
            holders.insert(holder.to_string()),
            "{holder} holds two hosts"
        );
    }
    run.stop().await;
}
