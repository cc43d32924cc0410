//! The provisioner contract between the pure state machine and the thing that drives hardware.
//!
//! The state machine never calls a provisioner. The controller first asks the provisioner to
//! `observe` the host's node (one GET), hands that [`Observation`] to the pure state machine,
//! and then carries out the single [`Action`] the decision names with [`Provisioner::act`].
//! The Ironic implementation lives in [`ironic`]; tests use in-memory doubles of the trait.

pub mod ironic;

use std::fmt;

use serde::{Deserialize, Serialize};

/// BMC credentials read from the host's Secret. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Which host a provisioner call is about: the node is named `namespace~name` as upstream does.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HostRef {
    pub namespace: String,
    pub name: String,
    /// `status.provisioning.ID` once known (the Ironic node UUID).
    pub node_id: Option<String>,
    /// `spec.bootMACAddress`, used to find a node registered under another name.
    pub boot_mac: Option<String>,
    /// The BareMetalHost's `metadata.uid`: the config drive's `uuid`, which cloud-init templates
    /// (CAPM3's `metal3.io/uuid` node label) read.
    pub uid: Option<String>,
}

impl HostRef {
    /// The Ironic node name upstream uses: `namespace~name`.
    pub fn node_name(&self) -> String {
        format!("{}~{}", self.namespace, self.name)
    }
}

/// What the provisioner currently knows about a host's node: the state machine's only window
/// onto Ironic.
// The node view is read once per reconcile and moved, never stored in bulk: boxing buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Observation {
    /// No node exists for this host (neither by ID, name nor boot MAC).
    NotRegistered,
    /// The node as Ironic reports it.
    Node(NodeView),
    /// The provisioner could not be reached; the text says why (transient).
    Unavailable(String),
}

/// The fields of an Ironic node the state machine decides on. States are Ironic's wire strings
/// (`enroll`, `manageable`, `inspect wait`, `active`, `deploy failed`, …).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeView {
    pub uuid: String,
    pub provision_state: String,
    pub target_provision_state: Option<String>,
    /// `power on`, `power off`, or none when unknown.
    pub power_state: Option<String>,
    pub target_power_state: Option<String>,
    pub last_error: Option<String>,
    pub maintenance: bool,
    pub maintenance_reason: Option<String>,
    /// The conductor holding the node's lock, if any (a locked node answers 409 to changes).
    pub reservation: Option<String>,
    pub automated_clean: Option<bool>,
    /// `instance_info.image_source` of the current deployment, if any.
    pub image_source: Option<String>,
    /// Hash of the credentials and BMC address the node was registered with, as written by
    /// [`Action::Register`] into the node's `extra`; lets the state machine see a changed Secret.
    pub registration_fingerprint: Option<String>,
}

/// How a host should be inspected (`spec.inspectionMode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum InspectMode {
    /// Through the agent ramdisk.
    #[default]
    Agent,
    /// Out of band through the BMC (Redfish), no ramdisk.
    Fast,
    Disabled,
}

/// Everything needed to create or update a node for a host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// `spec.bmc.address`, parsed by the provisioner (see [`crate::bmc`]).
    pub bmc_address: String,
    pub disable_certificate_verification: bool,
    pub credentials: Credentials,
    pub boot_mac: Option<String>,
    /// `UEFI`, `UEFISecureBoot` or `legacy`.
    pub boot_mode: String,
    pub inspect_mode: InspectMode,
    pub automated_clean: bool,
    pub architecture: Option<String>,
    /// Stored on the node so a changed Secret or address is noticed (see [`NodeView`]).
    pub fingerprint: String,
}

/// The image and data a deployment writes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    pub image_url: String,
    pub checksum: Option<String>,
    /// `md5`, `sha256`, `sha512` or `auto`.
    pub checksum_type: Option<String>,
    /// `raw`, `qcow2`, `vdi`, `vmdk` or `live-iso`.
    pub format: Option<String>,
    /// `spec.customDeploy.method`, when set.
    pub custom_deploy: Option<String>,
    /// Contents of the userData / networkData / metaData Secrets for the config drive.
    pub user_data: Option<String>,
    pub network_data: Option<String>,
    pub meta_data: Option<String>,
    /// `spec.rootDeviceHints` in Ironic's syntax ([`crate::api::RootDeviceHints::to_ironic`]).
    pub root_device_hints: Option<serde_json::Value>,
}

/// A power change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PowerChange {
    On,
    Off,
    SoftOff,
    Reboot,
    SoftReboot,
}

