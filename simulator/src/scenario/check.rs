//! Expectations and invariants judged over a trace. Pure: the same (scenario, trace) gives the same
//! verdict in both modes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use super::Scenario;
use super::format::{CallExpectation, EventExpectation, HostExpectation};
use super::trace::{Action, Happening, MachineChange, Protocol, Trace};
use crate::machine::{BmcProtocol, SimTime};

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

/// Judges `trace` against the scenario's expectations and invariants.
pub fn check(scenario: &Scenario, trace: &Trace) -> Verdict {
    let mut v = Verdict::default();
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
        v.failures
            .extend(call_expectation(scenario, x, trace, line, ironic_seen));
    }
    invariants(scenario, trace, ironic_seen, &mut v);
    v
}

fn host_expectation(x: &HostExpectation, h: &History) -> Vec<String> {
    let mut out = Vec::new();
    let shown = |s: &[String]| format!("[{}]", s.join(", "));
    if let Some(seq) = &x.sequence
        && &h.states != seq
    {
        out.push(format!(
            "state sequence {} expected, saw {}",
            shown(seq),
            shown(&h.states)
        ));
    }
    if let Some(visits) = &x.visits {
        let mut it = h.states.iter();
        if let Some(missing) = visits.iter().find(|want| !it.any(|s| s == *want)) {
            out.push(format!(
                "expected to visit {} in order; {missing:?} is missing from {}",
                shown(visits),
                shown(&h.states)
            ));
        }
    }
    for never in &x.never {
        if h.states.contains(never) {
            out.push(format!(
                "state {never:?} must never appear; saw {}",
                shown(&h.states)
            ));
        }
    }
    if let Some(want) = &x.final_state {
        let got = h.states.last().map_or("<never seen>", String::as_str);
        if got != want {
            out.push(format!("final state {want:?} expected, got {got:?}"));
        }
    }
    if let Some(want) = &x.final_operational_status {
        let got = h.last_status.as_deref().unwrap_or("<never seen>");
        if got != want {
            out.push(format!(
                "final operational status {want:?} expected, got {got:?}"
            ));
        }
    }
    if !x.error_types.is_empty() {
        let mut it = h.errors.iter();
        if let Some(missing) = x.error_types.iter().find(|want| !it.any(|s| s == *want)) {
            out.push(format!(
                "error type {missing:?} expected (in order {}); saw {}",
                shown(&x.error_types),
                shown(&h.errors)
            ));
        }
    }
    if let Some(want) = &x.final_error_type {
        let got = h.last_error.as_deref().unwrap_or("none");
        if got != want {
            out.push(format!("final error type {want:?} expected, got {got:?}"));
        }
    }
    if let Some(want) = x.provisioned_times
        && h.provisioned != want
    {
        out.push(format!(
            "provisioned {want} times expected, was provisioned {} times",
            h.provisioned
        ));
    }
    if let Some(want) = x.disk_wipes
        && h.wipes != want
    {
        out.push(format!("{want} disk wipes expected, saw {}", h.wipes));
    }
    out
}

fn event_expectation(
    scenario: &Scenario,
    x: &EventExpectation,
    trace: &Trace,
    line: usize,
) -> Vec<Failure> {
    let matching = |host: Option<&str>| {
        trace
            .events
            .iter()
            .filter(|e| match &e.what {
                Happening::Event {
                    host: h,
                    reason,
                    event_type,
                    ..
                } => {
                    reason == &x.reason
                        && x.event_type.as_ref().is_none_or(|t| t == event_type)
                        && host.is_none_or(|want| h.as_deref() == Some(want))
                }
                _ => false,
            })
            .count()
    };
    let kind = x.event_type.as_deref().unwrap_or("any type");
    match &x.hosts {
        None => {
            let n = matching(None);
            if n < x.at_least as usize {
                vec![Failure {
                    line,
                    host: None,
                    at: None,
                    message: format!(
                        "at least {} {:?} Events ({kind}) expected, saw {n}",
                        x.at_least, x.reason
                    ),
                }]
            } else {
                Vec::new()
            }
        }
        Some(sel) => scenario
            .host_names(sel)
            .into_iter()
            .filter_map(|host| {
                let n = matching(Some(&host));
                (n < x.at_least as usize).then(|| Failure {
                    line,
                    host: Some(host),
                    at: None,
                    message: format!(
                        "at least {} {:?} Events ({kind}) expected, saw {n}",
                        x.at_least, x.reason
                    ),
                })
            })
            .collect(),
    }
}

