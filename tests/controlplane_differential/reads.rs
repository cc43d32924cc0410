//! Reads: get, list with resourceVersion, selectors, paging, and Tables.

use metal_e2e::differential::{Facts, Side, normalize};
use serde_json::json;

use super::fixtures::*;

pub async fn get_object(s: &Side, ns: &str) -> anyhow::Result<Facts> {
    let mut o = Facts::new();
    let created = s
        .post(&bmhs(ns), &bmh("host-0", json!({"rack": "r1"})))
        .await?;
    o.outcome("create", &created)
        .fact("created", normalize(&created.body));
    let got = s.get(&format!("{}/host-0", bmhs(ns))).await?;
    o.outcome("get", &got).fact("got", normalize(&got.body));
    o.fact("get keeps the resourceVersion", got.rv() == created.rv());
    let created = s
        .post(&configmaps(ns), &configmap("cm-0", json!({"rack": "r1"})))
        .await?;
    o.outcome("create (built-in)", &created)
        .fact("created (built-in)", normalize(&created.body));
    let got = s.get(&format!("{}/cm-0", configmaps(ns))).await?;
    o.fact("got (built-in)", normalize(&got.body));
    Ok(o)
}

pub async fn get_missing(s: &Side, ns: &str) -> anyhow::Result<Facts> {
    let mut o = Facts::new();
    let r = s.get(&format!("{}/nobody", bmhs(ns))).await?;
    o.outcome("custom object", &r)
        .fact("custom object body", &r.body);
    let r = s.get(&format!("{}/nobody", configmaps(ns))).await?;
    o.outcome("built-in object", &r)
        .fact("built-in object body", &r.body);
    let r = s
        .get(&format!(
            "/apis/metal3.io/v1alpha1/namespaces/{ns}/nothings"
        ))
        .await?;
    o.outcome("unknown resource", &r);
    Ok(o)
}

pub async fn list_rv0(s: &Side, ns: &str) -> anyhow::Result<Facts> {
    let mut o = Facts::new();
    for name in ["a", "b"] {
        s.post(&bmhs(ns), &bmh(name, json!({}))).await?;
    }
    for rv in ["0", ""] {
        // resourceVersion=0 may be served by a watch cache that has not seen the creates yet
        // (any version will do): the settled answer is compared.
        let r = settles(s, &format!("{}?resourceVersion={rv}", bmhs(ns)), |r| {
            r.item_names().len() >= 2
        })
        .await?;
        o.fact(&format!("resourceVersion={rv:?}"), selection(&r))
            .fact(
                &format!("resourceVersion={rv:?} kind"),
                json!([r.body["kind"], r.body["apiVersion"]]),
            )
            .fact(
                &format!("resourceVersion={rv:?} has a list resourceVersion"),
                r.body["metadata"]["resourceVersion"].is_string(),
            );
    }
    Ok(o)
}

pub async fn label_selectors(s: &Side, ns: &str) -> anyhow::Result<Facts> {
    let mut o = Facts::new();
    for (name, labels) in [
        ("a", json!({"env": "prod", "tier": "db"})),
        ("b", json!({"env": "prod", "tier": "web"})),
        ("c", json!({"env": "dev"})),
        ("d", json!({})),
    ] {
        s.post(&bmhs(ns), &bmh(name, labels)).await?;
    }
    for selector in [
        "env=prod",
        "env==prod",
        "env!=prod",
        "tier in (db,web)",
        "tier notin (db)",
        "tier",
        "!tier",
        "env=prod,tier=db",
        "env in prod",
        "Bad Key=1",
    ] {
        let r = s
            .get(&format!("{}?labelSelector={}", bmhs(ns), q(selector)))
            .await?;
        o.fact(selector, selection(&r));
    }
    Ok(o)
}

