//! Expectations checked at the end of a run and invariants checked over the whole trace.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::*;

/// What must have happened by the end of the run.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Expectations {
    /// Per-host expectations.
    pub hosts: Vec<HostExpectation>,
    /// Kubernetes Events that must have been emitted.
    pub events: Vec<EventExpectation>,
    /// Counts of calls (Ironic, Redfish, IPMI) per host.
    pub calls: Vec<CallExpectation>,
}

/// Expectations about some hosts' histories.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HostExpectation {
    /// Which hosts (each must satisfy everything below).
    pub hosts: HostSelector,
    /// The exact sequence of provisioning states (repeats collapsed), from the first observation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<Vec<String>>,
    /// States that must appear in this order (other states may come between).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visits: Option<Vec<String>>,
    /// States that must never appear.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub never: Vec<String>,
    /// The state at the end.
    #[serde(default, rename = "final", skip_serializing_if = "Option::is_none")]
    pub final_state: Option<String>,
    /// The operational status at the end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_operational_status: Option<String>,
    /// Error types that must have been reported at some point (in this order).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub error_types: Vec<String>,
    /// The error type at the end (`none` for no error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_error_type: Option<String>,
    /// Number of times the host entered `provisioned`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioned_times: Option<u32>,
    /// Number of times the disks were wiped (clean completed) — deprovisioning with cleaning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_wipes: Option<u32>,
    /// About one of our extensions (our Events' exact wording, our metrics, pools, …), not
    /// Metal3 behaviour: under another operator it is reported "not applicable (extension)".
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub extension: bool,
}

/// A Kubernetes Event that must exist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventExpectation {
    /// Hosts whose BareMetalHost is the Event's involved object (default: any object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosts: Option<HostSelector>,
    /// The Event's reason.
    pub reason: String,
    /// `Normal` or `Warning` (default: either).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    /// At least this many (default 1), per selected host when `hosts` is given.
    #[serde(default = "one")]
    pub at_least: u32,
    /// About one of our extensions (our Events' exact wording, our metrics, pools, …), not
    /// Metal3 behaviour: under another operator it is reported "not applicable (extension)".
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub extension: bool,
}

fn one() -> u32 {
    1
}

/// A count of classified calls per host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CallExpectation {
    /// Which hosts (each is counted on its own).
    pub hosts: HostSelector,
    /// The action (`deploy`, `inspect`, `power_on`, `power_off`, `reboot`, …; see docs/scenarios.md).
    pub action: String,
    /// Exactly this many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exactly: Option<u32>,
    /// At least this many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_least: Option<u32>,
    /// At most this many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_most: Option<u32>,
    /// About one of our extensions (our Events' exact wording, our metrics, pools, …), not
    /// Metal3 behaviour: under another operator it is reported "not applicable (extension)".
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub extension: bool,
}

/// Invariants checked over the whole trace. All on by default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Invariants {
    /// Never `provisioned` without having been `inspecting` first, unless inspection is disabled
    /// or the host was externally provisioned.
    pub inspected_before_provisioned: bool,
    /// No power action reaches the BMC of a host whose operational status is `detached`.
    pub no_power_action_when_detached: bool,
    /// Exactly one accepted deploy request per provisioning that ends in `provisioned`, plus one
    /// per deploy failure observed in between.
    pub one_deploy_per_provisioning: bool,
    /// No two HostClaims bound to one host at the same time.
    pub one_claim_per_host: bool,
    /// A HostClaim lets its host go (the trace sees it unbound from the host) only once the host
    /// is deprovisioned: not while it is provisioning, provisioned or deprovisioning, unless the
    /// host is being deleted.
    pub claim_released_when_deprovisioned: bool,
    /// No BMC password of the fleet or the timeline (those of at least 12 characters: shorter
    /// ones can be ordinary words) appears in any trace line: statuses, Events, calls, steps.
    pub no_credential_in_trace: bool,
    /// A BareMetalHost that is gone took its Ironic node with it: after the last accepted Ironic
    /// call about the host, a node delete was accepted (or found the node gone).
    pub no_orphaned_ironic_node: bool,
    /// Never more than this many hosts holding a provisioning slot at once (inspecting,
    /// provisioning or deprovisioning, not delayed, not virtual media). Default: the
    /// operator's provisioning limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_busy: Option<u32>,
}

impl Default for Invariants {
    fn default() -> Self {
        Invariants {
            inspected_before_provisioned: true,
            no_power_action_when_detached: true,
            one_deploy_per_provisioning: true,
            one_claim_per_host: true,
            claim_released_when_deprovisioned: true,
            no_credential_in_trace: true,
            no_orphaned_ironic_node: true,
            max_busy: None,
        }
    }
}

/// The JSON Schema of scenario files, pretty-printed (what `scenarios/scenario.schema.json` holds).
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(ScenarioFile);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}
