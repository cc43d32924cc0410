//! `metal-operator run` as a real process against the mocked API server: it serves probes and
//! metrics, takes the Lease, reconciles a host, and on SIGTERM exits cleanly, releasing the Lease.

mod controller_support;

use std::process::{Command, Stdio};
use std::time::Duration;

use controller_support::FakeApiServer;
use controller_support::world::{NS, host, secret};
use metal_testkit::ports::free_port;
use metal_testkit::wait::{Check, Wait};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A plain HTTP/1.0 GET on loopback: (status code, body).
async fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf))
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let code = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((code, body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_serves_probes_takes_the_lease_reconciles_and_releases_the_lease_on_sigterm() {
    let api = FakeApiServer::start().await;
    api.upsert("secrets", secret("bmc-bin", "admin", "pw"));
    api.upsert("baremetalhosts", host("bin-host", "bmc-bin"));
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\nusers:\n- name: u\n  user: {{}}\ncontexts:\n- name: c\n  context:\n    cluster: fake\n    user: u\n    namespace: {NS}\ncurrent-context: c\n",
            api.url
        ),
    )
    .unwrap();
    let (metrics_port, health_port, ironic_port) = (free_port(), free_port(), free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_metal-operator"))
        .env_clear()
        .env("KUBECONFIG", &kubeconfig)
        .args([
            "run",
            "--watch-namespace",
            NS,
            "--leader-elect",
            "--lease-namespace",
            NS,
        ])
        .args([
            "--lease-identity",
            "replica-a",
            "--lease-retry-period-seconds",
            "1",
            "--log-format",
            "json",
        ])
        .args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}")])
        .args(["--health-addr", &format!("127.0.0.1:{health_port}")])
        // Nothing listens there: the provisioner is unavailable, which the operator must survive.
        .args([
            "--ironic-endpoint",
            &format!("http://127.0.0.1:{ironic_port}"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start metal-operator");

    let healthy = Wait::new("/readyz to answer 200", Duration::from_secs(20))
        .every(Duration::from_millis(100))
        .until_async(|| async {
            match get(health_port, "/readyz").await {
                Some((200, _)) => Check::Done(()),
                other => Check::Pending(format!("{other:?}")),
            }
        })
        .await;
    let led = api
        .wait_until(Duration::from_secs(20), |api| {
            api.get("leases", NS, "baremetal-operator")
                .is_some_and(|l| l["spec"]["holderIdentity"] == "replica-a")
        })
        .await;
    let finalized = api
        .wait_until(Duration::from_secs(20), |api| {
            api.get("baremetalhosts", NS, "bin-host").is_some_and(|h| {
                h["metadata"]["finalizers"]
                    .as_array()
                    .is_some_and(|f| f.iter().any(|x| x == "baremetalhost.metal3.io"))
            })
        })
        .await;
    let health = get(health_port, "/healthz").await;
    let metrics = get(metrics_port, "/metrics").await;

    let pid = child.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("send SIGTERM");
    assert!(killed.success());
    let status = Wait::new(
        "metal-operator to exit after SIGTERM",
        Duration::from_secs(15),
    )
    .every(Duration::from_millis(50))
    .until(|| match child.try_wait().unwrap() {
        Some(status) => Check::Done(status),
        None => Check::Pending("running".into()),
    })
    .await;
    if status.is_err() {
        let _ = child.kill();
    }
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let context = format!("stdout:\n{stdout}\nstderr:\n{stderr}");

    if let Err(e) = healthy {
        panic!("{e}\n{context}");
    }
    assert!(led, "lease not taken\n{context}");
    assert!(finalized, "host never got the finalizer\n{context}");
    assert_eq!(health.map(|(c, _)| c), Some(200), "{context}");
    let (code, text) = metrics.expect("metrics answered");
    assert_eq!(code, 200);
    assert!(
        text.contains("metal3_reconcile_total{namespace=\"metal3\",host=\"bin-host\"}"),
        "{text}"
    );
    let status = status.unwrap_or_else(|e| panic!("{e}\n{context}"));
    assert!(status.success(), "exit status {status:?}\n{context}");
    let lease = api.get("leases", NS, "baremetal-operator").unwrap();
    assert!(
        lease["spec"]["holderIdentity"].is_null(),
        "lease released on exit: {lease}"
    );
    let json_lines = stdout
        .lines()
        .filter(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
        .count();
    assert!(
        json_lines > 0 && json_lines == stdout.lines().count(),
        "--log-format json gives one JSON object per line\n{context}"
    );
}
