//! Writes: create, update with optimistic concurrency, the three patch types, server-side apply,
//! dryRun, fieldValidation, and the status and scale subresources.

use metal_e2e::differential::{Facts, Reply, Side, normalize};
use metal_testkit::hosts::Bmh;
use serde_json::{Value, json};

use super::fixtures::*;

/// The characters a real apiserver draws generated-name suffixes from.
const SUFFIX_ALPHABET: &str = "bcdfghjklmnpqrstvwxz2456789";

fn managers(reply: &Reply) -> Value {
    let mut out: Vec<Value> = reply.body["metadata"]["managedFields"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|e| json!([e["manager"], e["operation"], e["subresource"]]))
                .collect()
        })
        .unwrap_or_default();
    out.sort_by_key(Value::to_string);
    json!(out)
}

pub async fn generate_name(s: &Side, ns: &str) -> anyhow::Result<Facts> {
    let mut o = Facts::new();
    let mut body = bmh("", json!({}));
    body["metadata"] = json!({"generateName": "host-"});
    let r = s.post(&bmhs(ns), &body).await?;
    let name = r.name();
    let suffix = name.strip_prefix("host-").unwrap_or_default();
    o.outcome("create", &r)
        .fact("suffix length", suffix.len())
        .fact(
            "suffix alphabet",
            suffix.chars().all(|c| SUFFIX_ALPHABET.contains(c)),
        )
        .fact("generateName kept", &r.body["metadata"]["generateName"]);
    let mut body = configmap("", json!({}));
    body["metadata"] = json!({"generateName": "Not_Valid-"});
    let r = s.post(&configmaps(ns), &body).await?;
    o.outcome("an invalid generateName", &r);
    Ok(o)
}

pub async fn already_exists(s: &Side, ns: &str) -> anyhow::Result<Facts> {
    let mut o = Facts::new();
    s.post(&bmhs(ns), &bmh("twice", json!({}))).await?;
    let r = s.post(&bmhs(ns), &bmh("twice", json!({}))).await?;
    o.outcome("second create", &r).fact("body", &r.body);
    s.post(&configmaps(ns), &configmap("twice", json!({})))
        .await?;
    let r = s
        .post(&configmaps(ns), &configmap("twice", json!({})))
        .await?;
    o.outcome("second create (built-in)", &r)
        .fact("body (built-in)", &r.body);
    Ok(o)
}

pub async fn create_refusals(s: &Side, ns: &str) -> anyhow::Result<Facts> {
    let mut o = Facts::new();
    let r = s
        .post(&bmhs("no-such-namespace"), &bmh("x", json!({})))
        .await?;
    o.outcome("into a missing namespace", &r)
        .fact("missing namespace body", &r.body);
    let mut body = bmh("x", json!({}));
    body.as_object_mut().map(|m| m.remove("kind"));
    let r = s.post(&bmhs(ns), &body).await?;
    o.outcome("a custom object without kind", &r);
    let mut body = bmh("x", json!({}));
    body["kind"] = json!("HostClaim");
    let r = s.post(&bmhs(ns), &body).await?;
    o.outcome("a custom object of another kind", &r);
    let mut body = bmh("x", json!({}));
    body["metadata"]["namespace"] = json!("elsewhere");
    let r = s.post(&bmhs(ns), &body).await?;
    o.outcome("a namespace that is not the path's", &r);
    let r = s.post(&bmhs(ns), &bmh("Upper_Case", json!({}))).await?;
    o.outcome("an invalid name", &r);
    let mut body = bmh("x", json!({}));
    body["spec"]["online"] = json!("yes");
    let r = s.post(&bmhs(ns), &body).await?;
    o.outcome("a value of the wrong type", &r).fact(
        "wrong type causes",
        r.body["details"]["causes"].as_array().map(|c| {
            c.iter()
                .map(|c| json!([c["reason"], c["field"]]))
                .collect::<Vec<_>>()
        }),
    );
    Ok(o)
}

