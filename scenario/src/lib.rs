//! metal-scenario: one behaviour written down once (fleet, timeline, faults, expectations) and played
//! against the real operator (wire mode, crate `metal-wire`) or in engine mode (here), reproducibly
//! from a seed.
//!
//! Layering: this crate sits on the fakes (`metal-sim`) and the operator's pure cores
//! (`metal-core`); it does not depend on `metal-operator`, so engine mode cannot reach the
//! operator's shells (controller, HTTP transport) — `scripts/check-layers.sh` checks it.
//!
//! - [`format`]: the file as written (serde + JSON Schema);
//! - [`Scenario::parse`]: validation, with every error naming file, line and column;
//! - [`trace`]: what a run records (JSONL, simulated time);
//! - [`check`]: expectations and invariants judged over a trace (pure);
//! - [`Scenario::operators`]: which operators a scenario is about (Metal3 behaviour, or our
//!   extensions that only `--operator ours` has);
//! - [`report`]: phase-duration summary and the SVG timeline;
//! - [`play`]: the one player of a timeline, over a backend per mode;
//! - [`chaos`]: seeded chaos, a scenario drawn per seed (`metal-sim chaos`);
//! - [`engine`]: engine mode, the operator's cores and the fakes in virtual time (the engine backend).
//!
//! `docs/scenarios.md` documents the format; `scenarios/` holds the library.

/// Seeded chaos: a fleet and a timeline of operations and faults drawn from a seed.
pub mod chaos;
pub mod check;
pub mod format;
/// Which operators a scenario is about: Metal3 behaviour or our extensions.
mod operators;
pub mod outline;
pub mod play;
pub mod report;
pub mod trace;
mod validate;
/// Where each phase's time went (operator polls, agent, machine, status write + watch).
pub mod waits;

pub mod engine;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use metal_sim::fleet::{Fleet, FleetError};
use metal_sim::machine::HostSpec;

pub use format::{HostSelector, Mode, OperatorKind, ScenarioFile, Span, Step};
pub use trace::{Happening, Trace, TraceLine};

/// A scenario file that cannot be used. Displays as `file:line:column: message`.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// A file (the scenario, its fleet or an object file) could not be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// Path.
        file: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Syntax or content error at a position.
    #[error("{file}:{line}:{column}: {message}")]
    Invalid {
        /// Path of the file the error is in.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
}

impl From<FleetError> for ScenarioError {
    fn from(e: FleetError) -> Self {
        match e {
            FleetError::Read { file, source } => ScenarioError::Read { file, source },
            FleetError::Invalid {
                file,
                line,
                column,
                message,
            } => ScenarioError::Invalid {
                file,
                line,
                column,
                message,
            },
        }
    }
}

/// A validated scenario with its fleet expanded and its object files loaded.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The file as parsed; `apply` steps' `objects` also hold the objects of their `file`.
    pub file: ScenarioFile,
    /// Where it came from (a path, as given).
    pub source: String,
    /// The fleet, with the scenario's seed (and time scale, when it sets one) applied.
    pub fleet: Fleet,
    lines: Lines,
}

/// Lines of the parts of a scenario that a failure can point at.
#[derive(Debug, Clone, Default)]
pub(crate) struct Lines {
    steps: Vec<usize>,
    expect_hosts: Vec<usize>,
    expect_events: Vec<usize>,
    expect_calls: Vec<usize>,
    invariants: usize,
}

impl Scenario {
    /// Reads and validates a scenario file; relative paths in it are relative to its directory.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let source = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError::Read {
            file: source.clone(),
            source: e,
        })?;
        let dir = path.parent().map_or_else(PathBuf::new, Path::to_path_buf);
        Scenario::parse(&text, &source, &dir)
    }

    /// Parses and validates scenario YAML; `source` names it in errors, `dir` resolves relative paths.
    pub fn parse(text: &str, source: &str, dir: &Path) -> Result<Scenario, ScenarioError> {
        // Steps are written as single-key mappings (`- advance: 30s`), not YAML tags.
        let de = serde_yaml::Deserializer::from_str(text);
        let file: ScenarioFile = serde_yaml::with::singleton_map_recursive::deserialize(de)
            .map_err(|e| {
                let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
                ScenarioError::Invalid {
                    file: source.to_string(),
                    line,
                    column,
                    message: e.to_string(),
                }
            })?;
        validate::validate(file, text, source, dir)
    }

    /// The seed every random choice comes from.
    pub fn seed(&self) -> u64 {
        self.file.seed
    }

    /// The same scenario with another seed (the fleet's identities follow it).
    pub fn with_seed(&self, seed: u64) -> Result<Scenario, ScenarioError> {
        let mut s = self.clone();
        s.file.seed = seed;
        let mut fleet_file = self.fleet.file.clone();
        fleet_file.seed = seed;
        s.fleet = Fleet::from_file(fleet_file, &self.fleet.source)?;
        Ok(s)
    }

    /// The namespace of the fleet's BareMetalHosts (and the default for objects).
    pub fn namespace(&self) -> &str {
        &self.fleet.file.namespace
    }

    /// The scenario's name.
    pub fn name(&self) -> &str {
        &self.file.name
    }

    /// Whether the scenario may run in `mode`.
    pub fn runs_in(&self, mode: Mode) -> bool {
        self.file.modes.contains(&mode)
    }

    /// The 1-based line where timeline step `index` starts.
    pub fn step_line(&self, index: usize) -> usize {
        self.lines.steps.get(index).copied().unwrap_or(1)
    }

    /// The line of `expect.hosts[index]`.
    pub fn expect_host_line(&self, index: usize) -> usize {
        self.lines.expect_hosts.get(index).copied().unwrap_or(1)
    }

    /// The line of `expect.events[index]`.
    pub fn expect_event_line(&self, index: usize) -> usize {
        self.lines.expect_events.get(index).copied().unwrap_or(1)
    }

    /// The line of `expect.calls[index]`.
    pub fn expect_call_line(&self, index: usize) -> usize {
        self.lines.expect_calls.get(index).copied().unwrap_or(1)
    }

    /// The line of `invariants:` (1 when the scenario keeps the defaults).
    pub fn invariants_line(&self) -> usize {
        self.lines.invariants
    }

    /// The fleet's hosts that `selector` picks, in fleet order.
    pub fn hosts<'a>(&'a self, selector: &'a HostSelector) -> impl Iterator<Item = &'a HostSpec> {
        self.fleet
            .hosts()
            .iter()
            .filter(move |h| selector.matches(&h.name, &h.labels))
    }

    /// Names of the hosts `selector` picks, in fleet order.
    pub fn host_names(&self, selector: &HostSelector) -> Vec<String> {
        self.hosts(selector).map(|h| h.name.clone()).collect()
    }

    /// Each host's fleet labels, by name.
    pub fn labels(&self) -> BTreeMap<&str, &BTreeMap<String, String>> {
        self.fleet
            .hosts()
            .iter()
            .map(|h| (h.name.as_str(), &h.labels))
            .collect()
    }

    /// The provisioning limit the `max_busy` invariant enforces.
    pub fn max_busy(&self) -> u32 {
        self.file
            .invariants
            .max_busy
            .unwrap_or(self.file.operator.provisioning_limit)
    }
}
