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

/// One thing that did not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
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
        if let Happening::StepFailed { line, reason, .. } = &e.what {
            v.failures.push(Failure {
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
        v.failures
            .extend(event_expectation(scenario, x, trace, line));
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
        v.failures
            .extend(call_expectation(scenario, x, trace, line, ironic_seen));
    }
    invariants(scenario, trace, ironic_seen, &mut v);
    v
}
