//! Webhook-style validation of a BareMetalHost, as upstream Metal3's admission webhook does it.
//!
//! Every problem is reported as a [`FieldError`] naming the field path and the offending value,
//! so the controller can put it into `status.errorMessage` and an Event. The BMC address is parsed
//! with `crate::bmc`, whose driver capabilities decide the RAID, secure-boot, fast-inspection and
//! boot-MAC rules.

use std::collections::BTreeMap;
use std::fmt;

use super::annotations::{self, DetachedAnnotation, InspectAnnotation};
use super::baremetalhost::{
    AutomatedCleaningMode, BareMetalHost, BareMetalHostSpec, BootMode, Image, InspectionMode,
};
use super::states::ProvisioningState;
use crate::bmc::BmcAddress;

mod storage;

pub use storage::MAX_SOFTWARE_RAID_VOLUMES;
use storage::{validate_hints, validate_raid};

/// The class of a field problem (named as Kubernetes names them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldErrorKind {
    /// The value is malformed.
    Invalid,
    /// A value is needed but missing or empty.
    Required,
    /// The value is well-formed but not allowed here.
    Forbidden,
    /// The value is not one of an enumeration.
    NotSupported,
}

impl fmt::Display for FieldErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Invalid => "Invalid value",
            Self::Required => "Required value",
            Self::Forbidden => "Forbidden",
            Self::NotSupported => "Unsupported value",
        })
    }
}

/// One validation problem: which field, which value, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {kind}: {value:?}: {detail}")]
pub struct FieldError {
    /// The class of problem.
    pub kind: FieldErrorKind,
    /// JSON path of the field, e.g. `spec.bootMACAddress` or `metadata.annotations[reboot.metal3.io]`.
    pub path: String,
    /// The offending value as written (empty when missing).
    pub value: String,
    /// Human-readable explanation.
    pub detail: String,
}

impl FieldError {
    /// Builds an error of `kind` for `path`.
    pub fn new(
        kind: FieldErrorKind,
        path: impl Into<String>,
        value: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            path: path.into(),
            value: value.into(),
            detail: detail.into(),
        }
    }
}

/// Joins several errors into one message, e.g. for `status.errorMessage`.
pub fn summarize(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Checks a host the way upstream's admission webhook checks a create.
pub fn validate_host(host: &BareMetalHost) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let namespace = host.metadata.namespace.as_deref().unwrap_or_default();
    validate_name(host.metadata.name.as_deref(), &mut errors);
    validate_spec(&host.spec, namespace, &mut errors);
    if let Some(annotations) = &host.metadata.annotations {
        validate_annotations(annotations, &host.spec, &mut errors);
    }
    errors
}

/// Checks a change from `old` to `new`: everything [`validate_host`] checks plus the immutability
/// rules upstream's webhook applies to updates.
pub fn validate_host_update(old: &BareMetalHost, new: &BareMetalHost) -> Vec<FieldError> {
    let mut errors = validate_host(new);
    if let (Some(before), Some(after)) = (&old.spec.boot_mac_address, &new.spec.boot_mac_address)
        && !before.is_empty()
        && !before.eq_ignore_ascii_case(after)
    {
        errors.push(FieldError::new(
            FieldErrorKind::Forbidden,
            "spec.bootMACAddress",
            after,
            format!("bootMACAddress can not be changed once it is set (was {before:?})"),
        ));
    }
    let state = old
        .status
        .as_ref()
        .map(|s| s.provisioning.state)
        .unwrap_or_default();
    let detached = old
        .status
        .as_ref()
        .is_some_and(|s| s.operational_status == super::states::OperationalStatus::Detached);
    let address_may_change = matches!(
        state,
        ProvisioningState::None | ProvisioningState::Unmanaged | ProvisioningState::Registering
    ) || detached;
    if !old.spec.bmc.address.is_empty()
        && old.spec.bmc.address != new.spec.bmc.address
        && !address_may_change
    {
        errors.push(FieldError::new(
            FieldErrorKind::Forbidden,
            "spec.bmc.address",
            &new.spec.bmc.address,
            format!("BMC address can not be changed in state {state:?} unless the host is registering or detached"),
        ));
    }
    let switching_on = !old.spec.externally_provisioned && new.spec.externally_provisioned;
    let on_allowed = matches!(
        state,
        ProvisioningState::None
            | ProvisioningState::Unmanaged
            | ProvisioningState::Available
            | ProvisioningState::Ready
    );
    if switching_on && !on_allowed {
        errors.push(FieldError::new(
            FieldErrorKind::Forbidden,
            "spec.externallyProvisioned",
            "true",
            format!(
                "externallyProvisioned can only be set at creation or in state available, not {:?}",
                state.as_str()
            ),
        ));
    }
    errors
}

