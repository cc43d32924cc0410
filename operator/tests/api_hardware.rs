//! HardwareDetails carries what the Ironic inventory conversion produces, including our PCI
//! device and GPU extension, and the CRD schema keeps those fields instead of pruning them.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaPropsOrArray;
use metal_operator::api::{HardwareData, HardwareDetails, crds};
use serde_json::json;

fn inventory_output() -> serde_json::Value {
    json!({
        "systemVendor": {"manufacturer": "Supermicro", "productName": "SYS-420GP", "serialNumber": "A1"},
        "firmware": {"bios": {"date": "2024-03-01", "vendor": "AMI", "version": "1.4"}},
        "ramMebibytes": 262144,
        "nics": [{"name": "eno1", "model": "0x8086 0x1563", "mac": "ac:1f:6b:00:00:01",
                  "speedGbps": 10, "pxe": true, "pciAddress": "0000:19:00.0",
                  "lldp": {"switchID": "00:11:22:33:44:55", "portID": "Eth1/1"},
                  "ip": "192.0.2.9"}],
        "storage": [{"name": "/dev/nvme0n1", "rotational": false, "type": "NVME", "sizeBytes": 1_920_383_410_176u64,
                     "model": "SAMSUNG MZQL21T9", "serialNumber": "S64"}],
        "cpu": {"arch": "x86_64", "model": "Xeon", "clockMegahertz": 2300.0, "flags": ["avx512f"], "count": 96},
        "hostname": "gpu-node-1",
        "pciDevices": [
            {"vendorID": "8086", "productID": "1563", "class": "020000", "revision": "01", "bus": "0000:19:00.0"},
            {"vendorID": "10de", "productID": "20b5", "class": "030200", "revision": "a1", "bus": "0000:3b:00.0"}
        ],
        "gpus": [
            {"vendorID": "10de", "productID": "20b5", "class": "030200", "revision": "a1", "bus": "0000:3b:00.0"}
        ]
    })
}

#[test]
fn inventory_hardware_details_with_gpus_round_trip() {
    let value = inventory_output();
    let details: HardwareDetails = serde_json::from_value(value.clone()).unwrap();
    assert_eq!(details.gpus.len(), 1);
    assert_eq!(details.pci_devices[1].vendor_id, "10de");
    assert_eq!(serde_json::to_value(&details).unwrap(), value);
}

#[test]
fn hardware_data_object_parses() {
    let hd: HardwareData = serde_json::from_value(json!({
        "apiVersion": "metal3.io/v1alpha1",
        "kind": "HardwareData",
        "metadata": {"name": "gpu-node-1", "namespace": "lab"},
        "spec": {"hardware": inventory_output()}
    }))
    .unwrap();
    assert_eq!(hd.spec.hardware.unwrap().cpu.unwrap().count, 96);
}

#[test]
fn schema_keeps_pci_devices_and_gpus_in_both_places() {
    let all = crds();
    let lookup = |crd: &str, path: &[&str]| {
        let c = all
            .iter()
            .find(|c| c.metadata.name.as_deref() == Some(crd))
            .unwrap();
        let mut s = c.spec.versions[0]
            .schema
            .clone()
            .unwrap()
            .open_api_v3_schema
            .unwrap();
        for key in path {
            s = s
                .properties
                .unwrap()
                .remove(*key)
                .unwrap_or_else(|| panic!("{crd}: no {key}"));
        }
        s
    };
    for (crd, prefix) in [
        ("baremetalhosts.metal3.io", ["status", "hardware"]),
        ("hardwaredata.metal3.io", ["spec", "hardware"]),
    ] {
        for list in ["pciDevices", "gpus"] {
            let s = lookup(crd, &[prefix[0], prefix[1], list]);
            let Some(JSONSchemaPropsOrArray::Schema(item)) = s.items else {
                panic!("{list} items")
            };
            let props = item.properties.unwrap();
            assert!(
                props.contains_key("vendorID") && props.contains_key("class"),
                "{crd} {list}"
            );
        }
    }
}
