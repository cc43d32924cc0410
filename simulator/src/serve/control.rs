//! The control API: ground truth of every host and run-time fault injection (JSON over HTTP).
//!
//! | method | path                    | effect                                                      |
//! |--------|-------------------------|-------------------------------------------------------------|
//! | GET    | `/hosts`                | every host with its ground truth                            |
//! | GET    | `/hosts/{name}`         | one host                                                    |
//! | GET    | `/hosts/{name}/guest`   | what its disk booted into: hostname, cloud-init's notes, the kubelet (404 before a disk boot) |
//! | POST   | `/hosts/{name}/faults`  | lay a [`FaultInjection`] over the host's faults; returns them |
//! | DELETE | `/hosts/{name}/faults`  | clear every fault (releases a stuck machine)                |
//! | GET    | `/hosts/{name}/agent-faults` | the host's agent faults: `{"heartbeat_loss": bool, "until_seconds": f64?}` |
//! | POST   | `/hosts/{name}/agent-faults` | `{"heartbeat_loss": true, "for": "30s"}` (no `for`: until cleared); `false` clears |
//! | DELETE | `/hosts/{name}/agent-faults` | clear the host's agent faults                          |
//! | GET    | `/healthz`              | `ok`                                                        |
//! | GET    | `/ui`, `/events`        | the live fleet view and its event stream ([`super::live`])   |

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::live::{self, LiveState, stream::Sources, stream::StreamSettings};
use crate::agent::{HeartbeatSwitch, Launcher};
use crate::fault::{FaultSet, Window};
use crate::guest::Guests;
use crate::machine::{Host, MachineView, World};

/// Ground truth of one host.
#[derive(Debug, Serialize)]
pub struct HostTruth {
    /// Host name.
    pub name: String,
    /// Index in the world.
    pub index: usize,
    /// Hardware profile name.
    pub profile: String,
    /// BMC protocol.
    pub protocol: &'static str,
    /// `spec.bmc.address`.
    pub address: String,
    /// MAC of the boot NIC.
    pub boot_mac: Option<String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Machine state (power, boot override, media, disks, last boot, ...).
    pub machine: MachineView,
    /// Fault settings.
    pub faults: FaultSet,
    /// Non-`Proceed` verdicts handed out so far.
    pub faults_injected: u64,
}

fn truth(world: &World, host: &Host) -> HostTruth {
    HostTruth {
        name: host.name.clone(),
        index: host.index,
        profile: host.profile.profile.clone(),
        protocol: host.bmc.protocol.as_str(),
        address: host.bmc.address(),
        boot_mac: host.profile.boot_mac().map(str::to_string),
        labels: host.labels.clone(),
        machine: host.view(world.now()),
        faults: host.faults(),
        faults_injected: host.faults_injected(),
    }
}

/// A run-time fault request: any [`FaultSet`] field, plus windows relative to now.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct FaultInjection {
    /// Fields laid over the current faults (see [`FaultSet::merge`]).
    #[serde(flatten)]
    pub set: FaultSet,
    /// Make the BMC unreachable from now for this long (`"10s"`).
    #[serde(with = "opt_human")]
    pub unreachable_for: Option<Duration>,
    /// Make the BMC unreachable from now until the faults are cleared.
    pub unreachable_now: bool,
}

mod opt_human {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        #[derive(Deserialize)]
        struct Wrap(#[serde(with = "crate::machine::time::human")] Duration);
        Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
    }
}

/// Control API failures, as `{"error": "..."}` bodies.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// No host of that name.
    #[error("no host named {0:?}")]
    UnknownHost(String),
    /// Body is not a valid fault request.
    #[error("invalid fault request: {0}")]
    BadRequest(String),
    /// The host has not booted its disk since `serve` started (or no guests run).
    #[error("host {0:?} has not booted its disk since metal-sim serve started")]
    NoGuest(String),
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        let status = match self {
            ControlError::UnknownHost(_) | ControlError::NoGuest(_) => StatusCode::NOT_FOUND,
            ControlError::BadRequest(_) => StatusCode::BAD_REQUEST,
        };
        (
            status,
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response()
    }
}

/// What the control API works on: the world, the agents' fault switch, and where it tells the
/// live view which hosts' faults it changed.
#[derive(Clone)]
pub struct ControlState {
    world: Arc<World>,
    heartbeats: HeartbeatSwitch,
    changed: broadcast::Sender<usize>,
    guests: Option<Guests>,
}

impl ControlState {
    fn changed(&self, index: usize) {
        // No live view open is fine: the broadcast is a hint, not a queue.
        let _ = self.changed.send(index);
    }
}

/// The control API router over `world` (agent faults go to a switch no agent reads).
pub fn app(world: Arc<World>) -> Router {
    app_with_agents(world, HeartbeatSwitch::default())
}

/// The control API router over `world` whose agent-fault endpoints flip `heartbeats` (the
/// switch the fleet's agent launcher was started with).
pub fn app_with_agents(world: Arc<World>, heartbeats: HeartbeatSwitch) -> Router {
    fleet_app(
        world,
        heartbeats,
        None,
        None,
        StreamSettings::default(),
        CancellationToken::new(),
    )
}

