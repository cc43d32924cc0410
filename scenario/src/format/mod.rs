//! The scenario file as written (YAML): fleet, seed, time scale, Ironic, operator settings, the
//! timeline of steps, expectations and invariants.
//!
//! These types only describe the file; [`super::Scenario::parse`] checks what serde cannot (host
//! names that exist, state names, one fault target per step, …) and loads referenced files.
//! `scenarios/scenario.schema.json` is generated from them (`metal-sim run --schema`).

/// What must have happened by the end (expectations) and what must hold throughout (invariants).
mod expectations;
/// The timeline's steps and the conditions waits and asserts check.
mod steps;
/// Values used across the file: durations (`Span`) and host selectors.
mod values;

pub use expectations::*;
pub use steps::*;
pub use values::*;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

/// A scenario file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Short name, used in reports and snapshot names (letters, digits, `-`, `_`).
    pub name: String,
    /// What behaviour the scenario pins down, in a sentence or two.
    #[serde(default)]
    pub description: String,
    /// Where the scenario can run: `engine` (virtual time, in-process), `wire` (real sockets).
    #[serde(default = "Mode::both")]
    pub modes: Vec<Mode>,
    /// The simulated machines: a fleet file path (relative to the scenario) or an inline fleet.
    pub fleet: FleetSource,
    /// Seed of every random choice; `metal-sim run --seed` overrides it.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Wire mode: multiplier on every simulated duration (overrides the fleet's `time_scale`).
    #[serde(default)]
    pub time_scale: Option<f64>,
    /// Which Ironic the operator talks to.
    #[serde(default)]
    pub ironic: IronicChoice,
    /// Settings of the operator under test.
    #[serde(default)]
    pub operator: OperatorSettings,
    /// Which operators the scenario is about (`metal-sim run --operator`). Default: every one
    /// when the timeline is pure Metal3 behaviour, `[ours]` when it uses one of our extensions
    /// (HostClaim/HostPool pools).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operators: Option<Vec<OperatorKind>>,
    /// The steps, played in order.
    pub timeline: Vec<Step>,
    /// What must have happened by the end.
    #[serde(default)]
    pub expect: Expectations,
    /// Properties that must hold at every instant of the run.
    #[serde(default)]
    pub invariants: Invariants,
}

fn default_seed() -> u64 {
    1
}

/// A way of running a scenario.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Discrete-event engine in virtual time: the operator's, conductor's and machines' cores, no sockets.
    Engine,
    /// Everything over loopback sockets: control plane, mock Ironic, BMCs and the real operator.
    Wire,
}

impl Mode {
    fn both() -> Vec<Mode> {
        vec![Mode::Engine, Mode::Wire]
    }
}

/// A kind of operator a scenario can be played against.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum OperatorKind {
    /// This project's operator (Metal3 behaviour plus our extensions).
    Ours,
    /// Upstream Metal3 baremetal-operator (`make bmo`).
    Bmo,
    /// Any other Metal3-compatible operator started as a command (`--operator 'cmd:…'`).
    Command,
}

impl OperatorKind {
    /// Every kind.
    pub const ALL: [OperatorKind; 3] =
        [OperatorKind::Ours, OperatorKind::Bmo, OperatorKind::Command];

    /// The name as written in scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            OperatorKind::Ours => "ours",
            OperatorKind::Bmo => "bmo",
            OperatorKind::Command => "command",
        }
    }
}

/// The fleet: a path (string) or an inline fleet file (mapping, see docs/fleet.md).
#[derive(Debug, Clone, PartialEq)]
pub enum FleetSource {
    /// A fleet file, relative to the scenario file's directory.
    File(String),
    /// An inline fleet, kept as YAML text so its errors can point into the scenario file.
    Inline(serde_json::Value),
}

impl Serialize for FleetSource {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            FleetSource::File(p) => s.serialize_str(p),
            FleetSource::Inline(v) => v.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for FleetSource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(p) => Ok(FleetSource::File(p)),
            v @ serde_json::Value::Object(_) => Ok(FleetSource::Inline(v)),
            _ => Err(de::Error::custom(
                "fleet must be a fleet file path or an inline fleet (a mapping with `groups:`)",
            )),
        }
    }
}

impl JsonSchema for FleetSource {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "FleetSource".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A fleet file path relative to the scenario, or an inline fleet (docs/fleet.md).",
            "oneOf": [
                {"type": "string"},
                {"type": "object", "required": ["groups"]}
            ]
        })
    }
}

/// Which Ironic the operator talks to.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IronicChoice {
    /// metal-sim's mock Ironic (`ironic: mock`).
    #[default]
    Mock,
    /// A real Ironic the user runs (`ironic: {external: http://127.0.0.1:6385}`), wire mode only.
    External(String),
}

/// Settings of the operator under test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct OperatorSettings {
    /// Hosts allowed to inspect, provision or deprovision at once (`PROVISIONING_LIMIT`).
    pub provisioning_limit: u32,
    /// Provisioning attempts per image before giving up (0 = no limit).
    pub max_provisioning_retries: i64,
}

impl Default for OperatorSettings {
    fn default() -> Self {
        OperatorSettings {
            provisioning_limit: 20,
            max_provisioning_retries: 5,
        }
    }
}
