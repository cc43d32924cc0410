//! Expectations and invariants judged over a trace. Pure: the same (scenario, trace) gives the same
//! verdict in both modes.
//!
//! - `expectations`: the scenario's `expect` entries (hosts, Events, calls);
//! - `invariants`: what must hold throughout any run (one deploy per provisioning, inspection
//!   before provisioning, no power action on a detached host, one claim per host, the busy
//!   limit);
//! - `credentials`: the run's credentials, searched in the trace and in the logs it wrote.

mod credentials;
mod expectations;
mod invariants;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use super::Scenario;
use super::format::OperatorKind;
use super::trace::{Happening, MachineChange, Protocol, Trace};
pub use credentials::credentials_in_log;
use expectations::{call_expectation, event_expectation, host_expectation};
use invariants::invariants;
use metal_sim::machine::SimTime;

/// Which check of a scenario something is about: a timeline step, one entry of `expect`, or an
/// invariant by name. Written as `step 3`, `expect.hosts[0]`, `expect.events[1]`,
/// `expect.calls[2]` or `invariant one_claim_per_host` (its `Display`, also its JSON form).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CheckId {
    /// The timeline step at this 0-based index (a `wait` or `assert` that did not hold).
    Step(usize),
    /// `expect.hosts[i]`.
    Host(usize),
    /// `expect.events[i]`.
    Event(usize),
    /// `expect.calls[i]`.
    Call(usize),
    /// One of the scenario's invariants.
    Invariant(Invariant),
}

/// The invariants judged over every trace, named as in the scenario's `invariants:` block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Invariant {
    /// `inspected_before_provisioned`.
    InspectedBeforeProvisioned,
    /// `no_power_action_when_detached`.
    NoPowerActionWhenDetached,
    /// `one_deploy_per_provisioning`.
    OneDeployPerProvisioning,
    /// `one_claim_per_host`.
    OneClaimPerHost,
    /// `claim_released_when_deprovisioned`.
    ClaimReleasedWhenDeprovisioned,
    /// `no_credential_in_trace` (also judged over the run's logs).
    NoCredentialInTrace,
    /// `no_orphaned_ironic_node`.
    NoOrphanedIronicNode,
    /// `max_busy` (the provisioning limit when not set).
    MaxBusy,
}

impl Invariant {
    /// Every invariant, in the order of the `invariants:` block.
    pub const ALL: [Invariant; 8] = [
        Invariant::InspectedBeforeProvisioned,
        Invariant::NoPowerActionWhenDetached,
        Invariant::OneDeployPerProvisioning,
        Invariant::OneClaimPerHost,
        Invariant::ClaimReleasedWhenDeprovisioned,
        Invariant::NoCredentialInTrace,
        Invariant::NoOrphanedIronicNode,
        Invariant::MaxBusy,
    ];

    /// Its key in the scenario's `invariants:` block.
    pub fn name(self) -> &'static str {
        match self {
            Invariant::InspectedBeforeProvisioned => "inspected_before_provisioned",
            Invariant::NoPowerActionWhenDetached => "no_power_action_when_detached",
            Invariant::OneDeployPerProvisioning => "one_deploy_per_provisioning",
            Invariant::OneClaimPerHost => "one_claim_per_host",
            Invariant::ClaimReleasedWhenDeprovisioned => "claim_released_when_deprovisioned",
            Invariant::NoCredentialInTrace => "no_credential_in_trace",
            Invariant::NoOrphanedIronicNode => "no_orphaned_ironic_node",
            Invariant::MaxBusy => "max_busy",
        }
    }

    /// What it demands, in a line.
    pub fn meaning(self) -> &'static str {
        match self {
            Invariant::InspectedBeforeProvisioned => {
                "never provisioned without having been inspected (unless inspection is disabled or the host is externally provisioned)"
            }
            Invariant::NoPowerActionWhenDetached => {
                "no power action reaches the BMC of a detached host"
            }
            Invariant::OneDeployPerProvisioning => {
                "one accepted deploy per provisioning, plus one per deploy failure"
            }
            Invariant::OneClaimPerHost => "never two HostClaims bound to one host",
            Invariant::ClaimReleasedWhenDeprovisioned => {
                "a claim lets its host go only once the host is deprovisioned"
            }
            Invariant::NoCredentialInTrace => {
                "no BMC password or other secret of the run in the trace or the logs"
            }
            Invariant::NoOrphanedIronicNode => "a host that is gone took its Ironic node with it",
            Invariant::MaxBusy => "never more hosts holding a provisioning slot than the limit",
        }
    }

    /// Whether `scenario` judges it (`max_busy` always is).
    pub fn enabled(self, scenario: &Scenario) -> bool {
        let inv = &scenario.file.invariants;
        match self {
            Invariant::InspectedBeforeProvisioned => inv.inspected_before_provisioned,
            Invariant::NoPowerActionWhenDetached => inv.no_power_action_when_detached,
            Invariant::OneDeployPerProvisioning => inv.one_deploy_per_provisioning,
            Invariant::OneClaimPerHost => inv.one_claim_per_host,
            Invariant::ClaimReleasedWhenDeprovisioned => inv.claim_released_when_deprovisioned,
            Invariant::NoCredentialInTrace => inv.no_credential_in_trace,
            Invariant::NoOrphanedIronicNode => inv.no_orphaned_ironic_node,
            Invariant::MaxBusy => true,
        }
    }
}

