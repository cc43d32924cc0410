//! Managers (one BMC per system, sharing the system's id) and Chassis (one enclosure per system).

use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::document::{ALLOW_GET, Document};
use super::error::RedfishError;
use super::metadata::types;
use super::service::{RedfishState, SystemCtx};
use crate::machine::HardwareProfile;

/// Version string the simulated BMC firmware reports when the profile has no `BMC` component.
const BMC_FIRMWARE: &str = "metal-sim";

fn members(state: &RedfishState, base: &str) -> Vec<Value> {
    state
        .system_ids()
        .map(|id| json!({"@odata.id": format!("{base}/{id}")}))
        .collect()
}

/// `GET /redfish/v1/Managers`.
pub async fn managers(State(state): State<RedfishState>) -> Document {
    let members = members(&state, "/redfish/v1/Managers");
    Document::ok(
        json!({
            "@odata.id": "/redfish/v1/Managers",
            "@odata.type": types::MANAGER_COLLECTION,
            "Name": "Manager Collection",
            "Members@odata.count": members.len(),
            "Members": members,
        }),
        ALLOW_GET,
    )
}

/// The firmware version a BMC of `profile` ships with (its `BMC` component's, else a fixed one).
pub fn bmc_firmware_version(profile: &HardwareProfile) -> &str {
    profile
        .firmware
        .iter()
        .find(|c| c.id == "BMC")
        .map_or(BMC_FIRMWARE, |c| c.version.as_str())
}

/// The model a BMC of `profile` reports for its Manager.
pub fn bmc_model(profile: &HardwareProfile) -> String {
    format!("{} BMC", profile.system.vendor)
}

/// The Manager of `ctx`'s system; `installed` is the BMC version an update installed, if any.
fn manager_body(ctx: &SystemCtx<'_>, installed: Option<&str>) -> Value {
    let id = ctx.id;
    let firmware = installed.unwrap_or_else(|| bmc_firmware_version(ctx.profile));
    json!({
        "@odata.id": format!("/redfish/v1/Managers/{id}"),
        "@odata.type": types::MANAGER,
        "Id": id,
        "Name": format!("BMC of {}", ctx.name),
        "Description": "Simulated baseboard management controller",
        "ManagerType": "BMC",
        "UUID": ctx.profile.system.uuid.to_string(),
        "Model": bmc_model(ctx.profile),
        "FirmwareVersion": firmware,
        "PowerState": "On",
        "Status": {"State": "Enabled", "Health": "OK"},
        "VirtualMedia": {"@odata.id": format!("/redfish/v1/Managers/{id}/VirtualMedia")},
        "Links": {
            "ManagerForServers": [{"@odata.id": format!("/redfish/v1/Systems/{id}")}],
            "ManagerForServers@odata.count": 1,
            "ManagerForChassis": [{"@odata.id": format!("/redfish/v1/Chassis/{id}")}],
            "ManagerForChassis@odata.count": 1,
        },
    })
}

/// `GET /redfish/v1/Managers/{id}`.
pub async fn manager(
    State(state): State<RedfishState>,
    Path(id): Path<String>,
) -> Result<Document, RedfishError> {
    let installed = state.updates().version_of(&id, "BMC", state.now());
    let body = state
        .read_system(&id, |ctx| manager_body(ctx, installed.as_deref()))
        .map_err(|_| RedfishError::NotFound {
            uri: format!("/redfish/v1/Managers/{id}"),
        })?;
    Ok(Document::ok(body, ALLOW_GET))
}

/// `GET /redfish/v1/Chassis`.
pub async fn chassis_collection(State(state): State<RedfishState>) -> Document {
    let members = members(&state, "/redfish/v1/Chassis");
    Document::ok(
        json!({
            "@odata.id": "/redfish/v1/Chassis",
            "@odata.type": types::CHASSIS_COLLECTION,
            "Name": "Chassis Collection",
            "Members@odata.count": members.len(),
            "Members": members,
        }),
        ALLOW_GET,
    )
}

fn chassis_body(ctx: &SystemCtx<'_>) -> Value {
    let id = ctx.id;
    let p = ctx.profile;
    json!({
        "@odata.id": format!("/redfish/v1/Chassis/{id}"),
        "@odata.type": types::CHASSIS,
        "Id": id,
        "Name": format!("Chassis of {}", ctx.name),
        "ChassisType": "RackMount",
        "Manufacturer": p.system.vendor,
        "Model": p.system.model,
        "SerialNumber": p.system.serial,
        "SKU": p.system.sku,
        "PowerState": ctx.machine.power().as_str(),
        "Status": {
            "State": "Enabled",
            "Health": ctx.health().as_str(),
            "HealthRollup": ctx.health().as_str(),
        },
        "Drives": {"@odata.id": format!("/redfish/v1/Chassis/{id}/Drives")},
        "Links": {
            "ComputerSystems": [{"@odata.id": format!("/redfish/v1/Systems/{id}")}],
            "ComputerSystems@odata.count": 1,
            "ManagedBy": [{"@odata.id": format!("/redfish/v1/Managers/{id}")}],
            "ManagedBy@odata.count": 1,
        },
    })
}

/// `GET /redfish/v1/Chassis/{id}`.
pub async fn chassis(
    State(state): State<RedfishState>,
    Path(id): Path<String>,
) -> Result<Document, RedfishError> {
    let body = state
        .read_system(&id, chassis_body)
        .map_err(|_| RedfishError::NotFound {
            uri: format!("/redfish/v1/Chassis/{id}"),
        })?;
    Ok(Document::ok(body, ALLOW_GET))
}
