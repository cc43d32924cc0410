//! Runbooks: a named list of ordered steps a node's servicing or cleaning can run, with
//! `public`/`owner` rules. Their schema as Ironic 39 checks it (before 1.112 a create names a
//! valid trait; from 1.112, and in every patch, any logical name; steps as `model::steps` checks
//! a runbook's; no description before 1.112), their JSON shape per microversion (`description`
//! and `traits` from 1.112), the rule tying a patch's owner to `public`, and their traits.

use super::steps::{
    RUNBOOK_STEPS, SchemaError, Seg, Step, best_error, checked_steps, object_errors, steps_errors,
};
use super::{links, stamped, trait_problem};
use crate::ironic::encoding::{Doc, python_repr};
use crate::ironic::version::Version;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

/// The microversion runbooks appeared in.
pub const RUNBOOKS_VERSION: u32 = 92;
/// The microversion that added runbook traits, descriptions and free names.
pub const RUNBOOK_TRAITS_VERSION: u32 = 112;

/// Fields a runbook listing or `fields=` may name before 1.112.
pub const RUNBOOK_FIELDS: [&str; 10] = [
    "created_at",
    "disable_ramdisk",
    "extra",
    "links",
    "name",
    "owner",
    "public",
    "steps",
    "updated_at",
    "uuid",
];

/// Fields added in 1.112.
pub const RUNBOOK_FIELDS_112: [&str; 2] = ["description", "traits"];

/// The longest name, owner or description Ironic's schema accepts.
const RUNBOOK_TEXT_MAX: usize = 255;

/// How a runbook's name is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunbookNames {
    /// A trait name (a create below 1.112).
    Trait,
    /// A logical name of unreserved URL characters (a create from 1.112, every patch).
    Logical,
}

/// A runbook.
#[derive(Debug, Clone, PartialEq)]
pub struct Runbook {
    /// Creation order (the table's `id`).
    pub id: u64,
    /// Its UUID.
    pub uuid: Uuid,
    /// Its unique name.
    pub name: String,
    /// Free-form data.
    pub extra: Map<String, Value>,
    /// Usable by every project.
    pub public: bool,
    /// The owning project.
    pub owner: Option<String>,
    /// Whether its steps run without booting the ramdisk.
    pub disable_ramdisk: bool,
    /// Free text (1.112).
    pub description: Option<String>,
    /// Its steps.
    pub steps: Vec<Step>,
    /// Its traits, sorted, each once (1.112).
    pub traits: Vec<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Update time.
    pub updated_at: Option<DateTime<Utc>>,
}

impl Runbook {
    /// A runbook from a body or patched document checked by [`runbook_schema_problem`].
    pub fn from_checked(id: u64, uuid: Uuid, doc: &Map<String, Value>, now: DateTime<Utc>) -> Self {
        let text = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_string);
        let flag = |k: &str| doc.get(k).and_then(Value::as_bool).unwrap_or(false);
        Runbook {
            id,
            uuid,
            name: text("name").unwrap_or_default(),
            extra: doc
                .get("extra")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            public: flag("public"),
            owner: text("owner"),
            disable_ramdisk: flag("disable_ramdisk"),
            description: text("description"),
            steps: by_order(checked_steps(&doc["steps"], RUNBOOK_STEPS)),
            traits: Vec::new(),
            created_at: now,
            updated_at: None,
        }
    }

    /// The document in Ironic's key order, at `version`.
    pub fn document(&self, base: &str, version: Version) -> Doc {
        let mut d = stamped(self.uuid, self.created_at, self.updated_at);
        let newer = version.at_least(RUNBOOK_TRAITS_VERSION);
        d.put("name", self.name.clone());
        d.put("extra", Value::Object(self.extra.clone()));
        d.put("public", self.public);
        d.put("owner", self.owner.clone());
        d.put("disable_ramdisk", self.disable_ramdisk);
        if newer {
            d.put("description", self.description.clone());
        }
        d.put("links", links(base, &format!("runbooks/{}", self.uuid)));
        let steps = self.steps.iter().map(|s| s.document(RUNBOOK_STEPS));
        d.put("steps", Value::Array(steps.collect()));
        if newer {
            let traits = self.traits.iter().cloned().map(Value::String);
            d.put("traits", Value::Array(traits.collect()));
        }
        d
    }

    /// The fields a patch sees and may change (step arguments unmasked).
    pub fn patch_view(&self) -> Value {
        let mut m = Map::new();
        m.insert("uuid".into(), Value::String(self.uuid.to_string()));
        m.insert("name".into(), Value::String(self.name.clone()));
        m.insert("extra".into(), Value::Object(self.extra.clone()));
        m.insert("public".into(), Value::Bool(self.public));
        m.insert("owner".into(), self.owner.clone().into());
        m.insert("disable_ramdisk".into(), Value::Bool(self.disable_ramdisk));
        m.insert("description".into(), self.description.clone().into());
        let steps = self.steps.iter().map(|s| s.unmasked(RUNBOOK_STEPS));
        m.insert("steps".into(), Value::Array(steps.collect()));
        Value::Object(m)
    }
}

