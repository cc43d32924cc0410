//! Out-of-band clean and service steps: steps a node's own interfaces run over its BMC, without
//! the agent ramdisk (Ironic's steps with `requires_ramdisk=False`). A manual clean or a service
//! made only of such steps boots no ramdisk, as Ironic 39 decides (`all_steps_disable_ramdisk`,
//! `do_node_service`). Served here: the redfish BIOS interface's `apply_configuration` and
//! `factory_reset`.
//!
//! Each step is expanded, when it runs, into plan steps: BMC calls, the reboot that applies the
//! BIOS's pending settings, the wait in `clean wait` until the conductor's periodic check finds
//! the reboot done, and the verification of the values read back. Texts are Ironic's
//! (`drivers/modules/redfish/bios.py`, `conductor/cleaning.py`).

use super::plan::{Step, interface};
use super::{BmcOp, python_repr};
use crate::ironic::model::{BiosSetting, Node, NodePower, ProvisionState};
use serde_json::{Map, Value};

/// What an out-of-band plan step does.
#[derive(Debug, Clone, PartialEq)]
pub enum OobStep {
    /// Run the requested step (the user's step dictionary).
    Run(Value),
    /// The step's reboot is done: wait (`clean wait`, `service wait`) for the conductor's
    /// periodic check.
    Park,
    /// Check the BIOS values read back by the last `GetBios` (name, value requested).
    VerifyBios(Vec<(String, Value)>),
    /// Service steps that need the ramdisk (not served): the first one is refused.
    Refuse(Vec<Value>),
}

/// The `last_error` of a service whose steps need the ramdisk.
pub fn refused(uuid: &str, requested: &[Value]) -> String {
    let first = requested.first().cloned().unwrap_or(Value::Null);
    format!(
        "Cannot service node {uuid}: node does not support this service step: {}",
        python_repr(&first)
    )
}

/// A requested step this node runs over its BMC.
#[derive(Debug, Clone, PartialEq)]
enum Offered {
    BiosApply(Vec<Value>),
    BiosReset,
}

fn name_of<'a>(step: &'a Value, key: &str) -> &'a str {
    step.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// The out-of-band step `step` names on `node`, if the node's interfaces offer it. A step missing
/// a required argument is not offered here: Ironic then boots the ramdisk and refuses it later.
fn offered(node: &Node, step: &Value) -> Option<Offered> {
    match (name_of(step, "interface"), name_of(step, "step")) {
        ("bios", s) if interface(node, "bios") == "redfish" => match s {
            "apply_configuration" => step
                .pointer("/args/settings")
                .and_then(Value::as_array)
                .map(|s| Offered::BiosApply(s.clone())),
            "factory_reset" => Some(Offered::BiosReset),
            _ => None,
        },
        _ => None,
    }
}

/// The plan of a manual clean or service whose every requested step runs out of band on `node`, or None
/// when one needs the ramdisk (or none is asked for). Like Ironic, the node's cached data (its
/// BIOS settings) is refreshed before the steps and again after them.
pub fn plan(node: &Node, requested: &[Value]) -> Option<Vec<Step>> {
    if requested.is_empty() || !requested.iter().all(|s| offered(node, s).is_some()) {
        return None;
    }
    let cache = interface(node, "bios") == "redfish";
    let mut steps = Vec::new();
    if cache {
        steps.push(Step::Call(BmcOp::GetBios));
    }
    steps.extend(requested.iter().map(|s| Step::Oob(OobStep::Run(s.clone()))));
    if cache {
        steps.push(Step::Call(BmcOp::GetBios));
    }
    Some(steps)
}

/// The step as Ironic stores it in `clean_step` and prints it in messages: the user's keys in
/// their order, then `abortable` and `priority` copied from the driver's step.
pub fn stored(step: &Value) -> Value {
    let mut out = step.as_object().cloned().unwrap_or_default();
    out.insert("abortable".into(), Value::Bool(false));
    out.insert("priority".into(), Value::from(0));
    Value::Object(out)
}

