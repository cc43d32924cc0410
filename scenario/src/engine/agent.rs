//! The fake agent's life in-process: one [`Agent`] core per ramdisk boot whose [`Life`] (the same
//! machine the wire agent runs, `simulator/src/agent/life.rs`) is carried out on the mock's
//! [`Store`](metal_sim::ironic::api::Store) (`agent_*`: lookup, inspection data, heartbeats) with
//! wake-ups in virtual time, and the conductor's agent commands executed on the core against the
//! machine.
//!
//! One call per wake; negotiation needs no request in-process (Ironic always agrees), so the
//! lookup follows it in the same wake. The agent ends when the machine powers off or boots
//! something else. Image downloads come from [`EngineImages`], an in-memory store.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::trace::{Happening, Protocol};
use metal_sim::agent::image::HashAlgo;
use metal_sim::agent::life::{
    Answer, Call, End, HeartbeatAnswer, InspectionAnswer, Life, LifeSettings, LookupAnswer,
    Negotiation, Next,
};
use metal_sim::agent::{Agent, AgentError, Binding, ImageStore, Request};
use metal_sim::fault::Window;
use metal_sim::ironic::conductor::{AgentCall, AgentOp, CallResult};
use metal_sim::machine::{BootOutcome, PowerState, RamdiskSource, SimTime};

/// How agents behave in engine mode.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSettings {
    /// From the ramdisk boot to the agent's first request.
    pub startup: Duration,
    /// Retries, inspection, heartbeat interval and lifetime (the wire agent's settings type).
    pub life: LifeSettings,
}

impl Default for AgentSettings {
    /// A 20 s start-up; the wire agent's life settings but 10 s heartbeats, IPA's 5 s between a
    /// beat and a forced one, and no lifetime (the wire's lifetime bounds a real task; in virtual
    /// time the agent ends with its boot).
    fn default() -> Self {
        AgentSettings {
            startup: Duration::from_secs(20),
            life: LifeSettings {
                heartbeat_interval: Duration::from_secs(10),
                forced_gap: Duration::from_secs(5),
                lifetime: None,
                ..LifeSettings::default()
            },
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

/// An agent running in a booted ramdisk.
pub(super) struct RunningAgent {
    pub(super) core: Agent,
    /// The machine boot that started it (a later boot ends it).
    pub(super) boot: u64,
    /// Its life.
    pub(super) life: Life,
    /// The call to make at the next wake (`None`: the life is over).
    pub(super) next: Option<Call>,
    /// When that wake is due: a wake queued for another instant was superseded (a heartbeat
    /// forced sooner by a finished command) and does nothing.
    pub(super) due: SimTime,
    /// A sooner heartbeat forced by the command just performed, for the engine to queue.
    pub(super) forced: Option<SimTime>,
    /// When its life began (its first request), in virtual time.
    pub(super) born: SimTime,
    pub(super) callback_url: String,
}

impl std::fmt::Debug for RunningAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningAgent")
            .field("boot", &self.boot)
            .field("stage", &self.life.stage())
            .field("next", &self.next)
            .field("callback_url", &self.callback_url)
            .finish_non_exhaustive()
    }
}

impl RunningAgent {
    /// Binds the agent to its node after a lookup (or a `continue_inspection` answer).
    fn bind(&mut self, node: uuid::Uuid, token: &str) {
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
    machine: &mut metal_sim::machine::Machine,
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
            let forces_heartbeat = request.is_async();
            let result = agent
                .core
                .execute_with(now, machine, request, images)
                .map_err(|e| refused(call, &e))?;
            if forces_heartbeat && result.is_done() {
                agent.forced = agent
                    .life
                    .command_finished(now.saturating_since(agent.born))
                    .map(|wait| now + wait)
                    .filter(|at| *at < agent.due);
            }
            Ok(CallResult::Agent(result.to_json()))
        }
        AgentOp::Status => {
            let list: Vec<Value> = agent.core.commands().iter().map(|c| c.to_json()).collect();
            Ok(CallResult::Agent(json!({ "commands": list })))
        }
    }
}

