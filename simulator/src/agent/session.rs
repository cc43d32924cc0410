//! One running agent: its command server plus the life IPA leads after boot — look the node up
//! (bounded, jittered retries), send the inspection data when the node is being inspected, then
//! heartbeat every ~1–2 s until stopped.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use tokio_util::sync::CancellationToken;

use super::client::{ClientError, Heartbeat, Inspection, IronicClient, RetryPolicy};
use super::core::Agent;
use super::inventory;
use super::server::{self, AgentHandle, AgentServer, ServerOptions};
use super::silence::HeartbeatSwitch;
use crate::machine::{BootOutcome, Host, RamdiskSource, SimClock};

/// When the agent posts its inspection data to `/v1/continue_inspection`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InspectionMode {
    /// On every boot, right after the lookup (which succeeds only once the conductor has released
    /// the node, so its state has settled); Ironic answers 404 unless the node is in
    /// `inspect wait`. The fake ramdisk cannot read the `ipa-inspection-callback-url` kernel
    /// parameter that tells a real IPA, so it asks (real Ironic logs one ERROR line for the 404).
    Auto,
    /// Never.
    Never,
}

/// How agents talk to Ironic.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// Ironic's API base URL (loopback).
    pub ironic_url: String,
    /// The loopback address agents listen on (port 0: one port per agent).
    pub listen_ip: IpAddr,
    /// Command server limits.
    pub server: ServerOptions,
    /// Lookup retries.
    pub lookup: RetryPolicy,
    /// Mean heartbeat interval (each wait is jittered ±25 %).
    pub heartbeat_interval: Duration,
    /// Inspection behaviour.
    pub inspection: InspectionMode,
    /// An agent stops heartbeating after this long (bounds the loop).
    pub lifetime: Duration,
    /// Hosts whose heartbeats are lost (a fault switch; shared by every session).
    pub heartbeats: HeartbeatSwitch,
}

impl AgentOptions {
    /// Defaults for `ironic_url`: 127.0.0.1, 1.5 s heartbeats, inspection `Auto`, 6 h lifetime.
    pub fn new(ironic_url: &str) -> AgentOptions {
        AgentOptions {
            ironic_url: ironic_url.to_string(),
            listen_ip: IpAddr::from([127, 0, 0, 1]),
            server: ServerOptions::default(),
            lookup: RetryPolicy::default(),
            heartbeat_interval: Duration::from_millis(1500),
            inspection: InspectionMode::Auto,
            lifetime: Duration::from_secs(6 * 3600),
            heartbeats: HeartbeatSwitch::default(),
        }
    }
}

/// A running agent (server + life task).
pub struct Session {
    server: AgentServer,
    life: tokio::task::JoinHandle<()>,
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
        let life = tokio::spawn(live(
            host,
            clock,
            client,
            server.callback_url(),
            server.agent_handle(),
            options.clone(),
            rng,
            stop.clone(),
        ));
        Ok(Session { server, life, stop })
    }

    /// The callback URL Ironic calls.
    pub fn callback_url(&self) -> String {
        self.server.callback_url()
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

async fn sleep_or_stop(d: Duration, stop: &CancellationToken) -> bool {
    tokio::select! {
        () = stop.cancelled() => false,
        () = tokio::time::sleep(d) => true,
    }
}

#[allow(clippy::too_many_arguments)]
async fn live(
    host: Arc<Host>,
    clock: SimClock,
    mut client: IronicClient,
    callback_url: String,
    agent: AgentHandle,
    options: AgentOptions,
    mut rng: ChaCha8Rng,
    stop: CancellationToken,
) {
    let started = tokio::time::Instant::now();
    // Negotiation: bounded retries while Ironic is not answering yet.
    let mut tries = 0;
    loop {
        match client.negotiate().await {
            Ok(_) => break,
            Err(e @ ClientError::TooOld { .. }) => {
                tracing::error!(host = %host.name, error = %e, "agent cannot talk to this Ironic");
                return;
            }
            Err(e) => {
                tries += 1;
                if tries >= options.lookup.attempts || started.elapsed() > options.lookup.budget {
                    tracing::error!(host = %host.name, error = %e, "agent gave up reaching Ironic");
                    return;
                }
                if !sleep_or_stop(options.lookup.delay(tries, &mut rng), &stop).await {
                    return;
                }
            }
        }
    }
    let macs: Vec<String> = host
        .profile
        .nics
        .iter()
        .map(|n| n.mac.to_ascii_lowercase())
        .collect();
    if agent.with(|a| a.binding().is_none()) {
        let found = tokio::select! {
            () = stop.cancelled() => return,
            r = client.lookup_until_found(&macs, options.lookup, &mut rng) => r,
        };
        match found {
            Ok(b) => {
                tracing::info!(host = %host.name, node = %b.node_uuid, "agent looked up its node");
                agent.with(|a| a.bind(b));
            }
            Err(e) => {
                tracing::warn!(host = %host.name, error = %e, "agent lookup failed");
                return;
            }
        }
    }
    if options.inspection == InspectionMode::Auto {
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
        let data = inventory::inspection_data(&inv, &host.profile);
        for attempt in 0..5u32 {
            match client.continue_inspection(&data).await {
                Ok(Inspection::Accepted(binding)) => {
                    tracing::info!(host = %host.name, "agent sent inspection data");
                    if let Some(b) = binding {
                        agent.with(|a| a.bind(b));
                    }
                    break;
                }
                Ok(Inspection::NotInspecting) => break,
                Ok(Inspection::Conflict) => {}
                Err(e) => {
                    tracing::warn!(host = %host.name, error = %e, "agent inspection call failed");
                    break;
                }
            }
            if !sleep_or_stop(options.lookup.delay(attempt, &mut rng), &stop).await {
                return;
            }
        }
    }
    let Some((uuid, token)) =
        agent.with(|a| a.binding().map(|b| (b.node_uuid.clone(), b.token.clone())))
    else {
        return;
    };
    let mut beats: u64 = 0;
    let mut skipped: u64 = 0;
    while started.elapsed() < options.lifetime && !stop.is_cancelled() {
        if options.heartbeats.is_silent(&host.name, clock.now()) {
            // Heartbeat loss: the beat is not sent; try again after the usual interval.
            if skipped == 0 {
                tracing::info!(host = %host.name, "agent heartbeats silenced");
            }
            skipped += 1;
            if !sleep_or_stop(options.heartbeat_interval, &stop).await {
                break;
            }
            continue;
        }
        if skipped > 0 {
            tracing::info!(host = %host.name, skipped, "agent heartbeats resumed");
            skipped = 0;
        }
        let wait = match client.heartbeat(&uuid, &callback_url, &token).await {
            Ok(Heartbeat::Accepted) => {
                beats += 1;
                options
                    .heartbeat_interval
                    .mul_f64(rng.random_range(0.75..=1.25))
            }
            Ok(Heartbeat::Conflict) => Duration::from_millis(rng.random_range(150..=400)),
            Ok(Heartbeat::Refused { status, fault }) => {
                tracing::debug!(host = %host.name, status, fault = %fault, "heartbeat refused");
                options.heartbeat_interval
            }
            Err(e) => {
                tracing::debug!(host = %host.name, error = %e, "heartbeat failed");
                options.heartbeat_interval
            }
        };
        if !sleep_or_stop(wait, &stop).await {
            break;
        }
    }
    tracing::debug!(host = %host.name, beats, "agent heartbeats ended");
}
