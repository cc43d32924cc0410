//! Reconciler tests: the real controller against a mocked API server and a provisioner double.

mod controller_support;

use std::time::Duration;

use controller_support::provisioner::FakeProvisioner;
use controller_support::world::{NS, World, host, secret};
use serde_json::Value;

const LONG: Duration = Duration::from_secs(20);

fn first_index(
    requests: &[controller_support::Recorded],
    pred: impl Fn(&controller_support::Recorded) -> bool,
) -> Option<usize> {
    requests.iter().position(pred)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_host_gets_the_finalizer_then_registers_and_reports_upstream_state_strings() {
    let world = World::start().await;
    world
        .api
        .upsert("secrets", secret("bmc-0", "admin", "pw-0"));
    world.api.upsert("baremetalhosts", host("host-0", "bmc-0"));

    assert!(
        world.wait_for_state("host-0", "available", LONG).await,
        "states: {:?}",
        world.status_states("host-0")
    );

    let reqs = world.api.requests();
    let finalizer = first_index(&reqs, |r| {
        r.method == "PATCH"
            && r.path.ends_with("/baremetalhosts/host-0")
            && r.body.contains("\"baremetalhost.metal3.io\"")
    })
    .expect("finalizer patch");
    let first_status = first_index(&reqs, |r| {
        r.method == "PATCH" && r.path.ends_with("/baremetalhosts/host-0/status")
    })
    .expect("status patch");
    assert!(
        finalizer < first_status,
        "finalizer is added before any status is written"
    );
    assert!(
        reqs.iter()
            .filter(|r| r.path.ends_with("/baremetalhosts/host-0/status"))
            .all(|r| r.content_type == "application/merge-patch+json"),
        "status goes through the status subresource as a merge patch"
    );

    let states = world.status_states("host-0");
    let mut seen: Vec<&str> = states
        .iter()
        .map(String::as_str)
        .filter(|s| !s.is_empty())
        .collect();
    seen.dedup();
    assert_eq!(seen.first(), Some(&"registering"), "{states:?}");
    assert_eq!(
        states.iter().filter(|s| *s == "registering").count(),
        1,
        "each state is written once: {states:?}"
    );
    let pos = |s: &str| seen.iter().position(|x| *x == s);
    assert!(
        pos("registering") < pos("inspecting")
            && pos("inspecting") < pos("preparing")
            && pos("preparing") < pos("available"),
        "{seen:?}"
    );

    assert_eq!(world.provisioner.count("host-0", "register"), 1);
    assert!(world.provisioner.count("host-0", "inspect") >= 1);
    let host = world.api.get("baremetalhosts", NS, "host-0").unwrap();
    assert_ne!(host["status"]["operationalStatus"], "error");
    assert!(host["status"]["errorType"].is_null(), "{host}");
    assert_eq!(host["status"]["provisioning"]["ID"], "0000-node-1");
    let secret = world.api.get("secrets", NS, "bmc-0").unwrap();
    assert_eq!(
        secret["metadata"]["labels"]["environment.metal3.io"], "baremetal",
        "BMC secret is labelled"
    );

    let hd = world
        .api
        .get("hardwaredata", NS, "host-0")
        .expect("hardware data written");
    assert_eq!(hd["spec"]["hardware"]["ramMebibytes"], 8192);
    assert_eq!(hd["metadata"]["ownerReferences"][0]["name"], "host-0");
    assert_eq!(
        hd["metadata"]["finalizers"][0],
        "baremetalhost.metal3.io/hardwareData"
    );

    let metrics = world.metrics_eventually("metal3_provisioning_state_change_total{prev_state=\"registering\",new_state=\"inspecting\"} 1", LONG).await;
    assert!(metrics.contains("metal3_provisioning_state_change_total{prev_state=\"registering\",new_state=\"inspecting\"} 1"), "{metrics}");
    assert!(world.readiness.is_ready());
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_secret_triggers_re_registration_with_the_new_password() {
    let world = World::start().await;
    world
        .api
        .upsert("secrets", secret("bmc-1", "admin", "old-password"));
    world.api.upsert("baremetalhosts", host("host-1", "bmc-1"));
    assert!(
        world.wait_for_state("host-1", "available", LONG).await,
        "states: {:?}",
        world.status_states("host-1")
    );
    assert_eq!(world.provisioner.count("host-1", "register"), 1);

    let mut changed = world.api.get("secrets", NS, "bmc-1").unwrap();
    changed["data"] = secret("bmc-1", "admin", "new-password")["data"].clone();
    world.api.upsert("secrets", changed);

    let reregistered = world
        .api
        .wait_until(LONG, |_| world.provisioner.count("host-1", "register") >= 2)
        .await;
    assert!(reregistered, "calls: {:?}", world.provisioner.calls());
    let last = world
        .provisioner
        .calls()
        .into_iter()
        .rev()
        .find(|c| c.action == "register")
        .unwrap();
    assert_eq!(last.password.as_deref(), Some("new-password"));
    assert!(world.wait_for_state("host-1", "available", LONG).await);
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_with_a_missing_secret_gets_a_registration_error_while_another_host_progresses() {
    let world = World::start().await;
    world
        .api
        .upsert("secrets", secret("bmc-good", "admin", "pw"));
    world
        .api
        .upsert("baremetalhosts", host("bad", "does-not-exist"));
    world.api.upsert("baremetalhosts", host("good", "bmc-good"));

    assert!(
        world.wait_for_state("good", "available", LONG).await,
        "states: {:?}",
        world.status_states("good")
    );
    let errored = world
        .api
        .wait_until(LONG, |api| {
            api.get("baremetalhosts", NS, "bad")
                .is_some_and(|h| h["status"]["errorType"] == "registration error")
        })
        .await;
    assert!(
        errored,
        "bad host: {:?}",
        world.api.get("baremetalhosts", NS, "bad")
    );
    let bad = world.api.get("baremetalhosts", NS, "bad").unwrap();
    assert_eq!(bad["status"]["operationalStatus"], "error");
    let message = bad["status"]["errorMessage"].as_str().unwrap_or_default();
    assert!(
        message.contains("does-not-exist"),
        "error message names the secret: {message}"
    );
    assert_eq!(
        world.provisioner.count("bad", "register"),
        0,
        "nothing is registered without credentials"
    );

    let warned = world
        .api
        .wait_until(LONG, |api| {
            api.list("events").iter().any(|e| {
                e["type"] == "Warning"
                    && e["regarding"]["name"] == "bad"
                    && e["reportingController"] == "metal3-baremetal-controller"
            })
        })
        .await;
    assert!(warned, "events: {:?}", world.api.list("events"));
    let metrics = world
        .metrics_eventually(
            "metal3_host_error_total{error_type=\"registration error\"}",
            LONG,
        )
        .await;
    assert!(
        metrics.contains("metal3_host_error_total{error_type=\"registration error\"}"),
        "{metrics}"
    );
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_registration_is_an_error_status_and_the_host_is_retried() {
    let provisioner = FakeProvisioner::default();
    provisioner.refuse_register("refused", "driver ipmi is not enabled");
    let world = World::start_with(provisioner).await;
    world.api.upsert("secrets", secret("bmc-r", "admin", "pw"));
    world.api.upsert("baremetalhosts", host("refused", "bmc-r"));
    let errored = world
        .api
        .wait_until(LONG, |api| {
            api.get("baremetalhosts", NS, "refused")
                .is_some_and(|h| h["status"]["errorType"] == "registration error")
        })
        .await;
    assert!(
        errored,
        "host: {:?}",
        world.api.get("baremetalhosts", NS, "refused")
    );
    let h = world.api.get("baremetalhosts", NS, "refused").unwrap();
    assert!(
        h["status"]["errorMessage"]
            .as_str()
            .unwrap_or("")
            .contains("driver ipmi is not enabled"),
        "{h}"
    );
    assert!(h["status"]["errorCount"].as_i64().unwrap_or(0) >= 1);
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_host_removes_the_node_and_the_finalizer_last() {
    let world = World::start().await;
    world.api.upsert("secrets", secret("bmc-d", "admin", "pw"));
    world.api.upsert("baremetalhosts", host("doomed", "bmc-d"));
    assert!(
        world.wait_for_state("doomed", "available", LONG).await,
        "states: {:?}",
        world.status_states("doomed")
    );

    world.api.delete("baremetalhosts", NS, "doomed");
    let gone = world
        .api
        .wait_until(LONG, |api| {
            api.get("baremetalhosts", NS, "doomed").is_none()
        })
        .await;
    assert!(
        gone,
        "host: {:?} states: {:?}",
        world.api.get("baremetalhosts", NS, "doomed"),
        world.status_states("doomed")
    );
    assert_eq!(
        world.provisioner.count("doomed", "delete"),
        1,
        "calls: {:?}",
        world.provisioner.calls()
    );

    let states = world.status_states("doomed");
    assert!(states.iter().any(|s| s == "deleting"), "{states:?}");
    let reqs = world.api.requests();
    let removal = reqs
        .iter()
        .rposition(|r| {
            r.method == "PATCH"
                && r.path.ends_with("/baremetalhosts/doomed")
                && r.body.contains("\"finalizers\":[]")
        })
        .expect("finalizer removal patch");
    let last_status = reqs
        .iter()
        .rposition(|r| r.path.ends_with("/baremetalhosts/doomed/status"))
        .unwrap();
    assert!(
        last_status < removal,
        "finalizer is removed after the last status write"
    );
    let hd: Option<Value> = world.api.get("hardwaredata", NS, "doomed");
    assert!(
        hd.is_none_or(|h| h["metadata"]["finalizers"]
            .as_array()
            .is_none_or(|f| f.is_empty())),
        "hardware data released"
    );
    world.stop().await;
}

/// Another controller adds its finalizer between the operator's read of a deleted host and its
/// removal of its own finalizer: the removal must not drop it (it is written onto the version read,
/// so it conflicts and is redone on the new version), and the host stays until that finalizer goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finalizer_added_meanwhile_survives_the_removal_of_ours() {
    let world = World::start().await;
    world.api.upsert("secrets", secret("bmc-k", "admin", "pw"));
    world.api.upsert("baremetalhosts", host("kept", "bmc-k"));
    assert!(
        world.wait_for_state("kept", "available", LONG).await,
        "states: {:?}",
        world.status_states("kept")
    );
    // The first write to the host itself once it is deleted is the finalizer's removal.
    world.api.interleave_next(
        "PATCH",
        "/baremetalhosts/kept",
        ("baremetalhosts", NS, "kept"),
        |h| {
            let finalizers = h["metadata"]["finalizers"]
                .as_array_mut()
                .expect("finalizers");
            finalizers.push(serde_json::json!("other.example.com/keep"));
        },
    );
    world.api.delete("baremetalhosts", NS, "kept");
    let released = world
        .api
        .wait_until(LONG, |api| {
            api.get("baremetalhosts", NS, "kept").is_some_and(|h| {
                h["metadata"]["finalizers"] == serde_json::json!(["other.example.com/keep"])
            })
        })
        .await;
    let h = world.api.get("baremetalhosts", NS, "kept");
    assert!(released, "ours removed, the other kept: {h:?}");
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_status_write_is_retried_with_backoff_and_counted() {
    let world = World::start().await;
    world
        .api
        .fail_next("PATCH", "/baremetalhosts/flaky/status", 500);
    world
        .api
        .fail_next("PATCH", "/baremetalhosts/flaky/status", 500);
    world.api.upsert("secrets", secret("bmc-f", "admin", "pw"));
    world.api.upsert("baremetalhosts", host("flaky", "bmc-f"));
    world.api.upsert("baremetalhosts", host("steady", "bmc-f"));
    assert!(
        world.wait_for_state("steady", "available", LONG).await,
        "the other host is not held up"
    );
    assert!(
        world.wait_for_state("flaky", "available", LONG).await,
        "states: {:?}",
        world.status_states("flaky")
    );
    let metrics = world
        .metrics_eventually("metal3_reconcile_error_total 2", LONG)
        .await;
    assert!(
        metrics.contains("metal3_reconcile_error_total 2"),
        "{metrics}"
    );
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_without_bmc_details_becomes_unmanaged_without_touching_the_provisioner() {
    let world = World::start().await;
    let mut bare = host("bare", "");
    bare["spec"]["bmc"] = serde_json::json!({"address": "", "credentialsName": ""});
    world.api.upsert("baremetalhosts", bare);
    assert!(
        world.wait_for_state("bare", "unmanaged", LONG).await,
        "states: {:?}",
        world.status_states("bare")
    );
    let h = world.api.get("baremetalhosts", NS, "bare").unwrap();
    assert_eq!(h["status"]["operationalStatus"], "discovered");
    assert!(world.provisioner.calls().is_empty());
    let metrics = world
        .metrics_eventually("metal3_host_unmanaged_total 1", LONG)
        .await;
    assert!(
        metrics.contains("metal3_host_unmanaged_total 1"),
        "{metrics}"
    );
    world.stop().await;
}

fn provisioned_host(name: &str, secret: &str, user_data: &str) -> Value {
    let mut h = host(name, secret);
    h["spec"]["online"] = serde_json::json!(true);
    h["spec"]["image"] = serde_json::json!({
        "url": "http://127.0.0.1:8080/images/ubuntu.qcow2",
        "checksum": "http://127.0.0.1:8080/images/ubuntu.qcow2.sha256sum",
        "checksumType": "sha256",
        "format": "qcow2",
    });
    h["spec"]["userData"] = serde_json::json!({"name": user_data, "namespace": NS});
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_with_an_image_is_provisioned_with_its_user_data_and_a_missing_user_data_secret_is_an_error()
 {
    let world = World::start().await;
    world.api.upsert("secrets", secret("bmc-p", "admin", "pw"));
    world.api.upsert(
        "secrets",
        serde_json::json!({
            "metadata": {"name": "ud", "namespace": NS},
            "data": {"userData": "I2Nsb3VkLWNvbmZpZwo="},
        }),
    );
    world
        .api
        .upsert("baremetalhosts", provisioned_host("prov", "bmc-p", "ud"));
    world.api.upsert(
        "baremetalhosts",
        provisioned_host("noud", "bmc-p", "absent-ud"),
    );

    assert!(
        world.wait_for_state("prov", "provisioned", LONG).await,
        "states: {:?}",
        world.status_states("prov")
    );
    let deploy = world
        .provisioner
        .calls()
        .into_iter()
        .find(|c| c.host == "prov" && c.action == "deploy")
        .expect("deploy called");
    assert_eq!(deploy.user_data.as_deref(), Some("#cloud-config"));

    // The failure is reported in a status write naming the Secret (later retries hit the
    // provisioning retry limit and replace the message, so the write history is what counts).
    let errored = world
        .api
        .wait_until(LONG, |api| {
            api.requests().iter().any(|r| {
                r.path.ends_with("/baremetalhosts/noud/status")
                    && r.body.contains("secret metal3/absent-ud not found")
                    && r.body.contains("provisioning error")
            })
        })
        .await;
    assert!(
        errored,
        "noud: {:?}",
        world.api.get("baremetalhosts", NS, "noud")
    );
    assert_eq!(world.provisioner.count("noud", "deploy"), 0);
    let metrics = world
        .metrics_eventually(
            "metal3_host_config_data_error_total{host_data_type=\"userData\"}",
            LONG,
        )
        .await;
    assert!(
        metrics.contains("metal3_host_config_data_error_total{host_data_type=\"userData\"}"),
        "{metrics}"
    );
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_stuck_on_a_missing_secret_can_still_be_deleted() {
    let world = World::start().await;
    world
        .api
        .upsert("baremetalhosts", host("orphan", "never-created"));
    let errored = world
        .api
        .wait_until(LONG, |api| {
            api.get("baremetalhosts", NS, "orphan")
                .is_some_and(|h| h["status"]["errorType"] == "registration error")
        })
        .await;
    assert!(
        errored,
        "{:?}",
        world.api.get("baremetalhosts", NS, "orphan")
    );
    world.api.delete("baremetalhosts", NS, "orphan");
    let gone = world
        .api
        .wait_until(LONG, |api| {
            api.get("baremetalhosts", NS, "orphan").is_none()
        })
        .await;
    assert!(
        gone,
        "host: {:?} states: {:?}",
        world.api.get("baremetalhosts", NS, "orphan"),
        world.status_states("orphan")
    );
    assert_eq!(world.provisioner.count("orphan", "register"), 0);
    world.stop().await;
}
