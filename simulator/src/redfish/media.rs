//! VirtualMedia slots (Cd, Floppy), reachable both under `Systems/{id}` and under `Managers/{id}`
//! (vendors differ; both name the same slots of the same machine): GET, PATCH and the
//! `VirtualMedia.InsertMedia` / `VirtualMedia.EjectMedia` actions.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::document::{self, ALLOW_GET, ALLOW_GET_PATCH, ALLOW_POST, Document};
use super::error::RedfishError;
use super::metadata::types;
use super::service::{RedfishState, SystemCtx};
use crate::machine::{MachineError, MediaSlot};

/// Which resource the slots are reached through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parent {
    /// `/redfish/v1/Systems/{id}/VirtualMedia`.
    System,
    /// `/redfish/v1/Managers/{id}/VirtualMedia`.
    Manager,
}

impl Parent {
    fn collection_uri(self, id: &str) -> String {
        match self {
            Parent::System => format!("/redfish/v1/Systems/{id}/VirtualMedia"),
            Parent::Manager => format!("/redfish/v1/Managers/{id}/VirtualMedia"),
        }
    }
}

fn slot_of(parent: Parent, id: &str, slot: &str) -> Result<MediaSlot, RedfishError> {
    MediaSlot::parse(slot).ok_or_else(|| RedfishError::NotFound {
        uri: format!("{}/{slot}", parent.collection_uri(id)),
    })
}

fn media_body(ctx: &SystemCtx<'_>, parent: Parent, slot: MediaSlot) -> Value {
    let uri = format!("{}/{}", parent.collection_uri(ctx.id), slot.as_str());
    let m = ctx.machine.media(slot);
    let (name, media_types) = match slot {
        MediaSlot::Cd => ("Virtual CD", json!(["CD", "DVD"])),
        MediaSlot::Floppy => ("Virtual Removable Media", json!(["Floppy", "USBStick"])),
    };
    let image_name = m
        .image
        .as_deref()
        .map(|u| u.rsplit('/').next().unwrap_or(u).to_string());
    let mut body = json!({
        "@odata.id": uri,
        "@odata.type": types::VIRTUAL_MEDIA,
        "Id": slot.as_str(),
        "Name": name,
        "MediaTypes": media_types,
        "Image": m.image,
        "ImageName": image_name,
        "Inserted": m.inserted(),
        "WriteProtected": m.write_protected,
        "ConnectedVia": if m.connected { "URI" } else { "NotConnected" },
        "Actions": {
            "#VirtualMedia.InsertMedia": {"target": format!("{uri}/Actions/VirtualMedia.InsertMedia")},
            "#VirtualMedia.EjectMedia": {"target": format!("{uri}/Actions/VirtualMedia.EjectMedia")},
        },
    });
    if let Some(image) = &m.image {
        let protocol = if image.starts_with("https://") {
            "HTTPS"
        } else {
            "HTTP"
        };
        body["TransferProtocolType"] = json!(protocol);
    }
    body
}

fn collection(state: &RedfishState, parent: Parent, id: &str) -> Result<Document, RedfishError> {
    state.read_system(id, |_| ())?;
    let uri = parent.collection_uri(id);
    let members: Vec<Value> = MediaSlot::ALL
        .iter()
        .map(|s| json!({"@odata.id": format!("{uri}/{}", s.as_str())}))
        .collect();
    Ok(Document::ok(
        json!({
            "@odata.id": uri,
            "@odata.type": types::VIRTUAL_MEDIA_COLLECTION,
            "Name": "Virtual Media Services",
            "Members@odata.count": members.len(),
            "Members": members,
        }),
        ALLOW_GET,
    ))
}

fn get(
    state: &RedfishState,
    parent: Parent,
    id: &str,
    slot: &str,
) -> Result<Document, RedfishError> {
    let slot = slot_of(parent, id, slot)?;
    let body = state.read_system(id, |ctx| media_body(ctx, parent, slot))?;
    Ok(Document::ok(body, ALLOW_GET_PATCH))
}

/// Checks an image URL: absolute http or https with a host.
fn check_image(property: &str, image: &str) -> Result<(), RedfishError> {
    let ok = url::Url::parse(image)
        .ok()
        .is_some_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
    if ok {
        Ok(())
    } else {
        Err(RedfishError::PropertyValueNotInList {
            property: property.to_string(),
            value: image.to_string(),
        })
    }
}

fn bool_param(map: &Map<String, Value>, key: &str, default: bool) -> Result<bool, RedfishError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(RedfishError::PropertyValueTypeError {
            property: key.to_string(),
            value: other.to_string(),
        }),
    }
}

fn busy(e: MachineError) -> RedfishError {
    RedfishError::Conflict {
        reason: e.to_string(),
    }
}

fn insert(
    state: &RedfishState,
    parent: Parent,
    id: &str,
    slot: &str,
    body: &[u8],
) -> Result<Response, RedfishError> {
    let slot = slot_of(parent, id, slot)?;
    let request = document::parse_object(body)?;
    let image = match request.get("Image") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => {
            return Err(RedfishError::PropertyValueTypeError {
                property: "Image".into(),
                value: other.to_string(),
            });
        }
        None => {
            return Err(RedfishError::ActionParameterMissing {
                action: "VirtualMedia.InsertMedia".into(),
                parameter: "Image".into(),
            });
        }
    };
    check_image("Image", &image)?;
    let inserted = bool_param(&request, "Inserted", true)?;
    let write_protected = bool_param(&request, "WriteProtected", true)?;
    state.write_system(id, |ctx, now| {
        if !inserted {
            ctx.machine.eject_media(now, slot);
            return Ok(());
        }
        ctx.machine
            .insert_media(now, slot, &image, write_protected)
            .map_err(busy)?;
        tracing::info!(system = %ctx.id, slot = slot.as_str(), image = %image, "redfish virtual media inserted");
        Ok(())
    })??;
    Ok(document::no_content(ALLOW_POST))
}

