//! One running agent: its command server plus the life IPA leads after boot ([`super::life`]:
//! negotiate, look the node up, send the inspection data, heartbeat), carried out over HTTP with
//! cancellable tokio sleeps until stopped.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::client::{ClientError, Heartbeat, Inspection, IronicClient, Lookup};
use super::core::Agent;
use super::inventory;
use super::life::{
    Answer, Call, End, HeartbeatAnswer, InspectionAnswer, Life, LifeSettings, LookupAnswer,
    Negotiation, Next, Stage,
};
use super::server::{self, AgentHandle, AgentServer, ServerOptions};
use super::silence::HeartbeatSwitch;
use crate::machine::{BootOutcome, Host, RamdiskSource, SimClock};

/// How agents talk to Ironic.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// Ironic's API base URL (loopback).
    pub ironic_url: String,
    /// The loopback address agents listen on (port 0: one port per agent).
    pub listen_ip: IpAddr,
    /// Command server limits.
    pub server: ServerOptions,
    /// Retries, inspection, heartbeat interval and lifetime (the 6 h lifetime bounds the loop).
    pub life: LifeSettings,
    /// Hosts whose heartbeats are lost (a fault switch; shared by every session).
    pub heartbeats: HeartbeatSwitch,
}

impl AgentOptions {
    /// Defaults for `ironic_url`: 127.0.0.1, [`LifeSettings::default`] (1.5 s heartbeats,
    /// inspection `Auto`, 6 h lifetime).
    pub fn new(ironic_url: &str) -> AgentOptions {
        AgentOptions {
            ironic_url: ironic_url.to_string(),
            listen_ip: IpAddr::from([127, 0, 0, 1]),
            server: ServerOptions::default(),
            life: LifeSettings::default(),
            heartbeats: HeartbeatSwitch::default(),
        }
    }
}

/// A running agent (server + life task).
pub struct Session {
    server: AgentServer,
    life: tokio::task::JoinHandle<()>,
    stage: Arc<std::sync::Mutex<Stage>>,
    stop: CancellationToken,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("server", &self.server)
            .finish()
    }
}

impl Session {
    /// Starts the server for `agent` on `host`, then its life against `client` in the background.
    /// `rng` drives retry and heartbeat jitter.
    pub async fn start(
        host: Arc<Host>,
        clock: SimClock,
        agent: Agent,
        client: IronicClient,
        http: reqwest::Client,
        options: &AgentOptions,
        rng: ChaCha8Rng,
    ) -> std::io::Result<Session> {
        let server = server::start(
            options.listen_ip,
            Arc::clone(&host),
            clock,
            agent,
            http,
            options.server,
        )
        .await?;
        let stop = server.stop_token();
        let stage = Arc::new(std::sync::Mutex::new(Stage::Negotiate { failures: 0 }));
        let life = tokio::spawn(live(
            host,
            clock,
            client,
            server.callback_url(),
            server.agent_handle(),
            options.clone(),
            rng,
            Arc::clone(&stage),
            stop.clone(),
        ));
        Ok(Session {
            server,
            life,
            stage,
            stop,
        })
    }

    /// The callback URL Ironic calls.
    pub fn callback_url(&self) -> String {
        self.server.callback_url()
    }

