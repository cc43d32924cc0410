//! Ironic's documents: Node, Port and Chassis records, traits, and their JSON shapes per microversion.

use super::encoding::Doc;
use super::version::Version;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use uuid::Uuid;

mod allocation;
pub mod bios;
pub mod bmc_status;
mod chassis;
mod conductor_service;
mod deploy_template;
pub mod driver_facts;
pub mod events;
pub mod firmware;
mod history;
mod inventory;
mod management;
mod port;
mod portgroup;
/// Target RAID configurations, validated as Ironic validates them.
pub mod raid;
mod runbook;
mod state;
mod steps;
mod traits;
mod vif;
mod volume;

pub use allocation::{
    ALLOCATION_FIELDS, Allocation, backfill, deallocation_refusal, pick_node, settle_allocation,
};
pub use bios::{BiosRegistryEntry, BiosSetting};
pub use chassis::{CHASSIS_FIELDS, Chassis, DESCRIPTION_MAX};
pub use conductor_service::{
    CONDUCTOR_FIELDS, CONDUCTOR_HOST, CONDUCTORS_VERSION, conductor_document, unserved_group,
};
pub use deploy_template::{
    DEPLOY_TEMPLATE_FIELDS, DeployTemplate, echoed_steps, template_deploy_steps,
    template_schema_problem,
};
pub use firmware::{FirmwareComponent, ReportedComponent};
pub use history::{HISTORY_VERSION, HistoryEvent, record as record_history};
pub use inventory::InventoryRecord;
pub use management::{
    FAKE_BOOT_DEVICES, boot_device_problem, fake_boot_device, fake_indicator_state, fake_indicators,
};
pub use port::{Port, parse_mac, port_field_min_version};
pub use portgroup::{
    DEFAULT_PORTGROUP_MODE, PORTGROUP_FIELDS, Portgroup, PortgroupRefusal, is_valid_logical_name,
    may_delete, may_join, may_move, portgroup_field_min_version,
};
pub use runbook::{
    RUNBOOK_TRAITS_VERSION, RUNBOOKS_VERSION, Runbook, RunbookNames, RunbookTraitChange,
    owner_refusal, runbook_fields, runbook_schema_problem, runbook_traits,
};
pub use state::{ALL_STATES, NodePower, ProvisionState};
pub use steps::{
    DEPLOY_STEP_INTERFACES, DEPLOY_STEPS, RUNBOOK_STEPS, Step, StepRules, checked_steps,
    duplicate_steps, step_problem, steps_problem,
};
pub use traits::{
    MAX_TRAITS_PER_NODE, TRAIT_MAX_LEN, TraitChange, TraitError, changed_traits, is_standard_trait,
    node_traits, set_node_traits, standard_traits, trait_problem,
};
pub use vif::{
    PortLike, PortLikeKind, TENANT_VIF_KEY, VifAttach, VifError, attached_vifs, holder_of,
    pick_port_like, vif_of, with_vif,
};
pub use volume::{
    JsonType, VolumeKind, VolumeRecord, VolumeRefusal, may_delete_volume, may_update_volume,
    volume_schema_problem,
};
/// Hardware types (Ironic "drivers") the mock serves.
pub const DRIVERS: [&str; 3] = ["fake-hardware", "ipmi", "redfish"];

/// Interface names in the order Ironic prints `<name>_interface`.
pub const INTERFACES: [&str; 13] = [
    "bios",
    "boot",
    "console",
    "deploy",
    "firmware",
    "inspect",
    "management",
    "network",
    "power",
    "raid",
    "rescue",
    "storage",
    "vendor",
];

/// The default interface implementation of a hardware type (as real Ironic 39 answers with the
/// configuration `simulator/tests/ironic_real/mod.rs` starts it with).
pub fn default_interface(driver: &str, interface: &str) -> &'static str {
    match (driver, interface) {
        ("fake-hardware", "boot" | "deploy" | "inspect" | "management" | "power") => "fake",
        ("redfish", "bios" | "inspect" | "management" | "power" | "raid" | "vendor") => "redfish",
        ("ipmi", "management" | "power" | "vendor") => "ipmitool",
        ("ipmi", "inspect") => "agent",
        (_, "boot") => "ipxe",
        (_, "deploy") => "direct",
        (_, "bios") => "no-bios",
        (_, "console") => "no-console",
        (_, "firmware") => "no-firmware",
        (_, "inspect") => "no-inspect",
        (_, "network") => "noop",
        (_, "raid") => "no-raid",
        (_, "rescue") => "no-rescue",
        (_, "storage") => "noop",
        (_, "vendor") => "no-vendor",
        _ => "",
    }
}

