//! An embedded control plane with our CRDs and a kubeconfig, driven by the real kubectl. Also
//! included by metal-sim's `controlplane_kind_manifests` test, so its paths start at the
//! workspace root.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use metal_controlplane::{self as controlplane, Options, Running};
use metal_testkit::kubectl::Kubectl;

use crate::support;

pub const CRDS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../kind/crds/metal3.io.yaml");
pub const HOSTS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../controlplane/tests/controlplane_fixture/hosts.yaml"
);

pub struct Cluster {
    pub kubectl: Kubectl,
    pub kubeconfig: PathBuf,
    pub running: Running,
    pub dir: tempfile::TempDir,
}

impl Cluster {
    /// None (after a loud SKIP) when kubectl is missing.
    pub async fn start() -> Option<Self> {
        let kubectl = support::peer("kubectl")?;
        let options = Options::new(
            "127.0.0.1:0".parse().unwrap(),
            Arc::new(chrono::Utc::now),
            7,
        );
        let running = controlplane::start(options).await.unwrap();
        running.state.load_crds(Path::new(CRDS)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        running.write_kubeconfig(&kubeconfig).unwrap();
        Some(Self {
            kubectl: Kubectl::new(&kubeconfig)
                .program(kubectl)
                .limit(Duration::from_secs(60)),
            kubeconfig,
            running,
            dir,
        })
    }

    /// Runs kubectl (bounded by 60 s) and returns its output.
    pub async fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        self.kubectl.output(args, stdin).await.unwrap()
    }

    /// Runs kubectl with `stdin`, asserts success, returns stdout.
    pub async fn ok_with(&self, args: &[&str], stdin: Option<&str>) -> String {
        self.kubectl.run(args, stdin).await.unwrap()
    }

    /// Runs kubectl, asserts success, returns stdout.
    pub async fn ok(&self, args: &[&str]) -> String {
        self.ok_with(args, None).await
    }

    /// `kubectl get KIND NAME -n metal -o jsonpath=PATH`: one field of a host-workflow object.
    pub async fn field(&self, kind: &str, name: &str, jsonpath: &str) -> String {
        self.ok(&[
            "get",
            kind,
            "-n",
            "metal",
            name,
            "-o",
            &format!("jsonpath={jsonpath}"),
        ])
        .await
    }

    pub async fn apply_hosts(&self) {
        let out = self.ok(&["apply", "-f", HOSTS]).await;
        assert!(
            out.contains("baremetalhost.metal3.io/worker-0 created"),
            "{out}"
        );
    }
}

/// The column names of a kubectl table's header line.
pub fn header(table: &str) -> Vec<String> {
    table
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect()
}
