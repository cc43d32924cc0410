//! The scenario file as written (YAML): fleet, seed, time scale, Ironic, operator settings, the
//! timeline of steps, expectations and invariants.
//!
//! These types only describe the file; [`super::Scenario::parse`] checks what serde cannot (host
//! names that exist, state names, one fault target per step, …) and loads referenced files.
//! `scenarios/scenario.schema.json` is generated from them (`metal-sim run --schema`).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

use crate::fault::{FaultSet, Latency, Window};
use crate::machine::SimTime;
use crate::machine::time::{format_duration, parse_duration};

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

/// A duration in simulated time, written `250ms`, `1.5s`, `2m`, `1h` or a number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Span(pub Duration);

impl Span {
    /// The instant `self` after `t`.
    pub fn after(self, t: SimTime) -> SimTime {
        t.saturating_add(self.0)
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(self.0))
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl de::Visitor<'_> for Visit {
            type Value = Span;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as 30s, 2m or 250ms")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Span, E> {
                parse_duration(v).map(Span).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Span, E> {
                Ok(Span(Duration::from_secs(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Span, E> {
                u64::try_from(v)
                    .map(|v| Span(Duration::from_secs(v)))
                    .map_err(|_| E::custom(format!("negative duration {v}")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Span, E> {
                Duration::try_from_secs_f64(v)
                    .map(Span)
                    .map_err(|_| E::custom(format!("invalid duration {v}")))
            }
        }
        d.deserialize_any(Visit)
    }
}

impl JsonSchema for Span {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Span".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A duration in simulated time: 250ms, 1.5s, 2m, 1h, or a number of seconds.",
            "oneOf": [
                {"type": "string", "pattern": "^\\s*(0|[0-9]+(\\.[0-9]+)?\\s*(ns|us|µs|ms|s|m|min|h))\\s*$"},
                {"type": "number", "minimum": 0}
            ]
        })
    }
}

/// Which hosts a step or expectation is about.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum HostSelector {
    /// Every host of the fleet (`hosts: all`).
    #[default]
    All,
    /// These hosts by name (`hosts: [a, b]` or `hosts: a`).
    Names(Vec<String>),
    /// Hosts whose fleet labels include all of these (`hosts: {labels: {role: worker}}`).
    Labels(BTreeMap<String, String>),
}

impl HostSelector {
    /// Whether a host with this name and these labels is selected.
    pub fn matches(&self, name: &str, labels: &BTreeMap<String, String>) -> bool {
        match self {
            HostSelector::All => true,
            HostSelector::Names(names) => names.iter().any(|n| n == name),
            HostSelector::Labels(want) => want.iter().all(|(k, v)| labels.get(k) == Some(v)),
        }
    }
}

impl fmt::Display for HostSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostSelector::All => f.write_str("all hosts"),
            HostSelector::Names(n) => f.write_str(&n.join(", ")),
            HostSelector::Labels(l) => {
                let parts: Vec<String> = l.iter().map(|(k, v)| format!("{k}={v}")).collect();
                write!(f, "hosts labelled {}", parts.join(","))
            }
        }
    }
}

impl Serialize for HostSelector {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            HostSelector::All => s.serialize_str("all"),
            HostSelector::Names(n) => n.serialize(s),
            HostSelector::Labels(l) => {
                let mut m = BTreeMap::new();
                m.insert("labels", l);
                m.serialize(s)
            }
        }
    }
}