/// `repr` of the stored step: the user's keys in the order they arrived (the mock keeps JSON
/// objects sorted by key, the order clients such as gophercloud and serde send), then
/// `abortable` and `priority`.
pub fn step_repr(step: &Value) -> String {
    let tail = ["abortable", "priority"];
    let mut parts = Vec::new();
    if let Some(o) = step.as_object() {
        parts.extend(
            o.iter()
                .filter(|(k, _)| !tail.contains(&k.as_str()))
                .map(|(k, v)| format!("'{k}': {}", python_repr(v))),
        );
    }
    parts.extend(
        tail.iter()
            .filter_map(|k| step.get(*k).map(|v| format!("'{k}': {}", python_repr(v)))),
    );
    format!("{{{}}}", parts.join(", "))
}

/// Ironic's `last_error` when a running clean step raises.
pub fn step_failed(uuid: &str, step: &Value, error: &str) -> String {
    format!("Node {uuid} failed step {}: {error}", step_repr(step))
}

/// Python's name of a JSON value's type (its `TypeError` texts).
fn py_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// Python's `int(value)`: text with optional surrounding spaces, integers, floats truncated,
/// booleans as 0 and 1; None for what it refuses.
fn py_int(v: &Value) -> Option<i64> {
    match v {
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(i64::from(*b)),
        // Truncation toward zero is what Python's int() does to a float.
        #[allow(clippy::cast_possible_truncation)]
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f.trunc() as i64)),
        _ => None,
    }
}

/// Ironic's `_validate_and_convert_settings`: each setting checked against the cached registry
/// (settings not in the cache pass unchecked, for the BMC to judge), integers and booleans given
/// as text converted. Returns the attributes to send, in the order asked, or the step's error.
pub fn convert_settings(
    uuid: &str,
    cache: &[BiosSetting],
    settings: &[Value],
) -> Result<Vec<(String, Value)>, String> {
    let mut out = Vec::new();
    let mut invalid = Vec::new();
    for s in settings {
        let (Some(name), Some(value)) = (s.get("name"), s.get("value")) else {
            // Python's KeyError, printed as the missing key.
            let missing = if s.get("name").is_none() {
                "name"
            } else {
                "value"
            };
            return Err(format!("'{missing}'"));
        };
        let name = name
            .as_str()
            .map_or_else(|| name.to_string(), str::to_string);
        let mut value = value.clone();
        if let Some(cached) = cache.iter().find(|c| c.name == name) {
            let r = &cached.registry;
            if r.read_only == Some(true) {
                invalid.push(name);
                continue;
            }
            match r.attribute_type.as_deref() {
                Some("Enumeration")
                    if !r.allowable_values.is_empty()
                        && !value
                            .as_str()
                            .is_some_and(|v| r.allowable_values.iter().any(|a| a == v)) =>
                {
                    invalid.push(name);
                    continue;
                }
                Some("Integer") => match py_int(&value) {
                    Some(i)
                        if r.lower_bound.is_none_or(|l| i >= l)
                            && r.upper_bound.is_none_or(|u| i <= u) =>
                    {
                        value = Value::from(i);
                    }
                    _ => {
                        invalid.push(name);
                        continue;
                    }
                },
                Some("Boolean") => {
                    if let Some(text) = value.as_str() {
                        value = Value::Bool(text.to_lowercase() == "true");
                    }
                }
                Some("String") => {
                    let len = match &value {
                        Value::String(t) => t.chars().count(),
                        Value::Array(a) => a.len(),
                        Value::Object(o) => o.len(),
                        other => {
                            return Err(format!(
                                "object of type '{}' has no len()",
                                py_type(other)
                            ));
                        }
                    };
                    let len = i64::try_from(len).unwrap_or(i64::MAX);
                    if r.min_length.is_some_and(|m| len < m)
                        || r.max_length.is_some_and(|m| len > m)
                    {
                        invalid.push(name);
                        continue;
                    }
                }
                _ => {}
            }
        }
        out.push((name, value));
    }
    if invalid.is_empty() {
        Ok(out)
    } else {
        Err(format!(
            "Redfish BIOS apply_configuration failed for node {uuid}: invalid value for setting(s): {}",
            invalid.join(", ")
        ))
    }
}

