//! `metal-sim controlplane`: its arguments and the foreground run.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::{Clock, ControlPlaneError, Options, SnapshotSettings, start};

/// Arguments of `metal-sim controlplane`.
#[derive(Debug, Clone, clap::Args)]
pub struct ControlPlaneArgs {
    /// Listen address (loopback only; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:6443")]
    pub listen: SocketAddr,
    /// Write the kubeconfig (CA, server URL, bearer token) here.
    #[arg(long, default_value = "metal-sim.kubeconfig")]
    pub kubeconfig: PathBuf,
    /// Preload CustomResourceDefinitions from these YAML files (repeatable).
    #[arg(long = "crds")]
    pub crds: Vec<PathBuf>,
    /// Seed for UIDs and generated names (random when omitted; the token is always random).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Changes remembered for watches; older resourceVersions get 410 Gone.
    #[arg(long, default_value_t = 10_000)]
    pub history: usize,
    /// Keep the store in this file: restored at start when it exists, written every
    /// `--snapshot-interval-seconds` when something changed and at shutdown.
    #[arg(long)]
    pub snapshot: Option<PathBuf>,
    /// Seconds between snapshot writes (with `--snapshot`).
    #[arg(long, default_value_t = 5)]
    pub snapshot_interval_seconds: u64,
}

/// Runs the control plane until `stop` resolves. `entropy` is the seed when no `--seed` (the
/// bearer token is always from the OS).
pub async fn run(
    args: ControlPlaneArgs,
    clock: Clock,
    entropy: u64,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), ControlPlaneError> {
    let mut options = Options::new(args.listen, clock, args.seed.unwrap_or(entropy));
    options.history = args.history;
    options.snapshot = args.snapshot.clone().map(|path| SnapshotSettings {
        path,
        interval: Duration::from_secs(args.snapshot_interval_seconds.max(1)),
    });
    let running = start(options).await?;
    for path in &args.crds {
        let n = running.state.load_crds(path)?;
        tracing::info!(path = %path.display(), crds = n, "CRDs registered");
    }
    running.write_kubeconfig(&args.kubeconfig)?;
    println!(
        "control plane at {}; kubeconfig {} (export KUBECONFIG={})",
        running.url(),
        args.kubeconfig.display(),
        args.kubeconfig.display()
    );
    stop.await;
    running.shutdown().await
}
