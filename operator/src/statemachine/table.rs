//! The transition table: one handler per provisioning state, each doing exactly one thing.
//!
//! | From | Condition | To / effect |
//! |---|---|---|
//! | `""` | BMC address or credentialsName set | `registering` |
//! | `""` | neither set | `unmanaged`, opStatus `discovered`, Event `Discovered` |
//! | `unmanaged` | BMC details appear | `registering` (else poll every 10 min) |
//! | `registering` | registered and `externallyProvisioned` | `externally provisioned` |
//! | `registering` | registered and inspection disabled | `preparing` |
//! | `registering` | registered | `inspecting` (capacity gate) |
//! | `match profile` | always | `preparing` |
//! | `inspecting` | inspection disabled | `preparing` |
//! | `inspecting` | node `manageable`, no inventory (or re-inspection asked) | `Inspect` |
//! | `inspecting` | node `manageable` with inventory | `preparing`, HardwareData written |
//! | `inspecting` | node `inspect failed` | `inspection error`; retried after the backoff |
//! | `preparing` | node settled | `available` (applied RAID / root hints recorded) |
//! | `preparing` | node `clean failed` | `preparation error`; retried after the backoff |
//! | `available` | `externallyProvisioned` | `externally provisioned` |
//! | `available` | `inspect.metal3.io: ""` | `inspecting` (capacity gate) |
//! | `available` | RAID / root-device hints changed | `preparing` |
//! | `available` | online, image (or customDeploy) not yet provisioned, retries left | `provisioning` (capacity gate) |
//! | `available` | otherwise | power management, poll 60 s |
//! | `provisioning` | error recorded, or image/customDeploy removed or changed | `deprovisioning` (provisioningFailCount+1 on error) |
//! | `provisioning` | node `manageable` | sync `automated_clean`, then `Provide` (cleaning) |
//! | `provisioning` | node `available` | `Deploy` |
//! | `provisioning` | node `deploy failed` / `clean failed` | `provisioning error` |
//! | `provisioning` | node `active` | `provisioned` (status image := spec image) |
//! | `provisioned` | image/customDeploy removed or changed | `deprovisioning` (capacity gate) |
//! | `provisioned`, `externally provisioned` | node `manageable` | `Adopt`; `adopt failed` → `provisioned registration error` |
//! | `provisioned`, `externally provisioned` | node `active` | power management, poll 60 s |
//! | `externally provisioned` | `externallyProvisioned` turned off | `provisioned` (status image := spec image) |
//! | `deprovisioning` | node `active` / `deploy failed` / `wait call-back` / `error` | sync `automated_clean`, then `Undeploy` |
//! | `deprovisioning` | node `manageable` | `Provide` |
//! | `deprovisioning` | node `available` | `available`, or `powering off before delete` when deleting |
//! | `deprovisioning` | failed more than 3 times while deleting | `powering off before delete` |
//! | `deprovisioning` | no node and no credentials while deleting | `deleting` |
//! | `powering off before delete` | off, failed more than 3 times, or nothing to power off | `deleting` |
//! | `deleting` | node gone | finalizer removed |
//!
//! Deletion entry, detach and registration run before this table (see [`super::decide`]).

use std::collections::BTreeMap;

use super::backoff::jittered;
use super::draft::Draft;
use super::node::{
    self, ACTIVE, ADOPT_FAILED, AVAILABLE, CLEAN_FAILED, DEPLOY_FAILED, ERROR, INSPECT_FAILED,
    MANAGEABLE, WAIT_CALL_BACK,
};
use super::preflight::deploy_problem;
use super::registration::{self, inspection_disabled};
use super::{ActionFailure, ConfigData, Effect, EventKind, HardwareFetch, delete, power};
use crate::api::annotations::{self, InspectAnnotation};
use crate::api::{
    AutomatedCleaningMode, BareMetalHost, BareMetalHostStatus, ErrorType, HardwareDetails,
    InspectionMode, OperationalStatus, ProvisioningState as S,
};
use crate::provisioner::{Action, Deployment, NodeView, Observation};

