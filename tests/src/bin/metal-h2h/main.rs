//! `metal-h2h`: upstream BMO and our operator head to head — one real control plane (etcd,
//! kube-apiserver, kube-controller-manager on loopback) with upstream's CRDs and both operators'
//! ServiceAccounts, one image server, and for each host count and each settings row, BMO then ours,
//! each on a fresh namespace and a fresh `metal-sim serve` (the same fleet, a clean mock Ironic).
//! Prints a table of wall times, CPU seconds, peak RSS and requests per host, and the ratios
//! ours/BMO; writes `results.json` and, with `--summary`, rows for `make bench`'s summary table.
//! Figures are printed, never asserted (docs/benchmarks.md, "Head to head with upstream BMO").
//!
//! - [`run`]: one operator through one lifecycle, bounded per phase.
//! - [`measure`]: the watch of host states, the mock Ironic's journal, the audit log, `/proc`.

mod measure;
mod run;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use metal_e2e::binaries::workspace_root;
use metal_e2e::kubernetes::{RealControlPlane, upstream};
use metal_testkit::bmo::Bmo;
use metal_testkit::images::{FileServer, Image, deploy_images};

use run::{Operator, Outcome, Phase, Settings, Shared};

#[derive(Parser, Debug)]
#[command(
    name = "metal-h2h",
    about = "Upstream BMO and metal-operator head to head on the same apiserver, mock Ironic and fleet"
)]
struct Cli {
    /// Host counts, one block of rows each (repeat or comma-separate).
    #[arg(long, value_delimiter = ',', default_values_t = [100usize, 1000])]
    hosts: Vec<usize>,
    /// Settings rows: `default` (each operator's defaults, provisioning limit 20) and/or `tuned`.
    #[arg(long, value_delimiter = ',', default_values_t = ["default".to_owned(), "tuned".to_owned()])]
    settings: Vec<String>,
    /// Operators, run one after the other in this order.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Operator::Bmo, Operator::Ours])]
    operators: Vec<Operator>,
    /// Bound of each phase (to available, to provisioned, back to available), in seconds.
    #[arg(long, default_value_t = 900)]
    phase_timeout: u64,
    /// Tuned rows: reconciles at once for both (BMO_CONCURRENCY, --concurrency).
    #[arg(long, default_value_t = 32)]
    tuned_concurrency: u32,
    /// Tuned rows: Kubernetes client QPS for both (burst is twice this).
    #[arg(long, default_value_t = 200)]
    tuned_kube_qps: u32,
    /// Tuned rows: our --poll-first (BMO has no equivalent; empty: not set).
    #[arg(long, default_value = "1s")]
    tuned_poll_first: String,
    /// Tuned rows: the provisioning limit for both (0: the host count, i.e. no queueing).
    #[arg(long, default_value_t = 0)]
    tuned_provisioning_limit: usize,
    /// The fleet's time scale (0: machine transitions at once; the machines are not what is measured).
    #[arg(long, default_value_t = 0.0)]
    time_scale: f64,
    /// Directory for the control plane, logs and results (created; kept).
    #[arg(long)]
    dir: PathBuf,
    /// `metal-sim` and `metal-operator` (default: `$CARGO_TARGET_DIR/release`, else target/release).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Append `make bench` summary rows here (tab-separated: figure, ours, anchor, ratio, target).
    #[arg(long)]
    summary: Option<PathBuf>,
}

fn settings_for(cli: &Cli, name: &str, hosts: usize) -> anyhow::Result<Settings> {
    Ok(match name {
        // Each operator's own defaults; 20 is both BMO's and our default provisioning limit.
        "default" => Settings {
            name: name.to_owned(),
            provisioning_limit: 20,
            concurrency: None,
            kube_qps: None,
            poll_first: None,
        },
        "tuned" => Settings {
            name: name.to_owned(),
            provisioning_limit: match cli.tuned_provisioning_limit {
                0 => hosts,
                n => n,
            },
            concurrency: Some(cli.tuned_concurrency),
            kube_qps: Some((cli.tuned_kube_qps, cli.tuned_kube_qps * 2)),
            poll_first: Some(cli.tuned_poll_first.clone()).filter(|s| !s.is_empty()),
        },
        other => anyhow::bail!("unknown settings row {other:?} (default, tuned)"),
    })
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
    // Ctrl-C or SIGTERM drops the run: every child is killed on drop (kill_on_drop, the control
    // plane's Drop). Without the SIGTERM arm, `kill` left the operator under test running.
    runtime.block_on(async {
        tokio::select! {
            r = drive(cli) => r,
            () = metal_e2e::process::shutdown_signal() => anyhow::bail!("interrupted"),
        }
    })
}

