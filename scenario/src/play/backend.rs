//! What a mode supplies to the player: the operations the steps need and the views the
//! conditions are checked against.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use serde_json::Value;

use super::ActiveFault;
use crate::format::{Claim, MetadataChange, Named, PatchType, Register, Restart, Scale, Target};
use crate::trace::Happening;
use metal_sim::machine::SimTime;

/// What a `wait` or `assert` condition checks of one host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostConditionView {
    /// `status.provisioning.state`.
    pub state: String,
    /// `status.operationalStatus`.
    pub operational_status: String,
    /// `status.errorType`.
    pub error_type: Option<String>,
    /// `status.poweredOn` (absent when not known).
    pub powered_on: Option<bool>,
    /// Seen and since deleted.
    pub gone: bool,
}

/// A mode's side of playing a scenario: the engine in virtual time, or the wire stack in real
/// time. Operations that a mode cannot carry out return its error (the player stops there);
/// time passing, polling and the mode's own way of switching a fault stay inside the backend.
pub trait Backend {
    /// Why an operation could not be carried out.
    type Error: std::fmt::Display;

    /// How often a `wait` looks at the views again.
    const POLL: Duration;

    /// What a failed host condition says of a host the backend has no view of.
    const ABSENT: &'static str;

    /// Now, on the trace's clock.
    fn now(&self) -> SimTime;

    /// What every `wait`'s `within` is multiplied by: the operator's own pace (an operator that
    /// polls Ironic every 10 s needs longer than ours); 1 by default.
    fn wait_factor(&self) -> f64 {
        1.0
    }

    /// How long a span the scenario wrote (`advance`, a fault's `for`, `restart_operator`'s
    /// `down_for`) lasts here: as written by default. Wire mode with our operator, whose polls
    /// follow the fleet's time scale, scales the span the same way (`within` deadlines are bounds,
    /// never scaled).
    fn span(&self, written: Duration) -> Duration {
        written
    }

    /// Adds a line to the trace, now (after everything the mode recorded before it).
    fn record(&mut self, what: Happening);

    /// A step starts (for progress displays).
    fn step_started(&mut self, _index: usize, _keyword: &str) {}

    /// A step is over, whether it held or not.
    fn step_done(&mut self, _index: usize) {}

    /// `register`: the fleet's BareMetalHosts and BMC Secrets.
    fn register(&mut self, r: &Register) -> impl Future<Output = Result<(), Self::Error>>;

    /// `apply`: the objects (`$IMAGES` still to be substituted).
    fn apply(&mut self, objects: &[Value]) -> impl Future<Output = Result<(), Self::Error>>;

    /// `patch` of the target's objects.
    fn patch(
        &mut self,
        target: &Target,
        patch_type: PatchType,
        body: &Value,
    ) -> impl Future<Output = Result<(), Self::Error>>;

    /// `annotate` (`field` = `annotations`) or `label` (`labels`) of hosts.
    fn metadata(
        &mut self,
        field: &str,
        change: &MetadataChange,
    ) -> impl Future<Output = Result<(), Self::Error>>;

    /// `delete` of the target's objects.
    fn delete(&mut self, target: &Target) -> impl Future<Output = Result<(), Self::Error>>;

    /// `create_claim`.
    fn create_claim(&mut self, claim: &Claim) -> impl Future<Output = Result<(), Self::Error>>;

    /// `delete_claim`.
    fn delete_claim(&mut self, claim: &Named) -> impl Future<Output = Result<(), Self::Error>>;

    /// `scale_pool`.
    fn scale_pool(&mut self, scale: &Scale) -> impl Future<Output = Result<(), Self::Error>>;

    /// Stops the operator (as `restart` says: between reconciles, or inside one), which
    /// `start_operator` brings back after `restart.down_for`.
    fn stop_operator(&mut self, restart: &Restart)
    -> impl Future<Output = Result<(), Self::Error>>;

    /// Starts the operator again.
    fn start_operator(&mut self) -> impl Future<Output = Result<(), Self::Error>>;

    /// `started` was added to `active` (which holds it too): switch it on.
    fn fault_started(
        &mut self,
        started: &ActiveFault,
        active: &BTreeMap<String, ActiveFault>,
    ) -> impl Future<Output = Result<(), Self::Error>>;

    /// `ended` was taken out of `active`: switch it off (faults still active stay in force).
    fn fault_ended(
        &mut self,
        ended: &ActiveFault,
        active: &BTreeMap<String, ActiveFault>,
    ) -> impl Future<Output = Result<(), Self::Error>>;

    /// Lets time pass towards `t` (not beyond it); may return earlier (the player asks again).
    fn pass_to(&mut self, t: SimTime) -> impl Future<Output = Result<(), Self::Error>>;

    /// The views of the hosts `names`, in that order (`None`: no view of it).
    fn hosts(&self, names: &[String]) -> Vec<Option<HostConditionView>>;

    /// Whether HostClaim `name` (in the fleet's namespace) is bound to a host.
    fn claim_bound(&self, name: &str) -> bool;

    /// The reason of HostClaim `name`'s `Bound` condition (in the fleet's namespace), once the
    /// operator wrote one.
    fn claim_reason(&self, name: &str) -> Option<String>;

    /// The ready members of HostPool `name` (in the fleet's namespace).
    fn pool_ready(&self, name: &str) -> u32;
}
