//! The thread-safe runtime around the pure model: every host of a fleet, its BMC endpoint and
//! credentials, its faults, lookups, seeded per-host RNG streams and the machine event stream.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use super::event::{Ack, MachineError, MachineEvent};
use super::model::{Machine, MachineView};
use super::profile::HardwareProfile;
use super::time::{SimClock, SimTime, Timing};
use crate::fault::{FaultKind, FaultSet, Verdict};

/// A seeded RNG stream for one purpose and one host: same `(seed, purpose, index)` → same stream.
///
/// Purposes in use: `"profile"` (hardware generation), `"machine"` (transition jitter), `"fault"`
/// (fault verdicts). Other components pick their own label (e.g. `"agent"`).
pub fn derive_rng(seed: u64, purpose: &str, index: u64) -> ChaCha8Rng {
    // FNV-1a of the label keeps purposes apart without depending on std's randomized hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in purpose.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ h);
    rng.set_stream(index);
    rng
}

/// The management protocol a host's BMC speaks, as in the `spec.bmc.address` scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BmcProtocol {
    /// Redfish (`redfish+http://…/redfish/v1/Systems/<id>`).
    Redfish,
    /// Redfish with virtual-media boot (`redfish-virtualmedia+http://…`).
    RedfishVirtualmedia,
    /// IPMI 2.0 over UDP (`ipmi://host:port`).
    Ipmi,
}

impl BmcProtocol {
    /// The fleet-file spelling (`redfish`, `redfish-virtualmedia`, `ipmi`).
    pub fn as_str(self) -> &'static str {
        match self {
            BmcProtocol::Redfish => "redfish",
            BmcProtocol::RedfishVirtualmedia => "redfish-virtualmedia",
            BmcProtocol::Ipmi => "ipmi",
        }
    }

    /// Whether a Redfish server (rather than an IPMI socket) serves this BMC.
    pub fn is_redfish(self) -> bool {
        self != BmcProtocol::Ipmi
    }
}

/// BMC login. `Debug` hides the password.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

impl Credentials {
    /// Whether a presented login is this one, compared in constant time (both parts always).
    pub fn matches(&self, username: &str, password: &str) -> bool {
        use metal_tls::secret::eq;
        eq(self.username.as_bytes(), username.as_bytes())
            & eq(self.password.as_bytes(), password.as_bytes())
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Where and how a host's BMC is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BmcEndpoint {
    /// Protocol.
    pub protocol: BmcProtocol,
    /// The socket the BMC listens on (TCP for Redfish, UDP for IPMI). Several Redfish BMCs may share one.
    pub socket: SocketAddr,
    /// Redfish over HTTPS.
    pub tls: bool,
    /// Redfish system id (the SMBIOS UUID); unused for IPMI.
    pub system_id: String,
    /// Login.
    pub credentials: Credentials,
}

impl BmcEndpoint {
    /// The exact `spec.bmc.address` a BareMetalHost uses for this BMC.
    pub fn address(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        match self.protocol {
            BmcProtocol::Ipmi => format!("ipmi://{}", self.socket),
            BmcProtocol::Redfish => {
                format!(
                    "redfish+{scheme}://{}/redfish/v1/Systems/{}",
                    self.socket, self.system_id
                )
            }
            BmcProtocol::RedfishVirtualmedia => {
                format!(
                    "redfish-virtualmedia+{scheme}://{}/redfish/v1/Systems/{}",
                    self.socket, self.system_id
                )
            }
        }
    }
}

/// What a listener serves: one Redfish HTTP(S) server or one IPMI UDP socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum ListenerKind {
    /// Redfish over plain HTTP.
    RedfishHttp,
    /// Redfish over HTTPS.
    RedfishHttps,
    /// IPMI over UDP.
    Ipmi,
}

/// One socket to open and the hosts behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerPlan {
    /// Local address to bind.
    pub socket: SocketAddr,
    /// Protocol served there.
    pub kind: ListenerKind,
    /// Indexes of the hosts served there (into [`World::hosts`]).
    pub hosts: Vec<usize>,
}

