//! `BareMetalHost`: every spec and status field of upstream Metal3 v0.13.2, plus
//! `status.provisioningFailCount` and `status.lastAttemptedImage`.

use k8s_openapi::api::core::v1::{ObjectReference, SecretReference, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::enumeration::string_enum;
use super::hardwaredata::{HardwareDetails, SharedHardware};
use super::states::{ErrorType, OperationalStatus, ProvisioningState};
use super::wire::{is_false, is_zero_i64, null_as_default};

/// The MAC address pattern upstream puts on `bootMACAddress` and NIC `mac` fields.
pub const MAC_ADDRESS_PATTERN: &str = "[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}";

/// The desired state of a bare-metal host (`spec`).
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "metal3.io",
    version = "v1alpha1",
    kind = "BareMetalHost",
    plural = "baremetalhosts",
    singular = "baremetalhost",
    namespaced,
    status = "BareMetalHostStatus",
    shortname = "bmh",
    shortname = "bmhost",
    doc = "BareMetalHost is the Schema for the baremetalhosts API.",
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.operationalStatus","description":"Operational status","priority":1}"#,
    printcolumn = r#"{"name":"State","type":"string","jsonPath":".status.provisioning.state","description":"Provisioning status"}"#,
    printcolumn = r#"{"name":"Consumer","type":"string","jsonPath":".spec.consumerRef.name","description":"Consumer using this host"}"#,
    printcolumn = r#"{"name":"BMC","type":"string","jsonPath":".spec.bmc.address","description":"Address of management controller","priority":1}"#,
    printcolumn = r#"{"name":"Online","type":"string","jsonPath":".spec.online","description":"Whether the host is online or not"}"#,
    printcolumn = r#"{"name":"Error","type":"string","jsonPath":".status.errorType","description":"Type of the most recent error"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp","description":"Time duration since creation of BaremetalHost"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct BareMetalHostSpec {
    /// Deprecated and never implemented upstream; kept so such objects still parse.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub taints: Vec<Taint>,
    /// How to reach the BMC. Absent on hosts that are only discovered (state `unmanaged`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub bmc: BmcDetails,
    /// RAID layout applied in `preparing`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raid: Option<RaidConfig>,
    /// Deprecated BIOS settings (rejected by validation, as upstream's webhook does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware: Option<FirmwareConfig>,
    /// Deprecated hardware profile name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware_profile: Option<String>,
    /// Which disk receives the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_device_hints: Option<RootDeviceHints>,
    /// Firmware boot mode; UEFI when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_mode: Option<BootMode>,
    /// MAC of the provisioning NIC.
    #[serde(
        default,
        rename = "bootMACAddress",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(regex(pattern = MAC_ADDRESS_PATTERN))]
    pub boot_mac_address: Option<String>,
    /// Desired power state. Upstream requires it; we default it to `false` so YAML that omits it
    /// (as in the bulk-registration examples users copy) is accepted.
    #[serde(default, deserialize_with = "null_as_default")]
    pub online: bool,
    /// Who uses the host (a Metal3Machine, a HostClaim, ...). Set means "in use".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-map-type" = "atomic"))]
    pub consumer_ref: Option<ObjectReference>,
    /// The image to provision; setting it starts provisioning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Image>,
    /// Secret holding cloud-init/ignition user data for the config drive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-map-type" = "atomic"))]
    pub user_data: Option<SecretReference>,
    /// Secret (same namespace) holding network data for the preprovisioning image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preprovisioning_network_data_name: Option<String>,
    /// Secret holding `network_data.json` for the config drive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-map-type" = "atomic"))]
    pub network_data: Option<SecretReference>,
    /// Secret holding extra metadata for the config drive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-map-type" = "atomic"))]
    pub meta_data: Option<SecretReference>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Something else deployed the host; only power is managed.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_false"
    )]
    pub externally_provisioned: bool,
    /// Whether Ironic automated cleaning runs on (de)provisioning.
    #[serde(default, deserialize_with = "null_as_default")]
    pub automated_cleaning_mode: AutomatedCleaningMode,
    /// A ramdisk-specific custom deploy step; setting it starts provisioning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_deploy: Option<CustomDeploy>,
    /// CPU architecture (`x86_64`, `aarch64`); filled by inspection when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    /// Never power the host off; reboot instead.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_false"
    )]
    pub disable_power_off: bool,
    /// How the host is inspected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inspection_mode: Option<InspectionMode>,
}

