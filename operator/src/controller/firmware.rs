//! The HostFirmwareSettings controller: keeps, for each registered host, a HostFirmwareSettings
//! of the same name holding the BIOS settings Ironic reads from the node, a reference to the
//! FirmwareSchema describing them (created once per schema, shared by hosts with the same one),
//! and the `ChangeDetected` / `Valid` conditions the host controller acts on in `available` and
//! `preparing`.
//!
//! The rules are in [`crate::firmware`]; this shell reads (hosts from the shared cache, the
//! HostFirmwareSettings from its watch, the settings from the provisioner), creates and writes,
//! and wakes the host controller when a status changed. Hosts are reconciled on their own changes
//! and on their HostFirmwareSettings' changes; settings are read from Ironic only when
//! [`firmware::read_due`] says so, so a busy host does not cost a read per status write.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::TimeDelta;
use futures::Stream;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::Controller;
use kube::runtime::controller::Action as Requeue;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;
use tracing::{info, warn};

use super::events::Recorder;
use super::failures::{Failures, KubeCallError, backoff, contained};
use super::{Clock, FIELD_MANAGER, Leadership};
use crate::api::{
    BareMetalHost, FirmwareSchema, FirmwareSchemaSpec, HostFirmwareSettings,
    HostFirmwareSettingsSpec, SchemaReference,
};
use crate::firmware::{self, Observed, Pending, ReadMark};
use crate::provisioner::Provisioner;
use crate::statemachine::host_ref;

/// Event reporting component, as upstream names it.
pub const FIRMWARE_CONTROLLER: &str = "metal3-hostfirmwaresettings-controller";

/// How often settings are read again without any change (upstream: 5 minutes).
const READ_PERIOD: TimeDelta = TimeDelta::minutes(5);
/// The same while a change is pending (upstream: 1 minute).
const READ_PERIOD_PENDING: TimeDelta = TimeDelta::minutes(1);
/// Firmware-settings reconciles running at once.
const FIRMWARE_CONCURRENCY: u16 = 2;
/// How soon to retry when Ironic could not be read (upstream: 30 seconds).
const READ_RETRY: Duration = Duration::from_secs(30);

/// Why one firmware-settings reconcile failed (retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum FirmwareError {
    #[error(transparent)]
    Kube(#[from] KubeCallError),
    #[error("reconcile of the firmware settings of host {host} panicked")]
    Panicked { host: String },
    #[error("encoding a patch failed: {0}")]
    Encode(String),
}

/// Shared state of one term of the firmware-settings controller.
pub(crate) struct FirmwareContext {
    client: kube::Client,
    provisioner: Arc<dyn Provisioner>,
    clock: Arc<dyn Clock>,
    leadership: Leadership,
    recorder: Recorder,
    settings: Store<HostFirmwareSettings>,
    /// The last read per host (`namespace/name`).
    reads: Mutex<HashMap<String, ReadMark>>,
    failures: Failures,
    /// Wakes the host controller for a host whose pending change moved.
    wake: futures::channel::mpsc::UnboundedSender<ObjectRef<BareMetalHost>>,
}

impl FirmwareContext {
    pub(crate) fn new(
        client: kube::Client,
        runtime: &super::Runtime,
        settings: Store<HostFirmwareSettings>,
        wake: futures::channel::mpsc::UnboundedSender<ObjectRef<BareMetalHost>>,
    ) -> Self {
        Self {
            recorder: super::term::recorder(
                runtime.events.as_ref().unwrap_or(&client),
                FIRMWARE_CONTROLLER,
                runtime.settings.instance.clone(),
            ),
            client,
            provisioner: runtime.provisioner.clone(),
            clock: runtime.clock.clone(),
            leadership: runtime.leadership.clone(),
            settings,
            reads: Mutex::default(),
            failures: Failures::default(),
            wake,
        }
    }
}

fn key(host: &BareMetalHost) -> String {
    format!(
        "{}/{}",
        host.namespace().unwrap_or_default(),
        host.name_any()
    )
}

/// Runs the controller over the shared host stream and the HostFirmwareSettings changes.
pub(crate) async fn run(
    hosts: impl Stream<Item = Arc<BareMetalHost>> + Send + 'static,
    host_store: Store<BareMetalHost>,
    changes: impl Stream<Item = Result<HostFirmwareSettings, kube::runtime::watcher::Error>>
    + Send
    + 'static,
    ctx: Arc<FirmwareContext>,
) {
    // Hosts alike share one FirmwareSchema, and each adds itself to its owners: with many hosts
    // at once, unbounded reconciles all write that one object together and the API server's
    // retries on it time out (504s at 1 000 hosts, starving the host controller). Two at a
    // time keep the writes to it in line.
    let results = Controller::for_shared_stream(hosts, host_store)
        .with_config(kube::runtime::controller::Config::default().concurrency(FIRMWARE_CONCURRENCY))
        .watches_stream(changes, |hfs| Some(host_of(&hfs)))
        .run(reconcile, error_policy, ctx);
    super::term::drain(results, "HostFirmwareSettings").await;
}