/// The requested attributes the BMC does not show yet (Ironic's `_get_unapplied_bios_attrs`).
pub fn unapplied(
    requested: &[(String, Value)],
    current: &Map<String, Value>,
) -> Vec<(String, Value)> {
    requested
        .iter()
        .filter(|(k, v)| current.get(k) != Some(v))
        .cloned()
        .collect()
}

/// Python's `repr` of a dict built from `pairs` in their order.
pub fn dict_repr(pairs: &[(String, Value)]) -> String {
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("'{k}': {}", python_repr(v)))
        .collect();
    format!("{{{}}}", inner.join(", "))
}

/// The plan steps one requested step runs, given the node's cached settings and the BMC's
/// current attributes (the last `GetBios`), in `working` (`cleaning` or `servicing`): `Err` is
/// the step's `last_error`.
pub fn expand(
    node: &Node,
    bmc_attributes: &Map<String, Value>,
    step: &Value,
    working: ProvisionState,
) -> Result<Vec<Step>, String> {
    let uuid = node.uuid.to_string();
    let fail = |e: String| step_failed(&uuid, &stored(step), &e);
    let reboot = [
        Step::Call(BmcOp::SetPower(NodePower::Off)),
        Step::Call(BmcOp::SetPower(NodePower::On)),
        Step::Oob(OobStep::Park),
        Step::Enter(working),
        Step::Call(BmcOp::GetBios),
    ];
    match offered(node, step) {
        Some(Offered::BiosApply(settings)) => {
            let attrs = convert_settings(&uuid, &node.bios, &settings).map_err(fail)?;
            // Settings that already hold their values need no reboot (Ironic skips the apply).
            if unapplied(&attrs, bmc_attributes).is_empty() {
                return Ok(vec![Step::Call(BmcOp::GetBios)]);
            }
            let map: Map<String, Value> = attrs.iter().cloned().collect();
            let mut steps = vec![Step::Call(BmcOp::PatchBiosSettings(map))];
            steps.extend(reboot);
            steps.push(Step::Oob(OobStep::VerifyBios(attrs)));
            Ok(steps)
        }
        Some(Offered::BiosReset) => {
            let mut steps = vec![Step::Call(BmcOp::ResetBios)];
            steps.extend(reboot);
            Ok(steps)
        }
        None => Err(fail(format!(
            "node does not support this clean step: {}",
            python_repr(step)
        ))),
    }
}

/// The `last_error` of a failed verification (Ironic's `_set_step_failed` user message).
pub fn not_updated(unapplied: &[(String, Value)]) -> String {
    format!(
        "Redfish BIOS apply_configuration step failed. Attributes {} are not updated.",
        dict_repr(unapplied)
    )
}

