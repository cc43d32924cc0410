//! The state one Redfish listener serves: the hosts behind it (one in the per-address layout, many
//! in the single-address layout), their accounts, the listener's sessions and its update tasks.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;

use super::account::Account;
use super::error::RedfishError;
use super::events::EventState;
use super::rendered::{Rendered, SystemCache};
use super::session::{DEFAULT_SESSION_TIMEOUT, SessionStore};
use super::update::UpdateState;
use crate::fault::{FaultSet, Health, PartKind};
use crate::machine::{Ack, HardwareProfile, Host, Machine, MachineError, SimTime, World};

/// Read access to one system: its id and name, its hardware and its machine (already ticked).
#[derive(Debug)]
pub struct SystemCtx<'a> {
    /// Redfish system id (also the Manager and Chassis id).
    pub id: &'a str,
    /// Host name.
    pub name: &'a str,
    /// Hardware.
    pub profile: &'a HardwareProfile,
    /// Machine state.
    pub machine: &'a Machine,
    /// The installed BIOS version (after firmware updates), if the BMC tracks one.
    pub bios_version: Option<&'a str>,
    /// The host's faults (degraded parts decide the health it reports).
    pub faults: &'a FaultSet,
}

impl SystemCtx<'_> {
    /// The health the BMC reports for the system and its chassis: the worst of its parts.
    pub fn health(&self) -> Health {
        self.faults.machine_health(self.profile.disks.len())
    }

    /// The health of drive `index`.
    pub fn drive_health(&self, index: usize) -> Health {
        self.faults.health_of(PartKind::Drive, index)
    }
}

/// Write access to one system.
#[derive(Debug)]
pub struct SystemMut<'a> {
    /// Redfish system id.
    pub id: &'a str,
    /// Host name.
    pub name: &'a str,
    /// Hardware.
    pub profile: &'a HardwareProfile,
    /// Machine state.
    pub machine: &'a mut Machine,
    /// The installed BIOS version (after firmware updates), if the BMC tracks one.
    pub bios_version: Option<&'a str>,
    /// The host's faults.
    pub faults: &'a FaultSet,
}

impl SystemMut<'_> {
    /// A read view of the same system.
    pub fn view(&self) -> SystemCtx<'_> {
        SystemCtx {
            id: self.id,
            name: self.name,
            profile: self.profile,
            machine: self.machine,
            bios_version: self.bios_version,
            faults: self.faults,
        }
    }
}

/// Settings of one Redfish service beyond the hosts it serves.
#[derive(Debug, Clone)]
pub struct ServiceOptions {
    /// Idle timeout of sessions.
    pub session_timeout: Duration,
    /// Simulated duration of a firmware update task; `None` = eight power-on self tests of the
    /// world's (scaled) timing, so updates speed up with the fleet's time scale.
    pub update_duration: Option<Duration>,
}

/// Firmware flashes take this many power-on self tests when no duration is configured.
const UPDATE_POWER_ONS: u32 = 8;

impl Default for ServiceOptions {
    fn default() -> Self {
        Self {
            session_timeout: DEFAULT_SESSION_TIMEOUT,
            update_duration: None,
        }
    }
}

struct Inner {
    world: Arc<World>,
    hosts: Vec<Arc<Host>>,
    accounts: Vec<Account>,
    sessions: Mutex<SessionStore>,
    updates: Mutex<UpdateState>,
    events: Arc<Mutex<EventState>>,
    systems: SystemCache,
}

/// Shared state of one Redfish listener (cheap to clone).
#[derive(Clone)]
pub struct RedfishState(Arc<Inner>);