impl fmt::Display for CheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckId::Step(i) => write!(f, "step {}", i + 1),
            CheckId::Host(i) => write!(f, "expect.hosts[{i}]"),
            CheckId::Event(i) => write!(f, "expect.events[{i}]"),
            CheckId::Call(i) => write!(f, "expect.calls[{i}]"),
            CheckId::Invariant(inv) => write!(f, "invariant {}", inv.name()),
        }
    }
}

impl Serialize for CheckId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One thing that did not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// Which check failed.
    pub check: CheckId,
    /// Line in the scenario file of the step, expectation or `invariants:` that failed.
    pub line: usize,
    /// Host concerned, if one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// When (for invariants and steps).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<SimTime>,
    /// What was expected and what happened.
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: ", self.line)?;
        if let Some(h) = &self.host {
            write!(f, "{h}: ")?;
        }
        if let Some(t) = self.at {
            write!(f, "at {t}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// The outcome of checking a trace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// Everything that did not hold, in the order checked.
    pub failures: Vec<Failure>,
    /// Checks that could not be made (e.g. no Ironic calls were observed), with the reason.
    pub skipped: Vec<String>,
    /// Expectations about our extensions, not judged because another operator ran
    /// (`line N: not applicable (extension): …`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_applicable: Vec<String>,
}

impl Verdict {
    /// True when nothing failed.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// What the trace says about one host.
#[derive(Debug, Default)]
struct History {
    states: Vec<String>,
    last_status: Option<String>,
    last_error: Option<String>,
    errors: Vec<String>,
    provisioned: u32,
    wipes: u32,
}

fn histories(trace: &Trace) -> BTreeMap<&str, History> {
    let mut out: BTreeMap<&str, History> = BTreeMap::new();
    for e in &trace.events {
        match &e.what {
            Happening::HostState { host, from, to, .. } => {
                let h = out.entry(host).or_default();
                if h.states.is_empty() && !from.is_empty() {
                    h.states.push(from.clone());
                }
                if h.states.last() != Some(to) {
                    h.states.push(to.clone());
                }
                if to == "provisioned" {
                    h.provisioned += 1;
                }
            }
            Happening::HostStatus {
                host,
                operational_status,
                error_type,
                ..
            } => {
                let h = out.entry(host).or_default();
                h.last_status = Some(operational_status.clone());
                if let Some(err) = error_type
                    && h.last_error.as_ref() != Some(err)
                {
                    h.errors.push(err.clone());
                }
                h.last_error = error_type.clone();
            }
            Happening::Machine {
                host,
                change: MachineChange::DisksWiped,
            } => out.entry(host).or_default().wipes += 1,
            _ => {}
        }
    }
    out
}

/// Judges `trace` against the scenario's expectations and invariants (our operator ran).
pub fn check(scenario: &Scenario, trace: &Trace) -> Verdict {
    check_under(scenario, trace, OperatorKind::Ours)
}

/// Judges `trace`, produced by an operator of kind `operator`: under another operator than ours,
/// expectations marked `extension: true` are listed as not applicable instead of judged.
pub fn check_under(scenario: &Scenario, trace: &Trace, operator: OperatorKind) -> Verdict {
    let mut v = Verdict::default();
    let judged = |extension: bool, line: usize, what: &str, v: &mut Verdict| {
        if extension && operator != OperatorKind::Ours {
            v.not_applicable.push(format!(
                "line {line}: not applicable (extension) under operator {}: {what}",
                operator.as_str()
            ));
            return false;
        }
        true
    };
    for e in &trace.events {
        if let Happening::StepFailed {
            index,
            line,
            reason,
        } = &e.what
        {
            v.failures.push(Failure {
                check: CheckId::Step(*index),
                line: *line,
                host: None,
                at: Some(e.t),
                message: reason.clone(),
            });
        }
    }
    let hist = histories(trace);
    for (i, x) in scenario.file.expect.hosts.iter().enumerate() {
        let line = scenario.expect_host_line(i);
        if !judged(x.extension, line, "host expectation", &mut v) {
            continue;
        }
        for host in scenario.host_names(&x.hosts) {
            let empty = History::default();
            let h = hist.get(host.as_str()).unwrap_or(&empty);
            for message in host_expectation(x, h) {
                v.failures.push(Failure {
                    check: CheckId::Host(i),
                    line,
                    host: Some(host.clone()),
                    at: None,
                    message,
                });
            }
        }
    }
    for (i, x) in scenario.file.expect.events.iter().enumerate() {
        let line = scenario.expect_event_line(i);
        if !judged(x.extension, line, &format!("Event {:?}", x.reason), &mut v) {
            continue;
        }
        v.failures.extend(event_expectation(
            scenario,
            x,
            trace,
            CheckId::Event(i),
            line,
        ));
    }
    let ironic_seen = trace.events.iter().any(|e| {
        matches!(
            e.what,
            Happening::Call {
                protocol: Protocol::Ironic,
                ..
            }
        )
    });
    for (i, x) in scenario.file.expect.calls.iter().enumerate() {
        let line = scenario.expect_call_line(i);
        if !judged(x.extension, line, &format!("{} calls", x.action), &mut v) {
            continue;
        }
        v.failures.extend(call_expectation(
            scenario,
            x,
            trace,
            CheckId::Call(i),
            line,
            ironic_seen,
        ));
    }
    invariants(scenario, trace, ironic_seen, &mut v);
    v
}
