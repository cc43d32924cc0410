//! `metal-sim`: the simulation-first bare-metal testbed.
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand, ValueEnum};
use metal_sim::egress::Network;
use metal_sim::fleet::{Fleet, LayoutMode, manifests};
use metal_sim::machine::SimClock;
use metal_sim::serve::{self, ServeOptions};

/// `metal-sim chaos`.
mod chaos;
/// `metal-sim run --engine`.
mod engine_runs;
use engine_runs::run_engine;

/// The testbed runs every service of a fleet in one process, and glibc's malloc and free took
/// about a third of its CPU in a 300-host wire run (`perf record`, docs/benchmarks.md); mimalloc
/// serves the same allocations for less.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "metal-sim",
    version,
    about = "Simulated bare-metal fleet: fake BMCs, mock Ironic, fake agent"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a fleet's BMCs (Redfish, IPMI) and the control API.
    Serve(ServeArgs),
    /// Work with fleet files.
    #[command(subcommand)]
    Fleet(FleetCommand),
    /// Run the embedded Kubernetes-compatible control plane (a test double) and write a kubeconfig.
    Controlplane(metal_controlplane::ControlPlaneArgs),
    /// Play scenario files against the real operator over loopback sockets (wire mode).
    #[command(after_long_help = RUN_HELP)]
    Run(RunArgs),
    /// Seeded chaos: per seed, draw a fleet and a timeline of host operations and faults, play it
    /// and judge the invariants and convergence once faults clear.
    Chaos(chaos::ChaosArgs),
}

#[derive(Args)]
struct RunArgs {
    /// Scenario files (YAML, see docs/scenarios.md).
    #[arg(required_unless_present = "schema")]
    scenarios: Vec<PathBuf>,
    /// Override the scenarios' seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Write the JSONL trace here (one scenario only; default <out>/<name>-seed<N>/trace.jsonl).
    #[arg(long)]
    trace: Option<PathBuf>,
    /// Directory for traces, summaries and SVG timelines.
    #[arg(long, default_value = "scenario-runs")]
    out: PathBuf,
    /// Only parse and validate the scenarios.
    #[arg(long)]
    check: bool,
    /// Print the JSON Schema of scenario files and exit.
    #[arg(long)]
    schema: bool,
    /// Run in engine mode (virtual time, in-process cores, no sockets) instead of wire mode.
    #[arg(long)]
    engine: bool,
    /// Engine mode: run every seed in A..B (inclusive) and report the failing ones.
    #[arg(long, value_name = "A..B", requires = "engine")]
    seeds: Option<String>,
    /// The operator under test (wire mode): `ours` (in this process), `bmo` (upstream Metal3
    /// baremetal-operator, built by `make bmo`) or 'cmd:PROGRAM ARGS…' (any Metal3-compatible
    /// operator, split on whitespace; see the contract below).
    #[arg(long, default_value = "ours", value_name = "ours|bmo|cmd:…")]
    operator: metal_wire::operator::OperatorChoice,
    /// CRDs the control plane serves: `ours`, `bmo` (upstream's 11) or YAML files/directories
    /// (comma-separated). Default: upstream's for `bmo`, ours otherwise.
    #[arg(long, value_name = "ours|bmo|PATH,…")]
    crds: Option<metal_wire::operator::CrdSet>,
    /// Multiply every `wait`'s `within` by this (default: 1 for ours, 3 for an operator process).
    #[arg(long, value_name = "FACTOR")]
    wait_factor: Option<f64>,
}

/// The end of `metal-sim run --help`: the contract an operator process gets.
const RUN_HELP: &str = "\
Any operator under a scenario (--operator bmo | 'cmd:PROGRAM ARGS…'):
  The process is started once the control plane (with the CRDs of --crds), the fleet and the
  mock Ironic are up, with this environment:
    KUBECONFIG          the embedded control plane's kubeconfig (loopback, bearer token)
    WATCH_NAMESPACE     the one namespace the scenario uses
    IRONIC_ENDPOINT     the Ironic API, ending in /v1/ (noauth)
    DEPLOY_KERNEL_URL, DEPLOY_RAMDISK_URL, DEPLOY_ISO_URL
                        placeholders on 127.0.0.1 (the fake agent boots no kernel)
    PROVISIONING_LIMIT  the scenario's operator.provisioning_limit
  bmo also gets upstream's flags (-namespace, -dev, metrics and webhooks off, the health probe
  on a loopback port) and an empty auth directory (metal_testkit::bmo). Its stdout and stderr go
  to <out>/<scenario>-seed<N>/operator.log; if it exits before the run ends, the run stops with
  the log's tail. restart_operator kills it (SIGKILL) and starts it again.
  Scenarios that use our extensions (HostClaim/HostPool pools) or whose `operators:` list leaves
  the operator out are refused; expectations marked `extension: true` are reported
  \"not applicable (extension)\". Engine mode runs only ours. See docs/scenarios.md.";