/// Runs the handler of the host's current provisioning state.
pub(crate) fn handle<R: rand::Rng + ?Sized>(
    d: &mut Draft<'_>,
    have_creds: bool,
    annotations: &BTreeMap<String, String>,
    rng: &mut R,
) {
    match d.state() {
        S::None => none(d, rng),
        S::Unmanaged => unmanaged(d, rng),
        S::Registering => registering(d, rng),
        S::MatchProfile => {
            d.succeed();
            let _ = d.go(S::Preparing, rng);
            d.because("match profile: legacy state, moving on to preparing");
        }
        S::Inspecting => inspecting(d, annotations, rng),
        S::Preparing => preparing(d, rng),
        S::Available | S::Ready => available(d, annotations, rng),
        S::Provisioning => provisioning(d, rng),
        S::Provisioned => provisioned(d, annotations, rng),
        S::ExternallyProvisioned => externally_provisioned(d, annotations, rng),
        S::Deprovisioning => deprovisioning(d, have_creds, rng),
        S::PoweringOffBeforeDelete => delete::powering_off(d, have_creds, rng),
        S::Deleting => delete::deleting(d, rng),
    }
}

fn has_bmc_details(host: &BareMetalHost) -> bool {
    !host.spec.bmc.address.is_empty() || !host.spec.bmc.credentials_name.is_empty()
}

fn none<R: rand::Rng + ?Sized>(d: &mut Draft<'_>, rng: &mut R) {
    if has_bmc_details(d.host()) {
        let _ = d.go(S::Registering, rng);
        d.because("created: BMC details present, registering");
        return;
    }
    d.status.operational_status = OperationalStatus::Discovered;
    d.event(
        EventKind::Normal,
        "Discovered",
        "Discovered host with no BMC details",
    );
    let _ = d.go(S::Unmanaged, rng);
    d.requeue(d.input.settings.slow_delay);
    d.because("created: no BMC details, unmanaged");
}

fn unmanaged<R: rand::Rng + ?Sized>(d: &mut Draft<'_>, rng: &mut R) {
    if has_bmc_details(d.host()) {
        if d.status.operational_status == OperationalStatus::Discovered {
            d.status.operational_status = OperationalStatus::Ok;
        }
        let _ = d.go(S::Registering, rng);
        d.because("unmanaged: BMC details appeared, registering");
        return;
    }
    d.requeue(d.input.settings.slow_delay);
    d.because("unmanaged: waiting for BMC details");
}

/// Reached once registration succeeded (see [`registration::ensure`]).
fn registering<R: rand::Rng + ?Sized>(d: &mut Draft<'_>, rng: &mut R) {
    d.succeed();
    let host = d.host();
    if host.spec.externally_provisioned {
        let _ = d.go(S::ExternallyProvisioned, rng);
        d.because("registered: externally provisioned, adopting");
    } else if inspection_disabled(host) {
        d.event(EventKind::Normal, "InspectionSkipped", "disabled by user");
        let _ = d.go(S::Preparing, rng);
        d.because("registered: inspection disabled, preparing");
    } else {
        let _ = d.go(S::Inspecting, rng);
        d.because("registered: inspecting");
    }
}

/// The settled node, or a wait decision when there is none to act on.
fn settled_node<'n, R: rand::Rng + ?Sized>(d: &mut Draft<'n>, rng: &mut R) -> Option<&'n NodeView> {
    let settings = d.input.settings;
    match d.observation() {
        Observation::Node(n) => Some(n),
        Observation::NotRegistered => {
            d.requeue(settings.short_delay);
            d.because("waiting for the node to be registered");
            None
        }
        Observation::Unavailable(why) => {
            d.requeue(jittered(settings.long_delay, rng));
            d.because(format!("provisioner unavailable ({why})"));
            None
        }
    }
}

/// True while a recorded error of `kind` must wait out its backoff; sets the requeue.
fn backing_off(d: &mut Draft<'_>, kind: ErrorType) -> bool {
    if d.error_is(kind)
        && let Some(left) = d.backoff_left()
    {
        d.requeue(left);
        d.because(format!("{}: waiting out the error backoff", d.state()));
        return true;
    }
    false
}

