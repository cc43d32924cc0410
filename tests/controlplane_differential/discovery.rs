//! Discovery and OpenAPI: what kubectl and kube-rs read before they send anything else.

use metal_e2e::differential::{Facts, Reply, Side, normalize};
use serde_json::{Value, json};

/// The groups the operator, the harness and the manifests use.
const GROUPS: &[&str] = &[
    "metal3.io",
    "metal-operator.io",
    "coordination.k8s.io",
    "events.k8s.io",
    "apps",
    "rbac.authorization.k8s.io",
    "apiextensions.k8s.io",
];

/// The core kinds the embedded control plane serves.
const CORE: &[&str] = &[
    "namespaces",
    "configmaps",
    "secrets",
    "events",
    "serviceaccounts",
    "services",
];

pub async fn core_versions(s: &Side, _ns: &str) -> anyhow::Result<Facts> {
    let r = s.get("/api").await?;
    let mut o = Facts::new();
    o.outcome("GET /api", &r).fact("body", normalize(&r.body));
    Ok(o)
}

pub async fn group_list(s: &Side, _ns: &str) -> anyhow::Result<Facts> {
    let r = s.get("/apis").await?;
    let mut o = Facts::new();
    o.outcome("GET /apis", &r).fact("kind", &r.body["kind"]);
    let groups = r.body["groups"].as_array().cloned().unwrap_or_default();
    for name in GROUPS {
        let g = groups.iter().find(|g| g["name"] == *name);
        o.fact(
            name,
            g.map(
                |g| json!({"preferredVersion": g["preferredVersion"], "versions": g["versions"]}),
            ),
        );
    }
    Ok(o)
}

pub async fn group(s: &Side, _ns: &str) -> anyhow::Result<Facts> {
    let mut o = Facts::new();
    let r = s.get("/apis/metal3.io").await?;
    o.outcome("GET /apis/metal3.io", &r)
        .fact("metal3.io", &r.body);
    let missing = s.get("/apis/nothing.example.com").await?;
    o.outcome("GET an unknown group", &missing);
    let missing = s.get("/apis/metal3.io/v9").await?;
    o.outcome("GET an unknown version", &missing);
    Ok(o)
}

