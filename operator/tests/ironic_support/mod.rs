//! The operator's peer tests' real Ironic (started by `metal_testkit::ironic`: the pinned venv, a
//! loud skip when it is missing — a failure under `REQUIRE_PEERS=1` —, a standalone Ironic on
//! 127.0.0.1 with every path under a temp dir, stopped on drop).
#![allow(dead_code, unused_imports)]

pub use metal_testkit::ironic::Ironic;
use metal_testkit::ironic::IronicConfig;
pub use metal_testkit::peers::{peer, peers_required};

/// Starts Ironic with SQLite, noauth, no message bus and the fake-hardware, redfish and ipmi
/// hardware types with every interface the operator may choose; None when the peer is not
/// installed.
pub fn start() -> Option<Ironic> {
    let config = IronicConfig::new("metal-operator-test")
        .enable("hardware_types", "fake-hardware,redfish,ipmi")
        .enable(
            "boot_interfaces",
            "fake,ipxe,redfish-virtual-media,redfish-https",
        )
        .enable("deploy_interfaces", "fake,direct,ramdisk,custom-agent")
        .enable("management_interfaces", "fake,redfish,ipmitool")
        .enable("power_interfaces", "fake,redfish,ipmitool")
        .enable("inspect_interfaces", "fake,no-inspect,agent,redfish")
        .enable("raid_interfaces", "fake,no-raid,redfish,agent")
        .enable("bios_interfaces", "fake,no-bios,redfish")
        .enable("console_interfaces", "fake,no-console")
        .enable("vendor_interfaces", "fake,no-vendor,redfish,ipmitool")
        .enable("firmware_interfaces", "fake,no-firmware,redfish")
        .enable("rescue_interfaces", "fake,no-rescue");
    Ironic::start(&config).expect("start real Ironic")
}