fn inspecting<R: rand::Rng + ?Sized>(
    d: &mut Draft<'_>,
    annotations: &BTreeMap<String, String>,
    rng: &mut R,
) {
    let host = d.host();
    let settings = d.input.settings;
    if inspection_disabled(host) {
        d.succeed();
        d.event(EventKind::Normal, "InspectionSkipped", "disabled by user");
        let _ = d.go(S::Preparing, rng);
        d.because("inspecting: inspection disabled");
        return;
    }
    let Some(n) = settled_node(d, rng) else {
        return;
    };
    let fast = host.spec.inspection_mode == Some(InspectionMode::Fast);
    let poll = if fast {
        settings.short_delay
    } else {
        jittered(settings.long_delay, rng)
    };
    let refresh = annotations
        .get(annotations::INSPECT)
        .is_some_and(|v| InspectAnnotation::parse(v) == Ok(InspectAnnotation::Request));
    let retrying = d.error_is(ErrorType::Inspection);
    if node::is(n, INSPECT_FAILED) {
        if !retrying {
            d.fail(ErrorType::Inspection, node::last_error(n), rng);
            d.because("inspecting: inspection failed");
            return;
        }
        if backing_off(d, ErrorType::Inspection) {
            return;
        }
        start_inspection(d, poll, "inspecting: retrying the failed inspection");
        return;
    }
    if node::moving(n) {
        if retrying {
            d.clear_error();
        }
        d.requeue(poll);
        d.because("inspecting: inspection in progress");
        return;
    }
    let settled = node::is(n, MANAGEABLE) || node::is(n, AVAILABLE);
    if !settled {
        d.fail(
            ErrorType::Inspection,
            format!(
                "cannot inspect: ironic node is in state '{}'",
                n.provision_state
            ),
            rng,
        );
        d.because("inspecting: node in an unexpected state");
        return;
    }
    if node::is(n, AVAILABLE) && (refresh || d.input.hardware == HardwareFetch::Missing) {
        d.act(Action::Manage, settings.short_delay);
        d.because("inspecting: moving the node to manageable first");
        return;
    }
    if refresh {
        start_inspection(d, poll, "inspecting: re-inspection requested");
        return;
    }
    match &d.input.hardware {
        HardwareFetch::NotFetched => {
            d.effect(Effect::FetchHardwareDetails);
            d.requeue_now();
            d.because("inspecting: checking for an inventory");
        }
        HardwareFetch::Missing => start_inspection(d, poll, "inspecting: starting inspection"),
        HardwareFetch::Unavailable(why) => {
            d.requeue(jittered(settings.long_delay, rng));
            d.because(format!("inspecting: inventory unavailable ({why})"));
        }
        HardwareFetch::Found(value) => {
            match serde_json::from_value::<HardwareDetails>(value.clone()) {
                Ok(details) => {
                    d.status.hardware = Some(details);
                    d.effect(Effect::WriteHardwareData(value.clone()));
                    d.succeed();
                    d.event(
                        EventKind::Normal,
                        "InspectionComplete",
                        "Hardware inspection completed",
                    );
                    let _ = d.go(S::Preparing, rng);
                    d.because("inspecting: inventory received");
                }
                Err(e) => {
                    d.fail(
                        ErrorType::Inspection,
                        format!("the inspection inventory could not be read: {e}"),
                        rng,
                    );
                    d.because("inspecting: unreadable inventory");
                }
            }
        }
    }
}

fn start_inspection(d: &mut Draft<'_>, poll: std::time::Duration, cause: &str) {
    d.clear_error();
    d.remove_annotation(annotations::INSPECT);
    d.event(
        EventKind::Normal,
        "InspectionStarted",
        "Hardware inspection started",
    );
    d.act(Action::Inspect, poll);
    d.because(cause);
}

fn preparing<R: rand::Rng + ?Sized>(d: &mut Draft<'_>, rng: &mut R) {
    let settings = d.input.settings;
    let Some(n) = settled_node(d, rng) else {
        return;
    };
    if node::is(n, CLEAN_FAILED) {
        if !d.error_is(ErrorType::Preparation) {
            d.fail(
                ErrorType::Preparation,
                format!("Cleaning failed: {}", node::last_error(n)),
                rng,
            );
            d.because("preparing: cleaning failed");
            return;
        }
        if backing_off(d, ErrorType::Preparation) {
            return;
        }
        recover_from_clean_failure(d, n, "preparing");
        return;
    }
    if node::moving(n) {
        d.requeue(jittered(settings.long_delay, rng));
        d.because("preparing: waiting for the node to settle");
        return;
    }
    if !(node::is(n, MANAGEABLE) || node::is(n, AVAILABLE)) {
        d.fail(
            ErrorType::Preparation,
            format!(
                "cannot prepare: ironic node is in state '{}'",
                n.provision_state
            ),
            rng,
        );
        d.because("preparing: node in an unexpected state");
        return;
    }
    let spec = &d.host().spec;
    d.status.provisioning.root_device_hints = spec.root_device_hints.clone();
    d.status.provisioning.raid = spec.raid.clone();
    d.status.provisioning.firmware = spec.firmware.clone();
    d.succeed();
    let _ = d.go(S::Available, rng);
    d.because("preparing: done");
}

