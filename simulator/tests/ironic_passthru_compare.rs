//! Driver properties, vendor passthru and the events endpoint against REAL Ironic 39 and the mock,
//! side by side: `/v1/drivers/{name}/properties` (the property names of each hardware type's
//! default interfaces), the vendor methods of drivers and nodes (`no-vendor` on fake-hardware,
//! `redfish` and `ipmitool` vendors), a call to a method the driver lacks, and `/v1/events` with
//! valid and invalid bodies. Same status and body once addresses, UUIDs and times are replaced by
//! labels; property and method descriptions are the mock's own words, so only their keys are
//! compared.

#[path = "ironic_real/mod.rs"]
mod ironic_real;
mod support;

use ironic_real::compare::{Server, Step, replay};
use metal_sim::ironic::conductor::Timings;
use serde_json::{Value, json};

fn step(method: &'static str, path: &str, body: Option<Value>) -> Step {
    (method, path.to_string(), body)
}

/// The line with every object's string values that look like descriptions replaced by a label:
/// the values of a properties document, and each method's `description`.
fn keys_only(line: &str) -> String {
    let Some((head, body)) = line.split_once(" location=") else {
        return line.to_string();
    };
    let (location, body) = body.split_once(' ').unwrap_or((body, ""));
    let Ok(mut v) = serde_json::from_str::<Value>(body) else {
        return line.to_string();
    };
    if !head.ends_with("200") {
        return line.to_string();
    }
    if let Value::Object(o) = &mut v {
        for (_, value) in o.iter_mut() {
            match value {
                Value::String(s) if !s.is_empty() => *s = "<text>".into(),
                Value::Object(m) => {
                    if let Some(d) = m.get_mut("description") {
                        *d = json!("<text>");
                    }
                }
                _ => {}
            }
        }
    }
    format!("{head} location={location} {v}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_and_real_ironic_answer_properties_passthru_and_events_alike() {
    let Some((real, mock, task)) = ironic_real::start_real_and_mock(Timings::instant(), 7).await
    else {
        return;
    };
    let mut servers = [Server::new(real.url(), "1.89"), Server::new(&mock, "1.89")];
    for s in servers.iter_mut() {
        for body in [
            json!({"name": "fk", "driver": "fake-hardware"}),
            json!({"name": "rf", "driver": "redfish", "driver_info": {"redfish_address": "http://127.0.0.1:9", "redfish_system_id": "/redfish/v1/Systems/x"}}),
            json!({"name": "im", "driver": "ipmi", "driver_info": {"ipmi_address": "127.0.0.1"}}),
        ] {
            let created = s.call("POST", "/v1/nodes", Some(body), None).await;
            assert!(created.starts_with("201"), "create: {created}");
        }
    }
    let get = |path: &str, version: Option<&'static str>| (step("GET", path, None), version);
    let steps: Vec<(Step, Option<&str>)> = vec![
        get("/v1/drivers/fake-hardware/properties", None),
        get("/v1/drivers/redfish/properties", None),
        get("/v1/drivers/ipmi/properties", None),
        get("/v1/drivers/nosuch/properties", None),
        get("/v1/drivers/fake-hardware/vendor_passthru/methods", None),
        get("/v1/drivers/redfish/vendor_passthru/methods", None),
        get("/v1/drivers/ipmi/vendor_passthru/methods", None),
        get("/v1/drivers/nosuch/vendor_passthru/methods", None),
        get("/v1/drivers/redfish/vendor_passthru", None),
        get("/v1/nodes/fk/vendor_passthru/methods", None),
        get("/v1/nodes/rf/vendor_passthru/methods", None),
        get("/v1/nodes/im/vendor_passthru/methods", None),
        get("/v1/nodes/nosuch/vendor_passthru/methods", None),
        get("/v1/nodes/fk/vendor_passthru?method=nosuch", None),
        (
            step(
                "POST",
                "/v1/nodes/rf/vendor_passthru?method=nosuch",
                Some(json!({})),
            ),
            None,
        ),
        get("/v1/nodes/rf/vendor_passthru", None),
        get("/v1/nodes/nosuch/vendor_passthru?method=x", None),
        (step("POST", "/v1/events", Some(json!({}))), None),
        (
            step("POST", "/v1/events", Some(json!({"events": []}))),
            None,
        ),
        (
            step(
                "POST",
                "/v1/events",
                Some(json!({"events": [{"event": "network.bind_port"}]})),
            ),
            None,
        ),
        (
            step(
                "POST",
                "/v1/events",
                Some(json!({"events": [{
                "event": "network.unbind_port", "port_id": "3f1c0a9e-58f6-4c52-9a4b-2d6f0b7a1c11",
                "mac_address": "52:54:00:12:34:56", "status": "DOWN", "device_id": null}]})),
            ),
            None,
        ),
        (
            step(
                "POST",
                "/v1/events",
                Some(json!({"events": [{
                "event": "network.unbind_port", "port_id": "not-a-uuid",
                "mac_address": "52:54:00:12:34:56", "status": "DOWN"}]})),
            ),
            None,
        ),
        (
            step(
                "POST",
                "/v1/events",
                Some(json!({"events": [{
                "event": "network.other", "port_id": "3f1c0a9e-58f6-4c52-9a4b-2d6f0b7a1c11",
                "mac_address": "nope", "status": "DOWN", "extra": 1}]})),
            ),
            None,
        ),
        (
            step("POST", "/v1/events", Some(json!({"events": {}, "x": 1}))),
            None,
        ),
        (
            step("POST", "/v1/events", Some(json!({"events": []}))),
            Some("1.53"),
        ),
        get("/v1/events", None),
    ];
    let differences = replay(&mut servers, steps, keys_only).await;
    task.abort();
    drop(real);
    assert!(
        differences.is_empty(),
        "answers differ from real Ironic:\n{}",
        differences.join("\n")
    );
}
