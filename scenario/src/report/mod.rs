//! What a run leaves behind besides its trace: a summary (phase durations per host with p50/p95,
//! the verdict), an SVG timeline (one row per host coloured by state, fault windows marked), the
//! HTML report ([`report_html`]) and, for a seed sweep, an index of the seeds' reports
//! ([`index_html`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use super::Scenario;
use super::check::Verdict;
use super::trace::{Happening, Trace};
use metal_sim::machine::SimTime;
use metal_sim::machine::time::format_duration;

mod html;
mod index;
mod timeline;
mod units;

pub use html::{first_row, report_html};
pub use index::{SeedReport, index_html};
pub use timeline::{MAX_ROWS, MIN_BAR, timeline_svg};
pub use units::{human, ticks};

/// The lifecycle phases measured, with the provisioning state each one is.
pub const PHASES: [(&str, &str); 4] = [
    ("register", "registering"),
    ("inspect", "inspecting"),
    ("provision", "provisioning"),
    ("deprovision", "deprovisioning"),
];

/// Statistics of one phase over every host and every time it happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PhaseStats {
    /// `register`, `inspect`, `provision` or `deprovision`.
    pub phase: String,
    /// How many times the phase completed (left its state).
    pub count: usize,
    /// Median, in simulated milliseconds.
    pub p50_ms: u64,
    /// 95th percentile (nearest rank), in simulated milliseconds.
    pub p95_ms: u64,
    /// Longest, in simulated milliseconds.
    pub max_ms: u64,
}

/// One host's line of the summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostSummary {
    /// Last provisioning state seen.
    pub final_state: String,
    /// Completed phase durations in simulated milliseconds, by phase.
    pub phases_ms: BTreeMap<String, Vec<u64>>,
}

/// The summary of a run (written as `summary.json` and printed as text).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Scenario name.
    pub scenario: String,
    /// Seed used.
    pub seed: u64,
    /// `engine` or `wire`.
    pub mode: String,
    /// The operator that ran, when not ours (`bmo`, `cmd:…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// Whether every expectation and invariant held.
    pub passed: bool,
    /// Simulated time of the last event, in milliseconds.
    pub simulated_ms: u64,
    /// Hosts seen in the trace.
    pub hosts: usize,
    /// Per-phase statistics, in lifecycle order (phases that never completed are left out).
    pub phases: Vec<PhaseStats>,
    /// Where each phase's time went, on average ([`crate::waits`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waited_on: Vec<crate::waits::PhaseWaits>,
    /// Per-host detail.
    pub per_host: BTreeMap<String, HostSummary>,
    /// The verdict.
    pub verdict: Verdict,
}

