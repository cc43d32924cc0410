//! Snapshots of the embedded control plane: a restarted server serves the objects (and the CRDs)
//! it had, resourceVersions keep growing, and a broken snapshot file is refused by name.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
use metal_controlplane::{
    self as controlplane, ControlPlaneError, Options, Running, SnapshotSettings,
};
use metal_testkit::hosts::Bmh;
use metal_testkit::wait::{Check, Wait};

const CRDS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../kind/crds/metal3.io.yaml");

fn options(snapshot: &Path, interval: Duration) -> Options {
    let mut options = Options::new(
        "127.0.0.1:0".parse().unwrap(),
        Arc::new(chrono::Utc::now),
        23,
    );
    options.snapshot = Some(SnapshotSettings {
        path: snapshot.to_path_buf(),
        interval,
    });
    options
}

async fn client(running: &Running) -> Client {
    metal_testkit::kube::client(&running.kubeconfig())
        .await
        .unwrap()
}

fn hosts(client: &Client) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("metal3.io", "v1alpha1", "BareMetalHost");
    Api::namespaced_with(
        client.clone(),
        "default",
        &ApiResource::from_gvk_with_plural(&gvk, "baremetalhosts"),
    )
}

fn host(name: &str) -> DynamicObject {
    serde_json::from_value(
        Bmh::new(name)
            .labels(serde_json::json!({"rack": "r1"}))
            .bmc("ipmi://127.0.0.1:6230", "bmc")
            .online(true)
            .json(),
    )
    .unwrap()
}

fn rv_of(meta: &kube::api::ObjectMeta) -> u64 {
    meta.resource_version.as_deref().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_control_plane_serves_the_objects_and_crds_of_its_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.json");
    let first = controlplane::start(options(&path, Duration::from_secs(60)))
        .await
        .unwrap();
    first.state.load_crds(Path::new(CRDS)).unwrap();
    let c1 = client(&first).await;
    let cms: Api<ConfigMap> = Api::namespaced(c1.clone(), "default");
    let cm: ConfigMap = serde_json::from_value(
        serde_json::json!({"metadata": {"name": "kept"}, "data": {"k": "v"}}),
    )
    .unwrap();
    let kept = cms.create(&PostParams::default(), &cm).await.unwrap();
    let bmh = hosts(&c1)
        .create(&PostParams::default(), &host("worker-0"))
        .await
        .unwrap();
    // The interval is long: the snapshot is the one written at shutdown.
    first.shutdown().await.unwrap();
    assert!(path.exists(), "no snapshot written at shutdown");

    // No --crds this time: the CRD comes back from the snapshot and is served again.
    let second = controlplane::start(options(&path, Duration::from_secs(60)))
        .await
        .unwrap();
    let c2 = client(&second).await;
    let cms: Api<ConfigMap> = Api::namespaced(c2.clone(), "default");
    let again = cms.get("kept").await.unwrap();
    assert_eq!(again.metadata.uid, kept.metadata.uid);
    assert_eq!(again.data.unwrap()["k"], "v");
    let host_again = hosts(&c2).get("worker-0").await.unwrap();
    assert_eq!(host_again.metadata.uid, bmh.metadata.uid);
    assert_eq!(host_again.data["spec"]["online"], true);
    // Defaulting still works, so the schema was restored with the CRD.
    let fresh = hosts(&c2)
        .create(&PostParams::default(), &host("worker-1"))
        .await
        .unwrap();
    assert_eq!(fresh.data["spec"]["automatedCleaningMode"], "metadata");
    assert!(rv_of(&fresh.metadata) > rv_of(&bmh.metadata));
    // Loading the same CRDs over restored ones replaces them instead of failing.
    assert_eq!(second.state.load_crds(Path::new(CRDS)).unwrap(), 5);
    assert!(hosts(&c2).get("worker-1").await.is_ok());
    second.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_is_written_periodically_while_the_server_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.json");
    let running = controlplane::start(options(&path, Duration::from_millis(50)))
        .await
        .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client(&running).await, "default");
    let cm: ConfigMap =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "periodic"}})).unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    Wait::new("the object to reach the snapshot", Duration::from_secs(5))
        .every(Duration::from_millis(50))
        .until(|| {
            Check::from(std::fs::read_to_string(&path).is_ok_and(|t| t.contains("\"periodic\"")))
        })
        .await
        .unwrap();
    running.shutdown().await.unwrap();
    // The snapshot holds Secrets: private (created 0600, never chmod'ed after), and the
    // temporary file it went through is gone.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "snapshot mode {mode:o}");
    }
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("store.json")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_snapshot_refuses_to_start_and_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("store.json");
    std::fs::write(&path, "{\"format\": 1, \"objects\": 7}").unwrap();
    let err = controlplane::start(options(&path, Duration::from_secs(1)))
        .await
        .err()
        .expect("a broken snapshot was accepted");
    assert!(matches!(err, ControlPlaneError::Snapshot(_)), "{err}");
    assert!(err.to_string().contains("store.json"), "{err}");
    std::fs::write(
        &path,
        "{\"format\": 99, \"resource_version\": 1, \"objects\": []}",
    )
    .unwrap();
    let err = controlplane::start(options(&path, Duration::from_secs(1)))
        .await
        .err()
        .expect("an unknown format was accepted");
    assert!(err.to_string().contains("format 99"), "{err}");
}
