//! Starts an agent when a machine boots a ramdisk and stops it when the machine powers off or boots
//! something else. Agents point at one Ironic URL (the mock's or a real Ironic's).

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::Mutex;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::client::{self, ClientError, IronicClient};
use super::core::Agent;
use super::session::{AgentOptions, Session};
use crate::machine::{BootOutcome, Host, MachineEvent, PowerState, World, derive_rng};

struct Running {
    boot: u64,
    session: Session,
}

type Table = Arc<Mutex<HashMap<usize, Running>>>;

/// The running launcher: which hosts have an agent, and their callback URLs.
#[derive(Clone)]
pub struct Launcher {
    agents: Table,
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
            stop: stop.clone(),
        };
        let mut events = world.subscribe();
        let task = tokio::spawn(async move {
            let ctx = Ctx {
                world,
                options,
                http,
                agents,
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
            let all: Vec<Running> = ctx.agents.lock().await.drain().map(|(_, r)| r).collect();
            for r in all {
                r.session.stop().await;
            }
        });
        Ok((launcher, task))
    }

    /// The callback URL of the agent running on host `index`, if any.
    pub async fn callback_url(&self, index: usize) -> Option<String> {
        self.agents
            .lock()
            .await
            .get(&index)
            .map(|r| r.session.callback_url())
    }

    /// Runs `f` on the agent of host `index`, if one runs.
    pub async fn with_agent<T>(&self, index: usize, f: impl FnOnce(&mut Agent) -> T) -> Option<T> {
        self.agents
            .lock()
            .await
            .get(&index)
            .map(|r| r.session.with_agent(f))
    }

    /// Indexes of the hosts with a running agent, sorted.
    pub async fn running(&self) -> Vec<usize> {
        let mut v: Vec<usize> = self.agents.lock().await.keys().copied().collect();
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
}

impl Ctx {
    async fn on_event(&self, index: usize, event: &MachineEvent) {
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

    async fn reconcile_all(&self) {
        let now = self.world.now();
        for host in self.world.hosts() {
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

    async fn stop_agent(&self, index: usize) {
        let running = self.agents.lock().await.remove(&index);
        if let Some(r) = running {
            tracing::info!(host = index, "agent stopped");
            r.session.stop().await;
        }
    }

    async fn start(&self, index: usize, boot: u64) {
        if self
            .agents
            .lock()
            .await
            .get(&index)
            .is_some_and(|r| r.boot == boot)
        {
            return;
        }
        self.stop_agent(index).await;
        let Some(host) = self.world.host(index).map(Arc::clone) else {
            return;
        };
        match self.session(&host, boot).await {
            Ok(session) => {
                tracing::info!(host = %host.name, callback = %session.callback_url(), "agent started");
                self.agents
                    .lock()
                    .await
                    .insert(index, Running { boot, session });
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
