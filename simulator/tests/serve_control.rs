//! The control API, driven in-process with `tower::ServiceExt::oneshot`.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use metal_sim::fault::{FaultKind, Verdict};
use metal_sim::fleet::Fleet;
use metal_sim::machine::{PowerState, SimClock, World};
use metal_sim::serve::control::app;
use tower::ServiceExt;

const FLEET: &str = "\
seed: 3
time_scale: 0
layout: {base: 127.0.90.1}
groups:
  - name: ctl-{index}
    count: 2
    labels: {rack: r9}
  - name: ctl-ipmi
    profile: small
    bmc: {protocol: ipmi}
";

fn world() -> Arc<World> {
    Arc::new(
        Fleet::parse(FLEET, "t.yaml")
            .unwrap()
            .build_world(SimClock::start_now())
            .unwrap(),
    )
}

async fn call(
    world: &Arc<World>,
    method: &str,
    uri: &str,
    body: &str,
) -> (StatusCode, serde_json::Value) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = app(Arc::clone(world)).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let json = if bytes.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (status, json)
}

#[tokio::test]
async fn host_list_shows_ground_truth_of_every_host() {
    let w = world();
    w.host_by_name("ctl-1")
        .unwrap()
        .with_machine(w.now(), |m| m.power_on(w.now()).unwrap());
    let (status, body) = call(&w, "GET", "/hosts", "").await;
    assert_eq!(status, StatusCode::OK);
    let hosts = body.as_array().unwrap();
    assert_eq!(hosts.len(), 3);
    assert_eq!(hosts[0]["name"], "ctl-0");
    assert_eq!(hosts[0]["machine"]["power"], "Off");
    assert_eq!(hosts[0]["labels"]["rack"], "r9");
    // time_scale 0: the power-on completed at once and the machine network-booted a ramdisk.
    assert_eq!(hosts[1]["machine"]["power"], "On");
    assert_eq!(
        hosts[1]["machine"]["last_boot"]["outcome"]["kind"],
        "Ramdisk"
    );
    assert_eq!(hosts[2]["address"], "ipmi://127.0.90.3:623");
    assert_eq!(hosts[2]["protocol"], "ipmi");
}

#[tokio::test]
async fn unknown_host_is_a_404_with_an_error_body() {
    let w = world();
    let (status, body) = call(&w, "GET", "/hosts/nope", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "no host named \"nope\"");
    let (status, _) = call(&w, "POST", "/hosts/nope/faults", "{}").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn injected_faults_reach_the_facade_and_clearing_removes_them() {
    let w = world();
    let (status, body) = call(
        &w,
        "POST",
        "/hosts/ctl-0/faults",
        r#"{"http_5xx_rate": 1.0, "http_5xx_status": 500}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["http_5xx_rate"], 1.0);
    let host = Arc::clone(w.host_by_name("ctl-0").unwrap());
    assert_eq!(
        host.fault_verdict(FaultKind::HttpRequest, w.now()),
        Verdict::Fail5xx(500)
    );
    let (_, shown) = call(&w, "GET", "/hosts/ctl-0", "").await;
    assert_eq!(shown["faults"]["http_5xx_status"], 500);
    assert_eq!(shown["faults_injected"], 1);

    let (status, _) = call(&w, "DELETE", "/hosts/ctl-0/faults", "").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        host.fault_verdict(FaultKind::HttpRequest, w.now()),
        Verdict::Proceed
    );
}

#[tokio::test]
async fn unreachable_now_drops_requests_until_cleared() {
    let w = world();
    let (status, body) = call(
        &w,
        "POST",
        "/hosts/ctl-ipmi/faults",
        r#"{"unreachable_now": true}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let host = Arc::clone(w.host_by_name("ctl-ipmi").unwrap());
    assert_eq!(
        host.fault_verdict(FaultKind::IpmiPacket, w.now()),
        Verdict::Drop
    );
    call(&w, "DELETE", "/hosts/ctl-ipmi/faults", "").await;
    assert_eq!(
        host.fault_verdict(FaultKind::IpmiPacket, w.now()),
        Verdict::Proceed
    );
}

#[tokio::test]
async fn clearing_a_stick_fault_releases_the_stuck_machine() {
    let w = world();
    call(
        &w,
        "POST",
        "/hosts/ctl-0/faults",
        r#"{"power_stick_rate": 1.0}"#,
    )
    .await;
    let host = Arc::clone(w.host_by_name("ctl-0").unwrap());
    host.power_action(w.now(), |m| m.power_on(w.now())).unwrap();
    assert_eq!(host.view(w.now()).power, PowerState::PoweringOn);
    call(&w, "DELETE", "/hosts/ctl-0/faults", "").await;
    assert_eq!(host.view(w.now()).power, PowerState::On);
}

#[tokio::test]
async fn invalid_fault_requests_are_refused_with_400() {
    let w = world();
    let (status, body) = call(
        &w,
        "POST",
        "/hosts/ctl-0/faults",
        r#"{"ipmi_packet_loss": 3}"#,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"].as_str().unwrap().contains("ipmi_packet_loss"),
        "{body}"
    );
    let (status, _) = call(&w, "POST", "/hosts/ctl-0/faults", "not json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = call(
        &w,
        "POST",
        "/hosts/ctl-0/faults",
        r#"{"unreachable_for": "soon"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(w.host_by_name("ctl-0").unwrap().faults().is_empty());
}

#[tokio::test]
async fn serving_refuses_a_control_address_off_loopback() {
    let options = metal_sim::serve::ServeOptions {
        control: "0.0.0.0:0".parse().unwrap(),
        ..Default::default()
    };
    let err = metal_sim::serve::start(world(), options).await.unwrap_err();
    assert!(err.to_string().contains("not a loopback address"), "{err}");
}