impl<'de> Deserialize<'de> for HostSelector {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde_json::Value;
        let v = Value::deserialize(d)?;
        let bad = || {
            de::Error::custom(
                "hosts must be `all`, a host name, a list of host names or {labels: {key: value}}",
            )
        };
        match v {
            Value::String(s) if s == "all" => Ok(HostSelector::All),
            Value::String(s) => Ok(HostSelector::Names(vec![s])),
            Value::Array(items) => items
                .into_iter()
                .map(|i| match i {
                    Value::String(s) => Ok(s),
                    _ => Err(bad()),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(HostSelector::Names),
            Value::Object(mut m) if m.len() == 1 => match m.remove("labels") {
                Some(Value::Object(l)) => l
                    .into_iter()
                    .map(|(k, v)| match v {
                        Value::String(s) => Ok((k, s)),
                        Value::Number(n) => Ok((k, n.to_string())),
                        Value::Bool(b) => Ok((k, b.to_string())),
                        _ => Err(bad()),
                    })
                    .collect::<Result<BTreeMap<_, _>, _>>()
                    .map(HostSelector::Labels),
                _ => Err(bad()),
            },
            _ => Err(bad()),
        }
    }
}

impl JsonSchema for HostSelector {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "HostSelector".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "`all`, a host name, a list of host names, or {labels: {key: value}} (the fleet's labels).",
            "oneOf": [
                {"type": "string"},
                {"type": "array", "items": {"type": "string"}},
                {"type": "object", "required": ["labels"], "additionalProperties": false,
                 "properties": {"labels": {"type": "object", "additionalProperties": {"type": "string"}}}}
            ]
        })
    }
}

/// One step of the timeline (a single-key mapping: `- advance: 30s`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Create the BareMetalHosts (and BMC Secrets) of fleet hosts, as `metal-sim fleet manifests` prints them.
    Register(Register),
    /// Create or update objects (server-side apply semantics: create, or replace the spec).
    Apply(Objects),
    /// Patch one object or the BareMetalHosts of some hosts.
    Patch(Patch),
    /// Set or remove annotations on BareMetalHosts.
    Annotate(MetadataChange),
    /// Set or remove labels on BareMetalHosts.
    Label(MetadataChange),
    /// Delete one object or the BareMetalHosts of some hosts.
    Delete(Target),
    /// Create a HostClaim.
    CreateClaim(Claim),
    /// Delete a HostClaim (the host is deprovisioned and released).
    DeleteClaim(Named),
    /// Set a pool's replicas (its scale subresource).
    ScalePool(Scale),
    /// Stop the operator (abort its task / kill its process) and start a new one.
    RestartOperator(Restart),
    /// Inject a fault; it lasts `for` or until a `clear_fault` with its name.
    InjectFault(InjectFault),
    /// Clear faults injected earlier.
    ClearFault(ClearFault),
    /// Let simulated time pass.
    Advance(Span),
    /// Wait until a condition holds, failing the scenario if it does not within the deadline.
    Wait(Wait),
    /// Check a condition now, failing the scenario if it does not hold.
    Assert(Condition),
}

impl Step {
    /// The step's key as written (`register`, `wait`, …).
    pub fn keyword(&self) -> &'static str {
        match self {
            Step::Register(_) => "register",
            Step::Apply(_) => "apply",
            Step::Patch(_) => "patch",
            Step::Annotate(_) => "annotate",
            Step::Label(_) => "label",
            Step::Delete(_) => "delete",
            Step::CreateClaim(_) => "create_claim",
            Step::DeleteClaim(_) => "delete_claim",
            Step::ScalePool(_) => "scale_pool",
            Step::RestartOperator(_) => "restart_operator",
            Step::InjectFault(_) => "inject_fault",
            Step::ClearFault(_) => "clear_fault",
            Step::Advance(_) => "advance",
            Step::Wait(_) => "wait",
            Step::Assert(_) => "assert",
        }
    }
}

/// `register`: BareMetalHosts and Secrets for fleet hosts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Register {
    /// Which hosts (default all).
    #[serde(default)]
    pub hosts: HostSelector,
    /// `spec.online` of the new hosts (default true).
    #[serde(default = "yes")]
    pub online: bool,
    /// `spec.externallyProvisioned`.
    #[serde(default)]
    pub externally_provisioned: bool,
    /// Disable inspection (`inspect.metal3.io: disabled`).
    #[serde(default)]
    pub inspection_disabled: bool,
    /// Override the BMC password written into the Secret (e.g. a wrong one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Extra merge patch applied to each BareMetalHost before it is created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<serde_json::Value>,
}

