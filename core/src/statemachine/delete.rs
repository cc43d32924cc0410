//! Deletion: upstream's `checkInitiateDelete`, `powering off before delete` and `deleting`.

use super::backoff::jittered;
use super::draft::Draft;
use super::node;
use super::{EventKind, Flow, Note};
use crate::api::annotations::{self, DeleteAction, DetachedAnnotation};
use crate::api::{ErrorType, OperationalStatus, ProvisioningState as S};
use crate::provisioner::{Action, Observation, PowerChange};

/// When the host is being deleted, moves it onto the deletion path. `Flow::Stop` when the state
/// changed (or deletion is held for a detached host).
pub(crate) fn check_initiate<R: rand::Rng + ?Sized>(d: &mut Draft<'_>, rng: &mut R) -> Flow {
    if !d.deleting() {
        return Flow::Continue;
    }
    let state = d.state();
    let annotation = d
        .host()
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(annotations::DETACHED));
    let detached = d.status.operational_status == OperationalStatus::Detached;
    if state != S::Deleting && (detached || annotation.is_some()) {
        let delay = match annotation {
            Some(raw) => {
                DetachedAnnotation::parse(raw).is_ok_and(|a| a.delete_action == DeleteAction::Delay)
            }
            None => true,
        };
        if delay {
            d.note(Note::DeleteDelayedForDetached);
            d.requeue(d.input.settings.slow_delay);
            d.because("deleting: held while the host is detached with deleteAction delay");
            return Flow::Stop;
        }
        return enter(
            d,
            S::Deleting,
            "deleting: detached host skips power-off and deprovisioning",
            rng,
        );
    }
    let gave_up = d.error_is(ErrorType::Registration)
        && d.status.error_count > d.input.settings.delete_retry_limit;
    match state {
        S::Deleting => Flow::Continue,
        S::None | S::Unmanaged | S::Registering => enter(
            d,
            S::Deleting,
            "deleting: nothing registered to power off",
            rng,
        ),
        S::Provisioning | S::Provisioned => {
            enter(d, S::Deprovisioning, "deleting: deprovision first", rng)
        }
        S::Deprovisioning | S::PoweringOffBeforeDelete if gave_up => enter(
            d,
            S::Deleting,
            "deleting: registration keeps failing, skipping to delete",
            rng,
        ),
        S::Deprovisioning | S::PoweringOffBeforeDelete => Flow::Continue,
        _ => enter(
            d,
            S::PoweringOffBeforeDelete,
            "deleting: power off first",
            rng,
        ),
    }
}

fn enter<R: rand::Rng + ?Sized>(d: &mut Draft<'_>, to: S, cause: &str, rng: &mut R) -> Flow {
    d.because(cause);
    // Entering deprovisioning may be held by the capacity gate; the draft records the delay.
    let _ = d.go(to, rng);
    Flow::Stop
}

