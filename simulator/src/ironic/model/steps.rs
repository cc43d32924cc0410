//! The steps deploy templates and runbooks are made of, checked once for both as Ironic 39
//! checks them: an object with an interface (one of the step interfaces), a non-empty step name,
//! arguments (an object) and a rank — a deploy step's `priority` (arguments required), a runbook
//! step's `order` (arguments optional) — written as a non-negative integer or a digit string; no
//! interface/step twice in one document. Secret-looking arguments are masked when shown.

use crate::ironic::encoding::python_repr;
use serde_json::{Map, Value};

/// Interfaces a step may belong to, in Ironic's order (highest priority first: the order that
/// breaks ties between steps of equal priority). Deploying and cleaning (runbooks) share it.
pub const DEPLOY_STEP_INTERFACES: [&str; 7] = [
    "vendor",
    "power",
    "management",
    "firmware",
    "deploy",
    "bios",
    "raid",
];

/// What one kind of step document looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepRules {
    /// The key of the step's rank (`priority` or `order`).
    pub rank: &'static str,
    /// Whether `args` must be given.
    pub args_required: bool,
}

/// A deploy template's steps.
pub const DEPLOY_STEPS: StepRules = StepRules {
    rank: "priority",
    args_required: true,
};

/// A runbook's steps.
pub const RUNBOOK_STEPS: StepRules = StepRules {
    rank: "order",
    args_required: false,
};

/// One step of a deploy template or a runbook.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The interface it belongs to ([`DEPLOY_STEP_INTERFACES`]).
    pub interface: String,
    /// The step's name.
    pub step: String,
    /// Its arguments.
    pub args: Map<String, Value>,
    /// Its priority (deploy steps; 0: disabled) or its order (runbook steps).
    pub rank: u64,
}

impl Step {
    /// A step already checked by [`step_problem`] with `rules`.
    pub fn from_checked(v: &Value, rules: StepRules) -> Step {
        let rank = match &v[rules.rank] {
            Value::String(s) => s.parse().unwrap_or(0),
            p => p.as_u64().unwrap_or(0),
        };
        Step {
            interface: v["interface"].as_str().unwrap_or_default().to_string(),
            step: v["step"].as_str().unwrap_or_default().to_string(),
            args: v["args"].as_object().cloned().unwrap_or_default(),
            rank,
        }
    }

    /// The step's document (rank as a number, secret-looking arguments masked).
    pub fn document(&self, rules: StepRules) -> Value {
        let mut v = self.unmasked(rules);
        v["args"] = masked(&v["args"]);
        v
    }

    /// The step's document as a patch sees it (arguments as stored).
    pub fn unmasked(&self, rules: StepRules) -> Value {
        let mut m = Map::new();
        m.insert("interface".into(), Value::String(self.interface.clone()));
        m.insert("step".into(), Value::String(self.step.clone()));
        m.insert("args".into(), Value::Object(self.args.clone()));
        m.insert(rules.rank.into(), Value::from(self.rank));
        Value::Object(m)
    }
}

/// Arguments with password-like keys masked, at any depth.
fn masked(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| {
                    let shown = if super::is_instance_secret(k) && !x.is_object() {
                        Value::String("******".into())
                    } else {
                        masked(x)
                    };
                    (k.clone(), shown)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(masked).collect()),
        other => other.clone(),
    }
}

/// One place in a checked document: an object key or an array index.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Seg {
    /// An array index.
    Index(usize),
    /// An object key.
    Key(String),
}

/// One complaint of a JSON schema check, where it applies and whether it comes from a "weak"
/// keyword (`anyOf`), as Python's `jsonschema` ranks them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    /// Where in the document.
    pub path: Vec<Seg>,
    /// From `anyOf`/`oneOf`.
    pub weak: bool,
    /// The text.
    pub message: String,
}

impl SchemaError {
    /// A complaint at `path`.
    pub fn at(path: Vec<Seg>, message: String) -> Self {
        SchemaError {
            path,
            weak: false,
            message,
        }
    }
}

