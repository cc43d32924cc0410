//! Mock Ironic API behaviour through the router (axum oneshot): versions, errors, nodes, ports, states.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{TimeZone, Utc};
use http_body_util::BodyExt;
use metal_sim::ironic::conductor::{Settings, Timings};
use metal_sim::ironic::{AppState, Clock, app};
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt;

fn state() -> AppState {
    let clock: Clock = Arc::new(|| {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .expect("time")
    });
    AppState::new(Settings::with(Timings::instant(), false), 7, clock).expect("state")
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).expect("json body")
    }

    fn fault(&self) -> String {
        let inner: Value = serde_json::from_str(
            self.json()["error_message"]
                .as_str()
                .expect("error_message"),
        )
        .expect("inner");
        inner["faultstring"]
            .as_str()
            .expect("faultstring")
            .to_string()
    }
}

async fn call(
    st: &AppState,
    method: &str,
    uri: &str,
    version: Option<&str>,
    body: Option<Value>,
) -> Reply {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "127.0.0.1:6385");
    if let Some(v) = version {
        req = req.header("X-OpenStack-Ironic-API-Version", v);
    }
    let req = match body {
        Some(b) => req
            .header("content-type", "application/json")
            .body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    }
    .expect("request");
    let resp = app(st.clone()).oneshot(req).await.expect("response");
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    Reply {
        status,
        headers,
        text: String::from_utf8(bytes.to_vec()).expect("utf8"),
    }
}

/// Steps the conductor until the node's provision state settles (bounded).
async fn settle(st: &AppState, node: &str) -> Value {
    for _ in 0..50 {
        let r = call(
            st,
            "GET",
            &format!("/v1/nodes/{node}"),
            Some("latest"),
            None,
        )
        .await;
        let doc = r.json();
        if doc["target_provision_state"].is_null() && doc["reservation"].is_null() {
            return doc;
        }
        st.step_conductor();
        tokio::task::yield_now().await;
    }
    panic!("node {node} did not settle");
}

#[tokio::test]
async fn no_version_header_is_served_as_one_point_one_with_all_three_headers() {
    let st = state();
    let r = call(&st, "GET", "/", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["X-OpenStack-Ironic-API-Version"], "1.1");
    assert_eq!(r.headers["X-OpenStack-Ironic-API-Minimum-Version"], "1.1");
    assert_eq!(r.headers["X-OpenStack-Ironic-API-Maximum-Version"], "1.115");
    assert_eq!(r.json()["default_version"]["version"], "1.115");
    assert!(
        r.text.contains("\"name\": \"OpenStack Ironic API\""),
        "python-style separators: {}",
        r.text
    );
}

#[tokio::test]
async fn out_of_range_and_malformed_versions_are_not_acceptable() {
    let st = state();
    let r = call(&st, "GET", "/v1/nodes", Some("2.0"), None).await;
    assert_eq!(r.status, StatusCode::NOT_ACCEPTABLE);
    assert_eq!(
        r.text,
        r#"{"error_message": "{\"code\": 406, \"title\": \"Not Acceptable\", \"description\": \"Mutually exclusive versions requested. Version 2.0 requested but not supported by this service. The supported version range is: [1.1, 1.115].\"}"}"#
    );
    assert!(r.headers.get("X-OpenStack-Ironic-API-Version").is_none());
    assert_eq!(r.headers["X-OpenStack-Ironic-API-Maximum-Version"], "1.115");
    let r = call(&st, "GET", "/v1/nodes", Some("1.abc"), None).await;
    assert_eq!(r.status, StatusCode::NOT_ACCEPTABLE);
    assert!(
        r.text
            .contains("Invalid value for X-OpenStack-Ironic-API-Version header")
    );
    assert!(
        r.headers
            .get("X-OpenStack-Ironic-API-Maximum-Version")
            .is_none()
    );
}

#[tokio::test]
async fn unknown_nodes_get_ironics_double_encoded_404() {
    let st = state();
    let r = call(&st, "GET", "/v1/nodes/nope", Some("latest"), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        r.text,
        r#"{"error_message": "{\"faultcode\": \"Client\", \"faultstring\": \"Node nope could not be found.\", \"debuginfo\": null}"}"#
    );
}

