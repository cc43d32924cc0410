//! The fleet's fake agents in `metal-sim serve`: one per machine that boots a ramdisk, pointed at
//! the served mock Ironic or at an external Ironic (`--ironic-url`, for users running real Ironic).

use std::sync::Arc;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::ServeError;
use crate::agent::{AgentOptions, HeartbeatSwitch, Launcher, LifeSettings};
use crate::machine::World;

/// Starts the agent launcher when some Ironic is known: `external` wins over `mock` (the served
/// mock's URL). Returns `None` (no agents) when there is neither.
pub(super) fn start(
    world: &Arc<World>,
    external: Option<&str>,
    mock: Option<&str>,
    heartbeats: HeartbeatSwitch,
    life: LifeSettings,
    stop: &CancellationToken,
    tasks: &mut JoinSet<Result<(), ServeError>>,
) -> Result<Option<Launcher>, ServeError> {
    let Some(url) = external.or(mock) else {
        return Ok(None);
    };
    let mut options = AgentOptions::new(url);
    options.heartbeats = heartbeats;
    options.life = life;
    let (launcher, task) = Launcher::spawn(Arc::clone(world), options, stop.child_token())
        .map_err(|e| ServeError::Agents(e.to_string()))?;
    tracing::info!(ironic = %url, "fake agents point at Ironic");
    tasks.spawn(async move { Ok(task.await?) });
    Ok(Some(launcher))
}