pub async fn field_selectors(s: &Side, ns: &str) -> anyhow::Result<Facts> {
    let mut o = Facts::new();
    for name in ["x", "y"] {
        s.post(&bmhs(ns), &bmh(name, json!({}))).await?;
        s.post(&configmaps(ns), &configmap(name, json!({}))).await?;
    }
    let all_bmhs = "/apis/metal3.io/v1alpha1/baremetalhosts";
    let cases = [
        (bmhs(ns), "metadata.name=x".to_owned()),
        (bmhs(ns), "metadata.name!=x".to_owned()),
        (all_bmhs.to_owned(), format!("metadata.namespace={ns}")),
        (
            all_bmhs.to_owned(),
            format!("metadata.namespace={ns},metadata.name=y"),
        ),
        (bmhs(ns), "spec.online=false".to_owned()),
        (configmaps(ns), "metadata.name=y".to_owned()),
        (configmaps(ns), "data.a=1".to_owned()),
        (secrets(ns), "type=Opaque".to_owned()),
        (
            format!("/api/v1/namespaces/{ns}/events"),
            "involvedObject.name=x".to_owned(),
        ),
    ];
    for (path, selector) in cases {
        let r = s
            .get(&format!("{path}?fieldSelector={}", q(&selector)))
            .await?;
        let list = path.rsplit('/').next().unwrap_or_default();
        o.fact(&format!("{list} {selector}"), selection(&r));
    }
    Ok(o)
}