/// The control API and the live view over `world`, its agent fault switch and its agents (what
/// `metal-sim serve` serves); the live view's streams end when `stop` is cancelled.
pub fn fleet_app(
    world: Arc<World>,
    heartbeats: HeartbeatSwitch,
    agents: Option<Launcher>,
    guests: Option<Guests>,
    settings: StreamSettings,
    stop: CancellationToken,
) -> Router {
    let (changed, _) = broadcast::channel(1024);
    let live = LiveState::new(
        Sources {
            world: Arc::clone(&world),
            agents,
            guests: guests.clone(),
            heartbeats: heartbeats.clone(),
            changed: changed.clone(),
        },
        settings,
        stop,
    );
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/hosts", get(list_hosts))
        .route("/hosts/{name}", get(get_host))
        .route("/hosts/{name}/guest", get(get_guest))
        .route(
            "/hosts/{name}/faults",
            axum::routing::post(inject_faults).delete(clear_faults),
        )
        .route(
            "/hosts/{name}/agent-faults",
            get(get_agent_faults)
                .post(inject_agent_faults)
                .delete(clear_agent_faults),
        )
        .with_state(ControlState {
            world,
            heartbeats,
            changed,
            guests,
        })
        .merge(live::routes(live))
}

/// An agent fault request.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentFaultInjection {
    /// Stop (true) or resume (false) the host's agent heartbeats.
    pub heartbeat_loss: bool,
    /// How long the heartbeats stay lost (`"30s"`); absent: until cleared.
    #[serde(rename = "for", with = "opt_human")]
    pub duration: Option<Duration>,
}

/// A host's agent faults as the control API reports them.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct AgentFaults {
    /// Whether its agent's heartbeats are lost now.
    pub heartbeat_loss: bool,
    /// When the loss ends, in simulated seconds since the fleet started (absent: until cleared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_seconds: Option<f64>,
}

fn agent_faults(state: &ControlState, name: &str) -> AgentFaults {
    let now = state.world.now();
    if !state.heartbeats.is_silent(name, now) {
        return AgentFaults {
            heartbeat_loss: false,
            until_seconds: None,
        };
    }
    let until = state
        .heartbeats
        .silenced()
        .get(name)
        .and_then(|s| s.until)
        .map(|t| t.since_start().as_secs_f64());
    AgentFaults {
        heartbeat_loss: true,
        until_seconds: until,
    }
}

async fn get_agent_faults(
    State(state): State<ControlState>,
    Path(name): Path<String>,
) -> Result<Json<AgentFaults>, ControlError> {
    find(&state.world, &name)?;
    Ok(Json(agent_faults(&state, &name)))
}

async fn inject_agent_faults(
    State(state): State<ControlState>,
    Path(name): Path<String>,
    body: Result<Json<AgentFaultInjection>, JsonRejection>,
) -> Result<Json<AgentFaults>, ControlError> {
    let index = find(&state.world, &name)?.index;
    let Json(req) = body.map_err(|e| ControlError::BadRequest(e.body_text()))?;
    if req.heartbeat_loss {
        let until = req.duration.map(|d| state.world.now().saturating_add(d));
        state.heartbeats.silence(&name, until);
        tracing::info!(host = %name, "agent heartbeat loss injected");
    } else {
        state.heartbeats.clear(&name);
        tracing::info!(host = %name, "agent heartbeat loss cleared");
    }
    state.changed(index);
    Ok(Json(agent_faults(&state, &name)))
}

async fn clear_agent_faults(
    State(state): State<ControlState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ControlError> {
    let index = find(&state.world, &name)?.index;
    state.heartbeats.clear(&name);
    tracing::info!(host = %name, "agent heartbeat loss cleared");
    state.changed(index);
    Ok(StatusCode::NO_CONTENT)
}

async fn list_hosts(State(state): State<ControlState>) -> Json<Vec<HostTruth>> {
    let world = &state.world;
    Json(world.hosts().iter().map(|h| truth(world, h)).collect())
}

fn find<'w>(world: &'w World, name: &str) -> Result<&'w Arc<Host>, ControlError> {
    world
        .host_by_name(name)
        .ok_or_else(|| ControlError::UnknownHost(name.to_string()))
}

async fn get_host(
    State(ControlState { world, .. }): State<ControlState>,
    Path(name): Path<String>,
) -> Result<Json<HostTruth>, ControlError> {
    let host = find(&world, &name)?;
    Ok(Json(truth(&world, host)))
}

/// `GET /hosts/{name}/guest`: what the machine's disk booted into — cloud-init's hostname and
/// notes, the kubelet's state (`crate::guest::GuestStatus`).
async fn get_guest(
    State(ControlState { world, guests, .. }): State<ControlState>,
    Path(name): Path<String>,
) -> Result<Json<crate::guest::GuestStatus>, ControlError> {
    let host = find(&world, &name)?;
    guests
        .as_ref()
        .and_then(|g| g.status(host.index))
        .map(Json)
        .ok_or(ControlError::NoGuest(name))
}

async fn inject_faults(
    State(state): State<ControlState>,
    Path(name): Path<String>,
    body: Result<Json<FaultInjection>, JsonRejection>,
) -> Result<Json<FaultSet>, ControlError> {
    let world = &state.world;
    let host = find(world, &name)?;
    let Json(req) = body.map_err(|e| ControlError::BadRequest(e.body_text()))?;
    let now = world.now();
    let mut faults = host.faults();
    faults.merge(&req.set);
    if let Some(d) = req.unreachable_for {
        let from = now.since_start();
        faults.unreachable.push(Window {
            from,
            until: Some(from + d),
        });
    }
    if req.unreachable_now {
        faults.unreachable.push(Window {
            from: now.since_start(),
            until: None,
        });
    }
    faults
        .validate()
        .map_err(|e| ControlError::BadRequest(e.to_string()))?;
    tracing::info!(host = %name, "faults injected");
    host.set_faults(now, faults.clone());
    state.changed(host.index);
    Ok(Json(faults))
}

async fn clear_faults(
    State(state): State<ControlState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ControlError> {
    let host = find(&state.world, &name)?;
    host.set_faults(state.world.now(), FaultSet::none());
    tracing::info!(host = %name, "faults cleared");
    state.changed(host.index);
    Ok(StatusCode::NO_CONTENT)
}
