//! ComputerSystem: the collection, the system resource (power, boot override, boot order,
//! summaries, links), PATCH of `Boot`, the `ComputerSystem.Reset` action and its ActionInfo, and the
//! BootOptions the boot order refers to.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::document::{self, ALLOW_GET, ALLOW_GET_PATCH, ALLOW_POST, Document};
use super::error::RedfishError;
use super::metadata::types;
use super::service::{RedfishState, SystemCtx};
use crate::machine::{Ack, BootMode, BootSource, Machine, MachineError, OverrideMode, SimTime};

/// Reset types the service accepts, in the order ActionInfo lists them.
pub const RESET_TYPES: &[&str] = &[
    "On",
    "ForceOn",
    "ForceOff",
    "GracefulShutdown",
    "GracefulRestart",
    "ForceRestart",
    "PowerCycle",
    "Nmi",
    "PushPowerButton",
];

/// `BootSourceOverrideTarget` values the service accepts (`None` clears the override).
fn override_targets() -> Vec<&'static str> {
    let mut v = vec!["None"];
    v.extend(BootSource::ALL.iter().map(|s| s.as_str()));
    v
}

/// The boot option reference (`Boot000N`) naming a boot source in `BootOrder`.
pub fn boot_reference(source: BootSource) -> String {
    let index = BootSource::ALL
        .iter()
        .position(|s| *s == source)
        .unwrap_or_default();
    format!("Boot{:04X}", index + 1)
}

fn source_of_reference(reference: &str) -> Option<BootSource> {
    let hex = reference.strip_prefix("Boot")?;
    let n = usize::from_str_radix(hex, 16).ok()?;
    BootSource::ALL.get(n.checked_sub(1)?).copied()
}

fn system_uri(id: &str) -> String {
    format!("/redfish/v1/Systems/{id}")
}

/// The ComputerSystem document. It reads the machine only through what
/// [`super::rendered::SystemKey`] compares (power, boot override, boot mode, boot order, BIOS
/// version, health): `GET` serves a cached rendering while those are unchanged.
pub fn system_body(ctx: &SystemCtx<'_>) -> Value {
    let id = ctx.id;
    let uri = system_uri(id);
    let p = ctx.profile;
    let m = ctx.machine;
    let o = m.boot_override();
    let (target, enabled) = if o.is_active() {
        (o.target.as_str(), o.mode.as_str())
    } else {
        ("None", OverrideMode::Disabled.as_str())
    };
    let boot_order: Vec<String> = m.boot_order().iter().map(|s| boot_reference(*s)).collect();
    let memory_gib = p.memory.total_mib as f64 / 1024.0;
    let pcie: Vec<Value> = (0..p.pcie.len())
        .map(|i| json!({"@odata.id": format!("{uri}/PCIeDevices/{}", i + 1)}))
        .collect();
    json!({
        "@odata.id": uri,
        "@odata.type": types::SYSTEM,
        "Id": id,
        "Name": ctx.name,
        "Description": format!("Simulated {} {}", p.system.vendor, p.system.model),
        "SystemType": "Physical",
        "UUID": p.system.uuid.to_string(),
        "Manufacturer": p.system.vendor,
        "Model": p.system.model,
        "SerialNumber": p.system.serial,
        "SKU": p.system.sku,
        "HostName": ctx.name,
        "BiosVersion": ctx.bios_version.unwrap_or(&p.bios.version),
        "PowerState": m.power().as_str(),
        "Status": {
            "State": "Enabled",
            "Health": ctx.health().as_str(),
            "HealthRollup": ctx.health().as_str(),
        },
        "Boot": {
            "BootSourceOverrideTarget": target,
            "BootSourceOverrideTarget@Redfish.AllowableValues": override_targets(),
            "BootSourceOverrideEnabled": enabled,
            "BootSourceOverrideEnabled@Redfish.AllowableValues": ["Disabled", "Once", "Continuous"],
            "BootSourceOverrideMode": m.boot_mode().as_str(),
            "BootSourceOverrideMode@Redfish.AllowableValues": ["UEFI", "Legacy"],
            "BootOrder": boot_order,
            "BootOptions": {"@odata.id": format!("{uri}/BootOptions")},
        },
        "ProcessorSummary": {
            "Count": p.cpu.count,
            "CoreCount": p.cpu.count.saturating_mul(p.cpu.cores),
            "LogicalProcessorCount": p.cpu_threads(),
            "Model": p.cpu.model,
        },
        "MemorySummary": {
            "TotalSystemMemoryGiB": memory_gib,
        },
        "Processors": {"@odata.id": format!("{uri}/Processors")},
        "Memory": {"@odata.id": format!("{uri}/Memory")},
        "Storage": {"@odata.id": format!("{uri}/Storage")},
        "EthernetInterfaces": {"@odata.id": format!("{uri}/EthernetInterfaces")},
        "VirtualMedia": {"@odata.id": format!("{uri}/VirtualMedia")},
        "Bios": {"@odata.id": format!("{uri}/Bios")},
        "SecureBoot": {"@odata.id": format!("{uri}/SecureBoot")},
        "PCIeDevices": pcie,
        "PCIeDevices@odata.count": p.pcie.len(),
        "Links": {
            "Chassis": [{"@odata.id": format!("/redfish/v1/Chassis/{id}")}],
            "ManagedBy": [{"@odata.id": format!("/redfish/v1/Managers/{id}")}],
        },
        "Actions": {
            "#ComputerSystem.Reset": {
                "target": format!("{uri}/Actions/ComputerSystem.Reset"),
                "ResetType@Redfish.AllowableValues": RESET_TYPES,
                "@Redfish.ActionInfo": format!("{uri}/ResetActionInfo"),
            }
        },
    })
}

