//! A node's cached BIOS settings, as Ironic keeps them: read from the BMC when the node is
//! verified (`manage`), each a name and a text value, with the registry's description of the
//! setting when the BMC publishes one; shown by `GET /v1/nodes/{id}/bios[/{name}]`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::{links, ts};

/// The registry's description of one setting (microversion 1.74's detail fields).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BiosRegistryEntry {
    pub attribute_type: Option<String>,
    pub allowable_values: Vec<String>,
    pub lower_bound: Option<i64>,
    pub upper_bound: Option<i64>,
    pub min_length: Option<i64>,
    pub max_length: Option<i64>,
    pub read_only: Option<bool>,
    pub reset_required: Option<bool>,
    pub unique: Option<bool>,
}

/// One cached setting.
#[derive(Debug, Clone, PartialEq)]
pub struct BiosSetting {
    pub name: String,
    /// Ironic keeps every value as text.
    pub value: Option<String>,
    pub registry: BiosRegistryEntry,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// The fields a setting has at microversion 1.74 and later, in the order Ironic's schema lists
/// them (the `fields=` refusal names them in this order).
pub const FIELDS: [&str; 14] = [
    "allowable_values",
    "attribute_type",
    "created_at",
    "lower_bound",
    "links",
    "max_length",
    "min_length",
    "name",
    "node_uuid",
    "read_only",
    "reset_required",
    "unique",
    "updated_at",
    "value",
];

/// The registry fields, shown with `detail` (list) or always from 1.74 (one setting).
const DETAIL: [&str; 9] = [
    "allowable_values",
    "attribute_type",
    "lower_bound",
    "max_length",
    "min_length",
    "read_only",
    "reset_required",
    "unique",
    "upper_bound",
];

/// A BMC's attribute value as Ironic stores it: text as is, numbers in decimal, booleans as
/// `1`/`0` (the column is text; real Ironic 39 answers `"1"` for a Redfish `true`).
pub fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(if *b { "1" } else { "0" }.into()),
        other => Some(other.to_string()),
    }
}

