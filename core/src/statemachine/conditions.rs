//! `status.conditions`, derived from the provisioning state and operational status the way
//! upstream derives them (Manageable, AvailableForProvisioning, Provisioned, Ready, Progressing,
//! Healthy). A condition keeps its lastTransitionTime while its status does not change.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::api::{BareMetalHostStatus, OperationalStatus, ProvisioningState};

pub const MANAGEABLE: &str = "Manageable";
pub const AVAILABLE_FOR_PROVISIONING: &str = "AvailableForProvisioning";
pub const PROVISIONED: &str = "Provisioned";
pub const READY: &str = "Ready";
pub const PROGRESSING: &str = "Progressing";
pub const HEALTHY: &str = "Healthy";

const TRUE: &str = "True";
const FALSE: &str = "False";
const UNKNOWN: &str = "Unknown";

/// `(type, status, reason)` for every condition but Healthy.
fn derive(status: &BareMetalHostStatus) -> Vec<(&'static str, &'static str, &'static str)> {
    use ProvisioningState as S;
    let progressing = |reason: &'static str| {
        vec![
            (MANAGEABLE, TRUE, "Manageable"),
            (AVAILABLE_FOR_PROVISIONING, FALSE, "NotAvailable"),
            (PROVISIONED, FALSE, "NotProvisioned"),
            (READY, FALSE, "NotProvisioned"),
            (PROGRESSING, TRUE, reason),
        ]
    };
    let mut conds = match status.provisioning.state {
        S::None | S::Unmanaged => vec![
            (MANAGEABLE, FALSE, "NotManaged"),
            (AVAILABLE_FOR_PROVISIONING, FALSE, "NotAvailable"),
            (PROVISIONED, FALSE, "NotProvisioned"),
            (READY, FALSE, "NotProvisioned"),
            (PROGRESSING, FALSE, "NotProgressing"),
        ],
        S::Registering => {
            let manageable = if status.operational_status == OperationalStatus::Error {
                "RegistrationFailed"
            } else {
                "Registering"
            };
            vec![
                (MANAGEABLE, FALSE, manageable),
                (AVAILABLE_FOR_PROVISIONING, FALSE, "NotAvailable"),
                (PROVISIONED, FALSE, "NotProvisioned"),
                (READY, FALSE, "NotProvisioned"),
                (PROGRESSING, TRUE, "Registering"),
            ]
        }
        S::Preparing => progressing("Preparing"),
        S::Inspecting | S::MatchProfile => progressing("Inspecting"),
        S::Provisioning => progressing("Provisioning"),
        S::Deprovisioning => progressing("Deprovisioning"),
        S::PoweringOffBeforeDelete => progressing("PoweringOffBeforeDelete"),
        S::Deleting => progressing("Deleting"),
        S::Available | S::Ready => vec![
            (MANAGEABLE, TRUE, "Manageable"),
            (AVAILABLE_FOR_PROVISIONING, TRUE, "Available"),
            (PROVISIONED, FALSE, "NotProvisioned"),
            (READY, FALSE, "NotProvisioned"),
            (PROGRESSING, FALSE, "NotProgressing"),
        ],
        S::Provisioned | S::ExternallyProvisioned => vec![
            (MANAGEABLE, TRUE, "Manageable"),
            (AVAILABLE_FOR_PROVISIONING, FALSE, "NotAvailable"),
            (PROVISIONED, TRUE, "Provisioned"),
            (READY, TRUE, "Provisioned"),
            (PROGRESSING, FALSE, "NotProgressing"),
        ],
    };
    let mut set = |kind: &'static str, value: &'static str, reason: &'static str| {
        if let Some(c) = conds.iter_mut().find(|c| c.0 == kind) {
            *c = (kind, value, reason);
        }
    };
    match status.operational_status {
        OperationalStatus::Error => set(READY, FALSE, "Error"),
        OperationalStatus::Servicing => set(READY, FALSE, "Servicing"),
        OperationalStatus::Detached => {
            set(READY, FALSE, "Detached");
            set(PROGRESSING, FALSE, "Detached");
        }
        _ => {}
    }
    conds
}

/// Recomputes `status.conditions` in place. `previous` supplies the transition times.
pub(crate) fn compute(
    status: &mut BareMetalHostStatus,
    previous: &BareMetalHostStatus,
    now: &Time,
) {
    let wanted = derive(status);
    let mut out: Vec<Condition> = status.conditions.clone();
    for (kind, value, reason) in wanted {
        upsert(&mut out, previous, kind, value, reason, now);
    }
    // The provisioner reports no BMC health yet: Healthy stays Unknown until one does.
    if !out.iter().any(|c| c.type_ == HEALTHY) {
        upsert(&mut out, previous, HEALTHY, UNKNOWN, "Unknown", now);
    }
    status.conditions = out;
}

fn upsert(
    out: &mut Vec<Condition>,
    previous: &BareMetalHostStatus,
    kind: &str,
    value: &str,
    reason: &str,
    now: &Time,
) {
    let since = previous
        .conditions
        .iter()
        .find(|c| c.type_ == kind && c.status == value)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| now.clone());
    let cond = Condition {
        type_: kind.to_string(),
        status: value.to_string(),
        reason: reason.to_string(),
        message: String::new(),
        last_transition_time: since,
        observed_generation: None,
    };
    match out.iter_mut().find(|c| c.type_ == kind) {
        Some(existing) => *existing = cond,
        None => out.push(cond),
    }
}
