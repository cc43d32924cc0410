//! Wire mode: a scenario played over real sockets on loopback against the real operator.
//!
//! [`run`] starts the embedded control plane, the fleet with its BMCs and the mock Ironic, and the
//! operator (in this process), plays the timeline, records a trace from watches, the mock Ironic's
//! request journal and the machines' events, then checks it and writes the trace (JSONL), the
//! summary (JSON and text) and the SVG timeline.
//!
//! Time: the trace is stamped with the fleet's clock (wall time since the run started). Machine
//! transitions are compressed by the fleet's `time_scale`; the operator and the mock Ironic run at
//! wall speed, so `advance`, `within` and `for` are wall durations here.
//!
//! Not observed in wire mode: the individual Redfish and IPMI requests (the machines' power, boot
//! and disk changes are recorded instead) and the operator's own Kubernetes requests (the runner's
//! are). Ironic API faults are switched on the mock Ironic (`POST /_sim/faults`); agent heartbeat
//! loss on the fleet's agent launcher and watch disconnects on the control plane (`switches`). Not
//! injectable: Ironic faults against an external Ironic (refused with the step's line).

pub mod images;
pub mod live;
pub mod observe;
pub mod stack;
pub mod steps;
pub mod switches;

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Scenario;
use super::check::{Verdict, check};
use super::format::{FaultTarget, IronicChoice, Mode, Step};
use super::report::{Summary, write_outputs};
use super::trace::{Happening, Trace};
use crate::fleet::Fleet;
use crate::machine::SimClock;
pub use live::Display;
pub use stack::UtcClock;

/// A wire run that could not be carried out (as opposed to one whose expectations failed).
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The scenario uses something wire mode cannot do yet.
    #[error("not runnable in wire mode: {0}")]
    Unsupported(String),
    /// A piece of the stack did not start.
    #[error("starting the stack: {0}")]
    Start(String),
    /// A step's API call failed.
    #[error("{0}")]
    Step(String),
    /// An output file could not be written.
    #[error("writing {path}: {message}")]
    Output {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
}

/// How to run.
pub struct RunOptions {
    /// Directory for the summary, the SVG and (by default) the trace.
    pub out_dir: PathBuf,
    /// Where the JSONL trace goes (default `<out_dir>/trace.jsonl`).
    pub trace: Option<PathBuf>,
    /// Move the fleet's BMCs to this loopback base address (tests running side by side).
    pub bind_base: Option<Ipv4Addr>,
    /// Progress display.
    pub display: Display,
    /// The fleet's clock, started by the caller.
    pub clock: SimClock,
    /// The wall clock.
    pub utc: UtcClock,
}

/// What a run produced.
pub struct Outcome {
    /// The trace.
    pub trace: Trace,
    /// The checks' verdict.
    pub verdict: Verdict,
    /// The summary.
    pub summary: Summary,
    /// Where the trace was written.
    pub trace_path: PathBuf,
}

/// Steps wire mode cannot play yet, with their lines (empty when the scenario can run).
pub fn unsupported(scenario: &Scenario) -> Vec<String> {
    let mut out = Vec::new();
    if !scenario.runs_in(Mode::Wire) {
        out.push(format!(
            "{}: the scenario is marked `modes: [engine]`",
            scenario.source
        ));
    }
    for (i, step) in scenario.file.timeline.iter().enumerate() {
        let Step::InjectFault(f) = step else {
            continue;
        };
        let mock = matches!(scenario.file.ironic, IronicChoice::Mock);
        match f.target() {
            Some(FaultTarget::Bmc | FaultTarget::Agent | FaultTarget::ControlPlane) | None => {}
            Some(FaultTarget::Ironic) if mock => {}
            Some(FaultTarget::Ironic) => out.push(format!(
                "{}:{}: Ironic faults need the mock Ironic (this scenario uses an external one)",
                scenario.source,
                scenario.step_line(i)
            )),
        }
    }
    out
}