/// Which wires count for an action: Ironic's for provisioning verbs, the BMCs' for power and boot.
fn counted_on(action: Action, protocol: Protocol) -> bool {
    match action {
        Action::PowerOn
        | Action::PowerOff
        | Action::Reboot
        | Action::SetBootDevice
        | Action::VirtualMedia => matches!(protocol, Protocol::Redfish | Protocol::Ipmi),
        _ => protocol == Protocol::Ironic,
    }
}

fn accepted(status: Option<u16>) -> bool {
    status.is_some_and(|s| (200..300).contains(&s))
}

fn call_expectation(
    scenario: &Scenario,
    x: &CallExpectation,
    trace: &Trace,
    line: usize,
    ironic_seen: bool,
) -> Vec<Failure> {
    let Some(action) = Action::parse(&x.action) else {
        return Vec::new();
    };
    let bmc_action = counted_on(action, Protocol::Redfish);
    if !bmc_action && !ironic_seen {
        return vec![Failure {
            line,
            host: None,
            at: None,
            message: format!(
                "cannot count {:?} calls: the trace has no Ironic calls (external Ironic?)",
                x.action
            ),
        }];
    }
    let mut out = Vec::new();
    for host in scenario.host_names(&x.hosts) {
        let n = trace
            .events
            .iter()
            .filter(|e| match &e.what {
                Happening::Call {
                    host: h,
                    protocol,
                    status,
                    action: Some(a),
                    ..
                } => {
                    *a == action
                        && h.as_deref() == Some(host.as_str())
                        && counted_on(action, *protocol)
                        && accepted(*status)
                }
                _ => false,
            })
            .count() as u32;
        let ok = match (x.exactly, x.at_least, x.at_most) {
            (Some(e), _, _) => n == e,
            (None, lo, hi) => lo.is_none_or(|l| n >= l) && hi.is_none_or(|h| n <= h),
        };
        if !ok {
            let want = match (x.exactly, x.at_least, x.at_most) {
                (Some(e), _, _) => format!("exactly {e}"),
                (None, Some(l), Some(h)) => format!("{l}..={h}"),
                (None, Some(l), None) => format!("at least {l}"),
                (None, None, Some(h)) => format!("at most {h}"),
                (None, None, None) => "some".to_string(),
            };
            out.push(Failure {
                line,
                host: Some(host),
                at: None,
                message: format!("{want} accepted {} calls expected, saw {n}", x.action),
            });
        }
    }
    out
}

/// Per-host state the invariants follow through the trace.
#[derive(Default)]
struct Follow {
    state: String,
    status: String,
    error_count: u32,
    inspected: bool,
    exempt_from_inspection: bool,
    /// Since the host last entered a state other than provisioning: (accepted deploys, deploy
    /// failures). Counted from there rather than from `provisioning` itself, so a deploy request
    /// observed just before the status write that announces the state still counts.
    episode: (u32, u32),
}

