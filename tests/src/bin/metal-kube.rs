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
use metal_e2e::kubernetes::{RealControlPlane, access, audit, upstream};
use metal_testkit::bmo::Bmo;

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
        /// Whose CRDs: `ours` (kind/crds/), or `upstream` — BMO's own CRDs from `make bmo`, our
        /// HostPool CRD, and BMO's ServiceAccount with its release's ClusterRole beside ours
        /// (`state.json` then names `bmo_kubeconfig`).
        #[arg(long, value_enum, default_value = "ours")]
        crds: Crds,
    },
    /// Read the audit log of a run: the operator's requests per verb and resource, set against the
    /// grants of an RBAC file. With --check, fail on a refused request or a grant never used.
    Audit {
        /// The run's state file (`up` writes it).
        #[arg(long)]
        state: PathBuf,
        /// The RBAC the operator ran with.
        #[arg(long, default_value = "kind/operator/rbac.yaml")]
        rbac: PathBuf,
        /// Exit non-zero if the operator was refused anything or left a grant unused.
        #[arg(long)]
        check: bool,
    },
}

/// Whose CRDs `up` installs.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Crds {
    Ours,
    Upstream,
}

/// Grants the audit log cannot show in use, each with the reason it stays in the role.
const UNEXERCISED: &[(&str, &str)] = &[
    (
        "update metal-operator.io/hostpools/finalizers",
        "OwnerReferencesPermissionEnforcement (enabled on this apiserver) checks it when a pool \
         creates a claim with blockOwnerDeletion; an admission check, not a request",
    ),
    (
        "delete metal3.io/firmwareschemas",
        "OwnerReferencesPermissionEnforcement checks it when a FirmwareSchema shared by hosts \
         alike gets one more owner (the operator never deletes one; the garbage collector does); \
         an admission check, not a request",
    ),
];

/// What `state.json` holds for the suite.
#[derive(serde::Serialize, serde::Deserialize)]
struct State {
    server: String,
    version: String,
    admin_kubeconfig: PathBuf,
    operator_kubeconfig: PathBuf,
    /// Upstream BMO's ServiceAccount kubeconfig (`--crds upstream` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bmo_kubeconfig: Option<PathBuf>,
    ca_cert: PathBuf,
    audit_log: PathBuf,
    startup_ms: u128,
    etcd_ms: u128,
    apiserver_ms: u128,
    controller_manager_ms: u128,
    pid: u32,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Up {
            dir,
            max_seconds,
            crds,
        } => tokio::runtime::Runtime::new()
            .context("starting the tokio runtime")?
            .block_on(up(dir, max_seconds, crds)),
        Command::Audit { state, rbac, check } => audit(&state, &rbac, check),
    }
}

fn audit(state: &std::path::Path, rbac: &std::path::Path, check: bool) -> anyhow::Result<()> {
    let state: State = serde_json::from_str(
        &std::fs::read_to_string(state).with_context(|| format!("reading {}", state.display()))?,
    )?;
    let user = format!(
        "system:serviceaccount:{}:{}",
        access::OPERATOR_NAMESPACE,
        access::OPERATOR_ACCOUNT
    );
    let usage = audit::usage_of(&state.audit_log, &user)?;
    let rbac_text =
        std::fs::read_to_string(rbac).with_context(|| format!("reading {}", rbac.display()))?;
    let grants = audit::grants(&rbac_text)?;
    println!(
        "metal-kube audit: {} requests by {user} ({} to discovery and other non-resource URLs)",
        usage.total(),
        usage.non_resource.values().sum::<u64>()
    );
    println!("{:>8}  access", "requests");
    for (access, n) in &usage.allowed {
        println!("{n:>8}  {access}");
    }
    for (access, n) in &usage.forbidden {
        println!("{n:>8}  {access}  REFUSED (403): the role lacks it");
    }
    let mut unused = Vec::new();
    for grant in &grants {
        let used = usage.allowed.keys().any(|a| a == grant);
        let known = UNEXERCISED
            .iter()
            .find(|(g, _)| *g == grant.to_string().as_str());
        match (used, known) {
            (true, _) => {}
            (false, Some((_, why))) => println!("  unused  {grant}  (kept: {why})"),
            (false, None) => {
                println!("  unused  {grant}  never used by the operator in this run");
                unused.push(grant.to_string());
            }
        }
    }
    if check {
        anyhow::ensure!(
            usage.forbidden.is_empty(),
            "the operator was refused {} kind(s) of request: add them to {}",
            usage.forbidden.len(),
            rbac.display()
        );
        anyhow::ensure!(
            unused.is_empty(),
            "{} grant(s) of {} were never used: remove them (or list them in metal-kube's UNEXERCISED with a reason): {unused:?}",
            unused.len(),
            rbac.display()
        );
    }
    Ok(())
}

async fn up(dir: PathBuf, max_seconds: u64, crds: Crds) -> anyhow::Result<()> {
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let state_file = dir.join("state.json");
    let _ = std::fs::remove_file(&state_file);
    // Found before anything starts: a missing BMO build is named at once.
    let bmo = match crds {
        Crds::Ours => None,
        Crds::Upstream => Some(Bmo::locate().map_err(anyhow::Error::msg)?),
    };
    let mut plane = RealControlPlane::start(Some(&dir)).await?;
    let times = plane.startup_times();
    let installed = match &bmo {
        None => access::install(&plane, &workspace_root())
            .await
            .map(|a| (a.kubeconfig, None)),
        Some(bmo) => upstream::install(&plane, &workspace_root(), bmo)
            .await
            .map(|a| (a.operator_kubeconfig, Some(a.bmo_kubeconfig))),
    };
    let (operator_kubeconfig, bmo_kubeconfig) = match installed {
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
        operator_kubeconfig,
        bmo_kubeconfig,
        ca_cert: plane.pki().ca_cert.clone(),
        audit_log: plane.audit_log(),
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
            () = metal_e2e::process::shutdown_signal() => break Ok(()),
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
