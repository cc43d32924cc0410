//! The kube-runtime controller that applies state-machine decisions to BareMetalHosts.
//!
//! [`run`] waits for leadership, then runs a `Controller` on BareMetalHosts (and their BMC
//! Secrets) until leadership is lost or shutdown is requested. Each reconcile
//! ([`reconcile::reconcile`]) gathers the views the pure state machine needs, carries out the one
//! effect it decides, and writes the result.

pub mod claims;
pub mod election;
/// Publishing Events, with a bounded memory of the series they extend.
pub mod events;
/// The panic guard around every reconcile and the failure counts behind the error backoff.
pub mod failures;
/// HostFirmwareSettings and FirmwareSchemas: the BIOS settings Ironic reads, and their checks.
pub mod firmware;
/// The one cache of watched hosts the host, claim and pool controllers share.
pub mod host_cache;
/// Per-host memory between reconciles.
pub mod memory;
pub mod pools;
pub mod reconcile;
pub mod secrets;
pub mod slots;
/// What the host, claim and pool controllers share around a leadership term: the Event recorder,
/// the wait for leadership, the drain of a `Controller`'s results.
pub(crate) mod term;
pub mod throttle;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::FutureExt;
use futures::StreamExt;
use futures::future::{BoxFuture, Shared};
use k8s_openapi::api::core::v1::Secret;
use kube::api::ListParams;
use kube::runtime::reflector::{self, Store, reflector};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Api, ResourceExt};
use tracing::{info, warn};

use crate::api::{BareMetalHost, HostFirmwareSettings};
use crate::provisioner::Provisioner;
use crate::telemetry::{Metrics, Readiness};
use events::Recorder;
use failures::Failures;
use memory::HostMemory;

pub use election::Leadership;
use slots::Slots;

pub use host_cache::HostCache;

/// Field manager and Event reporting component, as upstream names its controller.
pub const FIELD_MANAGER: &str = "metal3-baremetal-controller";

/// Where the shell gets `now` from; the binary passes the wall clock, tests a fixed one.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// Controller knobs that come from the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControllerSettings {
    /// Watch one namespace, or all when `None`.
    pub watch_namespace: Option<String>,
    /// Reconciles running at once (0 = unbounded, as kube-runtime defines it).
    pub concurrency: u16,
    /// `PROVISIONING_LIMIT`.
    pub provisioning_limit: u32,
    /// Seed for the per-host RNG streams (jitter).
    pub seed: u64,
    /// `reportingInstance` of Events (usually the pod name).
    pub instance: Option<String>,
}

/// Why one reconcile failed; every variant is retried with per-object backoff.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// Reading or labelling a Secret, or writing the host or its HardwareData.
    #[error(transparent)]
    Kube(#[from] failures::KubeCallError),
    #[error("encoding the status of host {host} failed: {message}")]
    EncodeStatus { host: String, message: String },
    #[error("reconcile of host {host} panicked")]
    Panicked { host: String },
}

/// Why the controller stopped.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    #[error("the controller's watch stream ended unexpectedly")]
    StreamEnded,
}

/// Shared state of one controller term (one leadership period).
pub struct Context {
    pub client: kube::Client,
    pub provisioner: Arc<dyn Provisioner>,
    pub metrics: Metrics,
    pub recorder: Recorder,
    pub clock: Arc<dyn Clock>,
    pub settings: ControllerSettings,
    pub machine: crate::statemachine::Settings,
    pub leadership: Leadership,
    pub store: Store<BareMetalHost>,
    /// The labelled BMC Secrets, as the Secret watch last saw them.
    pub secrets: Store<Secret>,
    /// The HostFirmwareSettings, as their watch last saw them; None when the cluster does not
    /// serve them (their CRD is not installed, or the operator may not read them).
    pub firmware: Option<Store<HostFirmwareSettings>>,
    pub slots: Slots,
    /// What is remembered per host between reconciles (forgotten when the host is released).
    pub(crate) memory: HostMemory,
    failures: Failures,
}

