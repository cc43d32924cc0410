//! The trace of a run: one JSON object per line, in simulated time, in the order things happened.
//!
//! Both modes write the same event types: the wire runner from watches, the mock Ironic's request
//! journal and the fleet's machines; the engine from its in-process adapters. [`super::check`]
//! judges a trace, [`super::report`] summarises and draws it, and [`Trace::normalized`] is what the
//! regression snapshots hold.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::format::FaultTarget;
use crate::machine::SimTime;

/// One thing that happened, at a simulated instant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceEvent {
    /// Simulated nanoseconds since the run started.
    pub t: SimTime,
    /// What happened.
    #[serde(flatten)]
    pub what: Happening,
}

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
        action: Option<Action>,
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
pub enum Action {
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

impl Action {
    /// Every action, for validation messages.
    pub const ALL: [Action; 15] = [
        Action::Enroll,
        Action::Manage,
        Action::Inspect,
        Action::Provide,
        Action::Deploy,
        Action::Undeploy,
        Action::Clean,
        Action::Adopt,
        Action::Abort,
        Action::DeleteNode,
        Action::PowerOn,
        Action::PowerOff,
        Action::Reboot,
        Action::SetBootDevice,
        Action::VirtualMedia,
    ];

    /// The spelling in scenario files and traces.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Enroll => "enroll",
            Action::Manage => "manage",
            Action::Inspect => "inspect",
            Action::Provide => "provide",
            Action::Deploy => "deploy",
            Action::Undeploy => "undeploy",
            Action::Clean => "clean",
            Action::Adopt => "adopt",
            Action::Abort => "abort",
            Action::DeleteNode => "delete_node",
            Action::PowerOn => "power_on",
            Action::PowerOff => "power_off",
            Action::Reboot => "reboot",
            Action::SetBootDevice => "set_boot_device",
            Action::VirtualMedia => "virtual_media",
        }
    }

    /// Parses the spelling of [`Action::as_str`].
    pub fn parse(s: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// True for actions that change a machine's power.
    pub fn is_power(self) -> bool {
        matches!(self, Action::PowerOn | Action::PowerOff | Action::Reboot)
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

/// A whole trace.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trace {
    /// Events in the order they happened (non-decreasing `t`).
    pub events: Vec<TraceEvent>,
}

/// A trace line that could not be read back.
#[derive(Debug, thiserror::Error)]
#[error("trace line {line}: {message}")]
pub struct TraceParseError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl Trace {
    /// An empty trace.
    pub fn new() -> Self {
        Trace::default()
    }

    /// Appends an event; an instant earlier than the last one is raised to it so `t` never goes back.
    pub fn push(&mut self, t: SimTime, what: Happening) {
        let t = self.events.last().map_or(t, |last| t.max(last.t));
        self.events.push(TraceEvent { t, what });
    }

    /// The instant of the last event (zero when empty).
    pub fn end(&self) -> SimTime {
        self.events.last().map_or(SimTime::ZERO, |e| e.t)
    }

    /// One JSON object per line.
    pub fn to_jsonl(&self) -> String {
        let mut out = String::new();
        for e in &self.events {
            if let Ok(line) = serde_json::to_string(e) {
                out.push_str(&line);
                out.push('\n');
            }
        }
        out
    }

    /// Reads what [`Trace::to_jsonl`] wrote (blank lines are skipped).
    pub fn from_jsonl(text: &str) -> Result<Trace, TraceParseError> {
        let mut trace = Trace::new();
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let e: TraceEvent = serde_json::from_str(line).map_err(|e| TraceParseError {
                line: n + 1,
                message: e.to_string(),
            })?;
            trace.events.push(e);
        }
        Ok(trace)
    }

    /// Every host named in the trace, sorted.
    pub fn hosts(&self) -> Vec<String> {
        let mut hosts: Vec<String> = self
            .events
            .iter()
            .filter_map(|e| e.what.host().map(str::to_string))
            .collect();
        hosts.sort();
        hosts.dedup();
        hosts
    }

    /// Per-host story for regression snapshots: state changes, status changes, machine changes and
    /// the actions of calls, each prefixed with its instant rounded down to `bucket` (or with no
    /// instant at all when `bucket` is `None`, for wire mode where wall clocks are involved).
    pub fn normalized(&self, bucket: Option<Duration>) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for e in &self.events {
            let Some(host) = e.what.host() else { continue };
            let line = match &e.what {
                Happening::HostState { from, to, .. } => format!("state {from:?} -> {to:?}"),
                Happening::HostStatus {
                    operational_status,
                    error_type,
                    ..
                } => {
                    let mut s = format!("status {operational_status}");
                    if let Some(err) = error_type {
                        let _ = write!(s, " ({err})");
                    }
                    s
                }
                Happening::HostGone { .. } => "gone".to_string(),
                Happening::Machine { change, .. } => format!("machine {change:?}"),
                Happening::Call {
                    protocol,
                    action: Some(action),
                    status,
                    ..
                } if status.is_some_and(|s| s < 300) => {
                    format!("{protocol:?} {}", action.as_str())
                }
                _ => continue,
            };
            let entry = out.entry(host.to_string()).or_default();
            let line = match bucket {
                Some(b) if !b.is_zero() => {
                    let width = u64::try_from(b.as_nanos()).unwrap_or(u64::MAX);
                    let floor = (e.t.as_nanos() / width).saturating_mul(width);
                    format!(
                        "{}: {line}",
                        crate::machine::time::format_duration(Duration::from_nanos(floor))
                    )
                }
                _ => line,
            };
            // Repeated identical lines (retries) collapse, so wire-mode jitter cannot change a snapshot.
            if bucket.is_none() && entry.last() == Some(&line) {
                continue;
            }
            entry.push(line);
        }
        out
    }
}