/// The complaint `jsonschema.validate` reports among `errors` (given in the order its validator
/// finds them): the shallowest, then the one at the greatest path, then a strong keyword's; the
/// first found among equals.
pub fn best_error(errors: Vec<SchemaError>) -> Option<String> {
    let mut best: Option<SchemaError> = None;
    for e in errors {
        let better = match &best {
            None => true,
            Some(b) => {
                let key =
                    |x: &SchemaError| (std::cmp::Reverse(x.path.len()), x.path.clone(), !x.weak);
                key(&e) > key(b)
            }
        };
        if better {
            best = Some(e);
        }
    }
    best.map(|e| e.message)
}

/// The object-level complaints about `m` at `path`, in the validator's order: the first missing
/// `required` key, then keys outside `allowed`.
pub fn object_errors(
    m: &Map<String, Value>,
    path: &[Seg],
    required: &[&str],
    allowed: &[&str],
) -> Vec<SchemaError> {
    let mut out = Vec::new();
    if let Some(missing) = required.iter().find(|k| !m.contains_key(**k)) {
        out.push(SchemaError::at(
            path.to_vec(),
            format!("'{missing}' is a required property"),
        ));
    }
    let extra: Vec<String> = m
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .map(|k| format!("'{k}'"))
        .collect();
    if !extra.is_empty() {
        let verb = if extra.len() == 1 { "was" } else { "were" };
        out.push(SchemaError::at(
            path.to_vec(),
            format!(
                "Additional properties are not allowed ({} {verb} unexpected)",
                extra.join(", ")
            ),
        ));
    }
    out
}

/// The complaints about one step at `path`.
pub fn step_errors(step: &Value, rules: StepRules, path: &[Seg]) -> Vec<SchemaError> {
    let Value::Object(m) = step else {
        return vec![SchemaError::at(
            path.to_vec(),
            format!("{} is not of type 'object'", python_repr(step)),
        )];
    };
    let at = |k: &str| {
        let mut p = path.to_vec();
        p.push(Seg::Key(k.into()));
        p
    };
    let mut out = Vec::new();
    // The properties' complaints come first in the validator's order, then the object's.
    if let Some(args) = m.get("args")
        && !args.is_object()
    {
        out.push(SchemaError::at(
            at("args"),
            format!("{} is not of type 'object'", python_repr(args)),
        ));
    }
    match m.get("interface") {
        None => {}
        Some(Value::String(i)) if DEPLOY_STEP_INTERFACES.contains(&i.as_str()) => {}
        Some(Value::String(i)) => {
            let listed: Vec<String> = DEPLOY_STEP_INTERFACES
                .iter()
                .map(|x| format!("'{x}'"))
                .collect();
            out.push(SchemaError::at(
                at("interface"),
                format!(
                    "{} is not one of [{}]",
                    python_repr(&Value::String(i.clone())),
                    listed.join(", ")
                ),
            ));
        }
        Some(other) => out.push(SchemaError::at(
            at("interface"),
            format!("{} is not of type 'string'", python_repr(other)),
        )),
    }
    match m.get("step") {
        Some(Value::String(s)) if s.is_empty() => {
            out.push(SchemaError::at(at("step"), "'' should be non-empty".into()));
        }
        None | Some(Value::String(_)) => {}
        Some(other) => out.push(SchemaError::at(
            at("step"),
            format!("{} is not of type 'string'", python_repr(other)),
        )),
    }
    if let Some(rank) = m.get(rules.rank) {
        // `anyOf` (a non-negative integer or a digit string): the reported text is the
        // alternative's own complaint.
        let text = match rank {
            Value::Number(n) if n.is_u64() => None,
            Value::Number(n) if n.is_i64() => Some(format!("{n} is less than the minimum of 0")),
            Value::String(s) if s.is_empty() => Some("'' should be non-empty".into()),
            Value::String(s) if s.bytes().all(|b| b.is_ascii_digit()) => None,
            Value::String(_) => Some(format!("{} does not match '^[0-9]+$'", python_repr(rank))),
            other => Some(format!(
                "{} is not valid under any of the given schemas",
                python_repr(other)
            )),
        };
        if let Some(message) = text {
            out.push(SchemaError {
                path: at(rules.rank),
                weak: true,
                message,
            });
        }
    }
    let required: &[&str] = if rules.args_required {
        &["interface", "step", "args", rules.rank]
    } else {
        &["interface", "step", rules.rank]
    };
    out.extend(object_errors(
        m,
        path,
        required,
        &["args", "interface", "step", rules.rank],
    ));
    out
}

