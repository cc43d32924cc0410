//! The trace of a run: one JSON object per line, in simulated time, in the order things happened.
//!
//! One line type, [`TraceLine`] (an instant and a [`Happening`]), for both modes: the wire runner
//! writes it from watches, the mock Ironic's request journal and the fleet's machines; the engine
//! records it directly, with typed values (statuses as numbers, actions as [`CallKind`]), from its
//! in-process adapters. [`super::check`] judges a trace, [`super::report`] summarises and draws
//! it, and [`Trace::normalized`] is what the regression snapshots hold.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::{Deserialize, Serialize};

mod happening;

pub use happening::{CallKind, Happening, MachineChange, Protocol};

use metal_sim::machine::SimTime;

/// One line of a trace: what happened, at a simulated instant. Both modes write these, the
/// engine records them as it runs, and the checks, report, outline and JSONL files read them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceLine {
    /// Simulated nanoseconds since the run started.
    pub t: SimTime,
    /// What happened.
    #[serde(flatten)]
    pub what: Happening,
}

/// Renders trace lines as JSON lines (one object per line, `\n` after each); two runs with the
/// same lines give the same bytes (fields are written in a fixed order).
pub fn to_jsonl(lines: &[TraceLine]) -> String {
    let mut out = String::new();
    for e in lines {
        // Lines hold only strings, numbers and booleans: serialising cannot fail.
        if let Ok(line) = serde_json::to_string(e) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

/// A whole trace.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trace {
    /// Events in the order they happened (non-decreasing `t`).
    pub events: Vec<TraceLine>,
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
        self.events.push(TraceLine { t, what });
    }

    /// Adds an event observed late (a journal read after the fact) at its own instant, after every
    /// event at or before it, so the trace stays in time order without raising its time.
    pub fn insert(&mut self, t: SimTime, what: Happening) {
        let at = self.events.partition_point(|e| e.t <= t);
        self.events.insert(at, TraceLine { t, what });
    }

    /// The instant of the last event (zero when empty).
    pub fn end(&self) -> SimTime {
        self.events.last().map_or(SimTime::ZERO, |e| e.t)
    }

    /// One JSON object per line.
    pub fn to_jsonl(&self) -> String {
        to_jsonl(&self.events)
    }

    /// Reads what [`Trace::to_jsonl`] wrote (blank lines are skipped).
    pub fn from_jsonl(text: &str) -> Result<Trace, TraceParseError> {
        let mut trace = Trace::new();
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let e: TraceLine = serde_json::from_str(line).map_err(|e| TraceParseError {
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
                        metal_sim::machine::time::format_duration(Duration::from_nanos(floor))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn state(host: &str, from: &str, to: &str) -> Happening {
        Happening::HostState {
            host: host.into(),
            from: from.into(),
            to: to.into(),
            cause: "test".into(),
            revision: None,
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
                action: Some(CallKind::Deploy),
                detail: None,
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