pub async fn paging(s: &Side, ns: &str) -> anyhow::Result<Facts> {
    let mut o = Facts::new();
    for i in 1..=5 {
        s.post(
            &configmaps(ns),
            &configmap(&format!("page-{i}"), json!({"paged": "yes"})),
        )
        .await?;
    }
    s.post(&configmaps(ns), &configmap("unpaged", json!({})))
        .await?;
    for (label, selector) in [("no selector", ""), ("label selector", "paged=yes")] {
        let mut pages = Vec::new();
        let mut token = String::new();
        for _ in 0..5 {
            let mut path = format!("{}?limit=2&labelSelector={}", configmaps(ns), q(selector));
            if !token.is_empty() {
                path.push_str(&format!("&continue={}", q(&token)));
            }
            let r = s.get(&path).await?;
            token = r.body["metadata"]["continue"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            pages.push(json!({
                "code": r.code, "items": r.item_names(),
                "continue": !token.is_empty(),
                "remainingItemCount": r.body["metadata"]["remainingItemCount"],
            }));
            if token.is_empty() {
                break;
            }
        }
        o.fact(label, pages);
    }
    let r = s
        .get(&format!("{}?limit=2&continue=garbage", configmaps(ns)))
        .await?;
    o.outcome("an invalid continue token", &r);
    Ok(o)
}

pub async fn list_rv0_limit(s: &Side, ns: &str) -> anyhow::Result<Facts> {
    let mut o = Facts::new();
    for i in 1..=3 {
        s.post(&configmaps(ns), &configmap(&format!("cm-{i}"), json!({})))
            .await?;
    }
    // Settled as above: a cache that has all three shows whether the limit was honoured.
    let r = settles(
        s,
        &format!("{}?limit=2&resourceVersion=0", configmaps(ns)),
        |r| r.item_names().len() >= 3 || r.body["metadata"]["continue"].is_string(),
    )
    .await?;
    o.fact("limit=2&resourceVersion=0", selection(&r))
        .fact("continue", r.body["metadata"]["continue"].is_string());
    Ok(o)
}

pub async fn list_future_rv(s: &Side, ns: &str) -> anyhow::Result<Facts> {
    let mut o = Facts::new();
    let r = s
        .get(&format!("{}?resourceVersion=999999999", configmaps(ns)))
        .await?;
    o.outcome("list at resourceVersion 999999999", &r);
    Ok(o)
}

/// A list at an older resourceVersion with `resourceVersionMatch=Exact` (what the state was).
pub async fn list_exact_rv(s: &Side, ns: &str) -> anyhow::Result<Facts> {
    let mut o = Facts::new();
    s.post(&configmaps(ns), &configmap("before", json!({})))
        .await?;
    let then = s.get(&configmaps(ns)).await?;
    let rv = then.body["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    s.post(&configmaps(ns), &configmap("after", json!({})))
        .await?;
    let r = s
        .get(&format!(
            "{}?resourceVersion={rv}&resourceVersionMatch=Exact",
            configmaps(ns)
        ))
        .await?;
    o.fact("Exact at the first list's resourceVersion", selection(&r));
    let r = s
        .get(&format!(
            "{}?resourceVersion={rv}&resourceVersionMatch=NotOlderThan",
            configmaps(ns)
        ))
        .await?;
    o.fact(
        "NotOlderThan the first list's resourceVersion",
        selection(&r),
    );
    Ok(o)
}

/// Pages of one list are one snapshot: an object created between pages is not in the next one.
pub async fn paging_snapshot(s: &Side, ns: &str) -> anyhow::Result<Facts> {
    let mut o = Facts::new();
    for name in ["a", "b", "d"] {
        s.post(&configmaps(ns), &configmap(name, json!({}))).await?;
    }
    let first = s.get(&format!("{}?limit=2", configmaps(ns))).await?;
    s.post(&configmaps(ns), &configmap("c", json!({}))).await?;
    let token = first.body["metadata"]["continue"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let second = s
        .get(&format!(
            "{}?limit=2&continue={}",
            configmaps(ns),
            q(&token)
        ))
        .await?;
    o.fact("first page", first.item_names())
        .fact("second page", second.item_names())
        .fact(
            "pages share the list's resourceVersion",
            first.body["metadata"]["resourceVersion"] == second.body["metadata"]["resourceVersion"],
        );
    Ok(o)
}

pub async fn tables_custom(s: &Side, ns: &str) -> anyhow::Result<Facts> {
    let mut o = Facts::new();
    let mut host = bmh("host-t", json!({}));
    host["spec"]["online"] = json!(true);
    s.post(&bmhs(ns), &host).await?;
    s.post(&hostpools(ns), &hostpool("pool-t", 2)).await?;
    for (label, path) in [
        ("BareMetalHost list", bmhs(ns)),
        ("HostPool list", hostpools(ns)),
        ("BareMetalHost get", format!("{}/host-t", bmhs(ns))),
        ("HardwareData list (no printer columns)", hardware(ns)),
    ] {
        let r = s.get_as(&path, TABLE).await?;
        let (columns, rows) = table_facts(&r);
        o.fact(
            &format!("{label}: kind"),
            json!([r.code, r.body["kind"], r.body["apiVersion"]]),
        )
        .fact(&format!("{label}: columns"), columns)
        .fact(&format!("{label}: rows"), rows)
        .fact(
            &format!("{label}: row object"),
            json!([
                r.body["rows"][0]["object"]["kind"],
                r.body["rows"][0]["object"]["apiVersion"]
            ]),
        );
    }
    for include in ["Object", "None"] {
        let r = s
            .get_as(&format!("{}?includeObject={include}", bmhs(ns)), TABLE)
            .await?;
        o.fact(
            &format!("includeObject={include}: row object kind"),
            &r.body["rows"][0]["object"]["kind"],
        );
    }
    Ok(o)
}

pub async fn tables_builtin(s: &Side, ns: &str) -> anyhow::Result<Facts> {
    let mut o = Facts::new();
    s.post(&configmaps(ns), &configmap("cm", json!({}))).await?;
    s.post(
        &secrets(ns),
        &json!({"metadata": {"name": "sec"}, "stringData": {"u": "x", "p": "y"}}),
    )
    .await?;
    s.post(
        &leases(ns),
        &json!({"metadata": {"name": "lease"}, "spec": {"holderIdentity": "op-0", "leaseDurationSeconds": 15}}),
    )
    .await?;
    s.post(
        &format!("/api/v1/namespaces/{ns}/serviceaccounts"),
        &json!({"metadata": {"name": "sa"}}),
    )
    .await?;
    s.post(
        &format!("/apis/apps/v1/namespaces/{ns}/deployments"),
        &json!({"metadata": {"name": "d"}, "spec": {"replicas": 2,
            "selector": {"matchLabels": {"app": "d"}},
            "template": {"metadata": {"labels": {"app": "d"}},
                "spec": {"containers": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]}}}}),
    )
    .await?;
    s.post(
        &format!("/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles"),
        &json!({"metadata": {"name": "r"}, "rules": []}),
    )
    .await?;
    for (label, path) in [
        ("ConfigMap", configmaps(ns)),
        ("Secret", secrets(ns)),
        ("Lease", leases(ns)),
        (
            "ServiceAccount",
            format!("/api/v1/namespaces/{ns}/serviceaccounts"),
        ),
        (
            "Namespace",
            format!(
                "/api/v1/namespaces?fieldSelector={}",
                q(&format!("metadata.name={ns}"))
            ),
        ),
        (
            "Deployment",
            format!("/apis/apps/v1/namespaces/{ns}/deployments"),
        ),
        (
            "Role (no printer)",
            format!("/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles"),
        ),
    ] {
        let r = s.get_as(&path, TABLE).await?;
        let (columns, rows) = table_facts(&r);
        o.fact(&format!("{label}: columns"), columns)
            .fact(&format!("{label}: rows"), rows);
    }
    Ok(o)
}