fn invariants(scenario: &Scenario, trace: &Trace, ironic_seen: bool, v: &mut Verdict) {
    let inv = &scenario.file.invariants;
    let line = scenario.invariants_line();
    let limit = scenario.max_busy();
    let virtual_media: BTreeSet<&str> = scenario
        .fleet
        .hosts()
        .iter()
        .filter(|h| h.bmc.protocol == BmcProtocol::RedfishVirtualmedia)
        .map(|h| h.name.as_str())
        .collect();
    if inv.one_deploy_per_provisioning && !ironic_seen {
        v.skipped.push(
            "one_deploy_per_provisioning: the trace has no Ironic calls (external Ironic?)".into(),
        );
    }
    let mut hosts: BTreeMap<&str, Follow> = BTreeMap::new();
    let mut claims_by_host: BTreeMap<&str, &str> = BTreeMap::new();
    let mut busy_reported = false;
    let fail = |v: &mut Verdict, host: Option<&str>, at: SimTime, message: String| {
        v.failures.push(Failure {
            line,
            host: host.map(str::to_string),
            at: Some(at),
            message,
        });
    };
    for (n, e) in trace.events.iter().enumerate() {
        match &e.what {
            Happening::HostFacts {
                host,
                inspection_disabled,
                externally_provisioned,
                ..
            } => {
                let f = hosts.entry(host).or_default();
                f.exempt_from_inspection |= *inspection_disabled || *externally_provisioned;
            }
            Happening::HostState { host, to, .. } => {
                let f = hosts.entry(host).or_default();
                f.state = to.clone();
                match to.as_str() {
                    "inspecting" => f.inspected = true,
                    "externally provisioned" => f.exempt_from_inspection = true,
                    "provisioning" => {}
                    "provisioned" => {
                        if inv.inspected_before_provisioned
                            && !f.inspected
                            && !f.exempt_from_inspection
                        {
                            fail(
                                v,
                                Some(host),
                                e.t,
                                "provisioned without having been inspected (inspection not disabled, not externally provisioned)"
                                    .into(),
                            );
                        }
                        let (deploys, failures) = std::mem::take(&mut f.episode);
                        if inv.one_deploy_per_provisioning
                            && ironic_seen
                            && (deploys == 0 || deploys > failures + 1)
                        {
                            fail(
                                v,
                                Some(host),
                                e.t,
                                format!(
                                    "{deploys} accepted deploy requests for one provisioning with {failures} deploy failures (expected {})",
                                    failures + 1
                                ),
                            );
                        }
                    }
                    _ => {}
                }
                if !matches!(to.as_str(), "provisioning" | "provisioned") {
                    f.episode = (0, 0);
                }
            }
            Happening::HostStatus {
                host,
                operational_status,
                error_type,
                error_count,
                ..
            } => {
                let f = hosts.entry(host).or_default();
                f.status = operational_status.clone();
                if *error_count > f.error_count
                    && error_type.as_deref() == Some("provisioning error")
                {
                    f.episode.1 += error_count - f.error_count;
                }
                f.error_count = *error_count;
            }
            Happening::HostGone { host } => {
                hosts.remove(host.as_str());
            }
            Happening::Call {
                host: Some(host),
                protocol,
                action: Some(action),
                status,
                method,
                target,
                ..
            } => {
                let f = hosts.entry(host).or_default();
                if *action == Action::Deploy && *protocol == Protocol::Ironic && accepted(*status) {
                    f.episode.0 += 1;
                }
                if inv.no_power_action_when_detached
                    && action.is_power()
                    && matches!(protocol, Protocol::Redfish | Protocol::Ipmi)
                    && f.status == "detached"
                {
                    fail(
                        v,
                        Some(host),
                        e.t,
                        format!(
                            "power action {} ({method} {target}) reached the BMC of a detached host",
                            action.as_str()
                        ),
                    );
                }
            }
            // Wire mode sees the machines rather than each BMC request: a power change of a
            // detached host's machine means some power action reached its BMC.
            Happening::Machine { host, change }
                if inv.no_power_action_when_detached
                    && matches!(change, MachineChange::PoweredOn | MachineChange::PoweredOff)
                    && hosts
                        .get(host.as_str())
                        .is_some_and(|f| f.status == "detached") =>
            {
                fail(
                    v,
                    Some(host),
                    e.t,
                    format!("the machine changed power ({change:?}) while its host is detached"),
                );
            }
            Happening::Claim { claim, host } => {
                claims_by_host.retain(|_, c| c != claim);
                if let Some(h) = host {
                    if inv.one_claim_per_host
                        && let Some(other) = claims_by_host.get(h.as_str())
                    {
                        fail(
                            v,
                            Some(h),
                            e.t,
                            format!("claim {claim:?} bound while {other:?} still holds the host"),
                        );
                    }
                    claims_by_host.insert(h, claim);
                }
            }
            _ => {}
        }
        // The busy count is judged once all events of an instant are in.
        let instant_ends = trace.events.get(n + 1).is_none_or(|next| next.t != e.t);
        if instant_ends && !busy_reported {
            let busy: Vec<&str> = hosts
                .iter()
                .filter(|(name, f)| {
                    matches!(
                        f.state.as_str(),
                        "inspecting" | "provisioning" | "deprovisioning"
                    ) && f.status != "delayed"
                        && !virtual_media.contains(*name)
                })
                .map(|(name, _)| *name)
                .collect();
            if busy.len() > limit as usize {
                busy_reported = true;
                fail(
                    v,
                    None,
                    e.t,
                    format!(
                        "{} hosts hold a provisioning slot, the limit is {limit} (first over the limit here)",
                        busy.len()
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::scenario::trace::TraceLine;

    const SCENARIO: &str = "\
name: t
fleet:
  groups:
    - name: h-{index}
      count: 2
    - name: vm-0
      bmc: {protocol: redfish-virtualmedia}
operator: {provisioning_limit: 1}
timeline:
  - advance: 1s
expect:
  hosts:
    - hosts: [h-0]
      visits: [registering, available]
      final: available
  events:
    - {hosts: [h-0], reason: Registered}
  calls:
    - {hosts: [h-0], action: deploy, exactly: 1}
";

    fn scenario() -> Scenario {
        Scenario::parse(SCENARIO, "t.yaml", Path::new(".")).unwrap()
    }

    struct Build(Trace, u64);

    impl Build {
        fn new() -> Self {
            Build(Trace::new(), 0)
        }
        fn at(mut self, secs: u64) -> Self {
            self.1 = secs;
            self
        }
        fn push(mut self, what: Happening) -> Self {
            self.0.events.push(TraceLine {
                t: SimTime::from_secs(self.1),
                what,
            });
            self
        }
        fn state(self, host: &str, from: &str, to: &str) -> Self {
            self.push(Happening::HostState {
                host: host.into(),
                from: from.into(),
                to: to.into(),
                cause: "test".into(),
            })
        }
        fn status(self, host: &str, op: &str, err: Option<&str>, count: u32) -> Self {
            self.push(Happening::HostStatus {
                host: host.into(),
                operational_status: op.into(),
                error_type: err.map(str::to_string),
                error_count: count,
                powered_on: None,
            })
        }
        fn call(self, host: &str, protocol: Protocol, action: Action) -> Self {
            self.push(Happening::Call {
                host: Some(host.into()),
                protocol,
                method: "PUT".into(),
                target: "x".into(),
                status: Some(202),
                action: Some(action),
                detail: None,
            })
        }
    }

    fn good() -> Build {
        Build::new()
            .state("h-0", "", "registering")
            .push(Happening::Event {
                host: Some("h-0".into()),
                object: "BareMetalHost/h-0".into(),
                reason: "Registered".into(),
                event_type: "Normal".into(),
                message: String::new(),
            })
            .at(1)
            .state("h-0", "registering", "inspecting")
            .at(2)
            .state("h-0", "inspecting", "available")
            .at(3)
            .state("h-0", "available", "provisioning")
            .call("h-0", Protocol::Ironic, Action::Deploy)
            .at(4)
            .state("h-0", "provisioning", "provisioned")
            .at(5)
            .state("h-0", "provisioned", "deprovisioning")
            .at(6)
            .state("h-0", "deprovisioning", "available")
    }

    fn messages(v: &Verdict) -> Vec<String> {
        v.failures.iter().map(|f| f.message.clone()).collect()
    }

    #[test]
    fn a_trace_that_meets_every_expectation_passes() {
        let v = check(&scenario(), &good().0);
        assert!(v.passed(), "{:?}", messages(&v));
    }

    #[test]
    fn a_missing_state_an_event_and_a_wrong_final_state_each_fail_with_their_line() {
        let trace = Build::new()
            .state("h-0", "", "registering")
            .call("h-1", Protocol::Ironic, Action::Enroll)
            .0;
        let v = check(&scenario(), &trace);
        let m = messages(&v);
        assert!(
            m.iter().any(|x| x.contains("\"available\" is missing")),
            "{m:?}"
        );
        assert!(m.iter().any(|x| x.contains("final state")), "{m:?}");
        assert!(m.iter().any(|x| x.contains("Registered")), "{m:?}");
        assert!(
            m.iter().any(|x| x.contains("exactly 1 accepted deploy")),
            "{m:?}"
        );
        assert!(v.failures.iter().all(|f| f.line > 10), "{:?}", v.failures);
    }

    #[test]
    fn a_second_deploy_without_a_failure_breaks_one_deploy_per_provisioning() {
        let mut b = good();
        b.0.events.insert(
            5,
            TraceLine {
                t: SimTime::from_secs(3),
                what: Happening::Call {
                    host: Some("h-0".into()),
                    protocol: Protocol::Ironic,
                    method: "PUT".into(),
                    target: "x".into(),
                    status: Some(202),
                    action: Some(Action::Deploy),
                    detail: None,
                },
            },
        );
        let v = check(&scenario(), &b.0);
        assert!(
            messages(&v)
                .iter()
                .any(|m| m.contains("2 accepted deploy requests")),
            "{:?}",
            messages(&v)
        );
    }

    #[test]
    fn a_retry_after_a_deploy_failure_is_allowed() {
        let b = Build::new()
            .state("h-1", "", "inspecting")
            .state("h-1", "inspecting", "available")
            .at(1)
            .state("h-1", "available", "provisioning")
            .call("h-1", Protocol::Ironic, Action::Deploy)
            .at(2)
            .status("h-1", "error", Some("provisioning error"), 1)
            .at(3)
            .call("h-1", Protocol::Ironic, Action::Deploy)
            .at(4)
            .status("h-1", "OK", None, 0)
            .state("h-1", "provisioning", "provisioned");
        let v = check(&scenario(), &b.0);
        assert!(
            !messages(&v).iter().any(|m| m.contains("deploy requests")),
            "{:?}",
            messages(&v)
        );
    }

    #[test]
    fn provisioned_without_inspection_is_caught_unless_externally_provisioned() {
        let b = Build::new()
            .state("h-1", "", "registering")
            .at(1)
            .state("h-1", "registering", "available")
            .call("h-1", Protocol::Ironic, Action::Deploy)
            .state("h-1", "available", "provisioning")
            .at(2)
            .state("h-1", "provisioning", "provisioned");
        let m = messages(&check(&scenario(), &b.0));
        assert!(
            m.iter()
                .any(|x| x.contains("without having been inspected")),
            "{m:?}"
        );
        let exempt = Build::new()
            .push(Happening::HostFacts {
                host: "h-1".into(),
                online: true,
                detached: false,
                inspection_disabled: true,
                externally_provisioned: false,
                consumer: None,
            })
            .state("h-1", "", "available")
            .call("h-1", Protocol::Ironic, Action::Deploy)
            .state("h-1", "available", "provisioning")
            .state("h-1", "provisioning", "provisioned");
        let m = messages(&check(&scenario(), &exempt.0));
        assert!(!m.iter().any(|x| x.contains("inspected")), "{m:?}");
    }

    #[test]
    fn a_power_action_on_a_detached_host_is_caught() {
        let b = Build::new().status("h-1", "detached", None, 0).at(1).call(
            "h-1",
            Protocol::Redfish,
            Action::PowerOff,
        );
        let m = messages(&check(&scenario(), &b.0));
        assert!(m.iter().any(|x| x.contains("detached host")), "{m:?}");
        let b = Build::new()
            .status("h-1", "detached", None, 0)
            .push(Happening::Machine {
                host: "h-1".into(),
                change: MachineChange::PoweredOff,
            });
        let m = messages(&check(&scenario(), &b.0));
        assert!(
            m.iter().any(|x| x.contains("while its host is detached")),
            "{m:?}"
        );
        let b = Build::new().status("h-1", "OK", None, 0).call(
            "h-1",
            Protocol::Redfish,
            Action::PowerOff,
        );
        let m = messages(&check(&scenario(), &b.0));
        assert!(!m.iter().any(|x| x.contains("detached host")), "{m:?}");
    }

    #[test]
    fn two_claims_on_one_host_are_caught_and_a_release_frees_it() {
        let claim = |c: &str, h: Option<&str>| Happening::Claim {
            claim: c.into(),
            host: h.map(str::to_string),
        };
        let b = Build::new()
            .push(claim("a", Some("h-1")))
            .push(claim("a", None))
            .push(claim("b", Some("h-1")));
        let m = messages(&check(&scenario(), &b.0));
        assert!(!m.iter().any(|x| x.contains("still holds")), "{m:?}");
        let b = Build::new()
            .push(claim("a", Some("h-1")))
            .push(claim("b", Some("h-1")));
        let m = messages(&check(&scenario(), &b.0));
        assert!(m.iter().any(|x| x.contains("still holds")), "{m:?}");
    }

    #[test]
    fn busy_hosts_over_the_limit_are_caught_but_delayed_and_virtual_media_ones_do_not_count() {
        let b = Build::new()
            .state("h-0", "", "inspecting")
            .state("vm-0", "", "inspecting")
            .status("h-1", "delayed", None, 0)
            .state("h-1", "", "inspecting");
        let m = messages(&check(&scenario(), &b.0));
        assert!(!m.iter().any(|x| x.contains("provisioning slot")), "{m:?}");
        let b = Build::new()
            .state("h-0", "", "inspecting")
            .state("h-1", "", "inspecting");
        let m = messages(&check(&scenario(), &b.0));
        assert!(
            m.iter()
                .any(|x| x.contains("2 hosts hold a provisioning slot")),
            "{m:?}"
        );
    }

    #[test]
    fn a_failed_step_in_the_trace_is_a_failure_at_its_line() {
        let b = Build::new().push(Happening::StepFailed {
            index: 0,
            line: 9,
            reason: "not within 10m".into(),
        });
        let v = check(&scenario(), &b.0);
        assert!(
            v.failures
                .iter()
                .any(|f| f.line == 9 && f.message.contains("10m"))
        );
    }
}
