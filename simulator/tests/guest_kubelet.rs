//! The simulated guest on a node image: a machine boots a disk whose config drive carries cloud-init
//! user data with a kubeconfig, and its kubelet registers the Node (labels from `KUBELET_EXTRA_ARGS`,
//! the config drive's uuid filled in), creates and renews its Lease, and posts NotReady when the
//! machine powers off — against a small Kubernetes API double on loopback HTTPS that records what it
//! is sent. A kubeconfig naming a server off loopback is refused, and the guest says why.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use base64::Engine as _;
use metal_sim::fleet::Fleet;
use metal_sim::guest::{ConfigDrive, GuestSettings, Guests, KubeletState};
use metal_sim::machine::{SimClock, World};
use metal_testkit::wait::Wait;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const FLEET: &str = "\
seed: 9
time_scale: 0
layout: {mode: single-address, base: 127.0.0.1, redfish_port: 1, ipmi_port: 2}
guest:
  node_images: [\"/node.img\"]
groups:
  - name: g-{index}
    count: 2
    profile: small
";
const TOKEN: &str = "kubelet-token-1";

/// What the API double was sent: method, path, JSON body.
type Seen = Arc<Mutex<Vec<(String, String, Value)>>>;

async fn api(
    State(seen): State<Seen>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    if headers.get("authorization").and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {TOKEN}"))
    {
        return (StatusCode::UNAUTHORIZED, "{}".to_string());
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let path = uri.path().to_string();
    let leases_before = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(m, p, _)| m == "POST" && p.ends_with("/leases"))
        .count();
    seen.lock()
        .unwrap()
        .push((method.to_string(), path.clone(), body.clone()));
    let created = json!({"metadata": {"name": "node-a", "uid": "node-uid-1"}}).to_string();
    match (method.as_str(), path.as_str()) {
        ("POST", "/api/v1/nodes") => (StatusCode::CREATED, created),
        ("PATCH", p) if p.starts_with("/api/v1/nodes/") => (StatusCode::OK, created),
        // The Lease does not exist until the kubelet creates it.
        ("PATCH", p) if p.contains("/leases/") && leases_before == 0 => {
            (StatusCode::NOT_FOUND, "{}".into())
        }
        ("PATCH", p) if p.contains("/leases/") => (StatusCode::OK, "{}".into()),
        ("POST", p) if p.ends_with("/leases") => (StatusCode::CREATED, "{}".into()),
        _ => (StatusCode::NOT_FOUND, "{}".into()),
    }
}

fn kubeconfig(server: &str, ca_pem: &str) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: k\ncontexts:\n- name: k\n  context: {{cluster: c, user: u}}\n\
         clusters:\n- name: c\n  cluster:\n    server: {server}\n    certificate-authority-data: {}\n\
         users:\n- name: u\n  user:\n    token: {TOKEN}\n",
        b64(ca_pem)
    )
}

fn drive(kubeconfig: &str) -> ConfigDrive {
    let b64 = base64::engine::general_purpose::STANDARD.encode(kubeconfig);
    let user = format!(
        "## template: jinja\n#cloud-config\nwrite_files:\n- path: /etc/kubernetes/kubelet.conf\n  encoding: b64\n  \
         content: {b64}\n- path: /etc/default/kubelet\n  content: \"KUBELET_EXTRA_ARGS=--node-labels=metal3.io/uuid={{{{ ds.meta_data.uuid }}}}\"\n"
    );
    ConfigDrive::from_agent_argument(Some(&json!({
        "meta_data": {"uuid": "bmh-uid-7", "local-hostname": "Node-A"},
        "user_data": user,
    })))
    .expect("a config drive")
}

