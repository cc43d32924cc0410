//! Starts an agent when a machine boots a ramdisk and stops it when the machine powers off or boots
//! something else. Agents point at one Ironic URL (the mock's or a real Ironic's).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::client::{self, ClientError, IronicClient};
use super::core::Agent;
use super::session::{AgentOptions, Session};
use super::silence::HeartbeatSwitch;
use crate::machine::{BootOutcome, Host, MachineEvent, PowerState, World, derive_rng};

struct Running {
    boot: u64,
    session: Session,
}

type Table = Arc<Mutex<HashMap<usize, Running>>>;

fn lock(t: &Table) -> MutexGuard<'_, HashMap<usize, Running>> {
    t.lock().unwrap_or_else(|e| e.into_inner())
}

/// The running launcher: which hosts have an agent, and their callback URLs.
#[derive(Clone)]
pub struct Launcher {
    agents: Table,
    ironic_url: String,
    heartbeats: HeartbeatSwitch,
    stop: CancellationToken,
}

impl std::fmt::Debug for Launcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Launcher").finish_non_exhaustive()
    }
}

impl Launcher {
    /// Subscribes to `world` and runs until `stop` is cancelled (then stops every agent). Agents
    /// already in a ramdisk when it starts get an agent too.
    pub fn spawn(
        world: Arc<World>,
        options: AgentOptions,
        stop: CancellationToken,
    ) -> Result<(Launcher, tokio::task::JoinHandle<()>), ClientError> {
        client::loopback_url(&options.ironic_url)?;
        let http = client::http_client(options.server.download_timeout)?;
        let agents: Table = Arc::new(Mutex::new(HashMap::new()));
        let launcher = Launcher {
            agents: Arc::clone(&agents),
            ironic_url: options.ironic_url.clone(),
            heartbeats: options.heartbeats.clone(),
            stop: stop.clone(),
        };
        let mut events = world.subscribe();
        let task = tokio::spawn(async move {
            let mut ctx = Ctx {
                world,
                options,
                http,
                agents,
                stopping: JoinSet::new(),
            };
            ctx.reconcile_all().await;
            loop {
                let event = tokio::select! {
                    () = stop.cancelled() => break,
                    e = events.recv() => e,
                };
                match event {
                    Ok(e) => ctx.on_event(e.host, &e.event).await,
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "agent launcher fell behind; reconciling");
                        ctx.reconcile_all().await;
                    }
                    Err(RecvError::Closed) => break,
                }
            }
            let all: Vec<Running> = lock(&ctx.agents).drain().map(|(_, r)| r).collect();
            for r in all {
                ctx.stopping.spawn(r.session.stop());
            }
            while ctx.stopping.join_next().await.is_some() {}
        });
        Ok((launcher, task))
    }

    /// The Ironic URL the agents talk to.
    pub fn ironic_url(&self) -> &str {
        &self.ironic_url
    }

    /// The heartbeat-loss switch of every agent this launcher starts.
    pub fn heartbeats(&self) -> &HeartbeatSwitch {
        &self.heartbeats
    }

    /// The callback URL of the agent running on host `index`, if any.
    pub fn callback_url(&self, index: usize) -> Option<String> {
        lock(&self.agents)
            .get(&index)
            .map(|r| r.session.callback_url())
    }

    /// Runs `f` on the agent of host `index`, if one runs (keep `f` short).
    pub fn with_agent<T>(&self, index: usize, f: impl FnOnce(&mut Agent) -> T) -> Option<T> {
        lock(&self.agents)
            .get(&index)
            .map(|r| r.session.with_agent(f))
    }

    /// Where the life of the agent on host `index` is, if one runs.
    pub fn stage(&self, index: usize) -> Option<super::life::Stage> {
        lock(&self.agents).get(&index).map(|r| r.session.stage())
    }

    /// Indexes of the hosts with a running agent, sorted.
    pub fn running(&self) -> Vec<usize> {
        let mut v: Vec<usize> = lock(&self.agents).keys().copied().collect();
        v.sort_unstable();
        v
    }

    /// Stops the launcher and every agent.
    pub fn stop(&self) {
        self.stop.cancel();
    }
}

struct Ctx {
    world: Arc<World>,
    options: AgentOptions,
    http: reqwest::Client,
    agents: Table,
    /// Agents being stopped in the background, so events keep flowing meanwhile.
    stopping: JoinSet<()>,
}

impl Ctx {
    async fn on_event(&mut self, index: usize, event: &MachineEvent) {
        match event {
            MachineEvent::Booted { record } => {
                if matches!(record.outcome, BootOutcome::Ramdisk { .. }) {
                    self.start(index, record.count).await;
                } else {
                    self.stop_agent(index).await;
                }
            }
            MachineEvent::PowerChanged {
                to: PowerState::Off,
                ..
            } => self.stop_agent(index).await,
            _ => {}
        }
    }

    async fn reconcile_all(&mut self) {
        let now = self.world.now();
        let world = Arc::clone(&self.world);
        for host in world.hosts() {
            let view = host.view(now);
            let ramdisk = view.power == PowerState::On
                && view
                    .last_boot
                    .as_ref()
                    .is_some_and(|b| matches!(b.outcome, BootOutcome::Ramdisk { .. }));
            match (ramdisk, view.last_boot.as_ref().map(|b| b.count)) {
                (true, Some(count)) => self.start(host.index, count).await,
                _ => self.stop_agent(host.index).await,
            }
        }
    }

    async fn stop_agent(&mut self, index: usize) {
        // Reap finished stops so the set stays small.
        while self.stopping.try_join_next().is_some() {}
        let running = lock(&self.agents).remove(&index);
        if let Some(r) = running {
            tracing::info!(host = index, "agent stopping");
            self.stopping.spawn(r.session.stop());
        }
    }

    async fn start(&mut self, index: usize, boot: u64) {
        let same = lock(&self.agents)
            .get(&index)
            .is_some_and(|r| r.boot == boot);
        if same {
            return;
        }
        self.stop_agent(index).await;
        let Some(host) = self.world.host(index).map(Arc::clone) else {
            return;
        };
        match self.session(&host, boot).await {
            Ok(session) => {
                tracing::info!(host = %host.name, callback = %session.callback_url(), "agent started");
                lock(&self.agents).insert(index, Running { boot, session });
            }
            Err(e) => tracing::error!(host = %host.name, error = %e, "agent could not start"),
        }
    }

    async fn session(&self, host: &Arc<Host>, boot: u64) -> std::io::Result<Session> {
        // Each boot gets its own streams, reproducible from the world's seed.
        let seed = self.world.seed() ^ boot.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let index = host.index as u64;
        let agent = Agent::new(
            &host.name,
            host.profile.clone(),
            derive_rng(seed, "agent", index),
        );
        let client = IronicClient::new(&self.options.ironic_url, self.http.clone())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
        Session::start(
            Arc::clone(host),
            *self.world.clock(),
            agent,
            client,
            self.http.clone(),
            &self.options,
            derive_rng(seed, "agent-life", index),
        )
        .await
    }
}
