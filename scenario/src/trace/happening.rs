//! What a trace line says happened: one enum for both modes, with the wire, action and machine
//! change vocabularies it uses.

use serde::{Deserialize, Serialize};

use crate::format::FaultTarget;

/// The kinds of trace events (`"kind"` in the JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Happening {
    /// The runner started a timeline step.
    Step {
        /// 0-based index in the timeline.
        index: usize,
        /// Line of the step in the scenario file.
        line: usize,
        /// The step's key (`wait`, `inject_fault`, …).
        keyword: String,
        /// One-line description.
        summary: String,
    },
    /// A `wait` or `assert` step failed.
    StepFailed {
        /// 0-based index in the timeline.
        index: usize,
        /// Line of the step in the scenario file.
        line: usize,
        /// What did not hold, and what was seen instead.
        reason: String,
    },
    /// A BareMetalHost's `status.provisioning.state` changed.
    HostState {
        /// Host name.
        host: String,
        /// Previous state (`""` for a new host).
        from: String,
        /// New state.
        to: String,
        /// Why, as far as the observer can tell (the step, fault or Ironic transition).
        cause: String,
        /// Wire mode: the control plane's resourceVersion of the host as the watch delivered it
        /// (see [`Happening::Claim`]'s `revision`); engine mode, where the trace order is the
        /// order of the writes, leaves it out.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        revision: Option<u64>,
    },
    /// A BareMetalHost's operational status, error or power changed.
    HostStatus {
        /// Host name.
        host: String,
        /// `status.operationalStatus`.
        operational_status: String,
        /// `status.errorType` (absent when no error).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error_type: Option<String>,
        /// `status.errorCount`.
        #[serde(default)]
        error_count: u32,
        /// `status.poweredOn`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        powered_on: Option<bool>,
    },
    /// Facts about a host's spec and annotations that invariants depend on changed.
    HostFacts {
        /// Host name.
        host: String,
        /// `spec.online`.
        online: bool,
        /// The detached annotation is set.
        detached: bool,
        /// Inspection disabled by annotation.
        inspection_disabled: bool,
        /// `spec.externallyProvisioned`.
        externally_provisioned: bool,
        /// `spec.consumerRef.name`, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        consumer: Option<String>,
    },
    /// The BareMetalHost no longer exists.
    HostGone {
        /// Host name.
        host: String,
    },
    /// A request on one of the wires (or its in-process equivalent in engine mode).
    Call {
        /// Host the call is about, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        host: Option<String>,
        /// Which wire.
        protocol: Protocol,
        /// Method (`GET`, `PATCH`, IPMI command name, …).
        method: String,
        /// Path or object (`/v1/nodes/<uuid>/states/provision`, `chassis control`).
        target: String,
        /// Response status (HTTP status; IPMI completion code; absent when no answer).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<u16>,
        /// What the call does, when it is one the invariants care about.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        action: Option<CallKind>,
        /// How it went, in words (engine mode: `accepted`, `busy`, the BMC's answer, the error
        /// text); wire mode leaves it out.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// A Kubernetes Event was emitted.
    Event {
        /// Host whose BareMetalHost is the involved object, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        host: Option<String>,
        /// Involved object (`Kind/name`).
        object: String,
        /// Reason.
        reason: String,
        /// `Normal` or `Warning`.
        event_type: String,
        /// Message.
        message: String,
    },
    /// A simulated machine changed (ground truth, not what the operator believes).
    Machine {
        /// Host name.
        host: String,
        /// What changed.
        change: MachineChange,
    },
    /// A fault started or ended.
    Fault {
        /// Fault name.
        name: String,
        /// Where it acts.
        target: FaultTarget,
        /// Hosts affected (empty for Ironic / control-plane faults).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        hosts: Vec<String>,
        /// True when it starts, false when it ends.
        active: bool,
    },
    /// The operator was stopped or started.
    Operator {
        /// True when it (re)starts, false when it stops.
        running: bool,
    },
    /// A HostClaim was bound to a host or released.
    Claim {
        /// Claim name.
        claim: String,
        /// The host bound (absent: released).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        host: Option<String>,
        /// Wire mode: the control plane's resourceVersion of the claim as the watch delivered it.
        /// One counter orders every write, so it places a claim's change among its host's state
        /// changes even when the two watches deliver them out of order; engine mode leaves it
        /// out.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        revision: Option<u64>,
    },
    /// An Ironic node changed provision or power state (engine mode's detailed record; the
    /// scenario trace leaves it out).
    IronicNode {
        /// Host name (the node's name), or the node UUID when it has none.
        host: String,
        /// Node UUID.
        node: String,
        /// Provision state before.
        from: String,
        /// Provision state after.
        to: String,
        /// Power state after.
        power: String,
    },
    /// A command given to the engine (an object applied, patched or deleted, faults set, the
    /// operator restarted); engine mode's detailed record, the scenario trace leaves it out.
    Command {
        /// The host it is about (absent for the operator).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        host: Option<String>,
        /// What was done.
        what: String,
    },
    /// A pool's counts changed.
    Pool {
        /// Pool name.
        pool: String,
        /// Desired replicas.
        replicas: u32,
        /// Ready (provisioned) members.
        ready: u32,
    },
}

