//! `metal3.io/v1alpha1` API types.

pub mod states;

pub use states::{ErrorType, OperationalStatus, ProvisioningState};
