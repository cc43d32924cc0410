//! Annotation keys, labels and finalizers upstream Metal3 honours, with typed parsers for values.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::baremetalhost::BareMetalHostStatus;
use super::hardwaredata::HardwareDetails;

/// Any value pauses reconciliation of the host.
pub const PAUSED: &str = "baremetalhost.metal3.io/paused";
/// The value CAPM3 writes into [`PAUSED`] (and is the only value it removes).
pub const PAUSED_BY_CAPM3: &str = "metal3.io/capm3";
/// Removes the node from the provisioner without deprovisioning; value `""` or [`DetachedAnnotation`] JSON.
pub const DETACHED: &str = "baremetalhost.metal3.io/detached";
/// JSON of `.status`, restored into an empty status (after a move/pivot) and then removed.
pub const STATUS: &str = "baremetalhost.metal3.io/status";
/// One-shot reboot request; value `""` or [`RebootAnnotation`] JSON.
pub const REBOOT: &str = "reboot.metal3.io";
/// Prefix of phased reboot keys `reboot.metal3.io/{key}`: the host stays off until all are gone.
pub const REBOOT_PREFIX: &str = "reboot.metal3.io/";
/// `""` requests re-inspection (honoured in `available`); `disabled` is the deprecated way to disable inspection.
pub const INSPECT: &str = "inspect.metal3.io";
/// The [`INSPECT`] value that (deprecatedly) disables inspection.
pub const INSPECT_DISABLED: &str = "disabled";
/// JSON HardwareDetails consumed into `status.hardware` when inspection is disabled.
pub const HARDWARE_DETAILS: &str = "inspect.metal3.io/hardwaredetails";

/// Label key put on BMC Secrets (and watched by the controller).
pub const ENVIRONMENT_LABEL: &str = "environment.metal3.io";
/// Value of [`ENVIRONMENT_LABEL`].
pub const ENVIRONMENT_LABEL_VALUE: &str = "baremetal";

/// Finalizer on every BareMetalHost, removed at the end of `deleting`.
pub const HOST_FINALIZER: &str = "baremetalhost.metal3.io";
/// Finalizer on BMC (and other referenced) Secrets while a host uses them.
pub const SECRET_FINALIZER: &str = "baremetalhost.metal3.io/secret";
/// Finalizer on HardwareData owned by a host.
pub const HARDWARE_DATA_FINALIZER: &str = "baremetalhost.metal3.io/hardwareData";
/// Finalizer on PreprovisioningImage objects.
pub const PREPROVISIONING_IMAGE_FINALIZER: &str = "baremetalhost.metal3.io/preprovisioningImage";
/// Finalizer on HostClaims.
pub const HOSTCLAIM_FINALIZER: &str = "metal3.io/hostclaim";

/// Longest excerpt of an annotation value quoted in an error message.
const QUOTED_VALUE_LIMIT: usize = 120;

/// A malformed annotation value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnnotationError {
    /// The value is not the JSON the annotation expects.
    #[error("annotation {key}: invalid JSON value {value:?}: {reason}")]
    InvalidJson {
        /// Annotation key.
        key: String,
        /// The value (shortened when long).
        value: String,
        /// What the JSON parser reported.
        reason: String,
    },
    /// The value parsed but is not one of the accepted ones.
    #[error("annotation {key}: invalid value {value:?}, expected {expected}")]
    InvalidValue {
        /// Annotation key.
        key: String,
        /// The offending value (shortened when long).
        value: String,
        /// What is accepted.
        expected: &'static str,
    },
}

impl AnnotationError {
    /// The annotation key the error is about.
    pub fn key(&self) -> &str {
        match self {
            Self::InvalidJson { key, .. } | Self::InvalidValue { key, .. } => key,
        }
    }
}

/// Shortens a value for quoting in an error message.
fn quoted(value: &str) -> String {
    if value.chars().count() <= QUOTED_VALUE_LIMIT {
        value.to_owned()
    } else {
        let head: String = value.chars().take(QUOTED_VALUE_LIMIT).collect();
        format!("{head}...")
    }
}

