//! What each BMC kind means to Ironic: hardware type, interfaces, `driver_info` keys and the
//! capabilities the webhook and the capacity gate ask about.

use serde_json::{Map, Value};

use super::{BmcAddress, BmcError, BmcKind, IPMI_DEFAULT_PRIVILEGE};
use crate::provisioner::{Credentials, InspectMode};

/// Ironic interfaces a BMC kind sets. `None` leaves Ironic's default for the hardware type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Interfaces {
    pub boot: Option<&'static str>,
    pub bios: Option<&'static str>,
    pub deploy: Option<&'static str>,
    pub firmware: Option<&'static str>,
    /// The out-of-band inspect interface, used for `inspectionMode: fast`.
    pub inspect: Option<&'static str>,
    pub management: Option<&'static str>,
    pub power: Option<&'static str>,
    pub raid: Option<&'static str>,
    pub vendor: Option<&'static str>,
}

impl Interfaces {
    /// `(node field, value)` pairs for the interfaces that are set, in field-name order.
    pub fn fields(&self) -> Vec<(&'static str, &'static str)> {
        [
            ("bios_interface", self.bios),
            ("boot_interface", self.boot),
            ("deploy_interface", self.deploy),
            ("firmware_interface", self.firmware),
            ("inspect_interface", self.inspect),
            ("management_interface", self.management),
            ("power_interface", self.power),
            ("raid_interface", self.raid),
            ("vendor_interface", self.vendor),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect()
    }
}

/// The deploy ramdisk the operator is configured with (IRONIC deploy kernel/ramdisk/ISO URLs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeployImages {
    pub kernel_url: Option<String>,
    pub ramdisk_url: Option<String>,
    pub iso_url: Option<String>,
}

const IDRAC: &str = "idrac-redfish";

