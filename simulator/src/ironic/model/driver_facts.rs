//! What each hardware type the mock serves publishes about itself beyond its interfaces: the
//! `driver_info` properties its default interfaces read (`/v1/drivers/{name}/properties`) and the
//! vendor passthru methods of a vendor interface (`.../vendor_passthru/methods`). The names and
//! method attributes are Ironic 39's (judged by `ironic_passthru_compare`); the descriptions are
//! the mock's own words.

use serde_json::{Map, Value, json};

/// Properties every hardware type with a `direct` deploy and an `ipxe` boot reads.
const DEPLOY_AND_BOOT: [(&str, &str); 12] = [
    (
        "agent_verify_ca",
        "How the deploy ramdisk checks Ironic's certificate.",
    ),
    (
        "deploy_forces_oob_reboot",
        "Reboot out of band after the image is written.",
    ),
    ("deploy_kernel", "Kernel of the deploy ramdisk."),
    ("deploy_ramdisk", "Initramfs of the deploy ramdisk."),
    (
        "force_persistent_boot_device",
        "Whether the boot device is set persistently.",
    ),
    (
        "image_download_source",
        "Where the agent downloads the image from.",
    ),
    ("image_http_proxy", "HTTP proxy for image downloads."),
    ("image_https_proxy", "HTTPS proxy for image downloads."),
    ("image_no_proxy", "Hosts reached without the proxy."),
    (
        "kernel_append_params",
        "Extra kernel parameters of the ramdisk.",
    ),
    ("rescue_kernel", "Kernel of the rescue ramdisk."),
    ("rescue_ramdisk", "Initramfs of the rescue ramdisk."),
];

const REDFISH: [(&str, &str); 9] = [
    (
        "firmware_update_unresponsive_bmc_wait",
        "Seconds to wait for a BMC after its update.",
    ),
    ("redfish_address", "URL of the Redfish service."),
    (
        "redfish_auth_type",
        "Authentication: basic, session or auto.",
    ),
    ("redfish_password", "Redfish password."),
    ("redfish_system_id", "Path of the ComputerSystem resource."),
    ("redfish_tls_ciphers", "TLS ciphers allowed with the BMC."),
    (
        "redfish_tls_minimum_version",
        "Lowest TLS version used with the BMC.",
    ),
    ("redfish_username", "Redfish user name."),
    ("redfish_verify_ca", "How the BMC's certificate is checked."),
];

const IPMI: [(&str, &str); 16] = [
    ("ipmi_address", "IP address or host name of the BMC."),
    ("ipmi_bridging", "Bridging type: single, dual or no."),
    ("ipmi_cipher_suite", "IPMI cipher suite."),
    (
        "ipmi_disable_boot_timeout",
        "Whether the BMC's boot timeout is disabled.",
    ),
    (
        "ipmi_force_boot_device",
        "Whether the boot device is forced by Ironic.",
    ),
    ("ipmi_hex_kg_key", "BMC key, in hexadecimal."),
    (
        "ipmi_local_address",
        "Local IPMB address for bridged requests.",
    ),
    ("ipmi_password", "IPMI password."),
    ("ipmi_port", "UDP port of the BMC."),
    ("ipmi_priv_level", "Privilege level of the session."),
    ("ipmi_protocol_version", "IPMI protocol version."),
    (
        "ipmi_target_address",
        "Destination address of a bridged request.",
    ),
    (
        "ipmi_target_channel",
        "Destination channel of a bridged request.",
    ),
    (
        "ipmi_transit_address",
        "Transit address of a double-bridged request.",
    ),
    (
        "ipmi_transit_channel",
        "Transit channel of a double-bridged request.",
    ),
    ("ipmi_username", "IPMI user name."),
];

/// The properties of hardware type `driver`'s default interfaces, by name; `None` for a driver
/// the mock does not serve. fake-hardware's default interfaces read none.
pub fn driver_properties(driver: &str) -> Option<Map<String, Value>> {
    let specific: &[(&str, &str)] = match driver {
        "fake-hardware" => return Some(Map::new()),
        "redfish" => &REDFISH,
        "ipmi" => &IPMI,
        _ => return None,
    };
    Some(
        DEPLOY_AND_BOOT
            .iter()
            .chain(specific)
            .map(|(k, v)| ((*k).to_string(), json!(v)))
            .collect(),
    )
}

/// One vendor passthru method: name, HTTP methods, whether it runs asynchronously, and what it
/// does.
struct Method {
    name: &'static str,
    http: &'static str,
    asynchronous: bool,
    description: &'static str,
}

const REDFISH_METHODS: [Method; 5] = [
    Method {
        name: "create_subscription",
        http: "POST",
        asynchronous: false,
        description: "Subscribe a destination to the BMC's events.",
    },
    Method {
        name: "delete_subscription",
        http: "DELETE",
        asynchronous: false,
        description: "Remove an event subscription.",
    },
    Method {
        name: "eject_vmedia",
        http: "POST",
        asynchronous: true,
        description: "Eject virtual media.",
    },
    Method {
        name: "get_all_subscriptions",
        http: "GET",
        asynchronous: false,
        description: "List the event subscriptions.",
    },
    Method {
        name: "get_subscription",
        http: "GET",
        asynchronous: false,
        description: "Show one event subscription.",
    },
];

const IPMITOOL_METHODS: [Method; 2] = [
    Method {
        name: "bmc_reset",
        http: "POST",
        asynchronous: true,
        description: "Reset the BMC (warm or cold).",
    },
    Method {
        name: "send_raw",
        http: "POST",
        asynchronous: true,
        description: "Send a raw IPMI command.",
    },
];

/// The node-level methods of vendor interface `vendor` (`redfish`, `ipmitool`; none for
/// `no-vendor` and the rest), as `/v1/nodes/{id}/vendor_passthru/methods` shows them. No hardware
/// type the mock serves has driver-level methods.
pub fn vendor_methods(vendor: &str) -> Map<String, Value> {
    let methods: &[Method] = match vendor {
        "redfish" => &REDFISH_METHODS,
        "ipmitool" => &IPMITOOL_METHODS,
        _ => &[],
    };
    methods
        .iter()
        .map(|m| {
            (
                m.name.to_string(),
                json!({
                    "async": m.asynchronous,
                    "attach": false,
                    "description": m.description,
                    "http_methods": [m.http],
                    "require_exclusive_lock": true,
                }),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_served_driver_lists_its_interfaces_properties_and_an_unknown_one_none() {
        assert_eq!(driver_properties("fake-hardware").map(|p| p.len()), Some(0));
        let redfish = driver_properties("redfish").expect("served");
        assert_eq!(redfish.len(), 21);
        assert!(redfish.contains_key("redfish_address") && redfish.contains_key("deploy_kernel"));
        assert!(!redfish.contains_key("ipmi_address"));
        assert_eq!(driver_properties("ipmi").map(|p| p.len()), Some(28));
        assert_eq!(driver_properties("idrac"), None);
    }

    #[test]
    fn vendor_methods_follow_the_vendor_interface() {
        let redfish = vendor_methods("redfish");
        assert_eq!(redfish.len(), 5);
        assert_eq!(redfish["eject_vmedia"]["async"], json!(true));
        assert_eq!(
            redfish["delete_subscription"]["http_methods"],
            json!(["DELETE"])
        );
        assert_eq!(vendor_methods("ipmitool").len(), 2);
        assert!(vendor_methods("no-vendor").is_empty());
    }
}
