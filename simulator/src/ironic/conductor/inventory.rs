//! Inventories: the one out-of-band inspection builds from Redfish resources, and the ports an agent's
//! inventory yields (Ironic's `validate-interfaces` and `ports` hooks with `add_ports = pxe`).

use crate::ironic::model::parse_mac;
use serde_json::{Value, json};
use uuid::Uuid;

/// A port inspection found for a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveredPort {
    /// The node.
    pub node: Uuid,
    /// Normalised MAC address.
    pub address: String,
    /// Whether the node boots from it.
    pub pxe_enabled: bool,
}

fn text(v: &Value, k: &str) -> Value {
    v.get(k).cloned().unwrap_or(Value::Null)
}

fn list<'a>(bmc: &'a Value, k: &str) -> &'a [Value] {
    bmc.get(k)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn architecture(redfish: Option<&str>) -> &'static str {
    match redfish {
        Some("ARM") => "aarch64",
        Some("Power") => "ppc64le",
        _ => "x86_64",
    }
}

/// Builds Ironic's inventory document from what the BMC driver read (see `CallResult::System`), and the
/// MAC addresses of the NICs (ports are created for them, as Ironic's Redfish inspection does).
pub fn from_bmc(bmc: &Value) -> (Value, Vec<String>) {
    // IPMI reads only the GUID; an old-style bare ComputerSystem is accepted too.
    let sys = bmc.get("system").unwrap_or(bmc);
    let cpus = list(bmc, "processors");
    let first_cpu = cpus.first();
    let threads = sys
        .pointer("/ProcessorSummary/LogicalProcessorCount")
        .cloned()
        .unwrap_or_else(|| {
            json!(
                cpus.iter()
                    .filter_map(|c| c.get("TotalThreads").and_then(Value::as_u64))
                    .sum::<u64>()
            )
        });
    let mem_gib = sys
        .pointer("/MemorySummary/TotalSystemMemoryGiB")
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    let dimm_mib: u64 = list(bmc, "memory")
        .iter()
        .filter_map(|m| m.get("CapacityMiB").and_then(Value::as_u64))
        .sum();
    let physical_mb = if dimm_mib > 0 {
        dimm_mib
    } else {
        (mem_gib * 1024.0) as u64
    };
    let mut macs = Vec::new();
    let interfaces: Vec<Value> = list(bmc, "nics")
        .iter()
        .map(|n| {
            let mac = n
                .get("MACAddress")
                .and_then(Value::as_str)
                .and_then(parse_mac);
            if let Some(m) = &mac {
                macs.push(m.clone());
            }
            json!({
                "name": text(n, "Name"),
                "mac_address": mac,
                "speed_mbps": text(n, "SpeedMbps"),
                "has_carrier": n.get("LinkStatus").and_then(Value::as_str) == Some("LinkUp"),
            })
        })
        .collect();
    let disks: Vec<Value> = list(bmc, "drives")
        .iter()
        .map(|d| {
            json!({
                "name": text(d, "Name"),
                "size": text(d, "CapacityBytes"),
                "model": text(d, "Model"),
                "vendor": text(d, "Manufacturer"),
                "serial": text(d, "SerialNumber"),
                "rotational": d.get("MediaType").and_then(Value::as_str) == Some("HDD"),
            })
        })
        .collect();
    let pci: Vec<Value> = list(bmc, "pcie")
        .iter()
        .map(|p| {
            json!({
                "vendor": text(p, "Manufacturer"),
                "product": text(p, "Model"),
                "description": text(p, "Description"),
            })
        })
        .collect();
    let boot_mode = match sys
        .pointer("/Boot/BootSourceOverrideMode")
        .and_then(Value::as_str)
    {
        Some("Legacy") => "bios",
        _ => "uefi",
    };
    let inventory = json!({
        "cpu": {
            "count": threads,
            "model_name": sys.pointer("/ProcessorSummary/Model").cloned().unwrap_or(Value::Null),
            "architecture": architecture(first_cpu.and_then(|c| c.get("ProcessorArchitecture")).and_then(Value::as_str)),
            "frequency": first_cpu.map(|c| text(c, "MaxSpeedMHz")).unwrap_or(Value::Null),
            "flags": [],
        },
        "memory": {"physical_mb": physical_mb, "total": physical_mb * 1024 * 1024},
        "system_vendor": {
            "manufacturer": text(sys, "Manufacturer"),
            "product_name": text(sys, "Model"),
            "serial_number": text(sys, "SerialNumber"),
        },
        "boot": {"current_boot_mode": boot_mode},
        "interfaces": interfaces,
        "disks": disks,
        "pci_devices": pci,
    });
    (json!({"inventory": inventory, "plugin_data": {}}), macs)
}

