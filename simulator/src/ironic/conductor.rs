//! The conductor: Ironic's provision state machine as a pure core stepped by time.
//!
//! Requests start jobs (holding the node's lock); `step(now)` advances due jobs and returns the calls the
//! shell must perform — BMC operations and agent commands; `complete` feeds each call's outcome back.
//! Heartbeats (`heartbeat`) and inventories (`continue_inspection`) resume jobs parked in a wait state.
//! `fake` interfaces never leave the core.

use super::encoding::python_repr;
use super::error::ApiError;
use super::model::{HistoryEvent, Node, NodePower, ProvisionState, record_history};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};
use uuid::Uuid;

mod call;
mod callback;
mod inband;
mod inventory;
/// The node database: nodes by UUID, their names, their rendered documents.
mod node_table;
/// Out-of-band clean steps (over the BMC, no ramdisk).
mod oob;
mod plan;
/// Requests the API hands the conductor: provision-state actions and power changes.
mod requests;
/// What a finished BMC call writes into the node's record.
mod results;
mod settings;

pub use call::{
    AgentCall, AgentOp, BmcOp, BootDevice, BootModeTarget, Call, CallResult, DriverCall,
};
pub use inventory::DiscoveredPort;
pub use node_table::NodeTable;
pub use plan::{AgentPhase, AgentStep, DeployMode, InspectMode, deploy_mode, inspect_mode};
pub use settings::{Settings, Target, Timings};

use inband::InBand;
use plan::{Step, uses_fake_power};

#[derive(Debug, Clone, PartialEq)]
enum JobKind {
    Provision {
        done: ProvisionState,
        failed: ProvisionState,
    },
    Power(NodePower),
    Sync,
    /// A boot mode or secure boot change: a failure only sets `last_error`.
    Management,
}

#[derive(Debug, Clone, PartialEq)]
enum Pending {
    Bmc(BmcOp),
    Agent(AgentStep),
}

#[derive(Debug, Clone, PartialEq)]
struct Job {
    kind: JobKind,
    steps: VecDeque<Step>,
    due: DateTime<Utc>,
    waiting: Option<(u64, Pending)>,
    /// Parked in a wait state (lock released) until the agent calls back or `due` (the timeout) passes.
    parked: Option<AgentPhase>,
    inband: InBand,
    /// The BIOS attributes the last `GetBios` of this job read (out-of-band steps compare them).
    bios_read: serde_json::Map<String, Value>,
}

impl Job {
    fn new(kind: JobKind, steps: impl Into<VecDeque<Step>>, now: DateTime<Utc>) -> Self {
        Self {
            kind,
            steps: steps.into(),
            due: now,
            waiting: None,
            parked: None,
            inband: InBand::default(),
            bios_read: serde_json::Map::new(),
        }
    }
}

/// The conductor and its node database.
#[derive(Debug, Clone, Default)]
pub struct Conductor {
    /// All nodes, by UUID (with their name index and rendered documents).
    pub nodes: NodeTable,
    settings: Settings,
    jobs: BTreeMap<Uuid, Job>,
    next_call: u64,
    power_failures: BTreeMap<Uuid, u32>,
    last_sync: BTreeMap<Uuid, DateTime<Utc>>,
    /// When [`Conductor::step`] next looks for nodes whose power sync is due.
    next_sync_scan: Option<DateTime<Utc>>,
    discovered: Vec<DiscoveredPort>,
}

/// [`Conductor::step`] looks for due power syncs this many times per sync period (at most once a
/// second): a node's sync starts at most that much late, and a step costs what its due jobs cost
/// instead of a look at every node of the fleet.
const SYNC_SCANS_PER_PERIOD: i32 = 10;

/// Consecutive failed power reads before Ironic declares a power failure.
const POWER_SYNC_MAX_RETRIES: u32 = 3;

impl Conductor {
    /// An empty conductor.
    pub fn new(settings: Settings) -> Self {
        Self {
            settings,
            ..Self::default()
        }
    }