/// Node fields a client may PATCH (Ironic's list, in its order).
pub const PATCHABLE: [&str; 37] = [
    "automated_clean",
    "bios_interface",
    "boot_interface",
    "chassis_uuid",
    "conductor_group",
    "console_interface",
    "deploy_interface",
    "description",
    "disable_power_off",
    "driver",
    "driver_info",
    "extra",
    "inspect_interface",
    "instance_info",
    "instance_name",
    "instance_uuid",
    "lessee",
    "maintenance",
    "management_interface",
    "name",
    "network_data",
    "network_interface",
    "owner",
    "power_interface",
    "properties",
    "protected",
    "protected_reason",
    "raid_interface",
    "rescue_interface",
    "resource_class",
    "retired",
    "retired_reason",
    "shard",
    "storage_interface",
    "vendor_interface",
    "parent_node",
    "firmware_interface",
];

/// Minimum microversion of each versioned node field (others are always shown).
pub fn node_field_min_version(field: &str) -> u32 {
    match field {
        "driver_internal_info" => 3,
        "name" => 5,
        "inspection_finished_at" | "inspection_started_at" => 6,
        "clean_step" => 7,
        "raid_config" | "target_raid_config" => 12,
        "network_interface" => 20,
        "resource_class" => 21,
        "boot_interface"
        | "console_interface"
        | "deploy_interface"
        | "inspect_interface"
        | "management_interface"
        | "power_interface"
        | "raid_interface"
        | "vendor_interface" => 31,
        "storage_interface" => 33,
        "traits" => 37,
        "rescue_interface" => 38,
        "bios_interface" => 40,
        "fault" => 42,
        "deploy_step" => 44,
        "conductor_group" => 46,
        "automated_clean" => 47,
        "protected" | "protected_reason" => 48,
        "conductor" => 49,
        "owner" => 50,
        "description" => 51,
        "allocation_uuid" => 52,
        "retired" | "retired_reason" => 61,
        "lessee" => 65,
        "network_data" => 66,
        "boot_mode" | "secure_boot" => 75,
        "shard" => 82,
        "parent_node" => 83,
        "firmware_interface" => 86,
        "service_step" => 87,
        "disable_power_off" => 95,
        "instance_name" => 104,
        "health" => 109,
        _ => 1,
    }
}

/// Keys of a node in a plain (non-detail) listing, in Ironic's order (the `next` link lists them).
pub const NODE_LIST_FIELDS: [&str; 6] = [
    "instance_uuid",
    "maintenance",
    "power_state",
    "provision_state",
    "uuid",
    "name",
];

/// An agent's registration with its node.
#[derive(Clone, Default, PartialEq)]
pub struct AgentSession {
    /// Token handed out on the first lookup.
    pub token: Option<String>,
    /// Where the agent listens.
    pub callback_url: Option<String>,
    /// Agent version string.
    pub version: Option<String>,
    /// Last heartbeat.
    pub last_heartbeat: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for AgentSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentSession")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("callback_url", &self.callback_url)
            .field("version", &self.version)
            .field("last_heartbeat", &self.last_heartbeat)
            .finish()
    }
}

