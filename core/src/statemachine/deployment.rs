//! `available`, `provisioning`, `provisioned`, `externally provisioned` and `deprovisioning`:
//! deciding when to deploy, driving Ironic through provide / deploy / undeploy, adoption, and
//! the provisioning retry limit.

use std::collections::BTreeMap;

use super::backoff::jittered;
use super::draft::Draft;
use super::firmware::{self, Needed};
use super::node::{
    self, ACTIVE, ADOPT_FAILED, AVAILABLE, CLEAN_FAILED, DEPLOY_FAILED, ERROR, MANAGEABLE,
    WAIT_CALL_BACK,
};
use super::preflight::deploy_problem;
use super::registration::inspection_disabled;
use super::table::{backing_off, recover_from_clean_failure, settled_node};
use super::{ConfigData, EventKind, delete, power};
use crate::api::annotations::{self, InspectAnnotation};
use crate::api::{
    AutomatedCleaningMode, BareMetalHost, BareMetalHostStatus, ErrorType, ProvisioningState as S,
};
use crate::provisioner::{Action, Deployment, NodeView, Observation};

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

pub(crate) fn available<R: rand::Rng + ?Sized>(
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
    match firmware::needed(d, "available", rng) {
        Needed::Nothing => {}
        Needed::Decided => return,
        Needed::Apply(_) => {
            let _ = d.go(S::Preparing, rng);
            d.because("available: firmware settings changed");
            return;
        }
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
        d.poll(jittered(settings.long_delay, rng));
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
            .map(|h| serde_json::Value::Object(h.to_ironic()))
            .filter(|h| h.as_object().is_some_and(|m| !m.is_empty())),
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

pub(crate) fn provisioning<R: rand::Rng + ?Sized>(d: &mut Draft<'_>, rng: &mut R) {
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
        d.poll(long);
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

pub(crate) fn provisioned<R: rand::Rng + ?Sized>(
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

pub(crate) fn externally_provisioned<R: rand::Rng + ?Sized>(
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
        d.poll(settings.short_delay);
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

pub(crate) fn deprovisioning<R: rand::Rng + ?Sized>(
    d: &mut Draft<'_>,
    have_creds: bool,
    rng: &mut R,
) {
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
        d.poll(long);
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
