//! The printer columns of the built-in kinds, as kube-apiserver's printers render them in Tables
//! (`kubectl get`): every cell a string or an integer, ages as kubectl shows them, Events with their
//! fallbacks (a `series`, `eventTime`, the reporting controller when there is no `source`). A kind
//! with no printer gets kube-apiserver's default: its name and `Created At`.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::resource::Column;
use super::table::human_duration;

fn at(obj: &Value, pointer: &str) -> Option<String> {
    obj.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// How long ago an RFC 3339 time was (`<unknown>` when absent, as kubectl prints it).
fn ago(time: Option<String>, now: DateTime<Utc>) -> Value {
    match time.and_then(|t| DateTime::parse_from_rfc3339(&t).ok()) {
        Some(t) => json!(human_duration(now - t.with_timezone(&Utc))),
        None => json!("<unknown>"),
    }
}

fn age(obj: &Value, now: DateTime<Utc>) -> Value {
    ago(at(obj, "/metadata/creationTimestamp"), now)
}

fn data_count(obj: &Value, _now: DateTime<Utc>) -> Value {
    let count = |k: &str| obj.get(k).and_then(Value::as_object).map_or(0, |m| m.len());
    json!(count("data") + count("binaryData"))
}

fn computed(name: &str, type_: &str, priority: i64, compute: super::resource::Cell) -> Column {
    Column {
        priority,
        compute: Some(compute),
        ..Column::new(name, type_, "", name)
    }
}

fn age_column() -> Column {
    computed("Age", "string", 0, age)
}

fn text(name: &str, path: &str) -> Column {
    Column::new(name, "string", path, name)
}

fn event_last_seen(ev: &Value, now: DateTime<Utc>) -> Value {
    let last = at(ev, "/series/lastObservedTime")
        .or_else(|| at(ev, "/lastTimestamp"))
        .or_else(|| at(ev, "/eventTime"));
    ago(last, now)
}

fn event_first_seen(ev: &Value, now: DateTime<Utc>) -> Value {
    ago(
        at(ev, "/firstTimestamp").or_else(|| at(ev, "/eventTime")),
        now,
    )
}

fn event_object(ev: &Value, _now: DateTime<Utc>) -> Value {
    let kind = at(ev, "/involvedObject/kind").unwrap_or_default();
    let name = at(ev, "/involvedObject/name").unwrap_or_default();
    json!(format!("{}/{name}", kind.to_lowercase()))
}

fn event_subobject(ev: &Value, _now: DateTime<Utc>) -> Value {
    json!(at(ev, "/involvedObject/fieldPath").unwrap_or_default())
}

fn event_source(ev: &Value, _now: DateTime<Utc>) -> Value {
    let pair = |a: Option<String>, b: Option<String>| match (a, b) {
        (Some(a), Some(b)) => Some(format!("{a}, {b}")),
        (Some(a), None) => Some(a),
        (None, b) => b,
    };
    let source = pair(at(ev, "/source/component"), at(ev, "/source/host"))
        .or_else(|| pair(at(ev, "/reportingComponent"), at(ev, "/reportingInstance")));
    json!(source.unwrap_or_default())
}

fn event_count(ev: &Value, _now: DateTime<Utc>) -> Value {
    let count = ev
        .pointer("/series/count")
        .or_else(|| ev.get("count"))
        .and_then(Value::as_i64)
        .filter(|n| *n > 0)
        .unwrap_or(1);
    json!(count)
}

fn event_name(ev: &Value, _now: DateTime<Utc>) -> Value {
    ev.pointer("/metadata/name").cloned().unwrap_or(Value::Null)
}

fn deployment_ready(d: &Value, _now: DateTime<Utc>) -> Value {
    let n = |p: &str| d.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    json!(format!(
        "{}/{}",
        n("/status/readyReplicas"),
        n("/spec/replicas")
    ))
}

fn replicas(d: &Value, pointer: &str) -> Value {
    json!(d.pointer(pointer).and_then(Value::as_i64).unwrap_or(0))
}

fn deployment_updated(d: &Value, _now: DateTime<Utc>) -> Value {
    replicas(d, "/status/updatedReplicas")
}

fn deployment_available(d: &Value, _now: DateTime<Utc>) -> Value {
    replicas(d, "/status/availableReplicas")
}

fn containers(d: &Value) -> Vec<Value> {
    d.pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn deployment_containers(d: &Value, _now: DateTime<Utc>) -> Value {
    let names: Vec<String> = containers(d)
        .iter()
        .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
        .collect();
    json!(names.join(","))
}

fn deployment_images(d: &Value, _now: DateTime<Utc>) -> Value {
    let images: Vec<String> = containers(d)
        .iter()
        .filter_map(|c| c.get("image").and_then(Value::as_str).map(str::to_string))
        .collect();
    json!(images.join(","))
}

fn deployment_selector(d: &Value, _now: DateTime<Utc>) -> Value {
    let labels: Vec<String> = d
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    joined_or_none(&labels)
}

fn webhooks(v: &Value, _now: DateTime<Utc>) -> Value {
    json!(
        v.get("webhooks")
            .and_then(Value::as_array)
            .map_or(0, Vec::len)
    )
}

fn role_ref(v: &Value, _now: DateTime<Utc>) -> Value {
    json!(format!(
        "{}/{}",
        at(v, "/roleRef/kind").unwrap_or_default(),
        at(v, "/roleRef/name").unwrap_or_default()
    ))
}

fn subjects(kind: &'static str, v: &Value) -> Value {
    let names: Vec<String> = v
        .get("subjects")
        .and_then(Value::as_array)
        .map(|s| {
            s.iter()
                .filter(|s| s.get("kind").and_then(Value::as_str) == Some(kind))
                .map(|s| match (at(s, "/namespace"), at(s, "/name")) {
                    (Some(ns), Some(n)) if kind == "ServiceAccount" => format!("{ns}/{n}"),
                    (_, n) => n.unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();
    json!(names.join(", "))
}

fn users(v: &Value, _now: DateTime<Utc>) -> Value {
    subjects("User", v)
}

fn groups(v: &Value, _now: DateTime<Utc>) -> Value {
    subjects("Group", v)
}

fn service_accounts(v: &Value, _now: DateTime<Utc>) -> Value {
    subjects("ServiceAccount", v)
}

fn service_external_ip(v: &Value, _now: DateTime<Utc>) -> Value {
    let ips: Vec<String> = v
        .pointer("/spec/externalIPs")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    joined_or_none(&ips)
}

fn service_ports(v: &Value, _now: DateTime<Utc>) -> Value {
    let ports: Vec<String> = v
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|p| {
                    let port = p.get("port").and_then(Value::as_i64).unwrap_or(0);
                    let proto = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
                    match p.get("nodePort").and_then(Value::as_i64) {
                        Some(node) => format!("{port}:{node}/{proto}"),
                        None => format!("{port}/{proto}"),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    joined_or_none(&ports)
}

fn service_selector(v: &Value, _now: DateTime<Utc>) -> Value {
    let labels: Vec<String> = v
        .pointer("/spec/selector")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    joined_or_none(&labels)
}

/// The printer columns of a built-in kind (after the Name column a Table always starts with,
/// unless the kind places Name itself).
pub fn columns(kind: &str) -> Vec<Column> {
    match kind {
        "ConfigMap" => vec![computed("Data", "string", 0, data_count), age_column()],
        "Secret" => vec![
            text("Type", ".type"),
            computed("Data", "string", 0, data_count),
            age_column(),
        ],
        "Namespace" => vec![text("Status", ".status.phase"), age_column()],
        "ServiceAccount" => vec![age_column()],
        "Lease" => vec![text("Holder", ".spec.holderIdentity"), age_column()],
        "Event" => vec![
            computed("Last Seen", "string", 0, event_last_seen),
            text("Type", ".type"),
            text("Reason", ".reason"),
            computed("Object", "string", 0, event_object),
            computed("Subobject", "string", 1, event_subobject),
            computed("Source", "string", 1, event_source),
            text("Message", ".message"),
            computed("First Seen", "string", 1, event_first_seen),
            computed("Count", "string", 1, event_count),
            Column {
                format: "name".to_string(),
                ..computed("Name", "string", 1, event_name)
            },
        ],
        "Deployment" => vec![
            computed("Ready", "string", 0, deployment_ready),
            computed("Up-to-date", "string", 0, deployment_updated),
            computed("Available", "string", 0, deployment_available),
            age_column(),
            computed("Containers", "string", 1, deployment_containers),
            computed("Images", "string", 1, deployment_images),
            computed("Selector", "string", 1, deployment_selector),
        ],
        "Service" => vec![
            text("Type", ".spec.type"),
            text("Cluster-IP", ".spec.clusterIP"),
            computed("External-IP", "string", 0, service_external_ip),
            computed("Port(s)", "string", 0, service_ports),
            age_column(),
            computed("Selector", "string", 1, service_selector),
        ],
        "RoleBinding" | "ClusterRoleBinding" => vec![
            computed("Role", "string", 0, role_ref),
            age_column(),
            computed("Users", "string", 1, users),
            computed("Groups", "string", 1, groups),
            computed("ServiceAccounts", "string", 1, service_accounts),
        ],
        "ValidatingWebhookConfiguration" => {
            vec![computed("Webhooks", "integer", 0, webhooks), age_column()]
        }
        // kube-apiserver's default Table for a kind without a printer.
        _ => vec![Column {
            description: "CreationTimestamp is a timestamp representing the server time when this object was created.".to_string(),
            compute: Some(|o: &Value, _now: DateTime<Utc>| {
                o.pointer("/metadata/creationTimestamp").cloned().unwrap_or(Value::Null)
            }),
            ..Column::new("Created At", "date", "", "")
        }],
    }
}

/// A list cell as kubectl prints it: comma-joined, or `<none>` when empty.
fn joined_or_none(items: &[String]) -> Value {
    json!(if items.is_empty() {
        "<none>".to_string()
    } else {
        items.join(",")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(kind: &str, obj: &Value, now: DateTime<Utc>) -> Vec<(String, Value)> {
        columns(kind)
            .iter()
            .map(|c| {
                let cell = match c.compute {
                    Some(f) => f(obj, now),
                    None => super::super::table::eval(obj, &c.json_path)
                        .cloned()
                        .unwrap_or(Value::Null),
                };
                (c.name.clone(), cell)
            })
            .collect()
    }

    #[test]
    fn an_event_written_through_events_k8s_io_prints_its_series_and_reporter() {
        let now: DateTime<Utc> = "2026-01-01T00:01:00Z".parse().unwrap();
        let ev = json!({
            "metadata": {"name": "h.1"}, "type": "Normal", "reason": "Registered",
            "message": "registered", "involvedObject": {"kind": "BareMetalHost", "name": "h"},
            "eventTime": "2026-01-01T00:00:00.000000Z", "reportingComponent": "metal-operator",
            "reportingInstance": "op-0",
            "series": {"count": 2, "lastObservedTime": "2026-01-01T00:00:30.000000Z"}
        });
        let got = cells("Event", &ev, now);
        let cell = |name: &str| got.iter().find(|(n, _)| n == name).unwrap().1.clone();
        assert_eq!(cell("Last Seen"), json!("30s"));
        assert_eq!(cell("First Seen"), json!("60s"));
        assert_eq!(cell("Object"), json!("baremetalhost/h"));
        assert_eq!(cell("Source"), json!("metal-operator, op-0"));
        assert_eq!(cell("Count"), json!(2));
    }

    #[test]
    fn configmaps_and_secrets_count_their_data() {
        let now = Utc::now();
        let cm = json!({"data": {"a": "1"}, "binaryData": {"b": "Ag=="}});
        assert_eq!(cells("ConfigMap", &cm, now)[0].1, json!(2));
        let d = json!({"spec": {"replicas": 3, "selector": {"matchLabels": {"app": "d"}},
            "template": {"spec": {"containers": [{"name": "a", "image": "a:1"}]}}},
            "status": {"readyReplicas": 1}});
        let got = cells("Deployment", &d, now);
        assert_eq!(got[0].1, json!("1/3"));
        assert_eq!(got[6].1, json!("app=d"));
    }
}
