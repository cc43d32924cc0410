//! A node's VIFs against REAL Ironic 39.0.0 and the mock, side by side: list, attach and detach
//! on a node with the `noop` network interface (the one our standalone Ironic can run: `flat` and
//! `neutron` call Neutron), every invalid body, a port and a group both named (refused from 1.67),
//! a node that does not exist, a VIF ID that is no name, a detach naming no VIF, the methods not
//! served, and below 1.28. Same status, same body once UUIDs are labels.
//!
//! Binding a VIF to a port or group (any other network interface) is checked on the mock alone:
//! real Ironic needs Neutron for it (see docs/ironic-differences.md).

#[path = "ironic_real/mod.rs"]
mod ironic_real;
mod support;

use ironic_real::compare::{Server, Step, node_keys, replay};
use metal_sim::ironic::conductor::{Settings, Timings};
use serde_json::{Value, json};

fn step(method: &'static str, path: &str, body: Option<Value>) -> (Step, Option<&'static str>) {
    ((method, path.to_string(), body), None)
}

fn at(version: &'static str, s: (Step, Option<&'static str>)) -> (Step, Option<&'static str>) {
    (s.0, Some(version))
}

const VIFS: &str = "/v1/nodes/vif-n1/vifs";

#[tokio::test(flavor = "multi_thread")]
async fn mock_and_real_ironic_serve_vifs_alike() {
    let Some((real, mock, task)) = ironic_real::start_real_and_mock(Timings::instant(), 7).await
    else {
        return;
    };
    let mut servers = [Server::new(real.url(), "1.89"), Server::new(&mock, "1.89")];
    let steps = vec![
        step(
            "POST",
            "/v1/nodes",
            Some(json!({"name": "vif-n1", "driver": "fake-hardware"})),
        ),
        step(
            "POST",
            "/v1/portgroups",
            Some(json!({"node_uuid": "{vif-n1}", "name": "vif-pg"})),
        ),
        step(
            "POST",
            "/v1/ports",
            Some(json!({"node_uuid": "{vif-n1}", "address": "52:54:00:00:0a:01"})),
        ),
        step("GET", VIFS, None),
        step("POST", VIFS, Some(json!({"id": "vif-1"}))),
        step("POST", VIFS, Some(json!({"id": "vif-1"}))),
        step("GET", VIFS, None),
        step("GET", "/v1/nodes/{vif-n1}/vifs", None),
        step("GET", "/v1/ports/{52:54:00:00:0a:01}", None),
        step("POST", VIFS, Some(json!({}))),
        step("POST", VIFS, None),
        step("POST", VIFS, Some(json!({"id": 5}))),
        step("POST", VIFS, Some(json!({"id": "bad name!"}))),
        step("POST", VIFS, Some(json!([1]))),
        step("POST", VIFS, Some(json!("vif-1"))),
        step(
            "POST",
            VIFS,
            Some(
                json!({"id": "vif-2", "port_uuid": "{52:54:00:00:0a:01}", "portgroup_uuid": "{vif-pg}"}),
            ),
        ),
        at(
            "1.66",
            step(
                "POST",
                VIFS,
                Some(json!({"id": "vif-2", "port_uuid": "x", "portgroup_uuid": "y"})),
            ),
        ),
        step(
            "POST",
            VIFS,
            Some(json!({"id": "vif-3", "extra": {"a": 1}})),
        ),
        step(
            "POST",
            VIFS,
            Some(json!({"id": "4a7c3b8e-8d1e-4e5b-9a55-000000000001"})),
        ),
        at("1.27", step("GET", VIFS, None)),
        at("1.27", step("POST", VIFS, Some(json!({"id": "vif-1"})))),
        at("1.27", step("DELETE", &format!("{VIFS}/vif-1"), None)),
        step("GET", "/v1/nodes/nope/vifs", None),
        step("POST", "/v1/nodes/nope/vifs", Some(json!({"id": "vif-1"}))),
        step("POST", "/v1/nodes/nope/vifs", Some(json!({}))),
        step("DELETE", "/v1/nodes/nope/vifs/vif-1", None),
        step("DELETE", &format!("{VIFS}/bad%20name"), None),
        step("DELETE", &format!("{VIFS}/vif-1"), None),
        step("DELETE", &format!("{VIFS}/never-attached"), None),
        step("DELETE", VIFS, None),
        step("PUT", VIFS, Some(json!({"id": "vif-1"}))),
        step("PATCH", VIFS, Some(json!([]))),
        step("GET", &format!("{VIFS}/vif-1"), None),
        step("PUT", &format!("{VIFS}/vif-1"), None),
        step("GET", VIFS, None),
    ];
    let differences = replay(&mut servers, steps, |l| node_keys(l, &[])).await;
    task.abort();
    drop(real);
    assert!(
        differences.is_empty(),
        "the mock serves VIFs differently from real Ironic:\n{}",
        differences.join("\n")
    );
}

