//! metal-wire — wire mode: a scenario played over real sockets on loopback against the real operator.
//!
//! [`run`] starts the embedded control plane, the fleet with its BMCs and the mock Ironic, and the
//! operator (ours in this process, or any Metal3-compatible operator as a process:
//! [`operator`]), plays the timeline, records a trace from watches, the mock Ironic's
//! request journal and the machines' events, then checks it and writes the trace (JSONL), the
//! summary (JSON and text) and the SVG timeline.
//!
//! Time: the trace is stamped with the fleet's clock (wall time since the run started), so
//! `advance`, `within` and `for` are wall durations here. Every wait follows the fleet's
//! `time_scale` within floors (so do the scenario's own spans, `advance`, `for` and `down_for`,
//! when the operator is ours: `WireBackend::with_span_scale`; a `within` is a deadline, unscaled): machine transitions, the agents' heartbeats and lookups, the mock
//! conductor's callback timeout and power sync (`ServeOptions::for_fleet`), and the operator's
//! polls (`statemachine::Settings::for_fleet`, polls paced from a short first one up to `HOSTS_PER_FLOOR` hosts).
//!
//! Not observed in wire mode: the individual Redfish and IPMI requests (the machines' power, boot
//! and disk changes are recorded instead) and the operator's own Kubernetes requests (the runner's
//! are). Ironic API faults are switched on the mock Ironic (`POST /_sim/faults`); agent heartbeat
//! loss on the fleet's agent launcher and watch disconnects on the control plane (`switches`). Not
//! injectable: Ironic faults against an external Ironic (refused with the step's line).

/// This process's own log, captured to a file while a run lasts.
pub mod capture;
mod faults;
pub mod images;
pub mod live;
pub mod observe;
/// The operator a run drives: ours in this process, upstream BMO or any command as a process.
pub mod operator;
pub mod stack;
pub mod steps;
pub mod switches;

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use serde_json::Value;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

pub use live::Display;
use metal_scenario::Scenario;
use metal_scenario::check::{Verdict, check_under};
use metal_scenario::format::{FaultTarget, IronicChoice, Mode, Step};
use metal_scenario::play::Player;
use metal_scenario::report::{RunReport, Summary, rerun_command, write_outputs};
use metal_scenario::trace::{Happening, MachineChange, Trace};
use metal_sim::fleet::Fleet;
use metal_sim::machine::{HostEvent, MachineEvent, PowerState, SimClock};
pub use stack::UtcClock;
use stack::{Stack, bmh_resource, claim_resource, core_resource, pool_resource};

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
    /// The operator process exited while the scenario ran.
    #[error("{0}")]
    Operator(String),
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
    /// The operator under test (ours by default).
    pub operator: operator::OperatorChoice,
    /// The CRDs served; `None`: the operator's own.
    pub crds: Option<operator::CrdSet>,
    /// What each `wait`'s `within` is multiplied by; `None`: the operator's default.
    pub wait_factor: Option<f64>,
    /// Logs of this process written during the run (our operator's, when it runs in this
    /// process), searched for the run's credentials like an operator process's `operator.log`
    /// (always searched).
    pub logs: Vec<PathBuf>,
}

