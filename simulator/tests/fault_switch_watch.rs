//! The control plane's watch-disconnect switch (`/_sim/disconnect-watches`, simulator-only): a
//! cut ends every open watch stream; during the refusal window new watches get 503; a kube-rs
//! watcher backs off, re-watches and still sees every change; kubectl flips the switch with its
//! own credentials and its `get -w` sees its watch end.

mod support;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{Api, PostParams, WatchParams};
use kube::runtime::{WatchStreamExt as _, watcher};
use metal_sim::controlplane::{self, Options, Running};
use metal_testkit::kubectl::Kubectl;
use metal_testkit::wait::{Check, Wait};
use serde_json::Value;

async fn start() -> (Running, Client) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let options = Options::new(
        "127.0.0.1:0".parse().unwrap(),
        Arc::new(chrono::Utc::now),
        31,
    );
    let running = controlplane::start(options).await.unwrap();
    let client = metal_testkit::kube::client(&running.kubeconfig())
        .await
        .unwrap();
    (running, client)
}

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(serde_json::json!({"metadata": {"name": name}, "data": {"k": "v"}}))
        .unwrap()
}

async fn sim(client: &Client, method: &str, query: &str) -> (u16, Value) {
    let req = http::Request::builder()
        .method(method)
        .uri(format!("/_sim/disconnect-watches{query}"))
        .body(Vec::new())
        .unwrap();
    match client.request_text(req).await {
        Ok(text) => (200, serde_json::from_str(&text).unwrap()),
        Err(kube::Error::Api(s)) => (s.code, Value::Null),
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_ends_an_open_watch_stream_and_new_watches_are_refused_for_the_window() {
    let (running, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let rv = api
        .list(&Default::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut stream = api
        .watch(&WatchParams::default().timeout(290), &rv)
        .await
        .unwrap()
        .boxed();
    api.create(&PostParams::default(), &cm("before"))
        .await
        .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .unwrap();
    assert!(matches!(first, Some(Ok(_))), "{first:?}");

    let cut_at = std::time::Instant::now();
    let (code, body) = sim(&client, "POST", "?refuseSeconds=3").await;
    assert_eq!(code, 200);
    assert!(body["disconnected"].as_u64().unwrap() >= 1, "{body}");
    assert_eq!(body["disconnects"], 1);
    let end = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("the stream must end after the cut");
    assert!(end.is_none(), "the stream ended: {end:?}");
    let (_, shown) = sim(&client, "GET", "").await;
    assert_eq!(shown["refusing"], true);
    // Listing still works; only watches are refused.
    assert_eq!(api.list(&Default::default()).await.unwrap().items.len(), 1);

    // kube-rs retries the 503s of a refused watch with backoff: the watch opens only once the
    // window is over, and then replays what happened since `rv`.
    let mut again = tokio::time::timeout(
        Duration::from_secs(30),
        api.watch(&WatchParams::default().timeout(290), &rv),
    )
    .await
    .expect("the watch opens after the window")
    .unwrap()
    .boxed();
    let waited = cut_at.elapsed();
    assert!(
        waited >= Duration::from_millis(2500),
        "the watch was refused until the 3 s window ended (opened after {waited:?})"
    );
    let replayed = tokio::time::timeout(Duration::from_secs(10), again.next())
        .await
        .unwrap();
    assert!(
        matches!(replayed, Some(Ok(_))),
        "after the window watches work again: {replayed:?}"
    );
    assert_eq!(running.state.open_watches(), 1);
    let (_, body) = sim(&client, "POST", "?refuseSeconds=600").await;
    assert_eq!(body["disconnected"], 1);
    let (code, _) = sim(&client, "DELETE", "").await;
    assert_eq!(code, 200);
    let (_, shown) = sim(&client, "GET", "").await;
    assert_eq!(shown["refusing"], false, "DELETE ends the window early");
    let (code, _) = sim(&client, "POST", "?refuseSeconds=forever").await;
    assert_eq!(code, 400, "a bad window is refused");
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kube_watcher_recovers_from_a_cut_and_sees_changes_made_while_refused() {
    let (running, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let client_for_watch = client.clone();
    // The watcher runs in its own task (it only opens its watch while polled) and reports what
    // it applies; errors (the refused re-watches) are retried by its backoff.
    let (tx, mut seen) = tokio::sync::mpsc::unbounded_channel::<Result<String, String>>();
    let consumer = tokio::spawn(async move {
        let mut stream = watcher(api_for_watch(&client_for_watch), watcher::Config::default())
            .default_backoff()
            .applied_objects()
            .boxed();
        while let Some(item) = stream.next().await {
            let sent = match item {
                Ok(obj) => tx.send(Ok(obj.metadata.name.unwrap_or_default())),
                Err(e) => tx.send(Err(e.to_string())),
            };
            if sent.is_err() {
                return;
            }
        }
    });
    api.create(&PostParams::default(), &cm("first"))
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(20), seen.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, Ok("first".to_string()));
    Wait::new("the watcher to open its watch", Duration::from_secs(5))
        .every(Duration::from_millis(50))
        .until(|| Check::from(running.state.open_watches() >= 1))
        .await
        .unwrap();

    let (code, body) = sim(&client, "POST", "?refuseSeconds=1").await;
    assert_eq!(code, 200);
    assert_eq!(body["disconnected"], 1, "the watcher's one stream was open");
    // Made while the watcher cannot watch: it must still see it once it is back.
    api.create(&PostParams::default(), &cm("during"))
        .await
        .unwrap();
    let mut names = Vec::new();
    let during = tokio::time::timeout(Duration::from_secs(30), async {
        while !names.iter().any(|n| n == "during") {
            match seen.recv().await {
                Some(Ok(name)) => names.push(name),
                // A re-watch refused inside the window: the backoff retries it.
                Some(Err(_)) => {}
                None => panic!("the watcher stream ended"),
            }
        }
    })
    .await;
    assert!(
        during.is_ok(),
        "no event for the object made during the window; saw {names:?}"
    );
    api.create(&PostParams::default(), &cm("after"))
        .await
        .unwrap();
    let after = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Some(Ok(name)) = seen.recv().await
                && name == "after"
            {
                return;
            }
        }
    })
    .await;
    assert!(after.is_ok(), "the watcher keeps watching after the window");
    assert_eq!(running.state.watch_disconnects(), 1);
    consumer.abort();
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_flips_the_switch_and_its_watch_is_cut() {
    let Some(kubectl) = support::peer("kubectl") else {
        return;
    };
    let (running, _client) = start().await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    running.write_kubeconfig(&kubeconfig).unwrap();
    let mut watch = tokio::process::Command::new(&kubectl)
        .args([
            "get",
            "configmaps",
            "-n",
            "default",
            "--watch",
            "--request-timeout=0",
        ])
        .env("KUBECONFIG", &kubeconfig)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Wait until kubectl's watch is open (the switch reports open streams).
    Wait::new("kubectl to open its watch", Duration::from_secs(10))
        .every(Duration::from_millis(100))
        .until(|| Check::from(running.state.open_watches() >= 1))
        .await
        .unwrap();
    let body = dir.path().join("empty.json");
    std::fs::write(&body, "{}").unwrap();
    let flipped = Kubectl::new(&kubeconfig)
        .program(&kubectl)
        .output(
            &[
                "create",
                "--raw",
                "/_sim/disconnect-watches?refuseSeconds=1",
                "-f",
                body.to_str().unwrap(),
            ],
            None,
        )
        .await
        .unwrap();
    assert!(flipped.status.success(), "{flipped:?}");
    let answer: Value = serde_json::from_slice(&flipped.stdout).unwrap();
    assert_eq!(answer["disconnected"], 1, "{answer}");
    let ended = tokio::time::timeout(Duration::from_secs(30), watch.wait()).await;
    assert!(
        ended.is_ok(),
        "kubectl get --watch did not see its watch end"
    );
    assert_eq!(running.state.watch_disconnects(), 1);
    running.shutdown().await.unwrap();
}

fn api_for_watch(client: &Client) -> Api<ConfigMap> {
    Api::namespaced(client.clone(), "default")
}
