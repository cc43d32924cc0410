//! Playing a scenario's timeline in engine mode: the scenario player
//! ([`crate::play`]) over the engine backend, where each step becomes an engine
//! command, time passes as virtual time, and the engine's trace lines go into the scenario trace
//! (all but its own detail: Ironic node states and commands).
//!
//! [`run`] is what `metal-sim run --engine` calls; [`sweep`] runs a scenario over a range of
//! seeds and reports the ones whose checks fail. The player is async (one player for both
//! modes); the engine's futures are always ready, so [`run`] polls the player once, with no
//! runtime.
//!
//! - `objects`: the object steps as engine commands;
//! - `faults`: switching the engine's BMC, agent and Ironic faults.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::RangeInclusive;
use std::time::Duration;

use futures::FutureExt as _;
use serde_json::Value;

mod faults;
mod objects;

use objects::substitute;

use super::claims::{ClaimWorld, TICK};
use super::simulation::{Engine, EngineSettings};
use crate::check::{Verdict, check};
use crate::format::{Claim, MetadataChange, Named, PatchType, Register, Restart, Scale, Target};
use crate::play::{ActiveFault, Backend, HostConditionView, PlayError, Player};
use crate::trace::Happening;
use crate::{Mode, Scenario, Trace};
use metal_sim::machine::SimTime;

/// Why a scenario could not be played in engine mode (a failing `wait` or `assert` is not an
/// error: it is recorded in the trace and judged by the checks).
#[derive(Debug, thiserror::Error)]
pub enum EngineRunError {
    /// The scenario uses something engine mode does not model.
    #[error("{file}:{line}: {what} is not supported in engine mode")]
    Unsupported {
        /// Scenario file.
        file: String,
        /// Line of the step.
        line: usize,
        /// What.
        what: String,
    },
    /// A step could not be carried out.
    #[error("{file}:{line}: {message}")]
    Step {
        /// Scenario file.
        file: String,
        /// Line of the step.
        line: usize,
        /// Why.
        message: String,
    },
}

/// A seed whose run failed its checks (or could not run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedFailure {
    /// The seed.
    pub seed: u64,
    /// One line per failure.
    pub failures: Vec<String>,
}

/// The settings a scenario asks for.
pub fn settings_for(scenario: &Scenario) -> EngineSettings {
    let defaults = EngineSettings::default();
    EngineSettings {
        provisioning_limit: scenario.file.operator.provisioning_limit,
        operator: metal_core::statemachine::Settings {
            max_provisioning_retries: scenario.file.operator.max_provisioning_retries,
            ..defaults.operator.clone()
        },
        ..defaults
    }
}

/// Plays `scenario` with `seed` in engine mode and returns its trace. The same scenario and
/// seed give a byte-identical trace.
pub fn run(scenario: &Scenario, seed: u64) -> Result<Trace, EngineRunError> {
    let played = play(scenario, seed)?;
    match played.stopped {
        Some(e) => Err(e),
        None => Ok(played.trace),
    }
}

/// A run in engine mode as far as it went.
#[derive(Debug)]
pub struct Played {
    /// The trace, up to where the run stopped.
    pub trace: Trace,
    /// Why it stopped before its timeline ended, when a step could not be carried out (a step
    /// that did not hold is in the trace and is not an error).
    pub stopped: Option<EngineRunError>,
}

/// Plays `scenario` with `seed` in engine mode, keeping the trace of a run that stopped midway;
/// an error only when nothing could run (a bad seed, a wire-only scenario).
pub fn play(scenario: &Scenario, seed: u64) -> Result<Played, EngineRunError> {
    let scenario = scenario.with_seed(seed).map_err(|e| EngineRunError::Step {
        file: scenario.source.clone(),
        line: 1,
        message: e.to_string(),
    })?;
    let file = || scenario.source.clone();
    if !scenario.runs_in(Mode::Engine) {
        return Err(EngineRunError::Unsupported {
            file: file(),
            line: 1,
            what: "a scenario marked `modes: [wire]`".into(),
        });
    }
    let mut player = Player::new(&scenario, EngineBackend::new(&scenario));
    // Not `futures::executor::block_on`: the claim and pool flows run under their own `block_on`
    // inside (`scenario/src/engine/ironic.rs`), and executors refuse to nest. The engine backend never waits,
    // so the player is done when first polled.
    let played = player
        .play_all()
        .now_or_never()
        .expect("the engine backend never waits");
    let stopped = played.err().map(|stopped| match stopped.error {
        PlayError::Backend(StepError::Unsupported(what)) => EngineRunError::Unsupported {
            file: file(),
            line: stopped.line,
            what,
        },
        other => EngineRunError::Step {
            file: file(),
            line: stopped.line,
            message: other.to_string(),
        },
    });
    Ok(Played {
        trace: player.into_backend().into_trace(),
        stopped,
    })
}