#[tokio::test]
async fn fake_hardware_node_runs_manage_provide_deploy_undeploy() {
    let st = state();
    let r = call(
        &st,
        "POST",
        "/v1/nodes",
        Some("latest"),
        Some(json!({"driver": "fake-hardware", "name": "n1"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.json()["provision_state"], "enroll");
    let r = call(
        &st,
        "PUT",
        "/v1/nodes/n1/states/provision",
        Some("latest"),
        Some(json!({"target": "provide"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.fault()
            .starts_with("The requested action \"provide\" can not be performed on node")
    );
    let mut seen = Vec::new();
    for target in ["manage", "provide", "active", "deleted"] {
        let body = if target == "active" {
            json!({"target": target, "configdrive": {"user_data": "x"}})
        } else {
            json!({"target": target})
        };
        let r = call(
            &st,
            "PUT",
            "/v1/nodes/n1/states/provision",
            Some("latest"),
            Some(body),
        )
        .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{target}: {}", r.text);
        assert_eq!(
            r.headers["location"],
            "http://127.0.0.1:6385/v1/nodes/n1/states"
        );
        seen.push(
            settle(&st, "n1").await["provision_state"]
                .as_str()
                .expect("state")
                .to_string(),
        );
    }
    assert_eq!(seen, ["manageable", "available", "active", "available"]);
}

#[tokio::test]
async fn a_locked_node_answers_409_node_locked() {
    let st = state();
    call(
        &st,
        "POST",
        "/v1/nodes",
        Some("latest"),
        Some(json!({"driver": "fake-hardware", "name": "n1"})),
    )
    .await;
    call(
        &st,
        "PUT",
        "/v1/nodes/n1/states/provision",
        Some("latest"),
        Some(json!({"target": "manage"})),
    )
    .await;
    let r = call(
        &st,
        "PUT",
        "/v1/nodes/n1/states/provision",
        Some("latest"),
        Some(json!({"target": "manage"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.fault().ends_with(
        "is locked by host localhost, please retry after the current operation is completed."
    ));
}

#[tokio::test]
async fn listing_honours_fields_filters_and_detail() {
    let st = state();
    for (name, driver) in [("a", "fake-hardware"), ("b", "redfish")] {
        call(
            &st,
            "POST",
            "/v1/nodes",
            Some("latest"),
            Some(json!({"driver": driver, "name": name})),
        )
        .await;
    }
    call(
        &st,
        "PUT",
        "/v1/nodes/a/maintenance",
        Some("latest"),
        Some(json!({"reason": "r1"})),
    )
    .await;
    let r = call(
        &st,
        "GET",
        "/v1/nodes?maintenance=true&fields=name,maintenance_reason",
        Some("latest"),
        None,
    )
    .await;
    assert_eq!(
        r.json()["nodes"],
        json!([{"name": "a", "maintenance_reason": "r1", "links": r.json()["nodes"][0]["links"].clone()}])
    );
    let r = call(&st, "GET", "/v1/nodes?driver=redfish", Some("latest"), None).await;
    let keys: Vec<String> = r.json()["nodes"][0]
        .as_object()
        .expect("obj")
        .keys()
        .cloned()
        .collect();
    assert_eq!(keys.len(), 7, "{keys:?}");
    let r = call(&st, "GET", "/v1/nodes/detail", Some("latest"), None).await;
    assert_eq!(r.json()["nodes"].as_array().expect("list").len(), 2);
    assert_eq!(r.json()["nodes"][1]["driver_info"], json!({}));
    let r = call(
        &st,
        "GET",
        "/v1/nodes/detail?fields=name",
        Some("latest"),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn json_patch_updates_allowed_fields_and_refuses_others() {
    let st = state();
    call(
        &st,
        "POST",
        "/v1/nodes",
        Some("latest"),
        Some(json!({"driver": "redfish", "name": "r1", "driver_info": {"redfish_password": "pw"}})),
    )
    .await;
    let patch = json!([{"op": "add", "path": "/extra/foo", "value": "bar"}, {"op": "add", "path": "/driver_info/redfish_address", "value": "http://127.0.0.1:1"}]);
    let r = call(&st, "PATCH", "/v1/nodes/r1", Some("latest"), Some(patch)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["extra"], json!({"foo": "bar"}));
    assert_eq!(
        r.json()["driver_info"],
        json!({"redfish_address": "http://127.0.0.1:1", "redfish_password": "******"})
    );
    let r = call(
        &st,
        "PATCH",
        "/v1/nodes/r1",
        Some("latest"),
        Some(json!([{"op": "replace", "path": "/provision_state", "value": "active"}])),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.fault().starts_with(
        "Cannot patch /provision_state. Only the following can be updated: automated_clean,"
    ));
}

#[tokio::test]
async fn ports_are_created_listed_by_address_and_node_and_deleted_with_their_node() {
    let st = state();
    let node = call(
        &st,
        "POST",
        "/v1/nodes",
        Some("latest"),
        Some(json!({"driver": "fake-hardware", "name": "n1"})),
    )
    .await
    .json();
    let r = call(
        &st,
        "POST",
        "/v1/ports",
        Some("latest"),
        Some(json!({"address": "52:54:00:AA:BB:01", "node_uuid": node["uuid"]})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.json()["address"], "52:54:00:aa:bb:01");
    let dup = call(
        &st,
        "POST",
        "/v1/ports",
        Some("latest"),
        Some(json!({"address": "52:54:00:aa:bb:01", "node_uuid": node["uuid"]})),
    )
    .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    let bad = call(
        &st,
        "POST",
        "/v1/ports",
        Some("latest"),
        Some(json!({"address": "zz", "node_uuid": node["uuid"]})),
    )
    .await;
    assert_eq!(bad.fault(), "Expected valid MAC address for address: zz");
    let by_addr = call(
        &st,
        "GET",
        "/v1/ports?address=52:54:00:aa:bb:01",
        Some("latest"),
        None,
    )
    .await
    .json();
    assert_eq!(by_addr["ports"].as_array().expect("list").len(), 1);
    let by_node = call(&st, "GET", "/v1/nodes/n1/ports", Some("latest"), None)
        .await
        .json();
    assert_eq!(by_node["ports"].as_array().expect("list").len(), 1);
    assert_eq!(
        call(&st, "DELETE", "/v1/nodes/n1", Some("latest"), None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let after = call(&st, "GET", "/v1/ports", Some("latest"), None)
        .await
        .json();
    assert_eq!(after["ports"], json!([]));
}

#[tokio::test]
async fn deleting_an_active_node_is_refused_unless_in_maintenance() {
    let st = state();
    call(
        &st,
        "POST",
        "/v1/nodes",
        Some("latest"),
        Some(json!({"driver": "fake-hardware", "name": "n1"})),
    )
    .await;
    for target in ["manage", "provide", "active"] {
        call(
            &st,
            "PUT",
            "/v1/nodes/n1/states/provision",
            Some("latest"),
            Some(json!({"target": target})),
        )
        .await;
        settle(&st, "n1").await;
    }
    let r = call(&st, "DELETE", "/v1/nodes/n1", Some("latest"), None).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(
        r.fault()
            .contains("while it is in provision state \"active\"")
    );
    call(
        &st,
        "PUT",
        "/v1/nodes/n1/maintenance",
        Some("latest"),
        Some(json!({})),
    )
    .await;
    assert_eq!(
        call(&st, "DELETE", "/v1/nodes/n1", Some("latest"), None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn names_are_not_resolved_before_one_point_five() {
    let st = state();
    call(
        &st,
        "POST",
        "/v1/nodes",
        Some("latest"),
        Some(json!({"driver": "fake-hardware", "name": "n1"})),
    )
    .await;
    assert_eq!(
        call(&st, "GET", "/v1/nodes/n1", Some("1.4"), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&st, "GET", "/v1/nodes/n1", Some("1.5"), None)
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn validate_inventory_bios_and_vmedia_answer_like_fake_hardware() {
    let st = state();
    call(
        &st,
        "POST",
        "/v1/nodes",
        Some("latest"),
        Some(json!({"driver": "fake-hardware", "name": "n1"})),
    )
    .await;
    let v = call(&st, "GET", "/v1/nodes/n1/validate", Some("latest"), None)
        .await
        .json();
    assert_eq!(v["power"], json!({"result": true}));
    assert_eq!(
        v["raid"]["reason"],
        "Driver fake-hardware does not support raid (disabled or not implemented)."
    );
    let inv = call(&st, "GET", "/v1/nodes/n1/inventory", Some("latest"), None).await;
    assert_eq!(
        inv.fault(),
        "Node inventory record for node 1 could not be found."
    );
    assert_eq!(
        call(&st, "GET", "/v1/nodes/n1/bios", Some("latest"), None)
            .await
            .json(),
        json!({"bios": []})
    );
    let vm = call(&st, "GET", "/v1/nodes/n1/vmedia", Some("latest"), None).await;
    assert_eq!(vm.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn agent_lookup_is_refused_outside_agent_states_and_heartbeat_needs_a_token() {
    let st = state();
    let node = call(
        &st,
        "POST",
        "/v1/nodes",
        Some("latest"),
        Some(json!({"driver": "fake-hardware", "name": "n1"})),
    )
    .await
    .json();
    call(
        &st,
        "POST",
        "/v1/ports",
        Some("latest"),
        Some(json!({"address": "52:54:00:00:00:01", "node_uuid": node["uuid"]})),
    )
    .await;
    let r = call(
        &st,
        "GET",
        "/v1/lookup?addresses=52:54:00:00:00:01",
        Some("latest"),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = call(
        &st,
        "POST",
        "/v1/heartbeat/n1",
        Some("latest"),
        Some(json!({"callback_url": "http://127.0.0.1:9"})),
    )
    .await;
    assert_eq!(
        r.fault(),
        "Agent token is required for heartbeat processing."
    );
}

#[tokio::test]
async fn target_raid_config_is_stored_where_a_raid_interface_exists() {
    let st = state();
    call(
        &st,
        "POST",
        "/v1/nodes",
        Some("latest"),
        Some(json!({"driver": "fake-hardware", "name": "f"})),
    )
    .await;
    call(
        &st,
        "POST",
        "/v1/nodes",
        Some("latest"),
        Some(json!({"driver": "redfish", "name": "r"})),
    )
    .await;
    let raid =
        json!({"logical_disks": [{"size_gb": "MAX", "raid_level": "1", "is_root_volume": true}]});
    let r = call(
        &st,
        "PUT",
        "/v1/nodes/f/states/raid",
        Some("latest"),
        Some(raid.clone()),
    )
    .await;
    assert_eq!(
        r.fault(),
        "Driver fake-hardware does not support raid (disabled or not implemented)."
    );
    let r = call(
        &st,
        "PUT",
        "/v1/nodes/r/states/raid",
        Some("latest"),
        Some(raid.clone()),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let n = call(&st, "GET", "/v1/nodes/r", Some("latest"), None)
        .await
        .json();
    assert_eq!(n["target_raid_config"], raid);
}

#[tokio::test]
async fn the_request_journal_records_provision_targets_and_statuses_outside_v1() {
    let st = state();
    call(
        &st,
        "POST",
        "/v1/nodes",
        Some("latest"),
        Some(json!({"driver": "fake-hardware", "name": "j1"})),
    )
    .await;
    call(
        &st,
        "PUT",
        "/v1/nodes/j1/states/provision",
        Some("latest"),
        Some(json!({"target": "provide"})),
    )
    .await;
    call(&st, "GET", "/v1/nodes/nope", Some("9.9"), None).await;
    let r = call(&st, "GET", "/_sim/requests", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers.get("X-OpenStack-Ironic-API-Version").is_none(),
        "the journal is not an Ironic resource"
    );
    let rows: Vec<(String, String, Value, u64)> = r.json()["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .map(|e| {
            (
                e["method"].as_str().expect("method").to_string(),
                e["path"].as_str().expect("path").to_string(),
                e["target"].clone(),
                e["status"].as_u64().expect("status"),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("POST".into(), "/v1/nodes".into(), Value::Null, 201),
            (
                "PUT".into(),
                "/v1/nodes/j1/states/provision".into(),
                json!("provide"),
                400
            ),
            ("GET".into(), "/v1/nodes/nope".into(), Value::Null, 406),
        ]
    );
    assert_eq!(st.requests().len(), 3);
}

/// Answers every conductor call in-process (power reads: off), as an engine would, until none is left.
fn satisfy_calls(st: &AppState) {
    use metal_sim::ironic::conductor::{BmcOp, Call, CallResult};
    use metal_sim::ironic::model::NodePower;
    for _ in 0..50 {
        let calls = st.step_conductor();
        if calls.is_empty() {
            return;
        }
        for call in calls {
            let outcome = match &call {
                Call::Bmc(b) if b.op == BmcOp::GetPower => Ok(CallResult::Power(NodePower::Off)),
                Call::Bmc(_) => Ok(CallResult::Done),
                Call::Agent(_) => Err("no agent in this test".to_string()),
            };
            st.complete_call(call.id(), outcome);
        }
    }
    panic!("the conductor kept asking for calls");
}

#[tokio::test]
async fn continue_inspection_stores_the_agents_inventory_and_adds_the_pxe_port() {
    let st = state();
    let node = call(
        &st,
        "POST",
        "/v1/nodes",
        Some("latest"),
        Some(json!({"driver": "ipmi", "name": "i1",
            "driver_info": {"ipmi_address": "127.0.0.9", "ipmi_username": "u", "ipmi_password": "p"}})),
    )
    .await
    .json();
    assert_eq!(node["inspect_interface"], "agent");
    let uuid = node["uuid"].as_str().expect("uuid").to_string();
    for target in ["manage", "inspect"] {
        let r = call(
            &st,
            "PUT",
            "/v1/nodes/i1/states/provision",
            Some("latest"),
            Some(json!({"target": target})),
        )
        .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
        satisfy_calls(&st);
    }
    let n = call(&st, "GET", "/v1/nodes/i1", Some("latest"), None)
        .await
        .json();
    assert_eq!(n["provision_state"], "inspect wait");
    assert!(n["reservation"].is_null(), "inspect wait holds no lock");

    let data = json!({
        "inventory": {
            "interfaces": [
                {"name": "eno1", "mac_address": "52:54:00:12:00:01"},
                {"name": "eno2", "mac_address": "52:54:00:12:00:02"},
            ],
            "boot": {"pxe_interface": "52:54:00:12:00:02"},
            "bmc_address": "127.0.0.9",
            "cpu": {"architecture": "x86_64", "count": 8},
        },
        "root_disk": {"name": "/dev/sda"},
    });
    let r = call(
        &st,
        "POST",
        "/v1/continue_inspection",
        Some("1.83"),
        Some(data.clone()),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.fault(), "API version 1.84 or newer is required");
    let r = call(
        &st,
        "POST",
        "/v1/continue_inspection",
        Some("1.84"),
        Some(json!({"inventory": {"interfaces": []}})),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.fault(), "No lookup information provided");

    // Found by its BMC address (no port yet): 202 with the lookup document and a fresh token.
    let r = call(
        &st,
        "POST",
        "/v1/continue_inspection",
        Some("1.84"),
        Some(data.clone()),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let body = r.json();
    assert_eq!(body["node"]["uuid"], uuid.as_str());
    assert_eq!(
        body["config"]["agent_token"].as_str().map(str::len),
        Some(48)
    );
    satisfy_calls(&st);
    let n = call(&st, "GET", "/v1/nodes/i1", Some("latest"), None)
        .await
        .json();
    assert_eq!(n["provision_state"], "manageable", "{n}");
    assert_eq!(n["properties"]["cpu_arch"], "x86_64");
    let inv = call(&st, "GET", "/v1/nodes/i1/inventory", Some("latest"), None)
        .await
        .json();
    assert_eq!(inv["inventory"]["cpu"]["count"], 8);
    assert_eq!(inv["plugin_data"]["root_disk"]["name"], "/dev/sda");
    let ports = call(&st, "GET", "/v1/ports?node=i1", Some("latest"), None)
        .await
        .json();
    let macs: Vec<&str> = ports["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .filter_map(|p| p["address"].as_str())
        .collect();
    assert_eq!(
        macs,
        ["52:54:00:12:00:02"],
        "only the PXE interface (add_ports=pxe)"
    );

    let r = call(
        &st,
        "POST",
        "/v1/continue_inspection",
        Some("1.84"),
        Some(data),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "not in inspect wait any more"
    );
}
