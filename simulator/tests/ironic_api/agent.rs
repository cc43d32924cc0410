//! The agent's endpoints (lookup, heartbeat, continue_inspection) and the request journal
//! outside `/v1`.

use super::support::*;

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
async fn agent_lookup_is_refused_outside_agent_states_and_heartbeat_needs_a_token() {
    let st = state();
    let node = create_fake(&st, "n1").await.json();
    latest(
        &st,
        "POST",
        "/v1/ports",
        Some(json!({"address": "52:54:00:00:00:01", "node_uuid": node["uuid"]})),
    )
    .await;
    let r = get(&st, "/v1/lookup?addresses=52:54:00:00:00:01").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = latest(
        &st,
        "POST",
        "/v1/heartbeat/n1",
        Some(json!({"callback_url": "http://127.0.0.1:9"})),
    )
    .await;
    assert_eq!(
        r.fault(),
        "Agent token is required for heartbeat processing."
    );
}

#[tokio::test]
async fn the_request_journal_records_provision_targets_and_statuses_outside_v1() {
    let st = state();
    create_fake(&st, "j1").await;
    provision(&st, "j1", "provide").await;
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

#[tokio::test]
async fn continue_inspection_stores_the_agents_inventory_and_adds_the_pxe_port() {
    let st = state();
    let node = latest(&st, "POST", "/v1/nodes", Some(json!({"driver": "ipmi", "name": "i1",
            "driver_info": {"ipmi_address": "127.0.0.9", "ipmi_username": "u", "ipmi_password": "p"}})))
    .await
    .json();
    assert_eq!(node["inspect_interface"], "agent");
    let uuid = node["uuid"].as_str().expect("uuid").to_string();
    for target in ["manage", "inspect"] {
        let r = provision(&st, "i1", target).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
        satisfy_calls(&st);
    }
    let n = get(&st, "/v1/nodes/i1").await.json();
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
    // Remembered, so a run can search its logs for every token handed out.
    let token = body["config"]["agent_token"].as_str().map(str::to_owned);
    assert_eq!(st.issued_tokens(), Vec::from_iter(token));
    satisfy_calls(&st);
    let n = get(&st, "/v1/nodes/i1").await.json();
    assert_eq!(n["provision_state"], "manageable", "{n}");
    assert_eq!(n["properties"]["cpu_arch"], "x86_64");
    let inv = get(&st, "/v1/nodes/i1/inventory").await.json();
    assert_eq!(inv["inventory"]["cpu"]["count"], 8);
    assert_eq!(inv["plugin_data"]["root_disk"]["name"], "/dev/sda");
    let ports = get(&st, "/v1/ports?node=i1").await.json();
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
