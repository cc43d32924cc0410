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
use super::registration::inspection_disabled;
use super::{EventKind, delete, deployment, inspection, preparing};
use crate::api::{BareMetalHost, ErrorType, OperationalStatus, ProvisioningState as S};
use crate::provisioner::{Action, NodeView, Observation};

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
        S::Inspecting => inspection::inspecting(d, annotations, rng),
        S::Preparing => preparing::preparing(d, rng),
        S::Available | S::Ready => deployment::available(d, annotations, rng),
        S::Provisioning => deployment::provisioning(d, rng),
        S::Provisioned => deployment::provisioned(d, annotations, rng),
        S::ExternallyProvisioned => deployment::externally_provisioned(d, annotations, rng),
        S::Deprovisioning => deployment::deprovisioning(d, have_creds, rng),
        S::PoweringOffBeforeDelete => delete::powering_off(d, have_creds, rng),
        S::Deleting => delete::deleting(d, rng),
    }
}

fn has_bmc_details(host: &BareMetalHost) -> bool {
    !host.spec.bmc.address.is_empty() || !host.spec.bmc.credentials_name.is_empty()
}

fn none<R: rand::Rng + ?Sized>(d: &mut Draft<'_>, rng: &mut R) {
    if has_bmc_details(d.host()) {
        if d.status.operational_status == OperationalStatus::Unknown {
            d.status.operational_status = OperationalStatus::Ok;
        }
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
pub(crate) fn settled_node<'n, R: rand::Rng + ?Sized>(
    d: &mut Draft<'n>,
    rng: &mut R,
) -> Option<&'n NodeView> {
    let settings = d.input.settings;
    match d.observation() {
        Observation::Node(n) => Some(n),
        Observation::NotRegistered => {
            d.poll(settings.short_delay);
            d.because("waiting for the node to be registered");
            None
        }
        Observation::Unavailable(why) => {
            d.poll(jittered(settings.long_delay, rng));
            d.because(format!("provisioner unavailable ({why})"));
            None
        }
    }
}

/// True while a recorded error of `kind` must wait out its backoff; sets the requeue.
pub(crate) fn backing_off(d: &mut Draft<'_>, kind: ErrorType) -> bool {
    if d.error_is(kind)
        && let Some(left) = d.backoff_left()
    {
        d.requeue(left);
        d.because(format!("{}: waiting out the error backoff", d.state()));
        return true;
    }
    false
}

/// After `clean failed`: leave maintenance, then `manage` so the node can be cleaned again.
pub(crate) fn recover_from_clean_failure(d: &mut Draft<'_>, n: &NodeView, phase: &str) {
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
