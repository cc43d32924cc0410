//! The Ironic provisioner against a recording HTTP double: exact methods, paths, version headers
//! and bodies for every action, lookups, errors, version negotiation, TLS and the call count of
//! one host's lifecycle.

mod ironic_double;

#[path = "ironic_provisioner/support.rs"]
mod support;

/// Registering: node and boot port creation, repair, patches, renames, refused addresses.
#[path = "ironic_provisioner/registration.rs"]
mod registration;

/// Deploying: instance_info, checksums, custom deploy, validation and network data failures.
#[path = "ironic_provisioner/deploy.rs"]
mod deploy;

/// Provision and power targets, detaching and deleting, maintenance, one lifecycle's call count.
#[path = "ironic_provisioner/actions.rs"]
mod actions;

/// Observing: node lookup, conflicts, busy nodes, Ironic's error bodies, hardware details.
#[path = "ironic_provisioner/observe.rs"]
mod observe;

/// The HTTP client: version negotiation, basic auth, timeouts, TLS, no password in logs.
#[path = "ironic_provisioner/client.rs"]
mod client;