/// After `clean failed`: leave maintenance, then `manage` so the node can be cleaned again.
fn recover_from_clean_failure(d: &mut Draft<'_>, n: &NodeView, phase: &str) {
    let settings = d.input.settings;
    d.clear_error();
    if n.maintenance {
        d.act(
            Action::SetMaintenance {
                on: false,
                reason: None,
            },
            settings.short_delay,
        );
        d.because(format!(
            "{phase}: leaving maintenance after failed cleaning"
        ));
    } else {
        d.act(Action::Manage, settings.short_delay);
        d.because(format!(
            "{phase}: returning the node to manageable after failed cleaning"
        ));
    }
}

/// Spec RAID or root-device hints differ from what preparing last applied.
fn settings_dirty(host: &BareMetalHost, status: &BareMetalHostStatus) -> bool {
    host.spec.root_device_hints != status.provisioning.root_device_hints
        || host.spec.raid != status.provisioning.raid
}

fn image_url(host: &BareMetalHost) -> Option<&str> {
    host.spec
        .image
        .as_ref()
        .map(|i| i.url.as_str())
        .filter(|u| !u.is_empty())
}

fn custom_method(host: &BareMetalHost) -> Option<&str> {
    host.spec
        .custom_deploy
        .as_ref()
        .map(|c| c.method.as_str())
        .filter(|m| !m.is_empty())
}

/// Upstream's `NeedsProvisioning`: online, and an image or custom deploy not yet provisioned.
fn needs_provisioning(host: &BareMetalHost, status: &BareMetalHostStatus) -> bool {
    if !host.spec.online {
        return false;
    }
    let provisioned_url = status.provisioning.image.as_ref().map(|i| i.url.as_str());
    if image_url(host).is_some() {
        return provisioned_url.is_none_or(str::is_empty);
    }
    custom_method(host).is_some() && status.provisioning.custom_deploy.is_none()
}

/// Upstream's `provisioningCancelled`: the image or custom deploy was removed or changed.
fn provisioning_cancelled(host: &BareMetalHost, status: &BareMetalHostStatus) -> bool {
    let status_url = status
        .provisioning
        .image
        .as_ref()
        .map(|i| i.url.as_str())
        .filter(|u| !u.is_empty());
    let status_method = status
        .provisioning
        .custom_deploy
        .as_ref()
        .map(|c| c.method.as_str())
        .filter(|m| !m.is_empty());
    if let Some(method) = custom_method(host) {
        if status_method.is_some_and(|m| m != method) {
            return true;
        }
        return status_url.is_some_and(|u| image_url(host) != Some(u));
    }
    if status_method.is_some() {
        return true;
    }
    match (image_url(host), status_url) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(spec), Some(status)) => spec != status,
    }
}

fn available<R: rand::Rng + ?Sized>(
    d: &mut Draft<'_>,
    annotations: &BTreeMap<String, String>,
    rng: &mut R,
) {
    let host = d.host();
    let settings = d.input.settings;
    if host.spec.externally_provisioned {
        d.status.provisioning.root_device_hints = None;
        d.status.provisioning.raid = None;
        let _ = d.go(S::ExternallyProvisioned, rng);
        d.because("available: marked externally provisioned");
        return;
    }
    let reinspect = annotations
        .get(annotations::INSPECT)
        .is_some_and(|v| InspectAnnotation::parse(v) == Ok(InspectAnnotation::Request));
    if reinspect && !inspection_disabled(host) {
        let _ = d.go(S::Inspecting, rng);
        d.because("available: re-inspection requested");
        return;
    }
    if settings_dirty(host, &d.status) {
        let _ = d.go(S::Preparing, rng);
        d.because("available: RAID or root-device hints changed");
        return;
    }
    if image_url(host).is_none() && d.status.provisioning_fail_count > 0 {
        d.status.provisioning_fail_count = 0;
        d.status.last_attempted_image = None;
    }
    if needs_provisioning(host, &d.status) {
        if let Some(problem) = deploy_problem(host) {
            d.fail_permanently(ErrorType::Provisioning, problem);
            d.because("bad input: image");
            return;
        }
        if host.spec.image != d.status.last_attempted_image {
            d.status.provisioning_fail_count = 0;
        }
        let limit = settings.max_provisioning_retries;
        let failed = d.status.provisioning_fail_count;
        if limit > 0 && failed >= limit {
            d.fail_permanently(
                ErrorType::Provisioning,
                format!(
                    "provisioning failed {failed} times, retry limit ({limit}) reached; change image or reset provisioningFailCount to retry"
                ),
            );
            d.because("available: provisioning retry limit reached");
            return;
        }
        d.clear_error();
        let _ = d.go(S::Provisioning, rng);
        d.because("available: image set and online, provisioning");
        return;
    }
    let Some(n) = settled_node(d, rng) else {
        return;
    };
    if node::moving(n) {
        d.requeue(jittered(settings.long_delay, rng));
        d.because("available: waiting for the node to settle");
        return;
    }
    power::manage(d, n, annotations, rng);
}

