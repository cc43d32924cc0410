//! Watches: from a list's resourceVersion (kube-rs's watcher), from 0, streaming lists, bookmarks,
//! selectors, a resourceVersion too old to resume from, and kubectl's Table watch.

use std::time::Duration;

use metal_e2e::differential::{Facts, Side, event_names};
use serde_json::{Value, json};

use super::fixtures::*;

/// Long enough for any event the shape waits for (the wait ends as soon as it arrives).
const EVENTS: Duration = Duration::from_secs(20);

fn without_bookmarks(events: &[Value]) -> Vec<Value> {
    events
        .iter()
        .filter(|e| e["type"] != "BOOKMARK")
        .cloned()
        .collect()
}

fn bookmarks(events: &[Value]) -> Vec<Value> {
    events
        .iter()
        .filter(|e| e["type"] == "BOOKMARK")
        .map(|e| {
            json!({"kind": e["object"]["kind"], "apiVersion": e["object"]["apiVersion"],
                "annotations": e["object"]["metadata"]["annotations"]})
        })
        .collect()
}

fn has(events: &[Value], kind: &str, name: &str) -> bool {
    events
        .iter()
        .any(|e| e["type"] == kind && e["object"]["metadata"]["name"] == name)
}

fn rv_of(e: &Value) -> u64 {
    e["object"]["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|rv| rv.parse().ok())
        .unwrap_or(0)
}

/// kube-rs's watcher: list, then watch from the list's resourceVersion with bookmarks.
pub async fn from_list(s: &Side, ns: &str) -> anyhow::Result<Facts> {
    let mut o = Facts::new();
    for name in ["a", "b"] {
        s.post(&bmhs(ns), &bmh(name, json!({}))).await?;
    }
    let list = s.get(&format!("{}?limit=500", bmhs(ns))).await?;
    let rv = list.body["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let w = s
        .watch(&format!(
            "{}?watch=true&timeoutSeconds=290&allowWatchBookmarks=true&resourceVersion={rv}",
            bmhs(ns)
        ))
        .await?;
    s.post(&bmhs(ns), &bmh("c", json!({}))).await?;
    s.patch(
        &format!("{}/a", bmhs(ns)),
        MERGE,
        &json!({"metadata": {"labels": {"seen": "yes"}}}),
    )
    .await?;
    s.delete(&format!("{}/b", bmhs(ns)), None).await?;
    let events = w.until(EVENTS, |e| has(e, "DELETED", "b")).await;
    let events = without_bookmarks(&events);
    o.fact("events", event_names(&events))
        .fact(
            "resourceVersions increase",
            events.windows(2).all(|p| rv_of(&p[0]) < rv_of(&p[1])),
        )
        .fact(
            "events are newer than the list",
            events.iter().all(|e| rv_of(e) > rv.parse().unwrap_or(0)),
        )
        .fact(
            "MODIFIED carries the change",
            events
                .iter()
                .find(|e| e["type"] == "MODIFIED")
                .map(|e| e["object"]["metadata"]["labels"].clone()),
        );
    Ok(o)
}

/// A watch from 0 (or from nothing) starts with the current objects.
pub async fn from_zero(s: &Side, ns: &str) -> anyhow::Result<Facts> {
    let mut o = Facts::new();
    for name in ["a", "b"] {
        s.post(&bmhs(ns), &bmh(name, json!({}))).await?;
    }
    for (label, query) in [
        ("resourceVersion=0", "resourceVersion=0&"),
        ("no resourceVersion", ""),
    ] {
        let w = s
            .watch(&format!("{}?watch=true&{query}timeoutSeconds=2", bmhs(ns)))
            .await?;
        let events = w.until_closed(EVENTS).await;
        let mut names = event_names(&events);
        names.sort();
        o.fact(label, names);
        let w = s
            .watch(&format!(
                "{}?watch=true&{query}allowWatchBookmarks=true&timeoutSeconds=30",
                bmhs(ns)
            ))
            .await?;
        let events = w
            .until(EVENTS, |e| {
                e.iter().filter(|e| e["type"] == "ADDED").count() >= 2
                    && e.iter().any(|e| e["type"] == "BOOKMARK")
            })
            .await;
        // Up to the first bookmark: a server may send more at any time (kube-apiserver does, on
        // its own schedule and before a timeout closes the watch), so later ones are not compared.
        let first_bookmark = events
            .iter()
            .position(|e| e["type"] == "BOOKMARK")
            .map_or(events.len(), |i| i + 1);
        let events = &events[..first_bookmark];
        let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
        o.fact(&format!("{label} with bookmarks: types"), types)
            .fact(
                &format!("{label} with bookmarks: bookmarks"),
                bookmarks(events),
            );
    }
    Ok(o)
}

/// A streaming list (`sendInitialEvents`), as kube-rs's watcher sends it with `streaming_lists()`.
pub async fn streaming_list(s: &Side, ns: &str) -> anyhow::Result<Facts> {
    let mut o = Facts::new();
    for name in ["a", "b"] {
        s.post(&bmhs(ns), &bmh(name, json!({}))).await?;
    }
    let w = s
        .watch(&format!(
            "{}?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=30",
            bmhs(ns)
        ))
        .await?;
    let events = w
        .until(EVENTS, |e| e.iter().any(|e| e["type"] == "BOOKMARK"))
        .await;
    o.fact("events", event_names(&events))
        .fact("bookmarks", bookmarks(&events));
    let w = s
        .watch(&format!(
            "{}?watch=true&sendInitialEvents=true&timeoutSeconds=2",
            bmhs(ns)
        ))
        .await?;
    o.fact(
        "without resourceVersionMatch",
        w.until_closed(EVENTS)
            .await
            .first()
            .map(|e| json!([e["type"], e["object"]["code"], e["object"]["reason"]])),
    );
    Ok(o)
}

/// Bookmarks tell a watcher how far the resource has moved, even by changes it does not see.
pub async fn bookmark_progress(s: &Side, ns: &str) -> anyhow::Result<Facts> {
    let mut o = Facts::new();
    let other = format!("{ns}-other");
    s.post("/api/v1/namespaces", &json!({"metadata": {"name": other}}))
        .await?;
    let created = s.post(&bmhs(ns), &bmh("mine", json!({}))).await?;
    let w = s
        .watch(&format!(
            "{}?watch=true&allowWatchBookmarks=true&timeoutSeconds=6&resourceVersion={}",
            bmhs(ns),
            created.rv()
        ))
        .await?;
    let elsewhere = s.post(&bmhs(&other), &bmh("theirs", json!({}))).await?;
    let events = w.until_closed(EVENTS).await;
    let after: u64 = elsewhere.rv().parse().unwrap_or(u64::MAX);
    // How many bookmarks arrive depends on timing; that one does, and what it says, does not.
    let mut types: Vec<Value> = events.iter().map(|e| e["type"].clone()).collect();
    types.dedup();
    let mut marks = bookmarks(&events);
    marks.dedup();
    o.fact("event types", types).fact("bookmarks", marks).fact(
        "a bookmark reaches the change elsewhere",
        events
            .iter()
            .any(|e| e["type"] == "BOOKMARK" && rv_of(e) >= after),
    );
    s.delete(&format!("/api/v1/namespaces/{other}"), None)
        .await?;
    Ok(o)
}

/// Objects entering and leaving a selector arrive as ADDED and DELETED.
pub async fn selectors(s: &Side, ns: &str) -> anyhow::Result<Facts> {
    let mut o = Facts::new();
    s.post(&bmhs(ns), &bmh("a", json!({"env": "prod"}))).await?;
    let b = s.post(&bmhs(ns), &bmh("b", json!({"env": "dev"}))).await?;
    let by_label = s
        .watch(&format!(
            "{}?watch=true&timeoutSeconds=60&labelSelector={}&resourceVersion={}",
            bmhs(ns),
            q("env=prod"),
            b.rv()
        ))
        .await?;
    let by_name = s
        .watch(&format!(
            "{}?watch=true&timeoutSeconds=60&fieldSelector={}&resourceVersion={}",
            bmhs(ns),
            q("metadata.name=a"),
            b.rv()
        ))
        .await?;
    let label = |v: &str| json!({"metadata": {"labels": {"env": v}}});
    s.patch(&format!("{}/b", bmhs(ns)), MERGE, &label("prod"))
        .await?;
    s.patch(&format!("{}/a", bmhs(ns)), MERGE, &label("dev"))
        .await?;
    s.patch(&format!("{}/a", bmhs(ns)), MERGE, &label("test"))
        .await?;
    s.post(&bmhs(ns), &bmh("c", json!({"env": "prod"}))).await?;
    let events = by_label.until(EVENTS, |e| has(e, "ADDED", "c")).await;
    o.fact("env=prod", event_names(&events));
    let events = by_name.until(EVENTS, |e| e.len() >= 2).await;
    o.fact("metadata.name=a", event_names(&events));
    Ok(o)
}

/// `kubectl get -w`: a Table list, then a Table watch from its resourceVersion.
pub async fn table_watch(s: &Side, ns: &str) -> anyhow::Result<Facts> {
    let mut o = Facts::new();
    s.post(&bmhs(ns), &bmh("a", json!({}))).await?;
    let list = s.get_as(&bmhs(ns), TABLE).await?;
    let rv = list.body["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let w = s
        .watch_as(
            &format!(
                "{}?watch=true&resourceVersion={rv}&timeoutSeconds=60",
                bmhs(ns)
            ),
            Some(TABLE),
        )
        .await?;
    s.patch(
        &format!("{}/a", bmhs(ns)),
        MERGE,
        &json!({"spec": {"online": true}}),
    )
    .await?;
    s.post(&bmhs(ns), &bmh("b", json!({}))).await?;
    let events = w.until(EVENTS, |e| e.len() >= 2).await;
    let summary: Vec<Value> = events
        .iter()
        .map(|e| {
            let obj = &e["object"];
            json!({
                "type": e["type"], "kind": obj["kind"],
                "columns": obj["columnDefinitions"].as_array().map(Vec::len),
                "rows": obj["rows"].as_array().map(|r| r.len()),
                "name": obj["rows"][0]["cells"][0],
                "row object": obj["rows"][0]["object"]["kind"],
            })
        })
        .collect();
    o.fact("events", summary);
    Ok(o)
}
