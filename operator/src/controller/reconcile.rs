//! One reconcile of one host: gather the views, ask the state machine, carry out its single
//! effect, then write what it decided (finalizer, annotations, status, Events, metrics).

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::controller::Action as Requeue;
use kube::runtime::events::{Event, EventType};
use kube::{Api, Resource, ResourceExt};
use serde_json::{Value, json};
use tracing::{debug, info, warn};

use super::failures::{KubeCallError, backoff, contained};
use crate::api::annotations::HARDWARE_DATA_FINALIZER;
use crate::api::{BareMetalHost, HardwareData, ProvisioningState};
use crate::provisioner::{Action, Observation, Outcome, ProvisionerError};
use crate::round::{self, RoundHooks, RoundsEnd};
use crate::statemachine::{
    self, BiosFetch, CapacityView, CredentialsView, Decision, Effect, EventKind, FirmwareView,
    HardwareFetch, HostWrite, Input, Note, Phase,
};
use crate::telemetry::{Delay, Incident, Operation};

use super::slots::host_key;
use super::{Context, ReconcileError};

/// How soon to look again when the cache has not yet caught up with our own write.
const STALE_RETRY: Duration = Duration::from_millis(100);

/// The reconciler handed to kube-runtime. A panic inside is contained to this host.
pub async fn reconcile(
    host: Arc<BareMetalHost>,
    ctx: Arc<Context>,
) -> Result<Requeue, ReconcileError> {
    let key = host_key(&host);
    contained(&ctx.failures, &key, reconcile_host(&host, &ctx), || {
        ReconcileError::Panicked { host: key.clone() }
    })
    .await
}

/// kube-runtime's error policy: per-object exponential backoff (1 s doubling up to 5 min).
pub fn error_policy(
    host: Arc<BareMetalHost>,
    error: &ReconcileError,
    ctx: Arc<Context>,
) -> Requeue {
    let key = host_key(&host);
    let failures = ctx.failures.count(&key);
    let delay = backoff(failures);
    ctx.metrics.reconcile_error();
    warn!(
        host = %key,
        error = %error,
        cause = ?std::error::Error::source(error).map(|s| ctx.scrub(&host, &s.to_string())),
        failures,
        retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
        "reconcile failed"
    );
    Requeue::requeue(delay)
}

async fn reconcile_host(host: &BareMetalHost, ctx: &Context) -> Result<Requeue, ReconcileError> {
    let namespace = host.namespace().unwrap_or_default();
    let name = host.name_any();
    let key = host_key(host);
    if !ctx.leadership.is_leader() {
        return Ok(Requeue::requeue(ctx.machine.short_delay));
    }
    if ctx
        .memory
        .is_stale(&key, host.metadata.resource_version.as_deref())
    {
        debug!(host = %key, "cache older than our last write, waiting for it");
        return Ok(Requeue::requeue(STALE_RETRY));
    }
    ctx.metrics.reconcile(&namespace, &name);

    let credentials = super::secrets::read_credentials(&ctx.client, &ctx.secrets, host).await?;
    match &credentials {
        CredentialsView::Ok { credentials, .. } => {
            ctx.memory.remember_password(&key, &credentials.password)
        }
        CredentialsView::SecretMissing { .. } => ctx.metrics.incident(Incident::CredentialsMissing),
        CredentialsView::MissingKey { .. } | CredentialsView::SecretInOtherNamespace { .. } => {
            ctx.metrics.incident(Incident::CredentialsInvalid)
        }
        CredentialsView::NotRequested => {}
    }
    let hooks = Hooks {
        ctx,
        host,
        key: &key,
    };
    let observation = round::observe(ctx.provisioner.as_ref(), host, &hooks).await;
    if matches!(observation, Observation::Unavailable(_)) {
        ctx.metrics.incident(Incident::ProvisionerNotReady);
    }
    let config_data = super::secrets::read_config_data(&ctx.client, host)
        .await
        .map_err(|(data_type, message)| {
            ctx.metrics.config_data_error(data_type);
            message
        });
    let firmware = ctx.firmware.as_ref().and_then(|store| {
        store.get(&kube::runtime::reflector::ObjectRef::new(&name).within(&namespace))
    });
    let mut input = Input {
        host,
        credentials,
        observation: &observation,
        now: ctx.clock.now(),
        capacity: CapacityView::default(),
        hardware: HardwareFetch::NotFetched,
        config_data,
        firmware: FirmwareView {
            settings: firmware.as_deref(),
            current: BiosFetch::NotFetched,
        },
        action_failure: None,
        settings: &ctx.machine,
    };

    let mut rng = ctx.memory.take_rng(host);
    let cached = ctx.store.state();
    let decision = ctx.slots.decide_with(
        host,
        cached.iter().map(AsRef::as_ref),
        ctx.settings.provisioning_limit,
        |capacity| {
            input.capacity = capacity;
            statemachine::decide(&input, &mut rng)
        },
        |d: &Decision| d.slot,
    );
    drop(cached);
    let mut hooks = hooks;
    let end = round::run(
        ctx.provisioner.as_ref(),
        &mut input,
        decision,
        &mut rng,
        &mut hooks,
    )
    .await;
    ctx.memory.put_rng(host, rng);
    let decision = match end {
        RoundsEnd::Decided(decision) => *decision,
        RoundsEnd::Busy | RoundsEnd::NotLeader => {
            return Ok(Requeue::requeue(ctx.machine.short_delay));
        }
    };
    if decision.notes.contains(&Note::RegistrationRequired)
        && credentials_changed(host, &input.credentials)
    {
        ctx.metrics.incident(Incident::CredentialsUpdated);
    }
    if let Effect::WriteHardwareData(hardware) = &decision.effect {
        write_hardware_data(ctx, host, hardware).await?;
    }
    apply(ctx, host, &decision).await
}