/// `GET /redfish/v1/Systems`.
pub async fn list(State(state): State<RedfishState>) -> Document {
    let members: Vec<Value> = state
        .system_ids()
        .map(|id| json!({"@odata.id": system_uri(id)}))
        .collect();
    Document::ok(
        json!({
            "@odata.id": "/redfish/v1/Systems",
            "@odata.type": types::SYSTEM_COLLECTION,
            "Name": "Computer System Collection",
            "Members@odata.count": members.len(),
            "Members": members,
        }),
        ALLOW_GET,
    )
}

/// `GET /redfish/v1/Systems/{id}`, served from the rendered document while the machine shows the
/// same state (the ETag and bytes are those `Document::ok(system_body(..))` would give).
pub async fn get(
    State(state): State<RedfishState>,
    Path(id): Path<String>,
) -> Result<Response, RedfishError> {
    let rendered = state.read_system_rendered(&id, system_body)?;
    Ok(rendered.response(StatusCode::OK, ALLOW_GET_PATCH))
}

/// A validated change to `Boot`.
#[derive(Debug, Default, PartialEq)]
struct BootPatch {
    target: Option<Option<BootSource>>,
    enabled: Option<OverrideMode>,
    mode: Option<BootMode>,
    order: Option<Vec<BootSource>>,
}

fn string_field<'a>(key: &str, value: &'a Value) -> Result<&'a str, RedfishError> {
    value
        .as_str()
        .ok_or_else(|| RedfishError::PropertyValueTypeError {
            property: key.to_string(),
            value: value.to_string(),
        })
}

fn parse_boot(boot: &Map<String, Value>) -> Result<BootPatch, RedfishError> {
    let mut patch = BootPatch::default();
    for (key, value) in boot {
        let not_in_list = || RedfishError::PropertyValueNotInList {
            property: format!("Boot/{key}"),
            value: value.to_string(),
        };
        match key.as_str() {
            "BootSourceOverrideTarget" => {
                let s = string_field(key, value)?;
                patch.target = Some(if s == "None" {
                    None
                } else {
                    Some(BootSource::parse(s).ok_or_else(not_in_list)?)
                });
            }
            "BootSourceOverrideEnabled" => {
                let s = string_field(key, value)?;
                patch.enabled = Some(OverrideMode::parse(s).ok_or_else(not_in_list)?);
            }
            "BootSourceOverrideMode" => {
                let s = string_field(key, value)?;
                patch.mode = Some(BootMode::parse(s).ok_or_else(not_in_list)?);
            }
            "BootOrder" => {
                let items =
                    value
                        .as_array()
                        .ok_or_else(|| RedfishError::PropertyValueTypeError {
                            property: "Boot/BootOrder".into(),
                            value: value.to_string(),
                        })?;
                let order = items
                    .iter()
                    .map(|v| v.as_str().and_then(source_of_reference))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(not_in_list)?;
                patch.order = Some(order);
            }
            other => {
                return Err(RedfishError::PropertyNotWritable {
                    property: format!("Boot/{other}"),
                });
            }
        }
    }
    Ok(patch)
}

fn machine_refusal(action: &str, e: MachineError) -> RedfishError {
    match e {
        MachineError::PoweredOff { .. } | MachineError::InTransition { .. } => {
            RedfishError::Conflict {
                reason: e.to_string(),
            }
        }
        other => RedfishError::ActionNotPossible {
            action: action.to_string(),
            reason: other.to_string(),
        },
    }
}

