//! Power management in the steady states (`available`, `provisioned`, `externally
//! provisioned`): `spec.online`, reboot annotations, soft→hard fallback and `disablePowerOff`.
//!
//! * The desired state is `spec.online`, forced off while a reboot annotation exists. Outside
//!   the provisioned states only annotations with `force: true` count.
//! * `reboot.metal3.io` (no suffix) is removed once the host is seen off, so the host comes back
//!   on; `reboot.metal3.io/{key}` keeps it off until every such annotation is removed.
//! * Power-off is soft unless an annotation asks for hard or an error was already counted.
//! * With `disablePowerOff` the host is rebooted instead of powered off, and only the suffix-less
//!   annotation is honoured (a phased reboot would need the host to stay off).

use std::collections::BTreeMap;

use super::delete::soft_prefix;
use super::draft::Draft;
use super::node;
use super::{EventKind, Note};
use crate::api::annotations::{self, RebootAnnotation, RebootMode, reboot_annotations};
use crate::api::{ErrorType, ProvisioningState as S};
use crate::provisioner::{Action, NodeView, PowerChange};

/// What the reboot annotations ask for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RebootRequest {
    pub requested: bool,
    pub hard: bool,
}

/// Reads the reboot annotations that count in this state. Invalid values produce a Warning
/// Event and are treated as a soft reboot, as upstream does.
pub(crate) fn reboot_request(
    d: &mut Draft<'_>,
    annotations: &BTreeMap<String, String>,
) -> RebootRequest {
    let provisioned = matches!(d.state(), S::Provisioned | S::ExternallyProvisioned);
    let no_power_off = d.host().spec.disable_power_off;
    let mut request = RebootRequest::default();
    for (key, parsed) in reboot_annotations(annotations) {
        if no_power_off && key != annotations::REBOOT {
            continue;
        }
        let value = match parsed {
            Ok(v) => v,
            Err(e) => {
                d.event(
                    EventKind::Warning,
                    "InvalidAnnotationValue",
                    format!("{e}; assuming a soft reboot"),
                );
                RebootAnnotation::default()
            }
        };
        if !provisioned && !value.force {
            continue;
        }
        request.requested = true;
        request.hard |= value.mode == RebootMode::Hard;
    }
    request
}

/// One step of power management for a settled node.
pub(crate) fn manage<R: rand::Rng + ?Sized>(
    d: &mut Draft<'_>,
    n: &NodeView,
    annotations: &BTreeMap<String, String>,
    rng: &mut R,
) {
    let settings = d.input.settings;
    if let Some(on) = node::powered_on(n)
        && on != d.status.powered_on
    {
        d.status.powered_on = on;
        if d.error_is(ErrorType::PowerManagement) {
            d.clear_error();
        }
        d.poll(settings.short_delay);
        d.because(if on {
            "power: host seen on"
        } else {
            "power: host seen off"
        });
        return;
    }
    if !d.status.powered_on && annotations.contains_key(annotations::REBOOT) {
        d.remove_annotation(annotations::REBOOT);
        d.requeue_now();
        d.because("power: host is off, one-shot reboot annotation removed");
        return;
    }
    let reboot = reboot_request(d, annotations);
    let online = d.host().spec.online;
    let desired = online && !reboot.requested;
    if d.status.powered_on == desired {
        if d.error_is(ErrorType::PowerManagement) {
            d.succeed();
        }
        d.requeue(settings.steady_delay);
        d.because("steady: power as desired");
        return;
    }
    if node::moving(n) || node::power_pending(n) {
        d.poll(settings.short_delay);
        d.because("power: waiting for the node to settle");
        return;
    }
    let retrying = d.error_is(ErrorType::PowerManagement);
    let hard = reboot.hard || d.status.error_count > 0;
    if node::power_failed(n) && !retrying {
        let soft_off = !desired && !hard;
        d.fail(
            ErrorType::PowerManagement,
            soft_prefix(soft_off, node::last_error(n)),
            rng,
        );
        d.because("power: the last power change failed");
        return;
    }
    if retrying && let Some(left) = d.backoff_left() {
        d.requeue(left);
        d.because("power: waiting out the error backoff");
        return;
    }
    let no_power_off = d.host().spec.disable_power_off;
    let change = match (desired, no_power_off, hard) {
        (true, _, _) => PowerChange::On,
        (false, true, true) => PowerChange::Reboot,
        (false, true, false) => PowerChange::SoftReboot,
        (false, false, true) => PowerChange::Off,
        (false, false, false) => PowerChange::SoftOff,
    };
    if !desired && no_power_off {
        // The host never reports off, so the one-shot request is consumed by the reboot itself.
        d.remove_annotation(annotations::REBOOT);
    }
    d.clear_error();
    d.note(Note::PowerChange(desired));
    d.act(Action::Power(change), settings.short_delay);
    power_event(d, change);
    d.because(match change {
        PowerChange::On => "power: turning on",
        PowerChange::Off => "power: hard power off",
        PowerChange::SoftOff => "power: soft power off",
        PowerChange::Reboot => "power: hard reboot (power-off disabled)",
        PowerChange::SoftReboot => "power: soft reboot (power-off disabled)",
    });
}

/// The Event upstream publishes once Ironic accepted a power change (a decision's events are
/// recorded only when its action is accepted). A reboot of a host whose power-off is disabled has
/// none, as upstream has none for it.
pub(crate) fn power_event(d: &mut Draft<'_>, change: PowerChange) {
    let (reason, message) = match change {
        PowerChange::On => ("PowerOn", "Host powered on"),
        PowerChange::Off => ("PowerOff", "Host powered off"),
        PowerChange::SoftOff => ("PowerOff", "Host soft powered off"),
        PowerChange::Reboot | PowerChange::SoftReboot => return,
    };
    d.event(EventKind::Normal, reason, message);
}