/// Runs `scenario` for every seed in `seeds` and returns the seeds whose checks failed (or that
/// could not run), in seed order.
pub fn sweep(scenario: &Scenario, seeds: RangeInclusive<u64>) -> Vec<SeedFailure> {
    let mut out = Vec::new();
    for seed in seeds {
        let failures = match run(scenario, seed) {
            Ok(trace) => {
                let verdict: Verdict = match scenario.with_seed(seed) {
                    Ok(s) => check(&s, &trace),
                    Err(e) => {
                        out.push(SeedFailure {
                            seed,
                            failures: vec![e.to_string()],
                        });
                        continue;
                    }
                };
                verdict
                    .failures
                    .iter()
                    .map(|f| format!("{}:{}: {}", scenario.source, f.line, f.message))
                    .collect()
            }
            Err(e) => vec![e.to_string()],
        };
        if !failures.is_empty() {
            out.push(SeedFailure { seed, failures });
        }
    }
    out
}

/// Why the engine could not carry out a step.
#[derive(Debug)]
enum StepError {
    /// Engine mode does not model it.
    Unsupported(String),
    /// It failed.
    Failed(String),
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StepError::Unsupported(what) => write!(f, "{what} is not supported in engine mode"),
            StepError::Failed(message) => f.write_str(message),
        }
    }
}

fn unsupported(what: impl Into<String>) -> StepError {
    StepError::Unsupported(what.into())
}

fn failed(e: impl fmt::Display) -> StepError {
    StepError::Failed(e.to_string())
}

/// The engine as the player's backend: the engine, the claims and pools beside it, and the
/// scenario trace being written.
struct EngineBackend<'a> {
    scenario: &'a Scenario,
    engine: Engine,
    trace: Trace,
    /// HostClaims and HostPools, reconciled every [`TICK`] while the operator runs.
    claims: ClaimWorld,
    /// The operator (and so its claim and pool controllers) is down until then.
    down_until: SimTime,
}

impl<'a> EngineBackend<'a> {
    fn new(scenario: &'a Scenario) -> Self {
        let engine = Engine::new(&scenario.fleet, scenario.seed(), settings_for(scenario));
        let mut trace = Trace::new();
        trace.push(SimTime::ZERO, Happening::Operator { running: true });
        EngineBackend {
            scenario,
            engine,
            trace,
            claims: ClaimWorld::new(scenario.seed()),
            down_until: SimTime::ZERO,
        }
    }

    fn ns(&self) -> &str {
        self.scenario.namespace()
    }

    fn key(&self, name: &str) -> String {
        format!("{}/{name}", self.ns())
    }

    /// Moves the engine's new lines (but its own detail) and the claims' into the scenario trace.
    fn drain(&mut self) {
        for line in self.engine.take_trace() {
            if !line.what.is_engine_detail() {
                self.trace.push(line.t, line.what);
            }
        }
        let now = self.engine.now();
        for h in self.claims.take_happenings() {
            self.trace.push(now, h);
        }
    }

    /// The scenario trace, with everything recorded so far.
    fn into_trace(mut self) -> Trace {
        self.drain();
        self.trace
    }

    /// The first claim/pool tick after now.
    fn next_tick(&self) -> SimTime {
        let now = self.engine.now();
        let tick = next_tick_from(now);
        if tick > now { tick } else { now + TICK }
    }

    /// Advances virtual time to `t`, reconciling claims and pools at every tick on the way.
    fn advance_to(&mut self, t: SimTime) -> Result<(), StepError> {
        loop {
            let ticking = !self.claims.is_empty();
            let stop = if ticking { t.min(self.next_tick()) } else { t };
            self.engine.advance_to(stop).map_err(failed)?;
            let now = self.engine.now();
            if ticking && now == next_tick_from(now) && now >= self.down_until {
                self.drain();
                self.claims
                    .reconcile_all(&mut self.engine)
                    .map_err(failed)?;
                self.drain();
            }
            if now >= t {
                self.drain();
                return Ok(());
            }
        }
    }
}