/// Everything needed to create one host.
#[derive(Debug, Clone)]
pub struct HostSpec {
    /// Unique host name (the BareMetalHost name).
    pub name: String,
    /// Labels copied onto the BareMetalHost.
    pub labels: BTreeMap<String, String>,
    /// Generated hardware.
    pub profile: HardwareProfile,
    /// BMC endpoint and credentials.
    pub bmc: BmcEndpoint,
    /// Initial faults.
    pub faults: FaultSet,
}

/// A machine event with the host it happened on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostEvent {
    /// Host index.
    pub host: usize,
    /// Host name.
    pub name: String,
    /// What happened.
    pub event: MachineEvent,
}

#[derive(Debug)]
struct FaultState {
    set: FaultSet,
    rng: ChaCha8Rng,
    injected: u64,
}

/// One simulated host: hardware, machine state, BMC endpoint and faults. Shared as `Arc<Host>`.
#[derive(Debug)]
pub struct Host {
    /// Position in the world (stable, used to derive RNG streams).
    pub index: usize,
    /// Unique name.
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Hardware (immutable).
    pub profile: HardwareProfile,
    /// BMC endpoint.
    pub bmc: BmcEndpoint,
    machine: Mutex<Machine>,
    faults: Mutex<FaultState>,
    events: broadcast::Sender<HostEvent>,
    /// When the machine's pending transition is due (nanoseconds; `u64::MAX` when settled), so the
    /// ticker can skip settled hosts without taking their locks.
    deadline: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave the plain-data model half-updated in a way that
    // matters more than stopping the whole fleet, so poisoning is ignored.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Host {
    /// Brings the machine up to `now`, runs `f` on it, completes what is due by `now` again, and
    /// publishes the events produced.
    /// Keep `f` short and never await inside it.
    pub fn with_machine<T>(&self, now: SimTime, f: impl FnOnce(&mut Machine) -> T) -> T {
        let mut m = lock(&self.machine);
        m.tick(now);
        let out = f(&mut m);
        // Transitions that take no time (time scale 0) complete within the same call.
        m.tick(now);
        let due = m.next_deadline().map_or(u64::MAX, SimTime::as_nanos);
        self.deadline.store(due, Ordering::Release);
        let events = m.take_events();
        drop(m);
        for event in events {
            // No subscriber is fine: the stream is an observation point, not a queue.
            let _ = self.events.send(HostEvent {
                host: self.index,
                name: self.name.clone(),
                event,
            });
        }
        out
    }

    /// Ground truth of the machine at `now`.
    pub fn view(&self, now: SimTime) -> MachineView {
        self.with_machine(now, |m| m.view())
    }

    /// The facade's decision for one request, packet or power action at `now`.
    pub fn fault_verdict(&self, kind: FaultKind, now: SimTime) -> Verdict {
        let mut f = lock(&self.faults);
        let FaultState { set, rng, injected } = &mut *f;
        let v = set.verdict(kind, now, rng);
        if v != Verdict::Proceed {
            *injected += 1;
        }
        v
    }

    /// Applies a power action through the fault facade: `AckNoEffect` skips `action` and reports
    /// `Ack::Started`; `Stick` runs it and holds the machine in its transition.
    pub fn power_action(
        &self,
        now: SimTime,
        action: impl FnOnce(&mut Machine) -> Result<Ack, MachineError>,
    ) -> Result<Ack, MachineError> {
        match self.fault_verdict(FaultKind::PowerAction, now) {
            Verdict::AckNoEffect => Ok(Ack::Started),
            Verdict::Stick => self.with_machine(now, |m| {
                let r = action(m);
                m.set_stuck(true);
                r
            }),
            _ => self.with_machine(now, action),
        }
    }

    /// The current fault settings.
    pub fn faults(&self) -> FaultSet {
        lock(&self.faults).set.clone()
    }

    /// How many non-`Proceed` verdicts this host has handed out.
    pub fn faults_injected(&self) -> u64 {
        lock(&self.faults).injected
    }