/// With a network interface that keeps VIFs, the mock binds each to a free port or group by
/// Ironic's rule, refuses one attached twice and one with nothing left to bind to, and detaches.
#[tokio::test]
async fn the_mock_binds_vifs_to_free_ports_and_groups() {
    let mock = support::ironic::start_mock(Settings::with(Timings::instant(), false), 7).await;
    let mut s = Server::new(&mock.url, "1.89");
    let created = |line: String| assert!(line.starts_with("201"), "{line}");
    let body = json!({"name": "b-n1", "driver": "fake-hardware", "network_interface": "flat"});
    created(s.call("POST", "/v1/nodes", Some(body), None).await);
    let body = json!({"node_uuid": "{b-n1}", "name": "bond0"});
    created(s.call("POST", "/v1/portgroups", Some(body), None).await);
    for (mac, group) in [
        ("52:54:00:00:0b:01", None),
        ("52:54:00:00:0b:02", Some("{bond0}")),
    ] {
        let mut body = json!({"node_uuid": "{b-n1}", "address": mac, "pxe_enabled": false});
        if let Some(g) = group {
            body["portgroup_uuid"] = json!(g);
        }
        created(s.call("POST", "/v1/ports", Some(body), None).await);
    }
    let vifs = "/v1/nodes/b-n1/vifs";
    let ok = |line: String| assert!(line.starts_with("204"), "{line}");
    // The group (it holds a free port) first, then the standalone port.
    ok(s.call("POST", vifs, Some(json!({"id": "v1"})), None).await);
    let group = s.call("GET", "/v1/portgroups/bond0", None, None).await;
    assert!(
        group.contains("\"internal_info\":{\"tenant_vif_port_id\":\"v1\"}"),
        "{group}"
    );
    let twice = s.call("POST", vifs, Some(json!({"id": "v1"})), None).await;
    assert!(
        twice.starts_with("409")
            && twice.contains(
                "Unable to attach VIF because VIF v1 is already attached to Ironic Portgroup <bond0>"
            ),
        "{twice}"
    );
    ok(s.call("POST", vifs, Some(json!({"id": "v2"})), None).await);
    let port = s
        .call("GET", "/v1/ports/{52:54:00:00:0b:01}", None, None)
        .await;
    assert!(port.contains("\"tenant_vif_port_id\":\"v2\""), "{port}");
    let full = s.call("POST", vifs, Some(json!({"id": "v3"})), None).await;
    assert!(
        full.starts_with("400")
            && full.contains("Unable to attach VIF v3, not enough free physical ports."),
        "{full}"
    );
    let listed = s.call("GET", vifs, None, None).await;
    assert!(
        listed.contains("{\"vifs\":[{\"id\":\"v2\"},{\"id\":\"v1\"}]}"),
        "{listed}"
    );
    ok(s.call("DELETE", &format!("{vifs}/v1"), None, None).await);
    let gone = s.call("DELETE", &format!("{vifs}/v1"), None, None).await;
    assert!(
        gone.starts_with("400")
            && gone.contains(
                "Unable to detach VIF v1 from node <b-n1> because it is not attached to it."
            ),
        "{gone}"
    );
    // A grouped port named alone is no candidate (Ironic's rule); its group named is.
    let body = json!({"id": "v4", "port_uuid": "{52:54:00:00:0b:02}"});
    let grouped = s.call("POST", vifs, Some(body), None).await;
    assert!(grouped.starts_with("400"), "{grouped}");
    let body = json!({"id": "v4", "portgroup_uuid": "{bond0}"});
    ok(s.call("POST", vifs, Some(body), None).await);
    let listed = s.call("GET", vifs, None, None).await;
    assert!(
        listed.contains("{\"vifs\":[{\"id\":\"v2\"},{\"id\":\"v4\"}]}"),
        "{listed}"
    );
    mock.task.abort();
}
