//! Volume connectors and targets against REAL Ironic 39.0.0 and the mock, side by side: the
//! volume roots, create (and every invalid body), list with `detail`, `fields`, paging and the
//! `node` filter, a node's connectors and targets, show, JSON-patch updates (refused while the
//! node's power is not off, accepted once it is), duplicates, delete, what a node's deletion takes
//! with it, and the answer below 1.32. Same status, same body once addresses, UUIDs and times are
//! replaced by labels.

#[path = "ironic_real/mod.rs"]
mod ironic_real;
mod support;

use ironic_real::compare::{Server, Step, node_keys, replay};
use metal_sim::ironic::conductor::Timings;
use serde_json::{Value, json};

fn step(method: &'static str, path: &str, body: Option<Value>) -> (Step, Option<&'static str>) {
    ((method, path.to_string(), body), None)
}

const ABSENT: &str = "0a6bd4f6-0000-4000-8000-000000000009";

#[tokio::test(flavor = "multi_thread")]
async fn mock_and_real_ironic_serve_volume_connectors_and_targets_alike() {
    let Some((real, mock, task)) = ironic_real::start_real_and_mock(Timings::instant(), 7).await
    else {
        return;
    };
    let mut servers = [Server::new(real.url(), "1.89"), Server::new(&mock, "1.89")];
    let n1 = "{v-n1}";
    let conn =
        |node: &str, ty: &str, id: &str| json!({"node_uuid": node, "type": ty, "connector_id": id});
    let target = |node: &str, id: &str, index: Value| json!({"node_uuid": node, "volume_type": "iscsi", "volume_id": id, "boot_index": index});
    let before_power = vec![
        step(
            "POST",
            "/v1/nodes",
            Some(json!({"name": "v-n1", "driver": "fake-hardware"})),
        ),
        step(
            "POST",
            "/v1/nodes",
            Some(json!({"name": "v-n2", "driver": "fake-hardware"})),
        ),
        step("GET", "/v1/volume", None),
        step("GET", "/v1/nodes/v-n1/volume", None),
        (step("GET", "/v1/volume", None).0, Some("1.31")),
        (step("GET", "/v1/volume/connectors", None).0, Some("1.31")),
        step(
            "POST",
            "/v1/volume/connectors",
            Some(
                json!({"node_uuid": n1, "type": "iqn", "connector_id": "iqn.2010-10.org.openstack:1", "extra": {"a": 1}}),
            ),
        ),
        step(
            "POST",
            "/v1/volume/connectors",
            Some(conn(n1, "iqn", "iqn.2010-10.org.openstack:1")),
        ),
        step(
            "POST",
            "/v1/volume/connectors",
            Some(conn("{v-n2}", "iqn", "iqn.2010-10.org.openstack:1")),
        ),
        step(
            "POST",
            "/v1/volume/connectors",
            Some(conn(n1, "ip", "192.168.1.5")),
        ),
        step(
            "POST",
            "/v1/volume/connectors",
            Some(conn(n1, "wwpn", "wwpn-1")),
        ),
        step(
            "POST",
            "/v1/volume/connectors",
            Some(json!({"node_uuid": n1, "type": "iqn"})),
        ),
        step(
            "POST",
            "/v1/volume/connectors",
            Some(conn("v-n1", "iqn", "z")),
        ),
        step(
            "POST",
            "/v1/volume/connectors",
            Some(conn(ABSENT, "iqn", "z")),
        ),
        step(
            "POST",
            "/v1/volume/connectors",
            Some(json!({"node_uuid": n1, "type": "iqn", "connector_id": "z", "bogus": 1})),
        ),
        step(
            "POST",
            "/v1/volume/connectors",
            Some(json!({"node_uuid": n1, "type": "iqn", "connector_id": 5})),
        ),
        step(
            "POST",
            "/v1/volume/connectors",
            Some(json!({"node_uuid": n1, "type": "iqn", "connector_id": "z", "uuid": "nope"})),
        ),
        step(
            "POST",
            "/v1/volume/connectors",
            Some(json!({"node_uuid": n1, "type": "iqn", "connector_id": "z", "extra": "s"})),
        ),
        step(
            "POST",
            "/v1/nodes/{v-n1}/volume/connectors",
            Some(conn(n1, "iqn", "z")),
        ),
        step("GET", "/v1/volume/connectors", None),
        step("GET", "/v1/volume/connectors?detail=True", None),
        step("GET", "/v1/volume/connectors?detail=True&fields=type", None),
        step("GET", "/v1/volume/connectors?limit=1", None),
        step("GET", "/v1/volume/connectors?limit=1&detail=True", None),
        step(
            "GET",
            "/v1/volume/connectors?limit=2&marker={192.168.1.5}",
            None,
        ),
        step("GET", "/v1/volume/connectors?node=v-n1&limit=1", None),
        step("GET", "/v1/volume/connectors?node=v-n2", None),
        step("GET", "/v1/volume/connectors?node=nope", None),
        step("GET", "/v1/volume/connectors?fields=bogus", None),
        step(
            "GET",
            "/v1/volume/connectors?fields=type,connector_id",
            None,
        ),
        step("GET", "/v1/volume/connectors?sort_key=extra", None),
        step("GET", "/v1/volume/connectors?sort_key=bogus", None),
        step(
            "GET",
            "/v1/volume/connectors?sort_key=connector_id&sort_dir=desc",
            None,
        ),
        step("GET", "/v1/volume/connectors?bogus=1", None),
        step("GET", "/v1/volume/connectors/detail", None),
        step("GET", "/v1/nodes/v-n1/volume/connectors", None),
        step("GET", "/v1/nodes/{v-n1}/volume/connectors", None),
        step(
            "GET",
            "/v1/nodes/{v-n1}/volume/connectors?fields=type&limit=1",
            None,
        ),
        step("GET", "/v1/nodes/{v-n2}/volume/targets", None),
        step("GET", "/v1/volume/connectors/nope", None),
        step("GET", &format!("/v1/volume/connectors/{ABSENT}"), None),
        step(
            "GET",
            "/v1/volume/connectors/{192.168.1.5}?fields=type,extra",
            None,
        ),
        step(
            "PATCH",
            "/v1/volume/connectors/{192.168.1.5}",
            Some(json!([{"op": "replace", "path": "/connector_id", "value": "192.168.1.6"}])),
        ),
        step(
            "PATCH",
            "/v1/volume/connectors/{192.168.1.5}",
            Some(json!([{"op": "replace", "path": "/uuid", "value": ABSENT}])),
        ),
        step(
            "PATCH",
            "/v1/volume/connectors/{192.168.1.5}",
            Some(json!([{"op": "remove", "path": "/type"}])),
        ),
        step(
            "PATCH",
            "/v1/volume/connectors/{192.168.1.5}",
            Some(json!([{"op": "replace", "path": "/node_uuid", "value": "v-n2"}])),
        ),
        step(
            "PATCH",
            "/v1/volume/connectors/{192.168.1.5}",
            Some(json!([{"op": "replace", "path": "/node_uuid", "value": ABSENT}])),
        ),
        step(
            "PATCH",
            "/v1/volume/connectors/{192.168.1.5}",
            Some(json!([{"op": "replace", "path": "/extra", "value": "s"}])),
        ),
        step(
            "PATCH",
            "/v1/volume/connectors/{192.168.1.5}",
            Some(json!([{"op": "replace", "path": "/connector_id", "value": 5}])),
        ),
        step(
            "PATCH",
            "/v1/volume/connectors/nope",
            Some(json!([{"op": "replace", "path": "/connector_id", "value": "q"}])),
        ),
        step(
            "PATCH",
            &format!("/v1/volume/connectors/{ABSENT}"),
            Some(json!([{"op": "replace", "path": "/connector_id", "value": "q"}])),
        ),
        step("DELETE", &format!("/v1/volume/connectors/{ABSENT}"), None),
        step("DELETE", "/v1/volume/connectors/nope", None),
        step(
            "DELETE",
            "/v1/nodes/{v-n1}/volume/connectors/{wwpn-1}",
            None,
        ),
        step("DELETE", "/v1/volume/connectors/{wwpn-1}", None),
        step(
            "POST",
            "/v1/volume/targets",
            Some(
                json!({"node_uuid": n1, "volume_type": "iscsi", "volume_id": "vol-1", "boot_index": 0, "properties": {"target_iqn": "iqn.x", "auth_password": "secret"}, "extra": {"e": 1}}),
            ),
        ),
        step(
            "POST",
            "/v1/volume/targets",
            Some(target(n1, "vol-2", json!(0))),
        ),
        step(
            "POST",
            "/v1/volume/targets",
            Some(target("{v-n2}", "vol-1b", json!(0))),
        ),
        step(
            "POST",
            "/v1/volume/targets",
            Some(target(n1, "vol-4", json!(1))),
        ),
        step(
            "POST",
            "/v1/volume/targets",
            Some(json!({"node_uuid": n1, "volume_type": "iscsi", "volume_id": "vol-3"})),
        ),
        step(
            "POST",
            "/v1/volume/targets",
            Some(target(n1, "vol-3", json!("1"))),
        ),
        step(
            "POST",
            "/v1/volume/targets",
            Some(target(n1, "vol-3", json!(-1))),
        ),
        step(
            "POST",
            "/v1/volume/targets",
            Some(
                json!({"node_uuid": n1, "volume_type": "iscsi", "volume_id": "vol-5", "boot_index": 3, "properties": "x"}),
            ),
        ),
        step(
            "POST",
            "/v1/volume/targets",
            Some(target(ABSENT, "vol-6", json!(3))),
        ),
        step("GET", "/v1/volume/targets", None),
        step("GET", "/v1/volume/targets?detail=True", None),
        step("GET", "/v1/volume/targets?fields=bogus", None),
        step("GET", "/v1/volume/targets?sort_key=properties", None),
        step(
            "GET",
            "/v1/volume/targets?sort_key=boot_index&sort_dir=desc",
            None,
        ),
        step("GET", "/v1/volume/targets?limit=1", None),
        step("GET", "/v1/volume/targets/nope", None),
        step("GET", "/v1/volume/targets/{vol-1}", None),
        step(
            "PATCH",
            "/v1/volume/targets/{vol-1}",
            Some(json!([{"op": "replace", "path": "/boot_index", "value": 5}])),
        ),
        step(
            "PATCH",
            "/v1/volume/targets/{vol-1}",
            Some(json!([{"op": "replace", "path": "/boot_index", "value": "x"}])),
        ),
        step(
            "PUT",
            "/v1/nodes/v-n1/states/power",
            Some(json!({"target": "power off"})),
        ),
    ];
    let mut differences = replay(&mut servers, before_power, |l| node_keys(l, &[])).await;
    for s in &mut servers {
        s.settle("/v1/nodes/v-n1", "power_state", json!("power off"))
            .await;
    }
    let powered_off = vec![
        step(
            "PATCH",
            "/v1/volume/connectors/{192.168.1.5}",
            Some(
                json!([{"op": "replace", "path": "/connector_id", "value": "192.168.1.6"}, {"op": "add", "path": "/extra/b", "value": 2}]),
            ),
        ),
        step(
            "PATCH",
            "/v1/volume/connectors/{192.168.1.5}",
            Some(
                json!([{"op": "replace", "path": "/connector_id", "value": "iqn.2010-10.org.openstack:1"}]),
            ),
        ),
        step(
            "PATCH",
            "/v1/volume/connectors/{192.168.1.5}",
            Some(json!([{"op": "replace", "path": "/node_uuid", "value": "{v-n2}"}])),
        ),
        step(
            "PATCH",
            "/v1/volume/targets/{vol-1}",
            Some(json!([{"op": "replace", "path": "/boot_index", "value": 1}])),
        ),
        step(
            "PATCH",
            "/v1/volume/targets/{vol-1}",
            Some(
                json!([{"op": "replace", "path": "/boot_index", "value": 5}, {"op": "add", "path": "/properties/lun", "value": 0}]),
            ),
        ),
        step(
            "PATCH",
            "/v1/volume/targets/{vol-1}",
            Some(json!([{"op": "remove", "path": "/volume_id"}])),
        ),
        step("GET", "/v1/volume/targets/{vol-1}", None),
        step("DELETE", "/v1/volume/targets/{vol-4}", None),
        step("DELETE", "/v1/nodes/v-n1", None),
        step("GET", "/v1/volume/targets/{vol-1}", None),
        step("GET", "/v1/volume/connectors/{192.168.1.5}", None),
        step("GET", "/v1/volume/targets", None),
        step("GET", "/v1/volume/connectors", None),
    ];
    differences.extend(replay(&mut servers, powered_off, |l| node_keys(l, &[])).await);
    task.abort();
    drop(real);
    assert!(
        differences.is_empty(),
        "the mock serves volume connectors and targets differently from real Ironic:\n{}",
        differences.join("\n")
    );
}
