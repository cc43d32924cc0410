//! How much the engine records. The engine writes the scenario trace's own line type
//! ([`TraceLine`](crate::trace::TraceLine)), with typed values, as things happen: state
//! transitions, status and facts, Events, provisioner, BMC and agent calls, Ironic node changes,
//! machine changes and commands, in virtual time. Lines hold plain data with a fixed field
//! order, so the JSON lines of two runs with the same inputs are byte-identical.

use serde::Serialize;

use crate::trace::Happening;

/// How much the engine records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize)]
pub enum TraceLevel {
    /// Operator state transitions, Kubernetes Events and commands.
    Transitions,
    /// Also provisioner actions, Ironic node state changes, BMC and agent calls.
    Calls,
    /// Also machine events (power changes, boots, disks).
    #[default]
    Full,
}

/// The least level at which the engine records `what`.
pub fn level(what: &Happening) -> TraceLevel {
    match what {
        Happening::Call { .. } | Happening::IronicNode { .. } => TraceLevel::Calls,
        Happening::Machine { .. } => TraceLevel::Full,
        _ => TraceLevel::Transitions,
    }
}

/// The host name a trace line carries for a `namespace/name` object key (fleet host names and
/// Ironic node names, `namespace~name`, pass through as their last part).
pub(super) fn host_name(key: &str) -> String {
    key.rsplit(['/', '~']).next().unwrap_or(key).to_owned()
}