    /// Replaces the fault settings (validate first with [`FaultSet::validate`]). Clearing the
    /// power-stick fault releases a stuck machine.
    /// A change of the health the BMC rolls up is published as [`MachineEvent::HealthChanged`].
    pub fn set_faults(&self, now: SimTime, faults: FaultSet) {
        let release = faults.power_stick_rate == 0.0;
        let drives = self.profile.disks.len();
        let to = faults.machine_health(drives);
        let from = std::mem::replace(&mut lock(&self.faults).set, faults).machine_health(drives);
        if from != to {
            // Nobody listening is not an error: events are for whoever subscribed.
            let _ = self.events.send(HostEvent {
                host: self.index,
                name: self.name.clone(),
                event: MachineEvent::HealthChanged { at: now, from, to },
            });
        }
        if release {
            self.with_machine(now, |m| m.set_stuck(false));
        }
    }
}

/// Every host of a fleet, with lookups, the clock, and the event stream.
#[derive(Debug)]
pub struct World {
    seed: u64,
    timing: Timing,
    clock: SimClock,
    hosts: Vec<Arc<Host>>,
    by_name: HashMap<String, usize>,
    by_system_id: HashMap<String, usize>,
    by_socket: BTreeMap<SocketAddr, Vec<usize>>,
    events: broadcast::Sender<HostEvent>,
}

/// A world that cannot be built from its host specs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorldError {
    /// Two hosts with one name.
    #[error("host name {0:?} is used twice")]
    DuplicateName(String),
    /// Two Redfish systems with one id.
    #[error("Redfish system id {0:?} is used twice")]
    DuplicateSystemId(String),
    /// Two BMCs that cannot share a socket (IPMI is one BMC per socket; Redfish servers must agree on TLS).
    #[error("BMC socket {socket} cannot be shared by host {host:?}: {reason}")]
    SocketConflict {
        /// The socket.
        socket: SocketAddr,
        /// The second host.
        host: String,
        /// Why.
        reason: &'static str,
    },
}

impl World {
    /// Builds the world. Host `i`'s machine jitter and fault verdicts use streams derived from
    /// `(seed, "machine" | "fault", i)`; `timing` must already be scaled.
    pub fn new(
        seed: u64,
        timing: Timing,
        clock: SimClock,
        specs: Vec<HostSpec>,
    ) -> Result<World, WorldError> {
        // Room for a few events per host, so a fleet-wide power-on does not overrun a subscriber
        // that keeps up on average.
        let (events, _) = broadcast::channel(specs.len().saturating_mul(4).clamp(4096, 65_536));
        let mut by_name = HashMap::with_capacity(specs.len());
        let mut by_system_id = HashMap::with_capacity(specs.len());
        let mut by_socket: BTreeMap<SocketAddr, Vec<usize>> = BTreeMap::new();
        let mut hosts = Vec::with_capacity(specs.len());
        for (index, spec) in specs.into_iter().enumerate() {
            if by_name.insert(spec.name.clone(), index).is_some() {
                return Err(WorldError::DuplicateName(spec.name));
            }
            if spec.bmc.protocol.is_redfish()
                && by_system_id
                    .insert(spec.bmc.system_id.clone(), index)
                    .is_some()
            {
                return Err(WorldError::DuplicateSystemId(spec.bmc.system_id));
            }
            let sharing = by_socket.entry(spec.bmc.socket).or_default();
            if let Some(&other) = sharing.first() {
                let other: &Arc<Host> = &hosts[other];
                let reason = if spec.bmc.protocol == BmcProtocol::Ipmi
                    || other.bmc.protocol == BmcProtocol::Ipmi
                {
                    Some("an IPMI BMC needs a socket of its own")
                } else if other.bmc.tls != spec.bmc.tls {
                    Some("Redfish BMCs on one socket must all use HTTP or all HTTPS")
                } else {
                    None
                };
                if let Some(reason) = reason {
                    return Err(WorldError::SocketConflict {
                        socket: spec.bmc.socket,
                        host: spec.name,
                        reason,
                    });
                }
            }
            sharing.push(index);
            let index_u64 = index as u64;
            let machine = Machine::new(
                &spec.profile,
                timing,
                derive_rng(seed, "machine", index_u64),
            );
            hosts.push(Arc::new(Host {
                index,
                name: spec.name,
                labels: spec.labels,
                profile: spec.profile,
                bmc: spec.bmc,
                machine: Mutex::new(machine),
                faults: Mutex::new(FaultState {
                    set: spec.faults,
                    rng: derive_rng(seed, "fault", index_u64),
                    injected: 0,
                }),
                events: events.clone(),
                deadline: AtomicU64::new(u64::MAX),
            }));
        }
        Ok(World {
            seed,
            timing,
            clock,
            hosts,
            by_name,
            by_system_id,
            by_socket,
            events,
        })
    }