/// A resource entry as clients read it: names, scope, kind, verbs (as a set) and aliases.
fn entry(r: &Value) -> Value {
    let mut verbs: Vec<String> = r["verbs"]
        .as_array()
        .map(|v| {
            v.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    verbs.sort();
    json!({
        "singularName": r["singularName"], "namespaced": r["namespaced"], "kind": r["kind"],
        "group": r["group"], "version": r["version"], "verbs": verbs,
        "shortNames": r.get("shortNames").cloned().unwrap_or(json!([])),
        "categories": r.get("categories").cloned().unwrap_or(json!([])),
    })
}

/// One fact per resource (and subresource) of a group/version, restricted to `only` when given.
async fn resource_list(s: &Side, path: &str, only: Option<&[&str]>) -> anyhow::Result<Facts> {
    let r = s.get(path).await?;
    let mut o = Facts::new();
    o.outcome(&format!("GET {path}"), &r)
        .fact("groupVersion", &r.body["groupVersion"]);
    let entries = r.body["resources"].as_array().cloned().unwrap_or_default();
    for e in &entries {
        let name = e["name"].as_str().unwrap_or_default();
        let base = name.split('/').next().unwrap_or_default();
        if only.is_none_or(|o| o.contains(&base)) {
            o.fact(name, entry(e));
        }
    }
    Ok(o)
}

pub async fn metal3(s: &Side, _ns: &str) -> anyhow::Result<Facts> {
    resource_list(s, "/apis/metal3.io/v1alpha1", None).await
}

pub async fn metal_operator(s: &Side, _ns: &str) -> anyhow::Result<Facts> {
    resource_list(s, "/apis/metal-operator.io/v1alpha1", None).await
}

pub async fn coordination(s: &Side, _ns: &str) -> anyhow::Result<Facts> {
    resource_list(s, "/apis/coordination.k8s.io/v1", None).await
}

pub async fn events(s: &Side, _ns: &str) -> anyhow::Result<Facts> {
    resource_list(s, "/apis/events.k8s.io/v1", None).await
}

pub async fn core(s: &Side, _ns: &str) -> anyhow::Result<Facts> {
    resource_list(s, "/api/v1", Some(CORE)).await
}

/// kubectl (1.26+) asks for aggregated discovery first and falls back to the legacy documents.
pub async fn aggregated(s: &Side, _ns: &str) -> anyhow::Result<Facts> {
    const ACCEPT: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
    let mut o = Facts::new();
    for path in ["/api", "/apis"] {
        let r = s.get_as(path, ACCEPT).await?;
        o.outcome(&format!("GET {path}"), &r)
            .fact(&format!("{path} kind"), &r.body["kind"]);
        if r.body["kind"] == "APIGroupDiscoveryList" {
            let metal3 = r.body["items"]
                .as_array()
                .and_then(|items| items.iter().find(|i| i["metadata"]["name"] == "metal3.io"))
                .map(|g| {
                    g["versions"][0]["resources"]
                        .as_array()
                        .map(|rs| rs.iter().map(|r| r["resource"].clone()).collect::<Vec<_>>())
                });
            o.fact(&format!("{path} metal3.io resources"), metal3);
        }
    }
    Ok(o)
}

fn gvk_schemas(doc: &Value) -> Value {
    let mut out = serde_json::Map::new();
    if let Some(schemas) = doc["components"]["schemas"].as_object() {
        for (name, schema) in schemas {
            if let Some(gvks) = schema["x-kubernetes-group-version-kind"].as_array()
                && let Some(kind) = gvks
                    .iter()
                    .find(|g| g["group"] == "metal3.io")
                    .and_then(|g| g["kind"].as_str())
            {
                out.insert(kind.to_owned(), json!(name));
            }
        }
    }
    Value::Object(out)
}

fn params(op: &Value) -> Value {
    let mut names: Vec<&str> = op["parameters"]
        .as_array()
        .map(|ps| ps.iter().filter_map(|p| p["name"].as_str()).collect())
        .unwrap_or_default();
    names.sort_unstable();
    json!(names)
}

/// OpenAPI v3 for the CRD group: what kubectl's validation and `explain` look up.
pub async fn openapi(s: &Side, _ns: &str) -> anyhow::Result<Facts> {
    let mut o = Facts::new();
    let root = s.get("/openapi/v3").await?;
    o.outcome("GET /openapi/v3", &root);
    let paths = root.body["paths"].as_object().cloned().unwrap_or_default();
    let mut ours: Vec<&String> = paths.keys().filter(|k| k.contains("metal")).collect();
    ours.sort();
    o.fact("CRD group paths", &ours);
    let url = paths
        .get("apis/metal3.io/v1alpha1")
        .and_then(|p| p["serverRelativeURL"].as_str())
        .unwrap_or("/openapi/v3/apis/metal3.io/v1alpha1")
        .to_owned();
    o.fact(
        "serverRelativeURL has a hash",
        url.starts_with("/openapi/v3/apis/metal3.io/v1alpha1?hash="),
    );
    let doc: Reply = s.get(&url).await?;
    o.outcome("GET the group's document", &doc)
        .fact("schema names by kind", gvk_schemas(&doc.body));
    let item =
        &doc.body["paths"]["/apis/metal3.io/v1alpha1/namespaces/{namespace}/baremetalhosts/{name}"];
    let mut ops: Vec<&String> = item
        .as_object()
        .map(|m| m.keys().filter(|k| *k != "parameters").collect())
        .unwrap_or_default();
    ops.sort();
    o.fact("item operations", &ops)
        .fact("patch parameters", params(&item["patch"]))
        .fact(
            "patch GVK",
            &item["patch"]["x-kubernetes-group-version-kind"],
        );
    let bmh = doc.body["components"]["schemas"]
        .as_object()
        .and_then(|m| {
            m.values().find(|s| {
                s["x-kubernetes-group-version-kind"]
                    .as_array()
                    .is_some_and(|g| g.iter().any(|g| g["kind"] == "BareMetalHost"))
            })
        })
        .cloned()
        .unwrap_or(Value::Null);
    let mut spec: Vec<&String> = bmh["properties"]["spec"]["properties"]
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    spec.sort();
    o.fact("BareMetalHost spec properties", &spec);
    Ok(o)
}