/// Steps as Ironic keeps a runbook's: by their order, ties as written.
fn by_order(mut steps: Vec<Step>) -> Vec<Step> {
    steps.sort_by_key(|s| s.rank);
    steps
}

/// The fields `fields=` may name at `version`.
pub fn runbook_fields(version: Version) -> Vec<&'static str> {
    let mut all = RUNBOOK_FIELDS.to_vec();
    if version.at_least(RUNBOOK_TRAITS_VERSION) {
        all.extend(RUNBOOK_FIELDS_112);
    }
    all
}

fn name_problem(value: &Value, names: RunbookNames) -> Option<String> {
    if names == RunbookNames::Trait {
        return trait_problem(value);
    }
    let Value::String(name) = value else {
        return Some(format!("{} is not of type 'string'", python_repr(value)));
    };
    if name.is_empty() {
        return Some("'' should be non-empty".into());
    }
    if name.chars().count() > RUNBOOK_TEXT_MAX {
        return Some(format!("{} is too long", python_repr(value)));
    }
    let unreserved = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
    if name.bytes().all(unreserved) {
        return None;
    }
    Some(format!(
        "{} does not match '^[A-Za-z0-9\\\\-._~]+$'",
        python_repr(value)
    ))
}

/// `value` against `['string', 'null']` (at most 255 characters), `['boolean', 'null']` or
/// `['object', 'null']`.
fn typed_problem(value: &Value, kind: &str) -> Option<String> {
    let fits = match (kind, value) {
        (_, Value::Null) => true,
        ("string", Value::String(s)) => {
            if s.chars().count() > RUNBOOK_TEXT_MAX {
                return Some(format!("{} is too long", python_repr(value)));
            }
            true
        }
        ("boolean", Value::Bool(_)) | ("object", Value::Object(_)) => true,
        _ => false,
    };
    (!fits).then(|| format!("{} is not of type '{kind}', 'null'", python_repr(value)))
}

/// The runbook schema's complaint about `doc` (the text after `Schema error for <what>: `),
/// names checked as `names` says, `description` allowed when `with_description`; ranked as
/// Python's `jsonschema` ranks several.
pub fn runbook_schema_problem(
    doc: &Map<String, Value>,
    names: RunbookNames,
    with_description: bool,
) -> Option<String> {
    let key = |k: &str| vec![Seg::Key(k.into())];
    let mut errors = Vec::new();
    let typed = |k: &str, kind: &str| doc.get(k).and_then(|v| typed_problem(v, kind));
    if let Some(m) = typed("uuid", "string") {
        errors.push(SchemaError::at(key("uuid"), m));
    }
    if let Some(v) = doc.get("name")
        && let Some(message) = name_problem(v, names)
    {
        // A trait name is `anyOf` (standard or custom): a weak complaint.
        errors.push(SchemaError {
            path: key("name"),
            weak: names == RunbookNames::Trait && v.is_string(),
            message,
        });
    }
    if let Some(steps) = doc.get("steps") {
        errors.extend(steps_errors(steps, RUNBOOK_STEPS));
    }
    for (k, kind) in [
        ("disable_ramdisk", "boolean"),
        ("extra", "object"),
        ("public", "boolean"),
        ("owner", "string"),
        ("description", "string"),
    ] {
        if let Some(m) = typed(k, kind) {
            errors.push(SchemaError::at(key(k), m));
        }
    }
    let mut allowed = vec![
        "uuid",
        "name",
        "steps",
        "disable_ramdisk",
        "extra",
        "public",
        "owner",
    ];
    if with_description {
        allowed.push("description");
    }
    errors.extend(object_errors(doc, &[], &["steps", "name"], &allowed));
    best_error(errors)
}

/// Ironic's rule on a patch naming an owner: refused while the runbook stays (or becomes) public.
/// `owners` and `publics` are the values the patch adds or replaces at `/owner` and `/public`.
pub fn owner_refusal(
    current_public: bool,
    owners: &[Value],
    publics: &[Value],
) -> Option<&'static str> {
    if owners.is_empty() {
        return None;
    }
    let becomes_public = publics.first().is_some_and(truthy);
    ((current_public && publics.is_empty()) || becomes_public)
        .then_some("There cannot be an owner for a public runbook")
}

/// Python's truth of a JSON value.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// A runbook's traits after adding `add` (None: replace with `replace`); sorted, each once.
pub fn runbook_traits(current: &[String], change: RunbookTraitChange) -> Vec<String> {
    let mut set: std::collections::BTreeSet<String> = current.iter().cloned().collect();
    match change {
        RunbookTraitChange::Replace(all) => set = all.into_iter().collect(),
        RunbookTraitChange::Add(t) => {
            set.insert(t);
        }
        // Removing a trait the runbook lacks changes nothing (and is no error).
        RunbookTraitChange::Remove(t) => {
            set.remove(&t);
        }
        RunbookTraitChange::Clear => set.clear(),
    }
    set.into_iter().collect()
}