/// `metadata.name`: the characters upstream allows, and not a UUID (those name Ironic nodes).
fn validate_name(name: Option<&str>, errors: &mut Vec<FieldError>) {
    let name = name.unwrap_or_default();
    if name.is_empty() {
        errors.push(FieldError::new(
            FieldErrorKind::Required,
            "metadata.name",
            name,
            "a host needs a name",
        ));
        return;
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if !name.chars().all(allowed) {
        errors.push(FieldError::new(
            FieldErrorKind::Invalid,
            "metadata.name",
            name,
            "name may only contain letters, digits, '.', '_' and '-'",
        ));
    }
    if uuid::Uuid::parse_str(name).is_ok() {
        errors.push(FieldError::new(
            FieldErrorKind::Invalid,
            "metadata.name",
            name,
            "name can not be a UUID",
        ));
    }
}

fn validate_spec(spec: &BareMetalHostSpec, namespace: &str, errors: &mut Vec<FieldError>) {
    validate_bmc(spec, errors);
    if let Some(mac) = &spec.boot_mac_address
        && !is_mac_address(mac)
    {
        errors.push(FieldError::new(
            FieldErrorKind::Invalid,
            "spec.bootMACAddress",
            mac,
            "not a MAC address (expected six hex octets such as 00:1a:2b:3c:4d:5e)",
        ));
    }
    if let Some(mode) = &spec.boot_mode {
        unsupported(
            "spec.bootMode",
            mode.is_known(),
            mode.as_str(),
            BootMode::WIRE_VALUES,
            errors,
        );
    }
    let cleaning = &spec.automated_cleaning_mode;
    unsupported(
        "spec.automatedCleaningMode",
        cleaning.is_known(),
        cleaning.as_str(),
        AutomatedCleaningMode::WIRE_VALUES,
        errors,
    );
    if let Some(mode) = &spec.inspection_mode {
        unsupported(
            "spec.inspectionMode",
            mode.is_known(),
            mode.as_str(),
            InspectionMode::WIRE_VALUES,
            errors,
        );
    }
    if let Some(image) = &spec.image {
        validate_image(image, errors);
    }
    if let Some(deploy) = &spec.custom_deploy
        && deploy.method.trim().is_empty()
    {
        errors.push(FieldError::new(
            FieldErrorKind::Required,
            "spec.customDeploy.method",
            &deploy.method,
            "a custom deploy needs a method",
        ));
    }
    if !spec.online && spec.disable_power_off {
        errors.push(FieldError::new(
            FieldErrorKind::Forbidden,
            "spec.disablePowerOff",
            "true",
            "node can't simultaneously have online set to false and have power off disabled",
        ));
    }
    if spec.firmware.is_some() {
        errors.push(FieldError::new(
            FieldErrorKind::Forbidden,
            "spec.firmware",
            "set",
            "the Firmware field is no longer supported; use HostFirmwareSettings",
        ));
    }
    if let Some(hints) = &spec.root_device_hints {
        validate_hints("spec.rootDeviceHints", hints, errors);
    }
    if let Some(raid) = &spec.raid {
        validate_raid(raid, spec.root_device_hints.is_some(), errors);
    }
    let secret_refs = [
        ("spec.userData", &spec.user_data),
        ("spec.networkData", &spec.network_data),
        ("spec.metaData", &spec.meta_data),
    ];
    for (path, reference) in secret_refs {
        let Some(reference) = reference else { continue };
        // A host read from the API always has a namespace; YAML not yet applied may not, and
        // then the reference cannot be judged.
        if let Some(ns) = reference.namespace.as_deref()
            && !ns.is_empty()
            && !namespace.is_empty()
            && ns != namespace
        {
            errors.push(FieldError::new(
                FieldErrorKind::Forbidden,
                format!("{path}.namespace"),
                ns,
                format!("Secret must be in the host's namespace {namespace:?}; cross-namespace references are forbidden"),
            ));
        }
        if reference.name.as_deref().unwrap_or_default().is_empty() {
            errors.push(FieldError::new(
                FieldErrorKind::Required,
                format!("{path}.name"),
                "",
                "a Secret reference needs a name",
            ));
        }
    }
}

/// `spec.bmc`: both the address and the credentials Secret, or neither (an unmanaged host).
fn validate_bmc(spec: &BareMetalHostSpec, errors: &mut Vec<FieldError>) {
    let bmc = &spec.bmc;
    let address = bmc.address.trim();
    let credentials = bmc.credentials_name.trim();
    if !address.is_empty() {
        match BmcAddress::parse(&bmc.address) {
            Ok(parsed) => validate_driver_capabilities(&parsed, spec, errors),
            Err(e) => errors.push(FieldError::new(
                FieldErrorKind::Invalid,
                "spec.bmc.address",
                &bmc.address,
                e.to_string(),
            )),
        }
    }
    if !address.is_empty() && credentials.is_empty() {
        errors.push(FieldError::new(
            FieldErrorKind::Required,
            "spec.bmc.credentialsName",
            &bmc.credentials_name,
            "a BMC address needs a credentials Secret with keys username and password",
        ));
    }
    if address.is_empty() && !credentials.is_empty() {
        errors.push(FieldError::new(
            FieldErrorKind::Required,
            "spec.bmc.address",
            &bmc.address,
            "a credentials Secret is set but the BMC address is empty",
        ));
    }
}

/// The rules that depend on what the BMC's driver can do.
fn validate_driver_capabilities(
    bmc: &BmcAddress,
    spec: &BareMetalHostSpec,
    errors: &mut Vec<FieldError>,
) {
    let driver = bmc.kind.scheme();
    let mac_missing = spec
        .boot_mac_address
        .as_deref()
        .unwrap_or_default()
        .is_empty();
    if bmc.needs_mac() && mac_missing {
        errors.push(FieldError::new(
            FieldErrorKind::Required,
            "spec.bootMACAddress",
            "",
            format!("BMC driver {driver} requires a bootMACAddress value"),
        ));
    }
    let hardware_raid = spec
        .raid
        .as_ref()
        .and_then(|r| r.hardware_raid_volumes.as_ref())
        .is_some_and(|v| !v.is_empty());
    if hardware_raid && !bmc.supports_raid() {
        errors.push(FieldError::new(
            FieldErrorKind::Forbidden,
            "spec.raid.hardwareRAIDVolumes",
            driver,
            format!("RAID settings are defined, but the BMC driver {driver} doesn't support setting RAID"),
        ));
    }
    if spec.boot_mode == Some(BootMode::UefiSecureBoot) && !bmc.supports_secure_boot() {
        errors.push(FieldError::new(
            FieldErrorKind::Forbidden,
            "spec.bootMode",
            BootMode::UefiSecureBoot.as_str(),
            format!("BMC driver {driver} does not support secure boot"),
        ));
    }
    if spec.inspection_mode == Some(InspectionMode::Fast) && !bmc.supports_fast_inspection() {
        errors.push(FieldError::new(
            FieldErrorKind::Forbidden,
            "spec.inspectionMode",
            InspectionMode::Fast.as_str(),
            format!("BMC driver {driver} does not support fast (out-of-band) inspection"),
        ));
    }
}

fn validate_image(image: &Image, errors: &mut Vec<FieldError>) {
    if image.url.trim().is_empty() {
        errors.push(FieldError::new(
            FieldErrorKind::Required,
            "spec.image.url",
            &image.url,
            "an image needs a URL",
        ));
    }
    let checksum_missing = image
        .checksum
        .as_deref()
        .unwrap_or_default()
        .trim()
        .is_empty();
    if checksum_missing && !image.is_checksum_exempt() {
        errors.push(FieldError::new(
            FieldErrorKind::Required,
            "spec.image.checksum",
            image.checksum.as_deref().unwrap_or_default(),
            format!(
                "image {:?} needs a checksum unless its format is live-iso or its URL is oci://",
                image.url
            ),
        ));
    }
    if let Some(kind) = &image.checksum_type {
        unsupported(
            "spec.image.checksumType",
            kind.is_known(),
            kind.as_str(),
            super::baremetalhost::ChecksumType::WIRE_VALUES,
            errors,
        );
    }
    if let Some(format) = &image.format {
        unsupported(
            "spec.image.format",
            format.is_known(),
            format.as_str(),
            super::baremetalhost::ImageFormat::WIRE_VALUES,
            errors,
        );
    }
}

/// The annotations upstream's webhook checks.
fn validate_annotations(
    map: &BTreeMap<String, String>,
    spec: &BareMetalHostSpec,
    errors: &mut Vec<FieldError>,
) {
    let path = |key: &str| format!("metadata.annotations[{key}]");
    for (key, result) in annotations::reboot_annotations(map) {
        if let Err(e) = result {
            errors.push(annotation_error(path(key), &map[key], e));
        }
    }
    if let Some(value) = map.get(annotations::INSPECT)
        && let Err(e) = InspectAnnotation::parse(value)
    {
        errors.push(annotation_error(path(annotations::INSPECT), value, e));
    }
    if let Some(value) = map.get(annotations::DETACHED)
        && let Err(e) = DetachedAnnotation::parse(value)
    {
        errors.push(annotation_error(path(annotations::DETACHED), value, e));
    }
    if let Some(value) = map.get(annotations::STATUS)
        && let Err(e) = annotations::parse_status_annotation(value)
    {
        errors.push(annotation_error(path(annotations::STATUS), value, e));
    }
    if let Some(value) = map.get(annotations::HARDWARE_DETAILS) {
        if let Err(e) = annotations::parse_hardware_details_annotation(value) {
            errors.push(annotation_error(
                path(annotations::HARDWARE_DETAILS),
                value,
                e,
            ));
        } else if !inspection_disabled(map, spec) {
            errors.push(FieldError::new(
                FieldErrorKind::Forbidden,
                path(annotations::HARDWARE_DETAILS),
                shorten(value),
                "hardware details are only accepted when inspection is disabled",
            ));
        }
    }
}

/// True when inspection is off via the spec or the deprecated annotation value.
fn inspection_disabled(map: &BTreeMap<String, String>, spec: &BareMetalHostSpec) -> bool {
    spec.inspection_mode == Some(InspectionMode::Disabled)
        || map.get(annotations::INSPECT).map(String::as_str) == Some(annotations::INSPECT_DISABLED)
}

fn annotation_error(path: String, value: &str, error: annotations::AnnotationError) -> FieldError {
    FieldError::new(
        FieldErrorKind::Invalid,
        path,
        shorten(value),
        error.to_string(),
    )
}

/// Appends a "not supported" error when an enumeration value is unknown.
fn unsupported(
    path: &str,
    known: bool,
    value: &str,
    allowed: &[&str],
    errors: &mut Vec<FieldError>,
) {
    if !known {
        errors.push(FieldError::new(
            FieldErrorKind::NotSupported,
            path,
            value,
            format!("supported values: {}", quoted_list(allowed)),
        ));
    }
}

fn quoted_list(values: &[&str]) -> String {
    values
        .iter()
        .map(|v| format!("{v:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Shortens long values (such as JSON annotations) for error messages.
fn shorten(value: &str) -> String {
    const LIMIT: usize = 120;
    if value.chars().count() <= LIMIT {
        value.to_owned()
    } else {
        format!("{}...", value.chars().take(LIMIT).collect::<String>())
    }
}

/// True for a 6-octet MAC written with `:` or `-` separators, or as three dotted groups.
pub fn is_mac_address(value: &str) -> bool {
    let hex = |s: &str, n: usize| s.len() == n && s.chars().all(|c| c.is_ascii_hexdigit());
    for sep in [':', '-'] {
        let parts: Vec<&str> = value.split(sep).collect();
        if parts.len() == 6 && parts.iter().all(|p| hex(p, 2)) {
            return true;
        }
    }
    let dotted: Vec<&str> = value.split('.').collect();
    dotted.len() == 3 && dotted.iter().all(|p| hex(p, 4))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_addresses_in_the_three_go_spellings_are_accepted() {
        assert!(is_mac_address("00:1a:2B:3c:4d:5e"));
        assert!(is_mac_address("00-1a-2b-3c-4d-5e"));
        assert!(is_mac_address("001a.2b3c.4d5e"));
        assert!(!is_mac_address("00:1a:2b:3c:4d"));
        assert!(!is_mac_address("00:1a:2b:3c:4d:5g"));
        assert!(!is_mac_address(""));
    }

    #[test]
    fn field_error_message_names_path_and_value() {
        let e = FieldError::new(FieldErrorKind::Invalid, "spec.bootMACAddress", "zz", "bad");
        assert_eq!(
            e.to_string(),
            "spec.bootMACAddress: Invalid value: \"zz\": bad"
        );
    }
}
