//! `metal-sim serve`: starts a fleet's BMCs (Redfish over HTTP/HTTPS, IPMI over UDP), the machine
//! ticker and the control API, and describes every endpoint in an [`Endpoints`] document.
//!
//! [`start`] binds every socket before returning (so a bind failure is reported at once and the
//! endpoints are usable as soon as it returns); [`Running::wait`] serves until the stop token is
//! cancelled or a server fails; [`Running::shutdown`] stops everything.

mod agents;
pub mod control;
pub mod live;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::ipmi::{self, IpmiSettings};
use crate::machine::{BmcProtocol, ListenerKind, World};
use crate::redfish::{self, ServiceOptions, TlsIdentity};

/// How to run the fleet's servers.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Control API address (loopback; port 0 picks a free port).
    pub control: SocketAddr,
    /// How often the ticker completes due machine transitions.
    pub tick: Duration,
    /// Redfish service settings.
    pub redfish: ServiceOptions,
    /// IPMI settings.
    pub ipmi: IpmiSettings,
    /// Where to serve the mock Ironic API (loopback), or `None` for no mock Ironic.
    pub ironic: Option<SocketAddr>,
    /// Seed of the mock Ironic's generated UUIDs and agent tokens.
    pub ironic_seed: u64,
    /// The mock Ironic's conductor settings (timings, e.g. its callback timeout; cleaning).
    pub ironic_settings: crate::ironic::conductor::Settings,
    /// Networks beyond loopback where the mock Ironic's drivers may reach BMCs
    /// (`--allow-bmc-network`); empty: loopback BMCs only.
    pub ironic_bmc_networks: Vec<crate::egress::Network>,
    /// An external Ironic (e.g. real Ironic) the fleet's agents talk to instead of the mock.
    pub ironic_url: Option<String>,
    /// How the fleet's agents pace their heartbeats and lookups.
    pub agent: crate::agent::LifeSettings,
    /// What the machines' disks boot into (node images run a kubelet).
    pub guest: crate::guest::GuestSettings,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            control: SocketAddr::from(([127, 0, 0, 1], 9100)),
            tick: Duration::from_millis(20),
            redfish: ServiceOptions::default(),
            ipmi: IpmiSettings::default(),
            ironic: None,
            ironic_seed: 0,
            ironic_settings: crate::ironic::conductor::Settings::default(),
            ironic_bmc_networks: Vec::new(),
            ironic_url: None,
            agent: crate::agent::LifeSettings::default(),
            guest: crate::guest::GuestSettings::default(),
        }
    }
}

impl ServeOptions {
    /// The defaults for a fleet of `hosts` running at `time_scale`: the agents' and the mock
    /// conductor's waits scaled (`LifeSettings::for_fleet`, `conductor::Settings::for_fleet`).
    pub fn for_fleet(time_scale: f64, hosts: usize) -> ServeOptions {
        ServeOptions {
            ironic_settings: crate::ironic::conductor::Settings::for_fleet(time_scale, hosts),
            agent: crate::agent::LifeSettings::for_fleet(time_scale, hosts),
            guest: crate::guest::GuestSettings::for_fleet(time_scale),
            ..ServeOptions::default()
        }
    }

    /// [`ServeOptions::for_fleet`] for `fleet`, with what its file says the disks boot into.
    pub fn of_fleet(fleet: &crate::fleet::Fleet) -> ServeOptions {
        let mut options = Self::for_fleet(fleet.file.time_scale, fleet.hosts().len());
        options.guest.node_images = fleet.file.guest.node_images.clone();
        options
    }
}

/// One BMC in the endpoints file.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BmcEntry {
    /// Host name.
    pub name: String,
    /// `redfish`, `redfish-virtualmedia` or `ipmi`.
    pub protocol: String,
    /// The exact `spec.bmc.address`.
    pub address: String,
    /// BMC user name.
    pub username: String,
    /// BMC password.
    pub password: String,
    /// MAC of the boot NIC.
    pub boot_mac: Option<String>,
}

impl std::fmt::Debug for BmcEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BmcEntry")
            .field("name", &self.name)
            .field("protocol", &self.protocol)
            .field("address", &self.address)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("boot_mac", &self.boot_mac)
            .finish()
    }
}

/// The endpoints file: every BMC and the control API (later issues add more services).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoints {
    /// Every BMC, in host order.
    pub bmcs: Vec<BmcEntry>,
    /// Base URL of the control API.
    pub control: String,
    /// Base URL of the mock Ironic API, when served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ironic: Option<String>,
    /// Path of the kubeconfig of the embedded control plane, when `serve` started one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig: Option<String>,
}