fn deployment(host: &BareMetalHost, config: &ConfigData) -> Deployment {
    let image = host.spec.image.as_ref();
    Deployment {
        image_url: image.map(|i| i.url.clone()).unwrap_or_default(),
        checksum: image
            .and_then(|i| i.checksum.clone())
            .filter(|c| !c.is_empty()),
        checksum_type: image
            .and_then(|i| i.checksum_type.as_ref())
            .map(|t| t.as_str().to_string()),
        format: image
            .and_then(|i| i.format.as_ref())
            .map(|f| f.as_str().to_string()),
        custom_deploy: custom_method(host).map(str::to_string),
        user_data: config.user_data.clone(),
        network_data: config.network_data.clone(),
        meta_data: config.meta_data.clone(),
        root_device_hints: host
            .spec
            .root_device_hints
            .as_ref()
            .and_then(|h| serde_json::to_value(h).ok()),
    }
}

fn automated_clean(host: &BareMetalHost) -> bool {
    host.spec.automated_cleaning_mode != AutomatedCleaningMode::Disabled
}

/// Syncs `automated_clean` when the node reports a different value. True when it acted.
fn sync_automated_clean(d: &mut Draft<'_>, n: &NodeView) -> bool {
    let wanted = automated_clean(d.host());
    if n.automated_clean.is_some_and(|have| have != wanted) {
        d.act(
            Action::SetAutomatedClean(wanted),
            d.input.settings.short_delay,
        );
        d.because("syncing automated_clean with automatedCleaningMode");
        return true;
    }
    false
}

fn provisioning<R: rand::Rng + ?Sized>(d: &mut Draft<'_>, rng: &mut R) {
    let host = d.host();
    let settings = d.input.settings;
    if d.status.error_type.is_some() || provisioning_cancelled(host, &d.status) {
        if d.status.error_type.is_some() {
            d.status.provisioning_fail_count = d.status.provisioning_fail_count.saturating_add(1);
        }
        let _ = d.go(S::Deprovisioning, rng);
        d.because("provisioning: failed or cancelled, deprovisioning");
        return;
    }
    if host.spec.image.is_some() {
        d.status.last_attempted_image = host.spec.image.clone();
    }
    if let Some(problem) = deploy_problem(host) {
        d.fail(ErrorType::Provisioning, problem, rng);
        d.because("bad input: image");
        return;
    }
    let Some(n) = settled_node(d, rng) else {
        return;
    };
    let long = jittered(settings.long_delay, rng);
    if node::is(n, DEPLOY_FAILED) || node::is(n, CLEAN_FAILED) || node::is(n, ERROR) {
        let what = if node::is(n, CLEAN_FAILED) {
            "Cleaning failed"
        } else {
            "Image provisioning failed"
        };
        d.fail(
            ErrorType::Provisioning,
            format!("{what}: {}", node::last_error(n)),
            rng,
        );
        d.because("provisioning: failed");
        return;
    }
    if node::moving(n) {
        d.requeue(long);
        d.because("provisioning: in progress");
        return;
    }
    if node::is(n, MANAGEABLE) {
        if sync_automated_clean(d, n) {
            return;
        }
        d.act(Action::Provide, long);
        d.because("provisioning: making the node available (cleaning)");
        return;
    }
    if node::is(n, AVAILABLE) {
        let config = match &d.input.config_data {
            Ok(c) => c,
            Err(why) => {
                d.fail(ErrorType::Provisioning, why.clone(), rng);
                d.because("provisioning: config data unavailable");
                return;
            }
        };
        let deployment = deployment(host, config);
        let target = if deployment.image_url.is_empty() {
            format!(
                "custom deploy {:?}",
                deployment.custom_deploy.as_deref().unwrap_or("")
            )
        } else {
            deployment.image_url.clone()
        };
        d.event(
            EventKind::Normal,
            "ProvisioningStarted",
            format!("Image provisioning started for {target}"),
        );
        d.act(Action::Deploy(deployment), long);
        d.because("provisioning: deploying");
        return;
    }
    if node::is(n, ACTIVE) {
        d.status.provisioning.image = host.spec.image.clone();
        d.status.provisioning.custom_deploy = host.spec.custom_deploy.clone();
        d.status.provisioning_fail_count = 0;
        d.succeed();
        d.event(
            EventKind::Normal,
            "ProvisioningComplete",
            "Image provisioning completed",
        );
        let _ = d.go(S::Provisioned, rng);
        d.because("provisioning: done");
        return;
    }
    d.fail(
        ErrorType::Provisioning,
        format!(
            "cannot provision: ironic node is in state '{}'",
            n.provision_state
        ),
        rng,
    );
    d.because("provisioning: node in an unexpected state");
}

