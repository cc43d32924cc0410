//! Storage of a system: one storage subsystem with its controller (`SupportedRAIDTypes` from the
//! machine's RAID controller, empty for drives on the board), its Drives (under the chassis) and
//! its Volumes, which a client creates (POST, applied immediately) and deletes.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::document::{self, ALLOW_GET, ALLOW_GET_DELETE, ALLOW_GET_POST, Document};
use super::error::RedfishError;
use super::inventory::{base, collection, enabled_ok, from_profile};
use super::metadata::types;
use super::service::{RedfishState, SystemCtx};
use crate::machine::{DiskKind, HardwareProfile, MachineError, RaidRefusal, Volume, VolumeRequest};

/// The single storage subsystem's id.
const STORAGE_ID: &str = "1";
/// The single controller's id.
const CONTROLLER_ID: &str = "0";

fn drive_id(index: usize) -> String {
    format!("Disk{}", index + 1)
}

fn drive_index(id: &str, p: &HardwareProfile) -> Option<usize> {
    let n: usize = id.strip_prefix("Disk")?.parse().ok()?;
    (n >= 1 && n <= p.disks.len() && drive_id(n - 1) == id).then(|| n - 1)
}

/// Where the drives of system `id` live: its chassis (the non-deprecated location).
fn drives_uri(id: &str) -> String {
    format!("/redfish/v1/Chassis/{id}/Drives")
}

fn storage_uri(id: &str) -> String {
    format!("{}/Storage/{STORAGE_ID}", base(id))
}

fn drive_links(id: &str, drives: impl Iterator<Item = usize>) -> Vec<Value> {
    drives
        .map(|i| json!({"@odata.id": format!("{}/{}", drives_uri(id), drive_id(i))}))
        .collect()
}

/// `GET /redfish/v1/Systems/{id}/Storage`.
pub async fn storages(
    State(state): State<RedfishState>,
    Path(id): Path<String>,
) -> Result<Document, RedfishError> {
    let uri = format!("{}/Storage", base(&id));
    from_profile(&state, &id, uri.clone(), |_| {
        Some(collection(
            &uri,
            types::STORAGE_COLLECTION,
            "Storage Collection",
            std::iter::once(STORAGE_ID.to_string()),
        ))
    })
}

/// `GET /redfish/v1/Systems/{id}/Storage/{storage}`.
pub async fn storage(
    State(state): State<RedfishState>,
    Path((id, storage)): Path<(String, String)>,
) -> Result<Document, RedfishError> {
    let uri = format!("{}/Storage/{storage}", base(&id));
    let body = state.read_system(&id, |ctx: &SystemCtx<'_>| {
        if storage != STORAGE_ID {
            return None;
        }
        let drives = drive_links(&id, 0..ctx.profile.disks.len());
        Some(json!({
            "@odata.id": uri,
            "@odata.type": types::STORAGE,
            "Id": storage,
            "Name": "Storage Subsystem",
            "Description": "Local drives",
            "Drives@odata.count": drives.len(),
            "Drives": drives,
            "Controllers": {"@odata.id": format!("{uri}/Controllers")},
            "Volumes": {"@odata.id": format!("{uri}/Volumes")},
            "Status": {"State": "Enabled", "Health": "OK", "HealthRollup": ctx.health().as_str()},
        }))
    })?;
    body.map(|b| Document::ok(b, ALLOW_GET))
        .ok_or(RedfishError::NotFound { uri })
}

/// `GET /redfish/v1/Systems/{id}/Storage/{storage}/Controllers`.
pub async fn controllers(
    State(state): State<RedfishState>,
    Path((id, storage)): Path<(String, String)>,
) -> Result<Document, RedfishError> {
    let uri = format!("{}/Storage/{storage}/Controllers", base(&id));
    from_profile(&state, &id, uri.clone(), |_| {
        (storage == STORAGE_ID).then(|| {
            collection(
                &uri,
                types::STORAGE_CONTROLLER_COLLECTION,
                "Storage Controller Collection",
                std::iter::once(CONTROLLER_ID.to_string()),
            )
        })
    })
}

