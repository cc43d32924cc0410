//! Bios (current attributes, `@Redfish.Settings` with pending attributes applied at the next
//! reset, `Bios.ResetBios`) and SecureBoot.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::document::{self, ALLOW_GET, ALLOW_GET_PATCH, ALLOW_POST, Document};
use super::error::RedfishError;
use super::metadata::types;
use super::service::{RedfishState, SystemCtx};
use crate::machine::{BiosRefusal, BiosValue, MachineError};

fn bios_uri(id: &str) -> String {
    format!("/redfish/v1/Systems/{id}/Bios")
}

fn attributes(values: &BTreeMap<String, BiosValue>) -> Value {
    Value::Object(
        values
            .iter()
            .map(|(k, v)| (k.clone(), v.to_json()))
            .collect(),
    )
}

/// The current-settings Bios document.
fn bios_body(ctx: &SystemCtx<'_>) -> Value {
    let uri = bios_uri(ctx.id);
    json!({
        "@odata.id": uri,
        "@odata.type": types::BIOS,
        "Id": "BIOS",
        "Name": "BIOS Configuration Current Settings",
        "Description": format!(
            "{} {}",
            ctx.profile.bios.vendor,
            ctx.bios_version.unwrap_or(&ctx.profile.bios.version)
        ),
        "AttributeRegistry": ctx.machine.bios().registry.id,
        "Attributes": attributes(&ctx.machine.bios().current),
        "@Redfish.Settings": {
            "@odata.type": types::SETTINGS,
            "SettingsObject": {"@odata.id": format!("{uri}/Settings")},
            "SupportedApplyTimes": ["OnReset"],
        },
        "Actions": {
            "#Bios.ResetBios": {"target": format!("{uri}/Actions/Bios.ResetBios")},
        },
    })
}

/// The pending-settings document: current values overlaid with what waits for the next reset.
fn settings_body(ctx: &SystemCtx<'_>) -> Value {
    let bios = ctx.machine.bios();
    let mut merged = bios.current.clone();
    merged.extend(bios.pending.clone());
    json!({
        "@odata.id": format!("{}/Settings", bios_uri(ctx.id)),
        "@odata.type": types::BIOS,
        "Id": "Settings",
        "Name": "BIOS Configuration Pending Settings",
        "Attributes": attributes(&merged),
    })
}

/// `GET /redfish/v1/Systems/{id}/Bios`.
pub async fn get(
    State(state): State<RedfishState>,
    Path(id): Path<String>,
) -> Result<Document, RedfishError> {
    Ok(Document::ok(state.read_system(&id, bios_body)?, ALLOW_GET))
}

/// `GET /redfish/v1/Systems/{id}/Bios/Settings`.
pub async fn get_settings(
    State(state): State<RedfishState>,
    Path(id): Path<String>,
) -> Result<Document, RedfishError> {
    Ok(Document::ok(
        state.read_system(&id, settings_body)?,
        ALLOW_GET_PATCH,
    ))
}

/// A PATCH's `Attributes` as BIOS values (JSON booleans, text and integers; other types refused
/// naming `Attributes/<name>`).
pub fn to_bios_values(
    attrs: &Map<String, Value>,
) -> Result<BTreeMap<String, BiosValue>, RedfishError> {
    attrs
        .iter()
        .map(|(k, v)| {
            let value = match v {
                Value::Bool(b) => BiosValue::Bool(*b),
                Value::String(s) => BiosValue::Text(s.clone()),
                Value::Number(n) => BiosValue::Int(n.as_i64().ok_or_else(|| {
                    RedfishError::PropertyValueTypeError {
                        property: format!("Attributes/{k}"),
                        value: v.to_string(),
                    }
                })?),
                other => {
                    return Err(RedfishError::PropertyValueTypeError {
                        property: format!("Attributes/{k}"),
                        value: other.to_string(),
                    });
                }
            };
            Ok((k.clone(), value))
        })
        .collect()
}

/// The Base registry message for a value the attribute registry refuses, naming the attribute as
/// `Attributes/<name>`.
fn refusal_error(refusal: &BiosRefusal) -> RedfishError {
    let property = format!("Attributes/{}", refusal.attribute());
    match refusal {
        BiosRefusal::Unknown { .. } => RedfishError::PropertyUnknown { property },
        BiosRefusal::ReadOnly { .. } => RedfishError::PropertyNotWritable { property },
        BiosRefusal::WrongType { value, .. } => RedfishError::PropertyValueTypeError {
            property,
            value: value.clone(),
        },
        BiosRefusal::OutOfRange { value, .. } => RedfishError::PropertyValueOutOfRange {
            property,
            value: value.to_string(),
        },
        BiosRefusal::NotInList { value, .. } => RedfishError::PropertyValueNotInList {
            property,
            value: value.clone(),
        },
        BiosRefusal::BadLength {
            length, max_length, ..
        } if length > max_length => RedfishError::StringValueTooLong {
            property,
            length: *max_length,
        },
        BiosRefusal::BadLength { length, .. } => RedfishError::PropertyValueFormatError {
            property,
            value: format!("a string of {length} characters"),
        },
    }
}

