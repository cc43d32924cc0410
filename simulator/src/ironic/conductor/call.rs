//! Calls the pure conductor asks its shell to perform (BMC operations over Redfish/IPMI, agent commands
//! over IPA's `/v1/commands/` API), and what comes back.

use crate::ironic::model::NodePower;
use serde_json::{Map, Value};
use uuid::Uuid;

/// Boot devices the conductor sets through the BMC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootDevice {
    /// Network boot (the deploy ramdisk).
    Pxe,
    /// Local disk (the deployed image).
    Disk,
}

/// Boot modes a client may ask for (`PUT /states/boot_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootModeTarget {
    /// `uefi` (Redfish `UEFI`).
    Uefi,
    /// `bios` (Redfish `Legacy`).
    Bios,
}

impl BootModeTarget {
    /// Ironic's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Uefi => "uefi",
            Self::Bios => "bios",
        }
    }

    /// From Ironic's name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "uefi" => Some(Self::Uefi),
            "bios" => Some(Self::Bios),
            _ => None,
        }
    }

    /// The Redfish `BootSourceOverrideMode`.
    pub fn redfish(self) -> &'static str {
        match self {
            Self::Uefi => "UEFI",
            Self::Bios => "Legacy",
        }
    }
}

/// An operation on a node's BMC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BmcOp {
    /// Read the power state.
    GetPower,
    /// Change power.
    SetPower(NodePower),
    /// Set the next boot device.
    SetBootDevice(BootDevice),
    /// Read the system description (out-of-band inspection).
    GetSystem,
    /// Read the BIOS settings and, when the BMC publishes one, their registry (Ironic's
    /// `cache_bios_settings`).
    GetBios,
    /// Queue BIOS attributes (name → value) for the next reset (Redfish `PATCH Bios/Settings`).
    PatchBiosSettings(Map<String, Value>),
    /// Queue the BIOS's factory defaults for the next reset (Redfish `Bios.ResetBios`).
    ResetBios,
    /// Read the firmware components' versions (Ironic's `cache_firmware_components`).
    GetFirmware,
    /// Read the boot mode and secure boot state (Ironic's `node_cache_boot_mode`).
    GetBootMode,
    /// Read the health rollup (Ironic's `node_cache_health`).
    GetHealth,
    /// Set the boot mode (Ironic's `node_change_boot_mode`).
    SetBootMode(BootModeTarget),
    /// Enable or disable secure boot (Ironic's `node_change_secure_boot`).
    SetSecureBoot(bool),
    /// Inject a non-maskable interrupt (`PUT /management/inject_nmi`).
    InjectNmi,
}

/// A BMC call the shell must perform and report back with `complete`.
#[derive(Debug, Clone, PartialEq)]
pub struct DriverCall {
    /// Correlates the outcome.
    pub id: u64,
    /// Node the call is for.
    pub node: Uuid,
    /// Hardware type (selects the wire protocol).
    pub driver: String,
    /// The node's BMC address and credentials.
    pub driver_info: Map<String, Value>,
    /// What to do.
    pub op: BmcOp,
}

/// A command to the node's agent (ironic-python-agent's API at the heartbeat's `callback_url`).
#[derive(Debug, Clone, PartialEq)]
pub enum AgentOp {
    /// `POST <callback_url>/v1/commands/?wait=<wait>&agent_token=<token>` with `{"name", "params"}`; the
    /// answer is the command's result object.
    Execute {
        /// `<extension>.<command>`, e.g. `deploy.execute_deploy_step`.
        name: String,
        /// The command's parameters.
        params: Value,
        /// Ask the agent to answer only when the command has finished.
        wait: bool,
    },
    /// `GET <callback_url>/v1/commands/?agent_token=<token>`; the answer is `{"commands": [results]}`.
    Status,
}

impl AgentOp {
    /// The command name (`<extension>.<command>`), or `None` for a status poll.
    pub fn name(&self) -> Option<&str> {
        match self {
            Self::Execute { name, .. } => Some(name),
            Self::Status => None,
        }
    }
}

/// An agent command the shell must send over HTTP (or an engine satisfy in-process) and report back
/// with `complete` as `CallResult::Agent(<the JSON answer>)`.
#[derive(Clone, PartialEq)]
pub struct AgentCall {
    /// Correlates the outcome.
    pub id: u64,
    /// Node the call is for.
    pub node: Uuid,
    /// Where the agent listens (from its last heartbeat).
    pub callback_url: String,
    /// The agent token handed out at lookup.
    pub token: Option<String>,
    /// What to send.
    pub op: AgentOp,
}

impl std::fmt::Debug for AgentCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentCall")
            .field("id", &self.id)
            .field("node", &self.node)
            .field("callback_url", &self.callback_url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("op", &self.op)
            .finish()
    }
}

/// Something the conductor needs done outside its pure core.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    /// A BMC operation.
    Bmc(DriverCall),
    /// An agent command.
    Agent(AgentCall),
}

impl Call {
    /// The id to pass back to `complete`.
    pub fn id(&self) -> u64 {
        match self {
            Self::Bmc(c) => c.id,
            Self::Agent(c) => c.id,
        }
    }
}

/// What a call returned.
#[derive(Debug, Clone, PartialEq)]
pub enum CallResult {
    /// Done, nothing to report.
    Done,
    /// The power state read.
    Power(NodePower),
    /// The system document read (Redfish: `{"system", "processors", "memory", "nics", "storage",
    /// "drives", "pcie"}`; IPMI: `{"UUID"}`).
    System(Value),
    /// The BIOS attributes (name → BMC value) and the registry's entries by name.
    Bios {
        attributes: Map<String, Value>,
        registry: std::collections::BTreeMap<String, crate::ironic::model::BiosRegistryEntry>,
    },
    /// The firmware components the BMC reports.
    Firmware(Vec<crate::ironic::model::ReportedComponent>),
    /// The boot mode (`uefi`, `bios`) and secure boot state, each `None` when not reported.
    BootMode {
        boot_mode: Option<String>,
        secure_boot: Option<bool>,
    },
    /// The health rollup (`OK`, `Warning`, `Critical`), `None` when not reported.
    Health(Option<String>),
    /// An agent's JSON answer: a command result object (`Execute`) or `{"commands": [...]}` (`Status`).
    Agent(Value),
}