async fn wait_for<T>(what: &str, mut look: impl FnMut() -> Option<T>) -> T {
    Wait::new(what, Duration::from_secs(20))
        .every(Duration::from_millis(20))
        .until_async(|| {
            let found = look();
            async move {
                match found {
                    Some(v) => metal_testkit::wait::Check::Done(v),
                    None => metal_testkit::wait::Check::Pending("not yet".into()),
                }
            }
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn a_node_image_joins_the_cluster_its_user_data_names_and_leaves_at_power_off() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca = metal_tls::Authority::generate("guest test CA").unwrap();
    let leaf = ca.sign_server(&["127.0.0.1"], "api").unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let server = format!("https://{}", listener.local_addr().unwrap());
    let seen: Seen = Arc::default();
    let app = Router::new().fallback(api).with_state(Arc::clone(&seen));
    let stop = CancellationToken::new();
    let served = tokio::spawn(metal_guard::serve(
        listener,
        app,
        Some(Arc::new(leaf.server_config().unwrap())),
        metal_guard::Limits::default(),
        stop.clone().cancelled_owned(),
        None,
    ));

    let world: Arc<World> = Arc::new(
        Fleet::parse(FLEET, "g.yaml")
            .unwrap()
            .build_world(SimClock::start_now())
            .unwrap(),
    );
    let settings = GuestSettings {
        node_images: vec!["/node.img".into()],
        lease_renew: Duration::from_millis(50),
        ..GuestSettings::default()
    };
    let (guests, task) = Guests::spawn(Arc::clone(&world), settings, stop.child_token());
    let ticker = world.spawn_ticker(Duration::from_millis(5), stop.clone());

    // Host 0: the node image with a kubeconfig for the double; host 1: the same, off loopback.
    for (index, server) in [(0, server.as_str()), (1, "https://192.0.2.10:6443")] {
        let host = Arc::clone(&world.hosts()[index]);
        let config = drive(&kubeconfig(server, ca.ca_pem()));
        host.with_machine(world.now(), |m| {
            m.write_image_with(
                world.now(),
                0,
                "http://127.0.0.1:9/node.img",
                "sha256:0",
                Some(config),
            )
        })
        .unwrap();
        host.power_action(world.now(), |m| m.power_on(world.now()))
            .unwrap();
    }

    let node = wait_for("the Node registered", || {
        seen.lock()
            .unwrap()
            .iter()
            .find(|(m, p, _)| m == "POST" && p == "/api/v1/nodes")
            .map(|(_, _, b)| b.clone())
    })
    .await;
    assert_eq!(
        node["metadata"]["name"], "node-a",
        "the hostname, lower-cased"
    );
    assert_eq!(node["metadata"]["labels"]["metal3.io/uuid"], "bmh-uid-7");
    assert_eq!(
        node["metadata"]["labels"]["kubernetes.io/hostname"],
        "node-a"
    );
    let lease = wait_for(
        "the Lease created after its first renewal found none",
        || {
            seen.lock()
                .unwrap()
                .iter()
                .find(|(m, p, _)| m == "POST" && p.ends_with("/kube-node-lease/leases"))
                .map(|(_, _, b)| b.clone())
        },
    )
    .await;
    assert_eq!(lease["metadata"]["ownerReferences"][0]["uid"], "node-uid-1");
    wait_for("the kubelet running", || {
        matches!(guests.status(0)?.kubelet, KubeletState::Running { .. }).then_some(())
    })
    .await;
    wait_for("the Lease renewed", || {
        let renewals = seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(m, p, _)| m == "PATCH" && p.ends_with("/leases/node-a"))
            .count();
        (renewals >= 3).then_some(())
    })
    .await;

    let refused = wait_for("host 1's kubelet refused", || {
        match guests.status(1)?.kubelet {
            KubeletState::Refused { reason } => Some(reason),
            _ => None,
        }
    })
    .await;
    assert!(refused.contains("192.0.2.10"), "{refused}");

    world.hosts()[0]
        .power_action(world.now(), |m| m.force_off(world.now()))
        .unwrap();
    let last = wait_for("NotReady posted at power off", || {
        seen.lock()
            .unwrap()
            .iter()
            .rev()
            .find(|(m, p, _)| m == "PATCH" && p == "/api/v1/nodes/node-a/status")
            .map(|(_, _, b)| b.clone())
            .filter(|b| {
                b["status"]["conditions"].as_array().is_some_and(|c| {
                    c.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "False")
                })
            })
    })
    .await;
    assert_eq!(
        last["status"]["nodeInfo"]["osImage"],
        "http://127.0.0.1:9/node.img"
    );
    match guests.status(0).unwrap().kubelet {
        KubeletState::Stopped { node, reason } => {
            assert_eq!(node, "node-a");
            assert!(reason.contains("powered off"), "{reason}");
        }
        other => panic!("{other:?}"),
    }

    stop.cancel();
    ticker.await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap();
    let _ = served.await;
}
