//! Faults in force while a timeline plays: what each one is, and the BMC fault set a host has
//! with them (its fleet file's own faults merged with every active BMC fault on it).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::format::{FaultTarget, IronicFault};
use metal_sim::fault::FaultSet;
use metal_sim::fleet::Fleet;
use metal_sim::machine::SimTime;

/// A fault in force.
#[derive(Debug, Clone)]
pub struct ActiveFault {
    /// Its name (`fault-<step number>` unless the step names it).
    pub name: String,
    /// Where it acts.
    pub target: FaultTarget,
    /// Hosts affected (BMC and agent faults; empty otherwise).
    pub hosts: Vec<String>,
    /// The BMC faults it adds (default for faults of other targets).
    pub bmc: FaultSet,
    /// The Ironic API fault, for an Ironic fault.
    pub ironic: Option<IronicFault>,
    /// How long it lasts (`for`), when it ends by itself.
    pub duration: Option<Duration>,
    /// When it ends by itself.
    pub until: Option<SimTime>,
}

/// The BMC faults of fleet host `host` with `active` in force: its fleet faults merged with every
/// active BMC fault on it.
pub fn bmc_faults(fleet: &Fleet, active: &BTreeMap<String, ActiveFault>, host: &str) -> FaultSet {
    let mut set = fleet
        .hosts()
        .iter()
        .find(|h| h.name == host)
        .map(|h| h.faults.clone())
        .unwrap_or_default();
    for f in active.values() {
        if f.target == FaultTarget::Bmc && f.hosts.iter().any(|h| h == host) {
            set.merge(&f.bmc);
        }
    }
    set
}