fn one_line(step: &Step) -> String {
    let s = serde_json::to_string(step).unwrap_or_default();
    if s.chars().count() > 120 {
        format!("{}…", s.chars().take(119).collect::<String>())
    } else {
        s
    }
}

/// Plays `scenario` in wire mode and writes its outputs.
pub async fn run(scenario: &Scenario, options: RunOptions) -> Result<Outcome, WireError> {
    let refused = unsupported(scenario);
    if !refused.is_empty() {
        return Err(WireError::Unsupported(refused.join("; ")));
    }
    std::fs::create_dir_all(&options.out_dir).map_err(|e| WireError::Output {
        path: options.out_dir.display().to_string(),
        message: e.to_string(),
    })?;
    let mut fleet_file = scenario.fleet.file.clone();
    if let Some(base) = options.bind_base {
        fleet_file.layout.base = base;
    }
    let fleet = Fleet::from_file(fleet_file, &scenario.fleet.source)
        .map_err(|e| WireError::Start(e.to_string()))?;
    let utc_start = (options.utc)();
    let stack = stack::Stack::start(
        scenario,
        &fleet,
        options.clock,
        Arc::clone(&options.utc),
        &options.out_dir,
    )
    .await?;
    let recorder = observe::Recorder::new(options.clock, utc_start, scenario.namespace());
    recorder.push(Happening::Operator { running: true });
    let stop = CancellationToken::new();
    let observers = observe::spawn(&stack, &recorder, &stop);
    let done = Arc::new(AtomicUsize::new(0));
    let total = scenario.file.timeline.len();
    let display_stop = CancellationToken::new();
    let display = live::spawn(
        options.display,
        format!("{} (seed {})", scenario.name(), scenario.seed()),
        total,
        Arc::clone(&done),
        Arc::clone(&recorder),
        display_stop.clone(),
    );
    let images = match images::Images::start(scenario.seed(), stop.clone()).await {
        Ok(i) => i,
        Err(e) => {
            stack.shutdown().await;
            return Err(e);
        }
    };
    let mut player = steps::Player::new(scenario, stack, fleet, Arc::clone(&recorder), images);
    for (i, step) in scenario.file.timeline.iter().enumerate() {
        let line = scenario.step_line(i);
        recorder.set_step(format!("step {} ({})", i + 1, step.keyword()));
        recorder.push(Happening::Step {
            index: i,
            line,
            keyword: step.keyword().to_string(),
            summary: one_line(step),
        });
        let failed = match player.play(i, step).await {
            Ok(Ok(())) => None,
            Ok(Err(f)) => Some(f.0),
            Err(e) => Some(e.to_string()),
        };
        done.store(i + 1, Ordering::Relaxed);
        if let Some(reason) = failed {
            recorder.push(Happening::StepFailed {
                index: i,
                line,
                reason,
            });
            break;
        }
    }
    // Let the last watch events and journal entries arrive before the observers stop.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.cancel();
    let mut observers = observers;
    while observers.join_next().await.is_some() {}
    display_stop.cancel();
    if let Some(d) = display {
        let _ = d.await;
    }
    let lost = recorder.journal_lost();
    player.stack.shutdown().await;

    let trace = recorder.trace();
    let mut verdict = check(scenario, &trace);
    if lost > 0 {
        verdict.skipped.push(format!(
            "{lost} mock Ironic requests were dropped from its journal before they were read; call counts may be low"
        ));
    }
    let trace_path = options
        .trace
        .clone()
        .unwrap_or_else(|| options.out_dir.join("trace.jsonl"));
    let summary = write_outputs(
        &options.out_dir,
        &trace_path,
        scenario.name(),
        scenario.seed(),
        "wire",
        &trace,
        &verdict,
    )
    .map_err(|e| WireError::Output {
        path: e.path,
        message: e.source.to_string(),
    })?;
    Ok(Outcome {
        trace,
        verdict,
        summary,
        trace_path,
    })
}
