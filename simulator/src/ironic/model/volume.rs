//! Volume connectors and targets (a node's boot-from-volume data): one record shape for both,
//! described by [`VolumeKind`] (schema, document order, columns, uniqueness), and the conductor's
//! rules for them: a node must be powered off to change one, and powered off or in a state that
//! allows deletion to delete one.

use super::{NodePower, ProvisionState, Shape, is_instance_secret, links, stamped};
use crate::ironic::encoding::Doc;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

/// Which of the two volume resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolumeKind {
    /// `/v1/volume/connectors`.
    Connector,
    /// `/v1/volume/targets`.
    Target,
}

/// A JSON type a schema property allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonType {
    /// `string`.
    Str,
    /// `integer`.
    Int,
    /// `object`.
    Object,
    /// `null`.
    Null,
}

impl JsonType {
    fn name(self) -> &'static str {
        match self {
            JsonType::Str => "string",
            JsonType::Int => "integer",
            JsonType::Object => "object",
            JsonType::Null => "null",
        }
    }

    fn fits(self, v: &Value) -> bool {
        match self {
            JsonType::Str => v.is_string(),
            JsonType::Int => v.is_i64() || v.is_u64(),
            JsonType::Object => v.is_object(),
            JsonType::Null => v.is_null(),
        }
    }
}

impl VolumeKind {
    /// The path under `/v1/`.
    pub fn path(self) -> &'static str {
        match self {
            VolumeKind::Connector => "volume/connectors",
            VolumeKind::Target => "volume/targets",
        }
    }

    /// The listing's key.
    pub fn collection(self) -> &'static str {
        match self {
            VolumeKind::Connector => "connectors",
            VolumeKind::Target => "targets",
        }
    }

    /// How Ironic's texts name one (`Volume connector`).
    pub fn noun(self) -> &'static str {
        match self {
            VolumeKind::Connector => "Volume connector",
            VolumeKind::Target => "Volume target",
        }
    }

    /// How Ironic's texts name one in lower case (`volume connector`).
    pub fn lower(self) -> &'static str {
        match self {
            VolumeKind::Connector => "volume connector",
            VolumeKind::Target => "volume target",
        }
    }

    /// The schema's name in `Schema error for <name>`.
    pub fn schema_name(self) -> &'static str {
        match self {
            VolumeKind::Connector => "connector",
            VolumeKind::Target => "target",
        }
    }

    /// The schema's properties and the types each allows.
    pub fn properties(self) -> &'static [(&'static str, &'static [JsonType])] {
        use JsonType::*;
        match self {
            VolumeKind::Connector => &[
                ("connector_id", &[Str]),
                ("extra", &[Object, Null]),
                ("node_uuid", &[Str]),
                ("type", &[Str]),
                ("uuid", &[Str, Null]),
            ],
            VolumeKind::Target => &[
                ("boot_index", &[Int]),
                ("extra", &[Object, Null]),
                ("node_uuid", &[Str]),
                ("properties", &[Object, Null]),
                ("volume_id", &[Str]),
                ("volume_type", &[Str]),
                ("uuid", &[Str, Null]),
            ],
        }
    }

    /// The schema's required properties, in its order.
    pub fn required(self) -> &'static [&'static str] {
        match self {
            VolumeKind::Connector => &["connector_id", "node_uuid", "type"],
            VolumeKind::Target => &["boot_index", "node_uuid", "volume_id", "volume_type"],
        }
    }

    /// The record's own fields, in the document's order.
    pub fn own_fields(self) -> &'static [&'static str] {
        match self {
            VolumeKind::Connector => &["connector_id", "extra", "type"],
            VolumeKind::Target => &[
                "boot_index",
                "extra",
                "properties",
                "volume_id",
                "volume_type",
            ],
        }
    }

    /// The fields a plain listing shows (and its `next` link names).
    pub fn list_fields(self) -> &'static [&'static str] {
        match self {
            VolumeKind::Connector => &["uuid", "node_uuid", "type", "connector_id"],
            VolumeKind::Target => &[
                "uuid",
                "node_uuid",
                "volume_type",
                "boot_index",
                "volume_id",
            ],
        }
    }

    /// Every field `fields=` may name, sorted as Ironic's schema lists them.
    pub fn field_names(self) -> &'static [&'static str] {
        match self {
            VolumeKind::Connector => &[
                "connector_id",
                "created_at",
                "extra",
                "links",
                "node_uuid",
                "type",
                "updated_at",
                "uuid",
            ],
            VolumeKind::Target => &[
                "boot_index",
                "created_at",
                "extra",
                "links",
                "node_uuid",
                "properties",
                "updated_at",
                "uuid",
                "volume_id",
                "volume_type",
            ],
        }
    }

    /// The fields a patch may change.
    pub fn patchable(self) -> &'static [&'static str] {
        match self {
            VolumeKind::Connector => &["connector_id", "extra", "node_uuid", "type"],
            VolumeKind::Target => &[
                "boot_index",
                "extra",
                "node_uuid",
                "properties",
                "volume_id",
                "volume_type",
            ],
        }
    }

    /// The table's columns, and the JSON ones the API refuses to sort by.
    pub fn columns(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            VolumeKind::Connector => (
                &[
                    "id",
                    "uuid",
                    "node_id",
                    "type",
                    "connector_id",
                    "extra",
                    "version",
                    "created_at",
                    "updated_at",
                ],
                &["extra"],
            ),
            VolumeKind::Target => (
                &[
                    "id",
                    "uuid",
                    "node_id",
                    "volume_type",
                    "properties",
                    "boot_index",
                    "volume_id",
                    "extra",
                    "version",
                    "created_at",
                    "updated_at",
                ],
                &["extra", "properties"],
            ),
        }
    }

    /// The conflict two records of this kind cannot share, as Ironic's database words it:
    /// a connector's type and connector ID, a target's node and boot index.
    pub fn duplicate(self, a: &VolumeRecord, b: &VolumeRecord) -> Option<String> {
        let same = |k: &str| a.fields.get(k) == b.fields.get(k);
        match self {
            VolumeKind::Connector if same("type") && same("connector_id") => Some(format!(
                "A volume connector with type {} and connector ID {} already exists.",
                a.text("type"),
                a.text("connector_id")
            )),
            VolumeKind::Target if a.node_uuid == b.node_uuid && same("boot_index") => {
                Some(format!(
                    "A volume target with boot index '{}' for the same node already exists.",
                    a.fields.get("boot_index").cloned().unwrap_or(Value::Null)
                ))
            }
            _ => None,
        }
    }
}