pub async fn update(s: &Side, ns: &str) -> anyhow::Result<Facts> {
    let mut o = Facts::new();
    let path = format!("{}/u", bmhs(ns));
    let created = s.post(&bmhs(ns), &bmh("u", json!({}))).await?;
    let mut body = created.body.clone();
    body["spec"]["online"] = json!(true);
    let r = s.put(&path, &body).await?;
    o.outcome("PUT with the current resourceVersion", &r).fact(
        "generation after a spec change",
        &r.body["metadata"]["generation"],
    );
    let current = r.clone();
    let r = s.put(&path, &body).await?;
    o.outcome("PUT with a stale resourceVersion", &r)
        .fact("stale body", &r.body);
    let mut unversioned = body.clone();
    unversioned["metadata"]
        .as_object_mut()
        .map(|m| m.remove("resourceVersion"));
    let r = s.put(&path, &unversioned).await?;
    o.outcome("PUT without resourceVersion", &r)
        .fact("unversioned message", &r.body["message"]);
    let r = s.put(&path, &current.body).await?;
    o.outcome("PUT that changes nothing", &r)
        .fact("a no-op keeps the resourceVersion", r.rv() == current.rv());
    let mut renamed = current.body.clone();
    renamed["metadata"]["name"] = json!("other");
    let r = s.put(&path, &renamed).await?;
    o.outcome("PUT with another name", &r);
    let r = s
        .put(&format!("{}/absent", bmhs(ns)), &bmh("absent", json!({})))
        .await?;
    o.outcome("PUT of a missing object", &r);
    Ok(o)
}

pub async fn merge_patch(s: &Side, ns: &str) -> anyhow::Result<Facts> {
    let mut o = Facts::new();
    let path = format!("{}/m", bmhs(ns));
    let created = s
        .post(&bmhs(ns), &bmh("m", json!({"a": "1", "b": "2"})))
        .await?;
    let r = s
        .patch(
            &path,
            MERGE,
            &json!({"metadata": {"labels": {"a": null, "c": "3"}}, "spec": {"online": true}}),
        )
        .await?;
    o.outcome("merge patch", &r)
        .fact("labels", &r.body["metadata"]["labels"])
        .fact("spec", &r.body["spec"])
        .fact("generation", &r.body["metadata"]["generation"]);
    let r = s
        .patch(
            &path,
            MERGE,
            &json!({"metadata": {"resourceVersion": created.rv(), "labels": {"d": "4"}}}),
        )
        .await?;
    o.outcome("merge patch with a stale resourceVersion", &r);
    let r = s
        .patch(&path, MERGE, &json!({"metadata": {"labels": {"e": "5"}}}))
        .await?;
    o.fact(
        "a label-only patch keeps the generation",
        &r.body["metadata"]["generation"],
    );
    let r = s
        .patch(&format!("{}/absent", bmhs(ns)), MERGE, &json!({"spec": {}}))
        .await?;
    o.outcome("merge patch of a missing object", &r);
    let r = s
        .call(
            http::Method::PATCH,
            &path,
            &[("content-type", MERGE)],
            Some(b"{not json".to_vec()),
        )
        .await?;
    o.outcome("a body that is not JSON", &r);
    Ok(o)
}

pub async fn json_patch(s: &Side, ns: &str) -> anyhow::Result<Facts> {
    let mut o = Facts::new();
    let path = format!("{}/j", bmhs(ns));
    s.post(&bmhs(ns), &bmh("j", json!({"a": "1"}))).await?;
    let r = s
        .patch(
            &path,
            JSON_PATCH,
            &json!([
                {"op": "add", "path": "/metadata/labels/b", "value": "2"},
                {"op": "test", "path": "/spec/online", "value": false},
                {"op": "replace", "path": "/spec/online", "value": true}
            ]),
        )
        .await?;
    o.outcome("add, test, replace", &r)
        .fact("labels", &r.body["metadata"]["labels"])
        .fact("online", &r.body["spec"]["online"]);
    let r = s
        .patch(
            &path,
            JSON_PATCH,
            &json!([{"op": "test", "path": "/spec/online", "value": false}]),
        )
        .await?;
    o.outcome("a failing test", &r);
    let r = s
        .patch(
            &path,
            JSON_PATCH,
            &json!([{"op": "remove", "path": "/spec/nothing"}]),
        )
        .await?;
    o.outcome("removing a missing path", &r);
    let r = s.patch(&path, JSON_PATCH, &json!({"op": "add"})).await?;
    o.outcome("a body that is not a list", &r);
    Ok(o)
}