impl RunOptions {
    /// A quiet run into `out_dir` with everything else at its default: the trace beside the
    /// summary, the fleet's own addresses, clocks started now, our operator on its own CRDs.
    pub fn quiet(out_dir: PathBuf) -> RunOptions {
        RunOptions {
            out_dir,
            trace: None,
            bind_base: None,
            display: Display::Quiet,
            clock: SimClock::start_now(),
            utc: Arc::new(chrono::Utc::now),
            operator: operator::OperatorChoice::default(),
            crds: None,
            wait_factor: None,
            logs: Vec::new(),
        }
    }
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

/// The run's credentials (the scenario's BMC passwords, and `secrets`: the control plane's bearer
/// token, the agent tokens the mock Ironic handed out) searched in the operator process's
/// `operator.log` (when there is one) and in `logs`.
fn credentials_in_logs(
    scenario: &Scenario,
    out_dir: &std::path::Path,
    logs: &[PathBuf],
    secrets: &[(&str, String)],
) -> Result<Vec<metal_scenario::check::Failure>, WireError> {
    let secrets: Vec<(&str, &str)> = secrets.iter().map(|(w, s)| (*w, s.as_str())).collect();
    let operator_log = out_dir.join("operator.log");
    let mut failures = Vec::new();
    for path in std::iter::once(&operator_log)
        .filter(|p| p.exists())
        .chain(logs)
    {
        let text = std::fs::read(path).map_err(|e| WireError::Output {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        failures.extend(metal_scenario::check::credentials_in_log(
            scenario,
            &name,
            &String::from_utf8_lossy(&text),
            &secrets,
        ));
    }
    Ok(failures)
}

/// Steps wire mode cannot play yet, with their lines (empty when the scenario can run).
pub fn unsupported(scenario: &Scenario) -> Vec<String> {
    unsupported_for(scenario, &operator::OperatorChoice::Ours)
}

/// What keeps `scenario` from running in wire mode against `operator` (empty when it can): the
/// steps wire mode cannot play, and a scenario about our extensions under another operator.
pub fn unsupported_for(scenario: &Scenario, operator: &operator::OperatorChoice) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(why) = scenario.refusal(operator.kind()) {
        out.push(why);
    }
    if !scenario.runs_in(Mode::Wire) {
        out.push(format!(
            "{}: the scenario is marked `modes: [engine]`",
            scenario.source
        ));
    }
    for (i, step) in scenario.file.timeline.iter().enumerate() {
        if let Step::RestartOperator(r) = step
            && r.mid_reconcile.is_some()
        {
            out.push(format!(
                "{}:{}: restart_operator's mid_reconcile is engine mode only (wire mode cannot place a kill inside a reconcile)",
                scenario.source,
                scenario.step_line(i)
            ));
        }
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

/// Plays `scenario` in wire mode and writes its outputs.
pub async fn run(scenario: &Scenario, options: RunOptions) -> Result<Outcome, WireError> {
    let refused = unsupported_for(scenario, &options.operator);
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
        &stack::StackOptions {
            operator: options.operator.clone(),
            crds: options.crds.clone(),
            ..stack::StackOptions::for_scenario(scenario)
        },
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
    // The runner's own view of the machines' power, to tell when the observers have caught up.
    let mut machines = stack.world().subscribe();
    let done = Arc::new(AtomicUsize::new(0));
    let total = scenario.file.timeline.len();
    let display_stop = CancellationToken::new();
    // The fleet's live view, for a person watching the run in a browser.
    let view = format!("http://{}/ui", stack.control());
    if options.display == Display::Lines {
        println!("live fleet view: {view}");
    }
    let display = live::spawn(
        options.display,
        format!(
            "{} (seed {}) · live fleet view {view}",
            scenario.name(),
            scenario.seed()
        ),
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
    let backend = steps::WireBackend::new(
        scenario,
        stack,
        fleet,
        Arc::clone(&recorder),
        images,
        Arc::clone(&done),
    )
    .with_wait_factor(
        options
            .wait_factor
            .unwrap_or_else(|| options.operator.default_wait_factor()),
    )
    .with_span_scale(
        options
            .operator
            .follows_time_scale()
            .then_some(scenario.fleet.file.time_scale),
    );
    let mut player = Player::new(scenario, backend);
    // A step that could not be carried out is in the trace as `step_failed`, like one that did
    // not hold; the run goes on to drain, check and write its outputs.
    let stopped = player.play_all().await.err();
    if let Some(stopped) = &stopped {
        tracing::warn!(step = stopped.index + 1, line = stopped.line, error = %stopped.error, "step could not be carried out");
    }
    let player = player.into_backend();
    // The observers stop once they have recorded everything that happened up to now (the journal
    // poller reads the mock Ironic's journal once more as it stops).
    let behind = drain(
        &player.stack,
        &recorder,
        scenario.namespace(),
        &mut machines,
    )
    .await;
    stop.cancel();
    let mut observers = observers;
    while observers.join_next().await.is_some() {}
    display_stop.cancel();
    if let Some(d) = display {
        let _ = d.await;
    }
    let lost = recorder.journal_lost();
    // The run's secrets besides the scenario's passwords, for the search of its logs.
    let mut secrets = vec![(
        "the control plane's bearer token",
        player.stack.controlplane.identity.token.clone(),
    )];
    secrets.extend(
        player
            .stack
            .fleet
            .agent_tokens()
            .into_iter()
            .map(|t| ("an agent token", t)),
    );
    player.stack.shutdown().await;

    let trace = recorder.trace();
    let mut verdict = check_under(scenario, &trace, options.operator.kind());
    verdict.failures.extend(credentials_in_logs(
        scenario,
        &options.out_dir,
        &options.logs,
        &secrets,
    )?);
    if lost > 0 {
        verdict.skipped.push(format!(
            "{lost} mock Ironic requests were dropped from its journal before they were read; call counts may be low"
        ));
    }
    if let Some(why) = behind {
        verdict.skipped.push(format!(
            "the observers had not caught up {DRAIN_LIMIT:?} after the timeline ended ({why}); the trace may lack the last events"
        ));
    }
    let trace_path = options
        .trace
        .clone()
        .unwrap_or_else(|| options.out_dir.join("trace.jsonl"));
    let operator_name =
        (options.operator != operator::OperatorChoice::Ours).then(|| options.operator.to_string());
    let rerun = rerun_command(scenario, "wire", operator_name.as_deref());
    let stopped_why = stopped.map(|s| s.error.to_string());
    let summary = write_outputs(
        &options.out_dir,
        &trace_path,
        &RunReport {
            scenario,
            trace: &trace,
            verdict: &verdict,
            mode: "wire",
            operator: operator_name.as_deref(),
            rerun: &rerun,
            wall: None,
            stopped: stopped_why.as_deref(),
        },
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

/// How long the observers get to catch up once the timeline is over.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// How often the record is compared with the system while draining.
const DRAIN_POLL: Duration = Duration::from_millis(25);

/// Waits until the observers have recorded everything that happened up to now, at most
/// [`DRAIN_LIMIT`]; returns what they still lacked then, or `None` once caught up.
async fn drain(
    stack: &Stack,
    recorder: &observe::Recorder,
    namespace: &str,
    machines: &mut broadcast::Receiver<HostEvent>,
) -> Option<String> {
    let deadline = tokio::time::Instant::now() + DRAIN_LIMIT;
    let mut power = BTreeMap::new();
    loop {
        latest_power(machines, &mut power);
        let lacking = match lacking(stack, recorder, namespace, &power).await {
            Ok(lacking) => lacking,
            Err(e) => Some(format!("reading the control plane: {e}")),
        };
        match lacking {
            None => return None,
            Some(why) if tokio::time::Instant::now() >= deadline => {
                tracing::warn!(lacking = %why, "observers did not catch up");
                return Some(why);
            }
            Some(_) => tokio::time::sleep(DRAIN_POLL).await,
        }
    }
}

/// Adds to `latest` each host's newest power change (`On` or `Off`, as the trace records them)
/// that the world has published since the last call.
fn latest_power(
    machines: &mut broadcast::Receiver<HostEvent>,
    latest: &mut BTreeMap<String, MachineChange>,
) {
    loop {
        match machines.try_recv() {
            Ok(HostEvent {
                name,
                event: MachineEvent::PowerChanged { to, .. },
                ..
            }) => {
                let change = match to {
                    PowerState::On => MachineChange::PoweredOn,
                    PowerState::Off => MachineChange::PoweredOff,
                    PowerState::PoweringOn | PowerState::PoweringOff => continue,
                };
                latest.insert(name, change);
            }
            Ok(_) => {}
            // Older events were overwritten; the newest, the ones compared here, are still there.
            Err(broadcast::error::TryRecvError::Lagged(_)) => {}
            Err(_) => return,
        }
    }
}

/// The first thing the record lacks compared with the system now, or `None` when it has it all:
/// the recorded view of every host, claim and pool equals a fresh list from the control plane,
/// every Event there is in the trace, and each host's last power change is the trace's last one.
async fn lacking(
    stack: &Stack,
    recorder: &observe::Recorder,
    ns: &str,
    power: &BTreeMap<String, MachineChange>,
) -> Result<Option<String>, kube::Error> {
    let list = |resource: ApiResource| {
        let api: Api<DynamicObject> = Api::namespaced_with(stack.client.clone(), ns, &resource);
        async move { api.list(&ListParams::default()).await.map(|l| l.items) }
    };
    let text = |o: &DynamicObject, pointer: &str| {
        o.data
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let number = |o: &DynamicObject, pointer: &str| {
        o.data
            .pointer(pointer)
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0)
    };

    let hosts = list(bmh_resource()).await?;
    let seen = recorder.hosts();
    let listed: BTreeSet<&str> = hosts
        .iter()
        .filter_map(|h| h.metadata.name.as_deref())
        .collect();
    let recorded: BTreeSet<&str> = seen
        .iter()
        .filter(|(_, v)| !v.gone)
        .map(|(name, _)| name.as_str())
        .collect();
    if listed != recorded {
        return Ok(Some(format!("hosts {listed:?}, recorded {recorded:?}")));
    }
    for h in &hosts {
        let name = h.metadata.name.as_deref().unwrap_or_default();
        let Some(v) = seen.get(name) else { continue };
        let now = (
            text(h, "/status/provisioning/state"),
            text(h, "/status/operationalStatus"),
            number(h, "/status/errorCount"),
            h.data.pointer("/status/poweredOn").and_then(Value::as_bool),
            h.data
                .pointer("/spec/online")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            Some(text(h, "/spec/consumerRef/name")).filter(|s| !s.is_empty()),
        );
        let record = (
            v.state.clone(),
            v.operational_status.clone(),
            v.error_count,
            v.powered_on,
            v.online,
            v.consumer.clone(),
        );
        if now != record {
            return Ok(Some(format!("host {name} is {now:?}, recorded {record:?}")));
        }
    }

    let claim_list = if stack.claims {
        list(claim_resource()).await?
    } else {
        Vec::new()
    };
    let claims: BTreeMap<String, Option<String>> = claim_list
        .iter()
        .filter_map(|c| {
            let host = Some(text(c, "/status/bareMetalHost/name")).filter(|s| !s.is_empty());
            Some((c.metadata.name.clone()?, host))
        })
        .collect();
    if claims != recorder.claims() {
        return Ok(Some(format!(
            "claims {claims:?}, recorded {:?}",
            recorder.claims()
        )));
    }

    let pool_list = if stack.pools {
        list(pool_resource()).await?
    } else {
        Vec::new()
    };
    let pools: BTreeMap<String, (u32, u32)> = pool_list
        .iter()
        .filter_map(|p| {
            let counts = (
                number(p, "/spec/replicas"),
                number(p, "/status/readyReplicas"),
            );
            Some((p.metadata.name.clone()?, counts))
        })
        .collect();
    if pools != recorder.pools() {
        return Ok(Some(format!(
            "pools {pools:?}, recorded {:?}",
            recorder.pools()
        )));
    }

    let trace = recorder.trace();
    let recorded_events: BTreeSet<(&str, &str, &str)> = trace
        .events
        .iter()
        .filter_map(|e| match &e.what {
            Happening::Event {
                object,
                reason,
                message,
                ..
            } => Some((object.as_str(), reason.as_str(), message.as_str())),
            _ => None,
        })
        .collect();
    for e in list(core_resource("Event", "events")).await? {
        let object = format!(
            "{}/{}",
            text(&e, "/involvedObject/kind"),
            text(&e, "/involvedObject/name")
        );
        let (reason, message) = (text(&e, "/reason"), text(&e, "/message"));
        if !recorded_events.contains(&(object.as_str(), reason.as_str(), message.as_str())) {
            return Ok(Some(format!("Event {reason} of {object}")));
        }
    }

    for (host, change) in power {
        let last = trace.events.iter().rev().find_map(|e| match &e.what {
            Happening::Machine { host: h, change: c }
                if h == host
                    && matches!(c, MachineChange::PoweredOn | MachineChange::PoweredOff) =>
            {
                Some(*c)
            }
            _ => None,
        });
        if last != Some(*change) {
            return Ok(Some(format!(
                "machine {host} is {change:?}, recorded {last:?}"
            )));
        }
    }
    Ok(None)
}
