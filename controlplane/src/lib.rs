//! metal-controlplane: an embedded Kubernetes-compatible API server used as a test double of the
//! Kubernetes REST API, never a production target. It serves discovery, CRDs with structural
//! schemas, the built-in kinds our operator and manifests use, list/watch, patches and Table
//! output over HTTPS on loopback; `metal-sim controlplane` runs it alone, `metal-sim serve
//! --controlplane` next to a fleet, and the scenario runner in-process.
//!
//! Deliberate simplifications (`docs/controlplane-differences.md` lists each difference from
//! kube-apiserver that `e2e/tests/controlplane_differential.rs` finds, with its reason): strategic
//! merge patches are applied as JSON merge patches (lists are replaced, `$` directives dropped;
//! custom resources refuse them with 415, as real servers do); server-side apply tracks field
//! ownership per manager with lists as atomic fields (`fields`); list pages read the live state
//! (continue tokens are positions, not snapshots) and lists ignore older `resourceVersion`s;
//! owner-reference garbage collection runs synchronously when the owner is removed (`Orphan` and
//! `Foreground` mark the owner with the collector's finalizer first); protobuf request bodies are
//! accepted only for Namespace, Secret and ConfigMap (kubectl's create generators), responses are
//! always JSON. Not served: authorization (any holder of the bearer token is admin), admission and
//! conversion webhooks, aggregated discovery (kubectl falls back to the legacy documents), OpenAPI
//! v2, Pods and other kinds not listed in `builtin`. Snapshots keep objects, not watch history.

/// What every write passes before it is stored: kind and version, shape rules, schemas.
pub mod admission;
/// The HTTP surface (axum): bearer-token authentication and the resource paths with their verbs.
pub mod api;
/// The built-in kinds the operator and our manifests use, with their shape checks.
pub mod builtin;
/// The arguments and foreground run of `metal-sim controlplane`.
pub mod cli;
/// Requests on a collection: lists (selectors, paging, Tables) and the options of a watch.
pub mod collection;
/// CustomResourceDefinitions: the resources they serve, and their schemas' pruning and validation.
pub mod crd;
/// Deletion: finalizers, namespace termination and owner-reference garbage collection.
pub mod deletion;
/// The watch-disconnect switch (a test control, not Kubernetes API): cut every open watch at once.
pub mod disconnect;
/// Discovery documents (legacy, unaggregated) and the minimal OpenAPI v3 that kubectl consults.
pub mod discovery;
/// Field ownership (`metadata.managedFields`) for server-side apply.
pub mod fields;
/// The fields a built-in kind has (a round trip through its k8s-openapi type).
pub mod known_fields;
/// Object lifecycle: create, update with optimistic concurrency, status and spec, patches.
pub mod lifecycle;
/// Patches: JSON merge patch, JSON patch, and strategic merge patch applied as a merge patch.
pub mod patch;
/// The printer columns of the built-in kinds, as kube-apiserver renders them in Tables.
pub mod printers;
/// Just enough of the Kubernetes protobuf encoding for kubectl's `create` generators.
pub mod protobuf;
/// One served resource: its names, scope, subresources, printer columns and schema.
pub mod resource;
/// The `/scale` subresource: an `autoscaling/v1` Scale view of a resource's replica paths.
pub mod scale;
/// Label and field selectors.
pub mod selector;
/// Snapshots of the store in a JSON file, written atomically and restored at start.
pub mod snapshot;
/// API errors as `metav1.Status` bodies with the reasons and codes real servers use.
pub mod status;
/// In-memory objects with a global resourceVersion, and watch fan-out with a bounded history.
pub mod store;
/// `meta.k8s.io/v1` Table responses and the JSONPath subset that printer columns use.
pub mod table;
/// The server's identity: a self-signed CA, a serving certificate, a bearer token, the kubeconfig.
pub mod tls;
/// Watch streams: events from a resourceVersion or initial events, and bookmarks.
pub mod watch;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::SeedableRng as _;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use resource::Resource;
use store::Objects;

pub use cli::ControlPlaneArgs;
pub use snapshot::{SnapshotError, SnapshotSettings};
pub use tls::Identity;

/// The source of "now" (the wall clock in the binary, a fixed or stepped clock in tests).
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

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
}

/// How to start the control plane.
#[derive(Clone)]
pub struct Options {
    /// Loopback address; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Seed for UIDs, generated names and the bearer token.
    pub seed: u64,
    /// Changes remembered for watches (older resourceVersions get 410 Gone).
    pub history: usize,
    /// How often watches that asked for bookmarks get one.
    pub bookmark_interval: Duration,
    pub clock: Clock,
    /// Restore from this snapshot at start (when the file exists) and keep writing it.
    pub snapshot: Option<SnapshotSettings>,
}

impl Options {
    /// Defaults for a given clock and seed.
    pub fn new(listen: SocketAddr, clock: Clock, seed: u64) -> Self {
        Self {
            listen,
            seed,
            history: 10_000,
            bookmark_interval: Duration::from_secs(5),
            clock,
            snapshot: None,
        }
    }
}

