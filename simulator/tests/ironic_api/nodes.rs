//! Microversion negotiation, Ironic's error envelopes, and nodes: enrolment, provision states,
//! locks, listing, JSON patch, deletion and name lookup.

use super::support::*;

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
    let r = get(&st, "/v1/nodes/nope").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        r.text,
        r#"{"error_message": "{\"faultcode\": \"Client\", \"faultstring\": \"Node nope could not be found.\", \"debuginfo\": null}"}"#
    );
}

#[tokio::test]
async fn fake_hardware_node_runs_manage_provide_deploy_undeploy() {
    let st = state();
    let r = create_fake(&st, "n1").await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.json()["provision_state"], "enroll");
    let r = provision(&st, "n1", "provide").await;
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
        let r = latest(&st, "PUT", "/v1/nodes/n1/states/provision", Some(body)).await;
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
    create_fake(&st, "n1").await;
    provision(&st, "n1", "manage").await;
    let r = provision(&st, "n1", "manage").await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.fault().ends_with(
        "is locked by host localhost, please retry after the current operation is completed."
    ));
}

#[tokio::test]
async fn listing_honours_fields_filters_and_detail() {
    let st = state();
    for (name, driver) in [("a", "fake-hardware"), ("b", "redfish")] {
        latest(
            &st,
            "POST",
            "/v1/nodes",
            Some(json!({"driver": driver, "name": name})),
        )
        .await;
    }
    latest(
        &st,
        "PUT",
        "/v1/nodes/a/maintenance",
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
    let r = get(&st, "/v1/nodes?driver=redfish").await;
    let keys: Vec<String> = r.json()["nodes"][0]
        .as_object()
        .expect("obj")
        .keys()
        .cloned()
        .collect();
    assert_eq!(keys.len(), 7, "{keys:?}");
    let r = get(&st, "/v1/nodes/detail").await;
    assert_eq!(r.json()["nodes"].as_array().expect("list").len(), 2);
    assert_eq!(r.json()["nodes"][1]["driver_info"], json!({}));
    let r = get(&st, "/v1/nodes/detail?fields=name").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn json_patch_updates_allowed_fields_and_refuses_others() {
    let st = state();
    latest(
        &st,
        "POST",
        "/v1/nodes",
        Some(json!({"driver": "redfish", "name": "r1", "driver_info": {"redfish_password": "pw"}})),
    )
    .await;
    let patch = json!([{"op": "add", "path": "/extra/foo", "value": "bar"}, {"op": "add", "path": "/driver_info/redfish_address", "value": "http://127.0.0.1:1"}]);
    let r = latest(&st, "PATCH", "/v1/nodes/r1", Some(patch)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["extra"], json!({"foo": "bar"}));
    assert_eq!(
        r.json()["driver_info"],
        json!({"redfish_address": "http://127.0.0.1:1", "redfish_password": "******"})
    );
    let r = latest(
        &st,
        "PATCH",
        "/v1/nodes/r1",
        Some(json!([{"op": "replace", "path": "/provision_state", "value": "active"}])),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.fault().starts_with(
        "Cannot patch /provision_state. Only the following can be updated: automated_clean,"
    ));
}

#[tokio::test]
async fn a_patch_cannot_read_a_secret_into_a_readable_field() {
    let st = state();
    latest(
        &st,
        "POST",
        "/v1/nodes",
        Some(json!({"driver": "redfish", "name": "r1",
                    "driver_info": {"redfish_password": "pw", "redfish_address": "http://127.0.0.1:1"},
                    "instance_info": {"configdrive": {"user_data": "#cloud-config\npassword: x"}}})),
    )
    .await;
    for (op, from) in [
        ("copy", "/driver_info/redfish_password"),
        ("move", "/driver_info/redfish_password"),
        ("copy", "/driver_info"),
        ("copy", "/instance_info/configdrive"),
        ("copy", ""),
        ("copy", "/driver_info/redfish~1password"),
    ] {
        let patch = json!([{"op": op, "from": from, "path": "/extra/leak"}]);
        let r = latest(&st, "PATCH", "/v1/nodes/r1", Some(patch)).await;
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "{op} from {from:?}: {}",
            r.text
        );
        assert!(r.fault().contains("secret"), "{}", r.fault());
    }
    // A test of a password would answer whether a guess is right.
    let guess = json!([{"op": "test", "path": "/driver_info/redfish_password", "value": "pw"}]);
    let r = latest(&st, "PATCH", "/v1/nodes/r1", Some(guess)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = get(&st, "/v1/nodes/r1").await;
    assert_eq!(r.json()["extra"], json!({}));
    assert_eq!(r.json()["driver_info"]["redfish_password"], "******");
    assert_eq!(r.json()["instance_info"]["configdrive"], "******");
    // Copying what is not secret still works, and an instance_info edit keeps the config drive.
    let patch = json!([{"op": "copy", "from": "/driver_info/redfish_address", "path": "/extra/bmc"},
                       {"op": "add", "path": "/instance_info/image_source", "value": "http://127.0.0.1/i"}]);
    let r = latest(&st, "PATCH", "/v1/nodes/r1", Some(patch)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["extra"]["bmc"], "http://127.0.0.1:1");
    let kept = st.with_store(|store| {
        store
            .conductor()
            .nodes
            .values()
            .map(|n| n.instance_info.clone())
            .next()
    });
    assert_eq!(
        kept.expect("the node")["configdrive"],
        json!({"user_data": "#cloud-config\npassword: x"})
    );
}

#[tokio::test]
async fn deleting_an_active_node_is_refused_unless_in_maintenance() {
    let st = state();
    create_fake(&st, "n1").await;
    for target in ["manage", "provide", "active"] {
        provision(&st, "n1", target).await;
        settle(&st, "n1").await;
    }
    let r = latest(&st, "DELETE", "/v1/nodes/n1", None).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(
        r.fault()
            .contains("while it is in provision state \"active\"")
    );
    latest(&st, "PUT", "/v1/nodes/n1/maintenance", Some(json!({}))).await;
    assert_eq!(
        latest(&st, "DELETE", "/v1/nodes/n1", None).await.status,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn names_are_not_resolved_before_one_point_five() {
    let st = state();
    create_fake(&st, "n1").await;
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