fn yes() -> bool {
    true
}

/// Objects inline or from a file (multi-document YAML, relative to the scenario).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Objects {
    /// A YAML file with one or more objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Inline objects. After validation this also holds the file's objects, in order.
    #[serde(default)]
    pub objects: Vec<serde_json::Value>,
}

/// Which object a patch or delete is about: one object by kind and name, or hosts' BareMetalHosts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// BareMetalHosts of these hosts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosts: Option<HostSelector>,
    /// Kind of one object (`Secret`, `HostClaim`, a pool kind, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Name of that object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its namespace (default: the fleet's namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Kind of patch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PatchType {
    /// JSON merge patch (RFC 7386).
    #[default]
    Merge,
    /// JSON patch (RFC 6902), a list of operations.
    Json,
}

/// `patch`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Patch {
    /// BareMetalHosts of these hosts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosts: Option<HostSelector>,
    /// Kind of one object (`Secret`, `HostClaim`, a pool kind, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Name of that object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its namespace (default: the fleet's namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Merge (default) or JSON patch.
    #[serde(default, rename = "type")]
    pub patch_type: PatchType,
    /// The patch body.
    pub patch: serde_json::Value,
}

/// `annotate` / `label`: keys to set and keys to remove.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetadataChange {
    /// Which hosts.
    pub hosts: HostSelector,
    /// Keys to set (value may be empty).
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    /// Keys to remove.
    #[serde(default)]
    pub remove: Vec<String>,
}

impl Patch {
    /// What the patch is about.
    pub fn target(&self) -> Target {
        Target {
            hosts: self.hosts.clone(),
            kind: self.kind.clone(),
            name: self.name.clone(),
            namespace: self.namespace.clone(),
        }
    }
}

/// A HostClaim to create.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    /// Claim name.
    pub name: String,
    /// Namespace (default: the fleet's namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Labels the host must carry (`hostSelector.matchLabels`).
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
    /// Image URL (default `$IMAGES/os.qcow2`, the image the runner serves).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// `poweredOn` (default true).
    #[serde(default = "yes")]
    pub powered_on: bool,
    /// Preferred failure domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_domain: Option<String>,
}

/// A reference to an object by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Named {
    /// Name.
    pub name: String,
    /// Namespace (default: the fleet's namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// `scale_pool`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scale {
    /// Pool name.
    pub name: String,
    /// Namespace (default: the fleet's namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Desired replicas.
    pub replicas: u32,
}

/// `restart_operator`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Restart {
    /// Simulated time the operator stays down before the new one starts.
    pub down_for: Span,
}

/// `inject_fault`: exactly one of `bmc`, `ironic`, `agent`, `control_plane`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InjectFault {
    /// Name for `clear_fault` and for the report (default `fault-<step number>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Hosts affected (BMC and agent faults; default all).
    #[serde(default)]
    pub hosts: HostSelector,
    /// Cleared automatically after this long (default: until `clear_fault`).
    #[serde(default, rename = "for", skip_serializing_if = "Option::is_none")]
    pub duration: Option<Span>,
    /// A fault at the hosts' BMCs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bmc: Option<BmcFault>,
    /// A fault of the (mock) Ironic API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ironic: Option<IronicFault>,
    /// A fault of the hosts' agents (the ramdisk's ironic-python-agent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentFault>,
    /// A fault of the Kubernetes API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane: Option<ControlPlaneFault>,
}

/// The kind of a fault, for traces and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultTarget {
    /// BMC facade.
    Bmc,
    /// Ironic API.
    Ironic,
    /// Agent.
    Agent,
    /// Kubernetes API.
    ControlPlane,
}