/// Parses `A..B` (inclusive).
fn seed_range(text: &str) -> anyhow::Result<std::ops::RangeInclusive<u64>> {
    let (a, b) = text
        .split_once("..")
        .ok_or_else(|| anyhow::anyhow!("--seeds takes A..B, got {text:?}"))?;
    let (a, b): (u64, u64) = (a.trim().parse()?, b.trim().parse()?);
    anyhow::ensure!(a <= b, "--seeds {text}: the first seed is above the last");
    Ok(a..=b)
}

#[derive(Subcommand)]
enum FleetCommand {
    /// Print the BareMetalHost and Secret manifests of a fleet (multi-document YAML).
    Manifests {
        /// Fleet file (YAML); the demo fleet when omitted.
        file: Option<PathBuf>,
    },
    /// Validate a fleet file and list its hosts with their BMC addresses.
    Check {
        /// Fleet file (YAML); the demo fleet when omitted.
        file: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum LayoutArg {
    PerAddress,
    SingleAddress,
}

#[derive(Args)]
struct ServeArgs {
    /// Fleet file (YAML); the documented demo fleet (fleets/demo.yaml) when omitted.
    #[arg(long, env = "METAL_SIM_FLEET")]
    fleet: Option<PathBuf>,
    /// Write every endpoint (BMC addresses, credentials, control URL) as JSON to this file.
    #[arg(long, env = "METAL_SIM_ENDPOINTS")]
    endpoints: Option<PathBuf>,
    /// Override the fleet's layout base address (must be in 127.0.0.0/8).
    #[arg(long)]
    bind_base: Option<Ipv4Addr>,
    /// Override the fleet's layout mode.
    #[arg(long, value_enum)]
    layout: Option<LayoutArg>,
    /// Override the fleet's seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Override the fleet's time scale (0.1 = ten times faster than a real server).
    #[arg(long)]
    time_scale: Option<f64>,
    /// Control API address (loopback).
    #[arg(long, default_value = "127.0.0.1:9100", env = "METAL_SIM_CONTROL")]
    control: SocketAddr,
    /// Start everything, print start-up time and memory, then stop (for measurements).
    #[arg(long)]
    exit_after_start: bool,
    /// Also serve the mock Ironic API here (loopback), and add `"ironic": URL` to the endpoints file.
    #[arg(long, env = "METAL_SIM_IRONIC")]
    ironic: Option<SocketAddr>,
    /// Point the fleet's fake agents at this external Ironic (e.g. real Ironic on loopback) instead
    /// of the mock; also the endpoints file's `"ironic"` when `--ironic` is not given.
    #[arg(long, env = "METAL_SIM_IRONIC_URL")]
    ironic_url: Option<String>,
    /// Let the mock Ironic's drivers reach BMCs in this network too (CIDR, e.g. 10.0.0.0/8;
    /// repeatable). Without it they talk to loopback BMCs only and refuse any other address.
    #[arg(
        long,
        value_name = "CIDR",
        requires = "ironic",
        env = "METAL_SIM_ALLOW_BMC_NETWORK",
        value_delimiter = ','
    )]
    allow_bmc_network: Vec<Network>,
    /// Also start the embedded Kubernetes control plane here (loopback) with the operator's CRDs
    /// registered, write its kubeconfig and add `"kubeconfig": PATH` to the endpoints file.
    #[arg(long, env = "METAL_SIM_CONTROLPLANE")]
    controlplane: Option<SocketAddr>,
    /// Where the embedded control plane's kubeconfig goes (with `--controlplane`).
    #[arg(long, default_value = "metal-sim.kubeconfig")]
    kubeconfig: PathBuf,
    /// Keep the control plane's store in this file: restored at start, written at shutdown.
    #[arg(long)]
    snapshot: Option<PathBuf>,
}

