//! Faults switched in the engine: each host's BMC fault set (its fleet faults merged with the
//! active BMC faults on it), agent heartbeat loss, and the Ironic API's 5xx rate.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{EngineBackend, StepError, failed, unsupported};
use crate::engine::agent::AgentFaults;
use crate::engine::ironic::IronicFaults;
use crate::format::FaultTarget;
use crate::play::{ActiveFault, bmc_faults};
use metal_sim::fault::Window;

impl EngineBackend<'_> {
    /// Switches what fault `f` acts on to what `active` says now.
    pub(super) fn apply_faults(
        &mut self,
        f: &ActiveFault,
        active: &BTreeMap<String, ActiveFault>,
    ) -> Result<(), StepError> {
        match f.target {
            FaultTarget::Bmc => self.apply_bmc_faults(&f.hosts, active),
            FaultTarget::Agent => self.apply_agent_faults(&f.hosts, active),
            FaultTarget::Ironic => {
                self.apply_ironic_faults(active);
                Ok(())
            }
            FaultTarget::ControlPlane => Err(unsupported(
                "a control-plane fault (engine mode has no watches to disconnect)",
            )),
        }
    }

    fn apply_bmc_faults(
        &mut self,
        hosts: &[String],
        active: &BTreeMap<String, ActiveFault>,
    ) -> Result<(), StepError> {
        for name in hosts {
            let set = bmc_faults(&self.scenario.fleet, active, name);
            self.engine.set_bmc_faults(name, set).map_err(failed)?;
        }
        Ok(())
    }

    fn apply_agent_faults(
        &mut self,
        hosts: &[String],
        active: &BTreeMap<String, ActiveFault>,
    ) -> Result<(), StepError> {
        for name in hosts {
            let lost = active
                .values()
                .any(|f| f.target == FaultTarget::Agent && f.hosts.contains(name));
            let faults = if lost {
                AgentFaults {
                    heartbeat_loss: vec![Window {
                        from: Duration::ZERO,
                        until: None,
                    }],
                }
            } else {
                AgentFaults::default()
            };
            self.engine.set_agent_faults(name, faults).map_err(failed)?;
        }
        Ok(())
    }

    /// The Ironic API fault in force: the last active one by name, or none.
    fn apply_ironic_faults(&mut self, active: &BTreeMap<String, ActiveFault>) {
        let mut faults = IronicFaults::default();
        for f in active.values() {
            if f.target == FaultTarget::Ironic {
                faults = IronicFaults {
                    http_5xx_rate: f.ironic.as_ref().map_or(0.0, |i| i.http_5xx_rate),
                    status: f.ironic.as_ref().and_then(|i| i.status),
                    unavailable: Vec::new(),
                };
            }
        }
        self.engine.set_ironic_faults(faults);
    }
}
