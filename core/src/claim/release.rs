//! Giving a host back when its claim is deleted.
//!
//! The sequence, one step per call (the controller applies the step, then asks again):
//! 1. clear the deployment the claim put on the host (`image`, `customDeploy`, `userData`,
//!    `networkData`, `metaData`) and set `online: false` — the BareMetalHost controller then
//!    deprovisions (`provisioned` → `deprovisioning`, cleaning) back to `available`;
//! 2. wait while the host is deploying, provisioned or deprovisioning;
//! 3. once the host is `available` again (or in a state before it, or externally provisioned and
//!    powered off), clear `consumerRef`;
//! 4. done: the controller drops the claim's finalizer.
//!
//! A host that is gone, being deleted, or whose `consumerRef` no longer names the claim needs no
//! release (the consumerRef wins over the claim's status). Every host patch carries the host's
//! `resourceVersion` as precondition.

use serde_json::{Map, Value};

use super::ClaimRef;
use super::deployment::{DeployFields, with_precondition};
use crate::api::{BareMetalHost, ProvisioningState};

/// The next release step.
#[derive(Clone, Debug, PartialEq)]
pub enum ReleaseStep {
    /// Apply this merge patch to the host (clear the deployment and power it off).
    ClearDeployment(Value),
    /// The host is still on its way back; look again when it changes.
    Wait { state: ProvisioningState },
    /// Apply this merge patch to the host (clear `consumerRef`).
    ClearConsumer(Value),
    /// Nothing is left to do: drop the finalizer.
    Done,
}

/// The next step of releasing `host` (the host the claim is bound to, if any).
pub fn release_step(claim: &ClaimRef, host: Option<&BareMetalHost>) -> ReleaseStep {
    let Some(host) = host else {
        return ReleaseStep::Done;
    };
    if host.metadata.deletion_timestamp.is_some() || !claim.is_consumer_of(host) {
        return ReleaseStep::Done;
    }
    if !DeployFields::on_host(host).is_empty() || host.spec.online {
        let mut fields = Map::new();
        for name in [
            "image",
            "customDeploy",
            "userData",
            "networkData",
            "metaData",
        ] {
            fields.insert(name.to_owned(), Value::Null);
        }
        fields.insert("online".into(), Value::Bool(false));
        return ReleaseStep::ClearDeployment(with_precondition(host, fields));
    }
    let status = host.status.clone().unwrap_or_default();
    let state = status.provisioning.state;
    let back = match state {
        ProvisioningState::None
        | ProvisioningState::Unmanaged
        | ProvisioningState::Registering
        | ProvisioningState::MatchProfile
        | ProvisioningState::Inspecting
        | ProvisioningState::Preparing
        | ProvisioningState::Ready
        | ProvisioningState::Available => true,
        ProvisioningState::ExternallyProvisioned => !status.powered_on,
        ProvisioningState::Provisioning
        | ProvisioningState::Provisioned
        | ProvisioningState::Deprovisioning
        | ProvisioningState::PoweringOffBeforeDelete
        | ProvisioningState::Deleting => false,
    };
    if !back {
        return ReleaseStep::Wait { state };
    }
    let mut fields = Map::new();
    fields.insert("consumerRef".into(), Value::Null);
    ReleaseStep::ClearConsumer(with_precondition(host, fields))
}
