//! One reconcile of one host, as the operator's controller does it, with in-process views
//! instead of the API server and Ironic over HTTP.
//!
//! The order follows `controller::reconcile`: read the BMC Secret (labelling it), observe the
//! node, read config-data Secrets while provisioning, count provisioning slots, decide, then the
//! operator's own rounds with its own provisioner (`metal_core::round`), then write
//! finalizer, annotations and status, emit Events and requeue.

use std::collections::BTreeMap;

use std::convert::Infallible;
use std::sync::Mutex;

use k8s_openapi::api::core::v1::Secret;

use metal_core::api::BareMetalHost;
use metal_core::api::annotations::{ENVIRONMENT_LABEL, ENVIRONMENT_LABEL_VALUE};
use metal_core::host_secrets::{self, SecretError, SecretSource};
use metal_core::provisioner::{Action, HostRef, Outcome, PowerChange, ProvisionerError};
use metal_core::round::{self, RoundHooks, RoundsEnd};
use metal_core::statemachine::{
    self, CapacityView, ConfigData, CredentialsView, Decision, Effect, HardwareFetch, Input,
    SlotChange, holds_provisioning_slot,
};
use uuid::Uuid;

use super::ironic::run;
use super::simulation::Engine;
use super::trace::host_name;
use crate::trace::{self, Happening, Protocol};

impl Engine {
    /// The BMC Secret read by the operator's own rules; an unlabelled Secret gets the BMC label
    /// (the returned key names it, so its watch event can be delivered once the reconcile is done).
    fn read_credentials(&mut self, host: &BareMetalHost) -> (CredentialsView, Option<String>) {
        let source = EngineSecrets {
            secrets: &self.secrets,
            labelled: Mutex::new(None),
        };
        let view = match run(host_secrets::read_credentials(&source, host)) {
            Ok(view) => view,
            Err(never) => match never {
                SecretError::Read { source, .. } | SecretError::Label { source, .. } => {
                    match source {}
                }
            },
        };
        let labelled = source
            .labelled
            .into_inner()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(key) = &labelled {
            self.resource_version += 1;
            let version = self.resource_version.to_string();
            if let Some(s) = self.secrets.get_mut(key) {
                s.metadata
                    .labels
                    .get_or_insert_with(BTreeMap::new)
                    .insert(ENVIRONMENT_LABEL.into(), ENVIRONMENT_LABEL_VALUE.into());
                s.metadata.resource_version = Some(version);
            }
        }
        (view, labelled)
    }

    fn read_config_data(&self, host: &BareMetalHost) -> Result<ConfigData, String> {
        let source = EngineSecrets {
            secrets: &self.secrets,
            labelled: Mutex::new(None),
        };
        run(host_secrets::read_config_data(&source, host)).map_err(|(_, message)| message)
    }

    /// The capacity view: slots held by hosts whose status says so, plus reservations.
    fn capacity(&mut self, idx: usize, host: &BareMetalHost) -> CapacityView {
        if !holds_provisioning_slot(host) {
            self.slots.reserve(idx, false);
        }
        CapacityView {
            in_use: u32::try_from(self.slots.in_use()).unwrap_or(u32::MAX),
            limit: self.settings.provisioning_limit,
            holds_slot: self.slots.holds(idx),
        }
    }

    fn apply_slot(&mut self, idx: usize, change: SlotChange) {
        match change {
            SlotChange::Keep => {}
            SlotChange::Take => self.slots.reserve(idx, true),
            SlotChange::Release => self.slots.reserve(idx, false),
        }
    }