/// Completed phase spans per host: (host, phase, start, end).
fn spans(trace: &Trace) -> Vec<(String, &'static str, SimTime, SimTime)> {
    let mut open: BTreeMap<&str, (&str, SimTime)> = BTreeMap::new();
    let mut out = Vec::new();
    for e in &trace.events {
        if let Happening::HostState { host, to, .. } = &e.what {
            if let Some((state, since)) = open.remove(host.as_str())
                && let Some((phase, _)) = PHASES.iter().find(|(_, s)| *s == state)
            {
                out.push((host.clone(), *phase, since, e.t));
            }
            open.insert(host, (to.as_str(), e.t));
        }
    }
    out
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Builds the summary of a run.
pub fn summarize(
    scenario: &str,
    seed: u64,
    mode: &str,
    operator: Option<&str>,
    trace: &Trace,
    verdict: &Verdict,
) -> Summary {
    let mut per_host: BTreeMap<String, HostSummary> = BTreeMap::new();
    for e in &trace.events {
        if let Happening::HostState { host, to, .. } = &e.what {
            per_host
                .entry(host.clone())
                .or_insert_with(|| HostSummary {
                    final_state: String::new(),
                    phases_ms: BTreeMap::new(),
                })
                .final_state = to.clone();
        }
    }
    let mut by_phase: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    let spans = spans(trace);
    let waited_on = crate::waits::breakdown(trace, &spans);
    for (host, phase, from, to) in spans {
        let ms = millis(to.saturating_since(from));
        by_phase.entry(phase).or_default().push(ms);
        if let Some(h) = per_host.get_mut(&host) {
            h.phases_ms.entry(phase.to_string()).or_default().push(ms);
        }
    }
    let phases = PHASES
        .iter()
        .filter_map(|(phase, _)| {
            let mut v = by_phase.remove(phase)?;
            v.sort_unstable();
            Some(PhaseStats {
                phase: (*phase).to_string(),
                count: v.len(),
                p50_ms: percentile(&v, 50.0),
                p95_ms: percentile(&v, 95.0),
                max_ms: v.last().copied().unwrap_or(0),
            })
        })
        .collect();
    Summary {
        scenario: scenario.to_string(),
        seed,
        mode: mode.to_string(),
        operator: operator.map(str::to_string),
        passed: verdict.passed(),
        simulated_ms: millis(trace.end().since_start()),
        hosts: trace.hosts().len(),
        phases,
        waited_on,
        per_host,
        verdict: verdict.clone(),
    }
}

impl Summary {
    /// The summary as a few lines of text.
    pub fn to_text(&self) -> String {
        let ms = |v: u64| format_duration(Duration::from_millis(v));
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} (seed {}, {} mode{}): {} — {} hosts, {} simulated",
            self.scenario,
            self.seed,
            self.mode,
            self.operator
                .as_deref()
                .map(|o| format!(", operator {o}"))
                .unwrap_or_default(),
            if self.passed { "PASSED" } else { "FAILED" },
            self.hosts,
            ms(self.simulated_ms)
        );
        if !self.phases.is_empty() {
            let _ = writeln!(
                out,
                "  {:<12} {:>6} {:>10} {:>10} {:>10}",
                "phase", "count", "p50", "p95", "max"
            );
            for p in &self.phases {
                let _ = writeln!(
                    out,
                    "  {:<12} {:>6} {:>10} {:>10} {:>10}",
                    p.phase,
                    p.count,
                    ms(p.p50_ms),
                    ms(p.p95_ms),
                    ms(p.max_ms)
                );
            }
        }
        if !self.waited_on.is_empty() {
            let _ = write!(out, "  waited on (mean) {:>8}", "total");
            for part in crate::waits::PARTS {
                let _ = write!(out, " {part:>20}");
            }
            out.push('\n');
            for w in &self.waited_on {
                let _ = write!(out, "  {:<16} {:>8}", w.phase, ms(w.mean_ms));
                for part in crate::waits::PARTS {
                    let v = w.parts_ms.get(part).copied().unwrap_or(0);
                    let _ = write!(out, " {:>20}", ms(v));
                }
                out.push('\n');
            }
        }
        for f in &self.verdict.failures {
            let _ = writeln!(out, "  FAIL {f}");
        }
        for s in &self.verdict.skipped {
            let _ = writeln!(out, "  not checked: {s}");
        }
        for s in &self.verdict.not_applicable {
            let _ = writeln!(out, "  {s}");
        }
        out
    }
}

/// An output file that could not be written.
#[derive(Debug, thiserror::Error)]
#[error("writing {path}: {source}")]
pub struct WriteError {
    /// The file.
    pub path: String,
    /// Why.
    pub source: std::io::Error,
}

/// What a run has when it writes its outputs.
#[derive(Debug, Clone, Copy)]
pub struct RunReport<'a> {
    /// The scenario as run (with the seed it ran with).
    pub scenario: &'a Scenario,
    /// Its trace, as far as it got.
    pub trace: &'a Trace,
    /// The checks' verdict.
    pub verdict: &'a Verdict,
    /// `engine` or `wire`.
    pub mode: &'a str,
    /// The operator that ran, when not ours (`bmo`, `cmd:…`).
    pub operator: Option<&'a str>,
    /// The command that runs it again ([`rerun_command`]).
    pub rerun: &'a str,
    /// How long the run took on the wall clock, when known.
    pub wall: Option<Duration>,
    /// Why the run stopped before its timeline ended, when it could not go on (a step that could
    /// not be carried out, an engine error); the report says so in a banner.
    pub stopped: Option<&'a str>,
}

/// The command that plays `scenario` again with its seed in `mode` (`engine` or `wire`), under
/// `operator` when not ours. A drawn chaos scenario (named `chaos-<mode>-<seed>`) is drawn again
/// with `metal-sim chaos`.
pub fn rerun_command(scenario: &Scenario, mode: &str, operator: Option<&str>) -> String {
    let seed = scenario.seed();
    let chaos_mode = if mode == "engine" {
        crate::Mode::Engine
    } else {
        crate::Mode::Wire
    };
    if scenario.name() == crate::chaos::name(seed, chaos_mode) {
        return format!("metal-sim chaos --mode {mode} --seeds {seed}..{seed}");
    }
    let mut cmd = format!("metal-sim run {}", shell_word(&scenario.source));
    if mode == "engine" {
        cmd.push_str(" --engine");
    }
    let _ = write!(cmd, " --seed {seed}");
    if let Some(op) = operator {
        let _ = write!(cmd, " --operator {}", shell_word(op));
    }
    cmd
}