/// Everything [`run`] needs besides the client.
pub struct Runtime {
    pub provisioner: Arc<dyn Provisioner>,
    pub metrics: Metrics,
    pub readiness: Readiness,
    pub clock: Arc<dyn Clock>,
    pub settings: ControllerSettings,
    pub machine: crate::statemachine::Settings,
    pub leadership: Leadership,
    /// The client Events are published with. The binary gives Events a client of their own,
    /// with its own QPS budget, as client-go's event broadcaster has: a burst of Events then
    /// never holds back the host writes. `None`: the controller's client.
    pub events: Option<kube::Client>,
    /// The host cache this process's controllers share ([`HostCache::start`]).
    pub hosts: HostCache,
}

impl Context {
    pub fn new(
        client: kube::Client,
        runtime: &Runtime,
        store: Store<BareMetalHost>,
        secrets: Store<Secret>,
        firmware: Option<Store<HostFirmwareSettings>>,
        slots: Slots,
    ) -> Self {
        Self {
            recorder: term::recorder(
                runtime.events.as_ref().unwrap_or(&client),
                FIELD_MANAGER,
                runtime.settings.instance.clone(),
            ),
            client,
            provisioner: runtime.provisioner.clone(),
            metrics: runtime.metrics.clone(),
            clock: runtime.clock.clone(),
            settings: runtime.settings.clone(),
            machine: runtime.machine.clone(),
            leadership: runtime.leadership.clone(),
            store,
            secrets,
            firmware,
            slots,
            memory: HostMemory::new(runtime.settings.seed),
            failures: Failures::default(),
        }
    }

    /// Forgets everything kept about a released host: its memory and its metric series.
    pub(crate) fn forget_host(&self, host: &BareMetalHost) {
        self.memory.forget(host);
        self.metrics
            .forget_host(&host.namespace().unwrap_or_default(), &host.name_any());
    }

    /// When to reconcile `host` again after `decision`, its polls paced.
    pub(crate) fn requeue_after(
        &self,
        host: &BareMetalHost,
        decision: &crate::statemachine::Decision,
    ) -> Option<Duration> {
        self.memory.requeue_after(host, decision, &self.machine)
    }

    /// Replaces the host's BMC password in `text`, in case a lower layer echoed it.
    pub(crate) fn scrub(&self, host: &BareMetalHost, text: &str) -> String {
        self.memory.scrub(host, text)
    }
}

