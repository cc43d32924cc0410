//! The mock Ironic's simulator-only API fault switch (`/_sim/faults`) through the router: it fails
//! the operator's API requests for a bounded count and window, never the agents', shows up in the
//! request journal, and refuses out-of-range settings.

mod support;

use axum::http::StatusCode;
use serde_json::{Value, json};
use support::ironic::{router_call as call, router_state as state};

#[tokio::test]
async fn the_switch_fails_exactly_max_failures_api_requests_then_serves_again() {
    let st = state();
    let (status, view) = call(
        &st,
        "POST",
        "/_sim/faults",
        Some(json!({"http_5xx_rate": 1.0, "status": 503, "for_seconds": 60, "max_failures": 2})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["active"], true);
    assert_eq!(view["remaining"], 2);

    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(call(&st, "GET", "/v1/nodes", None).await.0);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::SERVICE_UNAVAILABLE,
            StatusCode::SERVICE_UNAVAILABLE,
            StatusCode::OK,
            StatusCode::OK
        ]
    );
    let (_, view) = call(&st, "GET", "/_sim/faults", None).await;
    assert_eq!(view["active"], false);
    assert_eq!(view["injected"], 2);

    // The journal saw the failures as the client did.
    let (_, journal) = call(&st, "GET", "/_sim/requests", None).await;
    let failed = journal["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .filter(|e| e["path"] == "/v1/nodes" && e["status"] == 503)
        .count();
    assert_eq!(failed, 2);
}

#[tokio::test]
async fn an_injected_failure_has_ironics_error_shape_with_a_server_faultcode() {
    let st = state();
    call(
        &st,
        "POST",
        "/_sim/faults",
        Some(json!({"http_5xx_rate": 1.0, "status": 500, "for_seconds": 5})),
    )
    .await;
    let (status, body) = call(&st, "GET", "/v1/nodes/detail", None).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let inner: Value = serde_json::from_str(body["error_message"].as_str().expect("error_message"))
        .expect("inner");
    assert_eq!(inner["faultcode"], "Server");
}

#[tokio::test]
async fn agent_endpoints_are_served_while_the_api_is_failing() {
    let st = state();
    call(
        &st,
        "POST",
        "/_sim/faults",
        Some(json!({"http_5xx_rate": 1.0, "for_seconds": 60})),
    )
    .await;
    let (api, _) = call(&st, "GET", "/v1/nodes", None).await;
    assert_eq!(api, StatusCode::SERVICE_UNAVAILABLE);
    // No node has this MAC: the lookup itself answers (404), not the fault switch (503).
    let (lookup, _) = call(&st, "GET", "/v1/lookup?addresses=02:00:00:00:00:01", None).await;
    assert_ne!(lookup, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn delete_switches_the_fault_off_at_once() {
    let st = state();
    call(
        &st,
        "POST",
        "/_sim/faults",
        Some(json!({"http_5xx_rate": 1.0, "for_seconds": 60})),
    )
    .await;
    let (status, view) = call(&st, "DELETE", "/_sim/faults", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["active"], false);
    assert_eq!(call(&st, "GET", "/v1/nodes", None).await.0, StatusCode::OK);
}

#[tokio::test]
async fn unbounded_or_out_of_range_settings_are_refused_with_a_reason() {
    let st = state();
    for (body, reason) in [
        (
            json!({"http_5xx_rate": 2.0, "for_seconds": 1}),
            "http_5xx_rate",
        ),
        (
            json!({"http_5xx_rate": 0.5, "for_seconds": 0}),
            "for_seconds",
        ),
        (
            json!({"http_5xx_rate": 0.5, "for_seconds": 86400}),
            "for_seconds",
        ),
        (
            json!({"http_5xx_rate": 0.5, "status": 418, "for_seconds": 1}),
            "status",
        ),
        (json!({"http_5xx_rate": 0.5}), "for_seconds"),
        (
            json!({"http_5xx_rate": 0.5, "for_seconds": 1, "colour": 1}),
            "colour",
        ),
    ] {
        let (status, resp) = call(&st, "POST", "/_sim/faults", Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(resp.to_string().contains(reason), "{body} → {resp}");
    }
    assert_eq!(call(&st, "GET", "/v1/nodes", None).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_lost_database_forgets_every_node_and_port_and_a_node_created_again_gets_a_new_uuid() {
    let st = state();
    let (status, node) = call(
        &st,
        "POST",
        "/v1/nodes",
        Some(json!({"driver": "ipmi", "name": "lost-0"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let uuid = node["uuid"].as_str().expect("uuid").to_owned();
    let (status, _) = call(
        &st,
        "POST",
        "/v1/ports",
        Some(json!({"node_uuid": uuid, "address": "52:54:00:00:00:01"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    let (status, _) = call(&st, "POST", "/_sim/lose-database", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    assert_eq!(
        call(&st, "GET", &format!("/v1/nodes/{uuid}"), None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&st, "GET", "/v1/nodes/lost-0", None).await.0,
        StatusCode::NOT_FOUND
    );
    let (_, ports) = call(&st, "GET", "/v1/ports", None).await;
    assert_eq!(ports["ports"].as_array().map(Vec::len), Some(0));
    let (status, again) = call(
        &st,
        "POST",
        "/v1/nodes",
        Some(json!({"driver": "ipmi", "name": "lost-0"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_ne!(again["uuid"], uuid.as_str());
}

#[tokio::test]
async fn the_journal_names_the_node_of_a_creation_and_of_requests_by_uuid_even_after_a_lost_database()
 {
    let st = state();
    let create = Some(json!({"driver": "ipmi", "name": "ns~host-0"}));
    let (_, node) = call(&st, "POST", "/v1/nodes", create.clone()).await;
    let old = node["uuid"].as_str().expect("uuid").to_owned();
    call(&st, "GET", &format!("/v1/nodes/{old}"), None).await;
    call(&st, "POST", "/_sim/lose-database", None).await;
    // The old node is gone: a request naming its UUID is about no node the mock knows.
    call(&st, "GET", &format!("/v1/nodes/{old}"), None).await;
    let (_, again) = call(&st, "POST", "/v1/nodes", create).await;
    let new = again["uuid"].as_str().expect("uuid").to_owned();
    call(
        &st,
        "PUT",
        &format!("/v1/nodes/{new}/states/provision"),
        Some(json!({"target": "manage"})),
    )
    .await;
    call(&st, "DELETE", &format!("/v1/nodes/{new}"), None).await;
    let (_, journal) = call(&st, "GET", "/_sim/requests", None).await;
    let seen: Vec<(String, String, Value)> = journal["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .filter(|r| r["path"].as_str().is_some_and(|p| p.starts_with("/v1/")))
        .map(|r| {
            (
                r["method"].as_str().unwrap_or_default().to_owned(),
                r["path"]
                    .as_str()
                    .unwrap_or_default()
                    .replace(&new, "NEW")
                    .replace(&old, "OLD"),
                r["node"].clone(),
            )
        })
        .collect();
    let named = |m: &str, p: &str, n: Value| (m.to_owned(), p.to_owned(), n);
    assert_eq!(
        seen,
        vec![
            named("POST", "/v1/nodes", json!("ns~host-0")),
            named("GET", "/v1/nodes/OLD", json!("ns~host-0")),
            named("GET", "/v1/nodes/OLD", Value::Null),
            named("POST", "/v1/nodes", json!("ns~host-0")),
            named("PUT", "/v1/nodes/NEW/states/provision", json!("ns~host-0")),
            named("DELETE", "/v1/nodes/NEW", json!("ns~host-0")),
        ]
    );
}
