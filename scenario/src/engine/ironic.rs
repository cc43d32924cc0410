//! Engine mode's Ironic: the mock Ironic itself — its state, API router, handlers and conductor,
//! as `metal-sim serve` runs them — stepped in virtual time, and reached by the operator's own
//! [`IronicProvisioner`] through an in-process transport. Nothing of the provisioner (lookups,
//! node body, registration and deploy patches, the fingerprint written once the boot-MAC port
//! exists, validation, error decoding) or of the mock's node rules (field updates, the delete
//! guard, state checks, locks) is written again here: both run as in wire mode, without sockets.
//!
//! The engine steps each node's conductor job when it is due (so a step costs the same however
//! large the fleet) and carries out the conductor's BMC and agent calls against its simulated
//! machines. Ironic API faults: answers with a 5xx come from the mock's own fault switch (its
//! seeded stream); an API that is down refuses the connection at the transport.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use metal_core::bmc::DeployImages;
use metal_core::provisioner::HostRef;
use metal_core::provisioner::ironic::transport::{Request, Response, Transport};
use metal_core::provisioner::ironic::{IronicClient, IronicProvisioner, IronicSettings};

use metal_sim::fault::Window;
use metal_sim::ironic::api::Store;
use metal_sim::ironic::api::in_process::InProcess;
use metal_sim::ironic::conductor::{Call, CallResult, Conductor, Settings as ConductorSettings};
use metal_sim::ironic::model::Node;
use metal_sim::ironic::{AppState, Clock};
use metal_sim::machine::SimTime;

/// Faults of the Ironic API itself (not of a BMC).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IronicFaults {
    /// Fraction (0..=1) of API requests answered with `status`.
    pub http_5xx_rate: f64,
    /// The status of injected failures (default 503).
    pub status: Option<u16>,
    /// Windows in which the API does not answer at all.
    pub unavailable: Vec<Window>,
}

/// The mock's virtual wall clock: the engine sets it, the mock's handlers read it.
#[derive(Debug, Clone, Default)]
struct WallClock(Arc<AtomicI64>);

impl WallClock {
    fn set(&self, t: DateTime<Utc>) {
        self.0.store(
            t.timestamp_nanos_opt().unwrap_or(i64::MAX),
            Ordering::Relaxed,
        );
    }

    fn clock(&self) -> Clock {
        let cell = self.0.clone();
        Arc::new(move || DateTime::from_timestamp_nanos(cell.load(Ordering::Relaxed)))
    }
}

/// A kill of the operator inside a reconcile, armed for one reconcile: the API writes it may
/// still make, then its death (every request after it fails, as the process is gone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kill {
    /// Alive, with this many API writes left before it dies.
    Armed(u32),
    /// Killed: nothing it would have done after reaches anything.
    Dead,
}

/// The kill armed for the reconcile running, shared by the operator's Ironic link and the
/// engine's own writes (a Secret label, the host's write).
#[derive(Debug, Clone, Default)]
pub(super) struct KillSwitch(Arc<Mutex<Option<Kill>>>);

impl KillSwitch {
    fn lock(&self) -> MutexGuard<'_, Option<Kill>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn arm(&self, writes: u32) {
        *self.lock() = Some(Kill::Armed(writes));
    }

    pub(super) fn disarm(&self) {
        *self.lock() = None;
    }

    /// Whether a kill is armed and the operator still alive.
    pub(super) fn armed(&self) -> bool {
        matches!(*self.lock(), Some(Kill::Armed(_)))
    }

    /// Whether the operator died inside this reconcile.
    pub(super) fn dead(&self) -> bool {
        *self.lock() == Some(Kill::Dead)
    }

    /// One API write about to be made: true when the operator makes it, false when it is dead
    /// or dies at it (having spent every write it was left).
    pub(super) fn write(&self) -> bool {
        let mut kill = self.lock();
        match *kill {
            None => true,
            Some(Kill::Armed(n)) if n > 0 => {
                *kill = Some(Kill::Armed(n - 1));
                true
            }
            Some(_) => {
                *kill = Some(Kill::Dead);
                false
            }
        }
    }
}

/// What a request from a killed operator gets: nothing, the process is gone.
const KILLED: &str = "connection closed (the operator was killed)";

/// The network between the operator and the mock: the in-process API, a refused connection
/// while the API is down, nothing once the operator was killed.
#[derive(Debug, Clone)]
struct Link {
    api: InProcess,
    down: Arc<AtomicBool>,
    kill: KillSwitch,
}

#[async_trait::async_trait]
impl Transport for Link {
    async fn send(&self, request: Request) -> Result<Response, String> {
        let read = matches!(request.method.as_str(), "GET" | "HEAD");
        if self.kill.dead() || (!read && !self.kill.write()) {
            return Err(KILLED.into());
        }
        if self.down.load(Ordering::Relaxed) {
            return Err("connection refused (the Ironic API is down)".into());
        }
        self.api.send(request).await
    }

    async fn pause(&self, duration: std::time::Duration) -> Result<(), String> {
        self.api.pause(duration).await
    }
}