/// `GET /redfish/v1/Systems/{id}/Storage/{storage}/Controllers/{controller}`.
pub async fn controller(
    State(state): State<RedfishState>,
    Path((id, storage, controller)): Path<(String, String, String)>,
) -> Result<Document, RedfishError> {
    let uri = format!("{}/Storage/{storage}/Controllers/{controller}", base(&id));
    let body = state.read_system(&id, |ctx: &SystemCtx<'_>| {
        if storage != STORAGE_ID || controller != CONTROLLER_ID {
            return None;
        }
        let raid = ctx.machine.raid().controller();
        let levels: Vec<&str> = raid
            .map(|c| c.levels.iter().map(|l| l.as_str()).collect())
            .unwrap_or_default();
        let nvme_only = ctx.profile.disks.iter().all(|d| d.kind == DiskKind::Nvme);
        Some(json!({
            "@odata.id": uri,
            "@odata.type": types::STORAGE_CONTROLLER,
            "Id": controller,
            "Name": raid.map_or_else(|| "Onboard storage controller".to_string(), |c| c.model.clone()),
            "SupportedRAIDTypes": levels,
            "SupportedControllerProtocols": ["PCIe"],
            "SupportedDeviceProtocols": if nvme_only { json!(["NVMe"]) } else { json!(["SATA", "SAS", "NVMe"]) },
            "Status": enabled_ok(),
        }))
    })?;
    body.map(|b| Document::ok(b, ALLOW_GET))
        .ok_or(RedfishError::NotFound { uri })
}

/// `GET /redfish/v1/Chassis/{id}/Drives`.
pub async fn drives(
    State(state): State<RedfishState>,
    Path(id): Path<String>,
) -> Result<Document, RedfishError> {
    let uri = drives_uri(&id);
    from_profile(&state, &id, uri.clone(), |p| {
        Some(collection(
            &uri,
            types::DRIVE_COLLECTION,
            "Drive Collection",
            (0..p.disks.len()).map(drive_id),
        ))
    })
}

/// `GET /redfish/v1/Chassis/{id}/Drives/{drive}`.
pub async fn drive(
    State(state): State<RedfishState>,
    Path((id, drive)): Path<(String, String)>,
) -> Result<Document, RedfishError> {
    let uri = format!("{}/{drive}", drives_uri(&id));
    let body = state.read_system(&id, |ctx: &SystemCtx<'_>| {
        let index = drive_index(&drive, ctx.profile)?;
        let d = &ctx.profile.disks[index];
        let (media, protocol) = match d.kind {
            DiskKind::Hdd => ("HDD", "SATA"),
            DiskKind::Ssd => ("SSD", "SATA"),
            DiskKind::Nvme => ("SSD", "NVMe"),
        };
        let naa = d.wwn.trim_start_matches("0x").to_uppercase();
        let volumes: Vec<Value> = ctx
            .machine
            .raid()
            .volume_of_drive(index)
            .map(|v| json!({"@odata.id": volume_uri(&id, v.id)}))
            .into_iter()
            .collect();
        let mut body = json!({
            "@odata.id": uri,
            "@odata.type": types::DRIVE,
            "Id": drive,
            "Name": d.name,
            "MediaType": media,
            "Protocol": protocol,
            "CapacityBytes": d.size_bytes,
            "Manufacturer": d.vendor,
            "Model": d.model,
            "SerialNumber": d.serial,
            "Identifiers": [{"DurableNameFormat": "NAA", "DurableName": naa}],
            "Links": {"Volumes": volumes},
            "Status": {"State": "Enabled", "Health": ctx.drive_health(index).as_str()},
        });
        if d.rotational {
            body["RotationSpeedRPM"] = json!(7200);
        }
        Some(body)
    })?;
    body.map(|b| Document::ok(b, ALLOW_GET))
        .ok_or(RedfishError::NotFound { uri })
}

fn volume_uri(id: &str, volume: u64) -> String {
    format!("{}/Volumes/{volume}", storage_uri(id))
}

fn volume_body(id: &str, v: &Volume) -> Value {
    let drives = drive_links(id, v.drives.iter().copied());
    json!({
        "@odata.id": volume_uri(id, v.id),
        "@odata.type": types::VOLUME,
        "Id": v.id.to_string(),
        "Name": v.name,
        "CapacityBytes": v.capacity_bytes,
        "RAIDType": v.level.as_str(),
        "Links": {"Drives@odata.count": drives.len(), "Drives": drives},
        "Status": enabled_ok(),
    })
}

