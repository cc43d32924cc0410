//! The provisioning capacity gate (`PROVISIONING_LIMIT`).
//!
//! A host holds a slot while it is `inspecting`, `provisioning` or `deprovisioning` and not
//! `delayed`; virtual-media hosts never count. A host may only enter one of those states when
//! fewer than `limit` hosts hold a slot, so a burst cannot overshoot as long as the controller
//! counts every [`SlotChange::Take`](super::SlotChange::Take) before the next decision.

use super::backoff::error_backoff_in;
use super::draft::Draft;
use super::{Flow, Note};
use crate::api::{BareMetalHost, OperationalStatus, ProvisioningState};
use crate::bmc::BmcAddress;

/// True for the states that hold a provisioning slot.
pub(crate) fn gated(state: ProvisioningState) -> bool {
    matches!(
        state,
        ProvisioningState::Inspecting
            | ProvisioningState::Provisioning
            | ProvisioningState::Deprovisioning
    )
}

fn virtual_media(host: &BareMetalHost) -> bool {
    BmcAddress::parse(&host.spec.bmc.address).is_ok_and(|a| a.is_virtual_media())
}

/// True when the host's BMC boots from virtual media (never limited).
pub(crate) fn exempt(d: &Draft<'_>) -> bool {
    virtual_media(d.host())
}

/// True when the gate refuses this host a slot right now.
pub(crate) fn blocked(d: &Draft<'_>) -> bool {
    let cap = d.input.capacity;
    !exempt(d) && !cap.holds_slot && cap.in_use >= cap.limit
}

/// Holds the host back: opStatus `delayed`, retry in 1–2 minutes.
pub(crate) fn delay<R: rand::Rng + ?Sized>(
    d: &mut Draft<'_>,
    wanted: ProvisioningState,
    rng: &mut R,
) {
    d.status.operational_status = OperationalStatus::Delayed;
    d.note(Note::Delayed(wanted));
    d.requeue(error_backoff_in(
        d.input.settings.error_backoff_unit,
        1,
        rng,
    ));
    d.because(format!(
        "delayed: no provisioning capacity to enter {wanted}"
    ));
}

/// Whether the controller must count this host as holding a provisioning slot.
pub fn holds_provisioning_slot(host: &BareMetalHost) -> bool {
    let Some(status) = host.status.as_ref() else {
        return false;
    };
    gated(status.provisioning.state)
        && status.operational_status != OperationalStatus::Delayed
        && !virtual_media(host)
}

/// Upstream's `checkDelayedHost`: a delayed host waits for a free slot; a host in a gated state
/// without one is delayed.
pub(crate) fn check_delayed<R: rand::Rng + ?Sized>(d: &mut Draft<'_>, rng: &mut R) -> Flow {
    let state = d.state();
    if d.status.operational_status == OperationalStatus::Delayed {
        if d.deleting() && !gated(state) {
            d.status.operational_status = OperationalStatus::Ok;
            return Flow::Continue;
        }
        if blocked(d) {
            delay(d, state, rng);
            return Flow::Stop;
        }
        d.status.operational_status = if d.status.error_type.is_some() {
            OperationalStatus::Error
        } else {
            OperationalStatus::Ok
        };
        if gated(state) && !exempt(d) && !d.input.capacity.holds_slot {
            d.take_slot();
        }
        return Flow::Continue;
    }
    if gated(state) && !exempt(d) && !d.input.capacity.holds_slot {
        if blocked(d) {
            delay(d, state, rng);
            return Flow::Stop;
        }
        d.take_slot();
    }
    Flow::Continue
}
