//! The webhook as `metal-operator run` starts it, in-process on 127.0.0.1 port 0: a generated CA,
//! the CA file a harness registers the webhook with (`url` + `caBundle`, as envtest does), HTTPS
//! that only a client trusting that CA can speak to, and the `caBundle` patch of a
//! ValidatingWebhookConfiguration on a small fake API server, with readiness held until it lands.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use metal_operator::telemetry::{Metrics, Readiness};
use metal_operator::webhook::{
    self, CertificateSource, Serving, Target, WebhookSettings, WebhookState, serving_names,
};
use metal_testkit::hosts::Bmh;
use metal_testkit::wait::{Check, Wait};
use serde_json::{Value, json};
use tokio::sync::oneshot;

const CONFIGURATION: &str = "metal-operator";
const CONFIGURATION_PATH: &str =
    "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/metal-operator";

fn review_body() -> String {
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "tls-1",
            "kind": {"group": "metal3.io", "version": "v1alpha1", "kind": "BareMetalHost"},
            "resource": {"group": "metal3.io", "version": "v1alpha1", "resource": "baremetalhosts"},
            "name": "worker-0",
            "namespace": "metal3",
            "operation": "CREATE",
            "userInfo": {"username": "kubernetes-admin"},
            "object": Bmh::new("worker-0")
                .namespace("metal3")
                .bmc("foo://192.0.2.10", "bmc")
                .without("/spec/online")
                .json(),
        },
    })
    .to_string()
}

/// A reqwest client trusting exactly the certificates in `ca_pem` (none: trusts nothing).
fn client_trusting(ca_pem: &str) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// A kube client for `url` (plain HTTP: the fake API server; never dialled when unused).
fn kube_client(url: &str) -> kube::Client {
    kube::Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap()
}

async fn start(
    ca_file: &Path,
    configuration: Option<&str>,
    api: &str,
    readiness: &Readiness,
) -> (Serving, oneshot::Sender<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let settings = WebhookSettings {
        certificate: CertificateSource::Generate {
            names: serving_names(Some("metal-operator-webhook"), "metal3-system", &[]),
        },
        configuration: configuration.map(str::to_owned),
        ca_file: Some(ca_file.to_owned()),
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = webhook::start(
        settings,
        listener,
        WebhookState {
            metrics: Metrics::new(),
        },
        kube_client(api),
        readiness.clone(),
        async move {
            let _ = stopped.await;
        },
    )
    .await
    .unwrap();
    (serving, stop)
}

async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    Wait::new(what, Duration::from_secs(20))
        .until(|| Check::from(condition()))
        .await
        .unwrap();
}

async fn post_review(client: &reqwest::Client, address: SocketAddr) -> reqwest::Result<Value> {
    let url = format!("https://{address}{}", Target::BareMetalHost.path());
    client
        .post(url)
        .header("content-type", "application/json")
        .body(review_body())
        .send()
        .await?
        .error_for_status()?
        .json()
        .await
}

#[tokio::test]
async fn the_webhook_answers_over_https_to_a_client_trusting_the_ca_it_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("webhook-ca.pem");
    let readiness = Readiness::default();
    let (serving, stop) = start(&ca_file, None, "http://127.0.0.1:9", &readiness).await;
    assert!(serving.address.ip().is_loopback());
    assert_ne!(serving.address.port(), 0, "the bound port is reported");
    // Without a configuration to patch, the webhook gate opens once the server listens.
    assert_eq!(readiness.waiting_for(), Some("the first host list"));

    let ca = std::fs::read_to_string(&ca_file).unwrap();
    let answer = post_review(&client_trusting(&ca), serving.address)
        .await
        .unwrap();
    assert_eq!(answer["response"]["uid"], "tls-1");
    assert_eq!(answer["response"]["allowed"], false);
    assert!(
        answer["response"]["status"]["message"]
            .as_str()
            .unwrap()
            .contains("spec.bmc.address: Invalid value: \"foo://192.0.2.10\""),
        "{answer}"
    );

    // A client that does not trust the generated CA cannot talk to it.
    let untrusting = post_review(&client_trusting(""), serving.address).await;
    assert!(untrusting.is_err_and(|e| e.is_connect()));

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), serving.task)
        .await
        .expect("the server stops on shutdown")
        .unwrap()
        .unwrap();
}

/// What the fake API server holds and saw.
#[derive(Default)]
struct Fake {
    configuration: Option<Value>,
    requests: Vec<(Method, String)>,
}

type Shared = Arc<Mutex<Fake>>;

async fn api(
    State(fake): State<Shared>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut fake = fake.lock().unwrap();
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    fake.requests.push((method.clone(), content_type.clone()));
    let not_found = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
        "reason": "NotFound", "code": 404, "message": "not found"});
    let Some(current) = fake.configuration.clone() else {
        return (StatusCode::NOT_FOUND, axum::Json(not_found)).into_response();
    };
    if method == Method::GET {
        return axum::Json(current).into_response();
    }
    assert_eq!(content_type, "application/json-patch+json");
    let patch: json_patch::Patch = serde_json::from_slice(&body).unwrap();
    let mut next = current;
    json_patch::patch(&mut next, &patch).unwrap();
    fake.configuration = Some(next.clone());
    axum::Json(next).into_response()
}

async fn fake_api_server(fake: Shared) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new()
        .route(CONFIGURATION_PATH, axum::routing::get(api).patch(api))
        .with_state(fake);
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