    /// One reconcile of object `idx`.
    pub(super) fn reconcile(&mut self, idx: usize) {
        // The object is taken out while the operator looks at it (no copy) and put back
        // before the decision is written.
        let Some(host) = self.objects[idx].object.take() else {
            return;
        };
        self.reconciles += 1;
        let key = self.objects[idx].key.clone();
        let now = self.now;
        let wall = self.wall(now);

        let (credentials, labelled) = self.read_credentials(&host);
        let provisioner = self.ironic.provisioner().clone();
        let observation = run(round::observe(&provisioner, &host, &Plain));
        let config_data = self.read_config_data(&host);
        let capacity = self.capacity(idx, &host);
        let op_settings = self.settings.operator.clone();
        let mut input = Input {
            host: &host,
            credentials,
            observation: &observation,
            now: wall,
            capacity,
            hardware: HardwareFetch::NotFetched,
            config_data,
            action_failure: None,
            settings: &op_settings,
        };
        let mut rng = self.objects[idx].rng.clone();
        let first = statemachine::decide(&input, &mut rng);
        self.apply_slot(idx, first.slot);
        let mut tracer = Tracer {
            engine: self,
            idx,
            key: &key,
            host_ref: statemachine::host_ref(&host),
            node: None,
            before: None,
        };
        let end = run(round::run(
            &provisioner,
            &mut input,
            first,
            &mut rng,
            &mut tracer,
        ));
        self.objects[idx].rng = rng;
        let decision = match end {
            RoundsEnd::Decided(decision) => *decision,
            RoundsEnd::Busy | RoundsEnd::NotLeader => {
                self.objects[idx].object = Some(host);
                let at = now + op_settings.short_delay;
                self.schedule_reconcile(idx, at);
                if let Some(key) = labelled {
                    self.secret_changed(&key);
                }
                return;
            }
        };
        if let Effect::WriteHardwareData(hardware) = &decision.effect {
            self.objects[idx].hardware_data = Some(hardware.clone());
        }
        self.objects[idx].object = Some(host);
        self.write(idx, &key, &decision);
        if let Some(key) = labelled {
            self.secret_changed(&key);
        }
    }

    /// Writes the decision as the controller does and requeues.
    fn write(&mut self, idx: usize, key: &str, decision: &Decision) {
        self.count_state(idx, false);
        let applied = match self.objects[idx].object.as_mut() {
            Some(obj) => statemachine::apply(obj, decision),
            None => return,
        };
        if applied.changed() {
            self.resource_version += 1;
            let version = self.resource_version.to_string();
            if let Some(obj) = self.objects[idx].object.as_mut() {
                obj.metadata.resource_version = Some(version);
            }
        }
        let (holds, gone) = match self.objects[idx].object.as_ref() {
            Some(obj) => (
                holds_provisioning_slot(obj),
                obj.metadata.deletion_timestamp.is_some()
                    && obj
                        .metadata
                        .finalizers
                        .as_ref()
                        .is_none_or(|f| f.is_empty()),
            ),
            None => (false, true),
        };
        self.count_state(idx, true);
        self.slots.by_status(idx, holds);
        // A released slot wakes the longest-waiting delayed host now, as the controller does.
        if let Some(woken) = self.slots.line.after(&idx, decision) {
            let now = self.now;
            self.schedule_reconcile(woken, now);
        }
        let host = host_name(key);
        for ev in &decision.events {
            self.record(Happening::Event {
                host: Some(host.clone()),
                object: format!("BareMetalHost/{host}"),
                reason: ev.reason.to_owned(),
                event_type: ev.kind.as_str().to_owned(),
                message: ev.message.clone(),
            });
        }
        if let Some((from, to)) = decision.transition {
            self.record(Happening::HostState {
                host,
                from: from.as_str().to_owned(),
                to: to.as_str().to_owned(),
                cause: decision.cause.clone(),
            });
        }
        if gone {
            self.remove_object(idx);
            return;
        }
        if !applied.changed() {
            self.note_object(idx);
        }
        let settings = &self.settings.operator;
        if let Some(after) = self.objects[idx].pacer.requeue_after(decision, settings) {
            let at = self.now + after;
            self.schedule_reconcile(idx, at);
        }
        if applied.changed() {
            self.watch_event(idx);
        }
    }
}

/// The engine's side of the rounds: its slot book, and the trace of every provisioner action
/// with the node change it caused.
struct Tracer<'a> {
    engine: &'a mut Engine,
    idx: usize,
    key: &'a str,
    host_ref: HostRef,
    /// The node acted on, and its state before the action.
    node: Option<Uuid>,
    before: Option<(String, String)>,
}

/// The engine's Secret objects as the operator reads them; a label is noted, and put on by the
/// engine after the read (with its own version bump).
struct EngineSecrets<'a> {
    secrets: &'a BTreeMap<String, Secret>,
    labelled: Mutex<Option<String>>,
}