/// The tick at or after `t` (ticks fall on whole multiples of [`TICK`]).
fn next_tick_from(t: SimTime) -> SimTime {
    let step = u64::try_from(TICK.as_nanos()).unwrap_or(u64::MAX).max(1);
    SimTime::from_nanos(t.as_nanos().div_ceil(step).saturating_mul(step))
}

impl Backend for EngineBackend<'_> {
    type Error = StepError;

    const POLL: Duration = Duration::from_secs(1);

    const ABSENT: &'static str = "does not exist";

    fn now(&self) -> SimTime {
        self.engine.now()
    }

    fn record(&mut self, what: Happening) {
        self.drain();
        self.trace.push(self.engine.now(), what);
    }

    async fn register(&mut self, r: &Register) -> Result<(), StepError> {
        EngineBackend::register(self, r)
    }

    async fn apply(&mut self, objects: &[Value]) -> Result<(), StepError> {
        for obj in objects {
            EngineBackend::apply(self, substitute(obj))?;
        }
        Ok(())
    }

    async fn patch(
        &mut self,
        target: &Target,
        patch_type: PatchType,
        body: &Value,
    ) -> Result<(), StepError> {
        EngineBackend::patch(self, target, patch_type, &substitute(body))
    }

    async fn metadata(&mut self, field: &str, change: &MetadataChange) -> Result<(), StepError> {
        EngineBackend::metadata(self, field, change)
    }

    async fn delete(&mut self, target: &Target) -> Result<(), StepError> {
        EngineBackend::delete(self, target)
    }

    async fn create_claim(&mut self, claim: &Claim) -> Result<(), StepError> {
        EngineBackend::create_claim(self, claim)
    }

    async fn delete_claim(&mut self, c: &Named) -> Result<(), StepError> {
        let ns = c.namespace.clone().unwrap_or_else(|| self.ns().to_owned());
        let now = self.wall();
        if self.claims.delete_claim(&format!("{ns}/{}", c.name), now) {
            Ok(())
        } else {
            Err(failed(format!("no HostClaim {ns}/{}", c.name)))
        }
    }

    async fn scale_pool(&mut self, s: &Scale) -> Result<(), StepError> {
        let ns = s.namespace.clone().unwrap_or_else(|| self.ns().to_owned());
        self.claims
            .scale_pool(&format!("{ns}/{}", s.name), s.replicas)
            .map_err(failed)
    }

    async fn stop_operator(&mut self, restart: &Restart) -> Result<(), StepError> {
        let down_for = restart.down_for.0;
        self.down_until = self.engine.now() + down_for;
        match &restart.mid_reconcile {
            Some(m) => {
                let key = format!("{}/{}", self.ns(), m.host);
                self.engine
                    .kill_operator_mid_reconcile(&key, m.after_writes, down_for);
            }
            None => self.engine.restart_operator(down_for),
        }
        self.claims.restart();
        Ok(())
    }

    /// The engine brings the operator back itself, `down_for` after the stop.
    async fn start_operator(&mut self) -> Result<(), StepError> {
        Ok(())
    }

    async fn fault_started(
        &mut self,
        started: &ActiveFault,
        active: &BTreeMap<String, ActiveFault>,
    ) -> Result<(), StepError> {
        if started.ironic.as_ref().is_some_and(|i| i.database_lost) {
            self.engine.lose_ironic_database();
        }
        self.apply_faults(started, active)
    }

    async fn fault_ended(
        &mut self,
        ended: &ActiveFault,
        active: &BTreeMap<String, ActiveFault>,
    ) -> Result<(), StepError> {
        self.apply_faults(ended, active)
    }

    async fn pass_to(&mut self, t: SimTime) -> Result<(), StepError> {
        self.advance_to(t)
    }

    fn hosts(&self, names: &[String]) -> Vec<Option<HostConditionView>> {
        names
            .iter()
            .map(|name| {
                let h = self.engine.host(&self.key(name))?;
                let st = h.status.clone().unwrap_or_default();
                Some(HostConditionView {
                    state: st.provisioning.state.as_str().to_owned(),
                    operational_status: st.operational_status.as_str().to_owned(),
                    error_type: st.error_type.map(|t| t.as_str().to_owned()),
                    powered_on: Some(st.powered_on),
                    gone: false,
                })
            })
            .collect()
    }

    fn claim_bound(&self, name: &str) -> bool {
        self.claims.is_bound(&self.key(name))
    }

    fn claim_reason(&self, name: &str) -> Option<String> {
        self.claims.bound_reason(&self.key(name))
    }

    fn pool_ready(&self, name: &str) -> u32 {
        self.claims.pool_ready(&self.key(name))
    }
}
