//! The engine's side of the mock Ironic's conductor: each node's job stepped when it is due (or at
//! its next power sync), the BMC calls it asks for carried to the simulated machines through the
//! BMC directory and fault facade, and their outcomes fed back; node state changes traced.

use std::time::Duration;

use chrono::TimeDelta;
use uuid::Uuid;

use super::bmc::{Approach, HostBmc, Route, operate};
use super::simulation::{Engine, Event};
use super::trace::{TraceEntry, TraceLevel};
use crate::ironic::conductor::{BmcOp, Call, CallResult, DriverCall};
use crate::machine::SimTime;

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
                .unwrap_or_else(|| node.to_string())
                .replacen('~', "/", 1);
            self.record(
                &host,
                TraceEntry::Node {
                    node: node.to_string(),
                    from,
                    to,
                    power,
                },
            );
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
                    op: call.op,
                    route: Box::new(route),
                },
            ),
            Approach::Fail { after, error } => self.queue.push(
                now + after,
                Event::CallDone {
                    node,
                    call: call.id,
                    op: call.op,
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
            };
            operate(route, op, &mut host, now)
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
        outcome: Result<CallResult, String>,
    ) {
        if !self.traces_calls() {
            self.complete_call(node, call, outcome);
            return;
        }
        let name = self
            .ironic
            .node(node, |n| n.name.clone())
            .flatten()
            .map(|n| n.replacen('~', "/", 1))
            .or_else(|| host.map(|i| self.machines[i].spec.name.clone()))
            .unwrap_or_else(|| node.to_string());
        let result = match &outcome {
            Ok(CallResult::Done) => "ok".to_owned(),
            Ok(CallResult::Power(p)) => p.as_str().to_owned(),
            Ok(CallResult::System(_)) => "system document".to_owned(),
            Ok(CallResult::Agent(_)) => "agent answer".to_owned(),
            Err(e) => format!("error: {e}"),
        };
        let protocol = match host.map(|i| self.machines[i].spec.bmc.protocol) {
            Some(crate::machine::BmcProtocol::Ipmi) => "ipmi",
            Some(_) => "redfish",
            None => match self.ironic.node(node, |n| n.driver.clone()).as_deref() {
                Some("ipmi") => "ipmi",
                Some("redfish") => "redfish",
                _ => "",
            },
        };
        self.record(
            &name,
            TraceEntry::Bmc {
                protocol: protocol.to_owned(),
                op: format!("{op:?}"),
                result,
            },
        );
        self.complete_call(node, call, outcome);
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