/// A change to a runbook's traits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunbookTraitChange {
    /// Replace them all.
    Replace(Vec<String>),
    /// Add one.
    Add(String),
    /// Remove one.
    Remove(String),
    /// Remove them all.
    Clear,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn names_are_traits_on_an_old_create_and_logical_names_otherwise() {
        let steps = json!([{"interface": "deploy", "step": "erase", "order": 1}]);
        let body = doc(json!({"name": "rb-1", "steps": steps}));
        assert!(
            runbook_schema_problem(&body, RunbookNames::Trait, false)
                .unwrap()
                .contains("does not match '^CUSTOM_[A-Z0-9_]+$'")
        );
        assert_eq!(
            runbook_schema_problem(&body, RunbookNames::Logical, false),
            None
        );
        let body = doc(json!({"name": "bad name", "steps": steps}));
        assert_eq!(
            runbook_schema_problem(&body, RunbookNames::Logical, true).as_deref(),
            Some("'bad name' does not match '^[A-Za-z0-9\\\\-._~]+$'")
        );
        let body = doc(json!({"name": "CUSTOM_A", "steps": steps, "description": "d"}));
        assert_eq!(
            runbook_schema_problem(&body, RunbookNames::Trait, false).as_deref(),
            Some("Additional properties are not allowed ('description' was unexpected)")
        );
        assert_eq!(
            runbook_schema_problem(&body, RunbookNames::Logical, true),
            None
        );
        let body = doc(json!({"name": "CUSTOM_A", "steps": steps, "owner": 5}));
        assert_eq!(
            runbook_schema_problem(&body, RunbookNames::Trait, false).as_deref(),
            Some("5 is not of type 'string', 'null'")
        );
        // Several complaints: the one Python's jsonschema reports.
        let ranked = [
            (
                json!({"name": "bad", "steps": steps, "owner": 5}),
                "5 is not of type 'string', 'null'",
            ),
            (
                json!({"name": "CUSTOM_A", "steps": steps, "owner": 5, "public": "x"}),
                "'x' is not of type 'boolean', 'null'",
            ),
            (
                json!({"name": "CUSTOM_A", "steps": [{"interface": "bogus", "step": "x", "order": 1}], "owner": 5}),
                "5 is not of type 'string', 'null'",
            ),
            (
                json!({"steps": steps, "bogus": 1}),
                "'name' is a required property",
            ),
            (
                json!({"name": "bad", "steps": []}),
                "[] should be non-empty",
            ),
            (
                json!({"name": 5, "steps": [], "uuid": 5}),
                "5 is not of type 'string', 'null'",
            ),
        ];
        for (body, text) in ranked {
            assert_eq!(
                runbook_schema_problem(&doc(body.clone()), RunbookNames::Trait, false).as_deref(),
                Some(text),
                "{body}"
            );
        }
        let body = doc(json!({"name": "CUSTOM_A", "steps": steps, "public": "yes"}));
        assert_eq!(
            runbook_schema_problem(&body, RunbookNames::Trait, false).as_deref(),
            Some("'yes' is not of type 'boolean', 'null'")
        );
    }

    #[test]
    fn an_owner_needs_the_runbook_to_stop_being_public() {
        let owner = [json!("p1")];
        assert_eq!(owner_refusal(false, &owner, &[]), None);
        assert!(owner_refusal(true, &owner, &[]).is_some());
        assert_eq!(owner_refusal(true, &owner, &[json!(false)]), None);
        assert!(owner_refusal(false, &owner, &[json!(true)]).is_some());
        // Clearing the owner of a public runbook is refused all the same (Ironic's rule).
        assert!(owner_refusal(true, &[Value::Null], &[]).is_some());
        assert_eq!(owner_refusal(true, &[], &[json!(false)]), None);
    }

    #[test]
    fn documents_gain_description_and_traits_at_1_112() {
        let body = doc(
            json!({"name": "CUSTOM_A", "steps": [{"interface": "bios", "step": "s", "args": {"password": "p"}, "order": "3"}]}),
        );
        let mut r = Runbook::from_checked(1, Uuid::nil(), &body, DateTime::<Utc>::MIN_UTC);
        r.traits = runbook_traits(
            &[],
            RunbookTraitChange::Replace(vec!["CUSTOM_B".into(), "CUSTOM_A".into()]),
        );
        let old = r.document("", Version::v1(92));
        assert!(old.get("traits").is_none() && old.get("description").is_none());
        assert_eq!(
            old.get("steps"),
            Some(
                &json!([{"interface": "bios", "step": "s", "args": {"password": "******"}, "order": 3}])
            )
        );
        let new = r.document("", Version::v1(112));
        assert_eq!(new.get("traits"), Some(&json!(["CUSTOM_A", "CUSTOM_B"])));
        assert_eq!(new.get("description"), Some(&Value::Null));
        assert_eq!(
            runbook_traits(&r.traits, RunbookTraitChange::Remove("CUSTOM_Z".into())),
            r.traits
        );
    }
}