pub async fn strategic_patch(s: &Side, ns: &str) -> anyhow::Result<Facts> {
    let mut o = Facts::new();
    s.post(&bmhs(ns), &bmh("sm", json!({}))).await?;
    let r = s
        .patch(
            &format!("{}/sm", bmhs(ns)),
            STRATEGIC,
            &json!({"metadata": {"labels": {"a": "1"}}}),
        )
        .await?;
    o.outcome("on a custom resource", &r)
        .fact("custom resource message", &r.body["message"]);
    s.post(&configmaps(ns), &configmap("cm", json!({}))).await?;
    let r = s
        .patch(
            &format!("{}/cm", configmaps(ns)),
            STRATEGIC,
            &json!({"data": {"b": "2"}}),
        )
        .await?;
    o.outcome("on a ConfigMap", &r)
        .fact("data", &r.body["data"]);
    let deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "d"}}, "template": {
            "metadata": {"labels": {"app": "d"}},
            "spec": {"containers": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]}}}
    });
    let deployments = format!("/apis/apps/v1/namespaces/{ns}/deployments");
    s.post(&deployments, &deployment).await?;
    let r = s
        .patch(
            &format!("{deployments}/d"),
            STRATEGIC,
            &json!({"spec": {"template": {"spec": {"containers": [{"name": "b", "image": "b:2"}]}}}}),
        )
        .await?;
    o.outcome("on a Deployment's containers", &r).fact(
        "containers",
        r.body["spec"]["template"]["spec"]["containers"]
            .as_array()
            .map(|c| {
                c.iter()
                    .map(|c| json!([c["name"], c["image"]]))
                    .collect::<Vec<_>>()
            }),
    );
    Ok(o)
}

fn apply_body(name: &str, spec: Value) -> Value {
    Bmh::new(name).set("/spec", spec).json()
}

pub async fn server_side_apply(s: &Side, ns: &str) -> anyhow::Result<Facts> {
    let mut o = Facts::new();
    let path = format!("{}/ssa", bmhs(ns));
    let spec = json!({"online": true, "bmc": {"address": "redfish://192.0.2.9/redfish/v1/Systems/1", "credentialsName": "c"}});
    let r = s
        .patch(
            &format!("{path}?fieldManager=alice"),
            APPLY,
            &apply_body("ssa", spec),
        )
        .await?;
    o.outcome("alice creates by applying", &r)
        .fact("managers after create", managers(&r));
    let again = s
        .patch(&format!("{path}?fieldManager=alice"), APPLY, &apply_body("ssa", json!({"online": true, "bmc": {"address": "redfish://192.0.2.9/redfish/v1/Systems/1", "credentialsName": "c"}})))
        .await?;
    o.outcome("alice applies the same again", &again).fact(
        "the same apply keeps the resourceVersion",
        again.rv() == r.rv(),
    );
    let r = s
        .patch(
            &format!("{path}?fieldManager=bob"),
            APPLY,
            &apply_body("ssa", json!({"online": false})),
        )
        .await?;
    o.outcome("bob applies a field alice owns", &r)
        .fact("conflict message", &r.body["message"])
        .fact(
            "conflict causes",
            r.body["details"]["causes"].as_array().map(|c| {
                c.iter()
                    .map(|c| json!([c["reason"], c["field"], c["message"]]))
                    .collect::<Vec<_>>()
            }),
        );
    let r = s
        .patch(
            &format!("{path}?fieldManager=bob"),
            APPLY,
            &apply_body("ssa", json!({"online": true})),
        )
        .await?;
    o.outcome("bob applies alice's value", &r)
        .fact("managers when sharing", managers(&r));
    let r = s
        .patch(
            &format!("{path}?fieldManager=bob&force=true"),
            APPLY,
            &apply_body("ssa", json!({"online": false})),
        )
        .await?;
    o.outcome("bob forces", &r)
        .fact("online after force", &r.body["spec"]["online"])
        .fact("managers after force", managers(&r));
    let r = s
        .patch(
            &format!("{path}?fieldManager=carol"),
            MERGE,
            &json!({"spec": {"bootMACAddress": "52:54:00:00:00:01"}}),
        )
        .await?;
    o.outcome("carol merge-patches", &r)
        .fact("managers after an update", managers(&r));
    let r = s
        .patch(
            &format!("{path}?fieldManager=alice"),
            APPLY,
            &apply_body("ssa", json!({"bootMACAddress": "52:54:00:00:00:02"})),
        )
        .await?;
    o.outcome("alice applies a field an update set", &r);
    let r = s
        .patch(&path, APPLY, &apply_body("ssa", json!({"online": true})))
        .await?;
    o.outcome("apply without fieldManager", &r);
    let r = s
        .patch(
            &format!("{path}/status?fieldManager=alice"),
            APPLY,
            &Bmh::new("ssa")
                .without("/spec")
                .set("/status", json!({"operationalStatus": "OK"}))
                .json(),
        )
        .await?;
    o.outcome("apply to status", &r)
        .fact("status after apply", &r.body["status"]["operationalStatus"]);
    Ok(o)
}

