//! What the engine records: one line per state transition, Event, provisioner call, Ironic node
//! change, BMC call, machine event and scenario command, in virtual time.
//!
//! Records are plain data with a fixed field order, so the JSON lines of two runs with the same
//! inputs are byte-identical.

use serde::Serialize;

use crate::machine::SimTime;

/// How much the engine records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize)]
pub enum TraceLevel {
    /// Operator state transitions, Kubernetes Events and commands.
    Transitions,
    /// Also provisioner actions, Ironic node state changes and BMC calls.
    Calls,
    /// Also machine events (power changes, boots, disks).
    #[default]
    Full,
}

/// One recorded fact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceRecord {
    /// Virtual time, nanoseconds since the run started.
    pub t: SimTime,
    /// `namespace/name` of the BareMetalHost, or the fleet host name for machine and BMC facts.
    pub host: String,
    /// What happened.
    #[serde(flatten)]
    pub entry: TraceEntry,
}

/// The kinds of facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TraceEntry {
    /// The operator moved the host's provisioning state.
    Transition {
        /// Previous state.
        from: String,
        /// New state.
        to: String,
        /// The decision's explanation.
        cause: String,
    },
    /// The host's operational status, error or power changed.
    Status {
        /// `status.operationalStatus`.
        operational_status: String,
        /// `status.errorType`, when set.
        error_type: Option<String>,
        /// `status.errorCount`.
        error_count: i64,
        /// `status.poweredOn`.
        powered_on: bool,
    },
    /// Spec and annotation facts the invariants depend on changed.
    Facts {
        /// `spec.online`.
        online: bool,
        /// The detached annotation is set.
        detached: bool,
        /// Inspection is disabled (annotation or `spec.inspectionMode: disabled`).
        inspection_disabled: bool,
        /// `spec.externallyProvisioned`.
        externally_provisioned: bool,
        /// `spec.consumerRef.name`.
        consumer: Option<String>,
    },
    /// A Kubernetes Event the operator emitted.
    Event {
        /// `Normal` or `Warning`.
        event_type: String,
        /// Reason.
        reason: String,
        /// Message.
        message: String,
    },
    /// The operator asked the provisioner for something.
    Provisioner {
        /// Action name (`register`, `deploy`, …).
        action: String,
        /// The power target of a power action (`power on`, `rebooting`, …).
        detail: Option<String>,
        /// The HTTP status the wire run would have seen (202 accepted, 409 busy, the error's),
        /// absent when the API did not answer.
        status: Option<u16>,
        /// `accepted`, `busy` or the error.
        outcome: String,
    },
    /// An Ironic node changed provision or power state.
    Node {
        /// Node UUID.
        node: String,
        /// Provision state before.
        from: String,
        /// Provision state after.
        to: String,
        /// Power state after.
        power: String,
    },
    /// The conductor called the host's BMC.
    Bmc {
        /// `redfish` or `ipmi` (empty when the driver could not even be addressed).
        protocol: String,
        /// `GetPower`, `SetPower(On)`, …
        op: String,
        /// `ok`, the result, or the driver's error.
        result: String,
    },
    /// The agent and Ironic talked (lookup, heartbeat, inspection data, a command).
    Agent {
        /// `lookup`, `heartbeat`, `continue_inspection` or the command name.
        what: String,
        /// How it went.
        result: String,
    },
    /// The machine reported something.
    Machine {
        /// `powered_on`, `powered_off`, `booted_ramdisk`, `booted_disk`, `image_written`,
        /// `disks_wiped`, or `other`.
        change: String,
        /// The event, as JSON text.
        event: String,
    },
    /// A command given to the engine (scenario step, fault change, restart).
    Command {
        /// What was done.
        what: String,
    },
    /// The BareMetalHost object was removed from the API.
    Deleted,
}

impl TraceEntry {
    /// The least level at which this entry is recorded.
    pub fn level(&self) -> TraceLevel {
        match self {
            TraceEntry::Transition { .. }
            | TraceEntry::Status { .. }
            | TraceEntry::Facts { .. }
            | TraceEntry::Event { .. }
            | TraceEntry::Command { .. }
            | TraceEntry::Deleted => TraceLevel::Transitions,
            TraceEntry::Provisioner { .. }
            | TraceEntry::Node { .. }
            | TraceEntry::Bmc { .. }
            | TraceEntry::Agent { .. } => TraceLevel::Calls,
            TraceEntry::Machine { .. } => TraceLevel::Full,
        }
    }
}

/// Renders records as JSON lines (one record per line, `\n` after each).
pub fn to_jsonl(records: &[TraceRecord]) -> String {
    let mut out = String::new();
    for r in records {
        // Records hold only strings and integers: serialising cannot fail.
        if let Ok(line) = serde_json::to_string(r) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}
