//! Values used across the scenario file: durations in simulated time and host selectors.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

use metal_sim::machine::SimTime;
use metal_sim::machine::time::{format_duration, parse_duration};

/// A duration in simulated time, written `250ms`, `1.5s`, `2m`, `1h` or a number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Span(pub Duration);

impl Span {
    /// The instant `self` after `t`.
    pub fn after(self, t: SimTime) -> SimTime {
        t.saturating_add(self.0)
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(self.0))
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl de::Visitor<'_> for Visit {
            type Value = Span;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as 30s, 2m or 250ms")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Span, E> {
                parse_duration(v).map(Span).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Span, E> {
                Ok(Span(Duration::from_secs(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Span, E> {
                u64::try_from(v)
                    .map(|v| Span(Duration::from_secs(v)))
                    .map_err(|_| E::custom(format!("negative duration {v}")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Span, E> {
                Duration::try_from_secs_f64(v)
                    .map(Span)
                    .map_err(|_| E::custom(format!("invalid duration {v}")))
            }
        }
        d.deserialize_any(Visit)
    }
}

impl JsonSchema for Span {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Span".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A duration in simulated time: 250ms, 1.5s, 2m, 1h, or a number of seconds.",
            "oneOf": [
                {"type": "string", "pattern": "^\\s*(0|[0-9]+(\\.[0-9]+)?\\s*(ns|us|µs|ms|s|m|min|h))\\s*$"},
                {"type": "number", "minimum": 0}
            ]
        })
    }
}

/// Which hosts a step or expectation is about.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum HostSelector {
    /// Every host of the fleet (`hosts: all`).
    #[default]
    All,
    /// These hosts by name (`hosts: [a, b]` or `hosts: a`).
    Names(Vec<String>),
    /// Hosts whose fleet labels include all of these (`hosts: {labels: {role: worker}}`).
    Labels(BTreeMap<String, String>),
}

impl HostSelector {
    /// Whether a host with this name and these labels is selected.
    pub fn matches(&self, name: &str, labels: &BTreeMap<String, String>) -> bool {
        match self {
            HostSelector::All => true,
            HostSelector::Names(names) => names.iter().any(|n| n == name),
            HostSelector::Labels(want) => want.iter().all(|(k, v)| labels.get(k) == Some(v)),
        }
    }
}

impl fmt::Display for HostSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostSelector::All => f.write_str("all hosts"),
            HostSelector::Names(n) => f.write_str(&n.join(", ")),
            HostSelector::Labels(l) => {
                let parts: Vec<String> = l.iter().map(|(k, v)| format!("{k}={v}")).collect();
                write!(f, "hosts labelled {}", parts.join(","))
            }
        }
    }
}

impl Serialize for HostSelector {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            HostSelector::All => s.serialize_str("all"),
            HostSelector::Names(n) => n.serialize(s),
            HostSelector::Labels(l) => {
                let mut m = BTreeMap::new();
                m.insert("labels", l);
                m.serialize(s)
            }
        }
    }
}

impl<'de> Deserialize<'de> for HostSelector {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde_json::Value;
        let v = Value::deserialize(d)?;
        let bad = || {
            de::Error::custom(
                "hosts must be `all`, a host name, a list of host names or {labels: {key: value}}",
            )
        };
        match v {
            Value::String(s) if s == "all" => Ok(HostSelector::All),
            Value::String(s) => Ok(HostSelector::Names(vec![s])),
            Value::Array(items) => items
                .into_iter()
                .map(|i| match i {
                    Value::String(s) => Ok(s),
                    _ => Err(bad()),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(HostSelector::Names),
            Value::Object(mut m) if m.len() == 1 => match m.remove("labels") {
                Some(Value::Object(l)) => l
                    .into_iter()
                    .map(|(k, v)| match v {
                        Value::String(s) => Ok((k, s)),
                        Value::Number(n) => Ok((k, n.to_string())),
                        Value::Bool(b) => Ok((k, b.to_string())),
                        _ => Err(bad()),
                    })
                    .collect::<Result<BTreeMap<_, _>, _>>()
                    .map(HostSelector::Labels),
                _ => Err(bad()),
            },
            _ => Err(bad()),
        }
    }
}

impl JsonSchema for HostSelector {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "HostSelector".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "`all`, a host name, a list of host names, or {labels: {key: value}} (the fleet's labels).",
            "oneOf": [
                {"type": "string"},
                {"type": "array", "items": {"type": "string"}},
                {"type": "object", "required": ["labels"], "additionalProperties": false,
                 "properties": {"labels": {"type": "object", "additionalProperties": {"type": "string"}}}}
            ]
        })
    }
}
