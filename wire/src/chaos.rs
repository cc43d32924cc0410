//! `metal-sim chaos`: seeded chaos runs (drawn by `metal_scenario::chaos`) in engine or wire
//! mode, one line per seed and a tally; failing seeds' scenarios written out for `metal-sim run`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use metal_sim::machine::SimClock;
use metal_wire::capture::LogCapture;

use super::{seed_range, shutdown_signal};

#[derive(Args)]
pub(crate) struct ChaosArgs {
    /// Seeds to run, A..B inclusive.
    #[arg(long, value_name = "A..B")]
    seeds: String,
    /// Where each seed runs.
    #[arg(long, value_enum, default_value = "engine")]
    mode: ChaosMode,
    /// Wire mode: directory for each seed's trace, summary, timeline and report.html, and the
    /// seeds' index.html.
    #[arg(long, default_value = "chaos-runs")]
    out: PathBuf,
    /// Write each failing seed's scenario here as `<name>.yaml`, ready for `metal-sim run`.
    #[arg(long, value_name = "DIR")]
    write_failing: Option<PathBuf>,
    /// Print a seed's drawn scenario (the first of --seeds) instead of running it.
    #[arg(long)]
    print: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ChaosMode {
    Engine,
    Wire,
}

/// `metal-sim chaos`: every seed drawn, played and judged; true when one had a violation.
pub(crate) async fn run(args: ChaosArgs, capture: LogCapture) -> anyhow::Result<bool> {
    use metal_scenario::{Mode, chaos, report};
    let ChaosArgs {
        seeds,
        mode,
        out,
        write_failing,
        print,
    } = args;
    let range = seed_range(&seeds)?;
    let mode = match mode {
        ChaosMode::Engine => Mode::Engine,
        ChaosMode::Wire => Mode::Wire,
    };
    let word = if mode == Mode::Engine {
        "engine"
    } else {
        "wire"
    };
    if print {
        print!("{}", chaos::draw(*range.start(), mode));
        return Ok(false);
    }
    let started = Instant::now();
    let (mut passed, mut failed) = (0u64, 0u64);
    // Wire mode writes each seed's outputs (report.html among them): the index links them.
    let mut reports = Vec::new();
    for seed in range.clone() {
        let began = Instant::now();
        let outcome = match mode {
            Mode::Engine => chaos::run_engine(seed),
            Mode::Wire => chaos_wire(seed, &out, &capture).await?,
        };
        let ms = began.elapsed().as_millis();
        if mode == Mode::Wire {
            reports.push(report::SeedReport {
                seed,
                passed: outcome.violations.is_empty(),
                report: Some(format!(
                    "{}-seed{seed}/report.html",
                    chaos::name(seed, mode)
                )),
                failures: outcome.violations.clone(),
                rerun: format!("metal-sim chaos --mode {word} --seeds {seed}..{seed}"),
            });
        }
        if outcome.violations.is_empty() {
            passed += 1;
            println!("seed {seed}: pass ({} events, {ms} ms)", outcome.events);
            continue;
        }
        failed += 1;
        println!(
            "seed {seed}: FAIL ({} violations, {ms} ms)",
            outcome.violations.len()
        );
        for v in &outcome.violations {
            println!("  {v}");
        }
        println!("  rerun: metal-sim chaos --mode {word} --seeds {seed}..{seed}");
        if let Some(dir) = &write_failing {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            let path = dir.join(format!("{}.yaml", chaos::name(seed, mode)));
            std::fs::write(&path, chaos::draw(seed, mode))
                .with_context(|| format!("writing {}", path.display()))?;
            println!("  scenario written to {}", path.display());
        }
    }
    println!(
        "chaos ({word} mode): seeds {}..{}: {passed} passed, {failed} failed in {:.1} s",
        range.start(),
        range.end(),
        started.elapsed().as_secs_f64()
    );
    if !reports.is_empty() {
        let index = out.join("index.html");
        report::write_file(
            &index,
            &report::index_html(
                &format!(
                    "chaos, {word} mode — seeds {}..{}",
                    range.start(),
                    range.end()
                ),
                &reports,
            ),
        )?;
        println!("index of the seeds' reports: {}", index.display());
    }
    Ok(failed > 0)
}

/// One chaos seed over loopback sockets against our operator, in this process: its log (and the
/// fakes', the mock Ironic's and the control plane's) is kept in `metal-sim.log` in the seed's
/// directory and searched for the run's credentials.
async fn chaos_wire(
    seed: u64,
    out: &Path,
    capture: &LogCapture,
) -> anyhow::Result<metal_scenario::chaos::SeedOutcome> {
    use metal_scenario::{Mode, chaos};
    use metal_wire as wire;
    let s = chaos::scenario(seed, Mode::Wire)?;
    let out_dir = out.join(format!("{}-seed{seed}", s.name()));
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let log = out_dir.join("metal-sim.log");
    capture
        .to(&log)
        .with_context(|| format!("creating {}", log.display()))?;
    let run = wire::run(
        &s,
        wire::RunOptions {
            out_dir: out_dir.clone(),
            trace: None,
            bind_base: None,
            display: wire::Display::Lines,
            clock: SimClock::start_now(),
            utc: Arc::new(chrono::Utc::now),
            operator: wire::operator::OperatorChoice::Ours,
            crds: None,
            wait_factor: None,
            logs: vec![log.clone()],
        },
    );
    let outcome = tokio::select! {
        outcome = run => outcome,
        () = shutdown_signal() => {
            capture.stop();
            anyhow::bail!("chaos seed {seed}: interrupted")
        }
    };
    capture.stop();
    let outcome = outcome?;
    Ok(chaos::SeedOutcome {
        seed,
        events: outcome.trace.events.len(),
        violations: outcome
            .verdict
            .failures
            .iter()
            .map(ToString::to_string)
            .collect(),
    })
}
