//! The agent and control-plane fault switches as wire mode flips them: heartbeat loss on the
//! fleet's agent launcher (per host, until the fault ends) and watch disconnects on the embedded
//! control plane (every open watch cut at the start; new watches refused with 503 until the
//! fault ends, so the operator's watchers must retry and re-watch).

use std::time::Duration;

use chrono::TimeDelta;

use super::WireError;
use super::stack::Stack;
use metal_scenario::Scenario;
use metal_scenario::format::{FaultTarget, Step};
use metal_sim::ironic::conductor::Settings;
use metal_sim::machine::SimTime;

/// The longest callback timeout of the mock Ironic in a wire run that silences agents: the
/// time-scaled default (30 minutes × `time_scale`, 90 s at the library's 0.05) would make the
/// scenario wait longer than it needs to; heartbeats come every 1.5 s (±25 %) at that scale and a
/// whole deploy or clean takes 3–5 s (the library's provision p95 on a loaded 2-core machine), so
/// 20 s only ever expires on a silenced agent. (At 60 s the heartbeat-loss scenario spent 60 of
/// its 69 s waiting for the timeout.)
pub const SILENT_AGENT_CALLBACK_TIMEOUT: TimeDelta = TimeDelta::seconds(20);

/// The mock Ironic's settings for `scenario`: the defaults for its fleet's size and time scale, with the
/// callback timeout at most [`SILENT_AGENT_CALLBACK_TIMEOUT`] when the scenario injects agent faults.
pub fn mock_ironic_settings(scenario: &Scenario) -> Settings {
    let fleet = &scenario.fleet;
    let mut settings = Settings::for_fleet(fleet.file.time_scale, fleet.hosts().len());
    let silences_agents =
        scenario.file.timeline.iter().any(
            |step| matches!(step, Step::InjectFault(f) if f.target() == Some(FaultTarget::Agent)),
        );
    if silences_agents {
        settings.timings.callback_timeout = settings
            .timings
            .callback_timeout
            .min(SILENT_AGENT_CALLBACK_TIMEOUT);
    }
    settings
}

/// The longest refusal of new watches one control-plane fault asks for; a fault without `for:`
/// is cleared by `clear_fault`, which ends the refusal at once.
const OPEN_ENDED_REFUSAL: Duration = Duration::from_secs(3600);

impl Stack {
    /// Silences the agents of `hosts` until `until` (or until [`Stack::resume_agents`]).
    pub fn silence_agents(
        &self,
        hosts: &[String],
        until: Option<SimTime>,
    ) -> Result<(), WireError> {
        let launcher = self.fleet.agents().ok_or_else(|| {
            WireError::Step("agent heartbeat loss needs the fleet's agents, and none run".into())
        })?;
        for host in hosts {
            launcher.heartbeats().silence(host, until);
        }
        Ok(())
    }

    /// Lets the agents of `hosts` heartbeat again.
    pub fn resume_agents(&self, hosts: &[String]) {
        if let Some(launcher) = self.fleet.agents() {
            for host in hosts {
                launcher.heartbeats().clear(host);
            }
        }
    }

    /// Cuts every open watch of the control plane and refuses new ones for `refuse_for` (or, when
    /// open-ended, until [`Stack::resume_watches`]).
    pub fn disconnect_watches(&self, refuse_for: Option<Duration>) -> usize {
        self.controlplane
            .state
            .disconnect_watches(Some(refuse_for.unwrap_or(OPEN_ENDED_REFUSAL)))
    }

    /// Accepts new watches again.
    pub fn resume_watches(&self) {
        self.controlplane.state.resume_watches();
    }
}
