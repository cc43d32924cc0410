//! A fake-hardware node's management and console sub-resources against REAL Ironic 39.0.0 and the
//! mock, side by side: the boot device (read, supported, set, refused devices and parameters),
//! the indicators (list, each, malformed and unknown names, setting refused), the console (read;
//! switching refused by `no-console`, and its parameter checks), a node that does not exist. Same
//! status, same body once UUIDs are labels.

#[path = "ironic_real/mod.rs"]
mod ironic_real;
mod support;

use ironic_real::compare::{Server, Step, node_keys, replay};
use metal_sim::ironic::conductor::Timings;
use serde_json::{Value, json};

fn step(method: &'static str, path: &str, body: Option<Value>) -> (Step, Option<&'static str>) {
    ((method, path.to_string(), body), None)
}

const M: &str = "/v1/nodes/m-n1/management";

#[tokio::test(flavor = "multi_thread")]
async fn mock_and_real_ironic_serve_management_alike() {
    let Some((real, mock, task)) = ironic_real::start_real_and_mock(Timings::instant(), 7).await
    else {
        return;
    };
    let mut servers = [Server::new(real.url(), "1.89"), Server::new(&mock, "1.89")];
    let steps = vec![
        step(
            "POST",
            "/v1/nodes",
            Some(json!({"name": "m-n1", "driver": "fake-hardware"})),
        ),
        step("GET", &format!("{M}/boot_device"), None),
        step("GET", &format!("{M}/boot_device/supported"), None),
        step(
            "PUT",
            &format!("{M}/boot_device"),
            Some(json!({"boot_device": "pxe", "persistent": true})),
        ),
        step("GET", &format!("{M}/boot_device"), None),
        step(
            "PUT",
            &format!("{M}/boot_device"),
            Some(json!({"boot_device": "disk"})),
        ),
        step("PUT", &format!("{M}/boot_device"), Some(json!({}))),
        step(
            "PUT",
            &format!("{M}/boot_device"),
            Some(json!({"boot_device": "pxe", "persistent": "x"})),
        ),
        step(
            "PUT",
            &format!("{M}/boot_device"),
            Some(json!({"boot_device": "pxe", "bogus": 1})),
        ),
        step("GET", &format!("{M}/indicators"), None),
        step("GET", "/v1/nodes/{m-n1}/management/indicators", None),
        step("GET", &format!("{M}/indicators/led@system"), None),
        step("GET", &format!("{M}/indicators/led-0@chassis"), None),
        step("GET", &format!("{M}/indicators/nope"), None),
        step("GET", &format!("{M}/indicators/led@bmc"), None),
        step("GET", &format!("{M}/indicators/foo@chassis"), None),
        step(
            "PUT",
            &format!("{M}/indicators/led@system"),
            Some(json!({"state": "blinking"})),
        ),
        step(
            "PUT",
            &format!("{M}/indicators/led@system"),
            Some(json!({})),
        ),
        step(
            "PUT",
            &format!("{M}/indicators/nope"),
            Some(json!({"state": "on"})),
        ),
        step("GET", "/v1/nodes/m-n1/states/console", None),
        step(
            "PUT",
            "/v1/nodes/m-n1/states/console",
            Some(json!({"enabled": true})),
        ),
        step(
            "PUT",
            "/v1/nodes/m-n1/states/console",
            Some(json!({"enabled": false})),
        ),
        step("PUT", "/v1/nodes/m-n1/states/console", Some(json!({}))),
        step(
            "PUT",
            "/v1/nodes/m-n1/states/console",
            Some(json!({"enabled": "x"})),
        ),
        step("GET", "/v1/nodes/nope/management/boot_device", None),
        step("GET", "/v1/nodes/nope/states/console", None),
    ];
    let differences = replay(&mut servers, steps, |l| node_keys(l, &[])).await;
    task.abort();
    drop(real);
    assert!(
        differences.is_empty(),
        "the mock serves management differently from real Ironic:\n{}",
        differences.join("\n")
    );
}