/// `powering off before delete`: power the host off (soft first, hard after a failure), give
/// up after more than `delete_retry_limit` failures, then `deleting`.
pub(crate) fn powering_off<R: rand::Rng + ?Sized>(
    d: &mut Draft<'_>,
    have_creds: bool,
    rng: &mut R,
) {
    let settings = d.input.settings;
    let n = match d.observation() {
        Observation::Unavailable(why) => {
            d.poll(jittered(settings.long_delay, rng));
            d.because(format!("powering off: provisioner unavailable ({why})"));
            return;
        }
        Observation::NotRegistered => {
            if !have_creds {
                d.note(Note::DeleteWithoutPoweringOff);
            }
            d.status.powered_on = false;
            let _ = d.go(S::Deleting, rng);
            d.because("powering off: no node to power off");
            return;
        }
        Observation::Node(n) => n,
    };
    if d.host().spec.disable_power_off {
        d.note(Note::DeleteWithoutPoweringOff);
        let _ = d.go(S::Deleting, rng);
        d.because("powering off: disablePowerOff set, deleting while powered on");
        return;
    }
    if node::powered_on(n) == Some(false) {
        d.status.powered_on = false;
        d.succeed();
        let _ = d.go(S::Deleting, rng);
        d.because("powering off: host is off");
        return;
    }
    if node::waiting(n) {
        d.act(Action::Abort, settings.short_delay);
        d.because("powering off: aborting the agent wait first");
        return;
    }
    // A node stopped in a failed state does not settle: power it off (or give up) now.
    if (node::moving(n) && !node::stopped_failed(n)) || node::power_pending(n) {
        d.poll(settings.short_delay);
        d.because("powering off: waiting for the node to settle");
        return;
    }
    let retrying = d.error_is(ErrorType::PowerManagement);
    if node::power_failed(n) && !retrying {
        let soft = d.status.error_count == 0;
        let message = soft_prefix(soft, node::last_error(n));
        d.fail(ErrorType::PowerManagement, message, rng);
        give_up_power_off(d, rng);
        return;
    }
    if retrying && let Some(left) = d.backoff_left() {
        d.requeue(left);
        d.because("powering off: waiting out the error backoff");
        return;
    }
    let change = if d.status.error_count > 0 {
        PowerChange::Off
    } else {
        PowerChange::SoftOff
    };
    d.clear_error();
    d.note(Note::PowerChange(false));
    d.act(Action::Power(change), settings.short_delay);
    super::power::power_event(d, change);
    d.because("powering off before delete");
}

/// Upstream's message prefix when a soft power-off failed and hard follows.
pub(crate) fn soft_prefix(soft: bool, message: String) -> String {
    if soft {
        format!("Continuing with hard poweroff after soft poweroff fails: {message}")
    } else {
        message
    }
}

/// After a failure during deletion: more than `delete_retry_limit` failures skip power-off.
pub(crate) fn give_up_power_off<R: rand::Rng + ?Sized>(d: &mut Draft<'_>, rng: &mut R) {
    if d.deleting() && d.status.error_count > d.input.settings.delete_retry_limit {
        d.note(Note::DeleteWithoutPoweringOff);
        d.event(
            EventKind::Warning,
            "DeleteWithoutPoweringOff",
            "Giving up on powering the host off after repeated failures; deleting it anyway",
        );
        let _ = d.go(S::Deleting, rng);
    }
}

/// After a failure while deprovisioning for deletion: more than `delete_retry_limit` failures
/// skip to powering off.
pub(crate) fn give_up_deprovision<R: rand::Rng + ?Sized>(d: &mut Draft<'_>, rng: &mut R) {
    if d.deleting() && d.status.error_count > d.input.settings.delete_retry_limit {
        d.note(Note::DeleteWithoutDeprovisioning);
        d.event(
            EventKind::Warning,
            "DeleteWithoutDeprovisioning",
            "Giving up on host clean up after repeated failures; the host may still be running its image",
        );
        let _ = d.go(S::PoweringOffBeforeDelete, rng);
    }
}

/// `deleting`: remove the node, then the finalizer.
pub(crate) fn deleting<R: rand::Rng + ?Sized>(d: &mut Draft<'_>, rng: &mut R) {
    let settings = d.input.settings;
    match d.observation() {
        Observation::Unavailable(why) => {
            d.poll(jittered(settings.long_delay, rng));
            d.because(format!("deleting: provisioner unavailable ({why})"));
        }
        Observation::NotRegistered => {
            if d.deleting() {
                d.remove_finalizer();
                d.because("deleting: node gone, finalizer removed");
            } else {
                d.requeue(settings.slow_delay);
                d.because("deleting: node gone, waiting for the object to be deleted");
            }
        }
        Observation::Node(n) if node::waiting(n) => {
            d.act(Action::Abort, settings.short_delay);
            d.because("deleting: aborting the agent wait first");
        }
        Observation::Node(n) if node::moving(n) && !node::stopped_failed(n) => {
            d.poll(jittered(settings.long_delay, rng));
            d.because("deleting: waiting for the node to settle");
        }
        Observation::Node(_) => {
            d.act(Action::Delete, settings.short_delay);
            d.because("deleting: removing the node");
        }
    }
}
