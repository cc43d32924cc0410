//! `metal-kube up --dir DIR`: starts the real control plane (etcd, kube-apiserver,
//! kube-controller-manager on loopback), installs the CRDs and the operator's RBAC from `kind/`,
//! writes `DIR/state.json` (server, admin and operator kubeconfigs, version, start-up times) and runs
//! until SIGTERM/SIGINT or `--max-seconds`, then stops every component. `scripts/e2e.sh` runs the
//! end-to-end suite against it; anyone can run it to poke at a real apiserver with kubectl.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use metal_e2e::binaries::workspace_root;
use metal_e2e::kubernetes::{RealControlPlane, access};

#[derive(Parser, Debug)]
#[command(
    name = "metal-kube",
    about = "A real Kubernetes control plane on loopback, as a judge"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start, install the operator's CRDs and RBAC, write the state file, and wait.
    Up {
        /// Directory for certificates, etcd data, logs and kubeconfigs (created if missing).
        #[arg(long)]
        dir: PathBuf,
        /// Stop by itself after this many seconds (nothing is left running by a forgotten shell).
        #[arg(long, default_value_t = 4 * 3600)]
        max_seconds: u64,
    },
}

/// What `state.json` holds for the suite.
#[derive(serde::Serialize)]
struct State {
    server: String,
    version: String,
    admin_kubeconfig: PathBuf,
    operator_kubeconfig: PathBuf,
    ca_cert: PathBuf,
    startup_ms: u128,
    etcd_ms: u128,
    apiserver_ms: u128,
    controller_manager_ms: u128,
    pid: u32,
}

fn main() -> anyhow::Result<()> {
    let Command::Up { dir, max_seconds } = Cli::parse().command;
    tokio::runtime::Runtime::new()
        .context("starting the tokio runtime")?
        .block_on(up(dir, max_seconds))
}

async fn up(dir: PathBuf, max_seconds: u64) -> anyhow::Result<()> {
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let state_file = dir.join("state.json");
    let _ = std::fs::remove_file(&state_file);
    let mut plane = RealControlPlane::start(Some(&dir)).await?;
    let times = plane.startup_times();
    let installed = access::install(&plane, &workspace_root()).await;
    let access = match installed {
        Ok(a) => a,
        Err(e) => {
            let tails = plane.log_tails(20);
            plane.stop().await;
            return Err(e.context(format!("installing the operator's CRDs and RBAC\n{tails}")));
        }
    };
    let state = State {
        server: plane.server().to_owned(),
        version: plane.version().to_owned(),
        admin_kubeconfig: plane.admin_kubeconfig().to_path_buf(),
        operator_kubeconfig: access.kubeconfig.clone(),
        ca_cert: plane.pki().ca_cert.clone(),
        startup_ms: times.total.as_millis(),
        etcd_ms: times.etcd.as_millis(),
        apiserver_ms: times.apiserver.as_millis(),
        controller_manager_ms: times.controller_manager.as_millis(),
        pid: std::process::id(),
    };
    let tmp = dir.join("state.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&state)?)?;
    std::fs::rename(&tmp, &state_file)?;
    println!(
        "metal-kube: kube-apiserver {} ready at {} in {:.1} s (etcd {:.1} s, apiserver {:.1} s, \
         controller-manager {:.1} s); admin kubeconfig {}",
        state.version,
        state.server,
        times.total.as_secs_f64(),
        times.etcd.as_secs_f64(),
        times.apiserver.as_secs_f64(),
        times.controller_manager.as_secs_f64(),
        state.admin_kubeconfig.display()
    );

    let deadline = tokio::time::sleep(Duration::from_secs(max_seconds));
    tokio::pin!(deadline);
    let mut watchdog = tokio::time::interval(Duration::from_secs(2));
    let outcome = loop {
        tokio::select! {
            () = shutdown_signal() => break Ok(()),
            () = &mut deadline => {
                eprintln!("metal-kube: --max-seconds {max_seconds} reached; stopping");
                break Ok(());
            }
            _ = watchdog.tick() => {
                if let Err(e) = plane.check_alive() {
                    break Err(e);
                }
            }
        }
    };
    let _ = std::fs::remove_file(&state_file);
    plane.stop().await;
    outcome
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