/// How to reach and authenticate to the BMC (`spec.bmc`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BmcDetails {
    /// BMC URL; the scheme selects the Ironic driver.
    pub address: String,
    /// Secret (same namespace) with keys `username` and `password`.
    pub credentials_name: String,
    /// Skip TLS certificate verification towards the BMC.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_false"
    )]
    pub disable_certificate_verification: bool,
}

/// The image to write to the host (`spec.image`, `status.provisioning.image`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    /// Where to fetch the image (http(s):// or oci://).
    pub url: String,
    /// The checksum itself or a URL to a checksum file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
    /// Checksum algorithm; `auto` detects it from the checksum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_type: Option<ChecksumType>,
    /// Disk image format; `live-iso` boots the ISO without writing to disk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<ImageFormat>,
    /// Docker-config Secret (same namespace) with registry credentials for oci:// images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oci_auth_secret_name: Option<String>,
}

impl Image {
    /// True for images that need no checksum: `live-iso` and `oci://` URLs.
    pub fn is_checksum_exempt(&self) -> bool {
        self.format == Some(ImageFormat::LiveIso) || self.url.starts_with("oci://")
    }
}

/// A custom deploy step (`spec.customDeploy`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CustomDeploy {
    /// The ramdisk-specific deploy method name.
    pub method: String,
}

/// Hints for choosing the root disk (`spec.rootDeviceHints`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RootDeviceHints {
    /// `/dev/vda` or a `/dev/disk/by-path/...` link; exact match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
    /// SCSI address such as `0:0:0:0`; exact match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hctl: Option<String>,
    /// Vendor-specific model; substring match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Vendor name; substring match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    /// Device serial number; exact match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    /// Smallest acceptable size in GB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub min_size_gigabytes: Option<i64>,
    /// World wide name; exact match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wwn: Option<String>,
    /// WWN with the vendor extension appended; exact match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wwn_with_extension: Option<String>,
    /// Vendor WWN extension; exact match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wwn_vendor_extension: Option<String>,
    /// True for rotational media (HDD), false otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotational: Option<bool>,
}

impl RootDeviceHints {
    /// The hints in Ironic's syntax (`instance_info.root_device`, and the member disks of a
    /// software RAID volume), as upstream writes them: exact matches as `s== value`, substring
    /// matches as `<in> value`, the size as `>= N`, a `/dev/disk/by-path/` name as `by_path`.
    pub fn to_ironic(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut hints = serde_json::Map::new();
        let mut put = |k: &str, v: String| {
            hints.insert(k.to_owned(), serde_json::Value::String(v));
        };
        let given = |v: &Option<String>| v.as_deref().filter(|v| !v.is_empty()).map(str::to_owned);
        if let Some(name) = given(&self.device_name) {
            let key = if name.starts_with("/dev/disk/by-path/") {
                "by_path"
            } else {
                "name"
            };
            put(key, format!("s== {name}"));
        }
        let exact = [
            ("hctl", &self.hctl),
            ("serial", &self.serial_number),
            ("wwn", &self.wwn),
            ("wwn_with_extension", &self.wwn_with_extension),
            ("wwn_vendor_extension", &self.wwn_vendor_extension),
        ];
        for (key, value) in exact {
            if let Some(v) = given(value) {
                put(key, format!("s== {v}"));
            }
        }
        for (key, value) in [("model", &self.model), ("vendor", &self.vendor)] {
            if let Some(v) = given(value) {
                put(key, format!("<in> {v}"));
            }
        }
        if let Some(n) = self.min_size_gigabytes.filter(|n| *n != 0) {
            put("size", format!(">= {n}"));
        }
        if let Some(r) = self.rotational {
            put("rotational", r.to_string());
        }
        hints
    }
}

