//! Deploy templates: a trait-named set of deploy steps. Their schema as Ironic 39 checks it (the
//! name a valid trait, at least one step, each step's interface, name, arguments and priority, no
//! interface/step twice), their JSON shape (step arguments' secrets masked), and what they
//! contribute to a deployment: the steps of every template whose name is among the instance's
//! traits, highest priority first.

use super::steps::{DEPLOY_STEP_INTERFACES, DEPLOY_STEPS, Step, checked_steps, steps_problem};
use super::{links, stamped, trait_problem};
use crate::ironic::encoding::{Doc, python_repr};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

/// Fields a deploy template listing or `fields=` may name.
pub const DEPLOY_TEMPLATE_FIELDS: [&str; 8] = [
    "created_at",
    "description",
    "extra",
    "links",
    "name",
    "steps",
    "updated_at",
    "uuid",
];

/// The longest description Ironic's schema accepts.
const TEMPLATE_DESCRIPTION_MAX: usize = 255;

/// A deploy template.
#[derive(Debug, Clone, PartialEq)]
pub struct DeployTemplate {
    /// Creation order (the table's `id`).
    pub id: u64,
    /// Its UUID.
    pub uuid: Uuid,
    /// A trait name, unique.
    pub name: String,
    /// Free-form data.
    pub extra: Map<String, Value>,
    /// Its steps.
    pub steps: Vec<Step>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Update time.
    pub updated_at: Option<DateTime<Utc>>,
}

impl DeployTemplate {
    /// A template from a body or patched document checked by [`template_schema_problem`] and
    /// [`duplicate_steps`] (Ironic 39 accepts a `description` but neither keeps nor shows it).
    pub fn from_checked(
        id: u64,
        uuid: Uuid,
        doc: &Map<String, Value>,
        now: DateTime<Utc>,
    ) -> DeployTemplate {
        DeployTemplate {
            id,
            uuid,
            name: doc["name"].as_str().unwrap_or_default().to_string(),
            extra: doc
                .get("extra")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            steps: checked_steps(&doc["steps"], DEPLOY_STEPS),
            created_at: now,
            updated_at: None,
        }
    }

    /// The full document in Ironic's key order.
    pub fn document(&self, base: &str) -> Doc {
        let mut d = stamped(self.uuid, self.created_at, self.updated_at);
        d.put("name", self.name.clone());
        d.put("extra", Value::Object(self.extra.clone()));
        d.put(
            "links",
            links(base, &format!("deploy_templates/{}", self.uuid)),
        );
        d.put(
            "steps",
            Value::Array(
                self.steps
                    .iter()
                    .map(|s| s.document(DEPLOY_STEPS))
                    .collect(),
            ),
        );
        d
    }

    /// The fields a patch sees and may change.
    pub fn patch_view(&self) -> Value {
        let d = self.document("");
        let mut m = Map::new();
        for k in ["uuid", "name", "extra"] {
            m.insert(k.into(), d.get(k).cloned().unwrap_or(Value::Null));
        }
        let steps = self
            .steps
            .iter()
            .map(|s| s.unmasked(DEPLOY_STEPS))
            .collect();
        m.insert("steps".into(), Value::Array(steps));
        Value::Object(m)
    }
}