/// A volume connector or target.
#[derive(Debug, Clone, PartialEq)]
pub struct VolumeRecord {
    /// Creation order (the table's `id`).
    pub id: u64,
    /// Its UUID.
    pub uuid: Uuid,
    /// The node it belongs to.
    pub node_uuid: Uuid,
    /// Its own fields ([`VolumeKind::own_fields`]), as validated.
    pub fields: Map<String, Value>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Update time.
    pub updated_at: Option<DateTime<Utc>>,
}

impl VolumeRecord {
    fn text(&self, key: &str) -> String {
        match self.fields.get(key) {
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => String::new(),
        }
    }

    /// The full document in Ironic's key order (a target's secret-looking properties masked).
    pub fn document(&self, kind: VolumeKind, base: &str) -> Doc {
        let mut d = stamped(self.uuid, self.created_at, self.updated_at);
        for f in kind.own_fields() {
            let mut v = self.fields.get(*f).cloned().unwrap_or(Value::Null);
            if matches!(*f, "extra" | "properties") && v.is_null() {
                v = Value::Object(Map::new());
            }
            if *f == "properties"
                && let Value::Object(m) = &mut v
            {
                for (k, x) in m.iter_mut() {
                    if is_instance_secret(k) {
                        *x = Value::String("******".into());
                    }
                }
            }
            d.put(f, v);
        }
        d.put(
            "links",
            links(base, &format!("{}/{}", kind.path(), self.uuid)),
        );
        d.put("node_uuid", self.node_uuid.to_string());
        d
    }