async fn reconcile(
    host: Arc<BareMetalHost>,
    ctx: Arc<FirmwareContext>,
) -> Result<Requeue, FirmwareError> {
    let key = key(&host);
    contained(&ctx.failures, &key, reconcile_host(&host, &ctx), || {
        FirmwareError::Panicked { host: key.clone() }
    })
    .await
}

fn error_policy(
    host: Arc<BareMetalHost>,
    error: &FirmwareError,
    ctx: Arc<FirmwareContext>,
) -> Requeue {
    let failures = ctx.failures.count(&key(&host));
    let delay = backoff(failures);
    warn!(host = %key(&host), error = %error,
        cause = ?std::error::Error::source(error).map(ToString::to_string),
        failures, "firmware settings reconcile failed");
    Requeue::requeue(delay)
}

async fn reconcile_host(
    host: &BareMetalHost,
    ctx: &FirmwareContext,
) -> Result<Requeue, FirmwareError> {
    let key = key(host);
    if !ctx.leadership.is_leader() || !firmware::serves(host) {
        ctx.reads.lock().map(|mut r| r.remove(&key)).ok();
        return Ok(Requeue::await_change());
    }
    let namespace = host.namespace().unwrap_or_default();
    let name = host.name_any();
    let cached = ctx.settings.get(&ObjectRef::new(&name).within(&namespace));
    let hfs = match cached {
        Some(hfs) => (*hfs).clone(),
        None => match create_settings(ctx, host).await? {
            Some(created) => created,
            // Created meanwhile by another writer: the watch brings it shortly.
            None => return Ok(Requeue::requeue(Duration::from_secs(1))),
        },
    };
    let now = ctx.clock.now();
    let mark = ReadMark {
        state: host
            .status
            .as_ref()
            .map(|s| s.provisioning.state)
            .unwrap_or_default(),
        generation: hfs.metadata.generation,
        at: now,
    };
    let pending_before = firmware::pending(Some(&hfs));
    let period = if pending_before == Pending::Changes {
        READ_PERIOD_PENDING
    } else {
        READ_PERIOD
    };
    let last = ctx.reads.lock().ok().and_then(|r| r.get(&key).cloned());
    if !firmware::read_due(last.as_ref(), &mark, period) {
        let since = last.map(|l| now - l.at).unwrap_or_default();
        let left = (period - since).to_std().unwrap_or(Duration::ZERO);
        return Ok(Requeue::requeue(left.max(Duration::from_secs(1))));
    }
    let read = match ctx.provisioner.bios_settings(&host_ref(host)).await {
        Ok(read) => read,
        Err(e) => {
            info!(host = %key, error = %e, "BIOS settings not readable yet");
            return Ok(Requeue::requeue(READ_RETRY));
        }
    };
    let observed = Observed::from_ironic(&read);
    // No setting read (a driver without a BIOS interface, or a node still being verified): no
    // schema to name; the status says so and the next state change reads again.
    let schema = ensure_schema(ctx, host, &hfs, &observed).await?;
    if let Ok(mut r) = ctx.reads.lock() {
        r.insert(key.clone(), mark);
    }
    let (status, problems) = firmware::status(&hfs, &observed, schema, now);
    if hfs.status.as_ref() != Some(&status) {
        write_status(ctx, &hfs, &status).await?;
        if !problems.is_empty() {
            let reference = hfs.object_ref(&());
            // One Event for all the problems: Events of one reason on one object form a series
            // that keeps the first note, so one per setting would hide all but the first.
            let events = [(
                true,
                "ValidationFailed".to_owned(),
                format!("Invalid BIOS setting: {}", problems.join("; ")),
            )];
            super::publish_events(&ctx.recorder, &reference, &key, events).await;
        }
        let mut updated = hfs.clone();
        updated.status = Some(status);
        if firmware::pending(Some(&updated)) != pending_before {
            let _ = ctx.wake.unbounded_send(ObjectRef::from_obj(host));
        }
    }
    let next = match firmware::pending(ctx.settings.get(&ObjectRef::from_obj(&hfs)).as_deref()) {
        Pending::Changes => READ_PERIOD_PENDING,
        _ => READ_PERIOD,
    };
    Ok(Requeue::requeue(next.to_std().unwrap_or(READ_RETRY)))
}

fn owner(host: &BareMetalHost) -> Option<OwnerReference> {
    host.controller_owner_ref(&()).map(|mut o| {
        // An owner, not a controller: upstream sets a plain owner reference.
        o.controller = None;
        o.block_owner_deletion = None;
        o
    })
}

