//! Checks before the state machine proper: the status and hardware-details annotations, the
//! BMC Secret, the BMC address and the spec fields upstream's webhook would refuse. Bad input
//! becomes an error status naming the field and value plus a Warning Event — never a panic.

use std::collections::BTreeMap;

use super::draft::Draft;
use super::registration::inspection_disabled;
use super::{CredentialsView, Decision, Effect, EventKind};
use crate::api::annotations::{self, parse_hardware_details_annotation, parse_status_annotation};
use crate::api::validation::summarize;
use crate::api::{BareMetalHost, ErrorType, FieldError, ProvisioningState, validate_host};
use crate::bmc::BmcAddress;
use crate::provisioner::Credentials;

/// Usable BMC credentials and the Secret's resourceVersion.
pub(crate) struct Creds<'a> {
    pub credentials: &'a Credentials,
    pub version: &'a str,
}

pub(crate) enum Verdict<'a> {
    /// The decision is complete (an error was recorded, or the host must wait).
    Stop,
    /// Carry on, with credentials when they are usable.
    Go(Option<Creds<'a>>),
}

/// Restores status from `baremetalhost.metal3.io/status` when the status is empty, and consumes
/// `inspect.metal3.io/hardwaredetails`. Returns a finished decision when one of them acted.
pub(crate) fn restore_annotations(
    d: &mut Draft<'_>,
    annotations: &BTreeMap<String, String>,
) -> Option<Decision> {
    if let Some(raw) = annotations.get(annotations::STATUS) {
        d.remove_annotation(annotations::STATUS);
        let empty = d.status.last_updated.is_none();
        if empty {
            match parse_status_annotation(raw) {
                Ok(status) => {
                    d.replace_status(status);
                    d.requeue_now();
                    return Some(take(d, "status restored from the status annotation"));
                }
                Err(e) => d.event(EventKind::Warning, "InvalidAnnotationValue", e.to_string()),
            }
        }
    }
    if let Some(raw) = annotations.get(annotations::HARDWARE_DETAILS) {
        d.remove_annotation(annotations::HARDWARE_DETAILS);
        if inspection_disabled(d.host()) || d.status.hardware.is_none() {
            match parse_hardware_details_annotation(raw) {
                Ok(details) => {
                    let json = serde_json::to_value(&details).unwrap_or_default();
                    d.status.hardware = Some(details.into());
                    d.effect(Effect::WriteHardwareData(json));
                    d.event(
                        EventKind::Normal,
                        "UpdateHardwareDetails",
                        "Set HardwareDetails from the hardwaredetails annotation",
                    );
                    d.requeue_now();
                    return Some(take(d, "hardware details taken from the annotation"));
                }
                Err(e) => d.event(EventKind::Warning, "InvalidAnnotationValue", e.to_string()),
            }
        } else {
            d.event(
                EventKind::Normal,
                "RemoveAnnotation",
                "HardwareDetails annotation ignored: status already set and inspection is not disabled",
            );
        }
    }
    None
}

/// Moves the draft out so a decision can be returned early.
fn take(d: &mut Draft<'_>, cause: &str) -> Decision {
    let input = d.input;
    let done = std::mem::replace(d, Draft::new(input));
    done.finish(cause)
}

/// Validates the Secret, the BMC address and the spec for states that talk to the BMC.
pub(crate) fn check<'a, R: rand::Rng + ?Sized>(d: &mut Draft<'a>, _rng: &mut R) -> Verdict<'a> {
    if matches!(
        d.state(),
        ProvisioningState::None | ProvisioningState::Unmanaged
    ) {
        return Verdict::Go(None);
    }
    let deleting = d.deleting();
    let creds = match credentials(d) {
        Ok(c) => c,
        Err(problem) if deleting => {
            d.because(format!(
                "deleting without usable credentials: {}",
                problem.message
            ));
            return Verdict::Go(None);
        }
        Err(problem) => {
            record_credentials_problem(d, problem);
            return Verdict::Stop;
        }
    };
    let address = &d.host().spec.bmc.address;
    match BmcAddress::parse(address) {
        Ok(_) => {}
        Err(_) if deleting => return Verdict::Go(None),
        Err(e) => {
            d.fail_permanently(
                ErrorType::Registration,
                format!("{e} (spec.bmc.address: {address:?})"),
            );
            d.because("bad input: BMC address");
            return Verdict::Stop;
        }
    }
    if !deleting && let Some((kind, message)) = spec_problem(d) {
        d.fail_permanently(kind, message);
        d.because("bad input: host spec");
        return Verdict::Stop;
    }
    Verdict::Go(Some(creds))
}

struct CredentialsProblem {
    message: String,
    /// Whether the Secret may still appear (requeue) or the user must change something.
    retry: bool,
}