impl InjectFault {
    /// Which kind of fault this is (`None` when zero or several targets are set; validation refuses that).
    pub fn target(&self) -> Option<FaultTarget> {
        let set = [
            (self.bmc.is_some(), FaultTarget::Bmc),
            (self.ironic.is_some(), FaultTarget::Ironic),
            (self.agent.is_some(), FaultTarget::Agent),
            (self.control_plane.is_some(), FaultTarget::ControlPlane),
        ];
        let mut it = set.iter().filter(|(on, _)| *on);
        match (it.next(), it.next()) {
            (Some((_, t)), None) => Some(*t),
            _ => None,
        }
    }
}

/// A BMC fault (the fleet's fault set, with `unreachable` meaning "from now").
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct BmcFault {
    /// The BMC does not answer at all (TCP closed, UDP dropped).
    pub unreachable: bool,
    /// Fraction (0..=1) of Redfish requests answered with `http_5xx_status`.
    pub http_5xx_rate: f64,
    /// Status of injected failures (500..=599, default 503).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_5xx_status: Option<u16>,
    /// Latency added to every request or packet: `{min: 5ms, max: 30ms}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<LatencySchema>")]
    pub latency: Option<Latency>,
    /// Fraction (0..=1) of IPMI datagrams dropped.
    pub ipmi_packet_loss: f64,
    /// Fraction (0..=1) of power actions acknowledged without effect.
    pub power_ack_no_effect_rate: f64,
    /// Fraction (0..=1) of power actions whose transition sticks until cleared.
    pub power_stick_rate: f64,
}

/// Schema of [`Latency`] (the fault module's type carries no schema).
#[derive(JsonSchema)]
#[allow(dead_code)]
struct LatencySchema {
    min: Span,
    max: Span,
}

impl BmcFault {
    /// The BMC fault set this fault means when injected at `now` and lasting until `until`.
    pub fn fault_set(&self, now: SimTime, until: Option<SimTime>) -> FaultSet {
        FaultSet {
            unreachable: if self.unreachable {
                vec![Window {
                    from: now.since_start(),
                    until: until.map(SimTime::since_start),
                }]
            } else {
                Vec::new()
            },
            http_5xx_rate: self.http_5xx_rate,
            http_5xx_status: self.http_5xx_status,
            latency: self.latency,
            ipmi_packet_loss: self.ipmi_packet_loss,
            power_ack_no_effect_rate: self.power_ack_no_effect_rate,
            power_stick_rate: self.power_stick_rate,
        }
    }
}

/// A fault of the Ironic API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IronicFault {
    /// Fraction (0..=1) of API requests answered with `status`.
    pub http_5xx_rate: f64,
    /// Status of injected failures (500..=599, default 503).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
}

/// A fault of the agents running on the hosts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentFault {
    /// The agent stops heartbeating (Ironic times the deploy or clean out).
    pub heartbeat_loss: bool,
}

/// A fault of the Kubernetes API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ControlPlaneFault {
    /// Every open watch is cut when the fault starts (clients must re-list/re-watch).
    pub watch_disconnect: bool,
}

/// `clear_fault`: by name, or every active fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClearFault {
    /// The fault's name (as given to `inject_fault`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Clear every active fault.
    #[serde(default)]
    pub all: bool,
}

/// `wait`: until a condition holds, within a deadline in simulated time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Wait {
    /// The condition.
    pub until: Condition,
    /// Deadline, counted from the start of the step.
    pub within: Span,
}

