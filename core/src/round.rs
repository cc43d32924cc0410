//! One reconcile's rounds with the provisioner: observe the node, then decide → carry out the one
//! effect → decide again, up to [`MAX_ROUNDS`] times, and name the node a registration created.
//!
//! This is the part of a reconcile that talks to the provisioner, written once: the controller
//! runs it with the Ironic provisioner over HTTP, the simulator's engine with the same provisioner
//! over an in-process transport. What differs between them (where the capacity view and the slot
//! book live, leadership, scrubbing secrets out of messages, tracing) comes in through
//! [`RoundHooks`]. Reading Kubernetes objects before and writing the decision after stay with
//! each caller.

use serde_json::Value;

use crate::api::BareMetalHost;
use crate::api::annotations::{HOST_FINALIZER, PAUSED};
use crate::firmware::Observed;
use crate::provisioner::{Action, HostRef, Observation, Outcome, Provisioner, ProvisionerError};
use crate::statemachine::{self, ActionFailure, BiosFetch, Decision, Effect, HardwareFetch, Input};

/// Upper bound on decide → effect → decide rounds within one reconcile (fetch hardware details,
/// then write them; or an action failure re-decided once).
pub const MAX_ROUNDS: usize = 4;

/// What a caller supplies to the rounds.
pub trait RoundHooks {
    /// `text` with anything secret removed (Ironic errors may echo BMC credentials).
    fn scrub(&self, text: &str) -> String {
        text.to_owned()
    }
    /// False when this replica may no longer act (it lost the leader lease).
    fn may_act(&self) -> bool {
        true
    }
    /// Every decision after the first one, for the slot book.
    fn decided(&mut self, decision: &Decision);
    /// Just before `action` is carried out.
    fn acting(&mut self, _action: &Action) {}
    /// What carrying out `action` gave.
    fn acted(&mut self, _action: &Action, _result: &Result<Outcome, ProvisionerError>) {}
}

/// How the rounds ended.
#[derive(Debug)]
pub enum RoundsEnd {
    /// The decision to write (the node a registration created already in its status).
    Decided(Box<Decision>),
    /// The node is locked by its conductor: look again shortly, write nothing.
    Busy,
    /// This replica lost the lease before acting: look again shortly, write nothing.
    NotLeader,
}

/// True when the host's node is looked at in this reconcile: not paused, and ours (finalizer).
pub fn wants_observation(host: &BareMetalHost) -> bool {
    let paused = host
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(PAUSED));
    let ours = host
        .metadata
        .finalizers
        .as_ref()
        .is_some_and(|f| f.iter().any(|x| x == HOST_FINALIZER));
    !paused && ours
}

/// The provisioner's view of the host's node; a failure to look is the observation
/// `Unavailable`, its message scrubbed.
pub async fn observe<P: Provisioner + ?Sized>(
    provisioner: &P,
    host: &BareMetalHost,
    hooks: &impl RoundHooks,
) -> Observation {
    if !wants_observation(host) {
        return Observation::NotRegistered;
    }
    match provisioner.observe(&statemachine::host_ref(host)).await {
        Ok(o) => o,
        Err(e) => Observation::Unavailable(hooks.scrub(&e.to_string())),
    }
}

/// Runs the rounds from the `first` decision (taken by the caller with its capacity view).
pub async fn run<P, R, H>(
    provisioner: &P,
    input: &mut Input<'_>,
    first: Decision,
    rng: &mut R,
    hooks: &mut H,
) -> RoundsEnd
where
    P: Provisioner + ?Sized,
    R: rand::Rng,
    H: RoundHooks,
{
    let host_ref: HostRef = statemachine::host_ref(input.host);
    let mut decision = first;
    let mut accepted_node = None;
    for _ in 0..MAX_ROUNDS {
        match &decision.effect {
            Effect::FetchHardwareDetails if input.hardware == HardwareFetch::NotFetched => {
                input.hardware = match provisioner.hardware_details(&host_ref).await {
                    Ok(Value::Null) => HardwareFetch::Missing,
                    Ok(details) => HardwareFetch::Found(details),
                    Err(e) => HardwareFetch::Unavailable(hooks.scrub(&e.to_string())),
                };
            }
            Effect::FetchBiosSettings if input.firmware.current == BiosFetch::NotFetched => {
                input.firmware.current = match provisioner.bios_settings(&host_ref).await {
                    Ok(read) => BiosFetch::Found(Observed::from_ironic(&read).settings),
                    Err(e) => BiosFetch::Unavailable(hooks.scrub(&e.to_string())),
                };
            }
            Effect::Provisioner(action) if input.action_failure.is_none() => {
                if !hooks.may_act() {
                    return RoundsEnd::NotLeader;
                }
                hooks.acting(action);
                let result = provisioner.act(&host_ref, action).await;
                hooks.acted(action, &result);
                match result {
                    Ok(Outcome::Accepted { node_id }) => {
                        accepted_node = node_id;
                        break;
                    }
                    Ok(Outcome::Busy) => return RoundsEnd::Busy,
                    Err(e) => {
                        input.action_failure = Some(ActionFailure {
                            action: action.name(),
                            message: hooks.scrub(&e.to_string()),
                            transient: e.is_transient(),
                        });
                    }
                }
            }
            _ => break,
        }
        decision = statemachine::decide(input, rng);
        hooks.decided(&decision);
    }
    if let (Effect::Provisioner(Action::Register(_)), Some(id)) = (&decision.effect, accepted_node)
        && decision.status.provisioning.id.is_empty()
    {
        decision.status.provisioning.id = id;
        decision.status_changed = true;
    }
    RoundsEnd::Decided(Box::new(decision))
}