fn provisioned<R: rand::Rng + ?Sized>(
    d: &mut Draft<'_>,
    annotations: &BTreeMap<String, String>,
    rng: &mut R,
) {
    if provisioning_cancelled(d.host(), &d.status) {
        let _ = d.go(S::Deprovisioning, rng);
        d.because("provisioned: image removed or changed, deprovisioning");
        return;
    }
    steady(d, annotations, rng);
}

fn externally_provisioned<R: rand::Rng + ?Sized>(
    d: &mut Draft<'_>,
    annotations: &BTreeMap<String, String>,
    rng: &mut R,
) {
    let host = d.host();
    if !host.spec.externally_provisioned {
        if host.spec.image.is_some() {
            d.status.provisioning.image = host.spec.image.clone();
        }
        if host.spec.custom_deploy.is_some() {
            d.status.provisioning.custom_deploy = host.spec.custom_deploy.clone();
        }
        let _ = d.go(S::Provisioned, rng);
        d.because("externally provisioned: flag turned off, now provisioned");
        return;
    }
    steady(d, annotations, rng);
}

/// Provisioned and externally provisioned hosts: keep the node adopted (`active`), then manage
/// power.
fn steady<R: rand::Rng + ?Sized>(
    d: &mut Draft<'_>,
    annotations: &BTreeMap<String, String>,
    rng: &mut R,
) {
    let settings = d.input.settings;
    let Some(n) = settled_node(d, rng) else {
        return;
    };
    let kind = ErrorType::ProvisionedRegistration;
    let retrying = d.error_is(kind);
    if node::is(n, ADOPT_FAILED) {
        if !retrying {
            d.fail(kind, node::last_error(n), rng);
            d.because("adopt failed");
            return;
        }
        if backing_off(d, kind) {
            return;
        }
        d.clear_error();
        d.act(Action::Adopt, settings.short_delay);
        d.because("retrying adoption");
        return;
    }
    if node::moving(n) {
        if retrying {
            d.clear_error();
        }
        d.requeue(settings.short_delay);
        d.because("waiting for the node to settle (adopting)");
        return;
    }
    if node::is(n, MANAGEABLE) {
        d.clear_error();
        d.act(Action::Adopt, settings.short_delay);
        d.because("adopting the node (manageable → active)");
        return;
    }
    if node::is(n, AVAILABLE) {
        d.act(Action::Manage, settings.short_delay);
        d.because("moving the node to manageable before adoption");
        return;
    }
    if node::is(n, ACTIVE) {
        if retrying {
            d.succeed();
        }
        power::manage(d, n, annotations, rng);
        return;
    }
    d.requeue(settings.steady_delay);
    d.because(format!(
        "steady: ironic node is in state '{}', leaving it alone",
        n.provision_state
    ));
}

