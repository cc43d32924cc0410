//! Registration: turning a host into the provisioner's [`HostRef`] and [`Registration`], and
//! upstream's `ensureRegistered` (register again whenever credentials change or a registration
//! error is pending, in every state that has a node).

use k8s_openapi::api::core::v1::SecretReference;

use super::backoff::jittered;
use super::draft::Draft;
use super::node::{self, ENROLL, VERIFYING};
use super::preflight::Creds;
use super::{EventKind, Flow, Note, Phase};
use crate::api::annotations::{self, InspectAnnotation};
use crate::api::{
    AutomatedCleaningMode, BareMetalHost, BootMode, CredentialsStatus, ErrorType, InspectionMode,
    ProvisioningState,
};
use crate::bmc::{BmcAddress, BmcError};
use crate::provisioner::{Action, Credentials, HostRef, InspectMode, Observation, Registration};

/// Why a host cannot be turned into a [`Registration`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegistrationError {
    /// `spec.bmc.address` does not parse.
    #[error("{0}")]
    Bmc(#[from] BmcError),
}

/// The provisioner's handle on a host: `namespace~name`, the node UUID once known, boot MAC.
pub fn host_ref(host: &BareMetalHost) -> HostRef {
    let node_id = host
        .status
        .as_ref()
        .map(|s| s.provisioning.id.clone())
        .filter(|id| !id.is_empty());
    HostRef {
        namespace: host.metadata.namespace.clone().unwrap_or_default(),
        name: host.metadata.name.clone().unwrap_or_default(),
        node_id,
        boot_mac: host.spec.boot_mac_address.clone().filter(|m| !m.is_empty()),
        uid: host.metadata.uid.clone(),
    }
}

/// True when inspection is off: `spec.inspectionMode: disabled` or the deprecated
/// `inspect.metal3.io: disabled` annotation.
pub(crate) fn inspection_disabled(host: &BareMetalHost) -> bool {
    let by_annotation = host
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(annotations::INSPECT))
        .is_some_and(|v| InspectAnnotation::parse(v) == Ok(InspectAnnotation::Disabled));
    by_annotation || host.spec.inspection_mode == Some(InspectionMode::Disabled)
}

pub(crate) fn inspect_mode(host: &BareMetalHost) -> InspectMode {
    if inspection_disabled(host) {
        return InspectMode::Disabled;
    }
    match host.spec.inspection_mode {
        Some(InspectionMode::Fast) => InspectMode::Fast,
        _ => InspectMode::Agent,
    }
}

/// Everything the provisioner needs to create or update the host's node.
pub fn registration(
    host: &BareMetalHost,
    credentials: &Credentials,
    secret_version: &str,
) -> Result<Registration, RegistrationError> {
    let bmc = &host.spec.bmc;
    BmcAddress::parse(&bmc.address)?;
    Ok(Registration {
        bmc_address: bmc.address.clone(),
        disable_certificate_verification: bmc.disable_certificate_verification,
        credentials: credentials.clone(),
        boot_mac: host.spec.boot_mac_address.clone().filter(|m| !m.is_empty()),
        boot_mode: host
            .spec
            .boot_mode
            .clone()
            .unwrap_or(BootMode::Uefi)
            .as_str()
            .to_string(),
        inspect_mode: inspect_mode(host),
        automated_clean: host.spec.automated_cleaning_mode != AutomatedCleaningMode::Disabled,
        architecture: host.spec.architecture.clone().filter(|a| !a.is_empty()),
        fingerprint: fingerprint(host, secret_version),
    })
}

/// What the node was registered from, without any secret material: the Secret's name and
/// resourceVersion, the address, TLS verification and boot MAC. A change means re-registering.
fn fingerprint(host: &BareMetalHost, secret_version: &str) -> String {
    let bmc = &host.spec.bmc;
    format!(
        "v1;secret={}@{};address={};insecure={};mac={}",
        bmc.credentials_name,
        secret_version,
        bmc.address,
        bmc.disable_certificate_verification,
        host.spec.boot_mac_address.as_deref().unwrap_or("")
    )
}

fn credentials_status(host: &BareMetalHost, version: &str) -> CredentialsStatus {
    CredentialsStatus {
        credentials: Some(SecretReference {
            name: Some(host.spec.bmc.credentials_name.clone()),
            namespace: host.metadata.namespace.clone(),
        }),
        credentials_version: Some(version.to_string()),
    }
}

