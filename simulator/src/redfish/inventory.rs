//! Hardware inventory of a system, read from its hardware profile: Processors, Memory,
//! EthernetInterfaces and PCIeDevices (GPUs included). Storage is in `storage`.

use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::document::{ALLOW_GET, Document};
use super::error::RedfishError;
use super::metadata::types;
use super::service::{RedfishState, SystemCtx};
use crate::machine::{HardwareProfile, PcieClass};

pub(super) fn enabled_ok() -> Value {
    json!({"State": "Enabled", "Health": "OK"})
}

pub(super) fn collection(
    uri: &str,
    odata_type: &str,
    name: &str,
    ids: impl Iterator<Item = String>,
) -> Value {
    let members: Vec<Value> = ids
        .map(|id| json!({"@odata.id": format!("{uri}/{id}")}))
        .collect();
    json!({
        "@odata.id": uri,
        "@odata.type": odata_type,
        "Name": name,
        "Members@odata.count": members.len(),
        "Members": members,
    })
}

pub(super) fn base(id: &str) -> String {
    format!("/redfish/v1/Systems/{id}")
}

/// Reads the profile of a system and builds a document from it (404 for an unknown member).
pub(super) fn from_profile(
    state: &RedfishState,
    system: &str,
    uri: String,
    build: impl FnOnce(&HardwareProfile) -> Option<Value>,
) -> Result<Document, RedfishError> {
    let body = state.read_system(system, |ctx: &SystemCtx<'_>| build(ctx.profile))?;
    body.map(|b| Document::ok(b, ALLOW_GET))
        .ok_or(RedfishError::NotFound { uri })
}

fn processor_arch(arch: &str) -> (&'static str, &'static str) {
    match arch {
        "aarch64" => ("ARM", "ARM-A64"),
        _ => ("x86", "x86-64"),
    }
}

/// `GET /redfish/v1/Systems/{id}/Processors`.
pub async fn processors(
    State(state): State<RedfishState>,
    Path(id): Path<String>,
) -> Result<Document, RedfishError> {
    let uri = format!("{}/Processors", base(&id));
    from_profile(&state, &id, uri.clone(), |p| {
        Some(collection(
            &uri,
            types::PROCESSOR_COLLECTION,
            "Processors Collection",
            (1..=p.cpu.count).map(|i| format!("CPU{i}")),
        ))
    })
}

/// `GET /redfish/v1/Systems/{id}/Processors/{cpu}`.
pub async fn processor(
    State(state): State<RedfishState>,
    Path((id, cpu)): Path<(String, String)>,
) -> Result<Document, RedfishError> {
    let uri = format!("{}/Processors/{cpu}", base(&id));
    from_profile(&state, &id, uri.clone(), |p| {
        let n: u32 = cpu.strip_prefix("CPU")?.parse().ok()?;
        if n == 0 || n > p.cpu.count || format!("CPU{n}") != cpu {
            return None;
        }
        let (arch, isa) = processor_arch(&p.cpu.arch);
        Some(json!({
            "@odata.id": uri,
            "@odata.type": types::PROCESSOR,
            "Id": cpu,
            "Name": format!("Processor {n}"),
            "Socket": format!("CPU {n}"),
            "ProcessorType": "CPU",
            "ProcessorArchitecture": arch,
            "InstructionSet": isa,
            "Manufacturer": if p.cpu.model.contains("AMD") { "AMD" } else if arch == "ARM" { "ARM" } else { "Intel(R) Corporation" },
            "Model": p.cpu.model,
            "MaxSpeedMHz": p.cpu.mhz,
            "OperatingSpeedMHz": p.cpu.mhz,
            "TotalCores": p.cpu.cores,
            "TotalThreads": p.cpu.threads_per_socket(),
            "Status": enabled_ok(),
        }))
    })
}

/// `GET /redfish/v1/Systems/{id}/Memory`.
pub async fn memories(
    State(state): State<RedfishState>,
    Path(id): Path<String>,
) -> Result<Document, RedfishError> {
    let uri = format!("{}/Memory", base(&id));
    from_profile(&state, &id, uri.clone(), |p| {
        Some(collection(
            &uri,
            types::MEMORY_COLLECTION,
            "Memory Collection",
            (1..=p.memory.dimms).map(|i| format!("DIMM{i}")),
        ))
    })
}

/// `GET /redfish/v1/Systems/{id}/Memory/{dimm}`.
pub async fn memory(
    State(state): State<RedfishState>,
    Path((id, dimm)): Path<(String, String)>,
) -> Result<Document, RedfishError> {
    let uri = format!("{}/Memory/{dimm}", base(&id));
    from_profile(&state, &id, uri.clone(), |p| {
        let n: u32 = dimm.strip_prefix("DIMM")?.parse().ok()?;
        if n == 0 || n > p.memory.dimms || format!("DIMM{n}") != dimm {
            return None;
        }
        Some(json!({
            "@odata.id": uri,
            "@odata.type": types::MEMORY,
            "Id": dimm,
            "Name": format!("DIMM {n}"),
            "MemoryType": "DRAM",
            "MemoryDeviceType": "DDR4",
            "CapacityMiB": p.memory.dimm_mib(),
            "OperatingSpeedMhz": p.memory.speed_mts,
            "Status": enabled_ok(),
        }))
    })
}

/// `GET /redfish/v1/Systems/{id}/EthernetInterfaces`.
pub async fn ethernet_interfaces(
    State(state): State<RedfishState>,
    Path(id): Path<String>,
) -> Result<Document, RedfishError> {
    let uri = format!("{}/EthernetInterfaces", base(&id));
    from_profile(&state, &id, uri.clone(), |p| {
        Some(collection(
            &uri,
            types::ETHERNET_INTERFACE_COLLECTION,
            "Ethernet Interface Collection",
            p.nics.iter().map(|n| n.name.clone()),
        ))
    })
}

/// `GET /redfish/v1/Systems/{id}/EthernetInterfaces/{nic}`.
pub async fn ethernet_interface(
    State(state): State<RedfishState>,
    Path((id, nic)): Path<(String, String)>,
) -> Result<Document, RedfishError> {
    let uri = format!("{}/EthernetInterfaces/{nic}", base(&id));
    from_profile(&state, &id, uri.clone(), |p| {
        let n = p.nics.iter().find(|n| n.name == nic)?;
        let mac = n.mac.to_uppercase();
        Some(json!({
            "@odata.id": uri,
            "@odata.type": types::ETHERNET_INTERFACE,
            "Id": nic,
            "Name": n.name,
            "Description": format!("{} {}", n.vendor, n.model),
            "MACAddress": mac,
            "PermanentMACAddress": mac,
            "SpeedMbps": n.speed_mbps,
            "LinkStatus": "LinkUp",
            "InterfaceEnabled": true,
            "Status": enabled_ok(),
        }))
    })
}

/// `GET /redfish/v1/Systems/{id}/PCIeDevices`.
pub async fn pcie_devices(
    State(state): State<RedfishState>,
    Path(id): Path<String>,
) -> Result<Document, RedfishError> {
    let uri = format!("{}/PCIeDevices", base(&id));
    from_profile(&state, &id, uri.clone(), |p| {
        Some(collection(
            &uri,
            types::PCIE_DEVICE_COLLECTION,
            "PCIe Device Collection",
            (1..=p.pcie.len()).map(|i| i.to_string()),
        ))
    })
}

/// `GET /redfish/v1/Systems/{id}/PCIeDevices/{device}`.
pub async fn pcie_device(
    State(state): State<RedfishState>,
    Path((id, device)): Path<(String, String)>,
) -> Result<Document, RedfishError> {
    let uri = format!("{}/PCIeDevices/{device}", base(&id));
    from_profile(&state, &id, uri.clone(), |p| {
        let n: usize = device.parse().ok()?;
        if n == 0 || n.to_string() != device {
            return None;
        }
        let d = p.pcie.get(n - 1)?;
        let class = match d.class {
            PcieClass::Gpu => "GPU",
            PcieClass::Storage => "storage controller",
            PcieClass::Network => "network controller",
            PcieClass::Other => "device",
        };
        let mut body = json!({
            "@odata.id": uri,
            "@odata.type": types::PCIE_DEVICE,
            "Id": device,
            "Name": format!("{} {}", d.vendor, d.model),
            "Description": format!("PCIe {class} at {}", d.address),
            "Manufacturer": d.vendor,
            "Model": d.model,
            "DeviceType": "SingleFunction",
            "Status": enabled_ok(),
        });
        if !d.serial.is_empty() {
            body["SerialNumber"] = json!(d.serial);
        }
        Some(body)
    })
}
