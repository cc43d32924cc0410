//! The engine: every core of a run, one event queue in virtual time, and the in-process
//! adapters between them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use k8s_openapi::api::core::v1::Secret;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use uuid::Uuid;

use metal_core::api::BareMetalHost;
use metal_core::bmc::DeployImages;
use metal_core::statemachine;

use super::agent::{AgentFaults, AgentSettings, EngineImages, RunningAgent};
use super::bmc::{BmcDirectory, Route};
use super::ironic::EngineIronic;
use super::queue::EventQueue;
use super::slots::SlotBook;
use super::trace::{TraceLevel, host_name, level};
use crate::trace::{Happening, MachineChange, TraceLine};
use metal_sim::fault::FaultSet;
use metal_sim::fleet::Fleet;
use metal_sim::ironic::conductor::{BmcOp, CallResult, Settings as ConductorSettings, Timings};
use metal_sim::machine::{
    BootOutcome, HostSpec, Machine, MachineEvent, PowerState, SimTime, derive_rng,
};

/// Knobs of an engine run.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// The state machine's settings (poll intervals, retry limits).
    pub operator: statemachine::Settings,
    /// `PROVISIONING_LIMIT`.
    pub provisioning_limit: u32,
    /// Time from an object write to the reconcile its watch event triggers.
    pub watch_latency: Duration,
    /// The conductor's phase durations and cleaning default.
    pub conductor: ConductorSettings,
    /// How the in-process agents behave.
    pub agent: AgentSettings,
    /// What the agents download.
    pub images: EngineImages,
    /// The operator's deploy kernel and ramdisk (written into every node's `driver_info`).
    pub deploy_images: DeployImages,
    /// What the trace records.
    pub trace: TraceLevel,
    /// Upper bound on events handled by one `advance_*` call (a run that would loop forever
    /// stops with [`EngineError::EventBudget`]).
    pub max_events: u64,
    /// The wall-clock instant virtual time zero stands for (what the operator sees as `now`).
    pub epoch: DateTime<Utc>,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            operator: statemachine::Settings::default(),
            provisioning_limit: statemachine::DEFAULT_PROVISIONING_LIMIT,
            watch_latency: Duration::from_millis(50),
            conductor: ConductorSettings::with(engine_timings(), false),
            agent: AgentSettings::default(),
            images: EngineImages::default(),
            deploy_images: DeployImages {
                kernel_url: Some("http://127.0.0.1:6180/images/ironic-python-agent.kernel".into()),
                ramdisk_url: Some(
                    "http://127.0.0.1:6180/images/ironic-python-agent.initramfs".into(),
                ),
                iso_url: None,
            },
            trace: TraceLevel::Full,
            max_events: 50_000_000,
            epoch: Utc
                .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
                .single()
                .unwrap_or_default(),
        }
    }
}

/// Phase durations of a real deployment (virtual time costs nothing, so they are realistic).
pub fn engine_timings() -> Timings {
    Timings {
        verify: TimeDelta::seconds(2),
        provide: TimeDelta::seconds(5),
        deploy: TimeDelta::seconds(120),
        undeploy: TimeDelta::seconds(20),
        inspect: TimeDelta::seconds(90),
        clean: TimeDelta::seconds(60),
        adopt: TimeDelta::seconds(2),
        power: TimeDelta::seconds(1),
        power_sync: TimeDelta::seconds(60),
        callback_timeout: TimeDelta::minutes(30),
    }
}

/// Why an engine call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// The deadline passed before the condition held.
    #[error("condition not reached by {deadline} (virtual time)")]
    Deadline {
        /// The deadline.
        deadline: SimTime,
    },
    /// More events than `max_events` in one call: something loops.
    #[error("more than {limit} events before {at} (virtual time): the run does not settle")]
    EventBudget {
        /// The limit.
        limit: u64,
        /// When it was hit.
        at: SimTime,
    },
    /// No BareMetalHost with this name.
    #[error("no BareMetalHost {0}")]
    NoSuchHost(String),
    /// No fleet host (machine) with this name.
    #[error("no fleet host {0}")]
    NoSuchMachine(String),
    /// An object that cannot be used (bad YAML/JSON shape, missing name).
    #[error("invalid object: {0}")]
    InvalidObject(String),
    /// Fleet manifests could not be built.
    #[error("fleet manifests: {0}")]
    Manifests(String),
}