    /// Where the agent's life is (what the live view shows).
    pub fn stage(&self) -> Stage {
        *self.stage.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the agent.
    pub fn with_agent<T>(&self, f: impl FnOnce(&mut Agent) -> T) -> T {
        self.server.with_agent(f)
    }

    /// Stops heartbeating and serving (the life task is aborted if it does not end within 500 ms).
    pub async fn stop(mut self) {
        self.stop.cancel();
        if tokio::time::timeout(Duration::from_millis(500), &mut self.life)
            .await
            .is_err()
        {
            self.life.abort();
        }
        self.server.shutdown().await;
    }
}

/// Waits `d` before the next call, or less when an asynchronous command finishes meanwhile and
/// the life forces a heartbeat sooner; false when stopped.
async fn wait_or_stop(
    d: Duration,
    life: &Life,
    agent: &AgentHandle,
    started: tokio::time::Instant,
    stop: &CancellationToken,
) -> bool {
    let mut until = tokio::time::Instant::now() + d;
    loop {
        tokio::select! {
            () = stop.cancelled() => return false,
            () = tokio::time::sleep_until(until) => return true,
            () = agent.command_finished() => {
                if let Some(forced) = life.command_finished(started.elapsed()) {
                    until = until.min(tokio::time::Instant::now() + forced);
                }
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn live(
    host: Arc<Host>,
    clock: SimClock,
    client: IronicClient,
    callback_url: String,
    agent: AgentHandle,
    options: AgentOptions,
    rng: ChaCha8Rng,
    stage: Arc<std::sync::Mutex<Stage>>,
    stop: CancellationToken,
) {
    let started = tokio::time::Instant::now();
    let mut life = Life::new(options.life.clone(), rng);
    let macs = host
        .profile
        .nics
        .iter()
        .map(|n| n.mac.to_ascii_lowercase())
        .collect();
    let mut wire = Wire {
        host,
        clock,
        client,
        callback_url,
        agent,
        heartbeats: options.heartbeats.clone(),
        macs,
        inspection_data: None,
        beats: 0,
        skipped: 0,
        last_error: None,
    };
    let mut action = life.start();
    loop {
        let call = match action {
            Next::Now(call) => call,
            Next::After(wait, call) => {
                if !wait_or_stop(wait, &life, &wire.agent, started, &stop).await {
                    break;
                }
                call
            }
            Next::Stop(end) => {
                wire.ended(end);
                break;
            }
        };
        let answer = tokio::select! {
            biased;
            () = stop.cancelled() => break,
            answer = wire.call(call) => answer,
        };
        action = life.answer(answer, started.elapsed());
        *stage.lock().unwrap_or_else(|e| e.into_inner()) = life.stage();
    }
    tracing::debug!(host = %wire.host.name, beats = wire.beats, "agent heartbeats ended");
}

/// The wire side of one life: what the calls need, and what the logs tell.
struct Wire {
    host: Arc<Host>,
    clock: SimClock,
    client: IronicClient,
    callback_url: String,
    agent: AgentHandle,
    heartbeats: HeartbeatSwitch,
    /// The host's MACs, lower case (the lookup's `addresses`).
    macs: Vec<String>,
    /// The `continue_inspection` body, built at the first post.
    inspection_data: Option<Value>,
    /// Heartbeats accepted.
    beats: u64,
    /// Heartbeats skipped in a row (silenced).
    skipped: u64,
    /// The last failure, for the log line when the life ends.
    last_error: Option<String>,
}

impl Wire {
    /// Makes `call` over HTTP and types the answer (binding the agent when Ironic hands out its
    /// node and token).
    async fn call(&mut self, call: Call) -> Answer {
        match call {
            Call::Negotiate => Answer::Negotiate(match self.client.negotiate().await {
                Ok(_) => Negotiation::Agreed,
                Err(e) => {
                    let too_old = matches!(e, ClientError::TooOld { .. });
                    self.last_error = Some(e.to_string());
                    if too_old {
                        Negotiation::TooOld
                    } else {
                        Negotiation::Failed
                    }
                }
            }),
            Call::Lookup => Answer::Lookup(match self.client.lookup(&self.macs).await {
                Ok(Lookup::Found(b)) => {
                    tracing::info!(host = %self.host.name, node = %b.node_uuid, "agent looked up its node");
                    self.agent.with(|a| a.bind(b));
                    LookupAnswer::Found
                }
                Ok(Lookup::NotYet { status }) => {
                    self.last_error = Some(format!("status {status}"));
                    LookupAnswer::NotYet
                }
                Err(e) => {
                    let retried =
                        matches!(e, ClientError::Http { .. } | ClientError::Status { .. });
                    self.last_error = Some(e.to_string());
                    if retried {
                        LookupAnswer::Failed
                    } else {
                        LookupAnswer::Unusable
                    }
                }
            }),
            Call::Inspect => Answer::Inspect(self.inspect().await),
            Call::Heartbeat => Answer::Heartbeat(self.heartbeat().await),
        }
    }

    async fn inspect(&mut self) -> InspectionAnswer {
        let data = self
            .inspection_data
            .get_or_insert_with(|| inspection_data(&self.host, self.clock));
        match self.client.continue_inspection(data).await {
            Ok(Inspection::Accepted(binding)) => {
                tracing::info!(host = %self.host.name, "agent sent inspection data");
                if let Some(b) = binding {
                    self.agent.with(|a| a.bind(b));
                }
                InspectionAnswer::Accepted
            }
            Ok(Inspection::NotInspecting) => InspectionAnswer::NotInspecting,
            Ok(Inspection::Conflict) => InspectionAnswer::Conflict,
            Err(e) => {
                tracing::warn!(host = %self.host.name, error = %e, "agent inspection call failed");
                InspectionAnswer::Failed
            }
        }
    }

    async fn heartbeat(&mut self) -> HeartbeatAnswer {
        if self.heartbeats.is_silent(&self.host.name, self.clock.now()) {
            // Heartbeat loss: the beat is not sent.
            if self.skipped == 0 {
                tracing::info!(host = %self.host.name, "agent heartbeats silenced");
            }
            self.skipped += 1;
            return HeartbeatAnswer::Silenced;
        }
        if self.skipped > 0 {
            tracing::info!(host = %self.host.name, skipped = self.skipped, "agent heartbeats resumed");
            self.skipped = 0;
        }
        let Some((uuid, token)) = self
            .agent
            .with(|a| a.binding().map(|b| (b.node_uuid.clone(), b.token.clone())))
        else {
            tracing::debug!(host = %self.host.name, "no agent token to heartbeat with");
            return HeartbeatAnswer::Refused(403);
        };
        match self
            .client
            .heartbeat(&uuid, &self.callback_url, &token)
            .await
        {
            Ok(Heartbeat::Accepted) => {
                self.beats += 1;
                HeartbeatAnswer::Accepted
            }
            Ok(Heartbeat::Conflict) => HeartbeatAnswer::Conflict,
            Ok(Heartbeat::Refused { status, fault }) => {
                tracing::debug!(host = %self.host.name, status, fault = %fault, "heartbeat refused");
                HeartbeatAnswer::Refused(status)
            }
            Err(e) => {
                tracing::debug!(host = %self.host.name, error = %e, "heartbeat failed");
                HeartbeatAnswer::Failed
            }
        }
    }

    /// Logs why the life ended.
    fn ended(&self, end: End) {
        let host = &self.host.name;
        let error = self.last_error.as_deref().unwrap_or("none");
        match end {
            End::Incompatible => {
                tracing::error!(host = %host, error, "agent cannot talk to this Ironic");
            }
            End::Unreachable => {
                tracing::error!(host = %host, error, "agent gave up reaching Ironic");
            }
            End::LookupGaveUp => tracing::warn!(host = %host, error, "agent lookup failed"),
            End::Lifetime => tracing::debug!(host = %host, "agent lifetime over"),
            End::Misanswered => tracing::error!(host = %host, "agent life misanswered (a bug)"),
        }
    }
}

/// The `continue_inspection` body for `host` as it booted: its inventory, the PXE MAC of the
/// ramdisk boot (or the profile's boot MAC), and the BMC address.
fn inspection_data(host: &Host, clock: SimClock) -> Value {
    let view = host.view(clock.now());
    let pxe_mac = match view.last_boot.as_ref().map(|b| &b.outcome) {
        Some(BootOutcome::Ramdisk {
            via: RamdiskSource::Pxe { mac } | RamdiskSource::UefiHttp { mac },
        }) => Some(mac.clone()),
        _ => host.profile.boot_mac().map(str::to_string),
    };
    let bmc_ip = host.bmc.socket.ip().to_string();
    let inv = inventory::build(
        &host.name,
        &host.profile,
        Some(&bmc_ip),
        view.boot_mode,
        pxe_mac.as_deref(),
    );
    inventory::inspection_data(&inv, &host.profile)
}