/// True when the Secret's version differs from the one the host last registered with.
fn credentials_changed(host: &BareMetalHost, view: &CredentialsView) -> bool {
    let CredentialsView::Ok { secret_version, .. } = view else {
        return false;
    };
    let good = host
        .status
        .as_ref()
        .and_then(|s| s.good_credentials.as_ref())
        .and_then(|c| c.credentials_version.as_deref());
    good.is_some_and(|v| v != secret_version)
}

/// The controller's side of the rounds: the shared slot book, the leader lease, the remembered
/// BMC password scrubbed out of messages, and logs.
struct Hooks<'a> {
    ctx: &'a Context,
    host: &'a BareMetalHost,
    key: &'a str,
}

impl RoundHooks for Hooks<'_> {
    fn scrub(&self, text: &str) -> String {
        self.ctx.scrub(self.host, text)
    }

    fn may_act(&self) -> bool {
        self.ctx.leadership.is_leader()
    }

    fn decided(&mut self, decision: &Decision) {
        self.ctx.slots.apply(self.key, decision.slot);
    }

    fn acting(&mut self, action: &Action) {
        debug!(host = %self.key, action = action.name(), "provisioner action");
    }

    fn acted(&mut self, action: &Action, result: &Result<Outcome, ProvisionerError>) {
        if matches!(result, Ok(Outcome::Busy)) {
            debug!(host = %self.key, action = action.name(), "node locked, retrying shortly");
        }
    }
}

fn api_for<K>(ctx: &Context, namespace: &str) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    Api::namespaced(ctx.client.clone(), namespace)
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

/// Writes the host's HardwareData: created with our finalizer and the host as owner, or its
/// `spec.hardware` replaced (a JSON patch that first tests the resourceVersion read, so a write made
/// meanwhile is never lost: the reconcile retries). Not server-side apply: on a cluster with
/// upstream Metal3's CRDs, apply refuses the whole object for a field upstream's schema lacks
/// (`gpus`, `pciDevices`), while create and patch prune such fields and keep the rest.
async fn write_hardware_data(
    ctx: &Context,
    host: &BareMetalHost,
    hardware: &Value,
) -> Result<(), ReconcileError> {
    let namespace = host.namespace().unwrap_or_default();
    let name = host.name_any();
    let err = |source| KubeCallError::new("writing hardware data", &namespace, &name, source);
    let api: Api<HardwareData> = api_for(ctx, &namespace);
    let current = api.get_opt(&name).await.map_err(err)?;
    let Some(current) = current else {
        let owner = host
            .controller_owner_ref(&())
            .map(|o| serde_json::to_value(o).unwrap_or(Value::Null));
        let body: HardwareData = serde_json::from_value(json!({
            "apiVersion": "metal3.io/v1alpha1",
            "kind": "HardwareData",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "finalizers": [HARDWARE_DATA_FINALIZER],
                "ownerReferences": owner.into_iter().collect::<Vec<_>>(),
            },
            "spec": {"hardware": hardware},
        }))
        .map_err(|e| ReconcileError::EncodeStatus {
            host: name.clone(),
            message: format!("HardwareData: {e}"),
        })?;
        return match api.create(&PostParams::default(), &body).await {
            Ok(_) => {
                debug!(namespace = %namespace, host = %name, "hardware data created");
                Ok(())
            }
            // Created meanwhile (409): the retried reconcile replaces its content.
            Err(e) => Err(err(e).into()),
        };
    };
    let ops = hardware_data_patch(&current, hardware);
    if ops.is_empty() {
        return Ok(());
    }
    let patch: json_patch::Patch =
        serde_json::from_value(Value::Array(ops)).map_err(|e| ReconcileError::EncodeStatus {
            host: name.clone(),
            message: format!("HardwareData patch: {e}"),
        })?;
    api.patch(&name, &PatchParams::default(), &Patch::<()>::Json(patch))
        .await
        .map_err(err)?;
    debug!(namespace = %namespace, host = %name, "hardware data replaced");
    Ok(())
}

