//! The service entry points: `/redfish` (version document) and the ServiceRoot.

use axum::extract::State;
use serde_json::json;

use super::document::{ALLOW_GET, Document};
use super::metadata::types;
use super::service::RedfishState;

/// The Redfish protocol version this service implements.
pub const REDFISH_VERSION: &str = "1.17.0";

/// `GET /redfish`: the protocol versions offered.
pub async fn versions() -> Document {
    Document::ok(json!({"v1": "/redfish/v1/"}), ALLOW_GET)
}

/// `GET /redfish/v1/`: the ServiceRoot.
pub async fn service_root(State(state): State<RedfishState>) -> Document {
    // A single-system service reports that system's UUID as its own; a shared one reports the
    // first system's (every Redfish service needs a stable UUID).
    let uuid = state
        .hosts()
        .first()
        .map(|h| h.profile.system.uuid.to_string())
        .unwrap_or_default();
    Document::ok(
        json!({
            "@odata.id": "/redfish/v1/",
            "@odata.type": types::SERVICE_ROOT,
            "Id": "RootService",
            "Name": "metal-sim Redfish service",
            "RedfishVersion": REDFISH_VERSION,
            "UUID": uuid,
            "Vendor": "metal-sim",
            "Product": "metal-sim simulated BMC",
            "Systems": {"@odata.id": "/redfish/v1/Systems"},
            "Chassis": {"@odata.id": "/redfish/v1/Chassis"},
            "Managers": {"@odata.id": "/redfish/v1/Managers"},
            "SessionService": {"@odata.id": "/redfish/v1/SessionService"},
            "AccountService": {"@odata.id": "/redfish/v1/AccountService"},
            "UpdateService": {"@odata.id": "/redfish/v1/UpdateService"},
            "Tasks": {"@odata.id": "/redfish/v1/TaskService"},
            "Registries": {"@odata.id": "/redfish/v1/Registries"},
            "EventService": {"@odata.id": "/redfish/v1/EventService"},
            "Links": {"Sessions": {"@odata.id": "/redfish/v1/SessionService/Sessions"}},
            "ProtocolFeaturesSupported": {
                "ExpandQuery": {"ExpandAll": false, "Levels": false, "Links": false, "NoLinks": false},
                "FilterQuery": false,
                "SelectQuery": false,
                "OnlyMemberQuery": false,
                "ExcerptQuery": false,
            },
        }),
        ALLOW_GET,
    )
}
