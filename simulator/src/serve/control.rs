//! The control API: ground truth of every host and run-time fault injection (JSON over HTTP).
//!
//! | method | path                    | effect                                                      |
//! |--------|-------------------------|-------------------------------------------------------------|
//! | GET    | `/hosts`                | every host with its ground truth                            |
//! | GET    | `/hosts/{name}`         | one host                                                    |
//! | POST   | `/hosts/{name}/faults`  | lay a [`FaultInjection`] over the host's faults; returns them |
//! | DELETE | `/hosts/{name}/faults`  | clear every fault (releases a stuck machine)                |
//! | GET    | `/healthz`              | `ok`                                                        |

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

use crate::fault::{FaultSet, Window};
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
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        let status = match self {
            ControlError::UnknownHost(_) => StatusCode::NOT_FOUND,
            ControlError::BadRequest(_) => StatusCode::BAD_REQUEST,
        };
        (
            status,
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response()
    }
}

/// The control API router over `world`.
pub fn app(world: Arc<World>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/hosts", get(list_hosts))
        .route("/hosts/{name}", get(get_host))
        .route(
            "/hosts/{name}/faults",
            axum::routing::post(inject_faults).delete(clear_faults),
        )
        .with_state(world)
}

async fn list_hosts(State(world): State<Arc<World>>) -> Json<Vec<HostTruth>> {
    Json(world.hosts().iter().map(|h| truth(&world, h)).collect())
}

fn find<'w>(world: &'w World, name: &str) -> Result<&'w Arc<Host>, ControlError> {
    world
        .host_by_name(name)
        .ok_or_else(|| ControlError::UnknownHost(name.to_string()))
}

async fn get_host(
    State(world): State<Arc<World>>,
    Path(name): Path<String>,
) -> Result<Json<HostTruth>, ControlError> {
    let host = find(&world, &name)?;
    Ok(Json(truth(&world, host)))
}

async fn inject_faults(
    State(world): State<Arc<World>>,
    Path(name): Path<String>,
    body: Result<Json<FaultInjection>, JsonRejection>,
) -> Result<Json<FaultSet>, ControlError> {
    let host = find(&world, &name)?;
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
    Ok(Json(faults))
}

async fn clear_faults(
    State(world): State<Arc<World>>,
    Path(name): Path<String>,
) -> Result<StatusCode, ControlError> {
    let host = find(&world, &name)?;
    host.set_faults(world.now(), FaultSet::none());
    tracing::info!(host = %name, "faults cleared");
    Ok(StatusCode::NO_CONTENT)
}
