//! The fake agent's life in-process: one [`Agent`] core per ramdisk boot, its inspection post,
//! lookup and heartbeats delivered straight to the conductor, and the conductor's agent commands
//! executed on the core against the machine.
//!
//! The schedule is the wire agent's session (`agent/session.rs`): after the ramdisk boots, look the
//! node up (bounded, jittered retries), then post the inspection data (answered 404 unless the node
//! waits in `inspect wait`; a 409 is retried up to five times), then heartbeat at a jittered
//! interval until the machine powers off or boots something else. Ironic's side of each request
//! is the mock's own rule ([`Store`](crate::ironic::api::Store)'s `agent_*`). Image downloads come
//! from [`EngineImages`], an in-memory store.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::agent::image::HashAlgo;
use crate::agent::{Agent, AgentError, Binding, ImageStore, Request};
use crate::fault::Window;
use crate::ironic::conductor::{AgentCall, AgentOp, CallResult};
use crate::machine::{BootOutcome, RamdiskSource, SimTime};
use crate::scenario::trace::{Happening, Protocol};

/// Inspection posts per boot when Ironic answers 409 (as the wire agent).
const INSPECTION_ATTEMPTS: u32 = 5;

/// How agents behave in engine mode.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSettings {
    /// From the ramdisk boot to the agent's first request.
    pub startup: Duration,
    /// Mean heartbeat interval (each wait jittered ±25 %).
    pub heartbeat_interval: Duration,
    /// Lookup attempts before the agent gives up.
    pub lookup_attempts: u32,
    /// First lookup retry delay (doubling, capped at `lookup_cap`, jittered ×0.5–1).
    pub lookup_base: Duration,
    /// Largest lookup retry delay.
    pub lookup_cap: Duration,
}

impl Default for AgentSettings {
    fn default() -> Self {
        AgentSettings {
            startup: Duration::from_secs(20),
            heartbeat_interval: Duration::from_secs(10),
            lookup_attempts: 120,
            lookup_base: Duration::from_millis(200),
            lookup_cap: Duration::from_secs(3),
        }
    }
}

/// Agent faults of one host.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentFaults {
    /// Windows in which the agent's heartbeats never reach Ironic.
    pub heartbeat_loss: Vec<Window>,
}

impl AgentFaults {
    /// True when a heartbeat sent at `now` is lost.
    pub fn loses_heartbeat(&self, now: SimTime) -> bool {
        self.heartbeat_loss.iter().any(|w| w.contains(now))
    }
}

/// Where the agent is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    /// Look the node up; `failures` so far.
    Lookup { failures: u32 },
    /// Post the inspection data for `node`; `attempt` so far (409s are retried).
    Inspect { node: uuid::Uuid, attempt: u32 },
    /// Heartbeat for this node.
    Heartbeat { node: uuid::Uuid },
    /// Gave up (lookup exhausted).
    Idle,
}

/// An agent running in a booted ramdisk.
pub(super) struct RunningAgent {
    pub(super) core: Agent,
    /// The machine boot that started it (a later boot ends it).
    pub(super) boot: u64,
    pub(super) stage: Stage,
    pub(super) callback_url: String,
    pub(super) rng: ChaCha8Rng,
}

impl std::fmt::Debug for RunningAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningAgent")
            .field("boot", &self.boot)
            .field("stage", &self.stage)
            .field("callback_url", &self.callback_url)
            .finish_non_exhaustive()
    }
}

impl RunningAgent {
    /// The next heartbeat's delay: the interval jittered ±25 %.
    pub(super) fn heartbeat_delay(&mut self, settings: &AgentSettings) -> Duration {
        settings
            .heartbeat_interval
            .mul_f64(self.rng.random_range(0.75..=1.25))
    }