/// A condition about hosts, a claim or a pool (one of `hosts`, `claim`, `pool`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// Hosts whose BareMetalHosts must all (or `at_least` of them) match the fields below.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosts: Option<HostSelector>,
    /// How many of the selected hosts must match (default all of them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_least: Option<u32>,
    /// `status.provisioning.state` (`available`, `provisioned`, `externally provisioned`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// `status.operationalStatus` (`OK`, `error`, `detached`, `delayed`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operational_status: Option<String>,
    /// `status.errorType`, or `none` for no error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    /// `status.poweredOn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub powered_on: Option<bool>,
    /// The BareMetalHost no longer exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gone: Option<bool>,
    /// A HostClaim, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<String>,
    /// With `claim`: bound to a host (true) or not (false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound: Option<bool>,
    /// A pool, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    /// With `pool`: this many ready (provisioned) members.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<u32>,
}

/// What must have happened by the end of the run.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Expectations {
    /// Per-host expectations.
    pub hosts: Vec<HostExpectation>,
    /// Kubernetes Events that must have been emitted.
    pub events: Vec<EventExpectation>,
    /// Counts of calls (Ironic, Redfish, IPMI) per host.
    pub calls: Vec<CallExpectation>,
}

/// Expectations about some hosts' histories.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HostExpectation {
    /// Which hosts (each must satisfy everything below).
    pub hosts: HostSelector,
    /// The exact sequence of provisioning states (repeats collapsed), from the first observation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<Vec<String>>,
    /// States that must appear in this order (other states may come between).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visits: Option<Vec<String>>,
    /// States that must never appear.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub never: Vec<String>,
    /// The state at the end.
    #[serde(default, rename = "final", skip_serializing_if = "Option::is_none")]
    pub final_state: Option<String>,
    /// The operational status at the end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_operational_status: Option<String>,
    /// Error types that must have been reported at some point (in this order).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub error_types: Vec<String>,
    /// The error type at the end (`none` for no error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_error_type: Option<String>,
    /// Number of times the host entered `provisioned`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioned_times: Option<u32>,
    /// Number of times the disks were wiped (clean completed) — deprovisioning with cleaning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_wipes: Option<u32>,
}

/// A Kubernetes Event that must exist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventExpectation {
    /// Hosts whose BareMetalHost is the Event's involved object (default: any object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosts: Option<HostSelector>,
    /// The Event's reason.
    pub reason: String,
    /// `Normal` or `Warning` (default: either).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    /// At least this many (default 1), per selected host when `hosts` is given.
    #[serde(default = "one")]
    pub at_least: u32,
}

fn one() -> u32 {
    1
}

/// A count of classified calls per host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CallExpectation {
    /// Which hosts (each is counted on its own).
    pub hosts: HostSelector,
    /// The action (`deploy`, `inspect`, `power_on`, `power_off`, `reboot`, …; see docs/scenarios.md).
    pub action: String,
    /// Exactly this many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exactly: Option<u32>,
    /// At least this many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_least: Option<u32>,
    /// At most this many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_most: Option<u32>,
}

/// Invariants checked over the whole trace. All on by default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Invariants {
    /// Never `provisioned` without having been `inspecting` first, unless inspection is disabled
    /// or the host was externally provisioned.
    pub inspected_before_provisioned: bool,
    /// No power action reaches the BMC of a host whose operational status is `detached`.
    pub no_power_action_when_detached: bool,
    /// Exactly one accepted deploy request per provisioning that ends in `provisioned`, plus one
    /// per deploy failure observed in between.
    pub one_deploy_per_provisioning: bool,
    /// No two HostClaims bound to one host at the same time.
    pub one_claim_per_host: bool,
    /// Never more than this many hosts holding a provisioning slot at once (inspecting,
    /// provisioning or deprovisioning, not delayed, not virtual media). Default: the
    /// operator's provisioning limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_busy: Option<u32>,
}

impl Default for Invariants {
    fn default() -> Self {
        Invariants {
            inspected_before_provisioned: true,
            no_power_action_when_detached: true,
            one_deploy_per_provisioning: true,
            one_claim_per_host: true,
            max_busy: None,
        }
    }
}

/// The JSON Schema of scenario files, pretty-printed (what `scenarios/scenario.schema.json` holds).
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(ScenarioFile);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}
