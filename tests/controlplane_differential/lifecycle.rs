//! Deletion and the kinds with their own rules: finalizers, the delete answer, owner-reference
//! garbage collection, namespace termination, collections, Events (as kube-runtime's Recorder
//! writes them), Leases (as the operator's election writes them) and Secrets.

use std::time::Duration;

use metal_e2e::differential::{Facts, Side, event_names, normalize};
use metal_testkit::hosts::Bmh;
use serde_json::{Value, json};

use super::fixtures::*;

const EVENTS: Duration = Duration::from_secs(20);

fn deletion_state(v: &Value) -> Value {
    json!({
        "finalizers": v["metadata"]["finalizers"],
        "deleting": v["metadata"]["deletionTimestamp"].is_string(),
        "gracePeriod": v["metadata"]["deletionGracePeriodSeconds"],
    })
}

pub async fn finalizers(s: &Side, ns: &str) -> anyhow::Result<Facts> {
    let mut o = Facts::new();
    let path = format!("{}/held", bmhs(ns));
    let mut body = bmh("held", json!({}));
    body["metadata"]["finalizers"] = json!(["example.com/hold"]);
    let created = s.post(&bmhs(ns), &body).await?;
    let w = s
        .watch(&format!(
            "{}?watch=true&timeoutSeconds=60&fieldSelector={}&resourceVersion={}",
            bmhs(ns),
            q("metadata.name=held"),
            created.rv()
        ))
        .await?;
    let r = s.delete(&path, None).await?;
    o.outcome("delete", &r).fact(
        "delete answer",
        json!([r.body["kind"], deletion_state(&r.body)]),
    );
    let r = s.get(&path).await?;
    o.outcome("get while held", &r)
        .fact("held", deletion_state(&r.body));
    let r = s.delete(&path, None).await?;
    o.outcome("delete again", &r);
    let r = s
        .patch(
            &path,
            MERGE,
            &json!({"metadata": {"finalizers": ["example.com/hold", "example.com/late"]}}),
        )
        .await?;
    o.outcome("adding a finalizer while deleting", &r);
    let r = s
        .patch(&path, MERGE, &json!({"metadata": {"finalizers": null}}))
        .await?;
    o.outcome("removing the finalizer", &r)
        .fact("removal answer", deletion_state(&r.body));
    let r = s.get(&path).await?;
    o.outcome("get after", &r);
    let events = w
        .until(EVENTS, |e| e.iter().any(|e| e["type"] == "DELETED"))
        .await;
    o.fact("events", event_names(&events)).fact(
        "event states",
        events
            .iter()
            .map(|e| deletion_state(&e["object"]))
            .collect::<Vec<_>>(),
    );
    Ok(o)
}