impl BmcAddress {
    /// The Ironic hardware type (`driver`).
    pub fn driver(&self) -> &'static str {
        match self.kind {
            BmcKind::Ipmi | BmcKind::Libvirt => "ipmi",
            BmcKind::IdracRedfish | BmcKind::IdracVirtualMedia => "idrac",
            BmcKind::Redfish
            | BmcKind::RedfishVirtualMedia
            | BmcKind::RedfishUefiHttp
            | BmcKind::Ilo5Redfish
            | BmcKind::Ilo5VirtualMedia => "redfish",
        }
    }

    /// The interfaces this kind sets on the node (inspect is the out-of-band one; the
    /// provisioner chooses agent/out-of-band/none from `inspectionMode`).
    pub fn interfaces(&self) -> Interfaces {
        let redfish = Interfaces {
            firmware: Some("redfish"),
            inspect: Some("redfish"),
            raid: Some("redfish"),
            ..Interfaces::default()
        };
        let idrac = Interfaces {
            bios: Some(IDRAC),
            firmware: Some("redfish"),
            inspect: Some("redfish"),
            management: Some(IDRAC),
            power: Some(IDRAC),
            raid: Some(IDRAC),
            vendor: Some(IDRAC),
            ..Interfaces::default()
        };
        match self.kind {
            BmcKind::Ipmi | BmcKind::Libvirt => Interfaces {
                boot: Some("ipxe"),
                raid: Some("no-raid"),
                ..Interfaces::default()
            },
            BmcKind::Redfish | BmcKind::Ilo5Redfish => Interfaces {
                boot: Some("ipxe"),
                ..redfish
            },
            BmcKind::RedfishVirtualMedia | BmcKind::Ilo5VirtualMedia => Interfaces {
                boot: Some("redfish-virtual-media"),
                ..redfish
            },
            BmcKind::RedfishUefiHttp => Interfaces {
                boot: Some("redfish-https"),
                ..redfish
            },
            BmcKind::IdracRedfish => Interfaces {
                boot: Some("ipxe"),
                ..idrac
            },
            BmcKind::IdracVirtualMedia => Interfaces {
                boot: Some("idrac-redfish-virtual-media"),
                ..idrac
            },
        }
    }

    /// The `inspect_interface` for an inspection mode, or an error when the BMC cannot inspect
    /// out of band.
    pub fn inspect_interface(&self, mode: InspectMode) -> Result<&'static str, BmcError> {
        match mode {
            InspectMode::Agent => Ok("agent"),
            InspectMode::Disabled => Ok("no-inspect"),
            InspectMode::Fast => {
                self.interfaces()
                    .inspect
                    .ok_or_else(|| BmcError::NoFastInspection {
                        driver: self.kind.scheme().to_string(),
                    })
            }
        }
    }

    /// True when Ironic can only match this BMC to a machine by its boot MAC (VirtualBMC).
    pub fn needs_mac(&self) -> bool {
        self.kind == BmcKind::Libvirt
    }

    /// True when the BMC supports `spec.raid` (hardware RAID through the BMC).
    pub fn supports_raid(&self) -> bool {
        self.interfaces().raid.is_some_and(|r| r != "no-raid")
    }

    /// True when `bootMode: UEFISecureBoot` is possible.
    pub fn supports_secure_boot(&self) -> bool {
        self.kind.is_redfish()
    }

    /// True when `inspectionMode: fast` (out-of-band inspection) is possible.
    pub fn supports_fast_inspection(&self) -> bool {
        self.interfaces().inspect.is_some()
    }

    /// True when the host boots from virtual media: exempt from the provisioning limit.
    pub fn is_virtual_media(&self) -> bool {
        self.interfaces()
            .boot
            .is_some_and(|b| b.contains("virtual-media"))
    }

    /// True when the BMC boots ISO images (virtual media or UEFI HTTP) and needs no
    /// provisioning network.
    pub fn supports_iso(&self) -> bool {
        matches!(
            self.kind,
            BmcKind::RedfishVirtualMedia
                | BmcKind::Ilo5VirtualMedia
                | BmcKind::IdracVirtualMedia
                | BmcKind::RedfishUefiHttp
        )
    }

    /// True when deployment needs a provisioning network (PXE/iPXE).
    pub fn needs_provisioning_network(&self) -> bool {
        !self.supports_iso()
    }

    /// The node's `driver_info`: address, credentials, TLS verification and deploy images.
    pub fn driver_info(
        &self,
        credentials: &Credentials,
        disable_certificate_verification: bool,
        images: &DeployImages,
    ) -> Map<String, Value> {
        let mut info = Map::new();
        let mut put = |k: &str, v: Value| {
            info.insert(k.to_string(), v);
        };
        if self.kind.is_redfish() {
            if let Some(address) = self.redfish_address() {
                put("redfish_address", Value::String(address));
            }
            if let Some(system) = self.redfish_system_id() {
                put("redfish_system_id", Value::String(system));
            }
            put("redfish_username", credentials.username.clone().into());
            put("redfish_password", credentials.password.clone().into());
            if disable_certificate_verification {
                put("redfish_verify_ca", Value::Bool(false));
            }
        } else {
            put("ipmi_address", Value::String(self.host.to_string()));
            put("ipmi_port", Value::from(self.effective_port()));
            put("ipmi_username", credentials.username.clone().into());
            put("ipmi_password", credentials.password.clone().into());
            let level = self
                .privilege_level
                .clone()
                .unwrap_or_else(|| IPMI_DEFAULT_PRIVILEGE.to_string());
            put("ipmi_priv_level", Value::String(level));
            if disable_certificate_verification {
                put("ipmi_verify_ca", Value::Bool(false));
            }
        }
        match (&images.iso_url, self.supports_iso()) {
            (Some(iso), true) => put("redfish_deploy_iso", Value::String(iso.clone())),
            _ => {
                if let Some(k) = &images.kernel_url {
                    put("deploy_kernel", Value::String(k.clone()));
                }
                if let Some(r) = &images.ramdisk_url {
                    put("deploy_ramdisk", Value::String(r.clone()));
                }
            }
        }
        info
    }
}

/// Keys of `driver_info` that hold secrets: Ironic masks them on read, so they are never
/// compared, and they are never logged.
pub const SECRET_DRIVER_INFO_KEYS: [&str; 2] = ["ipmi_password", "redfish_password"];
