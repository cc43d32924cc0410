//! The embedded control plane judged by real kubectl: apply, get (Table columns), describe,
//! annotate, label, patch, wait, scale, delete with finalizers, events, server-side apply.

mod support;

#[path = "controlplane_fixture/cluster.rs"]
mod cluster;

use std::sync::Arc;
use std::time::Duration;

use cluster::{Cluster, HOSTS, header};
use metal_testkit::hosts::Bmh;
use metal_testkit::wait::{Check, Wait};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_prints_the_upstream_bmh_columns_after_apply() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    c.apply_hosts().await;
    let table = c.ok(&["get", "bmh", "-n", "metal"]).await;
    assert_eq!(
        header(&table),
        ["NAME", "STATE", "CONSUMER", "ONLINE", "ERROR", "AGE"],
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("worker-0") && l.contains("false")),
        "{table}"
    );
    let wide = c.ok(&["get", "bmh", "-n", "metal", "-o", "wide"]).await;
    assert_eq!(
        header(&wide),
        [
            "NAME", "STATUS", "STATE", "CONSUMER", "BMC", "ONLINE", "ERROR", "AGE"
        ],
        "{wide}"
    );
    assert!(wide.contains("ipmi://127.0.0.1:6230"), "{wide}");
    let yaml = c
        .ok(&["get", "bmh", "-n", "metal", "worker-0", "-o", "yaml"])
        .await;
    // Defaulted from the CRD schema (the seed YAML has no spec.online).
    assert!(yaml.contains("online: false"), "{yaml}");
    assert!(yaml.contains("automatedCleaningMode: metadata"), "{yaml}");
    assert!(yaml.contains("uid: "), "{yaml}");
    let described = c.ok(&["describe", "bmh", "-n", "metal", "worker-0"]).await;
    assert!(described.contains("Name:         worker-0"), "{described}");
    assert!(described.contains("Events:"), "{described}");
    let resources = c.ok(&["api-resources"]).await;
    assert!(
        resources.lines().any(|l| l.starts_with("baremetalhosts")
            && l.contains("bmh,bmhost")
            && l.contains("metal3.io/v1alpha1")),
        "{resources}"
    );
    let again = c.ok(&["apply", "-f", HOSTS]).await;
    assert!(
        again.contains("baremetalhost.metal3.io/worker-0 unchanged"),
        "{again}"
    );
    let secret = c
        .field("secret", "worker-0-bmc-secret", "{.data.username}")
        .await;
    assert_eq!(secret, "YWRtaW4=");
    c.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_annotate_label_patch_and_wait_edit_hosts() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    c.apply_hosts().await;
    c.ok(&[
        "annotate",
        "bmh",
        "-n",
        "metal",
        "worker-0",
        "reboot.metal3.io=",
    ])
    .await;
    c.ok(&["label", "bmh", "-n", "metal", "worker-0", "env=test"])
        .await;
    let selected = c
        .ok(&[
            "get",
            "bmh",
            "-n",
            "metal",
            "-l",
            "env=test,rack in (r1,r3)",
            "-o",
            "name",
        ])
        .await;
    assert_eq!(selected.trim(), "baremetalhost.metal3.io/worker-0");
    let none = c
        .ok(&[
            "get",
            "bmh",
            "-n",
            "metal",
            "-l",
            "rack notin (r1,r2)",
            "-o",
            "name",
        ])
        .await;
    assert_eq!(none.trim(), "");
    c.ok(&[
        "patch",
        "bmh",
        "-n",
        "metal",
        "worker-0",
        "--type=merge",
        "-p",
        r#"{"spec":{"online":true}}"#,
    ])
    .await;
    let gen2 = c
        .field("bmh", "worker-0", "{.spec.online} {.metadata.generation}")
        .await;
    assert_eq!(gen2, "true 2");
    c.ok(&[
        "patch",
        "bmh",
        "-n",
        "metal",
        "worker-0",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/spec/online","value":false}]"#,
    ])
    .await;
    let status_patch = r#"{"status":{"provisioning":{"state":"available"},"operationalStatus":"OK","errorMessage":"","poweredOn":false}}"#;
    c.ok(&[
        "patch",
        "bmh",
        "-n",
        "metal",
        "worker-0",
        "--subresource=status",
        "--type=merge",
        "-p",
        status_patch,
    ])
    .await;
    // Status writes do not bump the generation; the spec patch before did.
    let now = c
        .field(
            "bmh",
            "worker-0",
            "{.spec.online} {.metadata.generation} {.metadata.annotations}",
        )
        .await;
    assert!(now.starts_with("false 3 "), "{now}");
    assert!(now.contains("reboot.metal3.io"), "{now}");
    c.ok(&[
        "wait",
        "-n",
        "metal",
        "bmh/worker-0",
        "--for=jsonpath={.status.provisioning.state}=available",
        "--timeout=20s",
    ])
    .await;
    let table = c.ok(&["get", "bmh", "-n", "metal", "worker-0"]).await;
    assert!(
        table
            .lines()
            .nth(1)
            .is_some_and(|l| l.contains("available")),
        "{table}"
    );
    // A main-resource patch cannot write status.
    c.ok(&[
        "patch",
        "bmh",
        "-n",
        "metal",
        "worker-0",
        "--type=merge",
        "-p",
        r#"{"status":{"operationalStatus":"error"}}"#,
    ])
    .await;
    let op = c
        .field("bmh", "worker-0", "{.status.operationalStatus}")
        .await;
    assert_eq!(op, "OK");
    c.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_delete_waits_until_the_finalizer_is_removed() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    c.apply_hosts().await;
    c.ok(&[
        "patch",
        "bmh",
        "-n",
        "metal",
        "worker-1",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":["baremetalhost.metal3.io"]}}"#,
    ])
    .await;
    let c = Arc::new(c);
    let deleter = {
        let c = Arc::clone(&c);
        tokio::spawn(async move {
            c.run(
                &["delete", "bmh", "-n", "metal", "worker-1", "--timeout=30s"],
                None,
            )
            .await
        })
    };
    // Bounded wait for the deletionTimestamp to appear while the finalizer holds the object.
    Wait::new("the deletionTimestamp to be set", Duration::from_secs(5))
        .every(Duration::from_millis(100))
        .until_async(|| async {
            let ts = c
                .field("bmh", "worker-1", "{.metadata.deletionTimestamp}")
                .await;
            Check::from(!ts.is_empty())
        })
        .await
        .unwrap();
    assert!(
        !deleter.is_finished(),
        "kubectl delete returned while the finalizer was present"
    );
    c.ok(&[
        "patch",
        "bmh",
        "-n",
        "metal",
        "worker-1",
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
    ])
    .await;
    let out = tokio::time::timeout(Duration::from_secs(30), deleter)
        .await
        .unwrap()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let gone = c
        .run(&["get", "bmh", "-n", "metal", "worker-1"], None)
        .await;
    assert!(
        String::from_utf8_lossy(&gone.stderr).contains("NotFound"),
        "{gone:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_server_side_apply_and_events_round_trip() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    let out = c.ok(&["apply", "--server-side", "-f", HOSTS]).await;
    assert!(
        out.contains("baremetalhost.metal3.io/worker-0 serverside-applied"),
        "{out}"
    );
    let managers = c
        .ok(&[
            "get",
            "bmh",
            "-n",
            "metal",
            "worker-0",
            "--show-managed-fields",
            "-o",
            "jsonpath={.metadata.managedFields[*].manager}",
        ])
        .await;
    assert!(managers.contains("kubectl"), "{managers}");
    let uid = c.field("bmh", "worker-0", "{.metadata.uid}").await;
    // An events.k8s.io/v1 Event (as the operator records them) shows in `kubectl get events` and
    // in `describe` through the core/v1 view.
    let event = format!(
        r#"{{"apiVersion":"events.k8s.io/v1","kind":"Event","metadata":{{"name":"worker-0.1","namespace":"metal"}},
        "eventTime":"2026-01-01T00:00:00.000000Z","reportingController":"metal3.io/operator","reportingInstance":"op-1",
        "action":"Register","reason":"Registered","type":"Normal","note":"registered with Ironic",
        "regarding":{{"apiVersion":"metal3.io/v1alpha1","kind":"BareMetalHost","name":"worker-0","namespace":"metal","uid":"{uid}"}}}}"#
    );
    let created = c.run(&["create", "-f", "-"], Some(&event)).await;
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let events = c.ok(&["get", "events", "-n", "metal"]).await;
    assert_eq!(header(&events)[..3], ["LAST", "SEEN", "TYPE"], "{events}");
    assert!(
        events.contains("Registered") && events.contains("registered with Ironic"),
        "{events}"
    );
    let described = c.ok(&["describe", "bmh", "-n", "metal", "worker-0"]).await;
    assert!(described.contains("registered with Ironic"), "{described}");
    let server_dry = c.ok(&["apply", "--dry-run=server", "-f", HOSTS]).await;
    assert!(server_dry.contains("(server dry run)"), "{server_dry}");
    c.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_hosts_are_refused_naming_the_field() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    c.apply_hosts().await;
    let bad = Bmh::new("bad")
        .namespace("metal")
        .without("/spec/online")
        .set("/spec/bmc", json!({"credentialsName": "x"}))
        .boot_mac("zz")
        .set("/spec/bootMode", json!("bios"))
        .yaml();
    let out = c.run(&["create", "-f", "-"], Some(&bad)).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("spec.bmc.address: Required value"), "{err}");
    assert!(err.contains("spec.bootMACAddress"), "{err}");
    assert!(err.contains("spec.bootMode: Unsupported value"), "{err}");
    let unknown = Bmh::new("extra")
        .namespace("metal")
        .without("/spec/online")
        .bmc("ipmi://127.0.0.1:1", "x")
        .set("/spec/nonsense", json!(1))
        .yaml();
    let strict = c.run(&["create", "-f", "-"], Some(&unknown)).await;
    assert!(
        String::from_utf8_lossy(&strict.stderr).contains("unknown field \"spec.nonsense\""),
        "{strict:?}"
    );
    let warn = c
        .run(&["create", "--validate=warn", "-f", "-"], Some(&unknown))
        .await;
    assert!(warn.status.success(), "{warn:?}");
    assert!(
        String::from_utf8_lossy(&warn.stderr).contains("unknown field \"spec.nonsense\""),
        "{warn:?}"
    );
    let kept = c.field("bmh", "extra", "{.spec}").await;
    assert!(!kept.contains("nonsense"), "pruned field survived: {kept}");
    c.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_scale_writes_deployment_replicas_through_the_scale_subresource() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    c.apply_hosts().await;
    let deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: metal\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: example.invalid/web\n";
    let out = c.run(&["apply", "-f", "-"], Some(deploy)).await;
    assert!(out.status.success(), "{out:?}");
    c.ok(&["scale", "deployment/web", "-n", "metal", "--replicas=3"])
        .await;
    let replicas = c
        .ok(&[
            "get",
            "deployment",
            "web",
            "-n",
            "metal",
            "-o",
            "jsonpath={.spec.replicas}",
        ])
        .await;
    assert_eq!(replicas, "3");
    let ns_gone = c
        .ok(&["delete", "namespace", "metal", "--timeout=30s"])
        .await;
    assert!(ns_gone.contains("deleted"), "{ns_gone}");
    let left = c
        .run(&["get", "deployment", "web", "-n", "metal"], None)
        .await;
    assert!(!left.status.success());
    c.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_create_generators_make_namespaces_secrets_and_configmaps() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    c.ok(&["create", "namespace", "gen"]).await;
    c.ok(&[
        "create",
        "secret",
        "generic",
        "bmc",
        "-n",
        "gen",
        "--from-literal=username=admin",
    ])
    .await;
    c.ok(&[
        "create",
        "configmap",
        "cfg",
        "-n",
        "gen",
        "--from-literal=a=b",
    ])
    .await;
    let user = c
        .ok(&[
            "get",
            "secret",
            "bmc",
            "-n",
            "gen",
            "-o",
            "jsonpath={.data.username}",
        ])
        .await;
    assert_eq!(user, "YWRtaW4=");
    let data = c
        .ok(&[
            "get",
            "configmap",
            "cfg",
            "-n",
            "gen",
            "-o",
            "jsonpath={.data.a}",
        ])
        .await;
    assert_eq!(data, "b");
    c.running.shutdown().await.unwrap();
}
