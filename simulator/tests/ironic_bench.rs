//! Benchmarks (run by scripts/bench-ironic.sh; ignored in `make test`): `wrk -t1 -c8 -d10s` on
//! GET /v1/nodes (10 nodes, latest), one fake-hardware node's full lifecycle, and paged listing
//! throughput with 1 000 nodes and 5 000 ports (every page of `/v1/nodes` and `/v1/ports` at
//! `limit=100`, following `next`, three rounds), mock vs real Ironic, one client.
//!
//! The mock is the one at `IRONIC_BENCH_MOCK_URL` when that is set (the script starts the release
//! `metal-sim serve --ironic`, whose conductor runs at real Ironic's measured fake-hardware
//! timings); otherwise an in-process mock with no simulated delays, in this test's build profile.

#[path = "ironic_real/mod.rs"]
mod ironic_real;
mod support;

use metal_sim::ironic::conductor::Timings;
use metal_testkit::wait::{Check, Wait};
use serde_json::{Value, json};
use std::process::Command;
use std::time::{Duration, Instant};

async fn send(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: Option<Value>,
) -> Value {
    let mut req = http
        .request(method, url)
        .header("X-OpenStack-Ironic-API-Version", "latest");
    if let Some(b) = body {
        req = req.json(&b);
    }
    let text = req
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("body");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Drives one node enroll → manageable → available → active → available; returns the wall time.
async fn lifecycle(http: &reqwest::Client, base: &str, name: &str) -> Duration {
    let start = Instant::now();
    send(
        http,
        reqwest::Method::POST,
        format!("{base}/v1/nodes"),
        Some(json!({"driver": "fake-hardware", "name": name})),
    )
    .await;
    for (target, want) in [
        ("manage", "manageable"),
        ("provide", "available"),
        ("active", "active"),
        ("deleted", "available"),
    ] {
        send(
            http,
            reqwest::Method::PUT,
            format!("{base}/v1/nodes/{name}/states/provision"),
            Some(json!({"target": target})),
        )
        .await;
        Wait::new(
            format!("{base}: {name} to reach {want}"),
            Duration::from_secs(30),
        )
        .every(Duration::from_millis(5))
        .until_async(|| async {
            let n = send(
                http,
                reqwest::Method::GET,
                format!("{base}/v1/nodes/{name}"),
                None,
            )
            .await;
            if n["provision_state"] == want
                && n["target_provision_state"].is_null()
                && n["reservation"].is_null()
            {
                Check::Done(())
            } else {
                Check::Pending(n.to_string())
            }
        })
        .await
        .unwrap();
    }
    start.elapsed()
}

/// Nodes and ports the paged-listing figure lists (beside the ten already there).
const PAGED_NODES: usize = 1_000;
const PORTS_PER_NODE: usize = 5;
/// Page size of the paged-listing figure.
const PAGE: usize = 100;
/// Rounds of the paged-listing figure.
const ROUNDS: usize = 3;

/// Creates `PAGED_NODES` nodes with `PORTS_PER_NODE` ports each, eight requests at a time.
async fn populate(http: &reqwest::Client, base: &str) {
    let mut bodies = Vec::new();
    for i in 0..PAGED_NODES {
        let uuid = format!("00000000-0000-4000-8000-{i:012}");
        bodies.push((
            "nodes",
            json!({"driver": "fake-hardware", "name": format!("p{i}"), "uuid": uuid}),
        ));
    }
    for i in 0..PAGED_NODES {
        for p in 0..PORTS_PER_NODE {
            let mac = format!(
                "52:54:{:02x}:{:02x}:{:02x}:{p:02x}",
                i >> 16,
                (i >> 8) & 0xff,
                i & 0xff
            );
            let node = format!("00000000-0000-4000-8000-{i:012}");
            bodies.push(("ports", json!({"node_uuid": node, "address": mac})));
        }
    }
    // Nodes first (ports name them), then ports.
    let (nodes, ports): (Vec<_>, Vec<_>) = bodies.into_iter().partition(|(k, _)| *k == "nodes");
    for batch in [nodes, ports] {
        for chunk in batch.chunks(8) {
            let mut set = tokio::task::JoinSet::new();
            for (kind, body) in chunk.iter().cloned() {
                let (http, url) = (http.clone(), format!("{base}/v1/{kind}"));
                set.spawn(async move { send(&http, reqwest::Method::POST, url, Some(body)).await });
            }
            while let Some(done) = set.join_next().await {
                let created = done.expect("create");
                assert!(created["uuid"].is_string(), "create refused: {created}");
            }
        }
    }
}

/// Lists every page of `/v1/nodes` and `/v1/ports` (`limit=PAGE`, following `next`) `ROUNDS`
/// times; items listed per second.
async fn paged_listing(http: &reqwest::Client, base: &str) -> f64 {
    let start = Instant::now();
    let mut items = 0usize;
    for _ in 0..ROUNDS {
        for collection in ["nodes", "ports"] {
            let mut url = Some(format!("{base}/v1/{collection}?limit={PAGE}"));
            // Bounded: at most one page per item, plus one.
            for _ in 0..=(PAGED_NODES * (PORTS_PER_NODE + 1)) {
                let Some(u) = url.take() else { break };
                let page = send(http, reqwest::Method::GET, u, None).await;
                items += page[collection].as_array().map_or(0, Vec::len);
                url = page["next"].as_str().map(str::to_string);
            }
        }
    }
    items as f64 / start.elapsed().as_secs_f64()
}

fn wrk(url: &str) -> f64 {
    let Some(wrk) = support::peer("wrk") else {
        return 0.0;
    };
    let out = Command::new(wrk)
        .args([
            "-t1",
            "-c8",
            "-d10s",
            "-H",
            "X-OpenStack-Ironic-API-Version: latest",
            &format!("{url}/v1/nodes"),
        ])
        .output()
        .expect("wrk");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    println!("{text}");
    text.lines()
        .find_map(|l| {
            l.strip_prefix("Requests/sec:")
                .map(|v| v.trim().parse::<f64>().unwrap_or(0.0))
        })
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run scripts/bench-ironic.sh"]
async fn bench_mock_against_real_ironic() {
    let (real, mock, server, mock_label) = match std::env::var("IRONIC_BENCH_MOCK_URL") {
        Ok(url) => {
            assert!(
                url.starts_with("http://127.") || url.starts_with("http://localhost"),
                "benchmarks target loopback only: {url}"
            );
            let _ = rustls::crypto::ring::default_provider().install_default();
            let Some(real) = tokio::task::spawn_blocking(|| ironic_real::start(false))
                .await
                .expect("start real Ironic")
            else {
                return;
            };
            let label = "mock Ironic (metal-sim serve, fake-hardware timings)";
            (real, url.trim_end_matches('/').to_owned(), None, label)
        }
        Err(_) => {
            let Some((real, mock, server)) =
                ironic_real::start_real_and_mock(Timings::instant(), 3).await
            else {
                return;
            };
            let label = if cfg!(debug_assertions) {
                "mock Ironic (in-process, debug build, no simulated delays)"
            } else {
                "mock Ironic (in-process, release build, no simulated delays)"
            };
            (real, mock, Some(server), label)
        }
    };
    let http = reqwest::Client::new();

    let mock_life = lifecycle(&http, &mock, "life").await;
    let real_life = lifecycle(&http, real.url(), "life").await;
    for base in [mock.as_str(), real.url()] {
        // "life" is already one node; nine more make ten.
        for i in 0..9 {
            send(
                &http,
                reqwest::Method::POST,
                format!("{base}/v1/nodes"),
                Some(json!({"driver": "fake-hardware", "name": format!("b{i}")})),
            )
            .await;
        }
    }
    let real_rps = {
        let u = real.url().to_owned();
        tokio::task::spawn_blocking(move || wrk(&u))
            .await
            .expect("wrk real")
    };
    let mock_rps = {
        let u = mock.clone();
        tokio::task::spawn_blocking(move || wrk(&u))
            .await
            .expect("wrk mock")
    };
    let populate_start = Instant::now();
    populate(&http, &mock).await;
    populate(&http, real.url()).await;
    println!(
        "populated both in {:.1} s",
        populate_start.elapsed().as_secs_f64()
    );
    let real_paged = paged_listing(&http, real.url()).await;
    let mock_paged = paged_listing(&http, &mock).await;
    if let Some(server) = server {
        server.abort();
    }
    drop(real);
    let ratio = if real_rps > 0.0 {
        mock_rps / real_rps
    } else {
        f64::NAN
    };
    println!("| measurement | {mock_label} | real Ironic 39.0.0 | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| GET /v1/nodes, 10 nodes, latest, wrk -t1 -c8 -d10s | {mock_rps:.0} req/s | {real_rps:.0} req/s | {ratio:.1}x |"
    );
    println!(
        "| one fake-hardware node enroll→active→available | {:.3} s | {:.3} s | {:.1}x |",
        mock_life.as_secs_f64(),
        real_life.as_secs_f64(),
        real_life.as_secs_f64() / mock_life.as_secs_f64().max(1e-6)
    );
    println!(
        "| paged listing, {PAGED_NODES} nodes + {} ports, limit={PAGE}, {ROUNDS} rounds | {mock_paged:.0} items/s | {real_paged:.0} items/s | {:.1}x |",
        PAGED_NODES * PORTS_PER_NODE,
        mock_paged / real_paged.max(1e-9)
    );
    // One line for scripts/bench-ironic.sh's summary row.
    println!(
        "IRONIC_BENCH mock_rps={mock_rps:.0} real_rps={real_rps:.0} mock_life_s={:.3} real_life_s={:.3} mock_paged={mock_paged:.0} real_paged={real_paged:.0}",
        mock_life.as_secs_f64(),
        real_life.as_secs_f64()
    );
    assert!(mock_rps > 0.0 && real_rps > 0.0, "wrk produced no figures");
    assert!(
        mock_paged > 0.0 && real_paged > 0.0,
        "the paged listing listed nothing"
    );
}
