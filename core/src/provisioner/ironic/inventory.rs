//! Ironic's inspection inventory (as the agent reports it) turned into BareMetalHost
//! `status.hardware` JSON.
//!
//! PCI devices and GPUs have no field in upstream's `status.hardware`; they are emitted as
//! `pciDevices` and `gpus` next to the upstream fields, for HardwareData (the authoritative
//! inventory) to carry.

use serde_json::{Map, Value, json};

/// PCI class codes whose base class is 0x03 (display controllers) are GPUs.
const DISPLAY_CLASS_PREFIX: &str = "03";

/// Converts `GET /v1/nodes/{id}/inventory`'s `inventory` and `plugin_data` into hardware details.
pub fn hardware_details(inventory: &Value, plugin_data: &Value) -> Value {
    let mut out = Map::new();
    let vendor = &inventory["system_vendor"];
    out.insert(
        "systemVendor".into(),
        object([
            ("manufacturer", string(&vendor["manufacturer"])),
            ("productName", string(&vendor["product_name"])),
            ("serialNumber", string(&vendor["serial_number"])),
        ]),
    );
    let fw = &vendor["firmware"];
    out.insert(
        "firmware".into(),
        json!({ "bios": object([
            ("date", string(&fw["build_date"])),
            ("vendor", string(&fw["vendor"])),
            ("version", string(&fw["version"])),
        ]) }),
    );
    let ram = inventory["memory"]["physical_mb"]
        .as_u64()
        .or_else(|| {
            inventory["memory"]["total"]
                .as_u64()
                .map(|b| b / (1024 * 1024))
        })
        .unwrap_or(0);
    out.insert("ramMebibytes".into(), Value::from(ram));
    out.insert("nics".into(), Value::Array(nics(inventory, plugin_data)));
    out.insert("storage".into(), Value::Array(storage(inventory)));
    out.insert("cpu".into(), cpu(&inventory["cpu"]));
    if let Some(h) = inventory["hostname"].as_str() {
        out.insert("hostname".into(), Value::String(h.to_string()));
    }
    let pci = pci_devices(inventory, plugin_data);
    let gpus: Vec<Value> = pci
        .iter()
        .filter(|d| {
            d["class"]
                .as_str()
                .is_some_and(|c| c.trim_start_matches("0x").starts_with(DISPLAY_CLASS_PREFIX))
        })
        .cloned()
        .collect();
    out.insert("pciDevices".into(), Value::Array(pci));
    out.insert("gpus".into(), Value::Array(gpus));
    Value::Object(out)
}

fn string(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(s.clone()),
        Value::Number(n) => Value::String(n.to_string()),
        _ => Value::String(String::new()),
    }
}

fn object<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

fn normalize_mac(mac: &str) -> String {
    let mac = mac.trim().to_ascii_lowercase().replace('-', ":");
    // PXE's BOOTIF form prefixes the hardware type: `01-aa-bb-...`.
    match mac.strip_prefix("01:") {
        Some(rest) if rest.len() == 17 => rest.to_string(),
        _ => mac,
    }
}

fn nics(inventory: &Value, plugin_data: &Value) -> Vec<Value> {
    let pxe_mac = inventory["boot"]["pxe_interface"]
        .as_str()
        .map(normalize_mac);
    let Some(interfaces) = inventory["interfaces"].as_array() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for iface in interfaces {
        let name = iface["name"].as_str().unwrap_or_default();
        let mac = iface["mac_address"]
            .as_str()
            .map(normalize_mac)
            .unwrap_or_default();
        let model = format!(
            "{} {}",
            iface["vendor"].as_str().unwrap_or_default(),
            iface["product"].as_str().unwrap_or_default()
        );
        let speed = iface["speed_mbps"].as_u64().map_or(0, |m| m / 1000);
        let mut nic = Map::new();
        nic.insert("name".into(), Value::String(name.to_string()));
        nic.insert("model".into(), Value::String(model.trim().to_string()));
        nic.insert("mac".into(), Value::String(mac.clone()));
        nic.insert("speedGbps".into(), Value::from(speed));
        nic.insert(
            "pxe".into(),
            Value::Bool(pxe_mac.as_deref() == Some(mac.as_str()) && !mac.is_empty()),
        );
        if let Some(pci) = iface["pci_address"].as_str() {
            nic.insert("pciAddress".into(), Value::String(pci.to_string()));
        }
        if let Some(lldp) = lldp(name, iface, plugin_data) {
            nic.insert("lldp".into(), lldp);
        }
        // One entry per address family, as upstream reports dual-stack NICs.
        let ips: Vec<&str> = ["ipv4_address", "ipv6_address"]
            .iter()
            .filter_map(|k| iface[*k].as_str())
            .filter(|ip| !ip.is_empty())
            .collect();
        if ips.is_empty() {
            out.push(Value::Object(nic));
        } else {
            for ip in ips {
                let mut entry = nic.clone();
                entry.insert("ip".into(), Value::String(ip.to_string()));
                out.push(Value::Object(entry));
            }
        }
    }
    out
}

