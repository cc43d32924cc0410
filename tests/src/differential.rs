//! Differential runs: the same request shapes sent to a real kube-apiserver and to the embedded
//! control plane, each run reduced to a [`Facts`] record (named, normalised facts), the two compared
//! fact by fact ([`compare`]) and every difference either excused by an [`Allowed`] entry that says
//! why, or reported as unexpected ([`Report`]).
//!
//! - [`Side`]: one server as its admin reaches it, with raw requests ([`Side::call`]), watches that
//!   record what they see ([`Side::watch`]) and kubectl; its client does not retry 503 and 504 (kube-rs
//!   does by default), so a shape sees the first answer; a 429 from the real server's priority and
//!   fairness is retried, as every client retries it.
//! - [`normalize`]: the values that legitimately differ between two servers (uids, resourceVersions,
//!   timestamps, managedFields, continue tokens, addresses) replaced by placeholders.

mod side;

use futures::future::BoxFuture;
use serde_json::{Value, json};

pub use side::{Reply, Side, Watch, event_names};

/// A normalised copy of a response body or object: server-assigned identities and times become
/// `"<set>"` (when present), managedFields and selfLink disappear, continue tokens become
/// `"<token>"`.
pub fn normalize(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                match k.as_str() {
                    "managedFields" | "selfLink" => {}
                    "uid" | "resourceVersion" | "creationTimestamp" | "deletionTimestamp"
                    | "serverAddress" => {
                        let set = !(v.is_null() || v.as_str() == Some(""));
                        out.insert(k.clone(), if set { json!("<set>") } else { v.clone() });
                    }
                    "continue" if v.as_str().is_some_and(|c| !c.is_empty()) => {
                        out.insert(k.clone(), json!("<token>"));
                    }
                    _ => {
                        out.insert(k.clone(), normalize(v));
                    }
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(normalize).collect()),
        other => other.clone(),
    }
}

/// What one side did in one shape: named facts, in the order the shape produced them.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    facts: Vec<(String, Value)>,
}

impl Facts {
    pub fn new() -> Facts {
        Facts::default()
    }

    /// Records a fact (a later fact with the same name replaces it).
    pub fn fact(&mut self, name: &str, value: impl serde::Serialize) -> &mut Self {
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        self.facts.retain(|(n, _)| n != name);
        self.facts.push((name.to_owned(), value));
        self
    }

    /// Records a request's `{code, reason}`.
    pub fn outcome(&mut self, name: &str, reply: &Reply) -> &mut Self {
        self.fact(name, reply.outcome())
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.facts.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

/// A run of one shape on one side.
pub type Run = for<'a> fn(&'a Side, &'a str) -> BoxFuture<'a, anyhow::Result<Facts>>;

/// A named request shape; it runs in the namespace it is given, on each side.
pub struct Case {
    pub shape: &'static str,
    pub run: Run,
}

/// A difference the suite accepts, with the reason (the same reason docs/controlplane-differences.md
/// gives).
pub struct Allowed {
    pub shape: &'static str,
    /// The fact's name.
    pub fact: &'static str,
    pub reason: &'static str,
}

/// One fact that differs between the two sides of a shape.
#[derive(Clone, Debug)]
pub struct Difference {
    pub shape: String,
    pub fact: String,
    pub real: Option<Value>,
    pub embedded: Option<Value>,
    /// The allow-list's reason, when it excuses this difference.
    pub allowed: Option<&'static str>,
}

/// Every fact of `shape` whose value differs (or that only one side produced).
pub fn compare(
    shape: &str,
    real: &Facts,
    embedded: &Facts,
    allowed: &[Allowed],
) -> Vec<Difference> {
    let mut names: Vec<&str> = real.facts.iter().map(|(n, _)| n.as_str()).collect();
    for (n, _) in &embedded.facts {
        if !names.contains(&n.as_str()) {
            names.push(n);
        }
    }
    names
        .into_iter()
        .filter_map(|name| {
            let (r, e) = (real.get(name), embedded.get(name));
            (r != e).then(|| Difference {
                shape: shape.to_owned(),
                fact: name.to_owned(),
                real: r.cloned(),
                embedded: e.cloned(),
                allowed: allowed
                    .iter()
                    .find(|a| a.shape == shape && a.fact == name)
                    .map(|a| a.reason),
            })
        })
        .collect()
}

/// Everything a differential run found.
#[derive(Debug, Default)]
pub struct Report {
    pub shapes: usize,
    pub differences: Vec<Difference>,
}

fn short(v: &Option<Value>) -> String {
    let text = v
        .as_ref()
        .map_or_else(|| "(absent)".to_owned(), Value::to_string);
    if text.chars().count() > 400 {
        format!("{}…", text.chars().take(400).collect::<String>())
    } else {
        text
    }
}

impl Report {
    /// The differences no allow-list entry excuses.
    pub fn unexpected(&self) -> Vec<&Difference> {
        self.differences
            .iter()
            .filter(|d| d.allowed.is_none())
            .collect()
    }

    /// Allow-list entries that matched nothing in this run (stale, or the difference was fixed).
    pub fn unused<'a>(&self, allowed: &'a [Allowed]) -> Vec<&'a Allowed> {
        allowed
            .iter()
            .filter(|a| {
                !self
                    .differences
                    .iter()
                    .any(|d| d.shape == a.shape && d.fact == a.fact)
            })
            .collect()
    }

    /// The report: one block per difference, shape → fact, real vs embedded.
    pub fn render(&self, allowed: &[Allowed]) -> String {
        let unexpected = self.unexpected().len();
        let mut out = format!(
            "controlplane differential: {} shapes compared, {} differences ({} allowed, {unexpected} unexpected)\n",
            self.shapes,
            self.differences.len(),
            self.differences.len() - unexpected,
        );
        for d in &self.differences {
            let tag = if d.allowed.is_some() {
                "allowed"
            } else {
                "UNEXPECTED"
            };
            out.push_str(&format!(
                "[{tag}] {} → {}\n    real:     {}\n    embedded: {}\n",
                d.shape,
                d.fact,
                short(&d.real),
                short(&d.embedded)
            ));
            if let Some(reason) = d.allowed {
                out.push_str(&format!("    why:      {reason}\n"));
            }
        }
        for a in self.unused(allowed) {
            out.push_str(&format!(
                "[unused allow-list entry] {} → {} ({})\n",
                a.shape, a.fact, a.reason
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizing_hides_server_assigned_values_but_keeps_their_presence() {
        let v = json!({"metadata": {"uid": "u", "resourceVersion": "", "managedFields": [],
            "creationTimestamp": "t", "name": "a"}, "continue": "x"});
        assert_eq!(
            normalize(&v),
            json!({"metadata": {"uid": "<set>", "resourceVersion": "", "creationTimestamp": "<set>",
                "name": "a"}, "continue": "<token>"})
        );
    }

    #[test]
    fn every_differing_fact_is_reported_and_only_listed_ones_are_allowed() {
        let mut real = Facts::new();
        real.fact("a", 1).fact("b", 2).fact("c", 3);
        let mut embedded = Facts::new();
        embedded.fact("a", 1).fact("b", 9).fact("d", 4);
        let allowed = [Allowed {
            shape: "s",
            fact: "b",
            reason: "because",
        }];
        let diffs = compare("s", &real, &embedded, &allowed);
        let names: Vec<(&str, bool)> = diffs
            .iter()
            .map(|d| (d.fact.as_str(), d.allowed.is_some()))
            .collect();
        assert_eq!(names, vec![("b", true), ("c", false), ("d", false)]);
    }
}