/// RAID layout (`spec.raid`): hardware or software volumes, never both.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RaidConfig {
    /// Hardware RAID volumes; an empty list clears existing RAID.
    #[serde(
        default,
        rename = "hardwareRAIDVolumes",
        skip_serializing_if = "Option::is_none"
    )]
    pub hardware_raid_volumes: Option<Vec<HardwareRaidVolume>>,
    /// Software RAID volumes (at most two; the first must be RAID-1).
    #[serde(
        default,
        rename = "softwareRAIDVolumes",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(length(max = 2))]
    pub software_raid_volumes: Option<Vec<SoftwareRaidVolume>>,
}

/// One hardware RAID logical disk.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HardwareRaidVolume {
    /// Size in GiB; 0 or unset uses the whole capacity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub size_gibibytes: Option<i64>,
    /// RAID level.
    pub level: HardwareRaidLevel,
    /// Volume name (at most 64 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub name: Option<String>,
    /// Prefer rotational (true) or solid-state (false) disks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotational: Option<bool>,
    /// How many physical disks to use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub number_of_physical_disks: Option<i64>,
    /// Name of the RAID controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<String>,
    /// Controller-specific names of the physical disks to use.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub physical_disks: Vec<String>,
}

/// One software (Linux md) RAID device.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SoftwareRaidVolume {
    /// Size in GiB; 0 or unset uses the whole capacity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub size_gibibytes: Option<i64>,
    /// RAID level.
    pub level: SoftwareRaidLevel,
    /// Disks that form the device (at least two), chosen by root-device hints.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(length(min = 2))]
    pub physical_disks: Vec<RootDeviceHints>,
    /// Install onto this volume (newer upstream releases; at most one volume, RAID-1 only).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_false"
    )]
    pub root_volume: bool,
}

/// Deprecated BIOS settings (`spec.firmware`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FirmwareConfig {
    /// Intel VT / AMD-V.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtualization_enabled: Option<bool>,
    /// Hyper-threading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simultaneous_multithreading_enabled: Option<bool>,
    /// SR-IOV.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sriov_enabled: Option<bool>,
}

string_enum! {
    /// `spec.bootMode`.
    pub enum BootMode {
        /// Plain UEFI (the default).
        Uefi => "UEFI",
        /// UEFI with secure boot switched on after provisioning.
        UefiSecureBoot => "UEFISecureBoot",
        /// Legacy BIOS boot.
        Legacy => "legacy",
    }
}

string_enum! {
    /// `spec.automatedCleaningMode`.
    #[derive(Default)]
    pub enum AutomatedCleaningMode {
        /// Clean disk metadata on (de)provisioning (the default).
        #[default]
        Metadata => "metadata",
        /// Skip automated cleaning.
        Disabled => "disabled",
    }
}

string_enum! {
    /// `spec.inspectionMode`; `fast` (out-of-band) is accepted as newer upstream releases do.
    pub enum InspectionMode {
        /// No inspection.
        Disabled => "disabled",
        /// In-band inspection by the IPA ramdisk.
        Agent => "agent",
        /// Out-of-band inspection through the BMC.
        Fast => "fast",
    }
}

string_enum! {
    /// `spec.image.checksumType`.
    pub enum ChecksumType {
        /// MD5 (upstream's default when unset).
        Md5 => "md5",
        /// SHA-256.
        Sha256 => "sha256",
        /// SHA-512.
        Sha512 => "sha512",
        /// Detect the algorithm from the checksum length.
        Auto => "auto",
    }
}

string_enum! {
    /// `spec.image.format`.
    pub enum ImageFormat {
        /// Raw disk image.
        Raw => "raw",
        /// QEMU copy-on-write image.
        Qcow2 => "qcow2",
        /// VirtualBox disk image.
        Vdi => "vdi",
        /// VMware disk image.
        Vmdk => "vmdk",
        /// ISO booted live, not written to disk.
        LiveIso => "live-iso",
    }
}

