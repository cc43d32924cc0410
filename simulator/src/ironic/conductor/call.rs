//! BMC calls: what the pure conductor asks its shell to perform, and what comes back.

use crate::ironic::model::PowerState;
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

/// An operation on a node's BMC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BmcOp {
    /// Read the power state.
    GetPower,
    /// Change power.
    SetPower(PowerState),
    /// Set the next boot device.
    SetBootDevice(BootDevice),
    /// Read the system description (out-of-band inspection).
    GetSystem,
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

/// What a BMC call returned.
#[derive(Debug, Clone, PartialEq)]
pub enum CallResult {
    /// Done, nothing to report.
    Done,
    /// The power state read.
    Power(PowerState),
    /// The system document read.
    System(Value),
}
