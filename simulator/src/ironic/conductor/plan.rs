//! Plans: the step lists a provision action runs, chosen by the node's interfaces as Ironic does.

use super::settings::Timings;
use super::{BmcOp, BootDevice};
use crate::ironic::model::{Node, NodePower, ProvisionState, default_interface};
use chrono::TimeDelta;
use serde_json::Value;

/// A phase in which the conductor waits for the node's agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentPhase {
    /// `wait call-back` (deploy steps).
    Deploy,
    /// `clean wait` (clean steps).
    Clean,
    /// `inspect wait` (the agent posts its inventory).
    Inspect,
}

impl AgentPhase {
    /// The state the node waits in.
    pub fn wait_state(self) -> ProvisionState {
        match self {
            Self::Deploy => ProvisionState::WaitCallBack,
            Self::Clean => ProvisionState::CleanWait,
            Self::Inspect => ProvisionState::InspectWait,
        }
    }

    /// The state the node works in while the conductor talks to the agent.
    pub fn busy_state(self) -> ProvisionState {
        match self {
            Self::Deploy => ProvisionState::Deploying,
            Self::Clean => ProvisionState::Cleaning,
            Self::Inspect => ProvisionState::Inspecting,
        }
    }

    /// "deploy" or "clean" (command and message names).
    pub fn word(self) -> &'static str {
        match self {
            Self::Deploy => "deploy",
            Self::Clean => "clean",
            Self::Inspect => "inspect",
        }
    }
}

/// An in-band step of a plan: something to ask the agent.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentStep {
    /// `deploy.get_deploy_steps` / `clean.get_clean_steps` (synchronous).
    GetSteps(AgentPhase),
    /// Take the next chosen in-band step off the job's queue (no call by itself).
    RunNext(AgentPhase),
    /// `deploy.execute_deploy_step` / `clean.execute_clean_step` (asynchronous).
    Execute(AgentPhase, Value),
    /// `GET /v1/commands/` on a heartbeat: did the running step finish?
    Poll(AgentPhase, Value),
    /// `standby.get_partition_uuids`.
    PartitionUuids,
    /// `image.install_bootloader`.
    InstallBootloader,
    /// `standby.power_off` (the conductor then forces power off through the BMC).
    PowerOff,
}

/// One step of a job.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Let simulated time pass.
    Wait(TimeDelta),
    /// Move the node to a provision state.
    Enter(ProvisionState),
    /// A BMC operation.
    Call(BmcOp),
    /// Manual clean steps on a driver without an agent: any step is unsupported.
    CleanSteps(Vec<Value>),
    /// Stamp `inspection_finished_at`.
    MarkInspected,
    /// Forget the agent's token and URL (a fresh ramdisk boot, or the agent is gone).
    WipeAgent,
    /// Release the lock and wait in the phase's wait state for a heartbeat (or the inventory).
    AwaitAgent(AgentPhase),
    /// Ask the agent.
    Agent(AgentStep),
    /// An out-of-band clean step's part (no agent).
    Oob(super::oob::OobStep),
}

/// How a node deploys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeployMode {
    /// `fake` deploy or power: time passes, nothing else.
    Fake,
    /// `ramdisk`: boot the ramdisk and call it active; no agent.
    Ramdisk,
    /// `direct`: the agent writes the image.
    Direct,
    /// `custom-agent`: the deploy steps come from the agent.
    Custom,
}

/// How a node is inspected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InspectMode {
    /// `fake`: time passes.
    Fake,
    /// `agent`: boot the ramdisk and wait for `continue_inspection`.
    Agent,
    /// Out of band over the BMC (`redfish`).
    OutOfBand,
}

/// The node's implementation of an interface (its own, or the hardware type's default).
pub fn interface<'a>(node: &'a Node, name: &str) -> &'a str {
    node.interfaces
        .get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| default_interface(&node.driver, name))
}

/// True when power is simulated (no BMC on the wire).
pub fn uses_fake_power(node: &Node) -> bool {
    interface(node, "power") == "fake"
}

/// The node's deploy mode.
pub fn deploy_mode(node: &Node) -> DeployMode {
    if uses_fake_power(node) {
        return DeployMode::Fake;
    }
    match interface(node, "deploy") {
        "fake" => DeployMode::Fake,
        "ramdisk" => DeployMode::Ramdisk,
        "custom-agent" => DeployMode::Custom,
        _ => DeployMode::Direct,
    }
}

/// The node's inspection mode.
pub fn inspect_mode(node: &Node) -> InspectMode {
    if uses_fake_power(node) {
        return InspectMode::Fake;
    }
    match interface(node, "inspect") {
        "fake" => InspectMode::Fake,
        "agent" => InspectMode::Agent,
        _ => InspectMode::OutOfBand,
    }
}

/// Boots the deploy ramdisk: forget the old agent, network boot, power cycle.
fn boot_ramdisk(steps: &mut Vec<Step>) {
    steps.extend([
        Step::WipeAgent,
        Step::Call(BmcOp::SetPower(NodePower::Off)),
        Step::Call(BmcOp::SetBootDevice(BootDevice::Pxe)),
        Step::Call(BmcOp::SetPower(NodePower::On)),
    ]);
}