/// One BareMetalHost as the engine's API server holds it, with the operator's per-host state.
#[derive(Debug)]
pub(super) struct HostObject {
    pub(super) key: String,
    pub(super) object: Option<BareMetalHost>,
    pub(super) rng: ChaCha8Rng,
    /// How the operator paces this host's polls.
    pub(super) pacer: statemachine::Pacer,
    pub(super) pending: Option<SimTime>,
    /// The HardwareData the operator wrote, as JSON text (written once, read whole: a tree per
    /// host would hold several times the memory).
    pub(super) hardware_data: Option<Box<str>>,
    pub(super) last_status: Option<Happening>,
    pub(super) last_facts: Option<Happening>,
}

/// One fleet machine with its BMC's faults.
#[derive(Debug)]
pub(super) struct MachineSlot {
    pub(super) spec: HostSpec,
    pub(super) machine: Machine,
    pub(super) faults: FaultSet,
    pub(super) fault_rng: ChaCha8Rng,
    pub(super) due: Option<SimTime>,
    pub(super) agent: Option<RunningAgent>,
    pub(super) agent_faults: AgentFaults,
    pub(super) agents_started: u64,
}

#[derive(Debug)]
pub(super) enum Event {
    Reconcile(usize),
    ConductorStep(Uuid),
    BmcArrive {
        node: Uuid,
        call: u64,
        op: BmcOp,
        route: Box<Route>,
    },
    CallDone {
        node: Uuid,
        call: u64,
        op: BmcOp,
        host: Option<usize>,
        outcome: Box<Result<CallResult, super::bmc::BmcFailure>>,
    },
    MachineTick(usize),
    AgentWake {
        host: usize,
        boot: u64,
    },
    OperatorUp,
}

/// A discrete-event run of the operator, the mock Ironic's conductor and the machines.
pub struct Engine {
    pub(super) settings: EngineSettings,
    pub(super) seed: u64,
    pub(super) now: SimTime,
    pub(super) queue: EventQueue<Event>,
    pub(super) machines: Vec<MachineSlot>,
    pub(super) machine_by_name: BTreeMap<String, usize>,
    pub(super) bmcs: BmcDirectory,
    pub(super) ironic: EngineIronic,
    pub(super) node_due: BTreeMap<Uuid, SimTime>,
    pub(super) objects: Vec<HostObject>,
    pub(super) object_by_key: BTreeMap<String, usize>,
    pub(super) secrets: BTreeMap<String, Secret>,
    pub(super) secret_users: BTreeMap<String, BTreeSet<usize>>,
    pub(super) slots: SlotBook,
    pub(super) state_counts: BTreeMap<&'static str, usize>,
    pub(super) resource_version: u64,
    pub(super) operator_up: bool,
    pub(super) operator_epoch: u64,
    pub(super) trace: Vec<TraceLine>,
    pub(super) events_handled: u64,
    pub(super) reconciles: u64,
    pub(super) uid_rng: ChaCha8Rng,
}

/// A summary row of one BareMetalHost (the columns of `kubectl get bmh`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HostRow {
    /// `namespace/name`.
    pub key: String,
    /// Operational status.
    pub status: String,
    /// Provisioning state.
    pub state: String,
    /// `spec.online`.
    pub online: bool,
    /// `status.poweredOn`.
    pub powered_on: bool,
    /// Error type, empty when none.
    pub error: String,
    /// True once the object is gone from the API.
    pub deleted: bool,
}

