//! Discovery documents (legacy, unaggregated: kubectl falls back to them) and the minimal
//! OpenAPI v3 that kubectl consults (per group/version: the PATCH operations with their
//! `fieldValidation` parameter and the `x-kubernetes-group-version-kind` of every kind, plus
//! the CRD schemas).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::resource::Resource;

/// `/version`.
pub fn version() -> Value {
    json!({
        "major": "1", "minor": "33", "gitVersion": "v1.33.0-metal-sim",
        "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z", "goVersion": "none", "compiler": "rustc",
        "platform": "linux/amd64"
    })
}

/// `/api`.
pub fn api_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions", "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]
    })
}

/// Group name → versions in preference order.
fn groups(resources: &[Resource]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in resources.iter().filter(|r| !r.group.is_empty()) {
        let versions = out.entry(r.group.clone()).or_default();
        if !versions.contains(&r.version) {
            versions.push(r.version.clone());
        }
    }
    out
}

fn group_doc(name: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    json!({"name": name, "versions": vs, "preferredVersion": vs.first().cloned().unwrap_or(Value::Null)})
}

/// `/apis`.
pub fn group_list(resources: &[Resource]) -> Value {
    let gs: Vec<Value> = groups(resources)
        .iter()
        .map(|(g, vs)| group_doc(g, vs))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": gs})
}

/// `/apis/<group>`, None when the group is unknown.
pub fn group(resources: &[Resource], name: &str) -> Option<Value> {
    groups(resources).get(name).map(|vs| {
        let mut doc = group_doc(name, vs);
        doc["kind"] = json!("APIGroup");
        doc["apiVersion"] = json!("v1");
        doc
    })
}

/// `/api/v1` or `/apis/<group>/<version>`, None when nothing is served there.
pub fn resource_list(resources: &[Resource], group: &str, version: &str) -> Option<Value> {
    let served: Vec<&Resource> = resources
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    if served.is_empty() {
        return None;
    }
    let mut list = Vec::new();
    for r in &served {
        let mut entry = json!({
            "name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
            "kind": r.kind, "verbs": r.verbs(),
        });
        if !r.short_names.is_empty() {
            entry["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            entry["categories"] = json!(r.categories);
        }
        list.push(entry);
        if r.status {
            list.push(json!({"name": format!("{}/status", r.plural), "singularName": "", "namespaced": r.namespaced, "kind": r.kind, "verbs": ["get", "patch", "update"]}));
        }
        if r.scale.is_some() {
            list.push(json!({"name": format!("{}/scale", r.plural), "singularName": "", "namespaced": r.namespaced, "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]}));
        }
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": list}),
    )
}

/// A kind's schema name as kube-apiserver publishes it: the group's DNS name reversed
/// (`io.metal3.v1alpha1.BareMetalHost`), `io.k8s.api.<group>` for built-in groups.
fn schema_name(r: &Resource) -> String {
    let group = if r.group.is_empty() {
        "io.k8s.api.core".to_string()
    } else if !r.custom {
        format!(
            "io.k8s.api.{}",
            r.group.split('.').next().unwrap_or_default()
        )
    } else {
        r.group.split('.').rev().collect::<Vec<_>>().join(".")
    };
    format!("{group}.{}.{}", r.version, r.kind)
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `/openapi/v3`: one entry per served group/version; `hash` changes when resources change.
pub fn openapi_v3_root(resources: &[Resource], hash: u64) -> Value {
    let mut paths = serde_json::Map::new();
    for r in resources {
        let p = gv_path(&r.group, &r.version);
        paths.insert(
            p.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={hash:016X}")}),
        );
    }
    json!({"paths": paths})
}

/// `/openapi/v3/<api|apis/group>/<version>`, None when nothing is served there.
pub fn openapi_v3_group_version(
    resources: &[Resource],
    group: &str,
    version: &str,
) -> Option<Value> {
    let served: Vec<&Resource> = resources
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    if served.is_empty() {
        return None;
    }
    let prefix = if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    };
    let mut paths = serde_json::Map::new();
    let mut schemas = serde_json::Map::new();
    for r in served {
        let gvk = json!([{"group": r.group, "version": r.version, "kind": r.kind}]);
        let params = json!([
            {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
            {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
            {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
            {"name": "force", "in": "query", "schema": {"type": "boolean", "uniqueItems": true}}
        ]);
        let item = if r.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", r.plural)
        } else {
            format!("{prefix}/{}/{{name}}", r.plural)
        };
        let op = |verb: &str| {
            json!({
                "operationId": format!("{verb}{}", r.kind),
                "parameters": params,
                "x-kubernetes-action": verb,
                "x-kubernetes-group-version-kind": gvk[0],
                "responses": {"200": {"description": "OK"}}
            })
        };
        paths.insert(item, json!({"get": op("get"), "put": op("put"), "patch": op("patch"), "delete": op("delete")}));
        let name = schema_name(r);
        // Only custom resources carry a schema: for built-ins kubectl falls back to its
        // compiled-in types when computing strategic merge patches.
        if let Some(mut schema) = r.schema.as_deref().cloned() {
            schema["x-kubernetes-group-version-kind"] = gvk;
            schemas.insert(name.clone(), schema);
            let list_kind = format!("{}List", r.kind);
            schemas.insert(
                format!("{name}List"),
                json!({
                    "type": "object", "required": ["items"],
                    "properties": {
                        "apiVersion": {"type": "string"}, "kind": {"type": "string"},
                        "metadata": {"type": "object"},
                        "items": {"type": "array", "items": {"$ref": format!("#/components/schemas/{name}")}}
                    },
                    "x-kubernetes-group-version-kind": [{"group": r.group, "version": r.version, "kind": list_kind}]
                }),
            );
        }
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "metal-sim", "version": "v1.33.0"},
        "paths": paths,
        "components": {"schemas": schemas}
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_schemas_are_named_by_the_reversed_group_as_kube_apiserver_names_them() {
        let crd = json!({
            "metadata": {"name": "hostpools.metal-operator.io"},
            "spec": {"group": "metal-operator.io", "scope": "Namespaced",
                "names": {"plural": "hostpools", "kind": "HostPool"},
                "versions": [{"name": "v1alpha1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object"}}}]}
        });
        let resources = super::super::crd::resources(&crd).unwrap();
        assert_eq!(
            schema_name(&resources[0]),
            "io.metal-operator.v1alpha1.HostPool"
        );
        let doc = openapi_v3_group_version(&resources, "metal-operator.io", "v1alpha1").unwrap();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        assert!(schemas.contains_key("io.metal-operator.v1alpha1.HostPoolList"));
    }
}