/// `word` as one shell word: as is when it holds only safe characters, else single-quoted.
fn shell_word(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./:=,+@".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The files a run leaves: the trace (at `trace_path`), `summary.json`, `summary.txt`,
/// `timeline.svg` and `report.html` in `dir`. Returns the summary.
pub fn write_outputs(
    dir: &std::path::Path,
    trace_path: &std::path::Path,
    run: &RunReport<'_>,
) -> Result<Summary, WriteError> {
    std::fs::create_dir_all(dir).map_err(|source| WriteError {
        path: dir.display().to_string(),
        source,
    })?;
    let (scenario, seed, mode) = (run.scenario.name(), run.scenario.seed(), run.mode);
    let summary = summarize(scenario, seed, mode, run.operator, run.trace, run.verdict);
    write_file(trace_path, &run.trace.to_jsonl())?;
    let json = serde_json::to_string_pretty(&summary).unwrap_or_default();
    write_file(&dir.join("summary.json"), &(json + "\n"))?;
    write_file(&dir.join("summary.txt"), &summary.to_text())?;
    write_file(
        &dir.join("timeline.svg"),
        &timeline_svg(&format!("{scenario} (seed {seed}, {mode})"), run.trace),
    )?;
    write_file(&dir.join("report.html"), &report_html(run, &summary))?;
    Ok(summary)
}

/// Writes `text` to `path`.
pub fn write_file(path: &std::path::Path, text: &str) -> Result<(), WriteError> {
    std::fs::write(path, text).map_err(|source| WriteError {
        path: path.display().to_string(),
        source,
    })
}

/// Fill colour of a provisioning state in the timeline.
pub fn state_colour(state: &str) -> &'static str {
    match state {
        "registering" => "#9ecae1",
        "inspecting" => "#6baed6",
        "preparing" | "match profile" => "#c6dbef",
        "available" | "ready" => "#a1d99b",
        "provisioning" => "#fdae6b",
        "provisioned" => "#31a354",
        "externally provisioned" => "#74c476",
        "deprovisioning" => "#fd8d3c",
        "powering off before delete" | "deleting" => "#969696",
        "unmanaged" => "#d9d9d9",
        _ => "#f0f0f0",
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::format::FaultTarget;

    fn state(t: u64, host: &str, from: &str, to: &str) -> (SimTime, Happening) {
        (
            SimTime::from_secs(t),
            Happening::HostState {
                host: host.into(),
                from: from.into(),
                to: to.into(),
                cause: "test".into(),
                revision: None,
            },
        )
    }

    pub(crate) fn trace() -> Trace {
        let flaky = (
            SimTime::from_secs(30),
            Happening::Fault {
                name: "flaky".into(),
                target: FaultTarget::Bmc,
                hosts: vec!["b".into()],
                active: true,
            },
        );
        let mut t = Trace::new();
        for (at, what) in [
            state(0, "a", "", "registering"),
            state(0, "b", "", "registering"),
            state(10, "a", "registering", "inspecting"),
            state(20, "b", "registering", "inspecting"),
            flaky,
            state(70, "a", "inspecting", "available"),
            state(100, "b", "inspecting", "available"),
        ] {
            t.push(at, what);
        }
        t
    }

    #[test]
    fn phase_durations_have_nearest_rank_percentiles() {
        let s = summarize("x", 1, "engine", None, &trace(), &Verdict::default());
        assert_eq!(s.hosts, 2);
        let register = &s.phases[0];
        assert_eq!(
            (
                register.phase.as_str(),
                register.count,
                register.p50_ms,
                register.max_ms
            ),
            ("register", 2, 10_000, 20_000)
        );
        let inspect = &s.phases[1];
        assert_eq!((inspect.p50_ms, inspect.p95_ms), (60_000, 80_000));
        assert_eq!(s.per_host["a"].final_state, "available");
        assert!(s.to_text().contains("PASSED"));
    }

    #[test]
    fn percentiles_of_nothing_are_zero() {
        assert_eq!(percentile(&[], 95.0), 0);
        assert_eq!(percentile(&[5], 95.0), 5);
        assert_eq!(percentile(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95.0), 10);
        assert_eq!(percentile(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50.0), 5);
    }
}
