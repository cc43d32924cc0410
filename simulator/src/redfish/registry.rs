//! Registries: the BIOS attribute registry of each hardware profile served here, as a
//! `MessageRegistryFile` under `/redfish/v1/Registries` whose location holds the
//! `AttributeRegistry` document (what `Bios.AttributeRegistry` names and sushy's
//! `bios.get_attribute_registry()` reads).

use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::document::{ALLOW_GET, Document};
use super::error::RedfishError;
use super::metadata::types;
use super::service::RedfishState;
use crate::machine::{AttributeType, BIOS_REGISTRY_VERSION, BiosRegistry, HardwareProfile};

const REGISTRIES: &str = "/redfish/v1/Registries";

/// One registry per distinct hardware profile of the hosts served here, in id order, with the
/// profile it was built from.
fn registries(state: &RedfishState) -> Vec<(BiosRegistry, &HardwareProfile)> {
    let mut out: Vec<(BiosRegistry, &HardwareProfile)> = Vec::new();
    for host in state.hosts() {
        if out.iter().all(|(_, p)| p.profile != host.profile.profile) {
            out.push((BiosRegistry::for_profile(&host.profile), &host.profile));
        }
    }
    out.sort_by(|a, b| a.0.id.cmp(&b.0.id));
    out
}

/// The registry file's id: the registry name without its version.
fn file_id(registry: &BiosRegistry) -> &str {
    registry
        .id
        .strip_suffix(&format!(".{BIOS_REGISTRY_VERSION}"))
        .unwrap_or(&registry.id)
}

fn find(state: &RedfishState, file: &str) -> Option<(BiosRegistry, HardwareProfile)> {
    registries(state)
        .into_iter()
        .find(|(r, _)| file_id(r) == file)
        .map(|(r, p)| (r, p.clone()))
}

/// `GET /redfish/v1/Registries`.
pub async fn collection(State(state): State<RedfishState>) -> Document {
    let members: Vec<Value> = registries(&state)
        .iter()
        .map(|(r, _)| json!({"@odata.id": format!("{REGISTRIES}/{}", file_id(r))}))
        .collect();
    Document::ok(
        json!({
            "@odata.id": REGISTRIES,
            "@odata.type": types::MESSAGE_REGISTRY_FILE_COLLECTION,
            "Name": "Registry File Collection",
            "Members@odata.count": members.len(),
            "Members": members,
        }),
        ALLOW_GET,
    )
}

/// `GET /redfish/v1/Registries/{file}`: where the registry of one profile is.
pub async fn file(
    State(state): State<RedfishState>,
    Path(file): Path<String>,
) -> Result<Document, RedfishError> {
    let uri = format!("{REGISTRIES}/{file}");
    let (registry, _) = find(&state, &file).ok_or(RedfishError::NotFound { uri: uri.clone() })?;
    let major_minor = registry
        .id
        .rsplit_once('.')
        .map_or(registry.id.as_str(), |(head, _)| head);
    // `Registry` is the name with major and minor version only (`MetalSimBios_compute.1.0`).
    Ok(Document::ok(
        json!({
            "@odata.id": uri,
            "@odata.type": types::MESSAGE_REGISTRY_FILE,
            "Id": file,
            "Name": "BIOS Attribute Registry File",
            "Description": "Where the BIOS attribute registry of one hardware profile is",
            "Languages": ["en"],
            "Registry": major_minor,
            "Location": [{"Language": "en", "Uri": format!("{uri}/{}", registry.id)}],
        }),
        ALLOW_GET,
    ))
}

/// `GET /redfish/v1/Registries/{file}/{registry}`: the AttributeRegistry document.
pub async fn attribute_registry(
    State(state): State<RedfishState>,
    Path((file, id)): Path<(String, String)>,
) -> Result<Document, RedfishError> {
    let uri = format!("{REGISTRIES}/{file}/{id}");
    let (registry, profile) = find(&state, &file)
        .filter(|(r, _)| r.id == id)
        .ok_or(RedfishError::NotFound { uri: uri.clone() })?;
    Ok(Document::ok(body(&uri, &registry, &profile), ALLOW_GET))
}

/// The registry's `RegistryEntries.Attributes`, as served (also read by engine mode, which has
/// no HTTP between the mock Ironic and the BMC).
pub fn attribute_entries(registry: &BiosRegistry) -> Vec<Value> {
    registry
        .attributes
        .iter()
        .map(|a| {
            let mut entry = json!({
                "AttributeName": a.name,
                "DisplayName": a.display_name,
                "Type": a.kind.as_str(),
                "ReadOnly": a.read_only,
                "ResetRequired": true,
                "DefaultValue": a.default.to_json(),
            });
            match &a.kind {
                AttributeType::Boolean => {}
                AttributeType::Integer { lower, upper } => {
                    entry["LowerBound"] = json!(lower);
                    entry["UpperBound"] = json!(upper);
                }
                AttributeType::Enumeration { values } => {
                    entry["Value"] = values
                        .iter()
                        .map(|v| json!({"ValueName": v, "ValueDisplayName": v}))
                        .collect();
                }
                AttributeType::String {
                    min_length,
                    max_length,
                } => {
                    entry["MinLength"] = json!(min_length);
                    entry["MaxLength"] = json!(max_length);
                }
            }
            entry
        })
        .collect()
}

fn body(uri: &str, registry: &BiosRegistry, profile: &HardwareProfile) -> Value {
    let attributes = attribute_entries(registry);
    json!({
        "@odata.id": uri,
        "@odata.type": types::ATTRIBUTE_REGISTRY,
        "Id": registry.id,
        "Name": format!("BIOS Attribute Registry of profile {}", profile.profile),
        "Language": "en",
        "OwningEntity": profile.bios.vendor,
        "RegistryVersion": BIOS_REGISTRY_VERSION,
        "SupportedSystems": [{
            "ProductName": profile.system.model,
            "SystemId": profile.profile,
            "FirmwareVersion": profile.bios.version,
        }],
        "RegistryEntries": {"Attributes": attributes},
    })
}
