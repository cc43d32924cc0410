//! The fake Redfish service through its router (`tower::ServiceExt::oneshot`): authentication,
//! sessions, ETags, reset and boot semantics, BIOS settings, media, updates, errors and faults.

#[path = "redfish_fixture.rs"]
mod fixture;

#[path = "redfish_api/support.rs"]
mod support;

/// Authentication, sessions, standard headers, public documents, per-system logins and layouts.
#[path = "redfish_api/access.rs"]
mod access;

/// ETags, resets and power states, boot overrides.
#[path = "redfish_api/power.rs"]
mod power;

/// BIOS settings, virtual media, firmware updates, and faults.
#[path = "redfish_api/settings.rs"]
mod settings;

/// The specification's request rules: `OData-Version`, `$` queries, POST to `Members`.
#[path = "redfish_api/protocol.rs"]
mod protocol;

/// The BIOS attribute registry and the values it refuses.
#[path = "redfish_api/bios.rs"]
mod bios;

/// Storage controllers, RAID volumes and health rollups.
#[path = "redfish_api/storage.rs"]
mod storage;

/// Event subscriptions and their delivery.
#[path = "redfish_api/events.rs"]
mod events;

/// Firmware update refusals, faults and the multipart push.
#[path = "redfish_api/updates.rs"]
mod updates;
