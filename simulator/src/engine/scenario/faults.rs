//! Faults in a scenario played in engine mode: injected, merged per host with the fleet's own,
//! and cleared by name or when their `for` runs out.

use std::time::Duration;

use super::EngineRunError;
use super::Player;
use crate::engine::agent::AgentFaults;
use crate::engine::ironic::IronicFaults;
use crate::fault::{FaultSet, Window};
use crate::machine::SimTime;
use crate::scenario::format::{FaultTarget, InjectFault};
use crate::scenario::trace::Happening;

/// A fault in force.
pub(super) struct ActiveFault {
    pub(super) target: FaultTarget,
    pub(super) hosts: Vec<String>,
    pub(super) bmc: FaultSet,
    pub(super) until: Option<SimTime>,
}

impl Player<'_> {
    fn apply_bmc_faults(&mut self, hosts: &[String]) -> Result<(), EngineRunError> {
        for name in hosts {
            let mut set = self
                .scenario
                .fleet
                .hosts()
                .iter()
                .find(|h| &h.name == name)
                .map(|h| h.faults.clone())
                .unwrap_or_default();
            for f in self.faults.values() {
                if f.target == FaultTarget::Bmc && f.hosts.contains(name) {
                    set.merge(&f.bmc);
                }
            }
            self.engine
                .set_bmc_faults(name, set)
                .map_err(|e| self.failed(e))?;
        }
        Ok(())
    }

    fn apply_agent_faults(&mut self, hosts: &[String]) -> Result<(), EngineRunError> {
        for name in hosts {
            let lost = self
                .faults
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
            self.engine
                .set_agent_faults(name, faults)
                .map_err(|e| self.failed(e))?;
        }
        Ok(())
    }

    fn apply_ironic_faults(&mut self) {
        let mut faults = IronicFaults::default();
        for f in self.faults.values() {
            if f.target == FaultTarget::Ironic {
                faults = IronicFaults {
                    http_5xx_rate: f.bmc.http_5xx_rate,
                    status: f.bmc.http_5xx_status,
                    unavailable: Vec::new(),
                };
            }
        }
        self.engine.set_ironic_faults(faults);
    }

    pub(super) fn inject(&mut self, index: usize, f: &InjectFault) -> Result<(), EngineRunError> {
        let name = f
            .name
            .clone()
            .unwrap_or_else(|| format!("fault-{}", index + 1));
        let target = f
            .target()
            .ok_or_else(|| self.failed("a fault needs exactly one target"))?;
        let now = self.engine.now();
        let until = f.duration.map(|d| d.after(now));
        let hosts = match target {
            FaultTarget::Bmc | FaultTarget::Agent => self.scenario.host_names(&f.hosts),
            FaultTarget::Ironic | FaultTarget::ControlPlane => Vec::new(),
        };
        let bmc = match (target, &f.bmc, &f.ironic) {
            (FaultTarget::Bmc, Some(b), _) => b.fault_set(now, until),
            (FaultTarget::Ironic, _, Some(i)) => FaultSet {
                http_5xx_rate: i.http_5xx_rate,
                http_5xx_status: i.status,
                ..FaultSet::default()
            },
            (FaultTarget::ControlPlane, _, _) => {
                return Err(self.unsupported(
                    "a control-plane fault (engine mode has no watches to disconnect)",
                ));
            }
            _ => FaultSet::default(),
        };
        self.faults.insert(
            name.clone(),
            ActiveFault {
                target,
                hosts: hosts.clone(),
                bmc,
                until,
            },
        );
        match target {
            FaultTarget::Bmc => self.apply_bmc_faults(&hosts)?,
            FaultTarget::Agent => self.apply_agent_faults(&hosts)?,
            FaultTarget::Ironic => self.apply_ironic_faults(),
            FaultTarget::ControlPlane => {}
        }
        self.push(Happening::Fault {
            name,
            target,
            hosts,
            active: true,
        });
        Ok(())
    }

    pub(super) fn clear(&mut self, names: Vec<String>) -> Result<(), EngineRunError> {
        for name in names {
            let Some(f) = self.faults.remove(&name) else {
                continue;
            };
            match f.target {
                FaultTarget::Bmc => self.apply_bmc_faults(&f.hosts)?,
                FaultTarget::Agent => self.apply_agent_faults(&f.hosts)?,
                FaultTarget::Ironic => self.apply_ironic_faults(),
                FaultTarget::ControlPlane => {}
            }
            self.push(Happening::Fault {
                name,
                target: f.target,
                hosts: f.hosts,
                active: false,
            });
        }
        Ok(())
    }
}
