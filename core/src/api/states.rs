//! The wire strings of the BareMetalHost state enums, exactly as upstream Metal3 writes them.

use serde::{Deserialize, Serialize};
use std::fmt;

/// `status.provisioning.state`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum ProvisioningState {
    /// A freshly created host that has not been looked at yet (the empty string).
    #[default]
    #[serde(rename = "")]
    None,
    /// No BMC details yet: the host is only known, not managed.
    #[serde(rename = "unmanaged")]
    Unmanaged,
    /// Enrolling the node in the provisioner and checking BMC credentials.
    #[serde(rename = "registering")]
    Registering,
    /// Legacy state that passes straight to `preparing`.
    #[serde(rename = "match profile")]
    MatchProfile,
    /// Collecting the hardware inventory.
    #[serde(rename = "inspecting")]
    Inspecting,
    /// Applying RAID, BIOS and firmware settings (manual cleaning).
    #[serde(rename = "preparing")]
    Preparing,
    /// Deprecated alias of `available`, still accepted and handled the same way.
    #[serde(rename = "ready")]
    Ready,
    /// Ready to be provisioned.
    #[serde(rename = "available")]
    Available,
    /// Writing the image to the host.
    #[serde(rename = "provisioning")]
    Provisioning,
    /// Running the provisioned image.
    #[serde(rename = "provisioned")]
    Provisioned,
    /// Deployed by something else; only power is managed.
    #[serde(rename = "externally provisioned")]
    ExternallyProvisioned,
    /// Removing the image and cleaning the disks.
    #[serde(rename = "deprovisioning")]
    Deprovisioning,
    /// Powering the host off before deleting it.
    #[serde(rename = "powering off before delete")]
    PoweringOffBeforeDelete,
    /// Removing the node from the provisioner before the object goes away.
    #[serde(rename = "deleting")]
    Deleting,
}

impl ProvisioningState {
    /// Every state, in the order of the upstream lifecycle.
    pub const ALL: [ProvisioningState; 14] = [
        Self::None,
        Self::Unmanaged,
        Self::Registering,
        Self::MatchProfile,
        Self::Inspecting,
        Self::Preparing,
        Self::Ready,
        Self::Available,
        Self::Provisioning,
        Self::Provisioned,
        Self::ExternallyProvisioned,
        Self::Deprovisioning,
        Self::PoweringOffBeforeDelete,
        Self::Deleting,
    ];

    /// The exact wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "",
            Self::Unmanaged => "unmanaged",
            Self::Registering => "registering",
            Self::MatchProfile => "match profile",
            Self::Inspecting => "inspecting",
            Self::Preparing => "preparing",
            Self::Ready => "ready",
            Self::Available => "available",
            Self::Provisioning => "provisioning",
            Self::Provisioned => "provisioned",
            Self::ExternallyProvisioned => "externally provisioned",
            Self::Deprovisioning => "deprovisioning",
            Self::PoweringOffBeforeDelete => "powering off before delete",
            Self::Deleting => "deleting",
        }
    }

    /// Parses a wire string; `None` for anything upstream does not write.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

impl fmt::Display for ProvisioningState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `status.operationalStatus`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum OperationalStatus {
    #[default]
    /// Not yet determined (the empty string).
    #[serde(rename = "")]
    Unknown,
    /// Healthy.
    #[serde(rename = "OK")]
    Ok,
    /// Known but lacking BMC details.
    #[serde(rename = "discovered")]
    Discovered,
    /// The last action failed; see errorType and errorMessage.
    #[serde(rename = "error")]
    Error,
    /// Waiting for provisioning capacity.
    #[serde(rename = "delayed")]
    Delayed,
    /// Removed from the provisioner on purpose (detached annotation).
    #[serde(rename = "detached")]
    Detached,
    /// Applying updates to a provisioned host.
    #[serde(rename = "servicing")]
    Servicing,
}

impl OperationalStatus {
    /// Every status, in upstream's enum order.
    pub const ALL: [OperationalStatus; 7] = [
        Self::Unknown,
        Self::Ok,
        Self::Discovered,
        Self::Error,
        Self::Delayed,
        Self::Detached,
        Self::Servicing,
    ];

