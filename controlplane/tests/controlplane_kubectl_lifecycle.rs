//! The embedded control plane judged by real kubectl, beyond the host workflow: `scale` on a
//! custom resource's scale subresource, paging (`limit`/`continue`), generateName, server dry
//! runs, owner-reference garbage collection, 410 Gone for compacted watches, and stored (never
//! called) ValidatingWebhookConfigurations.

mod support;

#[path = "controlplane_fixture/cluster.rs"]
mod cluster;

use std::time::Duration;

use cluster::{Cluster, header};
use metal_testkit::wait::{Check, Wait};

const POOL_CRD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/controlplane_fixture/pool-crd.yaml"
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_scale_writes_custom_resource_replicas_through_the_scale_subresource() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    let created = c.ok(&["apply", "-f", POOL_CRD]).await;
    assert!(created.contains("created"), "{created}");
    c.ok(&[
        "wait",
        "--for=condition=Established",
        "crd/pools.fixture.metal-sim.test",
        "--timeout=20s",
    ])
    .await;
    let pool = "apiVersion: fixture.metal-sim.test/v1\nkind: Pool\nmetadata:\n  name: gpu\n  namespace: default\nspec:\n  replicas: 1\n  hostSelector: {class: gpu}\n";
    c.ok_with(&["apply", "-f", "-"], Some(pool)).await;
    let status = r#"{"status":{"replicas":1,"selector":"class=gpu"}}"#;
    c.ok(&[
        "patch",
        "pool",
        "gpu",
        "--subresource=status",
        "--type=merge",
        "-p",
        status,
    ])
    .await;
    let scaled = c.ok(&["scale", "pool/gpu", "--replicas=4"]).await;
    assert!(scaled.contains("scaled"), "{scaled}");
    let replicas = c
        .ok(&[
            "get",
            "pool",
            "gpu",
            "-o",
            "jsonpath={.spec.replicas} {.metadata.generation}",
        ])
        .await;
    assert_eq!(replicas, "4 2");
    // The Scale view reads both paths and the selector.
    let scale = c
        .ok(&[
            "get",
            "--raw",
            "/apis/fixture.metal-sim.test/v1/namespaces/default/pools/gpu/scale",
        ])
        .await;
    let scale: serde_json::Value = serde_json::from_str(&scale).unwrap();
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["spec"]["replicas"], 4);
    assert_eq!(scale["status"]["replicas"], 1);
    assert_eq!(scale["status"]["selector"], "class=gpu");
    // kubectl checks --current-replicas against the Scale it reads.
    let refused = c
        .run(
            &["scale", "pool/gpu", "--current-replicas=3", "--replicas=5"],
            None,
        )
        .await;
    assert!(!refused.status.success(), "{refused:?}");
    let table = c.ok(&["get", "fpool"]).await;
    // Declared columns only: a CRD with additionalPrinterColumns gets no implicit Age.
    assert_eq!(header(&table), ["NAME", "DESIRED", "READY"], "{table}");
    assert!(
        table
            .lines()
            .nth(1)
            .is_some_and(|l| l.split_whitespace().take(3).eq(["gpu", "4", "1"])),
        "{table}"
    );
    // Negative replicas are refused by the scale subresource itself.
    let negative = c
        .run(
            &[
                "patch",
                "pool",
                "gpu",
                "--subresource=scale",
                "--type=merge",
                "-p",
                r#"{"spec":{"replicas":-1}}"#,
            ],
            None,
        )
        .await;
    assert!(!negative.status.success(), "{negative:?}");
    assert!(
        String::from_utf8_lossy(&negative.stderr).contains("greater than or equal to 0"),
        "{negative:?}"
    );
    c.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_follows_continue_tokens_and_sees_every_object() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    c.ok(&["create", "namespace", "paged"]).await;
    let mut docs = String::new();
    for i in 0..7 {
        docs.push_str(&format!(
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\n  namespace: paged\ndata:\n  i: \"{i}\"\n"
        ));
    }
    c.ok_with(&["apply", "-f", "-"], Some(&docs)).await;
    let out = c
        .run(
            &[
                "get",
                "configmaps",
                "-n",
                "paged",
                "--chunk-size=2",
                "-o",
                "name",
                "-v=6",
            ],
            None,
        )
        .await;
    assert!(out.status.success(), "{out:?}");
    let names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    let want: Vec<String> = (0..7).map(|i| format!("configmap/cm-{i}")).collect();
    assert_eq!(names, want);
    let log = String::from_utf8_lossy(&out.stderr);
    // Four pages of at most two: three requests carried a continue token.
    assert_eq!(log.matches("continue=").count(), 3, "{log}");
    c.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_name_gives_every_created_object_its_own_name() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    let doc =
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: job-\n  namespace: default\n";
    let a = c
        .ok_with(&["create", "-f", "-", "-o", "name"], Some(doc))
        .await;
    let b = c
        .ok_with(&["create", "-f", "-", "-o", "name"], Some(doc))
        .await;
    for name in [&a, &b] {
        let suffix = name
            .trim()
            .strip_prefix("configmap/job-")
            .unwrap_or_else(|| {
                panic!("{name:?} does not carry the prefix");
            });
        assert_eq!(suffix.len(), 5, "{name}");
    }
    assert_ne!(a, b);
    let listed = c.ok(&["get", "configmaps", "-o", "name"]).await;
    assert!(
        listed.contains(a.trim()) && listed.contains(b.trim()),
        "{listed}"
    );
    c.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_dry_runs_create_and_delete_nothing() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    c.apply_hosts().await;
    let doc = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ghost\n  namespace: default\n";
    let out = c
        .ok_with(&["create", "--dry-run=server", "-f", "-"], Some(doc))
        .await;
    assert!(out.contains("(server dry run)"), "{out}");
    let missing = c.run(&["get", "configmap", "ghost"], None).await;
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("NotFound"),
        "{missing:?}"
    );
    let deleted = c
        .ok(&[
            "delete",
            "bmh",
            "-n",
            "metal",
            "worker-0",
            "--dry-run=server",
        ])
        .await;
    assert!(deleted.contains("(server dry run)"), "{deleted}");
    c.ok(&["get", "bmh", "-n", "metal", "worker-0"]).await;
    // A dry-run patch validates but stores nothing.
    c.ok(&[
        "patch",
        "bmh",
        "-n",
        "metal",
        "worker-0",
        "--dry-run=server",
        "--type=merge",
        "-p",
        r#"{"spec":{"online":true}}"#,
    ])
    .await;
    let online = c.field("bmh", "worker-0", "{.spec.online}").await;
    assert_eq!(online, "false");
    c.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_owner_with_kubectl_collects_its_dependents_unless_orphaned() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    for owner in ["owner-a", "owner-b"] {
        c.ok(&["create", "configmap", owner]).await;
        let uid = c
            .ok(&["get", "configmap", owner, "-o", "jsonpath={.metadata.uid}"])
            .await;
        let dependent = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {owner}-child\n  namespace: default\n  ownerReferences:\n  - apiVersion: v1\n    kind: ConfigMap\n    name: {owner}\n    uid: {uid}\n"
        );
        c.ok_with(&["create", "-f", "-"], Some(&dependent)).await;
    }
    c.ok(&["delete", "configmap", "owner-a"]).await;
    c.ok(&["delete", "configmap", "owner-b", "--cascade=orphan"])
        .await;
    let left = Wait::new("owner-a-child to be collected", Duration::from_secs(5))
        .every(Duration::from_millis(100))
        .until_async(|| async {
            let left = c.ok(&["get", "configmaps", "-o", "name"]).await;
            if left.contains("owner-a-child") {
                Check::Pending(left)
            } else {
                Check::Done(left)
            }
        })
        .await
        .unwrap();
    assert!(left.contains("configmap/owner-b-child"), "{left}");
    c.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_from_a_compacted_resource_version_is_told_410_gone() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    c.ok(&["create", "configmap", "before"]).await;
    let rv = c
        .ok(&[
            "get",
            "configmap",
            "before",
            "-o",
            "jsonpath={.metadata.resourceVersion}",
        ])
        .await;
    // The change after `rv` is compacted away: a watch from `rv` would miss it.
    c.ok(&["create", "configmap", "after"]).await;
    c.running.state.compact();
    let path = format!(
        "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={rv}&timeoutSeconds=5"
    );
    let out = c.run(&["get", "--raw", &path], None).await;
    let text = String::from_utf8_lossy(&out.stdout);
    let first: serde_json::Value =
        serde_json::from_str(text.lines().next().unwrap_or("null")).unwrap();
    assert_eq!(first["type"], "ERROR", "{text}");
    assert_eq!(first["object"]["code"], 410, "{text}");
    assert_eq!(first["object"]["reason"], "Expired", "{text}");
    c.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_diff_shows_a_pending_change_and_explain_reads_the_crd_schema() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    c.apply_hosts().await;
    let changed = std::fs::read_to_string(cluster::HOSTS)
        .unwrap()
        .replace("rack: r1", "rack: r9");
    // kubectl diff runs a server-side dry run of the change and exits 1 when something differs.
    let diff = c.run(&["diff", "-f", "-"], Some(&changed)).await;
    assert_eq!(diff.status.code(), Some(1), "{diff:?}");
    let text = String::from_utf8_lossy(&diff.stdout);
    assert!(
        text.contains("-    rack: r1") && text.contains("+    rack: r9"),
        "{text}"
    );
    let rack = c.field("bmh", "worker-0", "{.metadata.labels.rack}").await;
    assert_eq!(rack, "r1", "the diff changed the stored object");
    let same = c.run(&["diff", "-f", cluster::HOSTS], None).await;
    assert_eq!(same.status.code(), Some(0), "{same:?}");
    let explained = c.ok(&["explain", "bmh.spec.online"]).await;
    assert!(
        explained.contains("KIND:       BareMetalHost"),
        "{explained}"
    );
    assert!(explained.contains("online <boolean>"), "{explained}");
    c.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_configurations_are_stored_patched_by_json_patch_and_checked_like_v1() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    let config = |side_effects: &str| {
        format!(
            "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\n\
             metadata:\n  name: metal-operator\nwebhooks:\n- name: baremetalhost.metal3.io\n  \
             admissionReviewVersions: [v1]\n  sideEffects: {side_effects}\n  failurePolicy: Fail\n  \
             clientConfig:\n    service: {{name: metal-operator-webhook, namespace: metal3-system, port: 443}}\n"
        )
    };
    let out = c
        .ok_with(&["apply", "-f", "-"], Some(&config("None")))
        .await;
    assert!(
        out.contains(
            "validatingwebhookconfiguration.admissionregistration.k8s.io/metal-operator created"
        ),
        "{out}"
    );
    // The operator's caBundle patch: a JSON patch guarded by a test of the webhook's name.
    let patch = r#"[{"op":"test","path":"/webhooks/0/name","value":"baremetalhost.metal3.io"},
        {"op":"add","path":"/webhooks/0/clientConfig/caBundle","value":"Q0E="}]"#;
    c.ok(&[
        "patch",
        "validatingwebhookconfiguration",
        "metal-operator",
        "--type=json",
        "-p",
        patch,
    ])
    .await;
    let bundle = c
        .ok(&[
            "get",
            "validatingwebhookconfiguration",
            "metal-operator",
            "-o",
            "jsonpath={.webhooks[0].clientConfig.caBundle}",
        ])
        .await;
    assert_eq!(bundle, "Q0E=");
    // What a real API server refuses is refused here too.
    let out = c
        .run(
            &["apply", "-f", "-"],
            Some(&config("Unknown").replace("metal-operator\n", "other\n")),
        )
        .await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("webhooks[0].sideEffects"), "{stderr}");
    c.running.shutdown().await.unwrap();
}
