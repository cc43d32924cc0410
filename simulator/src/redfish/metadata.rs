//! The service's schema facts: the versioned `@odata.type` of every resource we serve, the CSDL
//! `$metadata` document that references them, and the OData service document.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::document::{self, ALLOW_GET, ODATA_VERSION};

/// One schema the service uses: its CSDL file stem and the versioned namespace (if any).
struct SchemaUse {
    stem: &'static str,
    version: Option<&'static str>,
}

const fn versioned(stem: &'static str, version: &'static str) -> SchemaUse {
    SchemaUse {
        stem,
        version: Some(version),
    }
}

const fn unversioned(stem: &'static str) -> SchemaUse {
    SchemaUse {
        stem,
        version: None,
    }
}

/// Every schema referenced by `$metadata`; the `@odata.type` constants below must appear here.
const SCHEMAS: &[SchemaUse] = &[
    versioned("ServiceRoot", "v1_15_0"),
    versioned("ComputerSystem", "v1_20_0"),
    unversioned("ComputerSystemCollection"),
    versioned("BootOption", "v1_0_4"),
    unversioned("BootOptionCollection"),
    versioned("Manager", "v1_17_0"),
    unversioned("ManagerCollection"),
    versioned("Chassis", "v1_23_0"),
    unversioned("ChassisCollection"),
    versioned("SessionService", "v1_1_8"),
    versioned("Session", "v1_6_0"),
    unversioned("SessionCollection"),
    versioned("AccountService", "v1_13_0"),
    versioned("ManagerAccount", "v1_10_0"),
    unversioned("ManagerAccountCollection"),
    versioned("Role", "v1_3_1"),
    unversioned("RoleCollection"),
    versioned("VirtualMedia", "v1_6_0"),
    unversioned("VirtualMediaCollection"),
    versioned("Bios", "v1_2_0"),
    versioned("SecureBoot", "v1_1_0"),
    versioned("Processor", "v1_18_0"),
    unversioned("ProcessorCollection"),
    versioned("Memory", "v1_17_0"),
    unversioned("MemoryCollection"),
    versioned("Storage", "v1_15_0"),
    unversioned("StorageCollection"),
    versioned("Drive", "v1_17_0"),
    unversioned("DriveCollection"),
    versioned("StorageController", "v1_7_0"),
    unversioned("StorageControllerCollection"),
    versioned("Volume", "v1_9_0"),
    unversioned("VolumeCollection"),
    versioned("EthernetInterface", "v1_9_0"),
    unversioned("EthernetInterfaceCollection"),
    versioned("PCIeDevice", "v1_11_0"),
    unversioned("PCIeDeviceCollection"),
    versioned("UpdateService", "v1_11_0"),
    versioned("SoftwareInventory", "v1_9_0"),
    unversioned("SoftwareInventoryCollection"),
    versioned("TaskService", "v1_2_0"),
    versioned("Task", "v1_7_0"),
    unversioned("TaskCollection"),
    versioned("ActionInfo", "v1_3_0"),
    versioned("Message", "v1_1_1"),
    versioned("Settings", "v1_3_5"),
    versioned("EventService", "v1_7_0"),
    versioned("EventDestination", "v1_9_0"),
    unversioned("EventDestinationCollection"),
    versioned("Event", "v1_7_0"),
    versioned("MessageRegistryFile", "v1_1_5"),
    unversioned("MessageRegistryFileCollection"),
    versioned("AttributeRegistry", "v1_3_8"),
    unversioned("Resource"),
    unversioned("RedfishExtensions"),
];