/// The `steps` of a create answer: Ironic 39 echoes a priority as the request wrote it (a digit
/// string stays a string) and stores it as a number.
pub fn echoed_steps(raw: &Value) -> Value {
    match raw {
        Value::Array(steps) => Value::Array(
            steps
                .iter()
                .map(|s| {
                    let mut out = Step::from_checked(s, DEPLOY_STEPS).document(DEPLOY_STEPS);
                    out["priority"] = s["priority"].clone();
                    out
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The template schema's first complaint about `doc` (the text after `Schema error for <what>: `).
pub fn template_schema_problem(doc: &Map<String, Value>) -> Option<String> {
    if let Some(bad) = doc
        .keys()
        .find(|k| !["description", "extra", "name", "steps", "uuid"].contains(&k.as_str()))
    {
        return Some(format!(
            "Additional properties are not allowed ('{bad}' was unexpected)"
        ));
    }
    for required in ["steps", "name"] {
        if !doc.contains_key(required) {
            return Some(format!("'{required}' is a required property"));
        }
    }
    match doc.get("description") {
        None | Some(Value::Null) => {}
        Some(Value::String(d)) if d.chars().count() > TEMPLATE_DESCRIPTION_MAX => {
            return Some(format!("{} is too long", python_repr(&doc["description"])));
        }
        Some(Value::String(_)) => {}
        Some(other) => {
            return Some(format!(
                "{} is not of type 'string', 'null'",
                python_repr(other)
            ));
        }
    }
    match doc.get("extra") {
        None | Some(Value::Null) | Some(Value::Object(_)) => {}
        Some(other) => {
            return Some(format!(
                "{} is not of type 'object', 'null'",
                python_repr(other)
            ));
        }
    }
    if let Some(p) = trait_problem(&doc["name"]) {
        return Some(p);
    }
    steps_problem(&doc["steps"], DEPLOY_STEPS)
}

/// The deploy steps templates contribute to a deployment whose instance asks for `traits`: the
/// enabled (non-zero priority) steps of every template named by one of them, highest priority
/// first, ties broken by interface priority.
pub fn template_deploy_steps<'a>(
    templates: impl IntoIterator<Item = &'a DeployTemplate>,
    traits: &[String],
) -> Vec<Step> {
    let rank = |i: &str| {
        DEPLOY_STEP_INTERFACES
            .iter()
            .position(|x| *x == i)
            .unwrap_or(DEPLOY_STEP_INTERFACES.len())
    };
    let mut steps: Vec<Step> = templates
        .into_iter()
        .filter(|t| traits.contains(&t.name))
        .flat_map(|t| t.steps.iter().cloned())
        .filter(|s| s.rank > 0)
        .collect();
    steps.sort_by(|a, b| {
        b.rank
            .cmp(&a.rank)
            .then(rank(&a.interface).cmp(&rank(&b.interface)))
    });
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ironic::model::steps::duplicate_steps;
    use serde_json::json;

    fn doc(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    fn step(interface: &str, name: &str, priority: Value) -> Value {
        json!({"interface": interface, "step": name, "args": {}, "priority": priority})
    }

    #[test]
    fn the_schema_refuses_what_ironic_refuses_with_its_texts() {
        let ok = step("bios", "apply_configuration", json!(150));
        let cases = [
            (
                json!({"name": "bad", "steps": [ok]}),
                "'bad' is not valid under any of the given schemas. Possible root cause: 'bad' does not match '^CUSTOM_[A-Z0-9_]+$'",
            ),
            (
                json!({"name": "CUSTOM_A", "steps": []}),
                "[] should be non-empty",
            ),
            (
                json!({"name": "CUSTOM_A"}),
                "'steps' is a required property",
            ),
            (json!({"steps": [ok]}), "'name' is a required property"),
            (
                json!({"name": "CUSTOM_A", "steps": [step("bogus", "x", json!(1))]}),
                "'bogus' is not one of ['vendor', 'power', 'management', 'firmware', 'deploy', 'bios', 'raid']",
            ),
            (
                json!({"name": "CUSTOM_A", "steps": [step("deploy", "", json!(1))]}),
                "'' should be non-empty",
            ),
            (
                json!({"name": "CUSTOM_A", "steps": [step("deploy", "x", json!(-1))]}),
                "-1 is less than the minimum of 0",
            ),
            (
                json!({"name": "CUSTOM_A", "steps": [step("deploy", "x", json!("a"))]}),
                "'a' does not match '^[0-9]+$'",
            ),
            (
                json!({"name": "CUSTOM_A", "steps": [{"interface": "deploy", "step": "x", "priority": 1}]}),
                "'args' is a required property",
            ),
            (
                json!({"name": "CUSTOM_A", "steps": "x"}),
                "'x' is not of type 'array'",
            ),
            (
                json!({"name": "CUSTOM_A", "steps": [ok], "bogus": 1}),
                "Additional properties are not allowed ('bogus' was unexpected)",
            ),
        ];
        for (body, text) in cases {
            assert_eq!(
                template_schema_problem(&doc(body.clone())).as_deref(),
                Some(text),
                "{body}"
            );
        }
        let fine = json!({"name": "CUSTOM_A", "steps": [step("deploy", "x", json!("10"))], "description": "d"});
        assert_eq!(template_schema_problem(&doc(fine)), None);
    }

    #[test]
    fn a_step_named_twice_is_refused() {
        let t = DeployTemplate::from_checked(
            1,
            Uuid::nil(),
            &doc(
                json!({"name": "CUSTOM_A", "steps": [step("bios", "a", json!(1)), step("bios", "a", json!(2)), step("raid", "a", json!(1))]}),
            ),
            DateTime::<Utc>::MIN_UTC,
        );
        assert_eq!(
            duplicate_steps(&t.steps).as_deref(),
            Some(
                "Deploy template invalid: Duplicate deploy steps. A template cannot have multiple deploy steps with the same interface and step. Duplicates: interface: bios, step: a."
            )
        );
    }

    #[test]
    fn secrets_in_step_arguments_are_masked_and_digit_priorities_stored_as_numbers() {
        let t = DeployTemplate::from_checked(
            1,
            Uuid::nil(),
            &doc(
                json!({"name": "CUSTOM_A", "steps": [{"interface": "bios", "step": "s", "args": {"password": "p", "settings": [{"name": "x"}]}, "priority": "10"}]}),
            ),
            DateTime::<Utc>::MIN_UTC,
        );
        assert_eq!(
            t.document("").get("steps"),
            Some(
                &json!([{"interface": "bios", "step": "s", "args": {"password": "******", "settings": [{"name": "x"}]}, "priority": 10}])
            )
        );
    }

    #[test]
    fn the_instances_traits_pick_the_templates_whose_enabled_steps_run_highest_priority_first() {
        let make = |name: &str, steps: Value| {
            DeployTemplate::from_checked(
                1,
                Uuid::nil(),
                &doc(json!({"name": name, "steps": steps})),
                DateTime::<Utc>::MIN_UTC,
            )
        };
        let templates = [
            make(
                "CUSTOM_RAID",
                json!([
                    step("raid", "create_configuration", json!(80)),
                    step("deploy", "off", json!(0))
                ]),
            ),
            make(
                "CUSTOM_BIOS",
                json!([
                    step("bios", "apply_configuration", json!(80)),
                    step("management", "m", json!(90))
                ]),
            ),
            make("CUSTOM_OTHER", json!([step("deploy", "never", json!(99))])),
        ];
        let picked =
            template_deploy_steps(&templates, &["CUSTOM_RAID".into(), "CUSTOM_BIOS".into()]);
        let names: Vec<&str> = picked.iter().map(|s| s.step.as_str()).collect();
        assert_eq!(names, ["m", "apply_configuration", "create_configuration"]);
        assert!(template_deploy_steps(&templates, &[]).is_empty());
    }
}