impl Happening {
    /// The host this event is about, if any.
    pub fn host(&self) -> Option<&str> {
        match self {
            Happening::HostState { host, .. }
            | Happening::HostStatus { host, .. }
            | Happening::HostFacts { host, .. }
            | Happening::HostGone { host }
            | Happening::Machine { host, .. } => Some(host),
            Happening::Call { host, .. } | Happening::Event { host, .. } => host.as_deref(),
            Happening::Claim { host, .. } => host.as_deref(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(host: &str, from: &str, to: &str) -> Happening {
        Happening::HostState {
            host: host.into(),
            from: from.into(),
            to: to.into(),
            cause: "test".into(),
        }
    }

    #[test]
    fn a_trace_survives_a_jsonl_round_trip() {
        let mut t = Trace::new();
        t.push(SimTime::from_secs(1), state("h0", "", "registering"));
        t.push(
            SimTime::from_secs(2),
            Happening::Call {
                host: Some("h0".into()),
                protocol: Protocol::Ironic,
                method: "PUT".into(),
                target: "/v1/nodes/x/states/provision".into(),
                status: Some(202),
                action: Some(Action::Deploy),
            },
        );
        let text = t.to_jsonl();
        assert_eq!(text.lines().count(), 2);
        assert!(
            text.lines()
                .next()
                .unwrap()
                .contains(r#""kind":"host_state""#)
        );
        assert_eq!(Trace::from_jsonl(&text).unwrap(), t);
    }

    #[test]
    fn time_never_goes_back_in_a_trace() {
        let mut t = Trace::new();
        t.push(SimTime::from_secs(5), state("h0", "", "registering"));
        t.push(
            SimTime::from_secs(3),
            state("h0", "registering", "inspecting"),
        );
        assert_eq!(t.events[1].t, SimTime::from_secs(5));
    }

    #[test]
    fn a_broken_trace_line_is_reported_with_its_number() {
        let err = Trace::from_jsonl("\n{\"t\":1,\"kind\":\"nope\"}\n").unwrap_err();
        assert_eq!(err.line, 2);
    }

    #[test]
    fn normalized_traces_bucket_times_or_collapse_repeats() {
        let mut t = Trace::new();
        t.push(SimTime::from_secs(61), state("h0", "", "registering"));
        t.push(SimTime::from_secs(62), state("h0", "", "registering"));
        let bucketed = t.normalized(Some(Duration::from_secs(60)));
        assert_eq!(
            bucketed["h0"],
            vec![
                "60s: state \"\" -> \"registering\"",
                "60s: state \"\" -> \"registering\""
            ]
        );
        let untimed = t.normalized(None);
        assert_eq!(untimed["h0"], vec!["state \"\" -> \"registering\""]);
    }
}