fn load(file: Option<&PathBuf>) -> anyhow::Result<Fleet> {
    Ok(match file {
        Some(path) => Fleet::load(path)?,
        None => Fleet::demo()?,
    })
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // `run` draws a live table on stdout; only warnings go to stderr unless RUST_LOG says otherwise.
    let default_filter = if matches!(cli.command, Command::Run(_) | Command::Chaos(_)) {
        "warn"
    } else {
        "info"
    };
    // `chaos` also keeps each wire seed's own log (our operator runs in this process) to search it
    // for credentials: a second layer, off until a seed points it at a file.
    let capture = metal_wire::capture::LogCapture::default();
    {
        use tracing_subscriber::Layer as _;
        use tracing_subscriber::layer::SubscriberExt as _;
        use tracing_subscriber::util::SubscriberInitExt as _;
        let shown = tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
            );
        let kept = matches!(cli.command, Command::Chaos(_)).then(|| {
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(capture.clone())
                .with_filter(tracing_subscriber::EnvFilter::new(
                    metal_wire::capture::CAPTURE_FILTER,
                ))
        });
        tracing_subscriber::registry().with(shown).with(kept).init();
    }
    match cli.command {
        Command::Fleet(FleetCommand::Manifests { file }) => {
            print!("{}", manifests(&load(file.as_ref())?)?);
            Ok(())
        }
        Command::Fleet(FleetCommand::Check { file }) => {
            let fleet = load(file.as_ref())?;
            for h in fleet.hosts() {
                println!(
                    "{:<24} {:<10} {}",
                    h.name,
                    h.profile.profile,
                    h.bmc.address()
                );
            }
            println!(
                "{}: {} hosts, seed {}",
                fleet.source,
                fleet.hosts().len(),
                fleet.file.seed
            );
            Ok(())
        }
        Command::Serve(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(run_serve(args))
        }
        Command::Run(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let failed = runtime.block_on(run_scenarios(args))?;
            if failed {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Chaos(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let violations = runtime.block_on(chaos::run(args, capture))?;
            if violations {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Controlplane(args) => Ok(tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(metal_controlplane::cli::run(
                args,
                Arc::new(chrono::Utc::now),
                std::hash::BuildHasher::hash_one(
                    &std::collections::hash_map::RandomState::new(),
                    0u8,
                ),
                shutdown_signal(),
            ))?),
    }
}

/// Plays each scenario in wire mode; true when one of them failed.
async fn run_scenarios(args: RunArgs) -> anyhow::Result<bool> {
    use metal_scenario::Scenario;
    use metal_wire as wire;
    use std::io::IsTerminal as _;
    let RunArgs {
        scenarios,
        seed,
        trace,
        out,
        check,
        schema,
        engine,
        seeds,
        operator,
        crds,
        wait_factor,
    } = args;
    if schema {
        print!("{}", metal_scenario::format::json_schema());
        return Ok(false);
    }
    anyhow::ensure!(
        trace.is_none() || scenarios.len() == 1,
        "--trace names one file: give one scenario"
    );
    let mut loaded = Vec::new();
    for path in &scenarios {
        let s = Scenario::load(path)?;
        loaded.push(match seed {
            Some(n) => s.with_seed(n)?,
            None => s,
        });
    }
    if check {
        for s in &loaded {
            let modes: Vec<String> = s
                .file
                .modes
                .iter()
                .map(|m| format!("{m:?}").to_lowercase())
                .collect();
            println!(
                "{}: {} ({} steps, {} hosts, modes {})",
                s.source,
                s.name(),
                s.file.timeline.len(),
                s.fleet.hosts().len(),
                modes.join(",")
            );
        }
        return Ok(false);
    }
    if engine {
        anyhow::ensure!(
            operator == wire::operator::OperatorChoice::Ours,
            "engine mode runs only our operator's cores in virtual time: --operator {operator} needs wire mode (drop --engine)"
        );
        return run_engine(&loaded, seeds.as_deref(), trace.as_deref(), &out);
    }
    if let Some(f) = wait_factor {
        anyhow::ensure!(
            f.is_finite() && f > 0.0,
            "--wait-factor must be a number above 0, got {f}"
        );
    }
    let display = if std::io::stdout().is_terminal() {
        wire::Display::Terminal
    } else {
        wire::Display::Lines
    };
    let mut failed = false;
    for s in &loaded {
        // Refused (our extensions under another operator): said, counted as not passed, and
        // the other scenarios still run.
        let refused = wire::unsupported_for(s, &operator);
        if !refused.is_empty() {
            failed = true;
            println!("NOT RUN {}", refused.join("; "));
            continue;
        }
        let out_dir = out.join(format!("{}-seed{}", s.name(), s.seed()));
        let run = wire::run(
            s,
            wire::RunOptions {
                out_dir: out_dir.clone(),
                trace: trace.clone(),
                bind_base: None,
                display,
                clock: SimClock::start_now(),
                utc: Arc::new(chrono::Utc::now),
                operator: operator.clone(),
                crds: crds.clone(),
                wait_factor,
                logs: Vec::new(),
            },
        );
        // On SIGINT/SIGTERM the run is dropped, and with it an operator process (killed on drop).
        let outcome = tokio::select! {
            outcome = run => outcome?,
            () = shutdown_signal() => anyhow::bail!("{}: interrupted", s.source),
        };
        print!("\n{}", outcome.summary.to_text());
        println!(
            "trace {}; summary {}; timeline {}; report {}",
            outcome.trace_path.display(),
            out_dir.join("summary.json").display(),
            out_dir.join("timeline.svg").display(),
            out_dir.join("report.html").display()
        );
        if !outcome.verdict.passed() {
            failed = true;
            let other =
                (operator != wire::operator::OperatorChoice::Ours).then(|| operator.to_string());
            println!(
                "rerun: {}",
                metal_scenario::report::rerun_command(s, "wire", other.as_deref())
            );
        }
    }
    Ok(failed)
}

async fn run_serve(args: ServeArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let rss_before = resident_kib();
    let ServeArgs {
        fleet,
        endpoints,
        bind_base,
        layout,
        seed,
        time_scale,
        control,
        exit_after_start,
        ironic,
        ironic_url,
        allow_bmc_network,
        controlplane,
        kubeconfig,
        snapshot,
    } = args;
    let mut fleet = load(fleet.as_ref())?;
    if bind_base.is_some() || layout.is_some() || seed.is_some() || time_scale.is_some() {
        let mut file = fleet.file.clone();
        if let Some(base) = bind_base {
            file.layout.base = base;
        }
        if let Some(mode) = layout {
            file.layout.mode = match mode {
                LayoutArg::PerAddress => LayoutMode::PerAddress,
                LayoutArg::SingleAddress => LayoutMode::SingleAddress,
            };
        }
        if let Some(seed) = seed {
            file.seed = seed;
        }
        if let Some(scale) = time_scale {
            file.time_scale = scale;
        }
        fleet = Fleet::from_file(
            file,
            &format!("{} (with command-line overrides)", fleet.source),
        )?;
    }
    let world = Arc::new(fleet.build_world(SimClock::start_now())?);
    let running = serve::start(
        Arc::clone(&world),
        ServeOptions {
            control,
            ironic,
            ironic_seed: world.seed(),
            ironic_bmc_networks: allow_bmc_network,
            ironic_url,
            ..ServeOptions::of_fleet(&fleet)
        },
    )
    .await
    .context("starting the fleet")?;
    let mut described = running.endpoints().clone();
    let plane = match controlplane {
        Some(listen) => {
            let plane = start_controlplane(listen, world.seed(), &kubeconfig, snapshot).await?;
            described.kubeconfig = Some(kubeconfig.display().to_string());
            Some(plane)
        }
        None => None,
    };
    if let Some(path) = &endpoints {
        described.write(path)?;
    }
    let elapsed = started.elapsed();
    print!(
        "{}",
        serve::summary(&world, &described, endpoints.as_deref())
    );
    if exit_after_start {
        let hosts = world.hosts().len().max(1);
        let rss = resident_kib();
        let per_host = rss.saturating_sub(rss_before) as f64 / hosts as f64;
        println!(
            "started {} hosts in {} ms; resident {} KiB (before fleet {} KiB, {:.1} KiB per host)",
            world.hosts().len(),
            elapsed.as_millis(),
            rss,
            rss_before,
            per_host
        );
        running.shutdown().await?;
        if let Some(plane) = plane {
            plane.shutdown().await?;
        }
        return Ok(());
    }
    let stop = running.stop_token();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("stopping on signal");
        stop.cancel();
    });
    running.wait().await?;
    if let Some(plane) = plane {
        plane.shutdown().await?;
    }
    Ok(())
}

/// The embedded control plane for `serve --controlplane`: the operator's own CRDs (built in, so no
/// file is needed) registered, and the kubeconfig written.
async fn start_controlplane(
    listen: SocketAddr,
    seed: u64,
    kubeconfig: &Path,
    snapshot: Option<PathBuf>,
) -> anyhow::Result<metal_controlplane::Running> {
    use metal_controlplane::{Options, SnapshotSettings, start};
    let mut options = Options::new(listen, Arc::new(chrono::Utc::now), seed);
    options.snapshot = snapshot.map(|path| SnapshotSettings {
        path,
        interval: std::time::Duration::from_secs(5),
    });
    let plane = start(options)
        .await
        .context("starting the embedded control plane")?;
    let crds = format!(
        "{}\n---\n{}",
        metal_operator::api::crd::crds_yaml(),
        metal_operator::api::crd::pool_crds_yaml()
    );
    plane
        .state
        .load_crds_text(Path::new("(the operator's built-in CRDs)"), &crds)?;
    plane.write_kubeconfig(kubeconfig)?;
    Ok(plane)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// Resident set size of this process in KiB (Linux; 0 elsewhere).
fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}