fn hosts_api(client: &kube::Client, namespace: Option<&str>) -> Api<BareMetalHost> {
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Marks the operator ready once a first list of hosts succeeds, independent of leadership.
async fn await_first_list(client: kube::Client, namespace: Option<String>, readiness: Readiness) {
    let api = hosts_api(&client, namespace.as_deref());
    let mut delay = Duration::from_millis(200);
    loop {
        match api.list(&ListParams::default().limit(1)).await {
            Ok(_) => {
                readiness.set_ready();
                info!("first host list completed, ready");
                return;
            }
            Err(error) => warn!(error = %error, "listing hosts failed, not ready yet"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}

/// True when HostFirmwareSettings can be listed here; otherwise the firmware settings are off
/// for this term, said once in the log (a cluster without their CRD still manages its hosts).
async fn firmware_served(api: &Api<HostFirmwareSettings>) -> bool {
    match api.list(&ListParams::default().limit(1)).await {
        Ok(_) => true,
        Err(error) => {
            warn!(error = %error, "HostFirmwareSettings cannot be listed: BIOS settings are not managed");
            false
        }
    }
}

/// One leadership term: a Controller on hosts and their BMC Secrets until its stream ends, and
/// the firmware-settings controller beside it.
async fn host_term(client: kube::Client, runtime: &Runtime) {
    let ns = runtime.settings.watch_namespace.as_deref();
    let secrets: Api<Secret> = match ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let firmware_api: Api<HostFirmwareSettings> = match ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let store = runtime.hosts.store();
    let controller = Controller::for_shared_stream(runtime.hosts.subscribe(), store.clone())
        .with_config(
            kube::runtime::controller::Config::default().concurrency(runtime.settings.concurrency),
        );
    // One watch of the labelled BMC Secrets both caches them (credentials are read from the
    // cache, as upstream's label-selected cache does) and maps a change to the hosts using it.
    let (secret_store, secret_writer) = reflector::store();
    let secret_watch = watcher::Config::default().labels(&secrets::bmc_secret_selector());
    let secret_changes = reflector(
        secret_writer,
        watcher(secrets, secret_watch).modify(drop_managed_fields),
    )
    .applied_objects();
    // A host woken by a released provisioning slot is reconciled at once, and so is a host whose
    // firmware settings' pending change moved.
    let (wake, woken) = futures::channel::mpsc::unbounded::<slots::HostKey>();
    let woken = woken.filter_map(|key| std::future::ready(slots::host_ref(&key)));
    let (firmware_wake, firmware_woken) = futures::channel::mpsc::unbounded();
    let served = firmware_served(&firmware_api).await;
    let (firmware_store, firmware_writer) = reflector::store();
    let ctx = Arc::new(Context::new(
        client.clone(),
        runtime,
        store.clone(),
        secret_store,
        served.then(|| firmware_store.clone()),
        Slots::waking(wake),
    ));
    let firmware_term = async {
        if !served {
            return;
        }
        let changes = reflector(
            firmware_writer,
            watcher(firmware_api, watcher::Config::default()).modify(drop_managed_fields),
        )
        .applied_objects();
        let fctx = Arc::new(firmware::FirmwareContext::new(
            client.clone(),
            runtime,
            firmware_store.clone(),
            firmware_wake,
        ));
        firmware::run(runtime.hosts.subscribe(), store.clone(), changes, fctx).await;
    };
    let host_store = store.clone();
    let controller = controller
        .watches_stream(secret_changes, move |secret| {
            secrets::hosts_using(&host_store, &secret)
        })
        .reconcile_on(futures::stream::select(woken, firmware_woken))
        .run(reconcile::reconcile, reconcile::error_policy, ctx);
    let hosts = async {
        // Hosts are decided on only once the firmware settings are known, so a change asked
        // before a restart is not skipped by a provisioning that starts first.
        if served {
            let _ = firmware_store.wait_until_ready().await;
        }
        term::drain(controller, "BareMetalHost").await;
    };
    tokio::join!(hosts, firmware_term);
}

/// Clears what a cached object never needs to carry.
fn drop_managed_fields<K: kube::Resource>(object: &mut K) {
    object.meta_mut().managed_fields = None;
}

/// Runs until `shutdown` resolves: acts only while `runtime.leadership` is held and stops acting
/// as soon as it is lost.
pub async fn run(
    client: kube::Client,
    runtime: Runtime,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ControllerError> {
    let shutdown: Shared<BoxFuture<'static, ()>> = shutdown.boxed().shared();
    let ready = tokio::spawn(await_first_list(
        client.clone(),
        runtime.settings.watch_namespace.clone(),
        runtime.readiness.clone(),
    ));
    let result = term::while_leading(
        &runtime.leadership,
        shutdown,
        "controller",
        runtime.settings.watch_namespace.as_deref(),
        || host_term(client.clone(), &runtime),
    )
    .await;
    ready.abort();
    result
}

/// Publishes the Events a claim or pool status change deserves, as `(warning, reason, message)`,
/// on the object `reference`; a failure to publish is logged under `object`, not fatal.
pub(crate) async fn publish_events(
    recorder: &Recorder,
    reference: &k8s_openapi::api::core::v1::ObjectReference,
    object: &str,
    events: impl IntoIterator<Item = (bool, String, String)>,
) {
    use kube::runtime::events::{Event, EventType};
    for (warning, reason, message) in events {
        let event = Event {
            type_: if warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: reason.clone(),
            note: Some(message),
            action: reason.clone(),
            secondary: None,
        };
        if let Err(error) = recorder.publish(&event, reference).await {
            warn!(object, reason = %reason, error = %error, "publishing event failed");
        }
    }
}