/// Parses a JSON annotation value, naming the key and value on failure.
fn parse_json<T: for<'de> Deserialize<'de>>(key: &str, value: &str) -> Result<T, AnnotationError> {
    serde_json::from_str(value).map_err(|e| AnnotationError::InvalidJson {
        key: key.to_owned(),
        value: quoted(value),
        reason: e.to_string(),
    })
}

/// Reboot strength requested by a reboot annotation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RebootMode {
    /// ACPI soft power-off first, falling back to hard if it fails (the default).
    #[default]
    Soft,
    /// Immediate hard power-off.
    Hard,
}

/// A parsed `reboot.metal3.io` or `reboot.metal3.io/{key}` value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RebootAnnotation {
    /// Soft or hard.
    pub mode: RebootMode,
    /// Reboot even when the host is not in a state that normally allows it.
    pub force: bool,
}

/// Wire shape of the reboot annotation JSON (unknown keys are ignored, as Go's decoder does).
#[derive(Deserialize)]
struct RebootWire {
    #[serde(default)]
    mode: String,
    #[serde(default)]
    force: bool,
}

impl RebootAnnotation {
    /// Parses the value stored under `key` (`""` means a soft reboot).
    pub fn parse(key: &str, value: &str) -> Result<Self, AnnotationError> {
        if value.trim().is_empty() {
            return Ok(Self::default());
        }
        let wire: RebootWire = parse_json(key, value)?;
        let mode = match wire.mode.as_str() {
            "" | "soft" => RebootMode::Soft,
            "hard" => RebootMode::Hard,
            other => {
                return Err(AnnotationError::InvalidValue {
                    key: key.to_owned(),
                    value: quoted(other),
                    expected: "mode \"hard\", \"soft\" or \"\"",
                });
            }
        };
        Ok(Self {
            mode,
            force: wire.force,
        })
    }
}

/// True for `reboot.metal3.io` and every `reboot.metal3.io/{key}`.
pub fn is_reboot_key(key: &str) -> bool {
    key == REBOOT || (key.starts_with(REBOOT_PREFIX) && key.len() > REBOOT_PREFIX.len())
}

/// Every reboot annotation on an object, parsed, in key order.
pub fn reboot_annotations(
    annotations: &BTreeMap<String, String>,
) -> Vec<(&str, Result<RebootAnnotation, AnnotationError>)> {
    annotations
        .iter()
        .filter(|(k, _)| is_reboot_key(k))
        .map(|(k, v)| (k.as_str(), RebootAnnotation::parse(k, v)))
        .collect()
}

/// What happens to a detached host when it is deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum DeleteAction {
    /// Go straight to `deleting`, skipping power-off and deprovisioning (the default).
    #[default]
    Delete,
    /// Block deletion while the host stays detached.
    Delay,
}

/// A parsed `baremetalhost.metal3.io/detached` value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DetachedAnnotation {
    /// Behaviour on deletion.
    pub delete_action: DeleteAction,
    /// Detach even from states that normally do not allow it.
    pub force: bool,
}

/// Wire shape of the detached annotation JSON (unknown keys are ignored, as Go's decoder does).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DetachedWire {
    #[serde(default)]
    delete_action: String,
    #[serde(default)]
    force: bool,
}

impl DetachedAnnotation {
    /// Parses the [`DETACHED`] value (`""` means the defaults).
    pub fn parse(value: &str) -> Result<Self, AnnotationError> {
        if value.trim().is_empty() {
            return Ok(Self::default());
        }
        let wire: DetachedWire = parse_json(DETACHED, value)?;
        let delete_action = match wire.delete_action.as_str() {
            "" | "delete" => DeleteAction::Delete,
            "delay" => DeleteAction::Delay,
            other => {
                return Err(AnnotationError::InvalidValue {
                    key: DETACHED.to_owned(),
                    value: quoted(other),
                    expected: "deleteAction \"delay\", \"delete\" or \"\"",
                });
            }
        };
        Ok(Self {
            delete_action,
            force: wire.force,
        })
    }
}