fn deprovisioning<R: rand::Rng + ?Sized>(d: &mut Draft<'_>, have_creds: bool, rng: &mut R) {
    let settings = d.input.settings;
    if !have_creds && d.deleting() && *d.observation() == Observation::NotRegistered {
        d.note(super::Note::DeleteWithoutPoweringOff);
        let _ = d.go(S::Deleting, rng);
        d.because("deprovisioning: no node and no credentials, deleting");
        return;
    }
    let Some(n) = settled_node(d, rng) else {
        return;
    };
    let long = jittered(settings.long_delay, rng);
    let kind = ErrorType::Provisioning;
    let retrying = d.error_is(kind);
    let undeployable = node::is(n, ACTIVE)
        || node::is(n, DEPLOY_FAILED)
        || node::is(n, WAIT_CALL_BACK)
        || node::is(n, ERROR);
    if undeployable {
        if node::is(n, ERROR) && !retrying {
            d.fail(
                kind,
                format!("Deprovisioning failed: {}", node::last_error(n)),
                rng,
            );
            delete::give_up_deprovision(d, rng);
            d.because("deprovisioning: failed");
            return;
        }
        if node::is(n, ERROR) && backing_off(d, kind) {
            return;
        }
        if sync_automated_clean(d, n) {
            return;
        }
        d.clear_error();
        d.event(
            EventKind::Normal,
            "DeprovisioningStarted",
            "Image deprovisioning started",
        );
        d.act(Action::Undeploy, long);
        d.because("deprovisioning: undeploying");
        return;
    }
    if node::is(n, CLEAN_FAILED) {
        if !retrying {
            d.fail(
                kind,
                format!("Cleaning failed: {}", node::last_error(n)),
                rng,
            );
            delete::give_up_deprovision(d, rng);
            d.because("deprovisioning: cleaning failed");
            return;
        }
        if backing_off(d, kind) {
            return;
        }
        recover_from_clean_failure(d, n, "deprovisioning");
        return;
    }
    if node::moving(n) {
        d.requeue(long);
        d.because("deprovisioning: in progress");
        return;
    }
    if node::is(n, MANAGEABLE) {
        d.act(Action::Provide, long);
        d.because("deprovisioning: making the node available (cleaning)");
        return;
    }
    if node::is(n, AVAILABLE) {
        d.status.provisioning.image = None;
        d.status.provisioning.custom_deploy = None;
        d.succeed();
        d.event(
            EventKind::Normal,
            "DeprovisioningComplete",
            "Image deprovisioning completed",
        );
        let next = if d.deleting() {
            S::PoweringOffBeforeDelete
        } else {
            S::Available
        };
        let _ = d.go(next, rng);
        d.because("deprovisioning: done");
        return;
    }
    d.fail(
        kind,
        format!(
            "cannot deprovision: ironic node is in state '{}'",
            n.provision_state
        ),
        rng,
    );
    delete::give_up_deprovision(d, rng);
    d.because("deprovisioning: node in an unexpected state");
}

/// The provisioner refused the previous decision's action: transient trouble waits briefly,
/// anything else becomes the error type of the phase the action belongs to.
pub(crate) fn action_failed<R: rand::Rng + ?Sized>(
    d: &mut Draft<'_>,
    failure: &ActionFailure,
    rng: &mut R,
) {
    let settings = d.input.settings;
    if failure.transient {
        d.requeue(jittered(settings.short_delay, rng));
        d.because(format!(
            "{} refused for now, retrying shortly",
            failure.action
        ));
        return;
    }
    let state = d.state();
    let kind = match failure.action {
        "register" | "manage" => registration::error_kind(state),
        "inspect" => ErrorType::Inspection,
        "adopt" => ErrorType::ProvisionedRegistration,
        "power" => ErrorType::PowerManagement,
        "detach" => ErrorType::Detach,
        _ => match state {
            S::Inspecting => ErrorType::Inspection,
            S::Preparing => ErrorType::Preparation,
            S::Provisioning | S::Deprovisioning => ErrorType::Provisioning,
            S::Provisioned | S::ExternallyProvisioned => ErrorType::ProvisionedRegistration,
            S::PoweringOffBeforeDelete => ErrorType::PowerManagement,
            _ => ErrorType::Registration,
        },
    };
    d.fail(
        kind,
        format!("{} failed: {}", failure.action, failure.message),
        rng,
    );
    d.because(format!("{} refused by the provisioner", failure.action));
    match state {
        S::Deprovisioning => delete::give_up_deprovision(d, rng),
        S::PoweringOffBeforeDelete => delete::give_up_power_off(d, rng),
        _ => {}
    }
}