/// A bare-metal node as the conductor's database holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Internal row id (appears in some Ironic error texts).
    pub id: u64,
    /// Node UUID.
    pub uuid: Uuid,
    /// Optional unique name.
    pub name: Option<String>,
    /// Hardware type.
    pub driver: String,
    /// Interface implementations, keyed by interface name (without `_interface`).
    pub interfaces: Map<String, Value>,
    /// Free-form dictionaries Ironic keeps on a node.
    pub driver_info: Map<String, Value>,
    /// Conductor-private data.
    pub driver_internal_info: Map<String, Value>,
    /// User data.
    pub extra: Map<String, Value>,
    /// Deployment parameters.
    pub instance_info: Map<String, Value>,
    /// Hardware properties.
    pub properties: Map<String, Value>,
    /// Other scalar and structured fields, keyed by their Ironic name (owner, lessee, ...).
    pub misc: Map<String, Value>,
    /// Provision state.
    pub provision_state: ProvisionState,
    /// Where an in-flight operation is heading.
    pub target_provision_state: Option<ProvisionState>,
    /// Last provision state change.
    pub provision_updated_at: Option<DateTime<Utc>>,
    /// Observed power.
    pub power_state: Option<NodePower>,
    /// Pending power target.
    pub target_power_state: Option<NodePower>,
    /// Maintenance flag and reason.
    pub maintenance: bool,
    /// Why maintenance is set.
    pub maintenance_reason: Option<String>,
    /// "power failure" etc. when the conductor set maintenance itself.
    pub fault: Option<String>,
    /// Last operation failure.
    pub last_error: Option<String>,
    /// The conductor holding the lock.
    pub reservation: Option<String>,
    /// Inspection timestamps.
    pub inspection_started_at: Option<DateTime<Utc>>,
    /// Inspection timestamps.
    pub inspection_finished_at: Option<DateTime<Utc>>,
    /// Inventory and plugin data from the last inspection.
    pub inventory: Option<InventoryRecord>,
    /// Events recorded against the node (its failures), oldest first.
    pub history: Vec<HistoryEvent>,
    /// Agent registration.
    pub agent: AgentSession,
    /// Virtual media attached through the API.
    pub vmedia: Option<Value>,
    /// The BIOS settings read from the BMC at the last verification (sorted by name).
    pub bios: Vec<BiosSetting>,
    /// The firmware components read from the BMC (`redfish` firmware interface), first read first.
    pub firmware: Vec<FirmwareComponent>,
    /// Creation and update times.
    pub created_at: DateTime<Utc>,
    /// Last update.
    pub updated_at: Option<DateTime<Utc>>,
}

fn misc_default(field: &str) -> Value {
    match field {
        "conductor_group" => json!(""),
        "console_enabled" | "protected" | "retired" | "disable_power_off" => json!(false),
        "clean_step" | "deploy_step" | "service_step" | "raid_config" | "target_raid_config"
        | "network_data" => json!({}),
        "traits" => json!([]),
        _ => Value::Null,
    }
}

pub(crate) fn ts(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| {
        Value::String(t.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string())
    })
}

/// A resource document's opening fields, as every Ironic resource starts: `uuid`, `created_at`,
/// `updated_at`.
pub(crate) fn stamped(
    uuid: Uuid,
    created_at: DateTime<Utc>,
    updated_at: Option<DateTime<Utc>>,
) -> Doc {
    let mut d = Doc::new();
    d.put("uuid", uuid.to_string());
    d.put("created_at", ts(Some(created_at)));
    d.put("updated_at", ts(updated_at));
    d
}

/// Self and bookmark links for `/v1/<kind>/<id>[/<sub>]`.
pub fn links(base: &str, path: &str) -> Value {
    json!([
        {"href": format!("{base}/v1/{path}"), "rel": "self"},
        {"href": format!("{base}/{path}"), "rel": "bookmark"}
    ])
}

impl Node {
    /// A new node in `enroll` (or `available` for microversions before 1.11, as Ironic does).
    pub fn new(id: u64, uuid: Uuid, driver: &str, now: DateTime<Utc>, version: Version) -> Self {
        let mut interfaces = Map::new();
        for i in INTERFACES {
            interfaces.insert(i.to_string(), json!(default_interface(driver, i)));
        }
        Self {
            id,
            uuid,
            name: None,
            driver: driver.to_string(),
            interfaces,
            driver_info: Map::new(),
            driver_internal_info: Map::new(),
            extra: Map::new(),
            instance_info: Map::new(),
            properties: Map::new(),
            misc: Map::new(),
            provision_state: if version.at_least(11) {
                ProvisionState::Enroll
            } else {
                ProvisionState::Available
            },
            target_provision_state: None,
            provision_updated_at: None,
            power_state: None,
            target_power_state: None,
            maintenance: false,
            maintenance_reason: None,
            fault: None,
            last_error: None,
            reservation: None,
            inspection_started_at: None,
            inspection_finished_at: None,
            inventory: None,
            history: Vec::new(),
            agent: AgentSession::default(),
            vmedia: None,
            bios: Vec::new(),
            firmware: Vec::new(),
            created_at: now,
            updated_at: None,
        }
    }