fn pxe_mac(inventory: &Value) -> Option<String> {
    let raw = inventory.pointer("/boot/pxe_interface")?.as_str()?;
    // pxelinux style: 01-aa-bb-cc-dd-ee-ff.
    let raw = match raw.split_once('-') {
        Some((_, rest)) if raw.len() == 20 => rest,
        _ => raw,
    };
    parse_mac(raw)
}

/// The ports an agent inventory adds: the PXE interface's MAC when the inventory names it, otherwise
/// every interface; loopback interfaces never count. No usable interface fails inspection (Ironic's text).
pub fn agent_ports(uuid: &str, inventory: &Value) -> Result<Vec<(String, bool)>, String> {
    let invalid = |reason: &str| format!("Inventory for node {uuid} is invalid: {reason}");
    let Some(ifaces) = inventory.get("interfaces").and_then(Value::as_array) else {
        return Err(invalid("no valid network interfaces"));
    };
    let valid: Vec<(String, &Value)> = ifaces
        .iter()
        .filter(|i| i.get("name").and_then(Value::as_str) != Some("lo"))
        .filter_map(|i| {
            let mac = i
                .get("mac_address")
                .and_then(Value::as_str)
                .and_then(parse_mac)?;
            Some((mac, i))
        })
        .collect();
    if valid.is_empty() {
        return Err(invalid("no valid network interfaces"));
    }
    let pxe = pxe_mac(inventory);
    let ports: Vec<(String, bool)> = valid
        .into_iter()
        .filter(|(mac, _)| pxe.as_ref().is_none_or(|p| p == mac))
        .map(|(mac, _)| (mac, true))
        .collect();
    if ports.is_empty() {
        return Err(invalid(
            "no network interfaces match the configuration (add_ports set to \"pxe\")",
        ));
    }
    Ok(ports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_pxe_interface_becomes_a_port_when_the_inventory_names_it() {
        let inv = json!({
            "interfaces": [
                {"name": "lo", "mac_address": "00:00:00:00:00:00"},
                {"name": "eth0", "mac_address": "AA:BB:CC:DD:EE:01"},
                {"name": "eth1", "mac_address": "aa:bb:cc:dd:ee:02"},
            ],
            "boot": {"pxe_interface": "01-aa-bb-cc-dd-ee-02"},
        });
        assert_eq!(
            agent_ports("u", &inv).expect("ports"),
            [("aa:bb:cc:dd:ee:02".to_string(), true)]
        );
        let no_boot = json!({"interfaces": inv["interfaces"].clone()});
        assert_eq!(agent_ports("u", &no_boot).expect("ports").len(), 2);
        let err = agent_ports("u", &json!({"interfaces": []})).expect_err("no nics");
        assert_eq!(
            err,
            "Inventory for node u is invalid: no valid network interfaces"
        );
    }

    #[test]
    fn redfish_resources_fill_cpu_memory_nics_disks_and_pci_devices() {
        let bmc = json!({
            "system": {"Manufacturer": "Acme", "Model": "R1", "SerialNumber": "S1",
                       "ProcessorSummary": {"LogicalProcessorCount": 16, "Model": "Xeon"},
                       "MemorySummary": {"TotalSystemMemoryGiB": 64.0}},
            "processors": [{"ProcessorArchitecture": "x86", "MaxSpeedMHz": 2400, "TotalThreads": 16}],
            "memory": [{"CapacityMiB": 32768}, {"CapacityMiB": 32768}],
            "nics": [{"Name": "eno1", "MACAddress": "52:54:00:AA:00:01", "LinkStatus": "LinkUp"}],
            "drives": [{"Name": "sda", "CapacityBytes": 480000000000u64, "MediaType": "SSD"}],
            "pcie": [{"Manufacturer": "NVIDIA", "Model": "A100", "Description": "PCIe GPU at 0000:3b:00.0"}],
        });
        let (doc, macs) = from_bmc(&bmc);
        let inv = &doc["inventory"];
        assert_eq!(inv["cpu"]["count"], 16);
        assert_eq!(inv["cpu"]["architecture"], "x86_64");
        assert_eq!(inv["memory"]["physical_mb"], 65536);
        assert_eq!(inv["interfaces"][0]["mac_address"], "52:54:00:aa:00:01");
        assert_eq!(inv["disks"][0]["rotational"], false);
        assert_eq!(inv["pci_devices"][0]["product"], "A100");
        assert_eq!(inv["system_vendor"]["manufacturer"], "Acme");
        assert_eq!(macs, ["52:54:00:aa:00:01"]);
    }
}