impl Engine {
    /// An engine over `fleet`'s machines (all powered off, no BareMetalHost yet). Every random
    /// stream is derived from `seed`; the fleet file's own seed only shaped the hardware.
    pub fn new(fleet: &Fleet, seed: u64, settings: EngineSettings) -> Engine {
        let timing = fleet.timing();
        let specs = fleet.hosts();
        let machines: Vec<MachineSlot> = specs
            .iter()
            .enumerate()
            .map(|(i, spec)| MachineSlot {
                machine: Machine::new(&spec.profile, timing, derive_rng(seed, "machine", i as u64)),
                faults: spec.faults.clone(),
                fault_rng: derive_rng(seed, "fault", i as u64),
                spec: spec.clone(),
                due: None,
                agent: None,
                agent_faults: AgentFaults::default(),
                agents_started: 0,
            })
            .collect();
        let machine_by_name = specs
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), i))
            .collect();
        let ironic = EngineIronic::new(
            settings.conductor,
            settings.deploy_images.clone(),
            rand::RngExt::random(&mut derive_rng(seed, "ironic", 0)),
            settings.epoch,
        );
        Engine {
            bmcs: BmcDirectory::new(specs),
            settings,
            seed,
            now: SimTime::ZERO,
            queue: EventQueue::default(),
            machines,
            machine_by_name,
            ironic,
            node_due: BTreeMap::new(),
            objects: Vec::new(),
            object_by_key: BTreeMap::new(),
            secrets: BTreeMap::new(),
            secret_users: BTreeMap::new(),
            slots: SlotBook::default(),
            state_counts: BTreeMap::new(),
            resource_version: 0,
            operator_up: true,
            operator_epoch: 0,
            trace: Vec::new(),
            events_handled: 0,
            reconciles: 0,
            uid_rng: derive_rng(seed, "uid", 0),
        }
    }

    /// The current virtual time.
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// The wall-clock instant the operator and conductor see at virtual time `t`.
    pub fn wall(&self, t: SimTime) -> DateTime<Utc> {
        let nanos = i64::try_from(t.as_nanos()).unwrap_or(i64::MAX);
        self.settings.epoch + TimeDelta::nanoseconds(nanos)
    }

    /// The run's seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Events handled so far.
    pub fn events_handled(&self) -> u64 {
        self.events_handled
    }

    /// Reconciles run so far.
    pub fn reconciles(&self) -> u64 {
        self.reconciles
    }

    /// Ironic API requests made so far (by the operator's provisioner view).
    pub fn ironic_requests(&self) -> u64 {
        self.ironic.requests()
    }

    /// The trace so far.
    pub fn trace(&self) -> &[TraceLine] {
        &self.trace
    }

    /// Takes the trace recorded so far, leaving it empty.
    pub fn take_trace(&mut self) -> Vec<TraceLine> {
        std::mem::take(&mut self.trace)
    }

    /// Records `what` now, when the trace level asks for it.
    pub(super) fn record(&mut self, what: Happening) {
        if level(&what) <= self.settings.trace {
            self.trace.push(TraceLine { t: self.now, what });
        }
    }

    /// Records a command about object `key` or fleet host name (`None`: the operator).
    pub(super) fn command(&mut self, host: Option<&str>, what: String) {
        self.record(Happening::Command {
            host: host.map(host_name),
            what,
        });
    }

    /// How many live BareMetalHosts are in each provisioning state (`""` for a new host).
    pub fn state_counts(&self) -> &BTreeMap<&'static str, usize> {
        &self.state_counts
    }

    /// The number of live hosts in `state`.
    pub fn count_in(&self, state: &str) -> usize {
        self.state_counts.get(state).copied().unwrap_or(0)
    }

    /// Live BareMetalHosts.
    pub fn host_count(&self) -> usize {
        self.state_counts.values().sum()
    }

    /// A BareMetalHost as the API server holds it (`namespace/name`).
    pub fn host(&self, key: &str) -> Option<&BareMetalHost> {
        self.object_by_key
            .get(key)
            .and_then(|&i| self.objects[i].object.as_ref())
    }

    /// Every live BareMetalHost as the API server holds it, in creation order.
    pub fn hosts(&self) -> impl Iterator<Item = &BareMetalHost> {
        self.objects.iter().filter_map(|o| o.object.as_ref())
    }

    /// The HardwareData the operator wrote for a host.
    pub fn hardware_data(&self, key: &str) -> Option<Value> {
        let text = self
            .object_by_key
            .get(key)
            .and_then(|&i| self.objects[i].hardware_data.as_deref())?;
        serde_json::from_str(text).ok()
    }

    /// One row per BareMetalHost ever created, in creation order.
    pub fn rows(&self) -> Vec<HostRow> {
        self.objects
            .iter()
            .map(|o| {
                let status = o.object.as_ref().and_then(|h| h.status.as_ref());
                HostRow {
                    key: o.key.clone(),
                    status: status
                        .map(|s| s.operational_status.as_str().to_owned())
                        .unwrap_or_default(),
                    state: status
                        .map(|s| s.provisioning.state.as_str().to_owned())
                        .unwrap_or_default(),
                    online: o.object.as_ref().is_some_and(|h| h.spec.online),
                    powered_on: status.is_some_and(|s| s.powered_on),
                    error: status
                        .and_then(|s| s.error_type)
                        .map(|e| e.as_str().to_owned())
                        .unwrap_or_default(),
                    deleted: o.object.is_none(),
                }
            })
            .collect()
    }

    /// The machine of fleet host `name`.
    pub fn machine(&self, name: &str) -> Option<&Machine> {
        self.machine_by_name
            .get(name)
            .map(|&i| &self.machines[i].machine)
    }

    // ----- the loop -----

    /// Handles events until `done(self)` holds (checked before each event) or virtual time
    /// would pass `deadline`. Returns the time the condition held.
    pub fn advance_until(
        &mut self,
        mut done: impl FnMut(&Engine) -> bool,
        deadline: SimTime,
    ) -> Result<SimTime, EngineError> {
        let mut handled = 0u64;
        loop {
            if done(self) {
                return Ok(self.now);
            }
            match self.queue.peek_time() {
                Some(t) if t <= deadline => {
                    if handled >= self.settings.max_events {
                        return Err(EngineError::EventBudget {
                            limit: self.settings.max_events,
                            at: self.now,
                        });
                    }
                    handled += 1;
                    self.step_one();
                }
                _ => {
                    self.set_now(self.now.max(deadline));
                    return if done(self) {
                        Ok(self.now)
                    } else {
                        Err(EngineError::Deadline { deadline })
                    };
                }
            }
        }
    }

    /// Handles every event due by `t` and leaves the clock at `t`.
    pub fn advance_to(&mut self, t: SimTime) -> Result<(), EngineError> {
        match self.advance_until(|_| false, t) {
            Err(EngineError::Deadline { .. }) | Ok(_) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Handles every event due in the next `d`.
    pub fn advance_by(&mut self, d: Duration) -> Result<(), EngineError> {
        self.advance_to(self.now + d)
    }

    /// Moves virtual time to `t`, the mock Ironic's clock with it.
    fn set_now(&mut self, t: SimTime) {
        self.now = t;
        self.ironic.set_time(t, self.wall(t));
    }

    fn step_one(&mut self) {
        let Some((t, event)) = self.queue.pop() else {
            return;
        };
        self.set_now(self.now.max(t));
        self.events_handled += 1;
        match event {
            Event::Reconcile(idx) => {
                if self.objects[idx].pending == Some(t) {
                    self.objects[idx].pending = None;
                    if self.operator_up {
                        self.reconcile(idx);
                    }
                }
            }
            Event::OperatorUp => {
                self.operator_up = true;
                self.command(None, "started".into());
                for idx in 0..self.objects.len() {
                    if self.objects[idx].object.is_some() {
                        self.schedule_reconcile(idx, self.now);
                    }
                }
            }
            Event::ConductorStep(node) => {
                if self.node_due.get(&node) == Some(&t) {
                    self.node_due.remove(&node);
                    self.step_node(node);
                }
            }
            Event::BmcArrive {
                node,
                call,
                op,
                route,
            } => self.bmc_arrive(node, call, op, &route),
            Event::CallDone {
                node,
                call,
                op,
                host,
                outcome,
            } => self.call_done(node, call, op, host, *outcome),
            Event::AgentWake { host, boot } => self.agent_wake(host, boot),
            Event::MachineTick(i) => {
                if self.machines[i].due == Some(t) {
                    self.machines[i].due = None;
                    let now = self.now;
                    self.machines[i].machine.tick(now);
                    self.after_machine(i);
                }
            }
        }
    }

    pub(super) fn schedule_reconcile(&mut self, idx: usize, at: SimTime) {
        let o = &mut self.objects[idx];
        if o.object.is_none() {
            return;
        }
        if o.pending.is_none_or(|p| at < p) {
            o.pending = Some(at);
            self.queue.push(at, Event::Reconcile(idx));
        }
    }

    /// Records the host's status and spec facts when they changed since last recorded.
    pub(super) fn note_object(&mut self, idx: usize) {
        let Some(obj) = self.objects[idx].object.as_ref() else {
            return;
        };
        let annotations = obj.metadata.annotations.as_ref();
        let has = |k: &str| annotations.is_some_and(|a| a.contains_key(k));
        let inspection_disabled = annotations
            .and_then(|a| a.get(metal_core::api::annotations::INSPECT))
            .is_some_and(|v| v == metal_core::api::annotations::INSPECT_DISABLED)
            || serde_json::to_value(&obj.spec.inspection_mode)
                .ok()
                .and_then(|v| v.as_str().map(|s| s == "disabled"))
                .unwrap_or(false);
        let key = self.objects[idx].key.clone();
        let host = host_name(&key);
        let facts = Happening::HostFacts {
            host: host.clone(),
            online: obj.spec.online,
            detached: has(metal_core::api::annotations::DETACHED),
            inspection_disabled,
            externally_provisioned: obj.spec.externally_provisioned,
            consumer: obj.spec.consumer_ref.as_ref().and_then(|c| c.name.clone()),
        };
        let status = obj.status.as_ref().map(|st| Happening::HostStatus {
            host,
            operational_status: st.operational_status.as_str().to_owned(),
            error_type: st.error_type.map(|e| e.as_str().to_owned()),
            error_count: u32::try_from(st.error_count).unwrap_or(0),
            powered_on: Some(st.powered_on),
        });
        if self.objects[idx].last_facts.as_ref() != Some(&facts) {
            self.objects[idx].last_facts = Some(facts.clone());
            self.record(facts);
        }
        if let Some(status) = status
            && self.objects[idx].last_status.as_ref() != Some(&status)
        {
            self.objects[idx].last_status = Some(status.clone());
            self.record(status);
        }
    }

    /// A change to the object reaches the operator's watch.
    pub(super) fn watch_event(&mut self, idx: usize) {
        self.note_object(idx);
        let at = self.now + self.settings.watch_latency;
        self.schedule_reconcile(idx, at);
    }

    // ----- machines -----

    /// Drains the machine's events into the trace and schedules its next transition.
    pub(super) fn after_machine(&mut self, i: usize) {
        let events = self.machines[i].machine.take_events();
        if !events.is_empty() {
            let name = self.machines[i].spec.name.clone();
            for e in events {
                match &e {
                    MachineEvent::Booted { record } => {
                        if let BootOutcome::Ramdisk { .. } = record.outcome {
                            self.start_agent(i, record.count);
                        } else {
                            self.machines[i].agent = None;
                        }
                    }
                    MachineEvent::PowerChanged {
                        to: PowerState::Off,
                        ..
                    } => self.machines[i].agent = None,
                    _ => {}
                }
                if self.settings.trace >= TraceLevel::Full
                    && let Some(change) = machine_change(&e)
                {
                    self.record(Happening::Machine {
                        host: name.clone(),
                        change,
                    });
                }
            }
        }
        if let Some(due) = self.machines[i].machine.next_deadline() {
            let at = due.max(self.now);
            if self.machines[i].due.is_none_or(|d| at < d) {
                self.machines[i].due = Some(at);
                self.queue.push(at, Event::MachineTick(i));
            }
        }
    }
}

/// The trace's change for a machine event (`None` for events the trace has no change for).
fn machine_change(e: &MachineEvent) -> Option<MachineChange> {
    Some(match e {
        MachineEvent::PowerChanged {
            to: PowerState::On, ..
        } => MachineChange::PoweredOn,
        MachineEvent::PowerChanged {
            to: PowerState::Off,
            ..
        } => MachineChange::PoweredOff,
        MachineEvent::Booted { record } => match record.outcome {
            BootOutcome::Ramdisk { .. } => MachineChange::BootedRamdisk,
            BootOutcome::Disk { .. } => MachineChange::BootedDisk,
            _ => return None,
        },
        MachineEvent::DiskChanged { bootable: true, .. } => MachineChange::ImageWritten,
        MachineEvent::DiskChanged {
            bootable: false, ..
        } => MachineChange::DisksWiped,
        _ => return None,
    })
}