/// The node's RAID interface and `PUT /v1/nodes/{id}/states/raid`'s logical disks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetRaid {
    pub interface: String,
    pub logical_disks: Vec<serde_json::Value>,
}

/// One effect on the provisioner. A decision carries at most one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// Create the node (or update driver, driver_info and ports when it exists).
    Register(Registration),
    /// `manage` (enroll/verifying → manageable).
    Manage,
    /// `inspect` (manageable → inspecting → manageable).
    Inspect,
    /// `provide` (manageable → cleaning → available).
    Provide,
    /// `active` with instance_info and a config drive.
    Deploy(Deployment),
    /// `deleted` (active → deleting → cleaning → available).
    Undeploy,
    /// `adopt` (manageable → active) for externally provisioned hosts.
    Adopt,
    Power(PowerChange),
    /// `abort` a `*wait` state.
    Abort,
    SetMaintenance {
        on: bool,
        reason: Option<String>,
    },
    /// Sync `automated_clean` on the node.
    SetAutomatedClean(bool),
    /// Remove the node from Ironic without deprovisioning (detached hosts).
    Detach {
        force: bool,
    },
    /// Remove the node from Ironic (last step of deletion).
    Delete,
    /// Manual cleaning (manageable → cleaning → manageable) with these steps, each
    /// `{"interface", "step", "args"}`; with `raid`, the node's RAID interface and target RAID
    /// configuration are set first.
    Clean {
        steps: Vec<serde_json::Value>,
        raid: Option<TargetRaid>,
    },
}

impl Action {
    /// A short constant name for logs and metrics labels.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Register(_) => "register",
            Action::Manage => "manage",
            Action::Inspect => "inspect",
            Action::Provide => "provide",
            Action::Deploy(_) => "deploy",
            Action::Undeploy => "undeploy",
            Action::Adopt => "adopt",
            Action::Power(_) => "power",
            Action::Abort => "abort",
            Action::SetMaintenance { .. } => "maintenance",
            Action::SetAutomatedClean(_) => "automated_clean",
            Action::Detach { .. } => "detach",
            Action::Delete => "delete",
            Action::Clean { .. } => "clean",
        }
    }
}

/// What carrying out an action produced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// Accepted; the node's UUID (useful after `Register`).
    Accepted { node_id: Option<String> },
    /// The node is locked by the conductor (HTTP 409 NodeLocked): retry shortly, not an error.
    Busy,
}

/// Why a provisioner call failed. Each variant knows whether a retry may help.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionerError {
    /// Ironic refused the request; the text is Ironic's own fault string, decoded.
    #[error("ironic rejected {operation}: {message}")]
    Rejected {
        operation: &'static str,
        status: u16,
        message: String,
    },
    /// Network, TLS or 5xx trouble.
    #[error("ironic unreachable during {operation}: {message}")]
    Unreachable {
        operation: &'static str,
        message: String,
    },
    /// The host's BMC details cannot be turned into a node (bad scheme, bad address, ...).
    #[error("invalid BMC details: {0}")]
    InvalidBmc(String),
    /// The Ironic API does not offer the microversion we need.
    #[error("ironic API version {found} is older than the required {required}")]
    VersionTooOld { found: String, required: String },
    /// A response did not have the shape we expect.
    #[error("unexpected ironic response to {operation}: {message}")]
    Protocol {
        operation: &'static str,
        message: String,
    },
}

impl ProvisionerError {
    /// True when retrying later may succeed (requeue with backoff rather than a status error).
    pub fn is_transient(&self) -> bool {
        matches!(self, ProvisionerError::Unreachable { .. })
            || matches!(self, ProvisionerError::Rejected { status, .. } if *status >= 500 || *status == 409)
    }
}

/// Drives hardware for the controller. Implemented by [`ironic::IronicProvisioner`].
#[async_trait::async_trait]
pub trait Provisioner: Send + Sync {
    /// Reads the host's node (one call when the UUID is known).
    async fn observe(&self, host: &HostRef) -> Result<Observation, ProvisionerError>;
    /// Carries out one action on the host's node.
    async fn act(&self, host: &HostRef, action: &Action) -> Result<Outcome, ProvisionerError>;
    /// Reads the node's inspection inventory as hardware details (JSON in the shape of
    /// `status.hardware`), once inspection has finished.
    async fn hardware_details(&self, host: &HostRef)
    -> Result<serde_json::Value, ProvisionerError>;
    /// Reads the node's BIOS settings with their registry entries.
    async fn bios_settings(
        &self,
        host: &HostRef,
    ) -> Result<Vec<crate::firmware::BiosSetting>, ProvisionerError>;
}