pub async fn apply_removes(s: &Side, ns: &str) -> anyhow::Result<Facts> {
    let mut o = Facts::new();
    let path = format!("{}/cm?fieldManager=alice", configmaps(ns));
    let body = |data: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": data});
    s.patch(&path, APPLY, &body(json!({"a": "1", "b": "2"})))
        .await?;
    let r = s.patch(&path, APPLY, &body(json!({"a": "1"}))).await?;
    o.outcome("alice applies fewer fields", &r)
        .fact("data", &r.body["data"]);
    Ok(o)
}

pub async fn dry_run(s: &Side, ns: &str) -> anyhow::Result<Facts> {
    let mut o = Facts::new();
    let mut body = configmap("", json!({}));
    body["metadata"] = json!({"generateName": "dry-"});
    let r = s
        .post(&format!("{}?dryRun=All", configmaps(ns)), &body)
        .await?;
    o.outcome("create", &r)
        .fact(
            "create: resourceVersion",
            &r.body["metadata"]["resourceVersion"],
        )
        .fact("create: uid set", r.body["metadata"]["uid"].is_string())
        .fact("create: name generated", r.name().starts_with("dry-"));
    let name = r.name();
    let r = s.get(&format!("{}/{name}", configmaps(ns))).await?;
    o.outcome("get after a dry-run create", &r);
    let created = s
        .post(&configmaps(ns), &configmap("real", json!({})))
        .await?;
    let path = format!("{}/real", configmaps(ns));
    let r = s
        .patch(
            &format!("{path}?dryRun=All"),
            MERGE,
            &json!({"metadata": {"labels": {"x": "y"}}}),
        )
        .await?;
    o.outcome("patch", &r)
        .fact("patch: labels", &r.body["metadata"]["labels"])
        .fact("patch: resourceVersion kept", r.rv() == created.rv());
    let r = s.get(&path).await?;
    o.fact(
        "labels after a dry-run patch",
        &r.body["metadata"]["labels"],
    );
    let r = s
        .delete(
            &format!("{path}?dryRun=All"),
            Some(&json!({"kind": "DeleteOptions", "apiVersion": "v1", "dryRun": ["All"]})),
        )
        .await?;
    o.outcome("delete", &r)
        .fact("delete: answer kind", &r.body["kind"]);
    let r = s.get(&path).await?;
    o.outcome("get after a dry-run delete", &r);
    let r = s
        .post(
            &format!("{}?dryRun=Sometimes", configmaps(ns)),
            &configmap("z", json!({})),
        )
        .await?;
    o.outcome("an unknown dryRun value", &r);
    Ok(o)
}

async fn validation(
    o: &mut Facts,
    s: &Side,
    label: &str,
    path: &str,
    body: &Value,
) -> anyhow::Result<()> {
    for mode in ["", "Ignore", "Warn", "Strict"] {
        let query = if mode.is_empty() {
            String::new()
        } else {
            format!("?fieldValidation={mode}")
        };
        let r = s.post(&format!("{path}{query}"), body).await?;
        let mode = if mode.is_empty() { "default" } else { mode };
        let mut warnings = r.warnings.clone();
        warnings.sort();
        o.outcome(&format!("{label} {mode}"), &r)
            .fact(&format!("{label} {mode}: warnings"), warnings)
            .fact(&format!("{label} {mode}: message"), &r.body["message"]);
        if r.code < 300 {
            s.delete(&format!("{path}/{}", r.name()), None).await?;
        }
    }
    Ok(())
}

