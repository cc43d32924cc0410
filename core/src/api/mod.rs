//! `metal3.io/v1alpha1` API types.
#![warn(missing_docs)]

pub mod annotations;
pub mod baremetalhost;
pub mod crd;
mod enumeration;
pub mod firmware;
pub mod hardwaredata;
pub mod hostclaim;
pub mod hostpool;
pub mod states;
pub mod validation;
mod wire;

pub use baremetalhost::{
    AutomatedCleaningMode, BareMetalHost, BareMetalHostSpec, BareMetalHostStatus, BmcDetails,
    BootMode, ChecksumType, CredentialsStatus, CustomDeploy, FirmwareConfig, HardwareRaidLevel,
    HardwareRaidVolume, Image, ImageFormat, InspectionMode, OperationHistory, OperationMetric,
    ProvisionStatus, RaidConfig, RootDeviceHints, SoftwareRaidLevel, SoftwareRaidVolume,
};
pub use crd::{crds, crds_yaml, pool_crds, pool_crds_yaml};
pub use firmware::{
    AttributeType, FirmwareSchema, FirmwareSchemaSpec, HostFirmwareSettings,
    HostFirmwareSettingsSpec, HostFirmwareSettingsStatus, SchemaReference, SettingSchema,
};
pub use hardwaredata::{
    HardwareData, HardwareDataSpec, HardwareDetails, PciDevice, SharedHardware,
};
pub use hostclaim::{HostClaim, HostClaimSpec, HostClaimStatus};
pub use hostpool::{HostPool, HostPoolSpec, HostPoolStatus};
pub use states::{ErrorType, OperationalStatus, ProvisioningState};
pub use validation::{FieldError, FieldErrorKind, validate_host, validate_host_update};
