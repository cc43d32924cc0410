//! The body of `POST /v1/events` (1.54): network port events a networking service sends, checked
//! against Ironic 39's request schema and reported as its `jsonschema` check reports the first
//! problem. Valid events are only logged by Ironic, and by the mock.

use serde_json::Value;

use super::steps::{SchemaError, Seg, object_errors};
use crate::ironic::encoding::python_repr;

/// The microversion the events endpoint appeared in.
pub const EVENTS_VERSION: u32 = 54;

const EVENT_TYPES: [&str; 3] = [
    "network.bind_port",
    "network.unbind_port",
    "network.delete_port",
];

const FIELDS: [&str; 7] = [
    "event",
    "port_id",
    "mac_address",
    "status",
    "device_id",
    "binding:host_id",
    "binding:vnic_type",
];

const REQUIRED: [&str; 4] = ["event", "port_id", "mac_address", "status"];

fn not_of_type(v: &Value, ty: &str, path: Vec<Seg>) -> SchemaError {
    SchemaError::at(path, format!("{} is not of type '{ty}'", python_repr(v)))
}

fn field_errors(key: &str, v: &Value, path: Vec<Seg>) -> Vec<SchemaError> {
    let nullable = matches!(key, "device_id" | "binding:host_id" | "binding:vnic_type");
    let Some(s) = v.as_str() else {
        if nullable && v.is_null() {
            return Vec::new();
        }
        let ty = if nullable { "string', 'null" } else { "string" };
        return vec![not_of_type(v, ty, path)];
    };
    let problem = match key {
        "event" if !EVENT_TYPES.contains(&s) => Some(format!(
            "{} is not one of [{}]",
            python_repr(v),
            EVENT_TYPES.map(|e| format!("'{e}'")).join(", ")
        )),
        "port_id" | "device_id" | "binding:host_id" if uuid::Uuid::parse_str(s).is_err() => {
            Some(format!("{} is not a 'uuid'", python_repr(v)))
        }
        "mac_address" if super::parse_mac(s).is_none() => {
            Some(format!("{} is not a 'mac-address'", python_repr(v)))
        }
        _ => None,
    };
    problem
        .map(|m| vec![SchemaError::at(path, m)])
        .unwrap_or_default()
}

fn event_errors(e: &Value, path: Vec<Seg>) -> Vec<SchemaError> {
    let Value::Object(m) = e else {
        return vec![not_of_type(e, "object", path)];
    };
    let mut out = Vec::new();
    for key in FIELDS {
        if let Some(v) = m.get(key) {
            let mut at = path.clone();
            at.push(Seg::Key(key.into()));
            out.extend(field_errors(key, v, at));
        }
    }
    out.extend(object_errors(m, &path, &REQUIRED, &FIELDS));
    out
}

/// What Ironic 39 says is wrong with an events body (without its `Schema error: ` prefix), or
/// `None` when it is valid.
pub fn events_problem(body: &Value) -> Option<String> {
    let Value::Object(top) = body else {
        return Some(format!("{} is not of type 'object'", python_repr(body)));
    };
    let mut errors = Vec::new();
    if let Some(events) = top.get("events") {
        let at = vec![Seg::Key("events".into())];
        match events {
            Value::Array(list) if list.is_empty() => {
                errors.push(SchemaError::at(at, "[] should be non-empty".into()));
            }
            Value::Array(list) => {
                for (i, e) in list.iter().enumerate() {
                    let mut p = at.clone();
                    p.push(Seg::Index(i));
                    errors.extend(event_errors(e, p));
                }
            }
            other => errors.push(not_of_type(other, "array", at)),
        }
    }
    errors.extend(object_errors(top, &[], &["events"], &["events"]));
    // `jsonschema`'s `validate` raises the first error its keywords find, in the schema's order
    // (`properties` before `required` and `additionalProperties`), not the most relevant one.
    errors.into_iter().next().map(|e| e.message)
}

/// The events of a valid body (for the log).
pub fn events_of(body: &Value) -> &[Value] {
    body.get("events")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn valid() -> Value {
        json!({"event": "network.bind_port", "port_id": "3f1c0a9e-58f6-4c52-9a4b-2d6f0b7a1c11",
               "mac_address": "52:54:00:12:34:56", "status": "ACTIVE", "device_id": null})
    }

    #[test]
    fn a_valid_body_passes_and_each_refusal_reads_as_ironics_schema_check() {
        assert_eq!(events_problem(&json!({"events": [valid()]})), None);
        let cases = [
            (json!([]), "[] is not of type 'object'"),
            (json!({}), "'events' is a required property"),
            (json!({"events": [], "x": 1}), "[] should be non-empty"),
            (json!({"events": [1], "x": 1}), "1 is not of type 'object'"),
            (json!({"x": 1}), "'events' is a required property"),
            (json!({"events": []}), "[] should be non-empty"),
            (json!({"events": {}}), "{} is not of type 'array'"),
            (json!({"events": [1]}), "1 is not of type 'object'"),
            (
                json!({"events": [{"event": "network.bind_port"}]}),
                "'port_id' is a required property",
            ),
        ];
        for (body, want) in cases {
            assert_eq!(events_problem(&body).as_deref(), Some(want), "{body}");
        }
        let with = |k: &str, v: Value| {
            let mut e = valid();
            e[k] = v;
            json!({"events": [e]})
        };
        assert_eq!(
            events_problem(&with("event", json!("network.other"))).as_deref(),
            Some(
                "'network.other' is not one of ['network.bind_port', 'network.unbind_port', 'network.delete_port']"
            )
        );
        assert_eq!(
            events_problem(&with("port_id", json!("nope"))).as_deref(),
            Some("'nope' is not a 'uuid'")
        );
        assert_eq!(
            events_problem(&with("mac_address", json!("nope"))).as_deref(),
            Some("'nope' is not a 'mac-address'")
        );
        assert_eq!(
            events_problem(&with("status", json!(3))).as_deref(),
            Some("3 is not of type 'string'")
        );
    }
}
