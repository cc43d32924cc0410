//! Actions the provisioner refused: transient trouble waits briefly, anything else becomes the
//! error type of the phase the action belongs to.

use super::backoff::jittered;
use super::draft::Draft;
use super::registration;
use super::{ActionFailure, delete};
use crate::api::{ErrorType, ProvisioningState as S};

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
