//! Where each lifecycle phase's time went: the waits along the chain of events that ended it,
//! charged to whoever the system was waiting on (the operator's polls, the agent, the machine, the
//! operator's status write and its watch delivery). Read from the trace, so engine and wire mode
//! get the same breakdown.
//!
//! The chain is walked backwards from the state change that ended the phase:
//! - the state change waited on the operator's last Ironic call before it (it wrote the status
//!   right after): that gap is **status write + watch**;
//! - an operator call waited on the last thing that happened elsewhere (an agent call, a machine
//!   change) or on its own previous action (a requeue after acting): that gap is **operator polls**
//!   — reads that found nothing new are skipped, they caused nothing;
//! - an agent call or a machine change waited on the previous agent call, machine change or
//!   operator action: that gap is **agent** (heartbeat and lookup intervals) or **machine**
//!   (power, boot and disk delays, with the conductor's BMC calls that started them).
//!
//! The walk stops at the phase's start, so the parts add up to the phase's duration. Ironic's own
//! work between two events is folded into the part that ends at the next event.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::trace::{Happening, Protocol, Trace};
use metal_sim::machine::SimTime;

/// The parts, in the order they are printed.
pub const PARTS: [&str; 4] = ["operator polls", "agent", "machine", "status write + watch"];

/// Where one phase's time went, averaged over every time it completed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PhaseWaits {
    /// `register`, `inspect`, `provision` or `deprovision`.
    pub phase: String,
    /// How many completed phases were walked.
    pub count: usize,
    /// Mean duration, in milliseconds.
    pub mean_ms: u64,
    /// Mean milliseconds per part ([`PARTS`]).
    pub parts_ms: BTreeMap<String, u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    OperatorRead,
    OperatorWrite,
    Agent,
    Machine,
}

/// An agent's calls to Ironic (the journal shows them as Ironic calls in wire mode).
fn is_agent_path(target: &str) -> bool {
    ["/v1/heartbeat", "/v1/lookup", "/v1/continue_inspection"]
        .iter()
        .any(|p| target.starts_with(p))
}

fn kind(what: &Happening) -> Option<Kind> {
    match what {
        Happening::Machine { .. } => Some(Kind::Machine),
        Happening::Call {
            protocol, target, ..
        } if *protocol == Protocol::Agent || is_agent_path(target) => Some(Kind::Agent),
        Happening::Call {
            protocol: Protocol::Redfish | Protocol::Ipmi,
            ..
        } => Some(Kind::Machine),
        Happening::Call {
            protocol: Protocol::Ironic,
            method,
            ..
        } => Some(if method == "GET" {
            Kind::OperatorRead
        } else {
            Kind::OperatorWrite
        }),
        _ => None,
    }
}

/// Splits `[start, end]` of one phase of a host whose events (time order) are `events`.
fn walk(events: &[(SimTime, Kind)], start: SimTime, end: SimTime) -> [Duration; 4] {
    let mut parts = [Duration::ZERO; 4];
    // Events strictly inside the phase (an event at `end` happened with the state change).
    let inside: Vec<(SimTime, Kind)> = events
        .iter()
        .copied()
        .filter(|(t, _)| *t > start && *t < end)
        .collect();
    // The part charged for the wait that ends at the current link: 3 = status write + watch.
    let mut part = 3;
    let mut at = end;
    let mut idx = inside.len();
    loop {
        let wanted = |k: Kind| match part {
            3 => matches!(k, Kind::OperatorRead | Kind::OperatorWrite),
            _ => matches!(k, Kind::Agent | Kind::Machine | Kind::OperatorWrite),
        };
        let Some(found) = inside[..idx].iter().rposition(|(_, k)| wanted(*k)) else {
            parts[part] += at.saturating_since(start);
            return parts;
        };
        let (t, k) = inside[found];
        parts[part] += at.saturating_since(t);
        part = match k {
            Kind::OperatorRead | Kind::OperatorWrite => 0,
            Kind::Agent => 1,
            Kind::Machine => 2,
        };
        at = t;
        idx = found;
    }
}

/// The breakdown of every completed phase in `trace`, in lifecycle order.
pub fn breakdown(
    trace: &Trace,
    spans: &[(String, &'static str, SimTime, SimTime)],
) -> Vec<PhaseWaits> {
    let mut by_host: BTreeMap<&str, Vec<(SimTime, Kind)>> = BTreeMap::new();
    for e in &trace.events {
        if let (Some(host), Some(k)) = (e.what.host(), kind(&e.what)) {
            by_host.entry(host).or_default().push((e.t, k));
        }
    }
    let mut sums: BTreeMap<&str, (usize, Duration, [Duration; 4])> = BTreeMap::new();
    for (host, phase, start, end) in spans {
        let events = by_host.get(host.as_str()).map_or(&[][..], Vec::as_slice);
        let parts = walk(events, *start, *end);
        let entry = sums.entry(phase).or_default();
        entry.0 += 1;
        entry.1 += end.saturating_since(*start);
        for (sum, p) in entry.2.iter_mut().zip(parts) {
            *sum += p;
        }
    }
    let mean = |d: Duration, n: usize| {
        u64::try_from(d.as_millis() / u128::try_from(n.max(1)).unwrap_or(1)).unwrap_or(u64::MAX)
    };
    super::report::PHASES
        .iter()
        .filter_map(|(phase, _)| {
            let (count, total, parts) = sums.get(phase)?;
            Some(PhaseWaits {
                phase: (*phase).to_string(),
                count: *count,
                mean_ms: mean(*total, *count),
                parts_ms: PARTS
                    .iter()
                    .zip(parts)
                    .map(|(name, d)| ((*name).to_string(), mean(*d, *count)))
                    .collect(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> SimTime {
        SimTime::from_duration(Duration::from_millis(ms))
    }

    #[test]
    fn the_chain_charges_each_wait_to_whom_it_waited_on_and_adds_up() {
        use Kind::*;
        // Phase 0..1000: the operator acts at 100, polls uselessly at 300, the machine powers on at
        // 150, the agent heartbeats at 600 (finishing the work), the operator reads at 800 and the
        // state change is seen at 1000.
        let events = [
            (at(100), OperatorWrite),
            (at(150), Machine),
            (at(300), OperatorRead),
            (at(600), Agent),
            (at(800), OperatorRead),
        ];
        let parts = walk(&events, at(0), at(1000));
        let ms = |p: Duration| p.as_millis();
        assert_eq!(ms(parts[3]), 200, "status write + watch: 800 → 1000");
        assert_eq!(
            ms(parts[0]),
            200 + 100,
            "operator: 600 → 800, and 0 → 100 before acting"
        );
        assert_eq!(
            ms(parts[1]),
            450,
            "agent: 150 → 600 (the read at 300 caused nothing)"
        );
        assert_eq!(ms(parts[2]), 50, "machine: 100 → 150");
        assert_eq!(parts.iter().sum::<Duration>(), Duration::from_millis(1000));
    }

    #[test]
    fn a_phase_without_events_is_all_status_write_and_watch() {
        let parts = walk(&[], at(10), at(30));
        assert_eq!(parts[3], Duration::from_millis(20));
    }
}