/// The complaints about a document's `steps` (a non-empty array of valid steps).
pub fn steps_errors(steps: &Value, rules: StepRules) -> Vec<SchemaError> {
    let root = vec![Seg::Key("steps".into())];
    match steps {
        Value::Array(a) if a.is_empty() => {
            vec![SchemaError::at(root, "[] should be non-empty".into())]
        }
        Value::Array(a) => a
            .iter()
            .enumerate()
            .flat_map(|(i, s)| {
                let mut p = root.clone();
                p.push(Seg::Index(i));
                step_errors(s, rules, &p)
            })
            .collect(),
        other => vec![SchemaError::at(
            root,
            format!("{} is not of type 'array'", python_repr(other)),
        )],
    }
}

/// The schema's complaint about one step, as reported alone.
pub fn step_problem(step: &Value, rules: StepRules) -> Option<String> {
    best_error(step_errors(step, rules, &[]))
}

/// The schema's complaint about a document's `steps`, as reported alone.
pub fn steps_problem(steps: &Value, rules: StepRules) -> Option<String> {
    best_error(steps_errors(steps, rules))
}

/// Checked steps as the model keeps them.
pub fn checked_steps(steps: &Value, rules: StepRules) -> Vec<Step> {
    steps
        .as_array()
        .map(|a| a.iter().map(|s| Step::from_checked(s, rules)).collect())
        .unwrap_or_default()
}

/// Ironic's refusal of a document naming one interface/step twice (its text speaks of deploy
/// templates for runbooks too).
pub fn duplicate_steps(steps: &[Step]) -> Option<String> {
    let mut seen = std::collections::BTreeSet::new();
    let mut twice = std::collections::BTreeSet::new();
    for s in steps {
        if !seen.insert((s.interface.as_str(), s.step.as_str())) {
            twice.insert(format!("interface: {}, step: {}", s.interface, s.step));
        }
    }
    if twice.is_empty() {
        return None;
    }
    Some(format!(
        "Deploy template invalid: Duplicate deploy steps. A template cannot have multiple deploy steps with the same interface and step. Duplicates: {}.",
        twice.into_iter().collect::<Vec<_>>().join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn runbook_steps_need_an_order_and_no_arguments() {
        let no_args = json!({"interface": "deploy", "step": "erase", "order": "2"});
        assert_eq!(step_problem(&no_args, RUNBOOK_STEPS), None);
        assert_eq!(
            step_problem(&no_args, DEPLOY_STEPS).as_deref(),
            Some("'args' is a required property")
        );
        // A missing key outranks an unexpected one (Python's jsonschema).
        let priority = json!({"interface": "deploy", "step": "erase", "priority": 1});
        assert_eq!(
            step_problem(&priority, RUNBOOK_STEPS).as_deref(),
            Some("'order' is a required property")
        );
        // Among a step's fields, the complaint at the greatest key wins.
        let two = json!({"interface": "bogus", "step": "", "order": 1});
        assert_eq!(
            step_problem(&two, RUNBOOK_STEPS).as_deref(),
            Some("'' should be non-empty")
        );
        let two = json!({"interface": "deploy", "step": "x", "order": -1, "args": 5});
        assert_eq!(
            step_problem(&two, RUNBOOK_STEPS).as_deref(),
            Some("-1 is less than the minimum of 0")
        );
        let bare = json!({"interface": "deploy", "step": "erase"});
        assert_eq!(
            step_problem(&bare, RUNBOOK_STEPS).as_deref(),
            Some("'order' is a required property")
        );
        let negative = json!({"interface": "raid", "step": "x", "order": -1});
        assert_eq!(
            step_problem(&negative, RUNBOOK_STEPS).as_deref(),
            Some("-1 is less than the minimum of 0")
        );
        let s = Step::from_checked(&no_args, RUNBOOK_STEPS);
        assert_eq!(
            s.document(RUNBOOK_STEPS),
            json!({"interface": "deploy", "step": "erase", "args": {}, "order": 2})
        );
        assert_eq!(
            steps_problem(&json!([]), RUNBOOK_STEPS).as_deref(),
            Some("[] should be non-empty")
        );
    }
}