/// The JSON patch that makes `current` hold `hardware` and our finalizer, guarded by a test of the
/// resourceVersion it was read at; empty when nothing is to change. (Inspection writes it once, so
/// a field the cluster's schema prunes costs one patch per inspection, not a loop.)
fn hardware_data_patch(current: &HardwareData, hardware: &Value) -> Vec<Value> {
    let held = serde_json::to_value(&current.spec)
        .ok()
        .and_then(|spec| spec.get("hardware").cloned())
        .unwrap_or(Value::Null);
    let mut ops = Vec::new();
    if held != *hardware {
        ops.push(json!({"op": "add", "path": "/spec/hardware", "value": hardware}));
    }
    let finalizers = current.finalizers();
    if !finalizers.iter().any(|f| f == HARDWARE_DATA_FINALIZER) {
        let mut all: Vec<String> = finalizers.to_vec();
        all.push(HARDWARE_DATA_FINALIZER.to_owned());
        ops.push(json!({"op": "add", "path": "/metadata/finalizers", "value": all}));
    }
    if !ops.is_empty() {
        ops.insert(
            0,
            json!({"op": "test", "path": "/metadata/resourceVersion",
                   "value": current.resource_version().unwrap_or_default()}),
        );
    }
    ops
}

/// Drops our finalizer from the host's HardwareData so garbage collection can remove it.
async fn release_hardware_data(
    ctx: &Context,
    namespace: &str,
    name: &str,
) -> Result<(), ReconcileError> {
    let api: Api<HardwareData> = api_for(ctx, namespace);
    let err = |source| KubeCallError::new("writing hardware data", namespace, name, source);
    let Some(hd) = api.get_opt(name).await.map_err(err)? else {
        return Ok(());
    };
    if !hd.finalizers().iter().any(|f| f == HARDWARE_DATA_FINALIZER) {
        return Ok(());
    }
    let remaining: Vec<&String> = hd
        .finalizers()
        .iter()
        .filter(|f| *f != HARDWARE_DATA_FINALIZER)
        .collect();
    // Onto the version read: a finalizer added meanwhile makes this a 409, and the retried
    // reconcile keeps it.
    let patch =
        json!({"metadata": {"finalizers": remaining, "resourceVersion": hd.resource_version()}});
    match api
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(err(e).into()),
    }
}