impl super::simulation::Engine {
    /// A ramdisk booted on machine `i`: a fresh agent starts; its first request goes out after
    /// the start-up time.
    pub(super) fn start_agent(&mut self, i: usize, boot: u64) {
        let slot = &mut self.machines[i];
        slot.agents_started += 1;
        let rng_index = ((i as u64) << 20) | (slot.agents_started & 0xF_FFFF);
        let core = Agent::new(
            &slot.spec.name,
            slot.spec.profile.clone(),
            metal_sim::machine::derive_rng(self.seed, "agent", rng_index),
        );
        let mut life = Life::new(
            self.settings.agent.life.clone(),
            metal_sim::machine::derive_rng(self.seed, "agent-life", rng_index),
        );
        let next = match life.start() {
            Next::Now(call) | Next::After(_, call) => Some(call),
            Next::Stop(_) => None,
        };
        let born = self.now + self.settings.agent.startup;
        slot.agent = Some(RunningAgent {
            core,
            boot,
            life,
            next,
            due: born,
            forced: None,
            born,
            callback_url: format!("http://127.0.0.1:9999/engine-agent/{i}/{boot}"),
        });
        self.queue
            .push(born, super::simulation::Event::AgentWake { host: i, boot });
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

    /// The agent of machine `i` started by boot `boot`, if it still runs: a machine that is
    /// powering off runs no agent any more (the old ramdisk must not take up, in the instant the
    /// conductor's power-off is under way, the work meant for the ramdisk booted next).
    fn running_agent(&mut self, i: usize, boot: u64) -> Option<&mut RunningAgent> {
        let slot = &mut self.machines[i];
        if slot.machine.power() != PowerState::On {
            return None;
        }
        slot.agent.as_mut().filter(|a| a.boot == boot)
    }

    /// The agent on machine `i` makes its next call and learns what to do after it.
    pub(super) fn agent_wake(&mut self, i: usize, boot: u64) {
        let now = self.now;
        let Some(mut call) = self
            .running_agent(i, boot)
            .filter(|a| a.due == now)
            .and_then(|a| a.next)
        else {
            return;
        };
        loop {
            let answer = match call {
                Call::Negotiate => Answer::Negotiate(Negotiation::Agreed),
                Call::Lookup => Answer::Lookup(self.agent_lookup(i)),
                Call::Inspect => Answer::Inspect(self.agent_inspect(i)),
                Call::Heartbeat => Answer::Heartbeat(self.agent_heartbeat(i)),
            };
            let now = self.now;
            let Some(agent) = self.running_agent(i, boot) else {
                return;
            };
            let action = agent.life.answer(answer, now.saturating_since(agent.born));
            let (wait, next) = match action {
                // Negotiation is no request in-process: what follows it goes out in this wake.
                Next::Now(next) if call == Call::Negotiate => {
                    call = next;
                    continue;
                }
                Next::Now(next) => (Duration::ZERO, next),
                Next::After(wait, next) => (wait, next),
                Next::Stop(end) => {
                    agent.next = None;
                    if end == End::LookupGaveUp {
                        self.agent_trace(i, "lookup", None, "gave up".into());
                    }
                    return;
                }
            };
            agent.next = Some(next);
            let at = now + wait;
            agent.due = at;
            self.queue
                .push(at, super::simulation::Event::AgentWake { host: i, boot });
            return;
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

    /// `GET /v1/lookup` on the store; a tokenless answer (the token was handed out already) is
    /// not a usable find.
    fn agent_lookup(&mut self, i: usize) -> LookupAnswer {
        let macs = self.agent_macs(i);
        match self.ironic.store(|s| s.agent_lookup(None, &macs)) {
            Ok(l) if l.has_token() => {
                self.agent_trace(i, "lookup", Some(200), format!("found {}", l.node));
                if let Some(a) = self.machines[i].agent.as_mut() {
                    a.bind(l.node, &l.token);
                }
                LookupAnswer::Found
            }
            Ok(_) => LookupAnswer::NotYet,
            Err(e) if matches!(e.status().as_u16(), 404 | 409) => LookupAnswer::NotYet,
            Err(_) => LookupAnswer::Failed,
        }
    }

    /// `POST /v1/continue_inspection` on the store with the machine's inspection data.
    fn agent_inspect(&mut self, i: usize) -> InspectionAnswer {
        let macs = self.agent_macs(i);
        let bmc_ip = self.machines[i].spec.bmc.socket.ip().to_string();
        let slot = &self.machines[i];
        let pxe_mac = match slot.machine.last_boot().map(|b| &b.outcome) {
            Some(BootOutcome::Ramdisk {
                via: RamdiskSource::Pxe { mac } | RamdiskSource::UefiHttp { mac },
            }) => Some(mac.clone()),
            _ => slot.spec.profile.boot_mac().map(str::to_owned),
        };
        let inventory = metal_sim::agent::inventory::build(
            &slot.spec.name,
            &slot.spec.profile,
            Some(&bmc_ip),
            slot.machine.boot_mode(),
            pxe_mac.as_deref(),
        );
        let data = metal_sim::agent::inventory::inspection_data(&inventory, &slot.spec.profile);
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
        match result {
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
                InspectionAnswer::Accepted
            }
            Err(e) => match e.status().as_u16() {
                409 => {
                    let seen = "409 (node locked)".to_owned();
                    self.agent_trace(i, "continue_inspection", Some(409), seen);
                    InspectionAnswer::Conflict
                }
                404 => {
                    self.agent_trace(i, "continue_inspection", Some(404), "404".into());
                    InspectionAnswer::NotInspecting
                }
                _ => {
                    self.agent_trace(i, "continue_inspection", None, format!("error: {e}"));
                    InspectionAnswer::Failed
                }
            },
        }
    }

    /// `POST /v1/heartbeat/{node}` on the store, unless an agent fault loses it.
    fn agent_heartbeat(&mut self, i: usize) -> HeartbeatAnswer {
        if self.machines[i].agent_faults.loses_heartbeat(self.now) {
            self.agent_trace(i, "heartbeat", None, "lost (fault)".into());
            return HeartbeatAnswer::Silenced;
        }
        let bound = self.machines[i].agent.as_ref().and_then(|a| {
            let b = a.core.binding()?;
            let node = uuid::Uuid::parse_str(&b.node_uuid).ok()?;
            Some((node, b.token.clone(), a.callback_url.clone()))
        });
        let Some((node, token, url)) = bound else {
            let seen = "403 (invalid agent token)".to_owned();
            self.agent_trace(i, "heartbeat", Some(403), seen);
            return HeartbeatAnswer::Refused(403);
        };
        let wall = self.wall(self.now);
        let before = self.node_state(node);
        let version = Some(metal_sim::agent::core::AGENT_VERSION.to_owned());
        let answer = self
            .ironic
            .store(|s| s.agent_heartbeat(node, &token, url, version, wall));
        match answer {
            Ok(resumed) => {
                if resumed {
                    self.agent_trace(i, "heartbeat", Some(202), "resumed".into());
                    self.note_node_change(node, before);
                    self.schedule_node(node, true);
                }
                HeartbeatAnswer::Accepted
            }
            Err(e) => {
                let status = e.status().as_u16();
                let (traced, seen) = match status {
                    404 => (Some(404), "404".to_owned()),
                    409 => (Some(409), "409 (node locked)".to_owned()),
                    403 => (Some(403), "403 (invalid agent token)".to_owned()),
                    _ => (None, format!("error: {e}")),
                };
                self.agent_trace(i, "heartbeat", traced, seen);
                if status == 409 {
                    HeartbeatAnswer::Conflict
                } else {
                    HeartbeatAnswer::Refused(status)
                }
            }
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
                let on = slot.machine.power() == PowerState::On;
                let outcome = match slot.agent.as_mut().filter(|a| a.boot == boot && on) {
                    Some(agent) => {
                        let outcome =
                            perform(agent, call, &mut slot.machine, &self.settings.images, now);
                        // A finished asynchronous command forces the next heartbeat sooner.
                        if let Some(at) = agent.forced.take() {
                            agent.due = at;
                            self.queue
                                .push(at, super::simulation::Event::AgentWake { host: i, boot });
                        }
                        outcome
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

#[cfg(test)]
#[path = "agent_tests.rs"]
mod tests;