/// The wire a call travelled on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// Redfish (HTTP) to a BMC.
    Redfish,
    /// IPMI (RMCP+) to a BMC.
    Ipmi,
    /// Ironic API v1.
    Ironic,
    /// Kubernetes API.
    Kubernetes,
    /// Agent API (ironic-python-agent).
    Agent,
}

/// What a call does, for the invariants and call-count expectations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallKind {
    /// Ironic: node created.
    Enroll,
    /// Ironic: `manage`.
    Manage,
    /// Ironic: `inspect`.
    Inspect,
    /// Ironic: `provide`.
    Provide,
    /// Ironic: `active` (deploy).
    Deploy,
    /// Ironic: `deleted` / `undeploy`.
    Undeploy,
    /// Ironic: `clean` (manual cleaning).
    Clean,
    /// Ironic: `adopt`.
    Adopt,
    /// Ironic: `abort`.
    Abort,
    /// Ironic: node deleted.
    DeleteNode,
    /// BMC or Ironic: power on.
    PowerOn,
    /// BMC or Ironic: power off (hard or soft).
    PowerOff,
    /// BMC or Ironic: reboot / reset / power cycle.
    Reboot,
    /// BMC: boot device or override set.
    SetBootDevice,
    /// BMC: virtual media inserted or ejected.
    VirtualMedia,
}

impl CallKind {
    /// Every action, for validation messages.
    pub const ALL: [CallKind; 15] = [
        CallKind::Enroll,
        CallKind::Manage,
        CallKind::Inspect,
        CallKind::Provide,
        CallKind::Deploy,
        CallKind::Undeploy,
        CallKind::Clean,
        CallKind::Adopt,
        CallKind::Abort,
        CallKind::DeleteNode,
        CallKind::PowerOn,
        CallKind::PowerOff,
        CallKind::Reboot,
        CallKind::SetBootDevice,
        CallKind::VirtualMedia,
    ];

    /// The spelling in scenario files and traces.
    pub fn as_str(self) -> &'static str {
        match self {
            CallKind::Enroll => "enroll",
            CallKind::Manage => "manage",
            CallKind::Inspect => "inspect",
            CallKind::Provide => "provide",
            CallKind::Deploy => "deploy",
            CallKind::Undeploy => "undeploy",
            CallKind::Clean => "clean",
            CallKind::Adopt => "adopt",
            CallKind::Abort => "abort",
            CallKind::DeleteNode => "delete_node",
            CallKind::PowerOn => "power_on",
            CallKind::PowerOff => "power_off",
            CallKind::Reboot => "reboot",
            CallKind::SetBootDevice => "set_boot_device",
            CallKind::VirtualMedia => "virtual_media",
        }
    }

    /// Parses the spelling of [`CallKind::as_str`].
    pub fn parse(s: &str) -> Option<CallKind> {
        CallKind::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// True for actions that change a machine's power.
    pub fn is_power(self) -> bool {
        matches!(
            self,
            CallKind::PowerOn | CallKind::PowerOff | CallKind::Reboot
        )
    }
}

/// A change of a simulated machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MachineChange {
    /// Power came on.
    PoweredOn,
    /// Power went off.
    PoweredOff,
    /// Booted a ramdisk (agent started).
    BootedRamdisk,
    /// Booted from its disk.
    BootedDisk,
    /// An image was written to its disk.
    ImageWritten,
    /// Its disks were wiped (cleaning).
    DisksWiped,
}

impl Happening {
    /// The line's kind, as its JSON `kind` field writes it (`host_state`, `call`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Happening::Step { .. } => "step",
            Happening::StepFailed { .. } => "step_failed",
            Happening::HostState { .. } => "host_state",
            Happening::HostStatus { .. } => "host_status",
            Happening::HostFacts { .. } => "host_facts",
            Happening::HostGone { .. } => "host_gone",
            Happening::Call { .. } => "call",
            Happening::Event { .. } => "event",
            Happening::Machine { .. } => "machine",
            Happening::Fault { .. } => "fault",
            Happening::Operator { .. } => "operator",
            Happening::Claim { .. } => "claim",
            Happening::IronicNode { .. } => "ironic_node",
            Happening::Command { .. } => "command",
            Happening::Pool { .. } => "pool",
        }
    }

    /// True for engine mode's detailed records that the scenario trace leaves out (Ironic node
    /// states and engine commands: the wire runner has no such lines).
    pub fn is_engine_detail(&self) -> bool {
        matches!(
            self,
            Happening::IronicNode { .. } | Happening::Command { .. }
        )
    }

    /// The host this event is about, if any.
    pub fn host(&self) -> Option<&str> {
        match self {
            Happening::HostState { host, .. }
            | Happening::HostStatus { host, .. }
            | Happening::HostFacts { host, .. }
            | Happening::HostGone { host }
            | Happening::Machine { host, .. } => Some(host),
            Happening::IronicNode { host, .. } => Some(host),
            Happening::Call { host, .. }
            | Happening::Event { host, .. }
            | Happening::Command { host, .. } => host.as_deref(),
            Happening::Claim { host, .. } => host.as_deref(),
            _ => None,
        }
    }
}