    /// The delay before the next lookup after `failures` failures.
    pub(super) fn lookup_delay(&mut self, settings: &AgentSettings, failures: u32) -> Duration {
        let exp = settings
            .lookup_base
            .saturating_mul(1u32 << failures.min(16))
            .min(settings.lookup_cap);
        exp.mul_f64(self.rng.random_range(0.5..=1.0))
    }

    /// Binds the agent to its node after a lookup (or a `continue_inspection` answer).
    pub(super) fn bind(&mut self, node: uuid::Uuid, token: &str) {
        self.core.bind(Binding {
            node_uuid: node.to_string(),
            token: token.to_owned(),
            md5_allowed: false,
        });
    }
}

/// Images the agents download in engine mode: a catalogue, and for any other URL a small
/// deterministic image (`metal-sim engine image <url>`) whose checksum files
/// (`<url>.sha256sum`, `.sha512sum`, `.md5sum`) are served too.
#[derive(Debug, Clone, Default)]
pub struct EngineImages {
    /// URL → bytes, consulted first.
    pub catalogue: BTreeMap<String, Vec<u8>>,
    /// URLs that answer 404 (for failing-download scenarios).
    pub missing: Vec<String>,
}

impl EngineImages {
    /// The bytes of a generated image.
    pub fn generated(url: &str) -> Vec<u8> {
        format!("metal-sim engine image {url}\n").into_bytes()
    }

    /// The checksum an image at `url` has with `algo` (`sha256`, `sha512`, `md5`).
    pub fn checksum(&self, url: &str, algo: &str) -> Option<String> {
        let algo = HashAlgo::parse(algo)?;
        let bytes = self
            .catalogue
            .get(url)
            .cloned()
            .unwrap_or_else(|| Self::generated(url));
        Some(algo.hex_digest(&bytes))
    }
}

impl ImageStore for EngineImages {
    fn fetch(&self, url: &str) -> Result<Vec<u8>, String> {
        if self.missing.iter().any(|m| m == url) {
            return Err(format!("404 Not Found for {url}"));
        }
        if let Some(bytes) = self.catalogue.get(url) {
            return Ok(bytes.clone());
        }
        for (suffix, algo) in [
            (".sha256sum", "sha256"),
            (".sha512sum", "sha512"),
            (".md5sum", "md5"),
        ] {
            if let Some(image) = url.strip_suffix(suffix) {
                let sum = self
                    .checksum(image, algo)
                    .ok_or_else(|| format!("unknown hash {algo}"))?;
                let file = image.rsplit('/').next().unwrap_or(image);
                return Ok(format!("{sum}  {file}\n").into_bytes());
            }
        }
        Ok(Self::generated(url))
    }
}

/// The error text the wire driver reports for an agent that answered with an error.
fn refused(call: &AgentCall, e: &AgentError) -> String {
    let method = call.op.name().unwrap_or("get_commands_status");
    let fault = e
        .body()
        .get("faultstring")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    format!(
        "Agent command {method} for node {} failed. Expected 2xx HTTP status code, got {}. {fault}",
        call.node,
        e.status()
    )
}

/// The error text for an agent that is not there (the ramdisk is not running).
pub(super) fn unreachable(call: &AgentCall) -> String {
    let what = match &call.op {
        AgentOp::Execute { name, .. } => format!("for invoking command {name}"),
        AgentOp::Status => "to collect commands status".to_owned(),
    };
    format!(
        "Connection to agent failed: Failed to connect to the agent running on node {} {what}. Error: connection refused",
        call.node
    )
}