fn eject(
    state: &RedfishState,
    parent: Parent,
    id: &str,
    slot: &str,
) -> Result<Response, RedfishError> {
    let slot = slot_of(parent, id, slot)?;
    state.write_system(id, |ctx, now| {
        ctx.machine.eject_media(now, slot);
        tracing::info!(system = %ctx.id, slot = slot.as_str(), "redfish virtual media ejected");
    })?;
    Ok(document::no_content(ALLOW_POST))
}

fn patch(
    state: &RedfishState,
    parent: Parent,
    id: &str,
    slot: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Document, RedfishError> {
    let slot = slot_of(parent, id, slot)?;
    let request = document::parse_object(body)?;
    let mut image: Option<Option<String>> = None;
    for (key, value) in &request {
        match key.as_str() {
            "Image" => match value {
                Value::Null => image = Some(None),
                Value::String(s) if s.is_empty() => image = Some(None),
                Value::String(s) => {
                    check_image("Image", s)?;
                    image = Some(Some(s.clone()));
                }
                other => {
                    return Err(RedfishError::PropertyValueTypeError {
                        property: "Image".into(),
                        value: other.to_string(),
                    });
                }
            },
            "Inserted" | "WriteProtected" => {
                bool_param(&request, key, true)?;
            }
            other => {
                return Err(RedfishError::PropertyNotWritable {
                    property: other.to_string(),
                });
            }
        }
    }
    let inserted = bool_param(&request, "Inserted", true)?;
    let write_protected = bool_param(&request, "WriteProtected", true)?;
    let uri = format!("{}/{}", parent.collection_uri(id), slot.as_str());
    let body = state.write_system(id, |ctx, now| {
        document::check_if_match(
            headers,
            &document::etag_of(&media_body(&ctx.view(), parent, slot)),
            &uri,
        )?;
        match (&image, inserted) {
            (Some(None), _) | (None, false) => {
                ctx.machine.eject_media(now, slot);
            }
            (Some(Some(url)), true) => {
                ctx.machine
                    .insert_media(now, slot, url, write_protected)
                    .map_err(busy)?;
            }
            (Some(Some(_)), false) => {
                ctx.machine.eject_media(now, slot);
            }
            (None, true) => {}
        }
        Ok(media_body(&ctx.view(), parent, slot))
    })??;
    Ok(Document::ok(body, ALLOW_GET_PATCH))
}

/// `GET /redfish/v1/Systems/{id}/VirtualMedia`.
pub async fn system_collection(
    State(state): State<RedfishState>,
    Path(id): Path<String>,
) -> Result<Document, RedfishError> {
    collection(&state, Parent::System, &id)
}

/// `GET /redfish/v1/Managers/{id}/VirtualMedia`.
pub async fn manager_collection(
    State(state): State<RedfishState>,
    Path(id): Path<String>,
) -> Result<Document, RedfishError> {
    collection(&state, Parent::Manager, &id)
}

/// `GET /redfish/v1/Systems/{id}/VirtualMedia/{slot}`.
pub async fn system_get(
    State(state): State<RedfishState>,
    Path((id, slot)): Path<(String, String)>,
) -> Result<Document, RedfishError> {
    get(&state, Parent::System, &id, &slot)
}

/// `GET /redfish/v1/Managers/{id}/VirtualMedia/{slot}`.
pub async fn manager_get(
    State(state): State<RedfishState>,
    Path((id, slot)): Path<(String, String)>,
) -> Result<Document, RedfishError> {
    get(&state, Parent::Manager, &id, &slot)
}

/// `PATCH /redfish/v1/Systems/{id}/VirtualMedia/{slot}`.
pub async fn system_patch(
    State(state): State<RedfishState>,
    Path((id, slot)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Document, RedfishError> {
    patch(&state, Parent::System, &id, &slot, &headers, &body)
}

/// `PATCH /redfish/v1/Managers/{id}/VirtualMedia/{slot}`.
pub async fn manager_patch(
    State(state): State<RedfishState>,
    Path((id, slot)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Document, RedfishError> {
    patch(&state, Parent::Manager, &id, &slot, &headers, &body)
}

/// `POST .../Systems/{id}/VirtualMedia/{slot}/Actions/VirtualMedia.InsertMedia`.
pub async fn system_insert(
    State(state): State<RedfishState>,
    Path((id, slot)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, RedfishError> {
    insert(&state, Parent::System, &id, &slot, &body)
}

/// `POST .../Managers/{id}/VirtualMedia/{slot}/Actions/VirtualMedia.InsertMedia`.
pub async fn manager_insert(
    State(state): State<RedfishState>,
    Path((id, slot)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, RedfishError> {
    insert(&state, Parent::Manager, &id, &slot, &body)
}

/// `POST .../Systems/{id}/VirtualMedia/{slot}/Actions/VirtualMedia.EjectMedia`.
pub async fn system_eject(
    State(state): State<RedfishState>,
    Path((id, slot)): Path<(String, String)>,
) -> Result<Response, RedfishError> {
    eject(&state, Parent::System, &id, &slot)
}

/// `POST .../Managers/{id}/VirtualMedia/{slot}/Actions/VirtualMedia.EjectMedia`.
pub async fn manager_eject(
    State(state): State<RedfishState>,
    Path((id, slot)): Path<(String, String)>,
) -> Result<Response, RedfishError> {
    eject(&state, Parent::Manager, &id, &slot)
}