/// Shared server state.
pub struct State {
    pub(crate) objects: Mutex<Objects>,
    pub(crate) registry: RwLock<Vec<Resource>>,
    pub(crate) clock: Clock,
    pub(crate) rng: Mutex<ChaCha8Rng>,
    pub(crate) token: String,
    pub(crate) server_address: Mutex<String>,
    pub(crate) bookmark_interval: Duration,
    pub(crate) cuts: disconnect::WatchCuts,
}

impl State {
    /// A fresh state with the built-in resources and the standard namespaces.
    pub fn new(options: &Options, token: String) -> Arc<Self> {
        let state = Arc::new(Self {
            objects: Mutex::new(Objects::new(options.history)),
            registry: RwLock::new(builtin::resources()),
            clock: Arc::clone(&options.clock),
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(options.seed)),
            token,
            server_address: Mutex::new(String::new()),
            bookmark_interval: options.bookmark_interval,
            cuts: disconnect::WatchCuts::default(),
        });
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let obj = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            // The standard namespaces are valid by construction; a failure here is a bug we log.
            if let Err(e) = lifecycle::create_builtin(&state, "namespaces", obj) {
                tracing::error!(error = %e, "creating a standard namespace");
            }
        }
        state
    }

    /// A snapshot of the served resources.
    pub fn resources(&self) -> Vec<Resource> {
        self.registry.read().map(|r| r.clone()).unwrap_or_default()
    }

    /// Registers CRDs from a (multi-document) YAML file; a CRD that exists already (restored
    /// from a snapshot) is replaced by the file's definition.
    pub fn load_crds(self: &Arc<Self>, path: &Path) -> Result<usize, ControlPlaneError> {
        let err = |reason: String| ControlPlaneError::Crds {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        self.load_crds_text(path, &text)
    }

    /// Registers CRDs from YAML text; `source` names it in errors (a file, or a built-in set).
    pub fn load_crds_text(
        self: &Arc<Self>,
        source: &Path,
        text: &str,
    ) -> Result<usize, ControlPlaneError> {
        let err = |reason: String| ControlPlaneError::Crds {
            path: source.to_path_buf(),
            reason,
        };
        let mut count = 0;
        for doc in serde_yaml::Deserializer::from_str(text) {
            let value: Value =
                serde::Deserialize::deserialize(doc).map_err(|e| err(e.to_string()))?;
            if value.is_null() {
                continue;
            }
            if value.get("kind").and_then(Value::as_str) != Some("CustomResourceDefinition") {
                return Err(err(format!(
                    "a document is not a CustomResourceDefinition: kind {:?}",
                    value.get("kind")
                )));
            }
            let name = value
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            match lifecycle::create_builtin(self, "customresourcedefinitions", value.clone()) {
                Ok(_) => {}
                Err(e) if e.code == 409 => {
                    lifecycle::replace_builtin(self, "customresourcedefinitions", &name, value)
                        .map_err(|e| err(e.message))?;
                }
                Err(e) => return Err(err(e.message)),
            }
            count += 1;
        }
        Ok(count)
    }

    /// Forgets all watch history (as an etcd compaction would): older watches get 410 Gone.
    pub fn compact(&self) {
        if let Ok(mut o) = self.objects.lock() {
            o.compact();
        }
    }

    /// Cuts every open watch stream (clients must re-watch); for `refuse_for` after the cut new
    /// watches are refused with 503. Returns how many streams were open.
    pub fn disconnect_watches(&self, refuse_for: Option<Duration>) -> usize {
        let until = refuse_for
            .and_then(|d| chrono::TimeDelta::from_std(d).ok())
            .map(|d| self.now() + d);
        let open = self.cuts.cut(until);
        tracing::info!(open, "watches disconnected");
        open
    }

    /// Ends a watch refusal window early.
    pub fn resume_watches(&self) {
        self.cuts.resume();
        tracing::info!("watches accepted again");
    }

    /// How many watch streams are open now.
    pub fn open_watches(&self) -> usize {
        self.cuts.open()
    }

    /// How many times watches were disconnected.
    pub fn watch_disconnects(&self) -> u64 {
        self.cuts.count()
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        (self.clock)()
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

    /// Writes the kubeconfig to `path`.
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
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed ^ 0x6b75_6265);
    let identity = Identity::generate(&mut rng)?;
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
    let handle = axum_server::Handle::new();
    {
        let handle = handle.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            stop.cancelled().await;
            handle.graceful_shutdown(Some(Duration::from_secs(1)));
        });
    }
    let server = axum_server::from_tcp(listener)
        .map_err(|source| ControlPlaneError::Bind { address, source })?
        .acceptor(axum_server::tls_rustls::RustlsAcceptor::new(
            identity.rustls(),
        ))
        .handle(handle);
    tracing::info!(address = %address, "control plane listening");
    let task = tokio::spawn(async move {
        server
            .serve(app.into_make_service())
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