fn credentials<'a>(d: &Draft<'a>) -> Result<Creds<'a>, CredentialsProblem> {
    let bmc = &d.host().spec.bmc;
    if bmc.address.is_empty() {
        return Err(CredentialsProblem {
            message: "Missing BMC connection detail 'Address' (spec.bmc.address is empty)"
                .to_string(),
            retry: false,
        });
    }
    if bmc.credentials_name.is_empty() {
        return Err(CredentialsProblem {
            message:
                "Missing BMC connection detail 'Credentials' (spec.bmc.credentialsName is empty)"
                    .to_string(),
            retry: false,
        });
    }
    let input = d.input;
    match &input.credentials {
        CredentialsView::Ok {
            credentials,
            secret_version,
        } => Ok(Creds {
            credentials,
            version: secret_version,
        }),
        CredentialsView::NotRequested | CredentialsView::SecretMissing { .. } => {
            let name = match &input.credentials {
                CredentialsView::SecretMissing { name } => name.as_str(),
                _ => bmc.credentials_name.as_str(),
            };
            Err(CredentialsProblem {
                message: format!(
                    "BMC credentials Secret {name:?} not found (spec.bmc.credentialsName: {name:?})"
                ),
                retry: true,
            })
        }
        CredentialsView::SecretInOtherNamespace { name, namespace } => Err(CredentialsProblem {
            message: format!(
                "BMC credentials Secret {name:?} is in namespace {namespace:?}; a host may only use Secrets in its own namespace (spec.bmc.credentialsName)"
            ),
            retry: false,
        }),
        CredentialsView::MissingKey { name, key } => Err(CredentialsProblem {
            message: format!(
                "Validation error with BMC credentials: Missing BMC connection detail '{key}' in credentials (Secret {name:?})"
            ),
            retry: false,
        }),
    }
}

/// Upstream records credential problems as `registration error` with the Event reason
/// `BMCCredentialError`; a missing Secret is retried every 10 s since it may yet be created.
fn record_credentials_problem(d: &mut Draft<'_>, problem: CredentialsProblem) {
    d.fail_permanently_as(
        ErrorType::Registration,
        problem.message,
        "BMCCredentialError",
    );
    if problem.retry {
        d.requeue(d.input.settings.missing_secret_delay);
    } else {
        d.no_requeue();
    }
    d.because("bad input: BMC credentials");
}

/// The spec problems upstream's webhook would refuse (see [`validate_host`]), except the image
/// (checked when provisioning starts) and the annotations consumed before this point. The
/// error type follows the field: power fields → power management, RAID and root-device hints
/// → preparation, annotations → their feature, anything else → registration.
fn spec_problem(d: &Draft<'_>) -> Option<(ErrorType, String)> {
    let errors: Vec<FieldError> = validate_host(d.host())
        .into_iter()
        .filter(|e| !deferred(&e.path))
        .collect();
    let first = errors.first()?;
    Some((error_kind_for(&first.path), summarize(&errors)))
}

/// Paths checked elsewhere: the image at provisioning time, the BMC address and Secret above,
/// and the status / hardware-details annotations, which are consumed before validation.
fn deferred(path: &str) -> bool {
    let consumed = [annotations::STATUS, annotations::HARDWARE_DETAILS]
        .iter()
        .any(|key| path == format!("metadata.annotations[{key}]"));
    consumed || is_deploy_path(path) || path.starts_with("spec.bmc.")
}

fn is_deploy_path(path: &str) -> bool {
    path.starts_with("spec.image") || path.starts_with("spec.customDeploy")
}

fn error_kind_for(path: &str) -> ErrorType {
    let annotation = |key: &str| path.starts_with(&format!("metadata.annotations[{key}"));
    if path.starts_with("spec.disablePowerOff")
        || path.starts_with("spec.online")
        || annotation(annotations::REBOOT)
    {
        ErrorType::PowerManagement
    } else if path.starts_with("spec.raid") || path.starts_with("spec.rootDeviceHints") {
        ErrorType::Preparation
    } else if annotation(annotations::DETACHED) {
        ErrorType::Detach
    } else if annotation(annotations::INSPECT) {
        ErrorType::Inspection
    } else {
        ErrorType::Registration
    }
}

/// Why the host's image or custom deploy cannot be deployed, naming fields and values; `None`
/// when it can.
pub(crate) fn deploy_problem(host: &BareMetalHost) -> Option<String> {
    let errors: Vec<FieldError> = validate_host(host)
        .into_iter()
        .filter(|e| is_deploy_path(&e.path))
        .collect();
    (!errors.is_empty()).then(|| summarize(&errors))
}