impl Endpoints {
    /// The endpoints of `world` with the control API at `control`.
    pub fn of(world: &World, control: SocketAddr) -> Self {
        Endpoints {
            bmcs: world
                .hosts()
                .iter()
                .map(|h| BmcEntry {
                    name: h.name.clone(),
                    protocol: h.bmc.protocol.as_str().to_string(),
                    address: h.bmc.address(),
                    username: h.bmc.credentials.username.clone(),
                    password: h.bmc.credentials.password.clone(),
                    boot_mac: h.profile.boot_mac().map(str::to_string),
                })
                .collect(),
            control: format!("http://{control}"),
            ironic: None,
            kubeconfig: None,
        }
    }

    /// Writes the JSON document to `path`: it holds the BMC passwords, so privately (mode 0600
    /// from creation) and atomically, readers never seeing half (`metal_tls::secret::write_private`).
    pub fn write(&self, path: &Path) -> Result<(), ServeError> {
        let err = |source| ServeError::WriteEndpoints {
            path: path.to_path_buf(),
            source,
        };
        let json = serde_json::to_vec_pretty(self).map_err(|e| err(std::io::Error::other(e)))?;
        metal_tls::secret::write_private(path, &json).map_err(err)
    }
}

/// A fleet that cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Every server listens on loopback only.
    #[error("{socket} is not a loopback address (metal-sim listens on 127.0.0.0/8 only)")]
    NotLoopback {
        /// The refused address.
        socket: SocketAddr,
    },
    /// A BMC or control socket could not be bound.
    #[error("cannot bind {socket}")]
    Bind {
        /// The address.
        socket: SocketAddr,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The self-signed certificate could not be made.
    #[error("cannot create the HTTPS certificate")]
    Tls(#[from] redfish::TlsError),
    /// The IPMI shell failed.
    #[error("IPMI BMCs failed")]
    Ipmi(#[from] ipmi::IpmiServeError),
    /// A Redfish server failed.
    #[error("Redfish BMC failed")]
    Redfish(#[from] redfish::ServeError),
    /// The mock Ironic could not start or failed.
    #[error("mock Ironic failed: {0}")]
    Ironic(String),
    /// The fake agents could not start.
    #[error("fake agents failed: {0}")]
    Agents(String),
    /// The control API server failed.
    #[error("control API failed")]
    Control(#[source] std::io::Error),
    /// A serving task panicked or was cancelled.
    #[error("serving task failed")]
    Task(#[from] tokio::task::JoinError),
    /// The endpoints file could not be written.
    #[error("cannot write endpoints file {path}")]
    WriteEndpoints {
        /// The path.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}

/// A running fleet.
pub struct Running {
    world: Arc<World>,
    /// The mock Ironic served, if one is.
    ironic: Option<crate::ironic::AppState>,
    agents: Option<crate::agent::Launcher>,
    guests: crate::guest::Guests,
    endpoints: Endpoints,
    control: SocketAddr,
    certificate_pem: Option<String>,
    stop: CancellationToken,
    tasks: JoinSet<Result<(), ServeError>>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("control", &self.control)
            .field("hosts", &self.world.hosts().len())
            .finish()
    }
}

/// Binds every BMC socket and the control API, then starts serving. Returns once all sockets are bound.
pub async fn start(world: Arc<World>, options: ServeOptions) -> Result<Running, ServeError> {
    let plans = world.listeners();
    let not_loopback = std::iter::once(options.control)
        .chain(options.ironic)
        .chain(plans.iter().map(|p| p.socket))
        .find(|s| !s.ip().is_loopback());
    if let Some(socket) = not_loopback {
        return Err(ServeError::NotLoopback { socket });
    }
    let stop = CancellationToken::new();
    let mut tasks: JoinSet<Result<(), ServeError>> = JoinSet::new();

    let https_names: Vec<String> = {
        let mut ips: Vec<String> = plans
            .iter()
            .filter(|p| p.kind == ListenerKind::RedfishHttps)
            .map(|p| p.socket.ip().to_string())
            .collect();
        ips.sort();
        ips.dedup();
        ips
    };
    let identity = if https_names.is_empty() {
        None
    } else {
        let mut names = https_names;
        names.push("localhost".to_string());
        Some(TlsIdentity::self_signed(&names)?)
    };

    let mut redfish_listeners = Vec::new();
    for plan in plans.iter().filter(|p| p.kind != ListenerKind::Ipmi) {
        let listener = std::net::TcpListener::bind(plan.socket)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|source| ServeError::Bind {
                socket: plan.socket,
                source,
            })?;
        redfish_listeners.push((plan, listener));
    }
    let ipmi_bindings = ipmi::bind_all(&world).await?;
    let control_listener = tokio::net::TcpListener::bind(options.control)
        .await
        .map_err(|source| ServeError::Bind {
            socket: options.control,
            source,
        })?;
    let control = control_listener
        .local_addr()
        .map_err(|source| ServeError::Bind {
            socket: options.control,
            source,
        })?;

    for (plan, listener) in redfish_listeners {
        let state = redfish::state_for(&world, plan, options.redfish.clone());
        let tls = (plan.kind == ListenerKind::RedfishHttps)
            .then(|| identity.clone())
            .flatten();
        let stop = stop.clone();
        tasks.spawn(
            async move { Ok(redfish::serve(listener, redfish::app(state), tls, stop).await?) },
        );
    }
    if !ipmi_bindings.is_empty() {
        let (world, settings, stop) = (Arc::clone(&world), options.ipmi.clone(), stop.clone());
        tasks.spawn(async move { Ok(ipmi::serve(world, ipmi_bindings, settings, stop).await?) });
    }
    let heartbeats = crate::agent::HeartbeatSwitch::default();
    let mut ironic_state = None;
    let ironic_url = match options.ironic {
        None => None,
        Some(socket) => {
            let listener = tokio::net::TcpListener::bind(socket)
                .await
                .map_err(|source| ServeError::Bind { socket, source })?;
            let bound = listener
                .local_addr()
                .map_err(|source| ServeError::Bind { socket, source })?;
            if !options.ironic_bmc_networks.is_empty() {
                let networks: Vec<String> = options
                    .ironic_bmc_networks
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                tracing::warn!(
                    networks = networks.join(","),
                    "the mock Ironic may send packets to BMCs off loopback"
                );
            }
            // The shell is the one place allowed to read the wall clock.
            let clock: crate::ironic::Clock = Arc::new(chrono::Utc::now);
            let state = crate::ironic::AppState::with_bmc_networks(
                options.ironic_settings,
                options.ironic_seed,
                clock,
                &options.ironic_bmc_networks,
            )
            .map_err(|e| ServeError::Ironic(e.to_string()))?;
            ironic_state = Some(state.clone());
            let stop = stop.clone();
            tasks.spawn(async move {
                tokio::select! {
                    r = crate::ironic::serve(listener, state) => r.map_err(|e| ServeError::Ironic(e.to_string())),
                    () = stop.cancelled_owned() => Ok(()),
                }
            });
            Some(format!("http://{bound}"))
        }
    };
    let agents = agents::start(
        &world,
        options.ironic_url.as_deref(),
        ironic_url.as_deref(),
        heartbeats.clone(),
        options.agent.clone(),
        &stop,
        &mut tasks,
    )?;
    let (guests, guest_task) = crate::guest::Guests::spawn(
        Arc::clone(&world),
        options.guest.clone(),
        stop.child_token(),
    );
    tasks.spawn(async move { Ok(guest_task.await?) });
    {
        // After the agents and the guests, so the live view can show them.
        let app = control::fleet_app(
            Arc::clone(&world),
            heartbeats,
            agents.clone(),
            Some(guests.clone()),
            live::stream::StreamSettings::default(),
            stop.clone(),
        );
        let stop = stop.clone();
        tasks.spawn(async move {
            let listener = control_listener.into_std().map_err(ServeError::Control)?;
            metal_guard::serve(
                listener,
                app,
                None,
                metal_guard::Limits::default(),
                stop.cancelled_owned(),
                None,
            )
            .await
            .map_err(ServeError::Control)
        });
    }
    let ticker = world.spawn_ticker(options.tick, stop.clone());
    tasks.spawn(async move { Ok(ticker.await?) });

    tracing::info!(
        hosts = world.hosts().len(),
        listeners = plans.len(),
        seed = world.seed(),
        control = %control,
        "fleet serving"
    );
    let mut endpoints = Endpoints::of(&world, control);
    endpoints.ironic = ironic_url.or(options.ironic_url);
    Ok(Running {
        world,
        ironic: ironic_state,
        agents,
        guests,
        endpoints,
        control,
        certificate_pem: identity.map(|i| i.certificate_pem),
        stop,
        tasks,
    })
}

impl Running {
    /// The world being served.
    pub fn world(&self) -> &Arc<World> {
        &self.world
    }

    /// The agent tokens the mock Ironic handed out (none when it serves none).
    pub fn agent_tokens(&self) -> Vec<String> {
        self.ironic
            .as_ref()
            .map(crate::ironic::AppState::issued_tokens)
            .unwrap_or_default()
    }

    /// The fake-agent launcher, when agents point at some Ironic.
    pub fn agents(&self) -> Option<&crate::agent::Launcher> {
        self.agents.as_ref()
    }

    /// What each machine's disk booted into (cloud-init, the kubelet).
    pub fn guests(&self) -> &crate::guest::Guests {
        &self.guests
    }

    /// Every endpoint.
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// The control API's address.
    pub fn control(&self) -> SocketAddr {
        self.control
    }

    /// The PEM of the self-signed HTTPS certificate, when some BMC uses HTTPS.
    pub fn certificate_pem(&self) -> Option<&str> {
        self.certificate_pem.as_deref()
    }

    /// A token that stops every server when cancelled.
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Serves until the stop token is cancelled (then waits for a clean stop) or a server fails
    /// (then stops the others and returns its error).
    pub async fn wait(mut self) -> Result<(), ServeError> {
        let mut first_error = None;
        while let Some(joined) = self.tasks.join_next().await {
            let result = joined.map_err(ServeError::from).and_then(|r| r);
            if let Err(e) = result {
                if first_error.is_none() {
                    tracing::error!(error = %e, "server failed; stopping the fleet");
                    first_error = Some(e);
                }
                self.stop.cancel();
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Stops every server and waits for them.
    pub async fn shutdown(self) -> Result<(), ServeError> {
        self.stop.cancel();
        self.wait().await
    }
}

/// A short human summary: counts, addresses, and example `curl` / `ipmitool` lines. It never
/// prints a password: it says where to read them (`endpoints_file`, written mode 0600, when
/// given; the fleet file otherwise), and the examples take it from `$BMC_PASSWORD`.
pub fn summary(world: &World, endpoints: &Endpoints, endpoints_file: Option<&Path>) -> String {
    use std::fmt::Write as _;
    let count = |p: BmcProtocol| world.hosts().iter().filter(|h| h.bmc.protocol == p).count();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "metal-sim: {} hosts ({} redfish, {} redfish-virtualmedia, {} ipmi), seed {}",
        world.hosts().len(),
        count(BmcProtocol::Redfish),
        count(BmcProtocol::RedfishVirtualmedia),
        count(BmcProtocol::Ipmi),
        world.seed()
    );
    const SHOWN: usize = 8;
    for b in endpoints.bmcs.iter().take(SHOWN) {
        let _ = writeln!(s, "  {:<24} {}", b.name, b.address);
    }
    if endpoints.bmcs.len() > SHOWN {
        let _ = writeln!(
            s,
            "  … and {} more (see the endpoints file or GET /hosts)",
            endpoints.bmcs.len() - SHOWN
        );
    }
    let _ = writeln!(s, "control API: {}/hosts", endpoints.control);
    let _ = writeln!(s, "live fleet view: {}/ui", endpoints.control);
    if let Some(kubeconfig) = &endpoints.kubeconfig {
        let _ = writeln!(
            s,
            "control plane: export KUBECONFIG={kubeconfig}; kubectl get bmh -A -w"
        );
    }
    if !world.hosts().is_empty() {
        let _ = match endpoints_file {
            Some(path) => writeln!(
                s,
                "BMC passwords: in {} (mode 0600; \"password\" of each entry)",
                path.display()
            ),
            None => writeln!(
                s,
                "BMC passwords: in the fleet file (or write them to a private file with --endpoints FILE)"
            ),
        };
    }
    if let Some(h) = world.hosts().iter().find(|h| h.bmc.protocol.is_redfish()) {
        let scheme = if h.bmc.tls { "https" } else { "http" };
        let c = &h.bmc.credentials;
        let _ = writeln!(
            s,
            "try: curl -sk -u \"{}:$BMC_PASSWORD\" {scheme}://{}/redfish/v1/Systems/{}",
            c.username, h.bmc.socket, h.bmc.system_id
        );
    }
    if let Some(h) = world
        .hosts()
        .iter()
        .find(|h| h.bmc.protocol == BmcProtocol::Ipmi)
    {
        let c = &h.bmc.credentials;
        let _ = writeln!(
            s,
            "try: ipmitool -I lanplus -C 17 -H {} -p {} -U {} -E power status   (-E: the password from $IPMI_PASSWORD)",
            h.bmc.socket.ip(),
            h.bmc.socket.port(),
            c.username,
        );
    }
    s
}