    /// The identifier Ironic echoes in messages: the name when given, else the UUID.
    pub fn ident(&self) -> String {
        self.uuid.to_string()
    }

    fn misc(&self, key: &str) -> Value {
        self.misc
            .get(key)
            .cloned()
            .unwrap_or_else(|| misc_default(key))
    }

    fn iface(&self, name: &str) -> Value {
        self.interfaces.get(name).cloned().unwrap_or(Value::Null)
    }

    /// `driver_info` with secrets masked the way Ironic masks them.
    pub fn masked_driver_info(&self) -> Value {
        let mut info = self.driver_info.clone();
        for (k, v) in info.iter_mut() {
            if is_driver_secret(k) {
                *v = json!("******");
            }
        }
        Value::Object(info)
    }

    /// `instance_info` as Ironic shows it to API clients (its default policy never shows instance
    /// secrets): secret-looking keys, the config drive (user data) and `image_url` masked.
    pub fn masked_instance_info(&self) -> Value {
        let mut info = self.instance_info.clone();
        for (k, v) in info.iter_mut() {
            if is_instance_secret(k) && !v.is_null() && v != "" {
                *v = json!("******");
            }
        }
        Value::Object(info)
    }

    /// The full node document in Ironic's key order, with every field (filtering happens later).
    pub fn document(&self, base: &str) -> Doc {
        let mut d = stamped(self.uuid, self.created_at, self.updated_at);
        let id = self.uuid.to_string();
        d.put("automated_clean", self.misc("automated_clean"));
        d.put("bios_interface", self.iface("bios"));
        d.put("boot_interface", self.iface("boot"));
        d.put("boot_mode", self.misc("boot_mode"));
        d.put("clean_step", self.misc("clean_step"));
        d.put("conductor_group", self.misc("conductor_group"));
        d.put("console_enabled", self.misc("console_enabled"));
        d.put("console_interface", self.iface("console"));
        d.put("disable_power_off", self.misc("disable_power_off"));
        d.put("deploy_interface", self.iface("deploy"));
        d.put("deploy_step", self.misc("deploy_step"));
        d.put("description", self.misc("description"));
        d.put("driver", self.driver.clone());
        d.put("driver_info", self.masked_driver_info());
        d.put(
            "driver_internal_info",
            Value::Object(self.driver_internal_info.clone()),
        );
        d.put("extra", Value::Object(self.extra.clone()));
        d.put("fault", self.fault.clone());
        d.put("firmware_interface", self.iface("firmware"));
        d.put("health", self.misc("health"));
        d.put("inspection_finished_at", ts(self.inspection_finished_at));
        d.put("inspection_started_at", ts(self.inspection_started_at));
        d.put("inspect_interface", self.iface("inspect"));
        d.put("instance_info", self.masked_instance_info());
        d.put("instance_name", self.misc("instance_name"));
        d.put("instance_uuid", self.misc("instance_uuid"));
        d.put("last_error", self.last_error.clone());
        d.put("lessee", self.misc("lessee"));
        d.put("maintenance", self.maintenance);
        d.put("maintenance_reason", self.maintenance_reason.clone());
        d.put("management_interface", self.iface("management"));
        d.put("name", self.name.clone());
        d.put("network_data", self.misc("network_data"));
        d.put("network_interface", self.iface("network"));
        d.put("owner", self.misc("owner"));
        d.put("parent_node", self.misc("parent_node"));
        d.put("power_interface", self.iface("power"));
        d.put("power_state", self.power_state.map(NodePower::as_str));
        d.put("properties", Value::Object(self.properties.clone()));
        d.put("protected", self.misc("protected"));
        d.put("protected_reason", self.misc("protected_reason"));
        d.put("provision_state", self.provision_state.as_str());
        d.put("provision_updated_at", ts(self.provision_updated_at));
        d.put("raid_config", self.misc("raid_config"));
        d.put("raid_interface", self.iface("raid"));
        d.put("rescue_interface", self.iface("rescue"));
        d.put("reservation", self.reservation.clone());
        d.put("resource_class", self.misc("resource_class"));
        d.put("retired", self.misc("retired"));
        d.put("retired_reason", self.misc("retired_reason"));
        d.put("secure_boot", self.misc("secure_boot"));
        d.put("service_step", self.misc("service_step"));
        d.put("shard", self.misc("shard"));
        d.put("storage_interface", self.iface("storage"));
        d.put(
            "target_power_state",
            self.target_power_state.map(NodePower::as_str),
        );
        d.put(
            "target_provision_state",
            self.target_provision_state.map(ProvisionState::as_str),
        );
        d.put("target_raid_config", self.misc("target_raid_config"));
        d.put("traits", self.misc("traits"));
        d.put("vendor_interface", self.iface("vendor"));
        d.put("links", links(base, &format!("nodes/{id}")));
        d.put("conductor", CONDUCTOR_HOST);
        d.put("allocation_uuid", self.misc("allocation_uuid"));
        d.put("chassis_uuid", self.misc("chassis_uuid"));
        for sub in ["ports", "states", "portgroups", "volume"] {
            d.put(sub, links(base, &format!("nodes/{id}/{sub}")));
        }
        d
    }