/// The cache after a read of `attributes` (name → BMC value) at `now`: settings that keep their
/// value keep their times, changed ones get `updated_at`, new ones `created_at`, gone ones go.
pub fn refresh(
    old: &[BiosSetting],
    attributes: &Map<String, Value>,
    registry: &BTreeMap<String, BiosRegistryEntry>,
    now: DateTime<Utc>,
) -> Vec<BiosSetting> {
    let mut out: Vec<BiosSetting> = attributes
        .iter()
        .map(|(name, v)| {
            let value = value_text(v);
            let entry = registry.get(name).cloned().unwrap_or_default();
            match old.iter().find(|s| &s.name == name) {
                Some(s) if s.value == value && s.registry == entry => s.clone(),
                Some(s) => BiosSetting {
                    value,
                    registry: entry,
                    updated_at: Some(now),
                    ..s.clone()
                },
                None => BiosSetting {
                    name: name.clone(),
                    value,
                    registry: entry,
                    created_at: now,
                    updated_at: None,
                },
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The entries of a Redfish AttributeRegistry document (`RegistryEntries.Attributes`), by
/// attribute name, as sushy reads them for Ironic: the type, the allowed values' names, the
/// bounds and lengths, read-only, reset-required and system-unique. Malformed entries are
/// skipped; at most [`MAX_REGISTRY_ENTRIES`] are read.
pub fn from_redfish_registry(doc: &Value) -> BTreeMap<String, BiosRegistryEntry> {
    let entries = doc
        .pointer("/RegistryEntries/Attributes")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    entries
        .iter()
        .take(MAX_REGISTRY_ENTRIES)
        .filter_map(|a| {
            let name = a.get("AttributeName")?.as_str()?.to_string();
            let text = |k: &str| a.get(k).and_then(Value::as_str).map(str::to_string);
            let int = |k: &str| a.get(k).and_then(Value::as_i64);
            let flag = |k: &str| a.get(k).and_then(Value::as_bool);
            let entry = BiosRegistryEntry {
                attribute_type: text("Type"),
                allowable_values: a
                    .get("Value")
                    .and_then(Value::as_array)
                    .map(|vs| {
                        vs.iter()
                            .filter_map(|v| v.get("ValueName").and_then(Value::as_str))
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
                lower_bound: int("LowerBound"),
                upper_bound: int("UpperBound"),
                min_length: int("MinLength"),
                max_length: int("MaxLength"),
                read_only: flag("ReadOnly"),
                reset_required: flag("ResetRequired"),
                unique: flag("IsSystemUniqueProperty"),
            };
            Some((name, entry))
        })
        .collect()
}

/// The most registry entries read from one BMC.
pub const MAX_REGISTRY_ENTRIES: usize = 4096;

impl BiosSetting {
    fn detail(&self) -> Map<String, Value> {
        let r = &self.registry;
        let mut m = Map::new();
        m.insert("allowable_values".into(), json!(r.allowable_values));
        m.insert("attribute_type".into(), json!(r.attribute_type));
        m.insert("lower_bound".into(), json!(r.lower_bound));
        m.insert("max_length".into(), json!(r.max_length));
        m.insert("min_length".into(), json!(r.min_length));
        m.insert("read_only".into(), json!(r.read_only));
        m.insert("reset_required".into(), json!(r.reset_required));
        m.insert("unique".into(), json!(r.unique));
        m.insert("upper_bound".into(), json!(r.upper_bound));
        m
    }

    /// The document Ironic shows: `base` the API root, `node` how the links name the node (the
    /// list repeats the identifier the client used; one setting's links use the UUID). `detail`
    /// adds the registry fields; `fields` keeps those asked for, and always the times and links.
    pub fn document(
        &self,
        base: &str,
        node: &str,
        detail: bool,
        fields: Option<&[String]>,
    ) -> Value {
        let mut d = Map::new();
        d.insert("created_at".into(), ts(Some(self.created_at)));
        d.insert("updated_at".into(), ts(self.updated_at));
        d.insert(
            "links".into(),
            links(base, &format!("nodes/{node}/bios/{}", self.name)),
        );
        d.insert("name".into(), json!(self.name));
        d.insert("value".into(), json!(self.value));
        if detail || fields.is_some() {
            d.extend(self.detail());
        }
        if let Some(keep) = fields {
            d.retain(|k, _| {
                matches!(k.as_str(), "created_at" | "updated_at" | "links")
                    || keep.iter().any(|f| f == k)
            });
        }
        Value::Object(d)
    }
}

/// Whether `field` is a registry field (shown with `detail`).
pub fn is_detail(field: &str) -> bool {
    DETAIL.contains(&field)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u32) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + i64::from(s), 0).unwrap()
    }

    #[test]
    fn values_are_kept_as_ironic_keeps_them() {
        assert_eq!(value_text(&json!("Uefi")).as_deref(), Some("Uefi"));
        assert_eq!(value_text(&json!(3)).as_deref(), Some("3"));
        assert_eq!(value_text(&json!(true)).as_deref(), Some("1"));
        assert_eq!(value_text(&json!(false)).as_deref(), Some("0"));
        assert_eq!(value_text(&Value::Null), None);
    }

    #[test]
    fn a_refresh_keeps_unchanged_settings_stamps_changed_ones_and_drops_gone_ones() {
        let first = refresh(
            &[],
            json!({"B": 1, "A": "x", "C": true}).as_object().unwrap(),
            &BTreeMap::new(),
            at(0),
        );
        assert_eq!(
            first.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            ["A", "B", "C"],
            "sorted by name"
        );
        assert!(first.iter().all(|s| s.updated_at.is_none()));
        let second = refresh(
            &first,
            json!({"A": "x", "B": 2}).as_object().unwrap(),
            &BTreeMap::new(),
            at(5),
        );
        assert_eq!(second.len(), 2, "C is gone");
        assert_eq!(second[0], first[0], "A unchanged, times kept");
        assert_eq!(second[1].value.as_deref(), Some("2"));
        assert_eq!(second[1].created_at, at(0));
        assert_eq!(second[1].updated_at, Some(at(5)));
    }

    #[test]
    fn a_redfish_registry_gives_each_attribute_its_description() {
        let doc = json!({"RegistryEntries": {"Attributes": [
            {"AttributeName": "Mode", "Type": "Enumeration", "ReadOnly": false,
             "Value": [{"ValueName": "Uefi"}, {"ValueName": "Bios"}], "ResetRequired": true},
            {"AttributeName": "Count", "Type": "Integer", "LowerBound": 1, "UpperBound": 8},
            {"AttributeName": "Tag", "Type": "String", "MaxLength": 16, "MinLength": 0,
             "IsSystemUniqueProperty": true, "ReadOnly": true},
            {"Type": "String"},
        ]}});
        let r = from_redfish_registry(&doc);
        assert_eq!(r.len(), 3, "the entry without a name is skipped");
        assert_eq!(r["Mode"].allowable_values, ["Uefi", "Bios"]);
        assert_eq!(r["Mode"].reset_required, Some(true));
        assert_eq!(
            (r["Count"].lower_bound, r["Count"].upper_bound),
            (Some(1), Some(8))
        );
        assert_eq!(r["Tag"].unique, Some(true));
        assert_eq!(r["Tag"].read_only, Some(true));
        assert!(from_redfish_registry(&json!({"bogus": 1})).is_empty());
    }

    #[test]
    fn the_document_shows_detail_and_fields_as_asked() {
        let s = refresh(
            &[],
            json!({"A": "x"}).as_object().unwrap(),
            &BTreeMap::new(),
            at(0),
        )
        .remove(0);
        let plain = s.document("http://b", "n", false, None);
        let keys: Vec<&String> = plain.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["created_at", "links", "name", "updated_at", "value"]);
        let detail = s.document("http://b", "n", true, None);
        assert_eq!(detail.as_object().unwrap().len(), 14);
        assert_eq!(detail["allowable_values"], json!([]));
        let some = s.document(
            "http://b",
            "n",
            false,
            Some(&["name".to_string(), "read_only".to_string()]),
        );
        let keys: Vec<&String> = some.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["created_at", "links", "name", "read_only", "updated_at"]
        );
        assert_eq!(
            plain["links"][0]["href"],
            json!("http://b/v1/nodes/n/bios/A")
        );
    }
}