pub async fn delete_answers(s: &Side, ns: &str) -> anyhow::Result<Facts> {
    let mut o = Facts::new();
    s.post(&configmaps(ns), &configmap("cm", json!({}))).await?;
    let r = s.delete(&format!("{}/cm", configmaps(ns)), None).await?;
    o.outcome("built-in", &r)
        .fact("built-in answer", normalize(&r.body));
    s.post(&bmhs(ns), &bmh("h", json!({}))).await?;
    let r = s
        .delete(&format!("{}/h", bmhs(ns)), Some(&json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"})))
        .await?;
    o.outcome("custom", &r)
        .fact("custom answer", normalize(&r.body));
    let r = s.delete(&format!("{}/h", bmhs(ns)), None).await?;
    o.outcome("missing", &r).fact("missing answer", &r.body);
    s.post(&configmaps(ns), &configmap("pre", json!({})))
        .await?;
    let r = s
        .delete(&format!("{}/pre", configmaps(ns)), Some(&json!({"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": "00000000-0000-0000-0000-000000000000"}})))
        .await?;
    o.outcome("a uid precondition that fails", &r);
    Ok(o)
}

async fn owner_and_dependents(s: &Side, ns: &str) -> anyhow::Result<()> {
    let owner = s.post(&bmhs(ns), &bmh("owner", json!({}))).await?;
    let hw = json!({"apiVersion": "metal3.io/v1alpha1", "kind": "HardwareData",
        "metadata": {"name": "owner", "ownerReferences": [owner_ref(&owner, true)]}, "spec": {}});
    s.post(&hardware(ns), &hw).await?;
    let mut cm = configmap("dependent", json!({}));
    cm["metadata"]["ownerReferences"] = json!([owner_ref(&owner, false)]);
    s.post(&configmaps(ns), &cm).await?;
    Ok(())
}

async fn collection(o: &mut Facts, s: &Side, ns: &str, policy: Option<&str>) -> anyhow::Result<()> {
    owner_and_dependents(s, ns).await?;
    let listed = s.get(&bmhs(ns)).await?;
    let owner_watch = s
        .watch(&format!(
            "{}?watch=true&timeoutSeconds=90&resourceVersion={}",
            bmhs(ns),
            listed.body["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or_default()
        ))
        .await?;
    let options = policy
        .map(|p| json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": p}));
    let r = s
        .delete(&format!("{}/owner", bmhs(ns)), options.as_ref())
        .await?;
    o.outcome("delete the owner", &r)
        .fact(
            "delete answer",
            json!([r.body["kind"], deletion_state(&r.body)]),
        )
        .fact(
            "owner gone",
            becomes(s, &format!("{}/owner", bmhs(ns)), 404).await,
        );
    let events = owner_watch
        .until(EVENTS, |e| e.iter().any(|e| e["type"] == "DELETED"))
        .await;
    o.fact("owner events", event_names(&events)).fact(
        "owner event states",
        events
            .iter()
            .map(|e| deletion_state(&e["object"]))
            .collect::<Vec<_>>(),
    );
    if policy == Some("Orphan") {
        let hw = settles(s, &format!("{}/owner", hardware(ns)), |r| {
            r.body["metadata"]["ownerReferences"].is_null()
        })
        .await?;
        o.outcome("HardwareData after", &hw).fact(
            "HardwareData ownerReferences",
            &hw.body["metadata"]["ownerReferences"],
        );
        let cm = s.get(&format!("{}/dependent", configmaps(ns))).await?;
        o.outcome("ConfigMap after", &cm).fact(
            "ConfigMap ownerReferences",
            &cm.body["metadata"]["ownerReferences"],
        );
    } else {
        o.fact(
            "HardwareData gone",
            becomes(s, &format!("{}/owner", hardware(ns)), 404).await,
        )
        .fact(
            "ConfigMap gone",
            becomes(s, &format!("{}/dependent", configmaps(ns)), 404).await,
        );
    }
    Ok(())
}

pub async fn gc_background(s: &Side, ns: &str) -> anyhow::Result<Facts> {
    let mut o = Facts::new();
    collection(&mut o, s, ns, None).await?;
    Ok(o)
}

pub async fn gc_orphan(s: &Side, ns: &str) -> anyhow::Result<Facts> {
    let mut o = Facts::new();
    collection(&mut o, s, ns, Some("Orphan")).await?;
    Ok(o)
}

pub async fn gc_foreground(s: &Side, ns: &str) -> anyhow::Result<Facts> {
    let mut o = Facts::new();
    collection(&mut o, s, ns, Some("Foreground")).await?;
    Ok(o)
}

pub async fn namespace_termination(s: &Side, ns: &str) -> anyhow::Result<Facts> {
    let mut o = Facts::new();
    let doomed = format!("{ns}-doomed");
    s.post("/api/v1/namespaces", &json!({"metadata": {"name": doomed}}))
        .await?;
    let mut held = configmap("held", json!({}));
    held["metadata"]["finalizers"] = json!(["example.com/hold"]);
    s.post(&configmaps(&doomed), &held).await?;
    let r = s
        .delete(&format!("/api/v1/namespaces/{doomed}"), None)
        .await?;
    o.outcome("delete the namespace", &r).fact(
        "answer",
        json!([
            r.body["kind"],
            r.body["status"]["phase"],
            r.body["spec"]["finalizers"]
        ]),
    );
    let r = settles(s, &format!("{}/held", configmaps(&doomed)), |r| {
        r.body["metadata"]["deletionTimestamp"].is_string()
    })
    .await?;
    o.fact("its content is being deleted", deletion_state(&r.body));
    let r = s
        .post(&configmaps(&doomed), &configmap("late", json!({})))
        .await?;
    o.outcome("create in a terminating namespace", &r)
        .fact("create message", &r.body["message"]);
    s.patch(
        &format!("{}/held", configmaps(&doomed)),
        MERGE,
        &json!({"metadata": {"finalizers": null}}),
    )
    .await?;
    o.fact(
        "namespace gone",
        becomes(s, &format!("/api/v1/namespaces/{doomed}"), 404).await,
    );
    Ok(o)
}

pub async fn delete_collection(s: &Side, ns: &str) -> anyhow::Result<Facts> {
    let mut o = Facts::new();
    for (name, labels) in [
        ("a", json!({"sweep": "yes"})),
        ("b", json!({"sweep": "yes"})),
        ("c", json!({})),
    ] {
        s.post(&configmaps(ns), &configmap(name, labels)).await?;
    }
    let r = s
        .delete(
            &format!("{}?labelSelector={}", configmaps(ns), q("sweep=yes")),
            None,
        )
        .await?;
    o.outcome("delete the collection", &r)
        .fact("answer kind", &r.body["kind"])
        .fact("answer items", sorted_names(&r));
    let r = s.get(&configmaps(ns)).await?;
    o.fact("left", sorted_names(&r));
    Ok(o)
}

fn event_view(v: &Value) -> Value {
    let mut v = normalize(v);
    for key in [
        "eventTime",
        "deprecatedLastTimestamp",
        "deprecatedFirstTimestamp",
        "lastTimestamp",
        "firstTimestamp",
    ] {
        if v[key].is_string() {
            v[key] = json!("<set>");
        }
    }
    if v["series"]["lastObservedTime"].is_string() {
        v["series"]["lastObservedTime"] = json!("<set>");
    }
    if let Some(m) = v["metadata"].as_object_mut() {
        m.remove("name");
    }
    v
}

pub async fn events_recorder(s: &Side, ns: &str) -> anyhow::Result<Facts> {
    use kube::runtime::events::{Event, EventType, Recorder, Reporter};
    let mut o = Facts::new();
    let host = s.post(&bmhs(ns), &bmh("ev", json!({}))).await?;
    let reference = k8s_openapi::api::core::v1::ObjectReference {
        api_version: Some("metal3.io/v1alpha1".into()),
        kind: Some("BareMetalHost".into()),
        name: Some("ev".into()),
        namespace: Some(ns.into()),
        uid: host.body["metadata"]["uid"].as_str().map(str::to_owned),
        ..Default::default()
    };
    let recorder = Recorder::new(
        s.client.clone(),
        Reporter {
            controller: "metal-operator".into(),
            instance: Some("metal-operator-0".into()),
        },
    );
    let event = Event {
        type_: EventType::Normal,
        reason: "Registered".into(),
        note: Some("registered with Ironic".into()),
        action: "Register".into(),
        secondary: None,
    };
    let first = recorder.publish(&event, &reference).await;
    o.fact(
        "first publish",
        first.as_ref().map(|_| "ok").map_err(|e| e.to_string()),
    );
    let first_view = s
        .get(&format!("/apis/events.k8s.io/v1/namespaces/{ns}/events"))
        .await?;
    o.fact(
        "events.k8s.io after one",
        first_view.body["items"]
            .as_array()
            .map(|i| i.iter().map(event_view).collect::<Vec<_>>()),
    );
    let second = recorder.publish(&event, &reference).await;
    o.fact(
        "second publish",
        second.as_ref().map(|_| "ok").map_err(|e| e.to_string()),
    );
    let r = s
        .get(&format!("/apis/events.k8s.io/v1/namespaces/{ns}/events"))
        .await?;
    o.fact(
        "events.k8s.io after two",
        r.body["items"]
            .as_array()
            .map(|i| i.iter().map(event_view).collect::<Vec<_>>()),
    );
    let r = s.get(&format!("/api/v1/namespaces/{ns}/events")).await?;
    o.fact(
        "core/v1 after two",
        r.body["items"]
            .as_array()
            .map(|i| i.iter().map(event_view).collect::<Vec<_>>()),
    );
    let r = s
        .get(&format!(
            "/api/v1/namespaces/{ns}/events?fieldSelector={}",
            q("involvedObject.name=ev,reason=Registered")
        ))
        .await?;
    o.fact(
        "core/v1 by involvedObject and reason",
        selection(&r)
            .get("items")
            .map(|i| i.as_array().map(Vec::len)),
    );
    let r = s
        .get_as(&format!("/api/v1/namespaces/{ns}/events"), TABLE)
        .await?;
    let (columns, rows) = table_facts(&r);
    // The Recorder names Events after its clock.
    let rows = mask_column(&columns, rows, "Name");
    o.fact("Table columns", columns).fact("Table rows", rows);
    Ok(o)
}

fn lease(name: &str, holder: &str, renew: &str) -> Value {
    use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
    let at: k8s_openapi::jiff::Timestamp = renew.parse().unwrap_or_default();
    let lease = Lease {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(15),
            acquire_time: Some(MicroTime(at)),
            renew_time: Some(MicroTime(at)),
            lease_transitions: Some(0),
            ..Default::default()
        }),
    };
    serde_json::to_value(lease).unwrap_or(Value::Null)
}

pub async fn leases_election(s: &Side, ns: &str) -> anyhow::Result<Facts> {
    let mut o = Facts::new();
    let body = lease("leader", "op-0", "2026-01-01T00:00:00.5Z");
    o.fact("MicroTime as kube-rs sends it", &body["spec"]["renewTime"]);
    let created = s.post(&leases(ns), &body).await?;
    o.outcome("create", &created)
        .fact("created spec", &created.body["spec"]);
    let mut renew = created.body.clone();
    renew["spec"]["renewTime"] = json!("2026-01-01T00:00:10.250000Z");
    let r = s.put(&format!("{}/leader", leases(ns)), &renew).await?;
    o.outcome("renew with the resourceVersion", &r)
        .fact("renewed spec", &r.body["spec"]);
    let mut takeover = created.body.clone();
    takeover["spec"]["holderIdentity"] = json!("op-1");
    let r = s.put(&format!("{}/leader", leases(ns)), &takeover).await?;
    o.outcome("take over with a stale resourceVersion", &r);
    let mut coarse = lease("coarse", "op-0", "2026-01-01T00:00:00Z");
    coarse["spec"]["renewTime"] = json!("2026-01-01T00:00:00Z");
    let r = s.post(&leases(ns), &coarse).await?;
    o.outcome("a renewTime without microseconds", &r);
    Ok(o)
}

pub async fn secrets_shapes(s: &Side, ns: &str) -> anyhow::Result<Facts> {
    let mut o = Facts::new();
    let r = s
        .post(
            &secrets(ns),
            &json!({"metadata": {"name": "string-data"}, "stringData": {"username": "admin"}}),
        )
        .await?;
    o.outcome("stringData", &r).fact(
        "stringData answer",
        json!([r.body["type"], r.body["data"], r.body["stringData"]]),
    );
    let r = s
        .post(
            &secrets(ns),
            &json!({"metadata": {"name": "empty-type"}, "type": "", "data": {"a": "Yg=="}}),
        )
        .await?;
    o.fact("an empty type", &r.body["type"]);
    let r = s
        .post(
            &secrets(ns),
            &json!({"metadata": {"name": "bad"}, "data": {"a": "not base64!"}}),
        )
        .await?;
    o.outcome("data that is not base64", &r);
    let out = s
        .kubectl(
            &[
                "create",
                "secret",
                "generic",
                "from-kubectl",
                "--from-literal=password=s3cret",
                "-n",
                ns,
            ],
            None,
        )
        .await;
    o.fact("kubectl create secret generic", out.trim());
    let r = s.get(&format!("{}/from-kubectl", secrets(ns))).await?;
    o.fact("kubectl's secret", json!([r.body["type"], r.body["data"]]));
    Ok(o)
}

/// What a user sees from kubectl: client-side apply, printing, label, scale, server-side apply, delete.
pub async fn kubectl_session(s: &Side, ns: &str) -> anyhow::Result<Facts> {
    let mut o = Facts::new();
    let yaml = |online: bool| {
        Bmh::new("kc")
            .namespace(ns)
            .online(online)
            .bmc("redfish://192.0.2.1/redfish/v1/Systems/1", "bmc-secret")
            .yaml()
    };
    let pool = format!(
        "apiVersion: metal-operator.io/v1alpha1\nkind: HostPool\nmetadata:\n  name: kp\n  namespace: {ns}\nspec:\n  replicas: 1\n"
    );
    let steps: Vec<(&str, Vec<String>, Option<String>)> = vec![
        (
            "apply",
            vec!["apply".into(), "-f".into(), "-".into()],
            Some(yaml(false)),
        ),
        (
            "apply a change",
            vec!["apply".into(), "-f".into(), "-".into()],
            Some(yaml(true)),
        ),
        (
            "apply unchanged",
            vec!["apply".into(), "-f".into(), "-".into()],
            Some(yaml(true)),
        ),
        (
            "label",
            vec![
                "label".into(),
                "bmh".into(),
                "kc".into(),
                "rack=r1".into(),
                "-n".into(),
                ns.into(),
            ],
            None,
        ),
        (
            "get -o jsonpath",
            vec![
                "get".into(),
                "bmh".into(),
                "kc".into(),
                "-n".into(),
                ns.into(),
                "-o".into(),
                "jsonpath={.spec.online} {.metadata.labels.rack}".into(),
            ],
            None,
        ),
        (
            "apply --server-side",
            vec![
                "apply".into(),
                "--server-side".into(),
                "-f".into(),
                "-".into(),
            ],
            Some(pool),
        ),
        (
            "scale",
            vec![
                "scale".into(),
                "hostpool".into(),
                "kp".into(),
                "--replicas=2".into(),
                "-n".into(),
                ns.into(),
            ],
            None,
        ),
        (
            "get replicas",
            vec![
                "get".into(),
                "hostpool".into(),
                "kp".into(),
                "-n".into(),
                ns.into(),
                "-o".into(),
                "jsonpath={.spec.replicas}".into(),
            ],
            None,
        ),
        (
            "create configmap",
            vec![
                "create".into(),
                "configmap".into(),
                "kcm".into(),
                "--from-literal=a=b".into(),
                "-n".into(),
                ns.into(),
            ],
            None,
        ),
        (
            "delete",
            vec![
                "delete".into(),
                "bmh".into(),
                "kc".into(),
                "-n".into(),
                ns.into(),
            ],
            None,
        ),
    ];
    for (label, args, input) in steps {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = s.kubectl(&args, input.as_deref()).await;
        o.fact(label, out.trim());
    }
    for (label, kind) in [
        ("get bmh header", "bmh"),
        ("get cm header", "cm"),
        ("get hostpool header", "hostpool"),
    ] {
        let out = s.kubectl(&["get", kind, "-n", ns], None).await;
        o.fact(
            label,
            out.lines()
                .next()
                .unwrap_or_default()
                .split_whitespace()
                .collect::<Vec<_>>(),
        );
    }
    Ok(o)
}