    /// The document a client sees.
    pub fn render(&self, kind: VolumeKind, base: &str, shape: &Shape) -> Doc {
        let mut d = self.document(kind, base);
        match shape {
            Shape::Detail => {}
            Shape::List => {
                let mut keep: Vec<String> =
                    kind.list_fields().iter().map(|s| s.to_string()).collect();
                keep.push("links".into());
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
}

/// Why the conductor refuses to change or delete a node's volume record: the node's power state
/// (`None` when unknown), for Ironic's `InvalidStateRequested` text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeRefusal {
    /// `volume connector update`, `volume target deletion`, …
    pub action: String,
    /// The node's power state as Ironic prints it.
    pub state: String,
}

fn power_text(power: Option<NodePower>) -> String {
    power.map_or("None", NodePower::as_str).to_string()
}

/// A record of `kind` may change only while its node is powered off.
pub fn may_update_volume(kind: VolumeKind, power: Option<NodePower>) -> Result<(), VolumeRefusal> {
    if power == Some(NodePower::Off) {
        return Ok(());
    }
    Err(VolumeRefusal {
        action: format!("{} update", kind.lower()),
        state: power_text(power),
    })
}

/// A record of `kind` may be deleted while its node is powered off or in a state nodes may be
/// deleted in.
pub fn may_delete_volume(
    kind: VolumeKind,
    provision: ProvisionState,
    power: Option<NodePower>,
) -> Result<(), VolumeRefusal> {
    use ProvisionState as P;
    let deletable = matches!(
        provision,
        P::Manageable | P::Enroll | P::AdoptFailed | P::Available
    );
    if deletable || power == Some(NodePower::Off) {
        return Ok(());
    }
    Err(VolumeRefusal {
        action: format!("{} deletion", kind.lower()),
        state: power_text(power),
    })
}

/// The schema's first complaint about `doc` (the text after `Schema error for <name>: `):
/// an unknown property, a missing required one, a value of the wrong type.
pub fn volume_schema_problem(kind: VolumeKind, doc: &Map<String, Value>) -> Option<String> {
    let props = kind.properties();
    if let Some(bad) = doc.keys().find(|k| !props.iter().any(|(p, _)| p == k)) {
        return Some(format!(
            "Additional properties are not allowed ('{bad}' was unexpected)"
        ));
    }
    if let Some(missing) = kind.required().iter().find(|r| !doc.contains_key(**r)) {
        return Some(format!("'{missing}' is a required property"));
    }
    for (name, types) in props {
        if let Some(v) = doc.get(*name)
            && !types.iter().any(|t| t.fits(v))
        {
            let listed: Vec<String> = types.iter().map(|t| format!("'{}'", t.name())).collect();
            return Some(format!(
                "{} is not of type {}",
                crate::ironic::encoding::python_repr(v),
                listed.join(", ")
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(node: u128, fields: Value) -> VolumeRecord {
        VolumeRecord {
            id: 1,
            uuid: Uuid::from_u128(1),
            node_uuid: Uuid::from_u128(node),
            fields: fields.as_object().cloned().unwrap_or_default(),
            created_at: DateTime::<Utc>::MIN_UTC,
            updated_at: None,
        }
    }

    #[test]
    fn changes_need_the_node_powered_off_and_deletion_a_deletable_state_or_power_off() {
        use VolumeKind::*;
        assert!(may_update_volume(Connector, Some(NodePower::Off)).is_ok());
        assert_eq!(
            may_update_volume(Connector, None),
            Err(VolumeRefusal {
                action: "volume connector update".into(),
                state: "None".into()
            })
        );
        assert!(may_update_volume(Target, Some(NodePower::On)).is_err());
        assert!(may_delete_volume(Target, ProvisionState::Enroll, Some(NodePower::On)).is_ok());
        assert!(may_delete_volume(Target, ProvisionState::Active, Some(NodePower::Off)).is_ok());
        assert_eq!(
            may_delete_volume(Target, ProvisionState::Active, Some(NodePower::On))
                .unwrap_err()
                .action,
            "volume target deletion"
        );
    }

    #[test]
    fn connectors_are_unique_by_type_and_id_and_targets_by_node_and_boot_index() {
        use VolumeKind::*;
        let a = record(1, json!({"type": "iqn", "connector_id": "x"}));
        let b = record(2, json!({"type": "iqn", "connector_id": "x"}));
        assert_eq!(
            Connector.duplicate(&a, &b).as_deref(),
            Some("A volume connector with type iqn and connector ID x already exists.")
        );
        assert!(
            Connector
                .duplicate(&a, &record(1, json!({"type": "ip", "connector_id": "x"})))
                .is_none()
        );
        let t = record(1, json!({"boot_index": 0}));
        assert_eq!(
            Target
                .duplicate(&t, &record(1, json!({"boot_index": 0})))
                .as_deref(),
            Some("A volume target with boot index '0' for the same node already exists.")
        );
        assert!(
            Target
                .duplicate(&t, &record(2, json!({"boot_index": 0})))
                .is_none()
        );
    }

    #[test]
    fn the_schema_names_the_first_unknown_missing_or_mistyped_property() {
        use VolumeKind::*;
        let doc = |v: Value| v.as_object().cloned().unwrap();
        assert_eq!(
            volume_schema_problem(Connector, &doc(json!({"node_uuid": "u", "type": "iqn"})))
                .as_deref(),
            Some("'connector_id' is a required property")
        );
        assert_eq!(
            volume_schema_problem(Target, &doc(json!({"node_uuid": "u", "volume_id": "v", "volume_type": "t", "boot_index": "1"}))).as_deref(),
            Some("'1' is not of type 'integer'")
        );
        assert_eq!(
            volume_schema_problem(Target, &doc(json!({"x": 1}))).as_deref(),
            Some("Additional properties are not allowed ('x' was unexpected)")
        );
        let ok = json!({"node_uuid": "u", "volume_id": "v", "volume_type": "t", "boot_index": -1, "properties": null});
        assert_eq!(volume_schema_problem(Target, &doc(ok)), None);
    }

    #[test]
    fn a_targets_secret_properties_are_masked() {
        let t = record(
            1,
            json!({"properties": {"auth_password": "s", "target_iqn": "iqn.x"}}),
        );
        let d = t.document(VolumeKind::Target, "");
        assert_eq!(
            d.get("properties"),
            Some(&json!({"auth_password": "******", "target_iqn": "iqn.x"}))
        );
    }
}