/// The mock Ironic in engine mode, with the operator's provisioner in front of it.
pub struct EngineIronic {
    state: AppState,
    api: InProcess,
    provisioner: IronicProvisioner,
    clock: WallClock,
    down: Arc<AtomicBool>,
    faults: IronicFaults,
    /// A kill of the operator armed inside the reconcile running.
    pub(super) kill: KillSwitch,
}

impl std::fmt::Debug for EngineIronic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineIronic")
            .field("faults", &self.faults)
            .finish_non_exhaustive()
    }
}

/// Runs a provisioner or API future that never waits on I/O or timers (the transport answers
/// in-process) to completion on the engine's thread.
pub(super) fn run<F: std::future::Future>(future: F) -> F::Output {
    futures::executor::block_on(future)
}

impl EngineIronic {
    /// A mock with no nodes at virtual time `start`; `seed` drives its UUIDs, tokens and fault
    /// draws. Its BMC rule is the wire mock's: loopback BMCs only (the engine sends no packets,
    /// but `validate` must answer as it would).
    pub fn new(
        settings: ConductorSettings,
        images: DeployImages,
        seed: u64,
        start: DateTime<Utc>,
    ) -> EngineIronic {
        let clock = WallClock::default();
        clock.set(start);
        let state = AppState::in_process(settings, seed, clock.clock());
        let api = InProcess::new(state.clone());
        let down = Arc::new(AtomicBool::new(false));
        let kill = KillSwitch::default();
        let link = Link {
            api: api.clone(),
            down: down.clone(),
            kill: kill.clone(),
        };
        let provisioner = IronicProvisioner::new(
            Arc::new(IronicClient::over(link)),
            IronicSettings {
                deploy_images: images,
            },
        );
        EngineIronic {
            state,
            api,
            provisioner,
            clock,
            down,
            faults: IronicFaults::default(),
            kill,
        }
    }

    /// Moves the mock's clock to `wall` and opens or closes the API per the fault windows at
    /// `now` (the same instant in virtual time).
    pub fn set_time(&self, now: SimTime, wall: DateTime<Utc>) {
        self.clock.set(wall);
        let down = self.faults.unavailable.iter().any(|w| w.contains(now));
        self.down.store(down, Ordering::Relaxed);
    }

    /// Replaces the API faults: the 5xx rate goes to the mock's own fault switch.
    pub fn set_faults(&mut self, faults: IronicFaults) {
        self.state
            .hold_api_fault(faults.http_5xx_rate, faults.status);
        self.faults = faults;
    }

    /// The current API faults.
    pub fn faults(&self) -> &IronicFaults {
        &self.faults
    }

    /// Requests the operator's client sent (version discovery included).
    pub fn requests(&self) -> u64 {
        self.provisioner.api_calls()
    }

    /// The operator's provisioner, reaching this mock in-process.
    pub fn provisioner(&self) -> &IronicProvisioner {
        &self.provisioner
    }

    /// One agent request to the mock's API, in-process (`lookup`, `heartbeat`,
    /// `continue_inspection`): the agent endpoints are never failed by API faults, but an API
    /// that is down refuses them too.
    pub fn agent_request(&self, request: Request) -> Result<Response, String> {
        if self.down.load(Ordering::Relaxed) {
            return Err("connection refused (the Ironic API is down)".into());
        }
        run(self.api.send(request))
    }

    /// Runs `f` on the mock's store (nodes, ports, conductor), for the engine's bookkeeping.
    pub(crate) fn store<R>(&self, f: impl FnOnce(&mut Store) -> R) -> R {
        self.state.with_store(f)
    }

    /// Runs `f` on the mock's conductor.
    pub fn conductor<R>(&self, f: impl FnOnce(&mut Conductor) -> R) -> R {
        self.store(|s| f(s.conductor()))
    }

    /// `f` of node `uuid`'s record, if the node exists.
    pub fn node<R>(&self, uuid: Uuid, f: impl FnOnce(&Node) -> R) -> Option<R> {
        self.conductor(|c| c.nodes.get(&uuid).map(f))
    }

    /// The host's node, by UUID or name, without an API request (for the engine's bookkeeping).
    pub fn locate(&self, host: &HostRef) -> Option<Uuid> {
        let name = host.node_name();
        self.conductor(|c| {
            host.node_id
                .as_deref()
                .and_then(|id| Uuid::parse_str(id).ok())
                .filter(|u| c.nodes.contains_key(u))
                .or_else(|| c.nodes.named(&name))
        })
    }

    /// Steps node `uuid`'s conductor job at the mock's now; the call to carry out, if any.
    pub fn step_node(&self, uuid: Uuid) -> Option<Call> {
        self.state.step_node(uuid)
    }

    /// Feeds back the outcome of node `uuid`'s call `id`.
    pub fn complete_call(&self, uuid: Uuid, id: u64, outcome: Result<CallResult, String>) {
        self.state.complete_node_call(uuid, id, outcome);
    }
}
