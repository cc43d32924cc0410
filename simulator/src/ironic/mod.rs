//! Mock OpenStack Ironic: API v1 (axum) in front of a conductor whose drivers talk to BMCs over the wire.

/// Routes of API v1 and the version documents.
pub mod api;
/// The provision state machine, a pure core stepped by time.
pub mod conductor;
/// BMC drivers performing the conductor's calls (Redfish over HTTP).
pub mod driver;
/// JSON text in Python's style, with ordered documents.
pub mod encoding;
/// Ironic's double-encoded error envelope.
pub mod error;
/// Node and Port records and their JSON shapes per microversion.
pub mod model;
/// Microversion negotiation.
pub mod version;

pub use api::{AppState, Clock, app, serve};
