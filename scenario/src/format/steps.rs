//! The timeline's steps (register, apply, patch, faults, waits, …) and their conditions.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use metal_sim::fault::{FaultSet, Latency, Window};
use metal_sim::machine::SimTime;

use super::*;

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
#[derive(Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
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

impl std::fmt::Debug for Register {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Register")
            .field("hosts", &self.hosts)
            .field("online", &self.online)
            .field("externally_provisioned", &self.externally_provisioned)
            .field("inspection_disabled", &self.inspection_disabled)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("patch", &self.patch)
            .finish()
    }
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
    /// Name of a Secret in the claim's namespace holding the config drive's user data
    /// (`spec.userData`); the claim is not bound while it does not exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
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
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Restart {
    /// Simulated time the operator stays down before the new one starts.
    pub down_for: Span,
    /// Engine mode only: the operator is killed inside a reconcile of this host rather than
    /// between reconciles.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mid_reconcile: Option<MidReconcile>,
}

/// Where inside a reconcile the operator is killed: the host's reconcile runs at the step's
/// instant and the operator dies right after its `after_writes`-th API write (a BMC Secret label,
/// an Ironic request other than a read, the host's own write); the writes before are kept, the
/// rest of the reconcile never happens, and its in-memory state is lost with the process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MidReconcile {
    /// The host whose reconcile is cut (a fleet host; if it is gone, the kill is between
    /// reconciles).
    pub host: String,
    /// API writes the reconcile makes before the kill (0: it dies after its reads).
    pub after_writes: u32,
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
            ..FaultSet::none()
        }
    }
}

/// A fault of the Ironic API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IronicFault {
    /// Fraction (0..=1) of API requests answered with `status`.
    #[serde(default)]
    pub http_5xx_rate: f64,
    /// Status of injected failures (500..=599, default 503).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// When the fault starts, Ironic restarts on an empty database: every node and port is
    /// forgotten (the operator must register its hosts again, adopting the provisioned ones).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub database_lost: bool,
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
    /// With `claim`: the reason of its `Bound` condition is one of these (`HostBound`,
    /// `NoMatchingHost`, `NoHostAvailable`, `InvalidSpec`, `Released`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reason: Vec<String>,
    /// A pool, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    /// With `pool`: this many ready (provisioned) members.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<u32>,
}