/// `GET /redfish/v1/Systems/{id}/Storage/{storage}/Volumes`: the RAID volumes built so far.
pub async fn volumes(
    State(state): State<RedfishState>,
    Path((id, storage)): Path<(String, String)>,
) -> Result<Document, RedfishError> {
    let uri = format!("{}/Storage/{storage}/Volumes", base(&id));
    let ids = state.read_system(&id, |ctx: &SystemCtx<'_>| {
        let volumes = ctx.machine.raid().volumes();
        volumes.iter().map(|v| v.id.to_string()).collect::<Vec<_>>()
    })?;
    if storage != STORAGE_ID {
        return Err(RedfishError::NotFound { uri });
    }
    let mut body = collection(
        &uri,
        types::VOLUME_COLLECTION,
        "Volume Collection",
        ids.into_iter(),
    );
    body["@Redfish.OperationApplyTimeSupport"] = json!({
        "@odata.type": types::OPERATION_APPLY_TIME_SUPPORT,
        "SupportedValues": ["Immediate"],
    });
    Ok(Document::ok(body, ALLOW_GET_POST))
}

/// `GET /redfish/v1/Systems/{id}/Storage/{storage}/Volumes/{volume}`.
pub async fn volume(
    State(state): State<RedfishState>,
    Path((id, storage, volume)): Path<(String, String, String)>,
) -> Result<Document, RedfishError> {
    let uri = format!("{}/Storage/{storage}/Volumes/{volume}", base(&id));
    let body = state.read_system(&id, |ctx: &SystemCtx<'_>| {
        let n: u64 = volume.parse().ok()?;
        let v = ctx.machine.raid().volumes().iter().find(|v| v.id == n)?;
        (storage == STORAGE_ID && v.id.to_string() == volume).then(|| volume_body(&id, v))
    })?;
    body.map(|b| Document::ok(b, ALLOW_GET_DELETE))
        .ok_or(RedfishError::NotFound { uri })
}

/// Reads a volume POST body into a request; drives are named by their URIs under this system's
/// chassis.
fn volume_request(
    id: &str,
    profile: &HardwareProfile,
    body: &Map<String, Value>,
) -> Result<VolumeRequest, RedfishError> {
    let type_error = |property: &str, value: &Value| RedfishError::PropertyValueTypeError {
        property: property.to_string(),
        value: value.to_string(),
    };
    let mut request = VolumeRequest {
        name: None,
        raid_type: String::new(),
        drives: Vec::new(),
        capacity_bytes: None,
    };
    let mut raid_type = None;
    let mut drives = None;
    for (key, value) in body {
        match key.as_str() {
            "RAIDType" => {
                raid_type = Some(value.as_str().ok_or_else(|| type_error(key, value))?);
            }
            "Name" => {
                request.name = Some(
                    value
                        .as_str()
                        .ok_or_else(|| type_error(key, value))?
                        .to_string(),
                );
            }
            "CapacityBytes" => {
                request.capacity_bytes =
                    Some(value.as_u64().ok_or_else(|| type_error(key, value))?);
            }
            "Links" => {
                let links = value.as_object().ok_or_else(|| type_error(key, value))?;
                for (link, targets) in links {
                    if link != "Drives" {
                        return Err(RedfishError::PropertyUnknown {
                            property: format!("Links/{link}"),
                        });
                    }
                    let targets = targets
                        .as_array()
                        .ok_or_else(|| type_error("Links/Drives", targets))?;
                    let mut indices = Vec::with_capacity(targets.len());
                    for target in targets {
                        let uri = target
                            .get("@odata.id")
                            .and_then(Value::as_str)
                            .ok_or_else(|| type_error("Links/Drives", target))?;
                        let index = uri
                            .strip_prefix(&format!("{}/", drives_uri(id)))
                            .and_then(|drive| drive_index(drive, profile))
                            .ok_or_else(|| RedfishError::PropertyValueNotInList {
                                property: "Links/Drives".into(),
                                value: uri.to_string(),
                            })?;
                        indices.push(index);
                    }
                    drives = Some(indices);
                }
            }
            // Deprecated in favour of RAIDType; older clients send it beside RAIDType.
            "VolumeType" => {}
            "@Redfish.OperationApplyTime" => {
                if value.as_str() != Some("Immediate") {
                    return Err(RedfishError::PropertyValueNotInList {
                        property: key.clone(),
                        value: value.to_string(),
                    });
                }
            }
            other => {
                return Err(RedfishError::PropertyUnknown {
                    property: other.to_string(),
                });
            }
        }
    }
    request.raid_type = raid_type
        .ok_or_else(|| RedfishError::CreateFailedMissingReqProperties {
            property: "RAIDType".into(),
        })?
        .to_string();
    request.drives = drives.ok_or_else(|| RedfishError::CreateFailedMissingReqProperties {
        property: "Links/Drives".into(),
    })?;
    Ok(request)
}