    /// The document a client sees: full (`detail`), a plain listing, or `fields`, gated by version.
    pub fn render(&self, base: &str, version: Version, shape: &Shape) -> Doc {
        if *shape == Shape::List {
            // The hot path of `GET /v1/nodes`: build only the listed keys.
            let mut d = Doc(Vec::with_capacity(7));
            d.put("uuid", self.uuid.to_string());
            d.put("instance_uuid", self.misc("instance_uuid"));
            d.put("maintenance", self.maintenance);
            d.put("power_state", self.power_state.map(NodePower::as_str));
            d.put("provision_state", self.provision_state.as_str());
            if version.at_least(node_field_min_version("name")) {
                d.put("name", self.name.clone());
            }
            d.put("links", links(base, &format!("nodes/{}", self.uuid)));
            return d;
        }
        let mut d = self.document(base);
        d.0.retain(|(k, _)| version.at_least(node_field_min_version(k)));
        match shape {
            Shape::Detail => {}
            Shape::List => {
                let keep: Vec<String> = NODE_LIST_FIELDS
                    .iter()
                    .chain(["links"].iter())
                    .map(|s| s.to_string())
                    .collect();
                d.retain_keys(&keep);
            }
            Shape::Fields(f) => {
                let mut keep = f.clone();
                keep.push("links".to_string());
                d.retain_keys(&keep);
            }
        }
        d
    }

    /// The `GET /v1/nodes/<id>/states` document.
    pub fn states_document(&self, version: Version) -> Doc {
        let d = self.document("");
        let mut out = Doc::new();
        for k in [
            "console_enabled",
            "last_error",
            "power_state",
            "provision_state",
            "target_power_state",
            "target_provision_state",
            "provision_updated_at",
            "raid_config",
            "target_raid_config",
            "boot_mode",
            "secure_boot",
        ] {
            if version.at_least(node_field_min_version(k))
                && let Some(v) = d.get(k)
            {
                out.put(k, v.clone());
            }
        }
        out
    }

    /// Every field name a node document can carry (for `fields` validation).
    pub fn field_names() -> Vec<String> {
        let probe = Node::new(
            0,
            Uuid::nil(),
            "fake-hardware",
            DateTime::<Utc>::MIN_UTC,
            Version::v1(115),
        );
        probe.document("").0.into_iter().map(|(k, _)| k).collect()
    }
}

/// Which node or port representation a request asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// Every field (`/detail`, show).
    Detail,
    /// The short listing.
    List,
    /// Only these fields.
    Fields(Vec<String>),
}

/// A `driver_info` key Ironic masks (`*_password`, SNMP keys, …).
pub fn is_driver_secret(key: &str) -> bool {
    key.contains("password") || key.ends_with("_key")
}

/// An `instance_info` key Ironic masks: password- or secret-like keys (oslo's list, in short), the
/// config drive and the image URL (it may carry a temporary URL's signature).
pub fn is_instance_secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["password", "secret", "token", "passphrase", "configdrive"]
        .iter()
        .any(|s| k.contains(s))
        || k.ends_with("_key")
        || k == "image_url"
}

#[cfg(test)]
mod tests;