pub async fn field_validation(s: &Side, ns: &str) -> anyhow::Result<Facts> {
    let mut o = Facts::new();
    let mut host = bmh("fv", json!({}));
    host["spec"]["bogusField"] = json!(1);
    validation(&mut o, s, "custom", &bmhs(ns), &host).await?;
    let mut host = bmh("fvm", json!({}));
    host["metadata"]["bogus"] = json!(1);
    validation(&mut o, s, "custom metadata", &bmhs(ns), &host).await?;
    let mut cm = configmap("fvc", json!({}));
    cm["bogus"] = json!(1);
    validation(&mut o, s, "built-in", &configmaps(ns), &cm).await?;
    Ok(o)
}

pub async fn status_subresource(s: &Side, ns: &str) -> anyhow::Result<Facts> {
    let mut o = Facts::new();
    let path = format!("{}/st", bmhs(ns));
    let mut body = bmh("st", json!({}));
    body["status"] = json!({"operationalStatus": "OK"});
    let r = s.post(&bmhs(ns), &body).await?;
    o.fact("status given at create", &r.body["status"]);
    let r = s.get(&format!("{path}/status")).await?;
    o.outcome("GET /status", &r)
        .fact("GET /status kind", &r.body["kind"]);
    let r = s
        .patch(&format!("{path}/status"), MERGE, &json!({"status": {"operationalStatus": "OK", "poweredOn": true}, "spec": {"online": true}}))
        .await?;
    o.outcome("merge patch /status", &r)
        .fact("status after /status", normalize(&r.body["status"]))
        .fact("spec after /status", &r.body["spec"]["online"])
        .fact(
            "generation after /status",
            &r.body["metadata"]["generation"],
        );
    let stale = r.clone();
    let r = s
        .patch(
            &path,
            MERGE,
            &json!({"status": {"operationalStatus": "error"}, "spec": {"online": true}}),
        )
        .await?;
    o.outcome("merge patch of the object", &r)
        .fact(
            "status after the object patch",
            &r.body["status"]["operationalStatus"],
        )
        .fact(
            "generation after the object patch",
            &r.body["metadata"]["generation"],
        );
    let mut put = stale.body.clone();
    put["status"]["operationalStatus"] = json!("delayed");
    let r = s.put(&format!("{path}/status"), &put).await?;
    o.outcome("PUT /status with a stale resourceVersion", &r);
    s.post(&hardware(ns), &json!({"apiVersion": "metal3.io/v1alpha1", "kind": "HardwareData", "metadata": {"name": "hw"}, "spec": {}})).await?;
    let r = s.get(&format!("{}/hw/status", hardware(ns))).await?;
    o.outcome("/status of a kind without it", &r);
    Ok(o)
}

pub async fn scale_subresource(s: &Side, ns: &str) -> anyhow::Result<Facts> {
    let mut o = Facts::new();
    let path = format!("{}/pool", hostpools(ns));
    s.post(&hostpools(ns), &hostpool("pool", 1)).await?;
    s.patch(
        &format!("{path}/status"),
        MERGE,
        &json!({"status": {"replicas": 1, "selector": "pool=p"}}),
    )
    .await?;
    let r = s.get(&format!("{path}/scale")).await?;
    o.outcome("GET /scale", &r)
        .fact("scale", normalize(&r.body));
    let r = s
        .patch(
            &format!("{path}/scale"),
            MERGE,
            &json!({"spec": {"replicas": 3}}),
        )
        .await?;
    o.outcome("merge patch /scale", &r)
        .fact("scale after patch", normalize(&r.body));
    let r = s.get(&path).await?;
    o.fact("spec.replicas after /scale", &r.body["spec"]["replicas"])
        .fact("generation after /scale", &r.body["metadata"]["generation"]);
    let mut scale = s.get(&format!("{path}/scale")).await?.body;
    scale["spec"]["replicas"] = json!(-1);
    let r = s.put(&format!("{path}/scale"), &scale).await?;
    o.outcome("PUT /scale with negative replicas", &r);
    scale["spec"]["replicas"] = json!(2);
    scale["metadata"]["resourceVersion"] = json!("1");
    let r = s.put(&format!("{path}/scale"), &scale).await?;
    o.outcome("PUT /scale with a stale resourceVersion", &r);
    s.post(&bmhs(ns), &bmh("noscale", json!({}))).await?;
    let r = s.get(&format!("{}/noscale/scale", bmhs(ns))).await?;
    o.outcome("/scale of a kind without it", &r);
    Ok(o)
}