fn configuration() -> Value {
    let webhook = |name: &str, path: &str| {
        json!({
            "name": name,
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "failurePolicy": "Fail",
            "clientConfig": {"service": {"name": "metal-operator-webhook", "namespace": "metal3-system", "path": path}},
        })
    };
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": CONFIGURATION, "resourceVersion": "1"},
        "webhooks": Target::ALL.iter().enumerate()
            .map(|(i, t)| webhook(&format!("w{i}.metal3.io"), t.path()))
            .collect::<Vec<_>>(),
    })
}

#[tokio::test]
async fn the_generated_ca_is_patched_into_every_webhook_before_readiness_is_released() {
    let fake: Shared = Arc::default();
    let url = fake_api_server(fake.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("webhook-ca.pem");
    let readiness = Readiness::default();
    readiness.set_ready();
    // The configuration is not applied yet: the operator keeps trying and stays unready.
    let (serving, _stop) = start(&ca_file, Some(CONFIGURATION), &url, &readiness).await;
    eventually("a first attempt", || {
        !fake.lock().unwrap().requests.is_empty()
    })
    .await;
    assert_eq!(
        readiness.waiting_for(),
        Some("the admission webhook to serve")
    );

    fake.lock().unwrap().configuration = Some(configuration());
    eventually("readiness", || readiness.is_ready()).await;

    let ca = std::fs::read_to_string(&ca_file).unwrap();
    let stored = fake.lock().unwrap().configuration.clone().unwrap();
    let bundles: Vec<String> = stored["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            let encoded = w["clientConfig"]["caBundle"].as_str().unwrap();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .unwrap();
            String::from_utf8(bytes).unwrap()
        })
        .collect();
    assert_eq!(bundles, [ca.clone(), ca.clone(), ca.clone()]);
    // The other fields of each webhook are untouched.
    assert_eq!(
        stored["webhooks"][1]["clientConfig"]["service"]["path"],
        Target::HostClaim.path()
    );

    // The API server's view: trusting the caBundle it was given, the call succeeds.
    let answer = post_review(&client_trusting(&bundles[0]), serving.address)
        .await
        .unwrap();
    assert_eq!(answer["response"]["uid"], "tls-1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metal_operator_run_serves_the_webhook_on_the_address_it_logs() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    // Nothing listens there: the controllers wait for the API server; the webhook serves anyway.
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: none\n  cluster:\n    server: http://127.0.0.1:9\nusers:\n- name: u\n  user: {}\ncontexts:\n- name: c\n  context:\n    cluster: none\n    user: u\ncurrent-context: c\n",
    )
    .unwrap();
    let ca_file = dir.path().join("ca.pem");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_metal-operator"))
        .env_clear()
        .env("KUBECONFIG", &kubeconfig)
        .env("WEBHOOK_CA_FILE", &ca_file)
        .args([
            "run",
            "--log-format",
            "json",
            "--webhook-addr",
            "127.0.0.1:0",
        ])
        .args([
            "--metrics-addr",
            "127.0.0.1:0",
            "--health-addr",
            "127.0.0.1:0",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let address: SocketAddr = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let line = lines
                .next_line()
                .await
                .unwrap()
                .expect("the operator exited");
            let entry: Value = serde_json::from_str(&line).unwrap_or_default();
            if entry["message"] == "webhook serving" {
                break entry["address"].as_str().unwrap().parse().unwrap();
            }
        }
    })
    .await
    .expect("a `webhook serving` log line");
    assert!(address.ip().is_loopback() && address.port() != 0);
    eventually("the CA file", || ca_file.exists()).await;
    let ca = std::fs::read_to_string(&ca_file).unwrap();
    let answer = post_review(&client_trusting(&ca), address).await.unwrap();
    assert_eq!(answer["response"]["uid"], "tls-1");

    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("the operator exits on SIGTERM")
        .unwrap();
}

#[tokio::test]
async fn a_certificate_directory_serves_as_it_is_and_its_ca_crt_is_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    std::fs::write(dir.path().join("tls.crt"), cert.pem()).unwrap();
    std::fs::write(dir.path().join("tls.key"), key.serialize_pem()).unwrap();
    let ca_file = dir.path().join("copied-ca.pem");
    let settings = |ca_file: &Path| WebhookSettings {
        certificate: CertificateSource::Directory(dir.path().to_owned()),
        configuration: None,
        ca_file: Some(ca_file.to_owned()),
    };
    let listen = || std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let state = || WebhookState {
        metrics: Metrics::new(),
    };
    let readiness = Readiness::default();
    // Without ca.crt there is no CA to write: refused before serving.
    let refused = webhook::start(
        settings(&ca_file),
        listen(),
        state(),
        kube_client("http://127.0.0.1:9"),
        readiness.clone(),
        std::future::pending(),
    )
    .await;
    let error = refused.err().expect("no CA to copy");
    assert!(error.to_string().contains("without ca.crt"), "{error}");

    std::fs::write(dir.path().join("ca.crt"), ca.pem()).unwrap();
    let serving = webhook::start(
        settings(&ca_file),
        listen(),
        state(),
        kube_client("http://127.0.0.1:9"),
        readiness.clone(),
        std::future::pending(),
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read_to_string(&ca_file).unwrap(), ca.pem());
    let answer = post_review(&client_trusting(&ca.pem()), serving.address)
        .await
        .unwrap();
    assert_eq!(answer["response"]["uid"], "tls-1");
}
