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
    self, CapacityView, ConfigData, CredentialsView, Decision, Effect, FirmwareView, HardwareFetch,
    Input, SlotChange, holds_provisioning_slot,
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
            .unwrap_or_else(|p| p.into_inner())
            // The label is an API write: an operator killed at it never makes it.
            .filter(|_| self.ironic.kill.write());
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
            // Engine mode serves no HostFirmwareSettings yet: no BIOS settings are wanted.
            firmware: FirmwareView::default(),
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
        if self.ironic.kill.dead() {
            // Killed inside the reconcile: the writes made before stand, what it went on to
            // decide is never written.
            self.objects[idx].object = Some(host);
            if let Some(key) = labelled {
                self.secret_changed(&key);
            }
            return;
        }
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
        // The host's write is the reconcile's last API write (when it changes anything): a kill
        // armed for it drops it.
        if self.ironic.kill.armed() {
            let mut written = host.clone();
            if statemachine::apply(&mut written, &decision).changed() && !self.ironic.kill.write() {
                self.objects[idx].object = Some(host);
                if let Some(key) = labelled {
                    self.secret_changed(&key);
                }
                return;
            }
        }
        if let Effect::WriteHardwareData(hardware) = &decision.effect {
            self.objects[idx].hardware_data = Some(hardware.to_string().into_boxed_str());
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
                revision: None,
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
        Action::Clean { .. } => provision(trace::CallKind::Clean),
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use metal_core::api::annotations::ENVIRONMENT_LABEL;
    use metal_sim::fleet::Fleet;
    use metal_sim::machine::SimTime;

    use super::super::simulation::{Engine, EngineSettings};
    use crate::trace::{CallKind, Happening};

    /// One registered host nobody reconciled yet, and its key.
    fn registered() -> (Engine, String) {
        let fleet = Fleet::parse("groups:\n  - name: h-0\n", "t.yaml").expect("fleet");
        let mut e = Engine::new(&fleet, 7, EngineSettings::default());
        e.register_fleet(&fleet).expect("register");
        let key = e.object_by_key.keys().next().cloned().expect("a host");
        (e, key)
    }

    fn labelled(e: &Engine) -> bool {
        e.secrets.values().any(|s| {
            s.metadata
                .labels
                .as_ref()
                .is_some_and(|l| l.contains_key(ENVIRONMENT_LABEL))
        })
    }

    fn nodes(e: &Engine) -> usize {
        e.ironic.conductor(|c| c.nodes.len())
    }

    fn state(e: &Engine, key: &str) -> Option<String> {
        let status = e.host(key)?.status.as_ref()?;
        Some(status.provisioning.state.as_str().to_owned())
    }

    fn enrolls(e: &Engine) -> Vec<Option<u16>> {
        e.trace()
            .iter()
            .filter_map(|l| match &l.what {
                Happening::Call {
                    action: Some(CallKind::Enroll),
                    status,
                    ..
                } => Some(*status),
                _ => None,
            })
            .collect()
    }

    /// The host converges to `available` once the operator is back.
    fn converges(e: &mut Engine, key: &str) {
        e.advance_until(
            |e| state(e, key).as_deref() == Some("available"),
            SimTime::from_secs(1800),
        )
        .expect("available");
    }

    // A host's first reconcile makes two API writes: the BMC Secret's label and the host's own
    // write (finalizer, status); a later one, the host `registering`, creates the node
    // (`POST /v1/nodes`), its port, and patches it.

    #[test]
    fn a_kill_at_the_first_write_of_a_reconcile_leaves_only_its_reads_and_the_host_converges() {
        let (mut e, key) = registered();
        assert!(!labelled(&e));
        e.kill_operator_mid_reconcile(&key, 0, Duration::from_secs(5));
        assert!(!labelled(&e), "the Secret label is the write it died at");
        assert_eq!(state(&e, &key), None, "no status was written");
        converges(&mut e, &key);
        assert_eq!(nodes(&e), 1);
    }

    #[test]
    fn a_kill_after_the_first_write_keeps_it_and_drops_the_hosts_own_write() {
        let (mut e, key) = registered();
        e.kill_operator_mid_reconcile(&key, 1, Duration::from_secs(5));
        assert!(labelled(&e), "the write before the kill stands");
        assert_eq!(
            state(&e, &key),
            None,
            "the host's write came after the kill"
        );
        converges(&mut e, &key);
    }

    /// The host written `registering`, its node not created yet.
    fn registering() -> (Engine, String) {
        let (mut e, key) = registered();
        e.advance_until(
            |e| state(e, &key).as_deref() == Some("registering"),
            SimTime::from_secs(60),
        )
        .expect("registering");
        assert_eq!(nodes(&e), 0);
        (e, key)
    }

    #[test]
    fn a_kill_at_the_node_creation_drops_it_and_the_next_operator_creates_the_node_once() {
        let (mut e, key) = registering();
        e.kill_operator_mid_reconcile(&key, 0, Duration::from_secs(5));
        assert_eq!(nodes(&e), 0, "the node creation is the write it died at");
        assert_eq!(enrolls(&e), vec![None], "the creation never got an answer");
        converges(&mut e, &key);
        assert_eq!(nodes(&e), 1);
        assert_eq!(enrolls(&e), vec![None, Some(202)]);
    }

    #[test]
    fn a_kill_after_the_node_creation_keeps_the_node_which_the_next_operator_takes_up() {
        let (mut e, key) = registering();
        e.kill_operator_mid_reconcile(&key, 1, Duration::from_secs(5));
        assert_eq!(nodes(&e), 1, "the node creation before the kill stands");
        // The registration (node, port, patch) died at its port: the action got no answer.
        assert_eq!(enrolls(&e), vec![None]);
        let id = |e: &Engine| {
            e.host(&key)
                .and_then(|h| h.status.as_ref())
                .map(|s| s.provisioning.id.clone())
        };
        assert_eq!(
            id(&e),
            Some(String::new()),
            "the host's write recording the node came after the kill"
        );
        converges(&mut e, &key);
        assert_eq!(nodes(&e), 1, "the node is found again, not created twice");
        assert_eq!(enrolls(&e), vec![None], "no second node creation");
    }

    #[test]
    fn a_kill_beyond_the_reconciles_writes_is_a_kill_between_reconciles() {
        let (mut e, key) = registered();
        e.kill_operator_mid_reconcile(&key, 1000, Duration::from_secs(5));
        assert!(state(&e, &key).is_some(), "the whole reconcile was written");
        converges(&mut e, &key);
    }
}