/// Applies a boot patch with Redfish semantics: a target without `Enabled` keeps a live override's
/// duration (or starts `Once`); `None` or `Disabled` clears the override.
fn apply_boot(machine: &mut Machine, now: SimTime, patch: BootPatch) -> Result<(), RedfishError> {
    if let Some(order) = patch.order {
        machine
            .set_boot_order(now, order)
            .map_err(|e| RedfishError::PropertyValueNotInList {
                property: "Boot/BootOrder".into(),
                value: e.to_string(),
            })?;
    }
    if let Some(mode) = patch.mode {
        machine.set_boot_mode(now, mode);
    }
    let current = machine.boot_override();
    match (patch.target, patch.enabled) {
        (None, None) => {}
        (Some(None), _) | (_, Some(OverrideMode::Disabled)) => {
            machine.set_boot_override(now, current.target, OverrideMode::Disabled);
        }
        (Some(Some(target)), enabled) => {
            let mode = enabled.unwrap_or(if current.is_active() {
                current.mode
            } else {
                OverrideMode::Once
            });
            machine.set_boot_override(now, target, mode);
        }
        (None, Some(mode)) => {
            machine.set_boot_override(now, current.target, mode);
        }
    }
    Ok(())
}

/// `PATCH /redfish/v1/Systems/{id}`: `Boot` settings (with `If-Match`).
pub async fn patch(
    State(state): State<RedfishState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Document, RedfishError> {
    let request = document::parse_object(&body)?;
    let mut boot = None;
    for (key, value) in &request {
        match key.as_str() {
            "Boot" => {
                boot = Some(parse_boot(value.as_object().ok_or_else(|| {
                    RedfishError::PropertyValueTypeError {
                        property: "Boot".into(),
                        value: value.to_string(),
                    }
                })?)?)
            }
            other => {
                return Err(RedfishError::PropertyNotWritable {
                    property: other.to_string(),
                });
            }
        }
    }
    let uri = system_uri(&id);
    let body = state.write_system(&id, |ctx, now| {
        document::check_if_match(
            &headers,
            &document::etag_of(&system_body(&ctx.view())),
            &uri,
        )?;
        if let Some(patch) = boot {
            apply_boot(ctx.machine, now, patch)?;
        }
        tracing::info!(system = %ctx.id, "redfish boot settings changed");
        Ok(system_body(&ctx.view()))
    })??;
    Ok(Document::ok(body, ALLOW_GET_PATCH))
}

/// A `ResetType` of `ComputerSystem.Reset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetType {
    /// `On`.
    On,
    /// `ForceOn`.
    ForceOn,
    /// `ForceOff`.
    ForceOff,
    /// `GracefulShutdown`.
    GracefulShutdown,
    /// `GracefulRestart`.
    GracefulRestart,
    /// `ForceRestart`.
    ForceRestart,
    /// `PowerCycle`.
    PowerCycle,
    /// `Nmi`.
    Nmi,
    /// `PushPowerButton`.
    PushPowerButton,
}

impl ResetType {
    const ALL: [ResetType; 9] = [
        ResetType::On,
        ResetType::ForceOn,
        ResetType::ForceOff,
        ResetType::GracefulShutdown,
        ResetType::GracefulRestart,
        ResetType::ForceRestart,
        ResetType::PowerCycle,
        ResetType::Nmi,
        ResetType::PushPowerButton,
    ];

    /// Reads the Redfish spelling.
    pub fn parse(s: &str) -> Option<Self> {
        RESET_TYPES
            .iter()
            .position(|name| *name == s)
            .and_then(|i| Self::ALL.get(i).copied())
    }

    /// Performs this reset on a machine.
    pub fn apply(self, machine: &mut Machine, now: SimTime) -> Result<Ack, MachineError> {
        match self {
            ResetType::On | ResetType::ForceOn => machine.power_on(now),
            ResetType::ForceOff => machine.force_off(now),
            ResetType::GracefulShutdown => machine.graceful_shutdown(now),
            ResetType::GracefulRestart => machine.graceful_restart(now),
            ResetType::ForceRestart => machine.force_restart(now),
            ResetType::PowerCycle => machine.power_cycle(now),
            ResetType::Nmi => machine.nmi(now),
            ResetType::PushPowerButton => machine.push_power_button(now),
        }
    }
}