impl std::fmt::Debug for RedfishState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedfishState")
            .field("systems", &self.0.hosts.len())
            .field("accounts", &self.0.accounts)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl RedfishState {
    /// A service for `hosts` of `world`. Accounts are the distinct BMC credentials of those hosts;
    /// session ids and tokens come from the operating system's random generator.
    pub fn new(world: Arc<World>, hosts: Vec<Arc<Host>>, options: ServiceOptions) -> Self {
        let mut accounts: Vec<Account> = Vec::new();
        for h in &hosts {
            let c = &h.bmc.credentials;
            let system = h.bmc.system_id.clone();
            match accounts
                .iter_mut()
                .find(|a| a.username == c.username && a.password == c.password)
            {
                Some(a) => a.systems.push(system),
                None => accounts.push(Account::administrator(
                    &c.username,
                    &c.password,
                    vec![system],
                )),
            }
        }
        let duration = options
            .update_duration
            .unwrap_or_else(|| world.timing().power_on.saturating_mul(UPDATE_POWER_ONS));
        let updates = UpdateState::new(&hosts, duration);
        let systems = SystemCache::new(hosts.len());
        Self(Arc::new(Inner {
            world,
            systems,
            hosts,
            accounts,
            sessions: Mutex::new(SessionStore::new(options.session_timeout)),
            updates: Mutex::new(updates),
            events: Arc::new(Mutex::new(EventState::default())),
        }))
    }

    /// The world's current simulated instant.
    pub fn now(&self) -> SimTime {
        self.0.world.now()
    }

    /// The accounts that may log in.
    pub fn accounts(&self) -> &[Account] {
        &self.0.accounts
    }

    /// The session store (short critical sections only).
    pub fn sessions(&self) -> MutexGuard<'_, SessionStore> {
        lock(&self.0.sessions)
    }

    /// Update service state (short critical sections only).
    pub fn updates(&self) -> MutexGuard<'_, UpdateState> {
        lock(&self.0.updates)
    }

    /// The event subscriptions (shared with the delivery tasks; short critical sections only).
    pub fn events(&self) -> Arc<Mutex<EventState>> {
        Arc::clone(&self.0.events)
    }

    /// The world the hosts live in.
    pub fn world(&self) -> &Arc<World> {
        &self.0.world
    }

    /// The hosts served here, in fleet order.
    pub fn hosts(&self) -> &[Arc<Host>] {
        &self.0.hosts
    }

    /// Ids of the systems served here, in fleet order.
    pub fn system_ids(&self) -> impl Iterator<Item = &str> {
        self.0.hosts.iter().map(|h| h.bmc.system_id.as_str())
    }

    /// The host whose system id is `id`, if served here.
    pub fn host(&self, id: &str) -> Option<&Arc<Host>> {
        self.0.hosts.iter().find(|h| h.bmc.system_id == id)
    }

    fn host_or_404(&self, id: &str) -> Result<&Arc<Host>, RedfishError> {
        self.host(id).ok_or_else(|| RedfishError::NotFound {
            uri: format!("/redfish/v1/Systems/{id}"),
        })
    }

    /// Runs `f` on a read view of system `id` at the current instant.
    pub fn read_system<T>(
        &self,
        id: &str,
        f: impl FnOnce(&SystemCtx<'_>) -> T,
    ) -> Result<T, RedfishError> {
        let host = self.host_or_404(id)?;
        let now = self.now();
        let bios_version = self.updates().version_of(id, "BIOS", now);
        let faults = host.faults();
        Ok(host.with_machine(now, |m| {
            f(&SystemCtx {
                id: &host.bmc.system_id,
                name: &host.name,
                profile: &host.profile,
                machine: m,
                bios_version: bios_version.as_deref(),
                faults: &faults,
            })
        }))
    }

    /// The ComputerSystem document of system `id` at the current instant, rendered by `render`
    /// only when the state it shows changed since the last time (see [`SystemCache`]).
    pub fn read_system_rendered(
        &self,
        id: &str,
        render: impl FnOnce(&SystemCtx<'_>) -> Value,
    ) -> Result<Arc<Rendered>, RedfishError> {
        let (index, host) = self
            .0
            .hosts
            .iter()
            .enumerate()
            .find(|(_, h)| h.bmc.system_id == id)
            .ok_or_else(|| RedfishError::NotFound {
                uri: format!("/redfish/v1/Systems/{id}"),
            })?;
        let now = self.now();
        let bios_version = self.updates().version_of(id, "BIOS", now);
        let bios_version = bios_version.as_deref();
        let faults = host.faults();
        let health = faults.machine_health(host.profile.disks.len());
        Ok(host.with_machine(now, |m| {
            self.0
                .systems
                .get_or_render(index, m, bios_version, health, || {
                    render(&SystemCtx {
                        id: &host.bmc.system_id,
                        name: &host.name,
                        profile: &host.profile,
                        machine: m,
                        bios_version,
                        faults: &faults,
                    })
                })
        }))
    }

    /// Runs `f` with write access to system `id` at the current instant.
    pub fn write_system<T>(
        &self,
        id: &str,
        f: impl FnOnce(&mut SystemMut<'_>, SimTime) -> T,
    ) -> Result<T, RedfishError> {
        let host = self.host_or_404(id)?;
        let now = self.now();
        let bios_version = self.updates().version_of(id, "BIOS", now);
        let faults = host.faults();
        Ok(host.with_machine(now, |m| {
            f(
                &mut SystemMut {
                    id: &host.bmc.system_id,
                    name: &host.name,
                    profile: &host.profile,
                    machine: m,
                    bios_version: bios_version.as_deref(),
                    faults: &faults,
                },
                now,
            )
        }))
    }

    /// Runs a power request on system `id` through the host's power fault facade (a fault may
    /// acknowledge it without effect, or leave the machine stuck in its transition).
    pub fn power_system(
        &self,
        id: &str,
        action: impl FnOnce(&mut Machine, SimTime) -> Result<Ack, MachineError>,
    ) -> Result<Result<Ack, MachineError>, RedfishError> {
        let host = self.host_or_404(id)?;
        let now = self.now();
        Ok(host.power_action(now, |m| action(m, now)))
    }
}
