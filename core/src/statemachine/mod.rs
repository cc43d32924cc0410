//! The pure host state machine: (host, BMC credentials, provisioner observation, `now`, rng) →
//! [`Decision`]. No I/O, no clock, no global RNG.
//!
//! The controller observes the host's Ironic node, reads the BMC Secret, counts provisioning
//! slots, and calls [`decide`]. The decision carries the new status, at most one [`Effect`], the
//! finalizer and annotation changes, Kubernetes Events and when to look again. The order of the
//! checks follows upstream's reconcile loop (baremetal-operator's `BareMetalHostReconciler.
//! Reconcile` in `controllers/metal3.io/baremetalhost_controller.go`, then its `hostStateMachine`):
//!
//! 1. paused → nothing at all;
//! 2. status annotation (restore after a move), hardware-details annotation;
//! 3. finalizer;
//! 4. a rejected action from the previous decision, bad input (Secret, BMC address, spec);
//! 5. capacity gate for delayed hosts, deletion entry, detach, registration;
//! 6. the per-state handler in [`table`].

mod apply;
mod backoff;
mod capacity;
mod conditions;
mod delete;
mod deployment;
mod detach;
mod draft;
mod failure;
/// BIOS settings wanted by the host's HostFirmwareSettings, in `available` and `preparing`.
mod firmware;
mod inspection;
/// The smallest JSON merge patch between two documents (the status write).
mod merge_patch;
mod node;
mod pacing;
mod power;
mod preflight;
/// `preparing`: RAID and BIOS settings applied by manual cleaning.
mod preparing;
mod registration;
mod table;
/// The line of hosts waiting for a provisioning slot, woken one per released slot.
mod waiting;

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::api::annotations;
use crate::api::{
    BareMetalHost, BareMetalHostStatus, ErrorType, HostFirmwareSettings, ProvisioningState,
};
use crate::provisioner::{Action, Credentials, Observation};

pub use apply::{Applied, HostWrite, apply, writes};
pub use backoff::{ERROR_BACKOFF_UNIT, error_backoff, error_backoff_in, jittered};
pub use capacity::holds_provisioning_slot;
pub use merge_patch::merge_diff;
pub use registration::{RegistrationError, host_ref, registration};

use draft::Draft;
pub use pacing::{HOSTS_PER_FLOOR, Pacer, SettingsError, TESTBED_FIRST_POLL, TESTBED_SPAN_FLOOR};
pub use waiting::WaitingLine;

/// Everything one decision looks at. Built by the controller for each reconcile.
#[derive(Clone, Debug)]
pub struct Input<'a> {
    /// The host as last read from the API server.
    pub host: &'a BareMetalHost,
    /// What the controller found when it read `spec.bmc.credentialsName`.
    pub credentials: CredentialsView,
    /// The host's Ironic node as the provisioner sees it.
    pub observation: &'a Observation,
    /// The current time (never read from a clock in here).
    pub now: DateTime<Utc>,
    /// The provisioning-slot count for the capacity gate.
    pub capacity: CapacityView,
    /// The node's inspection inventory, when the previous decision asked for it with
    /// [`Effect::FetchHardwareDetails`].
    pub hardware: HardwareFetch,
    /// Contents of the userData / networkData / metaData Secrets. Only needed while the host
    /// is `provisioning`; `Err` carries a message naming the Secret that could not be read.
    pub config_data: Result<ConfigData, String>,
    /// The host's HostFirmwareSettings and, when a decision asked, the node's BIOS settings.
    pub firmware: FirmwareView<'a>,
    /// Set when the provisioner refused the action of the previous decision; the controller
    /// then calls [`decide`] again at once with it.
    pub action_failure: Option<ActionFailure>,
    /// Operator-wide settings.
    pub settings: &'a Settings,
}

/// The BMC Secret as the controller found it. Never printed with the password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CredentialsView {
    /// The host names no Secret (unmanaged hosts), so none was read.
    NotRequested,
    /// `spec.bmc.credentialsName` names a Secret that does not exist.
    SecretMissing { name: String },
    /// The reference points into another namespace, which upstream forbids.
    SecretInOtherNamespace { name: String, namespace: String },
    /// The Secret exists but lacks (or has an empty) `username` or `password`.
    MissingKey { name: String, key: &'static str },
    /// The Secret is usable; `secret_version` is its resourceVersion.
    Ok {
        credentials: Credentials,
        secret_version: String,
    },
}

/// How many hosts hold a (de)provisioning slot; see [`holds_provisioning_slot`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapacityView {
    /// Hosts currently holding a slot (including reservations not yet visible in the cache).
    pub in_use: u32,
    /// `PROVISIONING_LIMIT`, 20 by default.
    pub limit: u32,
    /// True when this host is itself counted in `in_use`.
    pub holds_slot: bool,
}