#[async_trait::async_trait]
impl SecretSource for EngineSecrets<'_> {
    type Error = Infallible;

    async fn get(&self, namespace: &str, name: &str) -> Result<Option<Secret>, Infallible> {
        Ok(self.secrets.get(&format!("{namespace}/{name}")).cloned())
    }

    async fn label_bmc(&self, namespace: &str, name: &str) -> Result<(), Infallible> {
        let mut labelled = self.labelled.lock().unwrap_or_else(|p| p.into_inner());
        *labelled = Some(format!("{namespace}/{name}"));
        Ok(())
    }
}

/// The engine scrubs nothing and always leads: the observation needs no hooks.
struct Plain;

impl RoundHooks for Plain {
    fn decided(&mut self, _: &Decision) {}
}

impl RoundHooks for Tracer<'_> {
    fn decided(&mut self, decision: &Decision) {
        self.engine.apply_slot(self.idx, decision.slot);
    }

    fn acting(&mut self, _action: &Action) {
        let e = &mut *self.engine;
        let node = e.ironic.locate(&self.host_ref);
        self.node = node;
        self.before = node.and_then(|n| e.node_state(n));
    }

    fn acted(&mut self, action: &Action, result: &Result<Outcome, ProvisionerError>) {
        let e = &mut *self.engine;
        let (node, before) = (self.node.take(), self.before.take());
        if e.traces_calls() {
            let (status, outcome) = match result {
                Ok(Outcome::Accepted { .. }) => (Some(202), "accepted".to_owned()),
                Ok(Outcome::Busy) => (Some(409), "busy".to_owned()),
                Err(err @ ProvisionerError::Rejected { status, .. }) => {
                    (Some(*status), format!("error: {err}"))
                }
                Err(err) => (None, format!("error: {err}")),
            };
            let (method, target, act) = ironic_call(action, node.is_none());
            e.record(Happening::Call {
                host: Some(host_name(self.key)),
                protocol: Protocol::Ironic,
                method: method.to_owned(),
                target: target.to_owned(),
                status,
                action: act,
                detail: Some(outcome),
            });
        }
        if let Some(node) = node.or_else(|| e.ironic.locate(&self.host_ref)) {
            e.note_node_change(node, before);
            e.schedule_node(node, true);
        }
    }
}

/// The Ironic request a provisioner action makes (method, path, and the trace's action);
/// `create` is a registration that creates the node.
fn ironic_call(
    action: &Action,
    create: bool,
) -> (&'static str, &'static str, Option<trace::CallKind>) {
    const NODE: &str = "/v1/nodes/{node}";
    const PROVISION: &str = "/v1/nodes/{node}/states/provision";
    let provision = |a| ("PUT", PROVISION, Some(a));
    match action {
        Action::Register(_) if create => ("POST", "/v1/nodes", Some(trace::CallKind::Enroll)),
        Action::Register(_) | Action::SetAutomatedClean(_) => ("PATCH", NODE, None),
        Action::Manage => provision(trace::CallKind::Manage),
        Action::Inspect => provision(trace::CallKind::Inspect),
        Action::Provide => provision(trace::CallKind::Provide),
        Action::Deploy(_) => provision(trace::CallKind::Deploy),
        Action::Undeploy => provision(trace::CallKind::Undeploy),
        Action::Adopt => provision(trace::CallKind::Adopt),
        Action::Abort => provision(trace::CallKind::Abort),
        Action::Power(p) => {
            let act = match p {
                PowerChange::On => trace::CallKind::PowerOn,
                PowerChange::Off | PowerChange::SoftOff => trace::CallKind::PowerOff,
                PowerChange::Reboot | PowerChange::SoftReboot => trace::CallKind::Reboot,
            };
            ("PUT", "/v1/nodes/{node}/states/power", Some(act))
        }
        Action::SetMaintenance { .. } => ("PUT", "/v1/nodes/{node}/maintenance", None),
        Action::Detach { .. } | Action::Delete => {
            ("DELETE", NODE, Some(trace::CallKind::DeleteNode))
        }
    }
}