/// LLDP neighbour: the processed form in plugin_data when present, else the raw TLVs.
fn lldp(name: &str, iface: &Value, plugin_data: &Value) -> Option<Value> {
    let parsed = &plugin_data["parsed_lldp"][name];
    if parsed.is_object() {
        let mut l = Map::new();
        for (from, to) in [
            ("switch_chassis_id", "switchID"),
            ("switch_port_id", "portID"),
            ("switch_system_name", "switchSystemName"),
        ] {
            if let Some(v) = parsed[from].as_str() {
                l.insert(to.into(), Value::String(v.to_string()));
            }
        }
        return (!l.is_empty()).then_some(Value::Object(l));
    }
    let tlvs = iface["lldp"].as_array()?;
    let mut l = Map::new();
    for tlv in tlvs {
        let (Some(kind), Some(hex)) = (tlv[0].as_u64(), tlv[1].as_str()) else {
            continue;
        };
        let Some(bytes) = unhex(hex) else { continue };
        match kind {
            1 => {
                if let Some(v) = id_tlv(&bytes, 4) {
                    l.insert("switchID".into(), Value::String(v));
                }
            }
            2 => {
                if let Some(v) = id_tlv(&bytes, 3) {
                    l.insert("portID".into(), Value::String(v));
                }
            }
            5 => {
                l.insert(
                    "switchSystemName".into(),
                    Value::String(String::from_utf8_lossy(&bytes).into_owned()),
                );
            }
            _ => {}
        }
    }
    (!l.is_empty()).then_some(Value::Object(l))
}

/// Chassis/port ID TLV: one subtype byte, then the ID; `mac_subtype` marks a MAC address.
fn id_tlv(bytes: &[u8], mac_subtype: u8) -> Option<String> {
    let (subtype, id) = bytes.split_first()?;
    if *subtype == mac_subtype && id.len() == 6 {
        Some(
            id.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":"),
        )
    } else {
        Some(String::from_utf8_lossy(id).into_owned())
    }
}

fn unhex(hex: &str) -> Option<Vec<u8>> {
    let hex = hex.as_bytes();
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    hex.chunks(2)
        .map(|pair| {
            let s = std::str::from_utf8(pair).ok()?;
            u8::from_str_radix(s, 16).ok()
        })
        .collect()
}

fn storage(inventory: &Value) -> Vec<Value> {
    let Some(disks) = inventory["disks"].as_array() else {
        return Vec::new();
    };
    disks
        .iter()
        .map(|d| {
            let name = d["name"].as_str().unwrap_or_default();
            let rotational = d["rotational"].as_bool().unwrap_or(false);
            let kind = if rotational {
                "HDD"
            } else if name.contains("nvme") {
                "NVME"
            } else {
                "SSD"
            };
            let mut disk = Map::new();
            // As upstream Metal3 names a disk: by its stable by-path link when the inventory has
            // one (a kernel name like /dev/sda can change between boots), with every name it
            // goes by in alternateNames.
            match d["by_path"].as_str().filter(|p| !p.is_empty()) {
                Some(by_path) => {
                    disk.insert("name".into(), Value::String(by_path.to_string()));
                    disk.insert("alternateNames".into(), json!([name, by_path]));
                }
                None => {
                    disk.insert("name".into(), Value::String(name.to_string()));
                    disk.insert("alternateNames".into(), json!([name]));
                }
            }
            disk.insert("rotational".into(), Value::Bool(rotational));
            disk.insert("type".into(), Value::String(kind.to_string()));
            disk.insert(
                "sizeBytes".into(),
                Value::from(d["size"].as_u64().unwrap_or(0)),
            );
            for (from, to) in [
                ("vendor", "vendor"),
                ("model", "model"),
                ("serial", "serialNumber"),
                ("wwn", "wwn"),
                ("wwn_vendor_extension", "wwnVendorExtension"),
                ("wwn_with_extension", "wwnWithExtension"),
                ("hctl", "hctl"),
            ] {
                if let Some(v) = d[from].as_str() {
                    disk.insert(to.into(), Value::String(v.to_string()));
                }
            }
            Value::Object(disk)
        })
        .collect()
}

fn cpu(cpu: &Value) -> Value {
    let clock = match &cpu["frequency"] {
        Value::Number(n) => n.as_f64().unwrap_or(0.0),
        Value::String(s) => s.trim().parse::<f64>().unwrap_or(0.0),
        _ => 0.0,
    };
    let mut flags: Vec<String> = cpu["flags"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    flags.sort();
    flags.dedup();
    json!({
        "arch": string(&cpu["architecture"]),
        "model": string(&cpu["model_name"]),
        "clockMegahertz": clock,
        "flags": flags,
        "count": cpu["count"].as_u64().unwrap_or(0),
    })
}

fn pci_devices(inventory: &Value, plugin_data: &Value) -> Vec<Value> {
    let source = plugin_data["pci_devices"]
        .as_array()
        .or_else(|| inventory["pci_devices"].as_array());
    let Some(devices) = source else {
        return Vec::new();
    };
    devices
        .iter()
        .map(|d| {
            object([
                ("vendorID", string(&d["vendor_id"])),
                ("productID", string(&d["product_id"])),
                ("class", string(&d["class"])),
                ("revision", string(&d["revision"])),
                ("bus", string(&d["bus"])),
            ])
        })
        .collect()
}