impl Default for CapacityView {
    fn default() -> Self {
        CapacityView {
            in_use: 0,
            limit: DEFAULT_PROVISIONING_LIMIT,
            holds_slot: false,
        }
    }
}

/// Upstream's default `PROVISIONING_LIMIT`.
pub const DEFAULT_PROVISIONING_LIMIT: u32 = 20;

/// The inspection inventory, when asked for.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum HardwareFetch {
    /// Not fetched for this decision.
    #[default]
    NotFetched,
    /// The node has no inventory (inspection has not run).
    Missing,
    /// The inventory, in the shape of `status.hardware`.
    Found(serde_json::Value),
    /// The provisioner could not be asked (transient).
    Unavailable(String),
}

/// The host's HostFirmwareSettings (same name, same namespace) and the node's current BIOS
/// settings once a decision asked for them with [`Effect::FetchBiosSettings`].
#[derive(Clone, Debug, Default)]
pub struct FirmwareView<'a> {
    /// None when the host has no HostFirmwareSettings (or the mode serves none).
    pub settings: Option<&'a HostFirmwareSettings>,
    /// The node's settings as Ironic reads them now.
    pub current: BiosFetch,
}

/// The node's current BIOS settings, when asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum BiosFetch {
    /// Not fetched for this decision.
    #[default]
    NotFetched,
    /// Current values by name (password settings left out).
    Found(std::collections::BTreeMap<String, String>),
    /// The provisioner could not be asked (transient).
    Unavailable(String),
}

/// Config-drive contents for a deployment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigData {
    pub user_data: Option<String>,
    pub network_data: Option<String>,
    pub meta_data: Option<String>,
}

/// The provisioner refused the previous decision's action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActionFailure {
    /// [`Action::name`] of the refused action.
    pub action: &'static str,
    /// The provisioner's message (never contains credentials).
    pub message: String,
    /// True when retrying later may help (network trouble, 5xx, a locked node).
    pub transient: bool,
}

/// Operator-wide knobs the decision depends on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// `-max-provisioning-retries`: provisioning attempts per image before giving up (0 = never).
    pub max_provisioning_retries: i64,
    /// Failures tolerated while deprovisioning or powering off for deletion before skipping on.
    pub delete_retry_limit: i64,
    /// Poll interval for quick provisioner operations (upstream 3 s).
    pub short_delay: Duration,
    /// Poll interval for operations that boot a ramdisk (upstream 10 s, plus 0–25 % jitter).
    pub long_delay: Duration,
    /// Power poll in steady states (upstream 60 s).
    pub steady_delay: Duration,
    /// Poll for unmanaged and detached hosts (upstream 10 min).
    pub slow_delay: Duration,
    /// Retry after a missing BMC Secret (upstream 10 s).
    pub missing_secret_delay: Duration,
    /// When set, polls of a change in progress start this short and double while nothing changes,
    /// up to the poll interval the state asks for (`short_delay`, `long_delay`); see [`Pacer`].
    /// `None` (the production default) polls at the state's interval from the first poll on.
    pub first_poll: Option<Duration>,
    /// Unit of the error backoff: the n-th error waits 2^n units minus up to half (upstream: one
    /// minute).
    pub error_backoff_unit: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_provisioning_retries: 5,
            delete_retry_limit: 3,
            short_delay: Duration::from_secs(3),
            long_delay: Duration::from_secs(10),
            steady_delay: Duration::from_secs(60),
            slow_delay: Duration::from_secs(600),
            missing_secret_delay: Duration::from_secs(10),
            first_poll: None,
            error_backoff_unit: ERROR_BACKOFF_UNIT,
        }
    }
}

/// What a decision changes; the controller carries it out.
#[must_use = "a decision does nothing until the controller applies it"]
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// The full new status (equal to the old one when `status_changed` is false).
    pub status: BareMetalHostStatus,
    /// True when `status` differs from the host's and must be written.
    pub status_changed: bool,
    /// The single side effect, if any.
    pub effect: Effect,
    pub finalizer: FinalizerChange,
    /// Annotation keys to delete from the host's metadata.
    pub remove_annotations: Vec<String>,
    pub events: Vec<HostEvent>,
    /// When to reconcile again; `None` waits for the next watch event.
    pub requeue_after: Option<Duration>,
    /// True when `requeue_after` polls a change in progress, which a [`Pacer`] may ask sooner.
    pub poll: bool,
    /// How this decision changes the host's provisioning slot.
    pub slot: SlotChange,
    /// `(from, to)` when the provisioning state changes.
    pub transition: Option<(ProvisioningState, ProvisioningState)>,
    /// Facts for metrics (errors, delays, give-ups).
    pub notes: Vec<Note>,
    /// A short constant-ish explanation for traces, e.g. `"provisioning: deploy started"`.
    pub cause: String,
}

