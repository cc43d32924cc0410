//! The scenario's `expect` entries judged over a trace: each host's state sequence and final
//! state, the Events expected (or not), and call counts.

use super::{CheckId, Failure, History};
use crate::Scenario;
use crate::format::{CallExpectation, EventExpectation, HostExpectation};
use crate::trace::{CallKind, Happening, Protocol, Trace};

pub(super) fn host_expectation(x: &HostExpectation, h: &History) -> Vec<String> {
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

pub(super) fn event_expectation(
    scenario: &Scenario,
    x: &EventExpectation,
    trace: &Trace,
    check: CheckId,
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
                    check,
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
                    check,
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
fn counted_on(action: CallKind, protocol: Protocol) -> bool {
    match action {
        CallKind::PowerOn
        | CallKind::PowerOff
        | CallKind::Reboot
        | CallKind::SetBootDevice
        | CallKind::VirtualMedia => matches!(protocol, Protocol::Redfish | Protocol::Ipmi),
        _ => protocol == Protocol::Ironic,
    }
}

pub(super) fn accepted(status: Option<u16>) -> bool {
    status.is_some_and(|s| (200..300).contains(&s))
}

pub(super) fn call_expectation(
    scenario: &Scenario,
    x: &CallExpectation,
    trace: &Trace,
    check: CheckId,
    line: usize,
    ironic_seen: bool,
) -> Vec<Failure> {
    let Some(action) = CallKind::parse(&x.action) else {
        return Vec::new();
    };
    let bmc_action = counted_on(action, Protocol::Redfish);
    if !bmc_action && !ironic_seen {
        return vec![Failure {
            check,
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
                check,
                line,
                host: Some(host),
                at: None,
                message: format!("{want} accepted {} calls expected, saw {n}", x.action),
            });
        }
    }
    out
}
