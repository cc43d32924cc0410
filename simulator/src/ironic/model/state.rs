//! Provision and power states with their wire strings.

/// Ironic provision states (rescue and service-hold states are not simulated).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProvisionState {
    /// Registered, BMC not yet verified.
    Enroll,
    /// Checking BMC access.
    Verifying,
    /// Verified, under operator control.
    Manageable,
    /// Hardware inspection running.
    Inspecting,
    /// Waiting for the inspection agent.
    InspectWait,
    /// Inspection failed.
    InspectFailed,
    /// Ready for deployment.
    Available,
    /// Deployment running.
    Deploying,
    /// Waiting for the deploy agent.
    WaitCallBack,
    /// Deployment failed.
    DeployFailed,
    /// Deployed.
    Active,
    /// Tearing down a deployment.
    Deleting,
    /// Cleaning running.
    Cleaning,
    /// Waiting for the cleaning agent.
    CleanWait,
    /// Cleaning failed.
    CleanFailed,
    /// Adoption running.
    Adopting,
    /// Adoption failed.
    AdoptFailed,
    /// Teardown failed.
    Error,
    /// Service steps running on a deployed node.
    Servicing,
    /// Waiting for a service step (a reboot, the agent).
    ServiceWait,
    /// A service step failed.
    ServiceFailed,
}

impl ProvisionState {
    /// Ironic's wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enroll => "enroll",
            Self::Verifying => "verifying",
            Self::Manageable => "manageable",
            Self::Inspecting => "inspecting",
            Self::InspectWait => "inspect wait",
            Self::InspectFailed => "inspect failed",
            Self::Available => "available",
            Self::Deploying => "deploying",
            Self::WaitCallBack => "wait call-back",
            Self::DeployFailed => "deploy failed",
            Self::Active => "active",
            Self::Deleting => "deleting",
            Self::Cleaning => "cleaning",
            Self::CleanWait => "clean wait",
            Self::CleanFailed => "clean failed",
            Self::Adopting => "adopting",
            Self::AdoptFailed => "adopt failed",
            Self::Error => "error",
            Self::Servicing => "servicing",
            Self::ServiceWait => "service wait",
            Self::ServiceFailed => "service failed",
        }
    }

    /// Parses Ironic's wire string.
    pub fn parse(s: &str) -> Option<Self> {
        ALL_STATES.iter().copied().find(|p| p.as_str() == s)
    }

    /// States in which an agent may look its node up and heartbeat.
    pub fn agent_may_call(self) -> bool {
        matches!(
            self,
            Self::Deploying
                | Self::WaitCallBack
                | Self::Cleaning
                | Self::CleanWait
                | Self::Inspecting
                | Self::InspectWait
        )
    }
}

/// Every simulated provision state.
pub const ALL_STATES: [ProvisionState; 21] = [
    ProvisionState::Enroll,
    ProvisionState::Verifying,
    ProvisionState::Manageable,
    ProvisionState::Inspecting,
    ProvisionState::InspectWait,
    ProvisionState::InspectFailed,
    ProvisionState::Available,
    ProvisionState::Deploying,
    ProvisionState::WaitCallBack,
    ProvisionState::DeployFailed,
    ProvisionState::Active,
    ProvisionState::Deleting,
    ProvisionState::Cleaning,
    ProvisionState::CleanWait,
    ProvisionState::CleanFailed,
    ProvisionState::Adopting,
    ProvisionState::AdoptFailed,
    ProvisionState::Error,
    ProvisionState::Servicing,
    ProvisionState::ServiceWait,
    ProvisionState::ServiceFailed,
];

/// Node power states as Ironic reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodePower {
    /// "power on".
    On,
    /// "power off".
    Off,
    /// "rebooting" (targets only).
    Rebooting,
    /// "soft power off" (targets only).
    SoftOff,
    /// "soft rebooting" (targets only).
    SoftRebooting,
}

impl NodePower {
    /// Ironic's wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::On => "power on",
            Self::Off => "power off",
            Self::Rebooting => "rebooting",
            Self::SoftOff => "soft power off",
            Self::SoftRebooting => "soft rebooting",
        }
    }

    /// Parses a power target.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::On,
            Self::Off,
            Self::Rebooting,
            Self::SoftOff,
            Self::SoftRebooting,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }

    /// The stable state a target settles into.
    pub fn settled(self) -> Self {
        match self {
            Self::Off | Self::SoftOff => Self::Off,
            Self::On | Self::Rebooting | Self::SoftRebooting => Self::On,
        }
    }
}
