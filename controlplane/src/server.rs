//! Starting and stopping the control plane: its options, the loopback-only listener serving the
//! API over TLS, the snapshot keeper, and the handle of a running server.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::api;
use crate::snapshot::{self, SnapshotError, SnapshotSettings};
use crate::state::{Clock, State};
use crate::tls::{self, Identity};

/// Failures starting the control plane.
#[derive(Debug, thiserror::Error)]
pub enum ControlPlaneError {
    #[error("listen address {0} is not loopback (the control plane serves 127.0.0.0/8 only)")]
    NotLoopback(SocketAddr),
    #[error("binding {address}: {source}")]
    Bind {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Identity(#[from] tls::IdentityError),
    #[error("reading CRDs from {path}: {reason}")]
    Crds { path: PathBuf, reason: String },
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error("serving: {0}")]
    Serve(String),
    #[error("control plane state lock poisoned")]
    Poisoned,
}

/// How to start the control plane.
#[derive(Clone)]
pub struct Options {
    /// Loopback address; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Seed for UIDs and generated names (the bearer token comes from the OS).
    pub seed: u64,
    /// Changes remembered for watches (older resourceVersions get 410 Gone).
    pub history: usize,
    /// How often watches that asked for bookmarks get one.
    pub bookmark_interval: Duration,
    pub clock: Clock,
    /// Restore from this snapshot at start (when the file exists) and keep writing it.
    pub snapshot: Option<SnapshotSettings>,
    /// The most objects one resource may hold (all namespaces); a create beyond it is refused
    /// 403 Forbidden "exceeded quota", as a ResourceQuota's object count would be. Default
    /// [`Options::MAX_OBJECTS_PER_RESOURCE`].
    pub max_objects_per_resource: usize,
}

impl Options {
    /// The default per-resource object cap: well above a fleet's objects of one kind (the
    /// largest fleet run is 100 000 hosts, in engine mode, which runs no control plane).
    pub const MAX_OBJECTS_PER_RESOURCE: usize = 250_000;

    /// Defaults for a given clock and seed.
    pub fn new(listen: SocketAddr, clock: Clock, seed: u64) -> Self {
        Self {
            listen,
            seed,
            history: 10_000,
            bookmark_interval: Duration::from_secs(5),
            clock,
            snapshot: None,
            max_objects_per_resource: Self::MAX_OBJECTS_PER_RESOURCE,
        }
    }
}

/// A running control plane.
pub struct Running {
    pub address: SocketAddr,
    pub identity: Identity,
    pub state: Arc<State>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), ControlPlaneError>>,
    snapshot: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// `https://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("https://{}", self.address)
    }

    /// The kubeconfig text for this server.
    pub fn kubeconfig(&self) -> String {
        self.identity.kubeconfig(&self.url())
    }

    /// Writes the kubeconfig to `path`, privately (mode 0600 from creation) and atomically.
    pub fn write_kubeconfig(&self, path: &Path) -> Result<(), ControlPlaneError> {
        Ok(self.identity.write_kubeconfig(path, &self.url())?)
    }

    /// A token that stops the server when cancelled.
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Waits until the server stops.
    pub async fn wait(self) -> Result<(), ControlPlaneError> {
        let served = self
            .task
            .await
            .map_err(|e| ControlPlaneError::Serve(e.to_string()))?;
        // The server stops only when `stop` is cancelled, which also ends the snapshot keeper.
        self.stop.cancel();
        if let Some(keeper) = self.snapshot {
            keeper
                .await
                .map_err(|e| ControlPlaneError::Serve(e.to_string()))?;
        }
        served
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(self) -> Result<(), ControlPlaneError> {
        self.stop.cancel();
        self.wait().await
    }
}

/// Starts the control plane on `options.listen` (loopback only).
pub async fn start(options: Options) -> Result<Running, ControlPlaneError> {
    if !options.listen.ip().is_loopback() {
        return Err(ControlPlaneError::NotLoopback(options.listen));
    }
    let identity = Identity::generate()?;
    let state = State::new(&options, identity.token.clone());
    if let Some(settings) = &options.snapshot
        && settings.path.exists()
    {
        let n = state.load_snapshot(&settings.path)?;
        tracing::info!(path = %settings.path.display(), objects = n, "snapshot restored");
    }
    let listener =
        std::net::TcpListener::bind(options.listen).map_err(|source| ControlPlaneError::Bind {
            address: options.listen,
            source,
        })?;
    listener
        .set_nonblocking(true)
        .map_err(|source| ControlPlaneError::Bind {
            address: options.listen,
            source,
        })?;
    let address = listener
        .local_addr()
        .map_err(|source| ControlPlaneError::Bind {
            address: options.listen,
            source,
        })?;
    if let Ok(mut a) = state.server_address.lock() {
        *a = address.to_string();
    }
    let stop = CancellationToken::new();
    let app = api::router(Arc::clone(&state));
    tracing::info!(address = %address, "control plane listening");
    let served = metal_guard::serve(
        listener,
        app,
        Some(identity.rustls().get_inner()),
        metal_guard::Limits::default().with_body_limit(api::BODY_LIMIT),
        stop.clone().cancelled_owned(),
        Some(Duration::from_secs(1)),
    );
    let task = tokio::spawn(async move {
        served
            .await
            .map_err(|e| ControlPlaneError::Serve(e.to_string()))
    });
    let snapshot = options
        .snapshot
        .clone()
        .map(|settings| tokio::spawn(snapshot::keep(Arc::clone(&state), settings, stop.clone())));
    Ok(Running {
        address,
        identity,
        state,
        stop,
        task,
        snapshot,
    })
}