/// `@odata.type` values of the resources we serve (kept in step with [`SCHEMAS`]).
pub mod types {
    pub const SERVICE_ROOT: &str = "#ServiceRoot.v1_15_0.ServiceRoot";
    pub const SYSTEM: &str = "#ComputerSystem.v1_20_0.ComputerSystem";
    pub const SYSTEM_COLLECTION: &str = "#ComputerSystemCollection.ComputerSystemCollection";
    pub const BOOT_OPTION: &str = "#BootOption.v1_0_4.BootOption";
    pub const BOOT_OPTION_COLLECTION: &str = "#BootOptionCollection.BootOptionCollection";
    pub const MANAGER: &str = "#Manager.v1_17_0.Manager";
    pub const MANAGER_COLLECTION: &str = "#ManagerCollection.ManagerCollection";
    pub const CHASSIS: &str = "#Chassis.v1_23_0.Chassis";
    pub const CHASSIS_COLLECTION: &str = "#ChassisCollection.ChassisCollection";
    pub const SESSION_SERVICE: &str = "#SessionService.v1_1_8.SessionService";
    pub const SESSION: &str = "#Session.v1_6_0.Session";
    pub const SESSION_COLLECTION: &str = "#SessionCollection.SessionCollection";
    pub const ACCOUNT_SERVICE: &str = "#AccountService.v1_13_0.AccountService";
    pub const ACCOUNT: &str = "#ManagerAccount.v1_10_0.ManagerAccount";
    pub const ACCOUNT_COLLECTION: &str = "#ManagerAccountCollection.ManagerAccountCollection";
    pub const ROLE: &str = "#Role.v1_3_1.Role";
    pub const ROLE_COLLECTION: &str = "#RoleCollection.RoleCollection";
    pub const VIRTUAL_MEDIA: &str = "#VirtualMedia.v1_6_0.VirtualMedia";
    pub const VIRTUAL_MEDIA_COLLECTION: &str = "#VirtualMediaCollection.VirtualMediaCollection";
    pub const BIOS: &str = "#Bios.v1_2_0.Bios";
    pub const SECURE_BOOT: &str = "#SecureBoot.v1_1_0.SecureBoot";
    pub const PROCESSOR: &str = "#Processor.v1_18_0.Processor";
    pub const PROCESSOR_COLLECTION: &str = "#ProcessorCollection.ProcessorCollection";
    pub const MEMORY: &str = "#Memory.v1_17_0.Memory";
    pub const MEMORY_COLLECTION: &str = "#MemoryCollection.MemoryCollection";
    pub const STORAGE: &str = "#Storage.v1_15_0.Storage";
    pub const STORAGE_COLLECTION: &str = "#StorageCollection.StorageCollection";
    pub const DRIVE: &str = "#Drive.v1_17_0.Drive";
    pub const DRIVE_COLLECTION: &str = "#DriveCollection.DriveCollection";
    pub const STORAGE_CONTROLLER: &str = "#StorageController.v1_7_0.StorageController";
    pub const STORAGE_CONTROLLER_COLLECTION: &str =
        "#StorageControllerCollection.StorageControllerCollection";
    pub const OPERATION_APPLY_TIME_SUPPORT: &str = "#Settings.v1_3_5.OperationApplyTimeSupport";
    pub const VOLUME: &str = "#Volume.v1_9_0.Volume";
    pub const VOLUME_COLLECTION: &str = "#VolumeCollection.VolumeCollection";
    pub const ETHERNET_INTERFACE: &str = "#EthernetInterface.v1_9_0.EthernetInterface";
    pub const ETHERNET_INTERFACE_COLLECTION: &str =
        "#EthernetInterfaceCollection.EthernetInterfaceCollection";
    pub const PCIE_DEVICE: &str = "#PCIeDevice.v1_11_0.PCIeDevice";
    pub const PCIE_DEVICE_COLLECTION: &str = "#PCIeDeviceCollection.PCIeDeviceCollection";
    pub const UPDATE_SERVICE: &str = "#UpdateService.v1_11_0.UpdateService";
    pub const SOFTWARE_INVENTORY: &str = "#SoftwareInventory.v1_9_0.SoftwareInventory";
    pub const SOFTWARE_INVENTORY_COLLECTION: &str =
        "#SoftwareInventoryCollection.SoftwareInventoryCollection";
    pub const TASK_SERVICE: &str = "#TaskService.v1_2_0.TaskService";
    pub const TASK: &str = "#Task.v1_7_0.Task";
    pub const TASK_COLLECTION: &str = "#TaskCollection.TaskCollection";
    pub const ACTION_INFO: &str = "#ActionInfo.v1_3_0.ActionInfo";
    pub const SETTINGS: &str = "#Settings.v1_3_5.Settings";
    pub const EVENT_SERVICE: &str = "#EventService.v1_7_0.EventService";
    pub const EVENT_DESTINATION: &str = "#EventDestination.v1_9_0.EventDestination";
    pub const EVENT_DESTINATION_COLLECTION: &str =
        "#EventDestinationCollection.EventDestinationCollection";
    pub const EVENT: &str = "#Event.v1_7_0.Event";
    pub const MESSAGE_REGISTRY_FILE: &str = "#MessageRegistryFile.v1_1_5.MessageRegistryFile";
    pub const MESSAGE_REGISTRY_FILE_COLLECTION: &str =
        "#MessageRegistryFileCollection.MessageRegistryFileCollection";
    pub const ATTRIBUTE_REGISTRY: &str = "#AttributeRegistry.v1_3_8.AttributeRegistry";
}

