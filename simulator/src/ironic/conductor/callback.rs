//! The agent's side of a job: heartbeats and inspection data resume jobs parked in a wait state, agent
//! answers are read, and waits time out with Ironic's texts.

use super::inband::{self, Reading, Verdict};
use super::inventory::{self, DiscoveredPort};
use super::plan::{self, AgentPhase, AgentStep, Step};
use super::{CallResult, Conductor, python_repr};
use crate::ironic::error::ApiError;
use crate::ironic::model::{InventoryRecord, ProvisionState};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

impl Conductor {
    /// An agent heartbeat: a job parked in `wait call-back` or `clean wait` resumes at the next `step`.
    /// Returns true when it did (heartbeats in other states change nothing, as in Ironic).
    pub fn heartbeat(&mut self, uuid: Uuid, now: DateTime<Utc>) -> bool {
        let Some(job) = self.jobs.get_mut(&uuid) else {
            return false;
        };
        let Some(phase @ (AgentPhase::Deploy | AgentPhase::Clean)) = job.parked else {
            return false;
        };
        job.parked = None;
        job.due = now;
        if let Some(n) = self.nodes.get_mut(&uuid) {
            n.provision_state = phase.busy_state();
            n.provision_updated_at = Some(now);
            n.reservation = Some("localhost".into());
        }
        true
    }

    /// The agent's inspection data (`POST /v1/continue_inspection`) for a node in `inspect wait`: the
    /// inventory is stored, ports are discovered, and inspection finishes at the next `step`.
    pub fn continue_inspection(
        &mut self,
        uuid: Uuid,
        mut data: Map<String, Value>,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        if self.parked(uuid) != Some(AgentPhase::Inspect) {
            return Err(ApiError::NotFound);
        }
        let inventory = data.remove("inventory").unwrap_or(Value::Null);
        if let Some(err) = data.get("error").filter(|e| !e.is_null()) {
            let text = err.as_str().map_or_else(|| err.to_string(), str::to_string);
            self.fail(
                uuid,
                format!("Failed to inspect hardware. Reason: Ramdisk reported error: {text}"),
                now,
            );
            return Ok(());
        }
        let ports = match inventory::agent_ports(&uuid.to_string(), &inventory) {
            Ok(p) => p,
            Err(e) => {
                self.fail(uuid, e, now);
                return Ok(());
            }
        };
        self.discovered.extend(
            ports
                .into_iter()
                .map(|(address, pxe_enabled)| DiscoveredPort {
                    node: uuid,
                    address,
                    pxe_enabled,
                }),
        );
        if let Some(n) = self.nodes.get_mut(&uuid) {
            if let Some(arch) = inventory
                .pointer("/cpu/architecture")
                .filter(|a| a.is_string())
            {
                n.properties.insert("cpu_arch".into(), arch.clone());
            }
            n.inventory = Some(InventoryRecord::new(&serde_json::json!({
                "inventory": inventory,
                "plugin_data": Value::Object(data),
            })));
            n.provision_state = ProvisionState::Inspecting;
            n.provision_updated_at = Some(now);
            n.reservation = Some("localhost".into());
        }
        if let Some(j) = self.jobs.get_mut(&uuid) {
            j.parked = None;
            j.due = now;
        }
        Ok(())
    }

    pub(super) fn time_out(&mut self, uuid: Uuid, phase: AgentPhase, now: DateTime<Utc>) {
        let msg = match phase {
            AgentPhase::Deploy => {
                format!("Timeout reached while waiting for callback for node {uuid}")
            }
            AgentPhase::Clean => {
                let step = self
                    .jobs
                    .get(&uuid)
                    .and_then(|j| j.inband.current.clone())
                    .unwrap_or_else(|| Value::Object(Map::new()));
                format!(
                    "Timeout reached while cleaning the node. Please check if the ramdisk responsible for the cleaning is running on the node. Failed on step {}.",
                    python_repr(&step)
                )
            }
            AgentPhase::Inspect => "timeout reached while inspecting the node".to_string(),
        };
        self.fail(uuid, msg, now);
    }

    pub(super) fn complete_agent(
        &mut self,
        uuid: Uuid,
        step: AgentStep,
        outcome: Result<CallResult, String>,
        now: DateTime<Utc>,
    ) {
        let answer = match outcome {
            Ok(CallResult::Agent(v)) => v,
            Ok(other) => {
                let msg = format!("Agent returned bad result for command: {other:?}");
                self.fail(uuid, msg, now);
                return;
            }
            Err(e) if step == AgentStep::PowerOff => {
                // Ironic forces power off through the BMC when the agent cannot do it.
                tracing::debug!(node = %uuid, error = %e, "agent power off failed");
                Value::Null
            }
            Err(e) => {
                self.fail(uuid, e, now);
                return;
            }
        };
        let overrides = [
            ("erase_devices", self.settings.erase_devices_priority),
            (
                "erase_devices_metadata",
                self.settings.erase_devices_metadata_priority,
            ),
        ];
        let (Some(job), Some(node)) = (self.jobs.get_mut(&uuid), self.nodes.get_mut(&uuid)) else {
            return;
        };
        if let AgentStep::GetSteps(_) = step
            && let Some(v) = answer.pointer("/command_result/hardware_manager_version")
        {
            node.driver_internal_info
                .insert("hardware_manager_version".into(), v.clone());
        }
        let verdict = inband::read(
            &step,
            &answer,
            Reading {
                uuid: &uuid.to_string(),
                inband: &mut job.inband,
                write_image: plan::write_image_step(node),
                overrides,
            },
        );
        job.waiting = None;
        job.due = now;
        match verdict {
            Verdict::Continue => {}
            Verdict::AwaitThen(then) => {
                let phase = match step {
                    AgentStep::GetSteps(p) | AgentStep::Poll(p, _) => p,
                    _ => AgentPhase::Deploy,
                };
                for s in then.into_iter().rev() {
                    job.steps.push_front(Step::Agent(s));
                }
                job.steps.push_front(Step::AwaitAgent(phase));
            }
            Verdict::Fail(msg) => self.fail(uuid, msg, now),
        }
    }
}
