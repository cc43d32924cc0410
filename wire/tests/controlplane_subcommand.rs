//! `metal-sim controlplane`: the embedded control plane (crate `metal-controlplane`) as the
//! simulator's subcommand preloads CRDs, writes a working kubeconfig, and keeps its snapshot
//! across a SIGTERM and a restart.

mod support;

use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{Api, PostParams};
use metal_testkit::kubectl::Kubectl;
use metal_testkit::wait::{Check, Wait};

const CRDS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../kind/crds/metal3.io.yaml");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controlplane_subcommand_preloads_crds_and_writes_a_working_kubeconfig() {
    let Some(kubectl) = support::peer("kubectl") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let mut child = start(&["--seed", "3", "--crds", CRDS], &kubeconfig).await;
    let out = Kubectl::new(&kubeconfig)
        .program(&kubectl)
        .limit(Duration::from_secs(60))
        .output(&["get", "crd", "-o", "name"], None)
        .await
        .unwrap();
    let names = String::from_utf8_lossy(&out.stdout);
    assert!(
        names.contains("customresourcedefinition.apiextensions.k8s.io/baremetalhosts.metal3.io"),
        "{out:?}"
    );
    // A wrong token is refused.
    let text = std::fs::read_to_string(&kubeconfig).unwrap();
    let token_line = text
        .lines()
        .find(|l| l.trim_start().starts_with("token:"))
        .unwrap();
    let bad = dir.path().join("bad");
    std::fs::write(&bad, text.replace(token_line, "    token: wrong")).unwrap();
    let refused = Kubectl::new(&bad)
        .program(&kubectl)
        .output(&["get", "ns"], None)
        .await
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("Unauthorized"),
        "{refused:?}"
    );
    child.kill().await.unwrap();
}

/// Starts `metal-sim controlplane` on a free loopback port with `args`, writing `kubeconfig`, and
/// waits (at most 10 s) for the kubeconfig to appear.
async fn start(args: &[&str], kubeconfig: &Path) -> tokio::process::Child {
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_metal-sim"))
        .args(["controlplane", "--listen", "127.0.0.1:0"])
        .args(args)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    Wait::new("the kubeconfig", Duration::from_secs(10))
        .every(Duration::from_millis(100))
        .until(|| Check::from(kubeconfig.exists()))
        .await
        .unwrap();
    child
}

/// Starts `metal-sim controlplane` with a snapshot file; waits (bounded) for its kubeconfig.
async fn subcommand(dir: &Path, snapshot: &Path) -> (tokio::process::Child, Client) {
    let kubeconfig = dir.join("kubeconfig");
    let _ = std::fs::remove_file(&kubeconfig);
    let snapshot = snapshot.to_str().expect("a UTF-8 path");
    let args = [
        "--seed",
        "5",
        "--snapshot",
        snapshot,
        "--snapshot-interval-seconds",
        "60",
    ];
    let child = start(&args, &kubeconfig).await;
    let text = std::fs::read_to_string(&kubeconfig).expect("no kubeconfig within 10 s");
    let client = metal_testkit::kube::client(&text).await.unwrap();
    (child, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controlplane_subcommand_writes_its_snapshot_on_sigterm_and_restores_it() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = dir.path().join("store.json");
    let (mut first, client) = subcommand(dir.path(), &snapshot).await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let cm: ConfigMap =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "survivor"}})).unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    // The interval is a minute: only the shutdown write can have saved it.
    let pid = first.id().unwrap().to_string();
    let term = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(term.success());
    let status = tokio::time::timeout(Duration::from_secs(10), first.wait())
        .await
        .expect("the control plane did not stop within 10 s of SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");
    let (_second, client) = subcommand(dir.path(), &snapshot).await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    assert!(cms.get_opt("survivor").await.unwrap().is_some());
}
