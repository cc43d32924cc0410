//! Mock Ironic API behaviour through the router (axum oneshot): versions, errors, nodes, ports, states.

#[path = "ironic_api/support.rs"]
mod support;

/// Versions, error envelopes, node CRUD, listing, patching, provision states and locks.
#[path = "ironic_api/nodes.rs"]
mod nodes;

/// Ports, validation, inventory, BIOS, virtual media and RAID.
#[path = "ironic_api/hardware.rs"]
mod hardware;

/// The agent's endpoints (lookup, heartbeat, continue_inspection) and the request journal.
#[path = "ironic_api/agent.rs"]
mod agent;
