//! What the provisioner tests share: the host, its registration, deployment and deploy images,
//! and a provisioner wired to a fresh recording Ironic double.

pub use crate::ironic_double::IronicDouble;
pub use metal_operator::bmc::DeployImages;
pub use metal_operator::ironic_http::{ClientConfig, HttpIronicClient};
pub use metal_operator::provisioner::ironic::{
    IronicClient, IronicProvisioner, IronicSettings, LifecyclePacing, decode_error_body,
    full_lifecycle,
};
pub use metal_operator::provisioner::{
    Action, Credentials, Deployment, HostRef, InspectMode, Observation, Outcome, PowerChange,
    Provisioner, ProvisionerError, Registration,
};
pub use serde_json::{Value, json};
pub use std::sync::Arc;
pub use std::time::Duration;

pub const MAC: &str = "52:54:00:aa:bb:01";

pub fn host(node_id: Option<&str>) -> HostRef {
    HostRef {
        namespace: "metal3".into(),
        name: "worker-0".into(),
        node_id: node_id.map(str::to_string),
        boot_mac: Some(MAC.into()),
        uid: None,
    }
}

pub fn registration(address: &str, fingerprint: &str) -> Registration {
    Registration {
        bmc_address: address.into(),
        disable_certificate_verification: true,
        credentials: Credentials {
            username: "admin".into(),
            password: "s3cret-pw".into(),
        },
        boot_mac: Some(MAC.into()),
        boot_mode: "UEFI".into(),
        inspect_mode: InspectMode::Agent,
        automated_clean: true,
        architecture: Some("x86_64".into()),
        fingerprint: fingerprint.into(),
    }
}

pub fn deployment() -> Deployment {
    Deployment {
        image_url: "http://172.22.0.1/images/rhcos.qcow2".into(),
        checksum: Some("0123abcd".into()),
        checksum_type: Some("sha256".into()),
        format: Some("qcow2".into()),
        custom_deploy: None,
        user_data: Some("#cloud-config\nruncmd: [true]\n".into()),
        network_data: Some("links:\n- id: eth0\n  type: phy\n".into()),
        meta_data: Some("team: infra\n".into()),
        root_device_hints: Some(json!({ "name": "s== /dev/sda" })),
    }
}

pub fn images() -> DeployImages {
    DeployImages {
        kernel_url: Some("http://172.22.0.1/images/ironic-python-agent.kernel".into()),
        ramdisk_url: Some("http://172.22.0.1/images/ironic-python-agent.initramfs".into()),
        iso_url: None,
    }
}

pub fn provisioner_for(endpoint: String) -> IronicProvisioner {
    let client = IronicClient::new(ClientConfig::new(endpoint)).unwrap();
    IronicProvisioner::new(
        Arc::new(client),
        IronicSettings {
            deploy_images: images(),
        },
    )
}

pub async fn setup(max: &str) -> (IronicDouble, IronicProvisioner) {
    let double = IronicDouble::start(max).await;
    let p = provisioner_for(double.endpoint());
    (double, p)
}

pub fn accepted_id(outcome: Outcome) -> String {
    match outcome {
        Outcome::Accepted { node_id: Some(id) } => id,
        other => panic!("expected an accepted outcome with a node id, got {other:?}"),
    }
}

/// An agent inventory as Ironic stores it.
pub fn sample_inventory() -> Value {
    json!({
        "inventory": {
            "system_vendor": { "manufacturer": "Dell Inc.", "product_name": "PowerEdge R640",
                "serial_number": "SN123",
                "firmware": { "vendor": "Dell", "version": "2.1.8", "build_date": "2023-05-01" } },
            "memory": { "total": 137438953472u64, "physical_mb": 131072 },
            "cpu": { "model_name": "Intel Xeon Gold 6230", "frequency": "2100.0", "count": 80,
                "architecture": "x86_64", "flags": ["vmx", "avx2", "vmx"] },
            "interfaces": [
                { "name": "eno1", "mac_address": "52:54:00:AA:BB:01", "ipv4_address": "172.22.0.10",
                  "ipv6_address": null, "vendor": "0x8086", "product": "0x1572", "speed_mbps": 10000,
                  "pci_address": "0000:18:00.0",
                  "lldp": [[1, "04aabbccddeeff"], [2, "0545746865726e6574312f31"], [5, "746f722d7377697463682d31"]] },
                { "name": "eno2", "mac_address": "52:54:00:aa:bb:02", "ipv4_address": "10.1.0.10",
                  "ipv6_address": "fd00::10", "vendor": "0x8086", "product": "0x1572", "speed_mbps": 25000,
                  "lldp": [] }
            ],
            "disks": [
                { "name": "/dev/sda", "model": "PERC H730", "size": 480103981056u64, "rotational": true,
                  "serial": "D1", "vendor": "DELL", "wwn": "0x5000", "hctl": "0:0:0:0",
                  "by_path": "/dev/disk/by-path/pci-0000:18:00.0-scsi-0:0:0:0" },
                { "name": "/dev/sdb", "size": 960197124096u64, "rotational": false },
                { "name": "/dev/nvme0n1", "size": 1600321314816u64, "rotational": false }
            ],
            "boot": { "current_boot_mode": "uefi", "pxe_interface": "01-52-54-00-aa-bb-01" },
            "hostname": "worker-0.example"
        },
        "plugin_data": {
            "pci_devices": [
                { "vendor_id": "10de", "product_id": "20b5", "class": "030200", "revision": "a1", "bus": "0000:3b:00.0" },
                { "vendor_id": "8086", "product_id": "1572", "class": "020000", "revision": "01", "bus": "0000:18:00.0" }
            ]
        }
    })
}

/// The outcome of an action Ironic accepted for node `id`.
pub fn accepted(id: &str) -> Outcome {
    Outcome::Accepted {
        node_id: Some(id.to_owned()),
    }
}

/// The first PATCH the double received, if any.
pub fn first_patch(double: &IronicDouble) -> Option<crate::ironic_double::Recorded> {
    double.requests().into_iter().find(|r| r.method == "PATCH")
}