/// The error type a registration failure gets in the current state.
pub(crate) fn error_kind(state: ProvisioningState) -> ErrorType {
    match state {
        ProvisioningState::Provisioned | ProvisioningState::ExternallyProvisioned => {
            ErrorType::ProvisionedRegistration
        }
        _ => ErrorType::Registration,
    }
}

/// Upstream's `ensureRegistered`. `Flow::Stop` while registration is under way or failed.
pub(crate) fn ensure<R: rand::Rng + ?Sized>(
    d: &mut Draft<'_>,
    creds: &Creds<'_>,
    rng: &mut R,
) -> Flow {
    let state = d.state();
    if matches!(
        state,
        ProvisioningState::None
            | ProvisioningState::Unmanaged
            | ProvisioningState::MatchProfile
            | ProvisioningState::Deleting
    ) {
        return Flow::Continue;
    }
    let host = d.host();
    let reg = match registration(host, creds.credentials, creds.version) {
        Ok(reg) => reg,
        Err(e) => {
            d.fail_permanently(ErrorType::Registration, e.to_string());
            d.because("registration: invalid BMC details");
            return Flow::Stop;
        }
    };
    let kind = error_kind(state);
    // Only a failure of this very registration is retried here; a `provisioned registration
    // error` from a failed adoption is retried by the steady-state handler.
    let retrying = d.error_is(kind)
        && node_of(d.observation()).is_none_or(|n| node::is(n, ENROLL) || node::is(n, VERIFYING));
    let settings = d.input.settings;

    let node = match d.observation() {
        Observation::Unavailable(why) => {
            d.poll(jittered(settings.long_delay, rng));
            d.because(format!("registration: provisioner unavailable ({why})"));
            return Flow::Stop;
        }
        Observation::NotRegistered => None,
        Observation::Node(n) => Some(n),
    };
    if let Some(n) = node
        && d.status.provisioning.id != n.uuid
    {
        d.status.provisioning.id = n.uuid.clone();
    }
    let stale =
        node.is_none_or(|n| n.registration_fingerprint.as_deref() != Some(&reg.fingerprint));
    if stale {
        // No backoff guard here: a missing Secret that appears, or a fixed address, should be
        // registered at once; a refused Register is requeued with the backoff by `fail`.
        if node.is_none() {
            d.status.provisioning.id.clear();
        }
        if state != ProvisioningState::Registering {
            d.restart_phase(Phase::Register);
            d.note(Note::RegistrationRequired);
        }
        if node.is_none() {
            d.event(EventKind::Normal, "Registered", "Registered new host");
        }
        d.status.tried_credentials = Some(credentials_status(host, creds.version));
        d.act(Action::Register(reg), settings.short_delay);
        d.because(if node.is_none() {
            "registration: creating the node"
        } else {
            "registration: updating the node (credentials or BMC details changed)"
        });
        return Flow::Stop;
    }
    let Some(n) = node else {
        return Flow::Stop;
    };
    if node::is(n, ENROLL) {
        if node::moving(n) {
            d.poll(settings.short_delay);
            d.because("registration: node is being enrolled");
            return Flow::Stop;
        }
        if n.last_error
            .as_deref()
            .is_some_and(|e| !e.trim().is_empty())
            && !retrying
        {
            d.fail(kind, node::last_error(n), rng);
            d.because("registration: the BMC could not be verified");
            return Flow::Stop;
        }
        if retrying && let Some(left) = d.backoff_left() {
            d.requeue(left);
            d.because("registration: waiting out the error backoff");
            return Flow::Stop;
        }
        d.clear_error();
        d.act(Action::Manage, settings.short_delay);
        d.because("registration: verifying BMC access (manage)");
        return Flow::Stop;
    }
    if node::is(n, VERIFYING) {
        d.poll(settings.short_delay);
        d.because("registration: node is verifying BMC access");
        return Flow::Stop;
    }
    if d.error_is(ErrorType::Registration) {
        d.clear_error();
    }
    let good = credentials_status(host, creds.version);
    if d.status.good_credentials.as_ref() != Some(&good) {
        d.status.good_credentials = Some(good);
        d.event(
            EventKind::Normal,
            "BMCAccessValidated",
            "Verified access to BMC",
        );
    }
    if state != ProvisioningState::Registering {
        d.end_phase(Phase::Register);
    }
    Flow::Continue
}

fn node_of(observation: &Observation) -> Option<&crate::provisioner::NodeView> {
    match observation {
        Observation::Node(n) => Some(n),
        _ => None,
    }
}