string_enum! {
    /// Hardware RAID level.
    #[derive(Default)]
    pub enum HardwareRaidLevel {
        /// Striping.
        Raid0 => "0",
        /// Mirroring.
        #[default]
        Raid1 => "1",
        /// Bit-level striping with parity.
        Raid2 => "2",
        /// Striping with distributed parity.
        Raid5 => "5",
        /// Striping with double parity.
        Raid6 => "6",
        /// Striped mirrors.
        Raid10 => "1+0",
        /// Striped RAID-5 sets.
        Raid50 => "5+0",
        /// Striped RAID-6 sets.
        Raid60 => "6+0",
    }
}

string_enum! {
    /// Software RAID level.
    #[derive(Default)]
    pub enum SoftwareRaidLevel {
        /// Striping.
        Raid0 => "0",
        /// Mirroring.
        #[default]
        Raid1 => "1",
        /// Striped mirrors.
        Raid10 => "1+0",
    }
}

/// The observed state of a bare-metal host (`status`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BareMetalHostStatus {
    /// Overall health.
    #[serde(default, deserialize_with = "null_as_default")]
    pub operational_status: OperationalStatus,
    /// Class of the current error, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<ErrorType>,
    /// When the status was last saved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<Time>,
    /// Deprecated hardware profile name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware_profile: Option<String>,
    /// Inspection result (deprecated in favour of HardwareData).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<HardwareDetails>")]
    pub hardware: Option<SharedHardware>,
    /// Provisioning progress.
    #[serde(default, deserialize_with = "null_as_default")]
    pub provisioning: ProvisionStatus,
    /// The last BMC credentials that worked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub good_credentials: Option<CredentialsStatus>,
    /// The last BMC credentials sent to the provisioner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tried_credentials: Option<CredentialsStatus>,
    /// Text of the last error ("" when healthy).
    #[serde(default, deserialize_with = "null_as_default")]
    pub error_message: String,
    /// Observed power state.
    #[serde(default, deserialize_with = "null_as_default")]
    pub powered_on: bool,
    /// Start and end times of each lifecycle phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_history: Option<OperationHistory>,
    /// Errors since the last successful operation; drives the backoff.
    #[serde(default, deserialize_with = "null_as_default")]
    pub error_count: i64,
    /// Consecutive provisioning failures for the current image.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_zero_i64"
    )]
    pub provisioning_fail_count: i64,
    /// The image of the last provisioning attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempted_image: Option<Image>,
    /// Standard conditions, one per type.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(length(max = 32))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// `status.provisioning`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProvisionStatus {
    /// Provisioning state (wire strings with spaces).
    #[serde(default, deserialize_with = "null_as_default")]
    pub state: ProvisioningState,
    /// Ironic node UUID (json key is the capitalised `ID`).
    #[serde(default, deserialize_with = "null_as_default", rename = "ID")]
    pub id: String,
    /// The image last provisioned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Image>,
    /// Root-device hints last applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_device_hints: Option<RootDeviceHints>,
    /// Boot mode last applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_mode: Option<BootMode>,
    /// RAID layout last applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raid: Option<RaidConfig>,
    /// Deprecated BIOS settings last applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware: Option<FirmwareConfig>,
    /// Custom deploy step last applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_deploy: Option<CustomDeploy>,
}

/// A reference to a BMC Secret and the resourceVersion that was used.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialsStatus {
    /// The Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-map-type" = "atomic"))]
    pub credentials: Option<SecretReference>,
    /// Its resourceVersion at the time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_version: Option<String>,
}

/// `status.operationHistory`: one entry per lifecycle phase.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OperationHistory {
    /// Registration with the provisioner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub register: Option<OperationMetric>,
    /// Hardware inspection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inspect: Option<OperationMetric>,
    /// Image deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provision: Option<OperationMetric>,
    /// Undeployment and cleaning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprovision: Option<OperationMetric>,
}

/// Start and end of one phase.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OperationMetric {
    /// When the phase started.
    #[serde(default)]
    pub start: Option<Time>,
    /// When the phase ended.
    #[serde(default)]
    pub end: Option<Time>,
}
