//! Who may see what: basic auth and sessions, the standard headers, the public service root and
//! metadata, each login's own system, and the single- and per-address layouts.

use super::support::*;

#[tokio::test]
async fn service_root_is_public_but_systems_need_credentials() {
    let (app, _, _) = setup(1);
    let root = send(&app, Method::GET, "/redfish/v1/", &[], None).await;
    assert_eq!(root.status, StatusCode::OK);
    assert_eq!(
        root.body["SessionService"]["@odata.id"],
        "/redfish/v1/SessionService"
    );
    let refused = send(&app, Method::GET, "/redfish/v1/Systems", &[], None).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(
        refused
            .headers
            .get(header::WWW_AUTHENTICATE)
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    assert!(message_id(&refused.body).ends_with("NoValidSession"));
}

#[tokio::test]
async fn wrong_password_is_refused_with_401() {
    let (app, _, _) = setup(1);
    let bad = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("admin:wrong")
    );
    let r = send(
        &app,
        Method::GET,
        "/redfish/v1/Systems",
        &[("authorization", &bad)],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn system_answers_with_the_standard_headers() {
    let (app, id, _) = setup(1);
    let r = get(&app, &format!("/redfish/v1/Systems/{id}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["odata-version"], "4.0");
    assert!(r.headers.contains_key(header::ETAG));
    assert_eq!(r.headers[header::ALLOW], "GET, HEAD, PATCH");
    assert_eq!(r.headers[header::CACHE_CONTROL], "no-cache");
    assert!(
        r.headers[header::LINK]
            .to_str()
            .unwrap()
            .contains("ComputerSystem.v1_20_0.json")
    );
    assert_eq!(r.body["PowerState"], "Off");
    assert_eq!(r.body["ProcessorSummary"]["Count"], 2);
    assert_eq!(r.body["MemorySummary"]["TotalSystemMemoryGiB"], 256.0);
    assert_eq!(r.body["PCIeDevices@odata.count"], 2);
    assert_eq!(r.body["Boot"]["BootSourceOverrideEnabled"], "Disabled");
}

#[tokio::test]
async fn session_token_works_until_logout() {
    let (app, id, _) = setup(1);
    let login = send(
        &app,
        Method::POST,
        "/redfish/v1/SessionService/Sessions",
        &[],
        Some(json!({"UserName": fixture::USER, "Password": fixture::PASSWORD})),
    )
    .await;
    assert_eq!(login.status, StatusCode::CREATED);
    let token = login.headers["x-auth-token"].to_str().unwrap().to_string();
    let location = login.headers[header::LOCATION]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(login.body["UserName"], fixture::USER);
    let uri = format!("/redfish/v1/Systems/{id}");
    let ok = send(&app, Method::GET, &uri, &[("x-auth-token", &token)], None).await;
    assert_eq!(ok.status, StatusCode::OK);
    let out = send(
        &app,
        Method::DELETE,
        &location,
        &[("x-auth-token", &token)],
        None,
    )
    .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    let after = send(&app, Method::GET, &uri, &[("x-auth-token", &token)], None).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn two_servers_built_from_the_same_seed_give_different_tokens_and_ids() {
    // Tokens and session ids are secrets from the OS, not behaviour derived from the fleet seed:
    // the same world served twice must not hand out the same ones.
    let (_, _, world) = setup(1);
    let login = |app: axum::Router| async move {
        let r = send(
            &app,
            Method::POST,
            "/redfish/v1/SessionService/Sessions",
            &[],
            Some(json!({"UserName": fixture::USER, "Password": fixture::PASSWORD})),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED);
        let token = r.headers["x-auth-token"].to_str().unwrap().to_string();
        (token, r.body["Id"].as_str().unwrap().to_string())
    };
    let (token_a, id_a) = login(redfish::app(fixture::state(&world))).await;
    let (token_b, id_b) = login(redfish::app(fixture::state(&world))).await;
    assert_eq!(token_a.len(), 32);
    assert_ne!(token_a, token_b);
    assert_ne!(id_a, id_b);
}

#[tokio::test]
async fn wrong_password_refuses_the_session() {
    let (app, _, _) = setup(1);
    let r = send(
        &app,
        Method::POST,
        "/redfish/v1/SessionService/Sessions",
        &[],
        Some(json!({"UserName": fixture::USER, "Password": "nope"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(!r.headers.contains_key("x-auth-token"));
}

#[tokio::test]
async fn metadata_and_odata_documents_are_public() {
    let (app, _, _) = setup(1);
    let request = Request::get("/redfish/v1/$metadata")
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let xml = String::from_utf8(
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    assert!(xml.contains("Namespace=\"ComputerSystem.v1_20_0\""));
    let odata = send(&app, Method::GET, "/redfish/v1/odata", &[], None).await;
    assert_eq!(odata.body["value"][0]["url"], "/redfish/v1/");
}

#[tokio::test]
async fn in_a_shared_service_each_login_reaches_only_its_own_system() {
    let world = fixture::world_with_passwords(2, SOCKET.parse().unwrap(), |n| format!("pw-{n}"));
    let app = redfish::app(fixture::state(&world));
    let first = &world.hosts()[0].bmc.system_id;
    let second = &world.hosts()[1].bmc.system_id;
    let login = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("admin:pw-1")
    );
    let own = send(
        &app,
        Method::GET,
        &format!("/redfish/v1/Systems/{first}"),
        &[("authorization", &login)],
        None,
    )
    .await;
    assert_eq!(own.status, StatusCode::OK);
    let other = send(
        &app,
        Method::GET,
        &format!("/redfish/v1/Systems/{second}"),
        &[("authorization", &login)],
        None,
    )
    .await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);
    assert!(message_id(&other.body).ends_with("InsufficientPrivilege"));
    let other_manager = send(
        &app,
        Method::GET,
        &format!("/redfish/v1/Managers/{second}/VirtualMedia"),
        &[("authorization", &login)],
        None,
    )
    .await;
    assert_eq!(other_manager.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_login_cannot_reach_another_system_by_escapes_sessions_or_updates() {
    let world = fixture::world_with_passwords(2, SOCKET.parse().unwrap(), |n| format!("pw-{n}"));
    let app = redfish::app(fixture::state(&world));
    let second = world.hosts()[1].bmc.system_id.clone();
    let basic = |n: u32| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("admin:pw-{n}"))
        )
    };
    let first_login = basic(1);
    let auth = [("authorization", first_login.as_str())];
    // The handler decodes `%61` to `a`: the access check must judge the same id.
    let escaped: String = second
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i == 0 {
                format!("%{:02X}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect();
    let r = send(
        &app,
        Method::GET,
        &format!("/redfish/v1/Systems/{escaped}"),
        &auth,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = send(&app, Method::GET, "/redfish/v1/Systems/%zz", &auth, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // The second login's session: invisible to the first, and not closable by it.
    let created = send(
        &app,
        Method::POST,
        "/redfish/v1/SessionService/Sessions",
        &[],
        Some(json!({"UserName": "admin", "Password": "pw-2"})),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let session = created.body["@odata.id"].as_str().unwrap().to_owned();
    let listed = send(
        &app,
        Method::GET,
        "/redfish/v1/SessionService/Sessions",
        &auth,
        None,
    )
    .await;
    assert_eq!(listed.body["Members@odata.count"], 0, "{}", listed.body);
    let read = send(&app, Method::GET, &session, &auth, None).await;
    assert_eq!(read.status, StatusCode::NOT_FOUND);
    let closed = send(&app, Method::DELETE, &session, &auth, None).await;
    assert_eq!(closed.status, StatusCode::NOT_FOUND);
    let second_login = basic(2);
    let own = [("authorization", second_login.as_str())];
    assert_eq!(
        send(&app, Method::GET, &session, &own, None).await.status,
        StatusCode::OK
    );

    // A firmware update of the second system, asked by the first login.
    let update = send(
        &app,
        Method::POST,
        "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate",
        &auth,
        Some(json!({"ImageURI": "http://127.0.0.1/fw.bin",
                    "Targets": [format!("/redfish/v1/Systems/{second}")]})),
    )
    .await;
    assert_eq!(update.status, StatusCode::FORBIDDEN, "{}", update.body);
}

#[tokio::test]
async fn single_address_layout_lists_every_system() {
    let (app, _, world) = setup(3);
    let r = get(&app, "/redfish/v1/Systems").await;
    assert_eq!(r.body["Members@odata.count"], 3);
    for host in world.hosts() {
        let s = get(&app, &format!("/redfish/v1/Systems/{}", host.bmc.system_id)).await;
        assert_eq!(s.body["HostName"], host.name.as_str());
    }
}

#[tokio::test]
async fn per_address_layout_gives_each_listener_exactly_its_own_system() {
    let world = fixture::world_per_address(3);
    let plans = world.listeners();
    assert_eq!(plans.len(), 3);
    for (plan, host) in plans.iter().zip(world.hosts()) {
        let app = redfish::app(redfish::state_for(&world, plan, ServiceOptions::default()));
        let systems = get(&app, "/redfish/v1/Systems").await;
        assert_eq!(systems.body["Members@odata.count"], 1);
        let member = systems.body["Members"][0]["@odata.id"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(
            member,
            format!("/redfish/v1/Systems/{}", host.bmc.system_id)
        );
        let root = get(&app, "/redfish/v1/").await;
        assert_eq!(root.body["UUID"], host.profile.system.uuid.to_string());
    }
}

#[tokio::test]
async fn unknown_uri_is_a_404_and_wrong_method_a_405_with_allow() {
    let (app, id, _) = setup(1);
    let missing = get(&app, "/redfish/v1/Nowhere").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(message_id(&missing.body).ends_with("ResourceNotFound"));
    let no_system = get(&app, "/redfish/v1/Systems/not-a-system").await;
    assert_eq!(no_system.status, StatusCode::NOT_FOUND);
    let wrong = send(
        &app,
        Method::DELETE,
        &format!("/redfish/v1/Systems/{id}"),
        &[("authorization", &basic())],
        None,
    )
    .await;
    assert_eq!(wrong.status, StatusCode::METHOD_NOT_ALLOWED);
    let allow = wrong.headers[header::ALLOW].to_str().unwrap();
    assert!(allow.contains("PATCH"), "Allow: {allow}");
    assert!(message_id(&wrong.body).ends_with("OperationNotAllowed"));
    let malformed = send(
        &app,
        Method::PATCH,
        &format!("/redfish/v1/Systems/{id}"),
        &[("authorization", &basic())],
        Some(json!([1, 2])),
    )
    .await;
    assert!(message_id(&malformed.body).ends_with("MalformedJSON"));
    let read_only = patch(
        &app,
        &format!("/redfish/v1/Systems/{id}"),
        json!({"PowerState": "On"}),
    )
    .await;
    assert!(message_id(&read_only.body).ends_with("PropertyNotWritable"));
}

#[tokio::test]
async fn trailing_slash_routes_like_without() {
    let (app, _, _) = setup(1);
    let r = get(&app, "/redfish/v1/Systems/").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["Members@odata.count"], 1);
}