/// The `last_error` of a BMC call made by an out-of-band step.
pub fn call_failed(uuid: &str, step: &Value, op: &BmcOp, error: &str) -> String {
    let what = match op {
        BmcOp::PatchBiosSettings(_) => "apply configuration",
        BmcOp::ResetBios => "factory reset",
        _ => return step_failed(uuid, step, error),
    };
    step_failed(
        uuid,
        step,
        &format!(
            "Redfish exception occurred. Error: Redfish BIOS {what} failed for node {uuid}. Error: {error}"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ironic::model::BiosRegistryEntry;
    use chrono::Utc;
    use serde_json::json;

    fn setting(name: &str, value: &str, registry: BiosRegistryEntry) -> BiosSetting {
        BiosSetting {
            name: name.into(),
            value: Some(value.into()),
            registry,
            created_at: Utc::now(),
            updated_at: None,
        }
    }

    fn cache() -> Vec<BiosSetting> {
        vec![
            setting(
                "ProcVirtualization",
                "Enabled",
                BiosRegistryEntry {
                    attribute_type: Some("Enumeration".into()),
                    allowable_values: vec!["Enabled".into(), "Disabled".into()],
                    ..Default::default()
                },
            ),
            setting(
                "PxeRetryCount",
                "3",
                BiosRegistryEntry {
                    attribute_type: Some("Integer".into()),
                    lower_bound: Some(0),
                    upper_bound: Some(10),
                    ..Default::default()
                },
            ),
            setting(
                "SecureBootAllowed",
                "1",
                BiosRegistryEntry {
                    attribute_type: Some("Boolean".into()),
                    ..Default::default()
                },
            ),
            setting(
                "AssetTag",
                "",
                BiosRegistryEntry {
                    attribute_type: Some("String".into()),
                    max_length: Some(4),
                    ..Default::default()
                },
            ),
            setting(
                "SystemServiceTag",
                "CT1",
                BiosRegistryEntry {
                    attribute_type: Some("String".into()),
                    read_only: Some(true),
                    ..Default::default()
                },
            ),
        ]
    }

    #[test]
    fn text_integers_and_booleans_are_converted_and_unknown_names_pass_to_the_bmc() {
        let got = convert_settings(
            "u",
            &cache(),
            &[
                json!({"name": "PxeRetryCount", "value": " 5 "}),
                json!({"name": "SecureBootAllowed", "value": "False"}),
                json!({"name": "NoSuchSetting", "value": "x"}),
            ],
        )
        .expect("valid");
        assert_eq!(
            got,
            vec![
                ("PxeRetryCount".to_string(), json!(5)),
                ("SecureBootAllowed".to_string(), json!(false)),
                ("NoSuchSetting".to_string(), json!("x")),
            ]
        );
    }

    #[test]
    fn every_setting_the_registry_refuses_is_named_in_one_error() {
        let err = convert_settings(
            "u1",
            &cache(),
            &[
                json!({"name": "SystemServiceTag", "value": "X"}),
                json!({"name": "ProcVirtualization", "value": "Maybe"}),
                json!({"name": "PxeRetryCount", "value": 11}),
                json!({"name": "AssetTag", "value": "too long"}),
                json!({"name": "PxeRetryCount", "value": "five"}),
            ],
        )
        .expect_err("invalid");
        assert_eq!(
            err,
            "Redfish BIOS apply_configuration failed for node u1: invalid value for setting(s): SystemServiceTag, ProcVirtualization, PxeRetryCount, AssetTag, PxeRetryCount"
        );
    }

    #[test]
    fn a_string_setting_given_a_number_fails_as_python_does() {
        let err = convert_settings("u", &cache(), &[json!({"name": "AssetTag", "value": 7})])
            .expect_err("no len");
        assert_eq!(err, "object of type 'int' has no len()");
    }

    #[test]
    fn the_stored_step_prints_the_users_keys_then_abortable_and_priority() {
        let step = stored(&json!({"step": "factory_reset", "interface": "bios", "args": {}}));
        assert_eq!(
            step_repr(&step),
            "{'args': {}, 'interface': 'bios', 'step': 'factory_reset', 'abortable': False, 'priority': 0}"
        );
    }

    #[test]
    fn only_attributes_the_bmc_does_not_show_are_unapplied() {
        let current = json!({"A": 1, "B": "x"});
        let left = unapplied(
            &[("A".into(), json!(1)), ("B".into(), json!("y"))],
            current.as_object().expect("map"),
        );
        assert_eq!(left, vec![("B".to_string(), json!("y"))]);
        assert_eq!(
            not_updated(&left),
            "Redfish BIOS apply_configuration step failed. Attributes {'B': 'y'} are not updated."
        );
    }
}