async fn drive(cli: Cli) -> anyhow::Result<()> {
    let root = workspace_root();
    let bmo = Bmo::locate().map_err(anyhow::Error::msg)?;
    let bin_dir = cli.bin_dir.clone().unwrap_or_else(|| {
        std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"))
            .join("release")
    });
    let sim = bin_dir.join("metal-sim");
    let operator = bin_dir.join("metal-operator");
    for bin in [&sim, &operator] {
        anyhow::ensure!(
            bin.is_file(),
            "{} is missing: cargo build --release -p metal-operator -p metal-wire --bins",
            bin.display()
        );
    }
    std::fs::create_dir_all(&cli.dir)?;
    let dir = std::fs::canonicalize(&cli.dir)?;

    println!("metal-h2h: starting the control plane in {}", dir.display());
    let plane = RealControlPlane::start(Some(&dir.join("kube"))).await?;
    let access = upstream::install(&plane, &root, &bmo).await?;
    let image = Image::new("h2h", 64 * 1024);
    let files = FileServer::start(
        deploy_images().chain([("/h2h/os.img".to_owned(), image.bytes().to_vec())]),
    )
    .await?;
    let shared = Shared {
        bmo: &bmo,
        sim: &sim,
        operator: &operator,
        admin: plane.admin_kubeconfig(),
        admin_client: plane.admin_client().await?,
        bmo_kubeconfig: &access.bmo_kubeconfig,
        operator_kubeconfig: &access.operator_kubeconfig,
        audit_log: plane.audit_log(),
        files_base: files.base().to_owned(),
        image_url: files.url("/h2h/os.img"),
        image_sha256: image.sha256(),
        http: metal_e2e::sim::http_client()?,
        ticks: measure::clock_ticks(),
        time_scale: cli.time_scale,
        phase_timeout: Duration::from_secs(cli.phase_timeout),
    };
    println!(
        "kube-apiserver {} at {}; BMO {} ({}); ours {}",
        plane.version(),
        plane.server(),
        bmo.version,
        bmo.bin.display(),
        operator.display()
    );

    let mut outcomes: Vec<Outcome> = Vec::new();
    for &hosts in &cli.hosts {
        for name in &cli.settings {
            let settings = settings_for(&cli, name, hosts)?;
            for &op in &cli.operators {
                let run_dir = dir.join(format!(
                    "{}-{}-{hosts}",
                    op.label().to_lowercase(),
                    settings.name
                ));
                println!(
                    "== {} hosts, {} settings, {} (logs in {})",
                    hosts,
                    settings.name,
                    op.label(),
                    run_dir.display()
                );
                let outcome = run::run(&shared, op, &settings, hosts, &run_dir)
                    .await
                    .with_context(|| {
                        format!("{} hosts, {}, {}", hosts, settings.name, op.label())
                    })?;
                print_outcome(&outcome);
                outcomes.push(outcome);
                std::fs::write(
                    dir.join("results.json"),
                    serde_json::to_vec_pretty(&outcomes)?,
                )?;
            }
        }
    }
    drop(files);
    plane.stop().await;

    println!();
    print_table(&outcomes);
    if let Some(path) = &cli.summary {
        write_summary(path, &outcomes)?;
    }
    Ok(())
}

fn print_outcome(o: &Outcome) {
    println!(
        "   available {} | provisioned {} | back to available {} | CPU {:.1} s | peak RSS {} MiB | \
         Ironic {} (+{} agent{}) | Kubernetes {} | errored hosts {} | load {:.1} → {:.1}",
        o.to_available.show(),
        o.to_provisioned.show(),
        o.back_to_available.show(),
        o.cpu_seconds,
        o.peak_rss_kib / 1024,
        o.ironic_requests,
        o.agent_requests,
        if o.ironic_lost > 0 {
            format!(", {} lost", o.ironic_lost)
        } else {
            String::new()
        },
        o.kube_requests,
        o.errored_hosts,
        o.load.0,
        o.load.1
    );
    for (what, rows) in [
        ("Ironic", &o.ironic_by_kind),
        ("Kubernetes", &o.kube_by_kind),
    ] {
        let line: Vec<String> = rows
            .iter()
            .take(8)
            .map(|(k, n)| format!("{k} ×{n}"))
            .collect();
        println!("   {what}: {}", line.join("; "));
    }
}

fn per_host(n: u64, hosts: usize) -> f64 {
    n as f64 / hosts.max(1) as f64
}

/// `a/b` as `0.31x`, or `n/a`.
fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if a > 0.0 && b > 0.0 => {
            let r = a / b;
            if r >= 10.0 {
                format!("{r:.0}x")
            } else if r >= 1.0 {
                format!("{r:.1}x")
            } else {
                format!("{r:.2}x")
            }
        }
        _ => "n/a".to_owned(),
    }
}