/// The Base message for a refused volume request, naming the property at fault.
fn refusal_error(refusal: RaidRefusal) -> RedfishError {
    match refusal {
        RaidRefusal::NoController => RedfishError::PropertyValueIncorrect {
            property: "RAIDType".into(),
            value: "any".into(),
            reason: refusal.to_string(),
        },
        RaidRefusal::LevelUnsupported { ref raid_type, .. } => {
            RedfishError::PropertyValueNotInList {
                property: "RAIDType".into(),
                value: raid_type.clone(),
            }
        }
        RaidRefusal::NoDrives => RedfishError::CreateFailedMissingReqProperties {
            property: "Links/Drives".into(),
        },
        RaidRefusal::UnknownDrive { index }
        | RaidRefusal::DuplicateDrive { index }
        | RaidRefusal::DriveInUse { index, .. } => RedfishError::PropertyValueIncorrect {
            property: "Links/Drives".into(),
            value: drive_id(index),
            reason: refusal.to_string(),
        },
        RaidRefusal::DriveCount { got, .. } => RedfishError::PropertyValueIncorrect {
            property: "Links/Drives".into(),
            value: format!("{got} drives"),
            reason: refusal.to_string(),
        },
        RaidRefusal::Capacity { requested, .. } => RedfishError::PropertyValueOutOfRange {
            property: "CapacityBytes".into(),
            value: requested.to_string(),
        },
        RaidRefusal::NoSuchVolume { id } => RedfishError::NotFound {
            uri: format!("Volumes/{id}"),
        },
    }
}

/// `POST /redfish/v1/Systems/{id}/Storage/{storage}/Volumes`: builds a RAID volume now (201 with
/// its `Location`); a request refused in any part builds nothing.
pub async fn create_volume(
    State(state): State<RedfishState>,
    Path((id, storage)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, RedfishError> {
    let uri = format!("{}/Storage/{storage}/Volumes", base(&id));
    if storage != STORAGE_ID {
        return Err(RedfishError::NotFound { uri });
    }
    let body = document::parse_object(&body)?;
    let created = state.write_system(&id, |ctx, now| {
        let request = volume_request(ctx.id, ctx.profile, &body)?;
        let volume = ctx
            .machine
            .create_volume(now, request)
            .map_err(|e| match e {
                MachineError::RaidRefused(refusal) => refusal_error(refusal),
                other => RedfishError::Internal {
                    reason: other.to_string(),
                },
            })?;
        tracing::info!(system = %ctx.id, volume = volume.id, level = volume.level.as_str(), drives = ?volume.drives, "redfish RAID volume created");
        Ok::<_, RedfishError>(volume_body(ctx.id, &volume))
    })??;
    let location = created["@odata.id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    Ok(Document::created(created, ALLOW_GET_DELETE, location).into_response())
}

/// `DELETE /redfish/v1/Systems/{id}/Storage/{storage}/Volumes/{volume}`: frees its drives (204).
pub async fn delete_volume(
    State(state): State<RedfishState>,
    Path((id, storage, volume)): Path<(String, String, String)>,
) -> Result<Response, RedfishError> {
    let uri = format!("{}/Storage/{storage}/Volumes/{volume}", base(&id));
    let n: u64 = volume
        .parse()
        .ok()
        .filter(|n: &u64| storage == STORAGE_ID && n.to_string() == volume)
        .ok_or_else(|| RedfishError::NotFound { uri: uri.clone() })?;
    state.write_system(&id, |ctx, now| {
        ctx.machine
            .delete_volume(now, n)
            .map_err(|_| RedfishError::NotFound { uri: uri.clone() })?;
        tracing::info!(system = %ctx.id, volume = n, "redfish RAID volume deleted");
        Ok::<_, RedfishError>(())
    })??;
    Ok(document::no_content(ALLOW_GET_DELETE))
}
