//! Benchmarks (run by scripts/bench-ironic.sh; ignored in `make test`): `wrk -t1 -c8 -d10s` on
//! GET /v1/nodes (10 nodes, latest) and one fake-hardware node's full lifecycle, mock vs real Ironic.
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
    // One line for scripts/bench-ironic.sh's summary row.
    println!(
        "IRONIC_BENCH mock_rps={mock_rps:.0} real_rps={real_rps:.0} mock_life_s={:.3} real_life_s={:.3}",
        mock_life.as_secs_f64(),
        real_life.as_secs_f64()
    );
    assert!(mock_rps > 0.0 && real_rps > 0.0, "wrk produced no figures");
}