async fn apply(
    ctx: &Context,
    host: &BareMetalHost,
    decision: &Decision,
) -> Result<Requeue, ReconcileError> {
    let namespace = host.namespace().unwrap_or_default();
    let name = host.name_any();
    let key = host_key(host);
    if !ctx.leadership.is_leader() {
        return Ok(Requeue::requeue(ctx.machine.short_delay));
    }
    let hosts: Api<BareMetalHost> = api_for(ctx, &namespace);
    // The version each write replaces, so the next reconcile can tell a stale cache.
    let mut base = host.resource_version();
    let write_err = |what: &'static str| {
        let (namespace, name) = (namespace.clone(), name.clone());
        move |source| {
            KubeCallError::new(
                format!("writing the {what} of host"),
                namespace,
                name,
                source,
            )
        }
    };

    let plan =
        statemachine::writes(host, decision).map_err(|message| ReconcileError::EncodeStatus {
            host: key.clone(),
            message,
        })?;
    for write in &plan {
        let mut patch = write.patch();
        // The status and a finalizer's removal are written as diffs of what was read: only onto
        // that same version (a 409 reads again), so nothing written meanwhile — another
        // controller's finalizer, a newer status — is lost.
        if matches!(
            write,
            HostWrite::Status { .. } | HostWrite::RemoveFinalizer { .. }
        ) && let (Some(rv), Some(object)) = (base.as_deref(), patch.as_object_mut())
        {
            let metadata = object.entry("metadata").or_insert_with(|| json!({}));
            if let Some(m) = metadata.as_object_mut() {
                m.insert("resourceVersion".into(), json!(rv));
            }
        }
        let sent = match write {
            HostWrite::Status { .. } => {
                hosts
                    .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
            }
            HostWrite::RemoveFinalizer { .. } => {
                release_hardware_data(ctx, &namespace, &name).await?;
                hosts
                    .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
            }
            HostWrite::AddFinalizer { .. } | HostWrite::RemoveAnnotations(_) => {
                hosts
                    .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
            }
        };
        match (write, sent) {
            (HostWrite::RemoveFinalizer { .. }, Ok(_)) => {}
            (_, Ok(written)) => {
                ctx.memory.note_write(
                    &key,
                    base.as_deref(),
                    written.metadata.resource_version.as_deref(),
                );
                base = written.resource_version();
            }
            // The version the write was computed from changed: read again soon.
            (
                HostWrite::AddFinalizer { .. }
                | HostWrite::Status { .. }
                | HostWrite::RemoveFinalizer { .. },
                Err(e),
            ) if is_conflict(&e) => {
                debug!(host = %key, write = write.what(), "conflict, reading the host again");
                return Ok(Requeue::requeue(Duration::from_millis(500)));
            }
            (HostWrite::Status { .. }, Err(e)) if is_not_found(&e) => {
                return Ok(Requeue::await_change());
            }
            (HostWrite::RemoveFinalizer { .. }, Err(e)) if is_not_found(&e) => {}
            (_, Err(e)) => return Err(write_err(write.what())(e).into()),
        }
        match write {
            HostWrite::AddFinalizer { .. } => debug!(host = %key, "finalizer added"),
            HostWrite::RemoveFinalizer { .. } => {
                ctx.slots.forget(&key);
                ctx.forget_host(host);
                info!(namespace = %namespace, host = %name, "finalizer removed, host released");
            }
            HostWrite::RemoveAnnotations(_) | HostWrite::Status { .. } => {}
        }
    }

    ctx.slots.after_decision(&key, decision);
    publish_events(ctx, host, decision).await;
    record_metrics(ctx, &namespace, &name, decision);
    if let Some((from, to)) = decision.transition {
        info!(namespace = %namespace, host = %name, from = from.as_str(), to = to.as_str(), cause = %ctx.scrub(host, &decision.cause), "state transition");
    } else {
        debug!(namespace = %namespace, host = %name, cause = %ctx.scrub(host, &decision.cause), "reconciled");
    }
    Ok(match ctx.requeue_after(host, decision) {
        Some(after) => Requeue::requeue(after),
        None => Requeue::await_change(),
    })
}

async fn publish_events(ctx: &Context, host: &BareMetalHost, decision: &Decision) {
    if decision.events.is_empty() {
        return;
    }
    let reference: ObjectReference = host.object_ref(&());
    for ev in &decision.events {
        let event = Event {
            type_: match ev.kind {
                EventKind::Normal => EventType::Normal,
                EventKind::Warning => EventType::Warning,
            },
            reason: ev.reason.to_owned(),
            note: Some(ctx.scrub(host, &ev.message)),
            action: ev.reason.to_owned(),
            secondary: None,
        };
        if let Err(error) = ctx.recorder.publish(&event, &reference).await {
            warn!(host = %host_key(host), reason = ev.reason, error = %error, "publishing event failed");
        }
    }
}

fn record_metrics(ctx: &Context, namespace: &str, name: &str, decision: &Decision) {
    let m = &ctx.metrics;
    if let Some((from, to)) = decision.transition {
        m.state_change(from, to);
        if to == ProvisioningState::Unmanaged {
            m.incident(Incident::HostUnmanaged);
        }
    }
    for note in &decision.notes {
        match *note {
            Note::HostError(error_type) => m.host_error(error_type),
            Note::Delayed(state) => {
                let delay = if state == ProvisioningState::Deprovisioning {
                    Delay::Deprovisioning
                } else {
                    Delay::Provisioning
                };
                m.delayed(delay, namespace, name);
            }
            Note::DeleteWithoutDeprovisioning => m.incident(Incident::DeleteWithoutDeprovisioning),
            Note::DeleteWithoutPoweringOff => m.incident(Incident::DeleteWithoutPoweringOff),
            Note::DeleteDelayedForDetached => m.incident(Incident::DeleteDelayedForDetached),
            Note::PowerChange(on) => m.power_change(namespace, name, on),
            Note::RegistrationRequired => m.incident(Incident::RegistrationRequired),
            Note::OperationFinished(phase, seconds) => {
                let op = match phase {
                    Phase::Register => Operation::Register,
                    Phase::Inspect => Operation::Inspect,
                    Phase::Provision => Operation::Provision,
                    Phase::Deprovision => Operation::Deprovision,
                };
                // Seconds fit f64 exactly far beyond any real operation length.
                #[allow(clippy::cast_precision_loss)]
                m.operation_duration(op, namespace, name, seconds as f64);
            }
        }
    }
}
