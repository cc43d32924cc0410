//! Reading an Ironic node: its provision states (wire strings) and what they mean to a phase.

use crate::provisioner::NodeView;

pub const ENROLL: &str = "enroll";
pub const VERIFYING: &str = "verifying";
pub const MANAGEABLE: &str = "manageable";
pub const AVAILABLE: &str = "available";
pub const ACTIVE: &str = "active";
pub const INSPECTING: &str = "inspecting";
pub const INSPECT_WAIT: &str = "inspect wait";
pub const INSPECT_FAILED: &str = "inspect failed";
pub const CLEANING: &str = "cleaning";
pub const CLEAN_WAIT: &str = "clean wait";
pub const CLEAN_FAILED: &str = "clean failed";
pub const DEPLOYING: &str = "deploying";
pub const WAIT_CALL_BACK: &str = "wait call-back";
pub const DEPLOY_FAILED: &str = "deploy failed";
pub const DELETING: &str = "deleting";
pub const DELETED: &str = "deleted";
pub const ERROR: &str = "error";
pub const ADOPTING: &str = "adopting";
pub const ADOPT_FAILED: &str = "adopt failed";

pub const POWER_ON: &str = "power on";
pub const POWER_OFF: &str = "power off";

/// True when the node is in state `s`.
pub fn is(node: &NodeView, s: &str) -> bool {
    node.provision_state == s
}

/// True when Ironic is moving the node between provision states (a target is set, or the
/// state is one Ironic only passes through).
pub fn moving(node: &NodeView) -> bool {
    node.target_provision_state
        .as_deref()
        .is_some_and(|t| !t.is_empty())
        || matches!(
            node.provision_state.as_str(),
            VERIFYING
                | INSPECTING
                | INSPECT_WAIT
                | CLEANING
                | CLEAN_WAIT
                | DEPLOYING
                | WAIT_CALL_BACK
                | DELETING
                | DELETED
                | ADOPTING
                | "rebuild"
                | "servicing"
                | "service wait"
                | "rescuing"
                | "rescue wait"
                | "unrescuing"
                | "deploy complete"
        )
}

/// True when Ironic stopped the node in a failed state (`clean failed`, `deploy failed`,
/// `inspect failed`, `adopt failed`, `error`): it stays there, whatever target it still shows,
/// until someone acts on it, so a phase that waits for it to settle waits for ever.
pub fn stopped_failed(node: &NodeView) -> bool {
    matches!(
        node.provision_state.as_str(),
        CLEAN_FAILED | DEPLOY_FAILED | INSPECT_FAILED | ADOPT_FAILED | ERROR
    )
}

/// True for the `*wait` states, which wait for the agent and can be aborted.
pub fn waiting(node: &NodeView) -> bool {
    matches!(
        node.provision_state.as_str(),
        INSPECT_WAIT | CLEAN_WAIT | WAIT_CALL_BACK | "service wait" | "rescue wait"
    )
}

/// The observed power state: `Some(true)` on, `Some(false)` off, `None` unknown.
pub fn powered_on(node: &NodeView) -> Option<bool> {
    match node.power_state.as_deref() {
        Some(POWER_ON) => Some(true),
        Some(POWER_OFF) => Some(false),
        _ => None,
    }
}

/// True while a power change is under way.
pub fn power_pending(node: &NodeView) -> bool {
    node.target_power_state
        .as_deref()
        .is_some_and(|t| !t.is_empty())
}

/// The node's last error, or a stand-in naming the state when Ironic gave none.
pub fn last_error(node: &NodeView) -> String {
    match node.last_error.as_deref() {
        Some(e) if !e.trim().is_empty() => e.to_string(),
        _ => format!(
            "ironic node entered state '{}' without an error message",
            node.provision_state
        ),
    }
}

/// True when the node's last error is about a failed power change.
pub fn power_failed(node: &NodeView) -> bool {
    node.last_error
        .as_deref()
        .is_some_and(|e| e.to_ascii_lowercase().contains("power"))
}
