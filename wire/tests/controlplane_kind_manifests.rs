//! The kind path kept correct without Docker: `kubectl kustomize kind/` renders, every rendered
//! object round-trips through the typed Kubernetes API structs (no misspelled or misplaced field),
//! `kubectl apply --dry-run=server -k kind/` is accepted by the embedded control plane (loaded with
//! the CRDs as `metal-sim controlplane --crds` loads them), a real apply is idempotent, and the
//! pieces agree with each other and with the binaries: probe ports with the operator's settings,
//! Services with pods, forwarders with metal-sim's listeners, RBAC with the CRDs, the admission
//! webhook's configuration with the operator's paths and settings, images with the Dockerfiles
//! and scripts/e2e-kind.sh.

mod support;

#[path = "../../controlplane/tests/controlplane_fixture/cluster.rs"]
mod cluster;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use cluster::Cluster;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

const NAMESPACE: &str = "metal3-system";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(root().join(relative))
        .unwrap_or_else(|e| panic!("reading {relative}: {e}"))
}

fn documents(yaml: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(yaml)
        .map(|d| <Value as serde::Deserialize>::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

async fn render(c: &Cluster, dir: &str) -> Vec<Value> {
    let dir = root().join(dir);
    let text = c.ok(&["kustomize", dir.to_str().unwrap()]).await;
    documents(&text)
}

fn kind_of(v: &Value) -> &str {
    v["kind"].as_str().unwrap_or_default()
}

fn name_of(v: &Value) -> &str {
    v["metadata"]["name"].as_str().unwrap_or_default()
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| kind_of(o) == kind && name_of(o) == name)
        .unwrap_or_else(|| panic!("no {kind} {name} rendered"))
}

/// Fields the typed struct does not know are dropped by a round trip: report them.
fn dropped(original: &Value, typed: &Value, path: &str, out: &mut Vec<String>) {
    match (original, typed) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                match b.get(k) {
                    Some(w) => dropped(v, w, &format!("{path}.{k}"), out),
                    None => out.push(format!("{path}.{k}")),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                dropped(v, w, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

fn round_trip<T: DeserializeOwned + Serialize>(obj: &Value) -> Vec<String> {
    let typed: T = serde_json::from_value(obj.clone())
        .unwrap_or_else(|e| panic!("{} {}: {e}", kind_of(obj), name_of(obj)));
    let back = serde_json::to_value(&typed).unwrap();
    let mut out = Vec::new();
    dropped(obj, &back, "", &mut out);
    out
}

fn unknown_fields(obj: &Value) -> Vec<String> {
    use k8s_openapi::api::{
        admissionregistration::v1 as admission, apps::v1 as apps, core::v1 as core,
        networking::v1 as networking, rbac::v1 as rbac,
    };
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as ext;
    match kind_of(obj) {
        "Namespace" => round_trip::<core::Namespace>(obj),
        "ServiceAccount" => round_trip::<core::ServiceAccount>(obj),
        "ConfigMap" => round_trip::<core::ConfigMap>(obj),
        "Service" => round_trip::<core::Service>(obj),
        "Deployment" => round_trip::<apps::Deployment>(obj),
        "NetworkPolicy" => round_trip::<networking::NetworkPolicy>(obj),
        "Role" => round_trip::<rbac::Role>(obj),
        "RoleBinding" => round_trip::<rbac::RoleBinding>(obj),
        "ClusterRole" => round_trip::<rbac::ClusterRole>(obj),
        "ClusterRoleBinding" => round_trip::<rbac::ClusterRoleBinding>(obj),
        "CustomResourceDefinition" => round_trip::<ext::CustomResourceDefinition>(obj),
        "ValidatingWebhookConfiguration" => {
            round_trip::<admission::ValidatingWebhookConfiguration>(obj)
        }
        other => vec![format!("unexpected kind {other} (add it to this test)")],
    }
}

/// Kinds that live outside any namespace (besides the CRDs and the Namespace itself).
fn cluster_scoped(kind: &str) -> bool {
    kind.starts_with("Cluster") || kind == "ValidatingWebhookConfiguration"
}

fn pod_spec(deploy: &Value) -> &Value {
    &deploy["spec"]["template"]["spec"]
}

fn containers(deploy: &Value) -> &Vec<Value> {
    pod_spec(deploy)["containers"].as_array().unwrap()
}

fn container<'a>(deploy: &'a Value, name: &str) -> &'a Value {
    containers(deploy)
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

fn port_named(c: &Value, name: &str) -> i64 {
    c["ports"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
        .and_then(|p| p["containerPort"].as_i64())
        .unwrap_or_else(|| panic!("container {} has no port {name}", c["name"]))
}

fn arg_after<'a>(c: &'a Value, flag: &str) -> &'a str {
    let args = c["args"].as_array().unwrap();
    let i = args
        .iter()
        .position(|a| a == flag)
        .unwrap_or_else(|| panic!("no {flag} in {args:?}"));
    args[i + 1].as_str().unwrap()
}

fn port_of(address: &str) -> i64 {
    address.rsplit(':').next().unwrap().parse().unwrap()
}

/// Every Deployment is non-root, read-only, without privilege escalation or capabilities.
fn assert_hardened(deploy: &Value) {
    let pod = pod_spec(deploy);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{deploy}");
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    for c in containers(deploy) {
        let sc = &c["securityContext"];
        assert_eq!(sc["allowPrivilegeEscalation"], false, "{}", c["name"]);
        assert_eq!(sc["readOnlyRootFilesystem"], true, "{}", c["name"]);
        assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
        assert!(
            c["readinessProbe"].is_object(),
            "{} has no readiness",
            c["name"]
        );
        assert!(
            c["resources"]["limits"]["memory"].is_string(),
            "{} has no memory limit",
            c["name"]
        );
    }
}

/// The operator's settings are real flags of operator/src/main.rs, and its probes and metrics
/// port answer where its settings make it listen (on the pod IP).
fn assert_operator_wiring(objects: &[Value]) {
    let deploy = find(objects, "Deployment", "metal-operator");
    let config = find(objects, "ConfigMap", "metal-operator-config");
    let main = read("operator/src/main.rs");
    let settings = config["data"].as_object().unwrap();
    for key in settings.keys() {
        assert!(
            main.contains(&format!("env = \"{key}\"")),
            "{key} is not a setting of metal-operator (operator/src/main.rs)"
        );
    }
    let op = container(deploy, "operator");
    assert_eq!(op["args"], serde_json::json!(["run"]));
    for (setting, port_name) in [("HEALTH_ADDR", "health"), ("METRICS_ADDR", "metrics")] {
        let addr = settings[setting].as_str().unwrap();
        assert!(
            addr.starts_with("0.0.0.0:"),
            "{setting}={addr}: probes and scrapes come to the pod IP"
        );
        assert_eq!(port_of(addr), port_named(op, port_name), "{setting}");
    }
    assert_eq!(port_named(op, "health"), 9440);
    assert_eq!(port_named(op, "metrics"), 8080);
    assert_eq!(op["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(op["livenessProbe"]["httpGet"]["port"], "health");
    assert_eq!(op["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(op["readinessProbe"]["httpGet"]["port"], "health");
    let env: Vec<&str> = op["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(
        env.contains(&"POD_NAMESPACE") && env.contains(&"POD_NAME"),
        "{env:?}"
    );
    assert_webhook_wiring(objects, settings, op);
    // The Ironic endpoint is a Service that exists, on its port.
    let endpoint = settings["IRONIC_ENDPOINT"].as_str().unwrap();
    let url = url::Url::parse(endpoint).unwrap();
    let host = url.host_str().unwrap();
    let (svc_name, rest) = host.split_once('.').unwrap();
    assert_eq!(rest, format!("{NAMESPACE}.svc"), "{endpoint}");
    let svc = find(objects, "Service", svc_name);
    let port = url.port().unwrap() as i64;
    assert!(
        svc["spec"]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["port"] == port),
        "{svc_name} has no port {port}"
    );
}

/// The admission webhook: served on the pod IP at the container's `webhook` port, reached through
/// the Service the certificate is made for, on every path the operator serves, and registered
/// under the name whose caBundle the operator patches (and its RBAC rule names).
fn assert_webhook_wiring(objects: &[Value], settings: &serde_json::Map<String, Value>, op: &Value) {
    use metal_operator::webhook::Target;
    let addr = settings["WEBHOOK_ADDR"].as_str().unwrap();
    assert!(
        addr.starts_with("0.0.0.0:"),
        "WEBHOOK_ADDR={addr}: the API server calls the pod IP"
    );
    assert_eq!(port_of(addr), port_named(op, "webhook"), "WEBHOOK_ADDR");
    let service_name = settings["WEBHOOK_SERVICE"].as_str().unwrap();
    let service = find(objects, "Service", service_name);
    let service_port = &service["spec"]["ports"][0];
    assert_eq!(service_port["targetPort"], "webhook");
    let name = settings["WEBHOOK_CONFIGURATION"].as_str().unwrap();
    let config = find(objects, "ValidatingWebhookConfiguration", name);
    let webhooks = config["webhooks"].as_array().unwrap();
    let paths: Vec<&str> = webhooks
        .iter()
        .map(|w| w["clientConfig"]["service"]["path"].as_str().unwrap())
        .collect();
    let served: Vec<&str> = Target::ALL.iter().map(|t| t.path()).collect();
    assert_eq!(paths, served);
    for (w, target) in webhooks.iter().zip(Target::ALL) {
        let svc = &w["clientConfig"]["service"];
        assert_eq!(svc["name"], service_name);
        assert_eq!(svc["namespace"], NAMESPACE);
        assert_eq!(svc["port"], service_port["port"]);
        assert_eq!(w["admissionReviewVersions"], serde_json::json!(["v1"]));
        assert_eq!(w["sideEffects"], "None");
        assert_eq!(w["failurePolicy"], "Fail");
        let rule = &w["rules"][0];
        assert_eq!(rule["apiGroups"], serde_json::json!([target.group()]));
        assert_eq!(rule["operations"], serde_json::json!(["CREATE", "UPDATE"]));
    }
    let rules = find(objects, "ClusterRole", "metal-operator")["rules"]
        .as_array()
        .unwrap();
    let rule = rules
        .iter()
        .find(|r| r["resources"] == serde_json::json!(["validatingwebhookconfigurations"]))
        .expect("an RBAC rule for the caBundle patch");
    assert_eq!(rule["resourceNames"], serde_json::json!([name]));
    assert_eq!(rule["verbs"], serde_json::json!(["get", "patch"]));
}

/// metal-sim's forwarders point at its loopback listeners, its fleet file exists in fleets/
/// (copied into the image) and uses the single-address layout on the pod's loopback.
fn assert_simulator_wiring(objects: &[Value]) -> String {
    let deploy = find(objects, "Deployment", "metal-sim");
    let sim = container(deploy, "metal-sim");
    assert_eq!(sim["args"][0], "serve");
    for (forwarder, flag, port_name) in [
        ("ironic-forward", "--ironic", "ironic"),
        ("control-forward", "--control", "control"),
    ] {
        let listen = arg_after(sim, flag);
        assert!(listen.starts_with("127.0.0.1:"), "{flag} {listen}");
        let f = container(deploy, forwarder);
        let cmd: Vec<&str> = f["command"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(cmd[0], "socat");
        assert_eq!(
            cmd[1],
            format!("TCP-LISTEN:{},fork,reuseaddr", port_named(f, port_name))
        );
        assert_eq!(cmd[2], format!("TCP:{listen}"));
    }
    // The image server sits on the pod's loopback (the fake agent fetches nothing else), serves
    // what the Dockerfile writes, and is where scripts/e2e-kind.sh tells the suite to look.
    let images = container(deploy, "images");
    let cmd: Vec<&str> = images["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(cmd[..3], ["python3", "-m", "http.server"]);
    let port = cmd[3];
    assert_eq!(
        cmd[4..],
        ["--bind", "127.0.0.1", "--directory", "/srv/images"]
    );
    let dockerfile = read("docker/Dockerfile");
    assert!(
        dockerfile.contains("> /srv/images/os.img") && dockerfile.contains("> os.img.sha256sum")
    );
    let script = read("scripts/e2e-kind.sh");
    for file in ["os.img", "os.img.sha256sum"] {
        assert!(
            script.contains(&format!("=\"http://127.0.0.1:{port}/{file}\"")),
            "scripts/e2e-kind.sh does not point the suite at {file} on port {port}"
        );
    }
    let fleet = arg_after(sim, "--fleet");
    let relative = fleet
        .strip_prefix("/etc/metal-sim/")
        .unwrap_or_else(|| panic!("{fleet} is not under /etc/metal-sim"));
    let text = read(relative);
    let file: Value = serde_yaml::from_str(&text).unwrap();
    assert_eq!(file["layout"]["mode"], "single-address", "{relative}");
    assert_eq!(file["layout"]["base"], "127.0.0.1", "{relative}");
    assert!(
        read("docker/Dockerfile").contains("COPY fleets/ /etc/metal-sim/fleets/"),
        "the image does not carry fleets/"
    );
    relative.to_string()
}

/// The simulator's NetworkPolicy selects the metal-sim pod, filters ingress, and lets in only the
/// operator's pods, only to the mock Ironic's forwarder port (a port metal-sim's pod names); the
/// control API's port is open to no pod.
fn assert_network_policy(objects: &[Value]) {
    let policy = find(objects, "NetworkPolicy", "metal-sim");
    let sim = find(objects, "Deployment", "metal-sim");
    let operator = find(objects, "Deployment", "metal-operator");
    let labels = |d: &Value| d["spec"]["template"]["metadata"]["labels"].clone();
    assert_eq!(policy["spec"]["podSelector"]["matchLabels"], labels(sim));
    assert_eq!(
        policy["spec"]["policyTypes"],
        serde_json::json!(["Ingress"])
    );
    let rules = policy["spec"]["ingress"].as_array().unwrap();
    assert_eq!(rules.len(), 1, "{rules:?}");
    assert_eq!(
        rules[0]["from"],
        serde_json::json!([{"podSelector": {"matchLabels": labels(operator)}}])
    );
    let ports: Vec<&str> = rules[0]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["port"].as_str().unwrap())
        .collect();
    assert_eq!(ports, ["ironic"]);
    port_named(container(sim, "ironic-forward"), "ironic");
}

/// Every Service selects a rendered pod template and targets a port it names.
fn assert_services_select_pods(objects: &[Value]) {
    for svc in objects.iter().filter(|o| kind_of(o) == "Service") {
        let selector = svc["spec"]["selector"].as_object().unwrap();
        let deploy = objects
            .iter()
            .filter(|o| kind_of(o) == "Deployment")
            .find(|d| {
                let labels = &d["spec"]["template"]["metadata"]["labels"];
                selector.iter().all(|(k, v)| &labels[k] == v)
            })
            .unwrap_or_else(|| panic!("Service {} selects no pod", name_of(svc)));
        for p in svc["spec"]["ports"].as_array().unwrap() {
            let target = p["targetPort"].as_str().unwrap();
            assert!(
                containers(deploy).iter().any(|c| c["ports"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|q| q["name"] == target))),
                "Service {} targets {target}, which no container of {} names",
                name_of(svc),
                name_of(deploy)
            );
        }
    }
}

/// RBAC: bindings name the operator's ServiceAccount in its namespace, every rendered CRD has a
/// rule, the Lease rule lives in the Deployment's namespace, and nothing is a wildcard.
fn assert_rbac(objects: &[Value]) {
    let deploy = find(objects, "Deployment", "metal-operator");
    let sa = pod_spec(deploy)["serviceAccountName"].as_str().unwrap();
    find(objects, "ServiceAccount", sa);
    for kind in ["ClusterRoleBinding", "RoleBinding"] {
        for b in objects.iter().filter(|o| kind_of(o) == kind) {
            assert_eq!(b["subjects"][0]["name"], sa);
            assert_eq!(b["subjects"][0]["namespace"], NAMESPACE);
            find(
                objects,
                b["roleRef"]["kind"].as_str().unwrap(),
                b["roleRef"]["name"].as_str().unwrap(),
            );
        }
    }
    let cluster_rules = find(objects, "ClusterRole", "metal-operator")["rules"]
        .as_array()
        .unwrap();
    let mut covered = BTreeSet::new();
    for r in cluster_rules {
        for field in ["apiGroups", "resources", "verbs"] {
            assert!(
                !r[field].as_array().unwrap().iter().any(|v| v == "*"),
                "wildcard in {r}"
            );
        }
        for g in r["apiGroups"].as_array().unwrap() {
            for res in r["resources"].as_array().unwrap() {
                covered.insert(format!("{}/{}", g.as_str().unwrap(), res.as_str().unwrap()));
            }
        }
    }
    for crd in objects
        .iter()
        .filter(|o| kind_of(o) == "CustomResourceDefinition")
    {
        let key = format!(
            "{}/{}",
            crd["spec"]["group"].as_str().unwrap(),
            crd["spec"]["names"]["plural"].as_str().unwrap()
        );
        assert!(covered.contains(&key), "no RBAC rule for {key}");
    }
    for needed in [
        "/secrets",
        "events.k8s.io/events",
        "metal3.io/baremetalhosts/status",
    ] {
        assert!(covered.contains(needed), "no RBAC rule for {needed}");
    }
    let lease = find(objects, "Role", "metal-operator-leader-election");
    assert_eq!(lease["metadata"]["namespace"], NAMESPACE);
    assert_eq!(deploy["metadata"]["namespace"], NAMESPACE);
    assert_eq!(
        lease["rules"][0]["resources"],
        serde_json::json!(["leases"])
    );
}

/// Images are the tags scripts/e2e-kind.sh builds, never pulled, and run as the Dockerfiles' user.
fn assert_images(objects: &[Value]) {
    let script = read("scripts/e2e-kind.sh");
    for deploy in objects.iter().filter(|o| kind_of(o) == "Deployment") {
        let uid = pod_spec(deploy)["securityContext"]["runAsUser"]
            .as_i64()
            .unwrap();
        for c in containers(deploy) {
            let image = c["image"].as_str().unwrap();
            assert_eq!(c["imagePullPolicy"], "IfNotPresent", "{image}");
            assert!(
                script.contains(image),
                "scripts/e2e-kind.sh does not build {image}"
            );
            // The image's stage of docker/Dockerfile runs as the pod's user.
            let stage = image
                .split(':')
                .next()
                .and_then(|i| i.strip_prefix("localhost/"))
                .unwrap_or_else(|| panic!("unexpected image {image}"));
            assert!(
                script.contains(&format!("--target {stage} -t")),
                "scripts/e2e-kind.sh does not build the {stage} stage"
            );
            let dockerfile = read("docker/Dockerfile");
            let body = dockerfile
                .split("\nFROM ")
                .find(|s| {
                    s.lines()
                        .next()
                        .is_some_and(|l| l.ends_with(&format!(" AS {stage}")))
                })
                .unwrap_or_else(|| panic!("docker/Dockerfile has no stage {stage}"));
            assert!(
                body.lines().any(|l| l == format!("USER {uid}:{uid}")),
                "stage {stage} does not run as {uid}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kind_manifests_render_and_every_object_is_well_formed_and_wired() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    let objects = render(&c, "kind").await;
    let kinds: BTreeSet<&str> = objects.iter().map(kind_of).collect();
    for k in [
        "CustomResourceDefinition",
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "ConfigMap",
        "Deployment",
        "Service",
        "ValidatingWebhookConfiguration",
        "NetworkPolicy",
    ] {
        assert!(kinds.contains(k), "no {k} rendered: {kinds:?}");
    }
    for o in &objects {
        let unknown = unknown_fields(o);
        assert!(
            unknown.is_empty(),
            "{} {} has fields the API does not know: {unknown:?}",
            kind_of(o),
            name_of(o)
        );
        if cluster_scoped(kind_of(o)) {
            assert!(o["metadata"]["namespace"].is_null());
        } else if !matches!(kind_of(o), "CustomResourceDefinition" | "Namespace") {
            assert_eq!(o["metadata"]["namespace"], NAMESPACE, "{}", name_of(o));
        }
    }
    for d in objects.iter().filter(|o| kind_of(o) == "Deployment") {
        assert_hardened(d);
    }
    assert_operator_wiring(&objects);
    assert_eq!(
        assert_simulator_wiring(&objects),
        "fleets/single-address.yaml"
    );
    assert_services_select_pods(&objects);
    assert_network_policy(&objects);
    assert_rbac(&objects);
    assert_images(&objects);
    // The CRDs are exactly the generated files (metal3.io and the HostPool CRD).
    let mut generated = documents(&read("kind/crds/metal3.io.yaml"));
    generated.extend(documents(&read("kind/crds/hostpools.yaml")));
    let rendered: Vec<&Value> = objects
        .iter()
        .filter(|o| kind_of(o) == "CustomResourceDefinition")
        .collect();
    assert_eq!(rendered.len(), generated.len());
    c.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_e2e_overlay_only_swaps_the_simulators_fleet() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    let base = render(&c, "kind").await;
    let e2e = render(&c, "kind/e2e").await;
    assert_eq!(base.len(), e2e.len());
    let mut differing = Vec::new();
    for (a, b) in base.iter().zip(&e2e) {
        if a != b {
            differing.push(format!("{} {}", kind_of(a), name_of(a)));
        }
    }
    assert_eq!(differing, ["Deployment metal-sim"]);
    // The suite's fleet exists, is in the image, and is laid out for the pod's loopback.
    assert_eq!(assert_simulator_wiring(&e2e), "fleets/e2e-kind.yaml");
    c.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_server_dry_run_of_the_kind_manifests_is_accepted_and_stores_nothing() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    let objects = render(&c, "kind").await;
    // A server dry run creates no Namespace, so objects in it need the Namespace to exist already
    // (as on a real API server).
    c.ok(&["create", "namespace", NAMESPACE]).await;
    let kind_dir = root().join("kind");
    let kind_dir = kind_dir.to_str().unwrap();
    let out = c.ok(&["apply", "--dry-run=server", "-k", kind_dir]).await;
    for o in &objects {
        let line = out
            .lines()
            .find(|l| {
                l.split_whitespace()
                    .next()
                    .is_some_and(|r| r.ends_with(&format!("/{}", name_of(o))))
                    && l.to_lowercase()
                        .starts_with(&format!("{}.", kind_of(o).to_lowercase()))
                    || l.to_lowercase().starts_with(&format!(
                        "{}/{} ",
                        kind_of(o).to_lowercase(),
                        name_of(o)
                    ))
            })
            .unwrap_or_else(|| panic!("{} {} not in:\n{out}", kind_of(o), name_of(o)));
        assert!(line.ends_with("(server dry run)"), "{line}");
    }
    let nothing = c
        .ok(&[
            "get",
            "deployments,services,configmaps",
            "-n",
            NAMESPACE,
            "-o",
            "name",
        ])
        .await;
    assert!(
        !nothing.contains("metal-operator") && !nothing.contains("metal-sim"),
        "a dry run stored objects: {nothing}"
    );
    // The real apply stores everything, and a second apply changes nothing.
    c.ok(&["apply", "-k", kind_dir]).await;
    let deployments = c
        .ok(&["get", "deployments", "-n", NAMESPACE, "-o", "name"])
        .await;
    assert_eq!(
        deployments.lines().collect::<Vec<_>>(),
        [
            "deployment.apps/metal-operator",
            "deployment.apps/metal-sim"
        ]
    );
    let again = c.ok(&["apply", "-k", kind_dir]).await;
    for line in again.lines() {
        assert!(
            line.ends_with(" unchanged"),
            "a re-apply changed something: {line}"
        );
    }
    // The e2e overlay is accepted too.
    let e2e_dir = root().join("kind/e2e");
    let out = c
        .ok(&["apply", "--dry-run=server", "-k", e2e_dir.to_str().unwrap()])
        .await;
    assert!(
        out.contains("deployment.apps/metal-sim configured (server dry run)"),
        "{out}"
    );
    c.running.shutdown().await.unwrap();
}
