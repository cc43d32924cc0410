//! The engine's side of the mock Ironic's conductor: each node's job stepped when it is due (or at
//! its next power sync), the BMC calls it asks for carried to the simulated machines through the
//! BMC directory and fault facade, and their outcomes fed back; node state changes traced.

use std::time::Duration;

use chrono::TimeDelta;
use uuid::Uuid;

use super::bmc::{Approach, BmcFailure, HostBmc, Route, operate};
use super::simulation::{Engine, Event};
use super::trace::{TraceLevel, host_name};
use crate::trace::{CallKind, Happening, Protocol};
use metal_sim::ironic::conductor::{BmcOp, Call, CallResult, DriverCall};
use metal_sim::ironic::model::NodePower;
use metal_sim::machine::SimTime;

impl Engine {
    /// Schedules the node's next conductor step (its next due job, or the next power sync).
    pub(super) fn schedule_node(&mut self, node: Uuid, at_least_now: bool) {
        let Some(next_due) = self
            .ironic
            .conductor(|c| c.nodes.contains_key(&node).then(|| c.next_due_of(node)))
        else {
            self.node_due.remove(&node);
            return;
        };
        let sync = TimeDelta::to_std(&self.settings.conductor.timings.power_sync)
            .unwrap_or(Duration::from_secs(60));
        let mut at = self.now + sync;
        if let Some(due) = next_due {
            let since = (due - self.settings.epoch).to_std().unwrap_or_default();
            at = at.min(SimTime::from_duration(since).max(self.now));
        }
        if at_least_now {
            at = self.now;
        }
        if self.node_due.get(&node).is_none_or(|t| at < *t) {
            self.node_due.insert(node, at);
            self.queue.push(at, Event::ConductorStep(node));
        }
    }

    pub(super) fn node_state(&self, node: Uuid) -> Option<(String, String)> {
        if !self.traces_calls() {
            return None;
        }
        self.ironic.node(node, |n| {
            (
                n.provision_state.as_str().to_owned(),
                n.power_state.map_or("None", |p| p.as_str()).to_owned(),
            )
        })
    }

    /// True when call-level facts are recorded (building them costs allocations).
    pub(super) fn traces_calls(&self) -> bool {
        self.settings.trace >= TraceLevel::Calls
    }

    pub(super) fn note_node_change(&mut self, node: Uuid, before: Option<(String, String)>) {
        if !self.traces_calls() {
            return;
        }
        let after = self.node_state(node);
        if after != before
            && let Some((to, power)) = after
        {
            let from = before.map(|b| b.0).unwrap_or_default();
            let host = self
                .ironic
                .node(node, |n| n.name.clone())
                .flatten()
                .map_or_else(|| node.to_string(), |n| host_name(&n));
            self.record(Happening::IronicNode {
                host,
                node: node.to_string(),
                from,
                to,
                power,
            });
        }
    }

    pub(super) fn step_node(&mut self, node: Uuid) {
        let before = self.node_state(node);
        let call = self.ironic.step_node(node);
        self.note_node_change(node, before);
        match call {
            Some(Call::Bmc(c)) => self.send_call(node, &c),
            Some(Call::Agent(c)) => self.agent_call(node, &c),
            None => {}
        }
        self.schedule_node(node, false);
    }

    pub(super) fn send_call(&mut self, node: Uuid, call: &DriverCall) {
        let now = self.now;
        let machines = &mut self.machines;
        // The directory only names indexes of fleet hosts.
        let approach = self.bmcs.approach(call, now, |i, kind, at| {
            let slot = &mut machines[i];
            slot.faults.verdict(kind, at, &mut slot.fault_rng)
        });
        match approach {
            Approach::Reach { after, route } => self.queue.push(
                now + after,
                Event::BmcArrive {
                    node,
                    call: call.id,
                    op: call.op.clone(),
                    route: Box::new(route),
                },
            ),
            Approach::Fail { after, error } => self.queue.push(
                now + after,
                Event::CallDone {
                    node,
                    call: call.id,
                    op: call.op.clone(),
                    host: None,
                    outcome: Box::new(Err(error)),
                },
            ),
        }
    }