/// The CSDL `$metadata` document: one reference per schema we use and the service container.
pub fn csdl() -> String {
    let mut xml = String::with_capacity(8 * 1024);
    xml.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    xml.push_str(
        "<edmx:Edmx xmlns:edmx=\"http://docs.oasis-open.org/odata/ns/edmx\" Version=\"4.0\">\n",
    );
    for schema in SCHEMAS {
        xml.push_str(&format!(
            "  <edmx:Reference Uri=\"http://redfish.dmtf.org/schemas/v1/{}_v1.xml\">\n",
            schema.stem
        ));
        xml.push_str(&format!(
            "    <edmx:Include Namespace=\"{}\"/>\n",
            schema.stem
        ));
        if let Some(version) = schema.version {
            xml.push_str(&format!(
                "    <edmx:Include Namespace=\"{}.{}\"/>\n",
                schema.stem, version
            ));
        }
        xml.push_str("  </edmx:Reference>\n");
    }
    xml.push_str(
        "  <edmx:Reference Uri=\"http://docs.oasis-open.org/odata/odata/v4.0/errata03/csd01/complete/vocabularies/Org.OData.Core.V1.xml\">\n    <edmx:Include Namespace=\"Org.OData.Core.V1\" Alias=\"OData\"/>\n  </edmx:Reference>\n",
    );
    xml.push_str("  <edmx:DataServices>\n");
    xml.push_str(
        "    <Schema xmlns=\"http://docs.oasis-open.org/odata/ns/edm\" Namespace=\"Service\">\n",
    );
    xml.push_str(
        "      <EntityContainer Name=\"Service\" Extends=\"ServiceRoot.v1_15_0.ServiceContainer\"/>\n",
    );
    xml.push_str("    </Schema>\n  </edmx:DataServices>\n</edmx:Edmx>\n");
    xml
}

/// `GET /redfish/v1/$metadata`.
pub fn metadata_response() -> Response {
    let mut response = csdl().into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml; charset=utf-8"),
    );
    headers.insert("OData-Version", HeaderValue::from_static(ODATA_VERSION));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::ALLOW, HeaderValue::from_static(ALLOW_GET));
    response
}

/// The top-level services listed by the OData service document.
const SERVICES: &[(&str, &str)] = &[
    ("Systems", "/redfish/v1/Systems"),
    ("Chassis", "/redfish/v1/Chassis"),
    ("Managers", "/redfish/v1/Managers"),
    ("SessionService", "/redfish/v1/SessionService"),
    ("AccountService", "/redfish/v1/AccountService"),
    ("UpdateService", "/redfish/v1/UpdateService"),
    ("TaskService", "/redfish/v1/TaskService"),
    ("Registries", "/redfish/v1/Registries"),
    ("EventService", "/redfish/v1/EventService"),
];

/// `GET /redfish/v1/odata`: the OData service document.
pub fn service_document() -> document::Document {
    let mut value = vec![json!({"name": "Service", "kind": "Singleton", "url": "/redfish/v1/"})];
    value.extend(
        SERVICES
            .iter()
            .map(|(name, url)| json!({"name": name, "kind": "Singleton", "url": url})),
    );
    document::Document::ok(
        json!({"@odata.context": "/redfish/v1/$metadata", "value": Value::Array(value)}),
        ALLOW_GET,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn odata_types() -> Vec<&'static str> {
        vec![
            types::SERVICE_ROOT,
            types::SYSTEM,
            types::SYSTEM_COLLECTION,
            types::MANAGER,
            types::BOOT_OPTION,
            types::BOOT_OPTION_COLLECTION,
            types::CHASSIS,
            types::SESSION_SERVICE,
            types::SESSION,
            types::ACCOUNT_SERVICE,
            types::ACCOUNT,
            types::ROLE,
            types::VIRTUAL_MEDIA,
            types::BIOS,
            types::SECURE_BOOT,
            types::PROCESSOR,
            types::MEMORY,
            types::STORAGE,
            types::DRIVE,
            types::VOLUME,
            types::STORAGE_CONTROLLER,
            types::STORAGE_CONTROLLER_COLLECTION,
            types::ETHERNET_INTERFACE,
            types::PCIE_DEVICE,
            types::UPDATE_SERVICE,
            types::SOFTWARE_INVENTORY,
            types::TASK_SERVICE,
            types::TASK,
            types::ACTION_INFO,
            types::SETTINGS,
            types::EVENT_SERVICE,
            types::EVENT_DESTINATION,
            types::EVENT_DESTINATION_COLLECTION,
            types::EVENT,
            types::MESSAGE_REGISTRY_FILE,
            types::MESSAGE_REGISTRY_FILE_COLLECTION,
            types::ATTRIBUTE_REGISTRY,
        ]
    }

    #[test]
    fn every_served_type_is_referenced_by_metadata() {
        let xml = csdl();
        for t in odata_types() {
            let name = t.trim_start_matches('#');
            let (namespace, _) = name.rsplit_once('.').unwrap();
            assert!(
                xml.contains(&format!("Namespace=\"{namespace}\"")),
                "{namespace} missing from $metadata"
            );
        }
    }
}