fn print_table(outcomes: &[Outcome]) {
    println!(
        "{:>5}  {:<7}  {:<4}  {:>8}  {:>14}  {:>14}  {:>14}  {:>8}  {:>8}  {:>9}  {:>9}",
        "hosts",
        "setting",
        "op",
        "limit",
        "→ available",
        "→ provisioned",
        "→ available",
        "CPU s",
        "RSS MiB",
        "Ironic/h",
        "kube/h"
    );
    for o in outcomes {
        println!(
            "{:>5}  {:<7}  {:<4}  {:>8}  {:>14}  {:>14}  {:>14}  {:>8.1}  {:>8}  {:>9.1}  {:>9.1}",
            o.hosts,
            o.settings.name,
            o.operator.label(),
            o.settings.provisioning_limit,
            o.to_available.show(),
            o.to_provisioned.show(),
            o.back_to_available.show(),
            o.cpu_seconds,
            o.peak_rss_kib / 1024,
            per_host(o.ironic_requests, o.hosts),
            per_host(o.kube_requests, o.hosts)
        );
    }
    println!();
    println!("ratios ours/BMO (time and cost: below 1 is better for ours)");
    for (bmo, ours) in pairs(outcomes) {
        println!(
            "{:>5}  {:<7}  → available {}  → provisioned {}  → available {}  CPU {}  RSS {}  Ironic/h {}  kube/h {}",
            ours.hosts,
            ours.settings.name,
            ratio(ours.to_available.seconds(), bmo.to_available.seconds()),
            ratio(ours.to_provisioned.seconds(), bmo.to_provisioned.seconds()),
            ratio(
                ours.back_to_available.seconds(),
                bmo.back_to_available.seconds()
            ),
            ratio(Some(ours.cpu_seconds), Some(bmo.cpu_seconds)),
            ratio(
                Some(ours.peak_rss_kib as f64),
                Some(bmo.peak_rss_kib as f64)
            ),
            ratio(
                Some(ours.ironic_requests as f64),
                Some(bmo.ironic_requests as f64)
            ),
            ratio(
                Some(ours.kube_requests as f64),
                Some(bmo.kube_requests as f64)
            ),
        );
    }
}

/// BMO's and our outcome of the same host count and settings row.
fn pairs(outcomes: &[Outcome]) -> Vec<(&Outcome, &Outcome)> {
    let mut out = Vec::new();
    for ours in outcomes.iter().filter(|o| o.operator == Operator::Ours) {
        if let Some(bmo) = outcomes.iter().find(|b| {
            b.operator == Operator::Bmo
                && b.hosts == ours.hosts
                && b.settings.name == ours.settings.name
        }) {
            out.push((bmo, ours));
        }
    }
    out
}

/// `make bench` rows: per host count and settings, all-provisioned time, CPU and peak RSS, ours
/// against BMO, with the targets of issue #14 at 1 000 hosts.
fn write_summary(path: &std::path::Path, outcomes: &[Outcome]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let show_phase = |p: &Phase| p.show();
    for (bmo, ours) in pairs(outcomes) {
        let at = format!(
            "h2h: {} hosts, {} (limit {})",
            ours.hosts, ours.settings.name, ours.settings.provisioning_limit
        );
        let big = ours.hosts >= 1000;
        // Time to all provisioned: the operator's start to the end of the provisioning phase.
        let provisioned = |o: &Outcome| match (&o.to_available, &o.to_provisioned) {
            (Phase::Done { seconds: a }, Phase::Done { seconds: p }) => Some(a + p),
            _ => None,
        };
        let show_provisioned = |o: &Outcome| match provisioned(o) {
            Some(s) => format!("{s:.1} s"),
            None if !matches!(o.to_available, Phase::Done { .. }) => {
                format!("available {}", show_phase(&o.to_available))
            }
            None => show_phase(&o.to_provisioned),
        };
        let rows = [
            (
                format!("{at}, all provisioned"),
                show_provisioned(ours),
                format!("BMO {}", show_provisioned(bmo)),
                ratio(provisioned(bmo), provisioned(ours)).replace('x', "x sooner"),
                if big { "≥ 3x sooner" } else { "" }.to_owned(),
            ),
            (
                format!("{at}, operator CPU"),
                format!("{:.1} s", ours.cpu_seconds),
                format!("BMO {:.1} s", bmo.cpu_seconds),
                ratio(Some(ours.cpu_seconds), Some(bmo.cpu_seconds)),
                if big { "≤ 0.33x" } else { "" }.to_owned(),
            ),
            (
                format!("{at}, operator peak RSS"),
                format!("{} MiB", ours.peak_rss_kib / 1024),
                format!("BMO {} MiB", bmo.peak_rss_kib / 1024),
                ratio(
                    Some(ours.peak_rss_kib as f64),
                    Some(bmo.peak_rss_kib as f64),
                ),
                if big { "≤ 0.5x" } else { "" }.to_owned(),
            ),
        ];
        for (a, b, c, d, e) in rows {
            let cell = |s: &str| {
                if s.is_empty() {
                    "-".to_owned()
                } else {
                    s.replace('\t', " ")
                }
            };
            writeln!(
                file,
                "{}\t{}\t{}\t{}\t{}",
                cell(&a),
                cell(&b),
                cell(&c),
                cell(&d),
                cell(&e)
            )?;
        }
    }
    Ok(())
}