/// Creates the host's HostFirmwareSettings, empty, owned by the host (removed with it by the
/// garbage collector). None when one exists already (created meanwhile by someone else).
async fn create_settings(
    ctx: &FirmwareContext,
    host: &BareMetalHost,
) -> Result<Option<HostFirmwareSettings>, FirmwareError> {
    let namespace = host.namespace().unwrap_or_default();
    let name = host.name_any();
    let api: Api<HostFirmwareSettings> = Api::namespaced(ctx.client.clone(), &namespace);
    let mut hfs = HostFirmwareSettings::new(&name, HostFirmwareSettingsSpec::default());
    hfs.metadata.namespace = Some(namespace.clone());
    hfs.metadata.owner_references = owner(host).map(|o| vec![o]);
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PostParams::default()
    };
    match api.create(&params, &hfs).await {
        Ok(created) => {
            info!(host = %key(host), "created HostFirmwareSettings");
            Ok(Some(created))
        }
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(None),
        Err(source) => Err(KubeCallError::new(
            "creating the firmware settings of",
            &namespace,
            &name,
            source,
        )
        .into()),
    }
}

/// The FirmwareSchema for what was read, created when missing and owned (among others) by this
/// HostFirmwareSettings; None when Ironic read no setting at all.
async fn ensure_schema(
    ctx: &FirmwareContext,
    host: &BareMetalHost,
    hfs: &HostFirmwareSettings,
    observed: &Observed,
) -> Result<Option<SchemaReference>, FirmwareError> {
    if observed.schema.is_empty() {
        return Ok(None);
    }
    let namespace = hfs.namespace().unwrap_or_default();
    let name = observed.schema_name();
    let reference = SchemaReference {
        name: name.clone(),
        namespace: namespace.clone(),
    };
    let recorded = hfs.status.as_ref().and_then(|s| s.schema.as_ref());
    if recorded == Some(&reference) {
        return Ok(Some(reference));
    }
    let Some(hfs_owner) = hfs.controller_owner_ref(&()).map(|mut o| {
        o.controller = None;
        o.block_owner_deletion = None;
        o
    }) else {
        return Ok(Some(reference));
    };
    let api: Api<FirmwareSchema> = Api::namespaced(ctx.client.clone(), &namespace);
    let vendor = host
        .status
        .as_ref()
        .and_then(|s| s.hardware.as_ref())
        .and_then(|h| h.system_vendor.as_ref());
    let text = |s: &String| Some(s.clone()).filter(|s| !s.is_empty());
    let mut schema = FirmwareSchema::new(
        &name,
        FirmwareSchemaSpec {
            hardware_model: vendor.and_then(|v| text(&v.product_name)),
            hardware_vendor: vendor.and_then(|v| text(&v.manufacturer)),
            schema: observed.published_schema(),
        },
    );
    schema.metadata.namespace = Some(namespace.clone());
    schema.metadata.owner_references = Some(vec![hfs_owner.clone()]);
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PostParams::default()
    };
    let failed = |doing: &str, source| KubeCallError::new(doing, &namespace, &name, source);
    match api.create(&params, &schema).await {
        Ok(_) => {
            info!(host = %key(host), schema = %name, "created FirmwareSchema");
            return Ok(Some(reference));
        }
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        Err(source) => return Err(failed("creating firmware schema", source).into()),
    }
    // Shared with other hosts: add this HostFirmwareSettings to its owners, so the schema
    // outlives none of them. Appended by JSON patch: the request stays one reference long
    // however many hosts share the schema, and concurrent appends of other hosts never conflict.
    let existing = api
        .get(&name)
        .await
        .map_err(|source| failed("reading firmware schema", source))?;
    let owners = existing.metadata.owner_references.unwrap_or_default();
    if owners.iter().any(|o| o.uid == hfs_owner.uid) {
        return Ok(Some(reference));
    }
    let patch: json_patch::Patch = serde_json::from_value(if owners.is_empty() {
        json!([{"op": "add", "path": "/metadata/ownerReferences", "value": [hfs_owner]}])
    } else {
        json!([{"op": "add", "path": "/metadata/ownerReferences/-", "value": hfs_owner}])
    })
    .map_err(|e| FirmwareError::Encode(e.to_string()))?;
    api.patch(&name, &PatchParams::default(), &Patch::<()>::Json(patch))
        .await
        .map_err(|source| failed("adding an owner to firmware schema", source))?;
    Ok(Some(reference))
}

async fn write_status(
    ctx: &FirmwareContext,
    hfs: &HostFirmwareSettings,
    status: &crate::api::HostFirmwareSettingsStatus,
) -> Result<(), FirmwareError> {
    let namespace = hfs.namespace().unwrap_or_default();
    let name = hfs.name_any();
    let api: Api<HostFirmwareSettings> = Api::namespaced(ctx.client.clone(), &namespace);
    let old = json!({"status": hfs.status});
    let Some(patch) = crate::statemachine::merge_diff(&old, &json!({"status": status})) else {
        return Ok(());
    };
    api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|source| {
            KubeCallError::new(
                "writing the status of firmware settings",
                &namespace,
                &name,
                source,
            )
        })?;
    Ok(())
}

/// The host a HostFirmwareSettings belongs to: the one of the same name and namespace.
pub(crate) fn host_of(hfs: &HostFirmwareSettings) -> ObjectRef<BareMetalHost> {
    ObjectRef::new(&hfs.name_any()).within(&hfs.namespace().unwrap_or_default())
}