    /// The settings it runs with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// True while a job holds the node's lock (a job parked in a wait state does not).
    pub fn is_locked(&self, node: Uuid) -> bool {
        self.jobs
            .get(&node)
            .is_some_and(|j| !matches!(j.kind, JobKind::Sync) && j.parked.is_none())
    }

    /// The phase a node's job is parked in, waiting for its agent.
    pub fn parked(&self, node: Uuid) -> Option<AgentPhase> {
        self.jobs.get(&node).and_then(|j| j.parked)
    }

    /// Ports discovered by inspection since the last call; the shell creates those not yet known.
    pub fn take_discovered_ports(&mut self) -> Vec<DiscoveredPort> {
        std::mem::take(&mut self.discovered)
    }

    /// The node `uuid`, or Ironic's 404.
    pub fn node(&self, uuid: Uuid) -> Result<&Node, ApiError> {
        self.nodes
            .get(&uuid)
            .ok_or_else(|| ApiError::NodeNotFound(uuid.to_string()))
    }

    /// The node `uuid` to change, or Ironic's 404.
    pub fn node_mut(&mut self, uuid: Uuid) -> Result<&mut Node, ApiError> {
        self.nodes
            .get_mut(&uuid)
            .ok_or_else(|| ApiError::NodeNotFound(uuid.to_string()))
    }

    /// Fails with NodeLocked when the conductor holds the node.
    pub fn ensure_unlocked(&self, node: Uuid) -> Result<(), ApiError> {
        if self.is_locked(node) {
            Err(ApiError::NodeLocked(node.to_string()))
        } else {
            Ok(())
        }
    }

    /// Advances every due job and schedules power syncs; returns the calls to perform. Nodes are
    /// looked at for power syncs [`SYNC_SCANS_PER_PERIOD`] times per sync period; otherwise only
    /// the nodes whose job is due are.
    pub fn step(&mut self, now: DateTime<Utc>) -> Vec<Call> {
        if self.next_sync_scan.is_none_or(|at| now >= at) {
            let uuids: Vec<Uuid> = self.nodes.keys().copied().collect();
            for uuid in uuids {
                self.schedule_power_sync(uuid, now);
            }
            let every = (self.settings.timings.power_sync / SYNC_SCANS_PER_PERIOD)
                .clamp(TimeDelta::zero(), TimeDelta::seconds(1));
            self.next_sync_scan = Some(now + every);
        }
        let due: Vec<Uuid> = self
            .jobs
            .iter()
            .filter(|(_, j)| j.waiting.is_none() && j.due <= now)
            .map(|(uuid, _)| *uuid)
            .collect();
        due.into_iter()
            .filter_map(|uuid| self.step_job(uuid, now))
            .collect()
    }

    /// Advances node `uuid`'s job if due, or starts its power sync when one is due; returns the
    /// call to perform, if any. What [`Conductor::step`] does for every node, for one (engine
    /// mode steps each node when it is due, so a step costs the same however large the fleet).
    pub fn step_node(&mut self, uuid: Uuid, now: DateTime<Utc>) -> Option<Call> {
        self.schedule_power_sync(uuid, now);
        self.step_job(uuid, now)
    }

    /// Advances node `uuid`'s job if it is due.
    fn step_job(&mut self, uuid: Uuid, now: DateTime<Utc>) -> Option<Call> {
        let job = self.jobs.get(&uuid)?;
        if job.waiting.is_some() || job.due > now {
            return None;
        }
        if let Some(phase) = job.parked {
            self.time_out(uuid, phase, now);
            return None;
        }
        self.advance(uuid, now)
    }

