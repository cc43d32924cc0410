//! `metal-sim run --engine`: scenarios in virtual time, in this process, one seed or a sweep.

use std::time::Instant;

use super::seed_range;

/// Engine mode: each scenario once (writing its outputs) or over a seed range (each seed's
/// outputs, and an index of their reports); true when one failed.
pub(crate) fn run_engine(
    scenarios: &[metal_scenario::Scenario],
    seeds: Option<&str>,
    trace: Option<&std::path::Path>,
    out: &std::path::Path,
) -> anyhow::Result<bool> {
    use metal_scenario::{Mode, report};
    let mut failed = false;
    for s in scenarios {
        if !s.runs_in(Mode::Engine) {
            println!("{}: skipped (modes: [wire])", s.source);
            continue;
        }
        if let Some(range) = seeds {
            let range = seed_range(range)?;
            let (first, last) = (*range.start(), *range.end());
            let dir = out.join(format!("{}-seeds{first}-{last}-engine", s.name()));
            let mut reports = Vec::new();
            for seed in range {
                let seed_dir = dir.join(format!("seed{seed}"));
                let r = engine_seed(s, seed, &seed_dir, &seed_dir.join("trace.jsonl"))?;
                reports.push(report::SeedReport {
                    seed,
                    passed: r.passed,
                    report: r.wrote.then(|| format!("seed{seed}/report.html")),
                    failures: r.failures,
                    rerun: r.rerun,
                });
            }
            let failures: Vec<&report::SeedReport> = reports.iter().filter(|r| !r.passed).collect();
            println!(
                "{}: seeds {first}..{last}: {} failed",
                s.name(),
                failures.len()
            );
            for f in &failures {
                failed = true;
                println!("  seed {}: {}", f.seed, f.failures.join("; "));
                println!("  rerun: {}", f.rerun);
            }
            let index = dir.join("index.html");
            report::write_file(
                &index,
                &report::index_html(
                    &format!("{} — seeds {first}..{last}, engine mode", s.name()),
                    &reports,
                ),
            )?;
            println!("  index of the seeds' reports: {}", index.display());
            continue;
        }
        let dir = out.join(format!("{}-seed{}-engine", s.name(), s.seed()));
        let trace_path =
            trace.map_or_else(|| dir.join("trace.jsonl"), std::path::Path::to_path_buf);
        let r = engine_seed(s, s.seed(), &dir, &trace_path)?;
        print!("{}", r.text);
        if !r.passed {
            failed = true;
            println!("rerun: {}", r.rerun);
        }
    }
    Ok(failed)
}

/// One engine run of a scenario with a seed, as far as it goes.
struct EngineSeed {
    passed: bool,
    /// Whether its outputs were written (not when nothing could run).
    wrote: bool,
    /// One line per failure (`file:line: message`), or why it could not run.
    failures: Vec<String>,
    rerun: String,
    /// What to print: the summary and where the outputs went.
    text: String,
}

/// Plays `s` with `seed` in engine mode, checks it and writes its outputs (the trace at
/// `trace_path`, the rest in `dir`), even for a run that stopped midway.
fn engine_seed(
    s: &metal_scenario::Scenario,
    seed: u64,
    dir: &std::path::Path,
    trace_path: &std::path::Path,
) -> anyhow::Result<EngineSeed> {
    use metal_scenario::{check::check, engine, report};
    let started = Instant::now();
    let played = match engine::play(s, seed) {
        Ok(p) => p,
        Err(e) => {
            return Ok(EngineSeed {
                passed: false,
                wrote: false,
                failures: vec![e.to_string()],
                rerun: format!("metal-sim run {} --engine --seed {seed}", s.source),
                text: format!("{}: cannot run in engine mode: {e}\n", s.name()),
            });
        }
    };
    let seeded = s.with_seed(seed)?;
    let verdict = check(&seeded, &played.trace);
    let wall = started.elapsed();
    let rerun = report::rerun_command(&seeded, "engine", None);
    let stopped = played.stopped.as_ref().map(ToString::to_string);
    let summary = report::write_outputs(
        dir,
        trace_path,
        &report::RunReport {
            scenario: &seeded,
            trace: &played.trace,
            verdict: &verdict,
            mode: "engine",
            operator: None,
            rerun: &rerun,
            wall: Some(wall),
            stopped: stopped.as_deref(),
        },
    )?;
    // A stopped run's step is among the failures already (`step_failed`).
    let failures: Vec<String> = verdict
        .failures
        .iter()
        .map(|f| format!("{}:{}: {}", s.source, f.line, f.message))
        .collect();
    let mut text = summary.to_text();
    if let Some(why) = &stopped {
        text.push_str(&format!("  stopped: {why}\n"));
    }
    text.push_str(&format!(
        "  ({} events in {} ms wall) trace {}; summary, timeline and report.html in {}\n",
        played.trace.events.len(),
        wall.as_millis(),
        trace_path.display(),
        dir.display()
    ));
    Ok(EngineSeed {
        passed: verdict.passed() && stopped.is_none(),
        wrote: true,
        failures,
        rerun,
        text,
    })
}