    /// The world's seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The (scaled) timing every machine uses.
    pub fn timing(&self) -> Timing {
        self.timing
    }

    /// The clock (shell code only: pure code receives `now`).
    pub fn clock(&self) -> &SimClock {
        &self.clock
    }

    /// Shorthand for `clock().now()`.
    pub fn now(&self) -> SimTime {
        self.clock.now()
    }

    /// All hosts, by index.
    pub fn hosts(&self) -> &[Arc<Host>] {
        &self.hosts
    }

    /// The host at `index`.
    pub fn host(&self, index: usize) -> Option<&Arc<Host>> {
        self.hosts.get(index)
    }

    /// The host named `name`.
    pub fn host_by_name(&self, name: &str) -> Option<&Arc<Host>> {
        self.by_name.get(name).and_then(|&i| self.hosts.get(i))
    }

    /// The Redfish host whose system id is `id`.
    pub fn host_by_system_id(&self, id: &str) -> Option<&Arc<Host>> {
        self.by_system_id.get(id).and_then(|&i| self.hosts.get(i))
    }

    /// The host whose `spec.bmc.address` is exactly `address` (a linear scan: for tools, not hot paths).
    pub fn host_by_bmc_address(&self, address: &str) -> Option<&Arc<Host>> {
        self.hosts.iter().find(|h| h.bmc.address() == address)
    }

    /// The hosts whose BMC listens on `socket` (several Redfish systems, or one IPMI BMC).
    pub fn hosts_at(&self, socket: SocketAddr) -> impl Iterator<Item = &Arc<Host>> {
        self.by_socket
            .get(&socket)
            .into_iter()
            .flatten()
            .filter_map(|&i| self.hosts.get(i))
    }

    /// Every socket to open, in address order, with the hosts behind it.
    pub fn listeners(&self) -> Vec<ListenerPlan> {
        self.by_socket
            .iter()
            .filter_map(|(socket, hosts)| {
                let first = self.hosts.get(*hosts.first()?)?;
                let kind = match (first.bmc.protocol, first.bmc.tls) {
                    (BmcProtocol::Ipmi, _) => ListenerKind::Ipmi,
                    (_, true) => ListenerKind::RedfishHttps,
                    (_, false) => ListenerKind::RedfishHttp,
                };
                Some(ListenerPlan {
                    socket: *socket,
                    kind,
                    hosts: hosts.clone(),
                })
            })
            .collect()
    }

    /// Subscribes to every host's machine events from now on (the agent's hook: watch for
    /// `MachineEvent::Booted` with `BootOutcome::Ramdisk`). A subscriber that falls behind by more
    /// than the channel's capacity (4 events per host, at least 4096) gets `RecvError::Lagged` and
    /// should re-read `host.view(now).last_boot` (its `count` tells a missed boot from a seen one).
    pub fn subscribe(&self) -> broadcast::Receiver<HostEvent> {
        self.events.subscribe()
    }

    /// Completes every transition due by `now` on every host (publishing their events).
    pub fn tick_all(&self, now: SimTime) {
        for h in &self.hosts {
            if h.deadline.load(Ordering::Acquire) <= now.as_nanos() {
                h.with_machine(now, |_| ());
            }
        }
    }

    /// Spawns a task that calls [`World::tick_all`] every `period` until `stop` is cancelled, so that
    /// boots happen (and are published) even when nobody polls a BMC.
    pub fn spawn_ticker(
        self: &Arc<Self>,
        period: Duration,
        stop: tokio_util::sync::CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let world = Arc::clone(self);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(period.max(Duration::from_millis(1)));
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    _ = interval.tick() => world.tick_all(world.now()),
                }
            }
        })
    }
}