/// Performs an agent call on a running agent.
pub(super) fn perform(
    agent: &mut RunningAgent,
    call: &AgentCall,
    machine: &mut crate::machine::Machine,
    images: &EngineImages,
    now: SimTime,
) -> Result<CallResult, String> {
    agent
        .core
        .authorize(call.token.as_deref())
        .map_err(|e| refused(call, &e))?;
    match &call.op {
        AgentOp::Execute { name, params, .. } => {
            let request = Request::new(name, params.clone()).map_err(|e| refused(call, &e))?;
            let result = agent
                .core
                .execute_with(now, machine, request, images)
                .map_err(|e| refused(call, &e))?;
            Ok(CallResult::Agent(result.to_json()))
        }
        AgentOp::Status => {
            let list: Vec<Value> = agent.core.commands().iter().map(|c| c.to_json()).collect();
            Ok(CallResult::Agent(json!({ "commands": list })))
        }
    }
}

impl super::simulation::Engine {
    /// A ramdisk booted on machine `i`: a fresh agent starts.
    pub(super) fn start_agent(&mut self, i: usize, boot: u64) {
        let slot = &mut self.machines[i];
        slot.agents_started += 1;
        let rng_index = ((i as u64) << 20) | (slot.agents_started & 0xF_FFFF);
        let core = Agent::new(
            &slot.spec.name,
            slot.spec.profile.clone(),
            crate::machine::derive_rng(self.seed, "agent", rng_index),
        );
        slot.agent = Some(RunningAgent {
            core,
            boot,
            stage: Stage::Lookup { failures: 0 },
            callback_url: format!("http://127.0.0.1:9999/engine-agent/{i}/{boot}"),
            rng: crate::machine::derive_rng(self.seed, "agent-life", rng_index),
        });
        let at = self.now + self.settings.agent.startup;
        self.queue
            .push(at, super::simulation::Event::AgentWake { host: i, boot });
    }

    /// Records a call between the agent on machine `i` and Ironic (`lookup`, `heartbeat`,
    /// `continue_inspection`: the agent calls Ironic) or the conductor and the agent (a command);
    /// `status` is the HTTP status the wire would carry, when there is one to tell.
    fn agent_trace(&mut self, i: usize, what: &str, status: Option<u16>, result: String) {
        if !self.traces_calls() {
            return;
        }
        let protocol = match what {
            "lookup" | "heartbeat" | "continue_inspection" => Protocol::Ironic,
            _ => Protocol::Agent,
        };
        self.record(Happening::Call {
            host: Some(self.machines[i].spec.name.clone()),
            protocol,
            method: what.to_owned(),
            target: "agent".into(),
            status,
            action: None,
            detail: Some(result),
        });
    }

    fn wake_agent_at(&mut self, i: usize, boot: u64, after: Duration) {
        let at = self.now + after;
        self.queue
            .push(at, super::simulation::Event::AgentWake { host: i, boot });
    }

    /// The agent on machine `i` does the next thing in its life.
    pub(super) fn agent_wake(&mut self, i: usize, boot: u64) {
        let Some(stage) = self.machines[i]
            .agent
            .as_ref()
            .filter(|a| a.boot == boot)
            .map(|a| a.stage)
        else {
            return;
        };
        match stage {
            Stage::Inspect { node, attempt } => self.agent_inspect(i, boot, node, attempt),
            Stage::Lookup { failures } => self.agent_lookup(i, boot, failures),
            Stage::Heartbeat { node } => self.agent_heartbeat(i, boot, node),
            Stage::Idle => {}
        }
    }

    fn agent_macs(&self, i: usize) -> Vec<String> {
        self.machines[i]
            .spec
            .profile
            .nics
            .iter()
            .map(|n| n.mac.to_ascii_lowercase())
            .collect()
    }