/// Cleaning (automated when `requested` is None, manual otherwise) ending powered off.
pub fn cleaning(node: &Node, t: &Timings, requested: Option<Vec<Value>>) -> Vec<Step> {
    let mut steps = vec![Step::Enter(ProvisionState::Cleaning)];
    match deploy_mode(node) {
        DeployMode::Fake => {
            if let Some(r) = requested {
                steps.push(Step::CleanSteps(r));
            }
            steps.push(Step::Wait(t.clean));
        }
        _ => {
            // Steps the node's interfaces run over the BMC alone boot no ramdisk.
            if let Some(oob) = requested.as_deref().and_then(|r| super::oob::plan(node, r)) {
                steps.extend(oob);
                return steps;
            }
            boot_ramdisk(&mut steps);
            steps.extend([
                Step::AwaitAgent(AgentPhase::Clean),
                Step::Agent(AgentStep::GetSteps(AgentPhase::Clean)),
                Step::Agent(AgentStep::RunNext(AgentPhase::Clean)),
                Step::WipeAgent,
                Step::Call(BmcOp::SetPower(NodePower::Off)),
            ]);
        }
    }
    steps
}

/// Servicing a deployed node, ending in `active`. Only out-of-band steps are served: a service
/// needing the ramdisk is refused at once.
pub fn servicing(node: &Node, requested: &[Value]) -> Vec<Step> {
    let mut steps = vec![Step::Enter(ProvisionState::Servicing)];
    match super::oob::plan(node, requested) {
        Some(oob) => steps.extend(oob),
        None => steps.push(Step::Oob(super::oob::OobStep::Refuse(requested.to_vec()))),
    }
    steps
}

/// A deployment ending in `active`.
pub fn deployment(node: &Node, t: &Timings) -> Vec<Step> {
    let mut steps = vec![Step::Enter(ProvisionState::Deploying)];
    let mode = deploy_mode(node);
    match mode {
        DeployMode::Fake => steps.push(Step::Wait(t.deploy)),
        DeployMode::Ramdisk => boot_ramdisk(&mut steps),
        DeployMode::Direct | DeployMode::Custom => {
            boot_ramdisk(&mut steps);
            steps.extend([
                Step::AwaitAgent(AgentPhase::Deploy),
                Step::Agent(AgentStep::GetSteps(AgentPhase::Deploy)),
                Step::Agent(AgentStep::RunNext(AgentPhase::Deploy)),
            ]);
            if mode == DeployMode::Direct {
                steps.extend([
                    Step::Agent(AgentStep::PartitionUuids),
                    Step::Agent(AgentStep::InstallBootloader),
                ]);
            }
            steps.extend([
                Step::Call(BmcOp::SetBootDevice(BootDevice::Disk)),
                Step::Agent(AgentStep::PowerOff),
                Step::Call(BmcOp::SetPower(NodePower::Off)),
                Step::WipeAgent,
                Step::Call(BmcOp::SetPower(NodePower::On)),
            ]);
        }
    }
    steps
}

/// An inspection ending in `manageable`.
pub fn inspection(node: &Node, t: &Timings) -> Vec<Step> {
    let mut steps = vec![Step::Enter(ProvisionState::Inspecting)];
    match inspect_mode(node) {
        InspectMode::Fake => steps.push(Step::Wait(t.inspect)),
        InspectMode::OutOfBand => {
            steps.push(Step::Call(BmcOp::GetSystem));
            steps.push(Step::Wait(t.inspect));
        }
        InspectMode::Agent => {
            boot_ramdisk(&mut steps);
            steps.extend([
                Step::AwaitAgent(AgentPhase::Inspect),
                Step::WipeAgent,
                Step::Call(BmcOp::SetPower(NodePower::Off)),
            ]);
        }
    }
    steps.push(Step::MarkInspected);
    steps
}

/// The `write_image` deploy step Ironic's direct deploy sends, built from the node's instance_info.
pub fn write_image_step(node: &Node) -> Value {
    let ii = &node.instance_info;
    let text = |k: &str| ii.get(k).cloned().unwrap_or(Value::Null);
    let source = ii
        .get("image_source")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let url = ii
        .get("image_url")
        .and_then(Value::as_str)
        .unwrap_or(source);
    let mut info = serde_json::Map::new();
    info.insert(
        "id".into(),
        Value::String(source.rsplit('/').next().unwrap_or_default().to_string()),
    );
    info.insert("urls".into(), serde_json::json!([url]));
    info.insert("disk_format".into(), text("image_disk_format"));
    info.insert("container_format".into(), text("image_container_format"));
    info.insert("stream_raw_images".into(), Value::Bool(true));
    if let Some(c) = ii.get("image_checksum").filter(|v| !v.is_null()) {
        info.insert("checksum".into(), c.clone());
    }
    if let (Some(a), Some(v)) = (
        ii.get("image_os_hash_algo").filter(|v| !v.is_null()),
        ii.get("image_os_hash_value").filter(|v| !v.is_null()),
    ) {
        info.insert("os_hash_algo".into(), a.clone());
        info.insert("os_hash_value".into(), v.clone());
    }
    info.insert("node_uuid".into(), Value::String(node.uuid.to_string()));
    let configdrive = text("configdrive");
    if !configdrive.is_null() {
        info.insert("configdrive".into(), configdrive.clone());
    }
    serde_json::json!({
        "interface": "deploy",
        "step": "write_image",
        "priority": 80,
        "args": {"image_info": Value::Object(info), "configdrive": configdrive},
    })
}