/// The Redfish error for a machine's refusal of a BIOS patch.
pub fn machine_refusal(e: MachineError) -> RedfishError {
    match e {
        MachineError::BiosSettingRefused(refusal) => refusal_error(&refusal),
        other => RedfishError::Internal {
            reason: other.to_string(),
        },
    }
}

/// `PATCH /redfish/v1/Systems/{id}/Bios/Settings`: queues `Attributes` for the next reset.
pub async fn patch_settings(
    State(state): State<RedfishState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Document, RedfishError> {
    let request = document::parse_object(&body)?;
    let mut changes = BTreeMap::new();
    for (key, value) in &request {
        match key.as_str() {
            "Attributes" => {
                let attrs =
                    value
                        .as_object()
                        .ok_or_else(|| RedfishError::PropertyValueTypeError {
                            property: "Attributes".into(),
                            value: value.to_string(),
                        })?;
                changes = to_bios_values(attrs)?;
            }
            "@Redfish.SettingsApplyTime" => {}
            other => {
                return Err(RedfishError::PropertyNotWritable {
                    property: other.to_string(),
                });
            }
        }
    }
    let uri = format!("{}/Settings", bios_uri(&id));
    let body = state.write_system(&id, |ctx, now| {
        document::check_if_match(&headers, &document::etag_of(&settings_body(&ctx.view())), &uri)?;
        let names: Vec<String> = changes.keys().cloned().collect();
        ctx.machine
            .patch_bios(now, changes)
            .map_err(machine_refusal)?;
        tracing::info!(system = %ctx.id, attributes = ?names, "redfish BIOS settings queued for the next reset");
        Ok(settings_body(&ctx.view()))
    })??;
    Ok(Document::ok(body, ALLOW_GET_PATCH))
}

/// `POST /redfish/v1/Systems/{id}/Bios/Actions/Bios.ResetBios`: factory defaults at the next reset.
pub async fn reset_bios(
    State(state): State<RedfishState>,
    Path(id): Path<String>,
) -> Result<Response, RedfishError> {
    state.write_system(&id, |ctx, now| {
        ctx.machine.reset_bios_to_defaults(now);
        tracing::info!(system = %ctx.id, "redfish BIOS defaults queued for the next reset");
    })?;
    Ok(document::no_content(ALLOW_POST))
}

fn secure_boot_body(ctx: &SystemCtx<'_>) -> Value {
    let enabled = ctx.machine.secure_boot();
    json!({
        "@odata.id": format!("/redfish/v1/Systems/{}/SecureBoot", ctx.id),
        "@odata.type": types::SECURE_BOOT,
        "Id": "SecureBoot",
        "Name": "UEFI Secure Boot",
        "SecureBootEnable": enabled,
        "SecureBootCurrentBoot": if enabled { "Enabled" } else { "Disabled" },
        "SecureBootMode": "DeployedMode",
    })
}

/// `GET /redfish/v1/Systems/{id}/SecureBoot`.
pub async fn get_secure_boot(
    State(state): State<RedfishState>,
    Path(id): Path<String>,
) -> Result<Document, RedfishError> {
    Ok(Document::ok(
        state.read_system(&id, secure_boot_body)?,
        ALLOW_GET_PATCH,
    ))
}

/// `PATCH /redfish/v1/Systems/{id}/SecureBoot`: `SecureBootEnable` (UEFI mode only).
pub async fn patch_secure_boot(
    State(state): State<RedfishState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Document, RedfishError> {
    let request = document::parse_object(&body)?;
    let mut enable = None;
    for (key, value) in &request {
        match key.as_str() {
            "SecureBootEnable" => {
                enable =
                    Some(
                        value
                            .as_bool()
                            .ok_or_else(|| RedfishError::PropertyValueTypeError {
                                property: key.clone(),
                                value: value.to_string(),
                            })?,
                    )
            }
            other => {
                return Err(RedfishError::PropertyNotWritable {
                    property: other.to_string(),
                });
            }
        }
    }
    let uri = format!("/redfish/v1/Systems/{id}/SecureBoot");
    let body = state.write_system(&id, |ctx, now| {
        document::check_if_match(
            &headers,
            &document::etag_of(&secure_boot_body(&ctx.view())),
            &uri,
        )?;
        if let Some(enable) = enable {
            ctx.machine.set_secure_boot(now, enable).map_err(|e| {
                RedfishError::ActionNotPossible {
                    action: "SecureBoot PATCH".into(),
                    reason: e.to_string(),
                }
            })?;
            tracing::info!(system = %ctx.id, enable, "redfish secure boot changed");
        }
        Ok(secure_boot_body(&ctx.view()))
    })??;
    Ok(Document::ok(body, ALLOW_GET_PATCH))
}
