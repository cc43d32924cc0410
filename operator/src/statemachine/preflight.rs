//! Checks before the state machine proper: the status and hardware-details annotations, the
//! BMC Secret, the BMC address and the spec fields upstream's webhook would refuse. Bad input
//! becomes an error status naming the field and value plus a Warning Event — never a panic.

use std::collections::BTreeMap;

use super::draft::Draft;
use super::registration::inspection_disabled;
use super::{CredentialsView, Decision, Effect, EventKind};
use crate::api::annotations::{self, parse_hardware_details_annotation, parse_status_annotation};
use crate::api::{BootMode, ErrorType, Image, InspectionMode, ProvisioningState};
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
                    d.status.hardware = Some(details);
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
    let bmc = match BmcAddress::parse(address) {
        Ok(bmc) => bmc,
        Err(_) if deleting => return Verdict::Go(None),
        Err(e) => {
            d.fail_permanently(
                ErrorType::Registration,
                format!("{e} (spec.bmc.address: {address:?})"),
            );
            d.because("bad input: BMC address");
            return Verdict::Stop;
        }
    };
    if !deleting && let Some((kind, message)) = spec_problem(d, &bmc) {
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

/// The first spec problem upstream's webhook would refuse, with the error type it gets.
fn spec_problem(d: &Draft<'_>, bmc: &BmcAddress) -> Option<(ErrorType, String)> {
    let spec = &d.host().spec;
    let driver = bmc.kind.scheme();
    let registration = |m: String| Some((ErrorType::Registration, m));
    match spec.boot_mac_address.as_deref() {
        Some(mac) if !mac.is_empty() && !valid_mac(mac) => {
            return registration(format!(
                "spec.bootMACAddress {mac:?} is not a valid MAC address (expected six hex pairs such as 52:54:00:12:34:56)"
            ));
        }
        None | Some("") if bmc.needs_mac() => {
            return registration(format!(
                "BMC driver {driver} requires a BootMACAddress value (spec.bootMACAddress is empty)"
            ));
        }
        _ => {}
    }
    if let Some(mode) = &spec.boot_mode {
        if !mode.is_known() {
            return registration(format!(
                "spec.bootMode {:?} is not one of {}",
                mode.as_str(),
                BootMode::WIRE_VALUES.join(", ")
            ));
        }
        if *mode == BootMode::UefiSecureBoot && !bmc.supports_secure_boot() {
            return registration(format!(
                "BMC driver {driver} does not support secure boot (spec.bootMode: UEFISecureBoot)"
            ));
        }
    }
    if let Some(mode) = &spec.inspection_mode {
        if !mode.is_known() {
            return registration(format!(
                "spec.inspectionMode {:?} is not one of {}",
                mode.as_str(),
                InspectionMode::WIRE_VALUES.join(", ")
            ));
        }
        if *mode == InspectionMode::Fast && !bmc.supports_fast_inspection() {
            return registration(format!(
                "BMC driver {driver} does not support fast (out-of-band) inspection (spec.inspectionMode: fast)"
            ));
        }
    }
    if !spec.automated_cleaning_mode.is_known() {
        return registration(format!(
            "spec.automatedCleaningMode {:?} is not one of metadata, disabled",
            spec.automated_cleaning_mode.as_str()
        ));
    }
    if let Some(raid) = &spec.raid {
        let hardware = raid
            .hardware_raid_volumes
            .as_ref()
            .is_some_and(|v| !v.is_empty());
        let software = raid
            .software_raid_volumes
            .as_ref()
            .is_some_and(|v| !v.is_empty());
        if hardware && software {
            return Some((
                ErrorType::Preparation,
                "spec.raid: hardwareRAIDVolumes and softwareRAIDVolumes cannot both be set"
                    .to_string(),
            ));
        }
        if hardware && !bmc.supports_raid() {
            return registration(format!(
                "BMC driver {driver} does not support configuring RAID (spec.raid.hardwareRAIDVolumes)"
            ));
        }
    }
    if !spec.online && spec.disable_power_off {
        return Some((
            ErrorType::PowerManagement,
            "spec.online: false is not allowed together with spec.disablePowerOff: true (the host may never be powered off)".to_string(),
        ));
    }
    None
}

/// A MAC in the form upstream's pattern accepts: six hex pairs separated by colons.
pub(crate) fn valid_mac(mac: &str) -> bool {
    let parts: Vec<&str> = mac.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Why an image cannot be deployed, naming the field and value; `None` when it can.
pub(crate) fn image_problem(image: &Image) -> Option<String> {
    if image.url.trim().is_empty() {
        return Some("spec.image.url is empty".to_string());
    }
    if let Some(format) = &image.format
        && !format.is_known()
    {
        return Some(format!(
            "spec.image.format {:?} is not one of raw, qcow2, vdi, vmdk, live-iso",
            format.as_str()
        ));
    }
    if let Some(kind) = &image.checksum_type
        && !kind.is_known()
    {
        return Some(format!(
            "spec.image.checksumType {:?} is not one of md5, sha256, sha512, auto",
            kind.as_str()
        ));
    }
    let missing = image
        .checksum
        .as_deref()
        .is_none_or(|c| c.trim().is_empty());
    if missing && !image.is_checksum_exempt() {
        return Some(format!(
            "spec.image.checksum is required for image {:?} (only live-iso and oci:// images may omit it)",
            image.url
        ));
    }
    None
}