/// A parsed `inspect.metal3.io` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InspectAnnotation {
    /// `""`: inspect again (honoured in `available`).
    Request,
    /// `disabled`: deprecated way of disabling inspection.
    Disabled,
}

impl InspectAnnotation {
    /// Parses the [`INSPECT`] value.
    pub fn parse(value: &str) -> Result<Self, AnnotationError> {
        match value {
            "" => Ok(Self::Request),
            INSPECT_DISABLED => Ok(Self::Disabled),
            other => Err(AnnotationError::InvalidValue {
                key: INSPECT.to_owned(),
                value: quoted(other),
                expected: "\"\" or \"disabled\"",
            }),
        }
    }
}

/// Parses the [`STATUS`] annotation into a status; enum values must be upstream's.
pub fn parse_status_annotation(value: &str) -> Result<BareMetalHostStatus, AnnotationError> {
    parse_json(STATUS, value)
}

/// Parses the [`HARDWARE_DETAILS`] annotation.
pub fn parse_hardware_details_annotation(value: &str) -> Result<HardwareDetails, AnnotationError> {
    parse_json(HARDWARE_DETAILS, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_reboot_value_means_soft_without_force() {
        let r = RebootAnnotation::parse(REBOOT, "").unwrap();
        assert_eq!(r.mode, RebootMode::Soft);
        assert!(!r.force);
    }

    #[test]
    fn hard_forced_reboot_json_parses() {
        let r = RebootAnnotation::parse("reboot.metal3.io/a", r#"{"mode":"hard","force":true}"#)
            .unwrap();
        assert_eq!(
            r,
            RebootAnnotation {
                mode: RebootMode::Hard,
                force: true
            }
        );
    }

    #[test]
    fn unknown_reboot_mode_names_key_and_value() {
        let err = RebootAnnotation::parse(REBOOT, r#"{"mode":"gentle"}"#).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("reboot.metal3.io") && msg.contains("gentle"),
            "{msg}"
        );
    }

    #[test]
    fn broken_detached_json_names_key_and_value() {
        let err = DetachedAnnotation::parse("{delay").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(DETACHED) && msg.contains("{delay"), "{msg}");
    }

    #[test]
    fn unknown_json_keys_are_ignored_as_upstream_does() {
        let r = RebootAnnotation::parse(REBOOT, r#"{"mode":"hard","reason":"bios"}"#).unwrap();
        assert_eq!(r.mode, RebootMode::Hard);
        let d = DetachedAnnotation::parse(r#"{"force":true,"note":"x"}"#).unwrap();
        assert!(d.force);
    }

    #[test]
    fn detached_delay_parses() {
        let d = DetachedAnnotation::parse(r#"{"deleteAction":"delay"}"#).unwrap();
        assert_eq!(d.delete_action, DeleteAction::Delay);
    }

    #[test]
    fn reboot_keys_include_phased_suffixes_only() {
        assert!(is_reboot_key("reboot.metal3.io"));
        assert!(is_reboot_key("reboot.metal3.io/remediation"));
        assert!(!is_reboot_key("reboot.metal3.io/"));
        assert!(!is_reboot_key("reboot.metal3.iox"));
    }

    #[test]
    fn inspect_value_other_than_empty_or_disabled_is_refused() {
        assert_eq!(
            InspectAnnotation::parse("").unwrap(),
            InspectAnnotation::Request
        );
        let err = InspectAnnotation::parse("now").unwrap_err();
        assert!(err.to_string().contains("inspect.metal3.io"));
    }

    #[test]
    fn long_values_are_shortened_in_errors() {
        let long = "x".repeat(1000);
        let msg = parse_hardware_details_annotation(&long)
            .unwrap_err()
            .to_string();
        assert!(msg.len() < 400, "{msg}");
    }
}