    /// The exact wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "",
            Self::Ok => "OK",
            Self::Discovered => "discovered",
            Self::Error => "error",
            Self::Delayed => "delayed",
            Self::Detached => "detached",
            Self::Servicing => "servicing",
        }
    }
}

impl fmt::Display for OperationalStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `status.errorType`: the class of the current error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ErrorType {
    /// Registration failed for a host that is already provisioned.
    #[serde(rename = "provisioned registration error")]
    ProvisionedRegistration,
    /// Enrollment or BMC credential check failed.
    #[serde(rename = "registration error")]
    Registration,
    /// Hardware inspection failed.
    #[serde(rename = "inspection error")]
    Inspection,
    /// Applying RAID/BIOS/firmware settings failed.
    #[serde(rename = "preparation error")]
    Preparation,
    /// Deploying or removing the image failed.
    #[serde(rename = "provisioning error")]
    Provisioning,
    /// Changing the power state failed.
    #[serde(rename = "power management error")]
    PowerManagement,
    /// Servicing a provisioned host failed.
    #[serde(rename = "servicing error")]
    Servicing,
    /// Exists upstream in Go but not in the CRD enum; we add it to ours so it can be stored.
    #[serde(rename = "detach error")]
    Detach,
}

impl ErrorType {
    /// Every error type, in upstream's order, plus `detach error`.
    pub const ALL: [ErrorType; 8] = [
        Self::ProvisionedRegistration,
        Self::Registration,
        Self::Inspection,
        Self::Preparation,
        Self::Provisioning,
        Self::PowerManagement,
        Self::Servicing,
        Self::Detach,
    ];

    /// The exact wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ProvisionedRegistration => "provisioned registration error",
            Self::Registration => "registration error",
            Self::Inspection => "inspection error",
            Self::Preparation => "preparation error",
            Self::Provisioning => "provisioning error",
            Self::PowerManagement => "power management error",
            Self::Servicing => "servicing error",
            Self::Detach => "detach error",
        }
    }

    /// The Kubernetes Event reason upstream emits for this error class.
    pub fn event_reason(self) -> &'static str {
        match self {
            Self::ProvisionedRegistration => "ProvisionedRegistrationError",
            Self::Registration => "RegistrationError",
            Self::Inspection => "InspectionError",
            Self::Preparation => "PreparationError",
            Self::Provisioning => "ProvisioningError",
            Self::PowerManagement => "PowerManagementError",
            Self::Servicing => "ServicingError",
            Self::Detach => "DetachError",
        }
    }
}

impl fmt::Display for ErrorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The schema of a state enum: a string, optionally restricted to its wire values.
fn string_schema(values: Option<Vec<&'static str>>) -> schemars::Schema {
    match values {
        Some(values) => schemars::json_schema!({ "type": "string", "enum": values }),
        None => schemars::json_schema!({ "type": "string" }),
    }
}

/// Upstream leaves `status.provisioning.state` an open string, so the schema does too.
impl schemars::JsonSchema for ProvisioningState {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ProvisioningState".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        string_schema(None)
    }
}

impl schemars::JsonSchema for OperationalStatus {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "OperationalStatus".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        string_schema(Some(Self::ALL.iter().map(|s| s.as_str()).collect()))
    }
}

/// Includes `detach error`, which upstream writes from Go but left out of its CRD enum.
impl schemars::JsonSchema for ErrorType {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ErrorType".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        string_schema(Some(Self::ALL.iter().map(|e| e.as_str()).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provisioning_states_serialise_to_upstream_strings_with_spaces() {
        for st in ProvisioningState::ALL {
            let json = serde_json::to_string(&st).unwrap();
            assert_eq!(json, format!("\"{}\"", st.as_str()));
            assert_eq!(ProvisioningState::parse(st.as_str()), Some(st));
        }
        assert_eq!(
            serde_json::to_string(&ProvisioningState::PoweringOffBeforeDelete).unwrap(),
            "\"powering off before delete\""
        );
    }

    #[test]
    fn error_types_and_operational_status_round_trip() {
        for e in ErrorType::ALL {
            let back: ErrorType =
                serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
            assert_eq!(back, e);
        }
        for o in OperationalStatus::ALL {
            let back: OperationalStatus =
                serde_json::from_str(&format!("\"{}\"", o.as_str())).unwrap();
            assert_eq!(back, o);
        }
    }
}