    fn agent_inspect(&mut self, i: usize, boot: u64, bound: uuid::Uuid, attempt: u32) {
        let macs = self.agent_macs(i);
        let bmc_ip = self.machines[i].spec.bmc.socket.ip().to_string();
        let slot = &self.machines[i];
        let pxe_mac = match slot.machine.last_boot().map(|b| &b.outcome) {
            Some(BootOutcome::Ramdisk {
                via: RamdiskSource::Pxe { mac } | RamdiskSource::UefiHttp { mac },
            }) => Some(mac.clone()),
            _ => slot.spec.profile.boot_mac().map(str::to_owned),
        };
        let inventory = crate::agent::inventory::build(
            &slot.spec.name,
            &slot.spec.profile,
            Some(&bmc_ip),
            slot.machine.boot_mode(),
            pxe_mac.as_deref(),
        );
        let data = crate::agent::inventory::inspection_data(&inventory, &slot.spec.profile);
        let map = match data {
            Value::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        let now = self.wall(self.now);
        let bmcs = [bmc_ip];
        let node = self.ironic.store(|s| s.inspection_node(None, &macs, &bmcs));
        let before = node.and_then(|n| self.node_state(n));
        let result = self
            .ironic
            .store(|s| s.agent_continue_inspection(None, &macs, &bmcs, map, true, now));
        let outcome = match result {
            Ok((node, lookup)) => {
                self.agent_trace(i, "continue_inspection", Some(202), "accepted".into());
                if let (Some(a), Some(l)) = (
                    self.machines[i].agent.as_mut(),
                    lookup.filter(|l| l.has_token()),
                ) {
                    a.bind(node, &l.token);
                }
                self.note_node_change(node, before);
                self.schedule_node(node, true);
                None
            }
            // 409: the conductor holds the node; asked again after a lookup-style delay.
            Err(e) if e.status().as_u16() == 409 && attempt + 1 < INSPECTION_ATTEMPTS => {
                self.agent_trace(
                    i,
                    "continue_inspection",
                    Some(409),
                    "409 (node locked)".into(),
                );
                Some(attempt + 1)
            }
            Err(e) => {
                let (status, seen) = if e.status().as_u16() == 404 {
                    (Some(404), "404".to_owned())
                } else {
                    (None, format!("error: {e}"))
                };
                self.agent_trace(i, "continue_inspection", status, seen);
                None
            }
        };
        let settings = self.settings.agent.clone();
        let delay = match (self.machines[i].agent.as_mut(), outcome) {
            (Some(a), Some(attempt)) => {
                a.stage = Stage::Inspect {
                    node: bound,
                    attempt,
                };
                a.lookup_delay(&settings, attempt - 1)
            }
            (Some(a), None) => {
                let node = a
                    .core
                    .binding()
                    .and_then(|b| uuid::Uuid::parse_str(&b.node_uuid).ok())
                    .unwrap_or(bound);
                a.stage = Stage::Heartbeat { node };
                Duration::ZERO
            }
            (None, _) => return,
        };
        self.wake_agent_at(i, boot, delay);
    }

    fn heartbeat_delay(&mut self, i: usize) -> Duration {
        let settings = self.settings.agent.clone();
        self.machines[i]
            .agent
            .as_mut()
            .map_or(settings.heartbeat_interval, |a| {
                a.heartbeat_delay(&settings)
            })
    }

    fn agent_lookup(&mut self, i: usize, boot: u64, failures: u32) {
        let macs = self.agent_macs(i);
        let token = self
            .ironic
            .store(|s| s.agent_lookup(None, &macs))
            .ok()
            .filter(|l| l.has_token())
            .map(|l| (l.node, l.token));
        match token {
            Some((node, token)) => {
                self.agent_trace(i, "lookup", Some(200), format!("found {node}"));
                if let Some(a) = self.machines[i].agent.as_mut() {
                    a.bind(node, &token);
                    a.stage = Stage::Inspect { node, attempt: 0 };
                }
                self.wake_agent_at(i, boot, Duration::ZERO);
            }
            None => {
                let settings = self.settings.agent.clone();
                let failures = failures + 1;
                if failures >= settings.lookup_attempts {
                    self.agent_trace(i, "lookup", None, "gave up".into());
                    if let Some(a) = self.machines[i].agent.as_mut() {
                        a.stage = Stage::Idle;
                    }
                    return;
                }
                let delay = match self.machines[i].agent.as_mut() {
                    Some(a) => {
                        a.stage = Stage::Lookup { failures };
                        a.lookup_delay(&settings, failures - 1)
                    }
                    None => return,
                };
                self.wake_agent_at(i, boot, delay);
            }
        }
    }

    fn agent_heartbeat(&mut self, i: usize, boot: u64, node: uuid::Uuid) {
        let delay = self.heartbeat_delay(i);
        self.wake_agent_at(i, boot, delay);
        if self.machines[i].agent_faults.loses_heartbeat(self.now) {
            self.agent_trace(i, "heartbeat", None, "lost (fault)".into());
            return;
        }
        let Some(agent) = self.machines[i].agent.as_ref() else {
            return;
        };
        let token = agent.core.binding().map(|b| b.token.clone());
        let url = agent.callback_url.clone();
        let Some(token) = token else {
            self.agent_trace(
                i,
                "heartbeat",
                Some(403),
                "403 (invalid agent token)".into(),
            );
            return;
        };
        let wall = self.wall(self.now);
        let before = self.node_state(node);
        let version = Some(crate::agent::core::AGENT_VERSION.to_owned());
        let answer = self
            .ironic
            .store(|s| s.agent_heartbeat(node, &token, url, version, wall));
        let resumed = match answer {
            Ok(resumed) => resumed,
            Err(e) => {
                let (status, seen) = match e.status().as_u16() {
                    404 => (Some(404), "404".to_owned()),
                    409 => (Some(409), "409 (node locked)".to_owned()),
                    403 => (Some(403), "403 (invalid agent token)".to_owned()),
                    _ => (None, format!("error: {e}")),
                };
                self.agent_trace(i, "heartbeat", status, seen);
                return;
            }
        };
        if resumed {
            self.agent_trace(i, "heartbeat", Some(202), "resumed".into());
            self.note_node_change(node, before);
            self.schedule_node(node, true);
        }
    }

    /// The conductor calls an agent: the one whose callback URL it has.
    pub(super) fn agent_call(&mut self, node: uuid::Uuid, call: &AgentCall) {
        let target = call
            .callback_url
            .strip_prefix("http://127.0.0.1:9999/engine-agent/")
            .and_then(|rest| rest.split_once('/'))
            .and_then(|(i, boot)| Some((i.parse::<usize>().ok()?, boot.parse::<u64>().ok()?)))
            .filter(|(i, _)| *i < self.machines.len());
        let what = call.op.name().unwrap_or("get_commands_status").to_owned();
        let now = self.now;
        let outcome = match target {
            Some((i, boot)) => {
                let slot = &mut self.machines[i];
                let outcome = match slot.agent.as_mut().filter(|a| a.boot == boot) {
                    Some(agent) => {
                        perform(agent, call, &mut slot.machine, &self.settings.images, now)
                    }
                    None => Err(unreachable(call)),
                };
                let (status, result) = match &outcome {
                    Ok(_) => (Some(200), "ok".to_owned()),
                    Err(e) => (None, format!("error: {e}")),
                };
                self.agent_trace(i, &what, status, result);
                self.after_machine(i);
                outcome
            }
            None => Err(unreachable(call)),
        };
        self.complete_call(node, call.id, outcome);
    }

    /// Replaces the agent faults of fleet host `name`.
    pub fn set_agent_faults(
        &mut self,
        name: &str,
        faults: AgentFaults,
    ) -> Result<(), super::simulation::EngineError> {
        let i = *self
            .machine_by_name
            .get(name)
            .ok_or_else(|| super::simulation::EngineError::NoSuchMachine(name.to_owned()))?;
        self.record(Happening::Command {
            host: Some(name.to_owned()),
            what: format!(
                "set agent faults {}",
                serde_json::to_string(&faults).unwrap_or_default()
            ),
        });
        self.machines[i].agent_faults = faults;
        Ok(())
    }
}