    pub(super) fn bmc_arrive(&mut self, node: Uuid, call: u64, op: BmcOp, route: &Route) {
        let i = route.host();
        let now = self.now;
        let outcome = {
            let slot = &mut self.machines[i];
            let mut host = HostBmc {
                bmc: &slot.spec.bmc,
                profile: &slot.spec.profile,
                name: &slot.spec.name,
                machine: &mut slot.machine,
                faults: &slot.faults,
                fault_rng: &mut slot.fault_rng,
                node,
            };
            operate(route, &op, &mut host, now)
        };
        self.after_machine(i);
        self.call_done(node, call, op, Some(i), outcome);
    }

    pub(super) fn call_done(
        &mut self,
        node: Uuid,
        call: u64,
        op: BmcOp,
        host: Option<usize>,
        outcome: Result<CallResult, BmcFailure>,
    ) {
        if self.traces_calls() {
            self.trace_bmc_call(node, &op, host, &outcome);
        }
        // The conductor keeps the driver's text as the node's `last_error`.
        self.complete_call(node, call, outcome.map_err(|f| f.message));
    }

    /// Records a BMC call of the conductor: protocol, operation, the status the wire would carry
    /// (Redfish 200 or the BMC's HTTP error, IPMI completion 0; absent when nothing answered)
    /// and how it went.
    fn trace_bmc_call(
        &mut self,
        node: Uuid,
        op: &BmcOp,
        host: Option<usize>,
        outcome: &Result<CallResult, BmcFailure>,
    ) {
        let name = self
            .ironic
            .node(node, |n| n.name.clone())
            .flatten()
            .map(|n| host_name(&n))
            .or_else(|| host.map(|i| self.machines[i].spec.name.clone()))
            .unwrap_or_else(|| node.to_string());
        let ipmi = match host.map(|i| self.machines[i].spec.bmc.protocol) {
            Some(p) => p == metal_sim::machine::BmcProtocol::Ipmi,
            None => self.ironic.node(node, |n| n.driver.clone()).as_deref() == Some("ipmi"),
        };
        let protocol = if ipmi {
            Protocol::Ipmi
        } else {
            Protocol::Redfish
        };
        let (status, result) = match outcome {
            Ok(answer) => {
                let result = match answer {
                    CallResult::Done => "ok".to_owned(),
                    CallResult::Power(p) => p.as_str().to_owned(),
                    CallResult::System(_) => "system document".to_owned(),
                    CallResult::Bios { attributes, .. } => {
                        format!("{} BIOS settings", attributes.len())
                    }
                    CallResult::Firmware(components) => {
                        format!("{} firmware components", components.len())
                    }
                    CallResult::BootMode { boot_mode, .. } => {
                        format!("boot mode {}", boot_mode.as_deref().unwrap_or("unknown"))
                    }
                    CallResult::Health(h) => {
                        format!("health {}", h.as_deref().unwrap_or("unknown"))
                    }
                    CallResult::Agent(_) => "agent answer".to_owned(),
                };
                (Some(if ipmi { 0 } else { 200 }), result)
            }
            Err(f) => (f.status, format!("error: {}", f.message)),
        };
        self.record(Happening::Call {
            host: Some(name),
            protocol,
            method: format!("{op:?}"),
            target: "system".into(),
            status,
            action: bmc_action(op),
            detail: Some(result),
        });
    }

    pub(super) fn complete_call(
        &mut self,
        node: Uuid,
        call: u64,
        outcome: Result<CallResult, String>,
    ) {
        let before = self.node_state(node);
        self.ironic.complete_call(node, call, outcome);
        self.note_node_change(node, before);
        self.schedule_node(node, true);
    }
}

/// What a BMC operation does, for the invariants and call counts.
fn bmc_action(op: &BmcOp) -> Option<CallKind> {
    match op {
        BmcOp::SetPower(NodePower::On) => Some(CallKind::PowerOn),
        BmcOp::SetPower(NodePower::Off | NodePower::SoftOff) => Some(CallKind::PowerOff),
        BmcOp::SetPower(NodePower::Rebooting | NodePower::SoftRebooting) => Some(CallKind::Reboot),
        BmcOp::SetBootDevice(_) => Some(CallKind::SetBootDevice),
        BmcOp::GetPower
        | BmcOp::GetSystem
        | BmcOp::GetBios
        | BmcOp::PatchBiosSettings(_)
        | BmcOp::ResetBios
        | BmcOp::GetFirmware
        | BmcOp::GetBootMode
        | BmcOp::GetHealth
        | BmcOp::SetBootMode(_)
        | BmcOp::SetSecureBoot(_)
        | BmcOp::InjectNmi => None,
    }
}