impl Decision {
    /// A decision that changes nothing on `host` and waits for the next event: the status as
    /// read, no effect, no writes, no Events, no requeue.
    pub fn unchanged(host: &BareMetalHost, cause: &str) -> Decision {
        Decision {
            status: host.status.clone().unwrap_or_default(),
            status_changed: false,
            effect: Effect::None,
            finalizer: FinalizerChange::Keep,
            remove_annotations: Vec::new(),
            events: Vec::new(),
            requeue_after: None,
            poll: false,
            slot: SlotChange::Keep,
            transition: None,
            notes: Vec::new(),
            cause: cause.to_string(),
        }
    }
}

/// The side effect a decision asks for.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Effect {
    #[default]
    None,
    /// Carry out one provisioner action.
    Provisioner(Action),
    /// Read the node's inspection inventory and call [`decide`] again with it.
    FetchHardwareDetails,
    /// Read the node's BIOS settings and call [`decide`] again with them.
    FetchBiosSettings,
    /// Create or replace the host's HardwareData with this `spec.hardware`.
    WriteHardwareData(serde_json::Value),
}

/// Finalizer `baremetalhost.metal3.io` bookkeeping.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FinalizerChange {
    #[default]
    Keep,
    Add,
    Remove,
}

/// Provisioning-slot bookkeeping for the capacity gate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SlotChange {
    #[default]
    Keep,
    /// The host enters (or resumes) a slot-holding state; a slot was free.
    Take,
    /// The host leaves a slot-holding state.
    Release,
}

/// A Kubernetes Event to emit for the host. Messages never contain credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostEvent {
    pub kind: EventKind,
    pub reason: &'static str,
    pub message: String,
}

/// Kubernetes Event type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Normal,
    Warning,
}

impl EventKind {
    /// The wire string (`Normal` / `Warning`).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Normal => "Normal",
            EventKind::Warning => "Warning",
        }
    }
}

/// Facts a decision reports for metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Note {
    /// An error of this type was recorded (`metal3_host_error_total`).
    HostError(ErrorType),
    /// The capacity gate held the host back from entering this state.
    Delayed(ProvisioningState),
    /// Deletion continued without a successful deprovision.
    DeleteWithoutDeprovisioning,
    /// Deletion continued without a successful power-off.
    DeleteWithoutPoweringOff,
    /// Deletion of a detached host is held by `deleteAction: delay`.
    DeleteDelayedForDetached,
    /// A power change was requested (true = on).
    PowerChange(bool),
    /// The host had to be registered again (new credentials, lost node, ...).
    RegistrationRequired,
    /// A phase ended: operation history start → end in seconds, for the duration histograms.
    OperationFinished(Phase, u64),
}

/// The phases recorded in `status.operationHistory`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Register,
    Inspect,
    Provision,
    Deprovision,
}

impl Phase {
    /// The metric/field name (`register`, `inspect`, `provision`, `deprovision`).
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Register => "register",
            Phase::Inspect => "inspect",
            Phase::Provision => "provision",
            Phase::Deprovision => "deprovision",
        }
    }
}

/// Decides what to do next for one host. Pure: the same input and RNG state give the same
/// decision, and no input makes it panic.
pub fn decide(input: &Input<'_>, rng: &mut impl rand::Rng) -> Decision {
    let mut d = Draft::new(input);
    let annotations = input.host.metadata.annotations.clone().unwrap_or_default();

    if annotations.contains_key(annotations::PAUSED) {
        return d.idle("paused: nothing to do until the annotation is removed");
    }
    if let Some(step) = preflight::restore_annotations(&mut d, &annotations) {
        return step;
    }
    let deleting = input.host.metadata.deletion_timestamp.is_some();
    let has_finalizer = input
        .host
        .metadata
        .finalizers
        .as_ref()
        .is_some_and(|f| f.iter().any(|x| x == annotations::HOST_FINALIZER));
    if !has_finalizer {
        if deleting {
            return d.idle("deleted: finalizer already gone");
        }
        d.add_finalizer();
        return d.finish("finalizer added");
    }

    if let Some(failure) = &input.action_failure {
        failure::action_failed(&mut d, failure, rng);
        return d.finish_owned();
    }

    let creds = match preflight::check(&mut d, rng) {
        preflight::Verdict::Stop => return d.finish_owned(),
        preflight::Verdict::Go(creds) => creds,
    };

    if capacity::check_delayed(&mut d, rng).is_stop() {
        return d.finish_owned();
    }
    if delete::check_initiate(&mut d, rng).is_stop() {
        return d.finish_owned();
    }
    if detach::check(&mut d, &annotations, rng).is_stop() {
        return d.finish_owned();
    }
    if let Some(creds) = &creds
        && registration::ensure(&mut d, creds, rng).is_stop()
    {
        return d.finish_owned();
    }
    table::handle(&mut d, creds.is_some(), &annotations, rng);
    d.finish_owned()
}

/// Whether a check ended the decision or let it continue to the next check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

impl Flow {
    fn is_stop(self) -> bool {
        self == Flow::Stop
    }
}
