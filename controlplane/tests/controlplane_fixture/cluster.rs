//! An embedded control plane with our CRDs and a kubeconfig, driven by the real kubectl. Also
//! included by metal-sim's `controlplane_kind_manifests` test, so its paths start at the
//! workspace root.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use metal_controlplane::{self as controlplane, Options, Running};

use crate::support;

pub const CRDS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../kind/crds/metal3.io.yaml");
pub const HOSTS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../controlplane/tests/controlplane_fixture/hosts.yaml"
);

pub struct Cluster {
    pub kubectl: PathBuf,
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
            kubectl,
            kubeconfig,
            running,
            dir,
        })
    }

    /// Runs kubectl (bounded by 60 s) and returns its output.
    pub async fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        use tokio::io::AsyncWriteExt as _;
        let mut cmd = tokio::process::Command::new(&self.kubectl);
        cmd.args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).await.unwrap();
        }
        drop(input);
        tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .expect("kubectl did not finish within 60 s")
            .unwrap()
    }

    /// Runs kubectl, asserts success, returns stdout.
    pub async fn ok(&self, args: &[&str]) -> String {
        self.ok_with(args, None).await
    }

    /// Runs kubectl with `stdin`, asserts success, returns stdout.
    pub async fn ok_with(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.run(args, stdin).await;
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
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