    /// The earliest time a job becomes due or a wait times out (the shell sleeps until then).
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        self.jobs
            .values()
            .filter(|j| j.waiting.is_none())
            .map(|j| j.due)
            .chain(self.next_sync_scan.filter(|_| !self.nodes.is_empty()))
            .min()
    }

    /// When node `uuid`'s job becomes due or its wait times out, if it has one.
    pub fn next_due_of(&self, uuid: Uuid) -> Option<DateTime<Utc>> {
        self.jobs
            .get(&uuid)
            .filter(|j| j.waiting.is_none())
            .map(|j| j.due)
    }

    fn schedule_power_sync(&mut self, uuid: Uuid, now: DateTime<Utc>) {
        let interval = self.settings.timings.power_sync;
        let due =
            self.nodes.get(&uuid).is_some_and(|n| {
                !uses_fake_power(n) && n.provision_state != ProvisionState::Enroll
            }) && !self.jobs.contains_key(&uuid)
                && self
                    .last_sync
                    .get(&uuid)
                    .is_none_or(|t| now - *t >= interval);
        if due {
            self.last_sync.insert(uuid, now);
            // After the power state, Ironic caches the boot mode and the health where the
            // management interface reads them.
            let mut steps = vec![Step::Call(BmcOp::GetPower)];
            if self.nodes.get(&uuid).is_some_and(|n| {
                n.interfaces.get("management").and_then(Value::as_str) == Some("redfish")
            }) {
                steps.extend([Step::Call(BmcOp::GetBootMode), Step::Call(BmcOp::GetHealth)]);
            }
            self.jobs.insert(uuid, Job::new(JobKind::Sync, steps, now));
        }
    }

    fn advance(&mut self, uuid: Uuid, now: DateTime<Utc>) -> Option<Call> {
        loop {
            let job = self.jobs.get_mut(&uuid)?;
            let Some(step) = job.steps.pop_front() else {
                self.finish(uuid, now);
                return None;
            };
            let node = self.nodes.get_mut(&uuid)?;
            match step {
                Step::Wait(d) => {
                    if d > TimeDelta::zero() {
                        job.due = now + d;
                        return None;
                    }
                }
                Step::Enter(state) => {
                    node.provision_state = state;
                    node.provision_updated_at = Some(now);
                    if state == ProvisionState::Inspecting {
                        node.inspection_started_at = Some(now);
                        node.inspection_finished_at = None;
                    }
                }
                Step::MarkInspected => node.inspection_finished_at = Some(now),
                Step::WipeAgent => {
                    node.agent.token = None;
                    node.agent.callback_url = None;
                }
                Step::CleanSteps(steps) => {
                    if let Some(first) = steps.first() {
                        let msg = format!(
                            "Cannot clean node {uuid}: node does not support this clean step: {}",
                            python_repr(first)
                        );
                        self.fail(uuid, msg, now);
                        return None;
                    }
                }
                Step::Oob(oob::OobStep::Run(user)) => {
                    let stored = oob::stored(&user);
                    let working = node.provision_state;
                    node.misc.insert(step_key(working).into(), stored.clone());
                    job.inband.current = Some(stored);
                    match oob::expand(node, &job.bios_read, &user, working) {
                        Ok(more) => {
                            for s in more.into_iter().rev() {
                                job.steps.push_front(s);
                            }
                        }
                        Err(msg) => {
                            self.fail_step(uuid, msg, now);
                            return None;
                        }
                    }
                }
                Step::Oob(oob::OobStep::Park) => {
                    // Ironic's periodic check resumes the step once the reboot is done.
                    node.provision_state = match node.provision_state {
                        ProvisionState::Servicing => ProvisionState::ServiceWait,
                        _ => ProvisionState::CleanWait,
                    };
                    node.provision_updated_at = Some(now);
                    node.reservation = None;
                    job.due = now + self.settings.timings.clean;
                    return None;
                }
                Step::Oob(oob::OobStep::Refuse(requested)) => {
                    self.fail(uuid, oob::refused(&uuid.to_string(), &requested), now);
                    return None;
                }
                Step::Oob(oob::OobStep::VerifyBios(asked)) => {
                    let left = oob::unapplied(&asked, &job.bios_read);
                    if !left.is_empty() {
                        self.fail_step(uuid, oob::not_updated(&left), now);
                        return None;
                    }
                }
                Step::AwaitAgent(phase) => {
                    node.provision_state = phase.wait_state();
                    node.provision_updated_at = Some(now);
                    node.reservation = None;
                    job.parked = Some(phase);
                    job.due = now + self.settings.timings.callback_timeout;
                    return None;
                }
                Step::Agent(AgentStep::RunNext(phase)) => {
                    if let Some(next) = job.inband.queue.pop_front() {
                        job.inband.current = Some(next.clone());
                        for s in [
                            Step::Agent(AgentStep::RunNext(phase)),
                            Step::Agent(AgentStep::Poll(phase, next.clone())),
                            Step::AwaitAgent(phase),
                            Step::Agent(AgentStep::Execute(phase, next)),
                        ] {
                            job.steps.push_front(s);
                        }
                    } else {
                        job.inband.current = None;
                    }
                }
                Step::Agent(agent_step) => {
                    let Some(op) = inband::command(&agent_step, node, &job.inband) else {
                        continue;
                    };
                    let Some(callback_url) = node.agent.callback_url.clone() else {
                        let msg = format!(
                            "Connection to agent failed: Agent driver requires agent_url in driver_internal_info (node {uuid})"
                        );
                        self.fail(uuid, msg, now);
                        return None;
                    };
                    self.next_call += 1;
                    let id = self.next_call;
                    job.waiting = Some((id, Pending::Agent(agent_step)));
                    return Some(Call::Agent(AgentCall {
                        id,
                        node: uuid,
                        callback_url,
                        token: node.agent.token.clone(),
                        op,
                    }));
                }
                Step::Call(op) => {
                    self.next_call += 1;
                    let id = self.next_call;
                    job.waiting = Some((id, Pending::Bmc(op.clone())));
                    return Some(Call::Bmc(DriverCall {
                        id,
                        node: uuid,
                        driver: node.driver.clone(),
                        driver_info: node.driver_info.clone(),
                        op,
                    }));
                }
            }
        }
    }

    /// Feeds back the outcome of a call; the job continues at the next `step`.
    pub fn complete(
        &mut self,
        call_id: u64,
        outcome: Result<CallResult, String>,
        now: DateTime<Utc>,
    ) {
        let Some(uuid) = self.jobs.iter().find_map(|(u, j)| {
            j.waiting
                .as_ref()
                .is_some_and(|(id, _)| *id == call_id)
                .then_some(*u)
        }) else {
            return;
        };
        self.complete_node(uuid, call_id, outcome, now);
    }

    /// [`Conductor::complete`] for a call known to be node `uuid`'s (no search).
    pub fn complete_node(
        &mut self,
        uuid: Uuid,
        call_id: u64,
        outcome: Result<CallResult, String>,
        now: DateTime<Utc>,
    ) {
        let Some(pending) = self.jobs.get(&uuid).and_then(|j| {
            j.waiting
                .as_ref()
                .filter(|(id, _)| *id == call_id)
                .map(|(_, p)| p.clone())
        }) else {
            return;
        };
        match pending {
            Pending::Bmc(op) => self.complete_bmc(uuid, op, outcome, now),
            Pending::Agent(step) => self.complete_agent(uuid, step, outcome, now),
        }
    }

    fn complete_bmc(
        &mut self,
        uuid: Uuid,
        op: BmcOp,
        outcome: Result<CallResult, String>,
        now: DateTime<Utc>,
    ) {
        let sync = self
            .jobs
            .get(&uuid)
            .is_some_and(|j| j.kind == JobKind::Sync);
        // Ironic caches BIOS settings and firmware components on a best-effort basis: a failed
        // read is logged and the job goes on with the cache as it was.
        let outcome = match (&op, outcome) {
            (BmcOp::GetBios, Err(e)) => {
                tracing::warn!(node = %uuid, error = %e, "caching BIOS settings failed");
                Ok(CallResult::Done)
            }
            (BmcOp::GetFirmware, Err(e)) => {
                tracing::warn!(node = %uuid, error = %e, "caching firmware components failed");
                Ok(CallResult::Done)
            }
            (BmcOp::GetBootMode | BmcOp::GetHealth, Err(e)) => {
                tracing::warn!(node = %uuid, error = %e, ?op, "caching the boot mode or health failed");
                Ok(CallResult::Done)
            }
            (_, outcome) => outcome,
        };
        match outcome {
            Ok(result) => {
                if let Some(n) = self.nodes.get_mut(&uuid) {
                    let recorded = results::record(n, uuid, &op, result, now);
                    if let Some(read) = recorded.bios_read
                        && let Some(j) = self.jobs.get_mut(&uuid)
                    {
                        j.bios_read = read;
                    }
                    self.discovered.extend(recorded.discovered);
                    if sync && n.fault.as_deref() == Some("power failure") {
                        n.fault = None;
                        n.maintenance = false;
                        n.maintenance_reason = None;
                    }
                }
                self.power_failures.remove(&uuid);
                if let Some(j) = self.jobs.get_mut(&uuid) {
                    j.waiting = None;
                    j.due = now;
                }
            }
            Err(e) if self.jobs.get(&uuid).map(|j| &j.kind) == Some(&JobKind::Management) => {
                self.jobs.remove(&uuid);
                if let Some(n) = self.nodes.get_mut(&uuid) {
                    n.reservation = None;
                    n.last_error = Some(management_failure(op, uuid, &e));
                }
            }
            Err(e) if sync => {
                let count = self.power_failures.entry(uuid).or_insert(0);
                *count += 1;
                if *count >= POWER_SYNC_MAX_RETRIES
                    && let Some(n) = self.nodes.get_mut(&uuid)
                    && !n.maintenance
                {
                    n.maintenance = true;
                    n.fault = Some("power failure".into());
                    n.maintenance_reason = Some(format!(
                        "During sync_power_state, max retries exceeded for node {uuid}, node state {} does not match expected state 'None'. Updating DB state to 'None' Switching node to maintenance mode. Error: {e}",
                        n.power_state.map_or("None", NodePower::as_str)
                    ));
                    n.power_state = None;
                }
                self.jobs.remove(&uuid);
            }
            Err(e) if matches!(op, BmcOp::PatchBiosSettings(_) | BmcOp::ResetBios) => {
                let step = self
                    .jobs
                    .get(&uuid)
                    .and_then(|j| j.inband.current.clone())
                    .unwrap_or_default();
                let msg = oob::call_failed(&uuid.to_string(), &step, &op, &e);
                self.fail_step(uuid, msg, now);
            }
            Err(e) => {
                let msg = match (&op, self.nodes.get(&uuid).map(|n| n.provision_state)) {
                    (BmcOp::SetPower(p), _) => format!(
                        "Failed to change power state to '{}' by '{}'. Error: {e}",
                        p.settled().as_str(),
                        p.as_str()
                    ),
                    (BmcOp::GetPower, Some(ProvisionState::Verifying)) => {
                        format!("Failed to get power state for node {uuid}. Error: {e}")
                    }
                    (BmcOp::SetBootDevice(_), _) => {
                        format!("Failed to set boot device for node {uuid}. Error: {e}")
                    }
                    _ => e,
                };
                self.fail(uuid, msg, now);
            }
        }
    }

    /// A running clean step failed: as Ironic does, the node also goes into maintenance with the
    /// fault `clean failure`, and its `clean_step` is emptied.
    fn fail_step(&mut self, uuid: Uuid, msg: String, now: DateTime<Utc>) {
        if let Some(n) = self.nodes.get_mut(&uuid) {
            let servicing = matches!(
                n.provision_state,
                ProvisionState::Servicing | ProvisionState::ServiceWait
            );
            n.maintenance = true;
            n.fault = Some(
                if servicing {
                    "service failure"
                } else {
                    "clean failure"
                }
                .into(),
            );
            n.misc.insert(
                step_key(n.provision_state).into(),
                Value::Object(serde_json::Map::new()),
            );
        }
        self.fail(uuid, msg, now);
    }

    fn fail(&mut self, uuid: Uuid, msg: String, now: DateTime<Utc>) {
        let Some(job) = self.jobs.remove(&uuid) else {
            return;
        };
        let Some(n) = self.nodes.get_mut(&uuid) else {
            return;
        };
        // The failure is recorded in the node's history too, as Ironic records it.
        let event_type = match job.kind {
            JobKind::Provision { .. } => n.provision_state.as_str().to_string(),
            JobKind::Power(_) | JobKind::Sync | JobKind::Management => "power".to_string(),
        };
        let duration = n.provision_updated_at.map(|t| (now - t).num_seconds());
        let failed_state = match &job.kind {
            JobKind::Provision { failed, .. } => *failed,
            _ => n.provision_state,
        };
        let event = HistoryEvent {
            uuid: history_uuid(uuid, n.history.len(), now),
            created_at: now,
            severity: "ERROR",
            event_type,
            event: msg.clone(),
            state: failed_state.as_str().to_string(),
            target_provision_state: None,
            duration_seconds: duration,
        };
        record_history(&mut n.history, event);
        n.last_error = Some(msg);
        n.reservation = None;
        match job.kind {
            JobKind::Provision { failed, .. } => {
                n.provision_state = failed;
                // Failures that stay in enroll keep no target; failed states remember where they were going.
                n.target_provision_state = match failed {
                    ProvisionState::CleanFailed => Some(ProvisionState::Manageable),
                    ProvisionState::DeployFailed => Some(ProvisionState::Active),
                    ProvisionState::InspectFailed => Some(ProvisionState::Manageable),
                    ProvisionState::ServiceFailed => Some(ProvisionState::Active),
                    _ => None,
                };
                n.provision_updated_at = Some(now);
            }
            JobKind::Power(_) => n.target_power_state = None,
            JobKind::Sync | JobKind::Management => {}
        }
    }

    fn finish(&mut self, uuid: Uuid, now: DateTime<Utc>) {
        let Some(job) = self.jobs.remove(&uuid) else {
            return;
        };
        let Some(n) = self.nodes.get_mut(&uuid) else {
            return;
        };
        match job.kind {
            JobKind::Provision { done, .. } => {
                n.provision_state = done;
                n.target_provision_state = None;
                n.provision_updated_at = Some(now);
                n.reservation = None;
                n.misc.remove("clean_step");
                n.misc.remove("service_step");
            }
            JobKind::Power(p) => {
                n.power_state = Some(p.settled());
                n.target_power_state = None;
                n.reservation = None;
                n.driver_internal_info.insert(
                    "last_power_state_change".into(),
                    Value::String(now.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()),
                );
            }
            JobKind::Sync => {}
            JobKind::Management => n.reservation = None,
        }
    }

    /// Removes a node and any job it has.
    pub fn remove(&mut self, uuid: Uuid) -> Option<Node> {
        self.jobs.remove(&uuid);
        self.power_failures.remove(&uuid);
        self.last_sync.remove(&uuid);
        self.nodes.remove(&uuid)
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod agent_tests;

#[cfg(test)]
mod oob_tests;

/// The node field holding the running step of a working state.
fn step_key(working: ProvisionState) -> &'static str {
    match working {
        ProvisionState::Servicing | ProvisionState::ServiceWait => "service_step",
        _ => "clean_step",
    }
}

/// A history event's UUID: random-looking, reproducible from the node, its event count and the
/// time (the conductor has no random source of its own).
/// `last_error` after a failed boot mode or secure boot change, in Ironic's words (its boot mode
/// text lacks a closing quote), or a failed NMI (Ironic answers that one to the request).
pub(crate) fn management_failure(op: BmcOp, node: Uuid, e: &str) -> String {
    match op {
        BmcOp::InjectNmi => format!("Redfish inject NMI failed for node {node}. Error: {e}"),
        BmcOp::SetBootMode(m) => format!("Failed to change boot mode to '{}: {e}", m.as_str()),
        BmcOp::SetSecureBoot(on) => format!(
            "Failed to change secure_boot state to '{}': {e}",
            if on { "True" } else { "False" }
        ),
        _ => e.to_string(),
    }
}

fn history_uuid(node: Uuid, count: usize, now: DateTime<Utc>) -> Uuid {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(node.as_bytes());
    h.update(count.to_le_bytes());
    h.update(now.timestamp_nanos_opt().unwrap_or_default().to_le_bytes());
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}
