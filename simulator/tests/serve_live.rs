//! The live fleet view's HTTP shell, driven in-process: the page and its policy, the event
//! stream's first events, a fault set through the control API reaching the stream, and the cap
//! on open streams.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, BodyDataStream};
use axum::http::{Request, StatusCode, header};
use futures::StreamExt as _;
use metal_sim::agent::HeartbeatSwitch;
use metal_sim::fleet::Fleet;
use metal_sim::machine::{SimClock, World};
use metal_sim::serve::control::fleet_app;
use metal_sim::serve::live::MAX_STREAMS;
use metal_sim::serve::live::stream::StreamSettings;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

const FLEET: &str = "\
seed: 4
time_scale: 100
layout: {base: 127.0.77.1}
groups:
  - name: lv-{index}
    count: 3
";

fn world() -> Arc<World> {
    Arc::new(
        Fleet::parse(FLEET, "lv.yaml")
            .unwrap()
            .build_world(SimClock::start_now())
            .unwrap(),
    )
}

fn app(world: &Arc<World>) -> axum::Router {
    let settings = StreamSettings {
        period: Duration::from_millis(20),
        max_rows: 1000,
        // Only events and the control API's hints: what this file checks.
        sweep: 0,
    };
    fleet_app(
        Arc::clone(world),
        HeartbeatSwitch::default(),
        None,
        None,
        settings,
        CancellationToken::new(),
    )
}

fn get(uri: &str) -> Request<Body> {
    Request::builder().uri(uri).body(Body::empty()).unwrap()
}

/// The next SSE event (`event:` name and `data:` JSON) from `body`, waiting at most 10 s.
async fn next_event(body: &mut BodyDataStream, buffer: &mut String) -> (String, serde_json::Value) {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                let field = |name: &str| {
                    block
                        .lines()
                        .find_map(|l| l.strip_prefix(name).map(str::trim).map(str::to_string))
                };
                if let (Some(event), Some(data)) = (field("event:"), field("data:")) {
                    return (event, serde_json::from_str(&data).unwrap());
                }
                continue;
            }
            let chunk = body.next().await.expect("stream open").unwrap();
            buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    })
    .await
    .expect("an event within 10 s")
}

#[tokio::test]
async fn the_page_is_html_under_a_policy_that_allows_only_its_own_style_script_and_origin() {
    let world = world();
    let resp = app(&world).oneshot(get("/ui")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let h = resp.headers();
    assert_eq!(h[header::CONTENT_TYPE], "text/html; charset=utf-8");
    let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("connect-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe"), "{csp}");
}

#[tokio::test]
async fn the_stream_starts_with_every_machine_and_carries_a_fault_set_through_the_control_api() {
    let world = world();
    let app = app(&world);
    let resp = app.clone().oneshot(get("/events")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "text/event-stream");
    let mut body = resp.into_body().into_data_stream();
    let mut buffer = String::new();
    let (event, data) = next_event(&mut body, &mut buffer).await;
    assert_eq!(event, "snapshot");
    let names: Vec<&str> = data["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["lv-0", "lv-1", "lv-2"]);

    let post = Request::builder()
        .method("POST")
        .uri("/hosts/lv-2/faults")
        .header("content-type", "application/json")
        .body(Body::from(r#"{"unreachable_now": true}"#))
        .unwrap();
    assert_eq!(
        app.clone().oneshot(post).await.unwrap().status(),
        StatusCode::OK
    );
    let (event, data) = next_event(&mut body, &mut buffer).await;
    assert_eq!(event, "rows");
    assert_eq!(data["rows"][0]["name"], "lv-2");
    assert_eq!(data["rows"][0]["faults"][0], "BMC unreachable");

    let delete = Request::builder()
        .method("DELETE")
        .uri("/hosts/lv-2/faults")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        app.oneshot(delete).await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    let (_, data) = next_event(&mut body, &mut buffer).await;
    assert_eq!(data["rows"][0]["faults"], serde_json::json!([]));
}

#[tokio::test]
async fn one_stream_more_than_the_cap_is_refused_and_a_closed_one_frees_its_place() {
    let world = world();
    let app = app(&world);
    let mut open = Vec::new();
    for _ in 0..MAX_STREAMS {
        let resp = app.clone().oneshot(get("/events")).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        open.push(resp);
    }
    let refused = app.clone().oneshot(get("/events")).await.unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    drop(open.pop());
    let again = app.oneshot(get("/events")).await.unwrap();
    assert_eq!(again.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_fleet_stops_promptly_while_a_page_follows_its_events() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let fleet = "seed: 4\ntime_scale: 100\n\
                 layout: {mode: single-address, base: 127.0.77.1, redfish_port: 18770}\n\
                 groups:\n  - name: stop-{index}\n    count: 2\n";
    let world = Arc::new(
        Fleet::parse(fleet, "stop.yaml")
            .unwrap()
            .build_world(SimClock::start_now())
            .unwrap(),
    );
    let options = metal_sim::serve::ServeOptions {
        control: "127.0.77.1:0".parse().unwrap(),
        ..Default::default()
    };
    let running = metal_sim::serve::start(world, options).await.unwrap();
    let mut page = tokio::net::TcpStream::connect(running.control())
        .await
        .unwrap();
    page.write_all(b"GET /events HTTP/1.1\r\nHost: 127.0.77.1\r\n\r\n")
        .await
        .unwrap();
    let mut seen = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        while !String::from_utf8_lossy(&seen).contains("event: snapshot") {
            let mut chunk = [0u8; 4096];
            let n = page.read(&mut chunk).await.unwrap();
            assert!(n > 0, "stream closed early");
            seen.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .expect("a snapshot within 10 s");
    // The page stays open; stopping the fleet must not wait for it to go.
    tokio::time::timeout(Duration::from_secs(5), running.shutdown())
        .await
        .expect("stopped within 5 s with a page open")
        .unwrap();
}