/// `POST /redfish/v1/Systems/{id}/Actions/ComputerSystem.Reset`.
pub async fn reset_action(
    State(state): State<RedfishState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, RedfishError> {
    let request = document::parse_object(&body)?;
    let not_in_list = |value: String| RedfishError::ActionParameterValueNotInList {
        action: "ComputerSystem.Reset".into(),
        parameter: "ResetType".into(),
        value,
    };
    let reset_type = match request.get("ResetType") {
        Some(Value::String(s)) => ResetType::parse(s).ok_or_else(|| not_in_list(s.clone()))?,
        Some(other) => return Err(not_in_list(other.to_string())),
        None => {
            return Err(RedfishError::ActionParameterMissing {
                action: "ComputerSystem.Reset".into(),
                parameter: "ResetType".into(),
            });
        }
    };
    let ack = state
        .power_system(&id, |m, now| reset_type.apply(m, now))?
        .map_err(|e| machine_refusal("ComputerSystem.Reset", e))?;
    tracing::info!(system = %id, reset = ?reset_type, ack = ?ack, "redfish reset");
    Ok(document::no_content(ALLOW_POST))
}

/// `GET /redfish/v1/Systems/{id}/ResetActionInfo`.
pub async fn reset_action_info(
    State(state): State<RedfishState>,
    Path(id): Path<String>,
) -> Result<Document, RedfishError> {
    state.read_system(&id, |_| ())?;
    Ok(Document::ok(
        json!({
            "@odata.id": format!("{}/ResetActionInfo", system_uri(&id)),
            "@odata.type": types::ACTION_INFO,
            "Id": "ResetActionInfo",
            "Name": "Reset Action Info",
            "Parameters": [{
                "Name": "ResetType",
                "Required": true,
                "DataType": "String",
                "AllowableValues": RESET_TYPES,
            }],
        }),
        ALLOW_GET,
    ))
}

fn option_name(ctx: &SystemCtx<'_>, source: BootSource) -> String {
    let nic = ctx.profile.boot_mac().unwrap_or("no PXE NIC");
    match source {
        BootSource::Pxe => format!("PXE boot from {nic}"),
        BootSource::Hdd => ctx
            .profile
            .disks
            .first()
            .map(|d| format!("Hard disk {}", d.name))
            .unwrap_or_else(|| "Hard disk (none installed)".into()),
        BootSource::Cd => "Virtual CD".into(),
        BootSource::Floppy => "Virtual floppy".into(),
        BootSource::UefiHttp => format!("UEFI HTTP boot from {nic}"),
        BootSource::BiosSetup => "Firmware setup".into(),
    }
}

/// `GET /redfish/v1/Systems/{id}/BootOptions`.
pub async fn list_boot_options(
    State(state): State<RedfishState>,
    Path(id): Path<String>,
) -> Result<Document, RedfishError> {
    state.read_system(&id, |_| ())?;
    let uri = format!("{}/BootOptions", system_uri(&id));
    let members: Vec<Value> = BootSource::ALL
        .iter()
        .map(|s| json!({"@odata.id": format!("{uri}/{}", boot_reference(*s))}))
        .collect();
    Ok(Document::ok(
        json!({
            "@odata.id": uri,
            "@odata.type": types::BOOT_OPTION_COLLECTION,
            "Name": "Boot Options",
            "Members@odata.count": members.len(),
            "Members": members,
        }),
        ALLOW_GET,
    ))
}

/// `GET /redfish/v1/Systems/{id}/BootOptions/{option}`.
pub async fn get_boot_option(
    State(state): State<RedfishState>,
    Path((id, option)): Path<(String, String)>,
) -> Result<Document, RedfishError> {
    let uri = format!("{}/BootOptions/{option}", system_uri(&id));
    let source = source_of_reference(&option)
        .filter(|s| boot_reference(*s) == option)
        .ok_or_else(|| RedfishError::NotFound { uri: uri.clone() })?;
    let body = state.read_system(&id, |ctx| {
        json!({
            "@odata.id": uri,
            "@odata.type": types::BOOT_OPTION,
            "Id": option,
            "Name": option_name(ctx, source),
            "BootOptionReference": option,
            "DisplayName": option_name(ctx, source),
            "Alias": source.as_str(),
            "BootOptionEnabled": ctx.machine.boot_order().contains(&source),
        })
    })?;
    Ok(Document::ok(body, ALLOW_GET))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_references_round_trip_for_every_source() {
        for s in BootSource::ALL {
            assert_eq!(source_of_reference(&boot_reference(s)), Some(s));
        }
        assert_eq!(source_of_reference("Boot0000"), None);
        assert_eq!(source_of_reference("Pxe"), None);
    }

    #[test]
    fn boot_patch_rejects_unknown_targets_and_properties() {
        let bad: Map<String, Value> =
            serde_json::from_str(r#"{"BootSourceOverrideTarget": "Tape"}"#).unwrap();
        assert!(matches!(
            parse_boot(&bad),
            Err(RedfishError::PropertyValueNotInList { .. })
        ));
        let unknown: Map<String, Value> = serde_json::from_str(r#"{"Wibble": 1}"#).unwrap();
        assert!(matches!(
            parse_boot(&unknown),
            Err(RedfishError::PropertyNotWritable { .. })
        ));
    }
}
