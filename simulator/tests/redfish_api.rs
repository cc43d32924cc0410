//! The fake Redfish service through its router (`tower::ServiceExt::oneshot`): authentication,
//! sessions, ETags, reset and boot semantics, BIOS settings, media, updates, errors and faults.

#[path = "redfish_fixture.rs"]
mod fixture;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use base64::Engine;
use http_body_util::BodyExt;
use metal_sim::fault::FaultSet;
use metal_sim::machine::Timing;
use metal_sim::redfish::{self, DropConnection, ServiceOptions};
use serde_json::{Value, json};
use tower::ServiceExt;

const SOCKET: &str = "127.0.0.1:8000";

fn basic() -> String {
    let raw = format!("{}:{}", fixture::USER, fixture::PASSWORD);
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
    dropped: bool,
}

async fn send(
    app: &Router,
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Reply {
    let mut request = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let request = match body {
        Some(b) => request
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(serde_json::to_vec(&b).unwrap()))
            .unwrap(),
        None => request.body(Body::empty()).unwrap(),
    };
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let dropped = response.extensions().get::<DropConnection>().is_some();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    };
    Reply {
        status,
        headers,
        body,
        dropped,
    }
}

async fn get(app: &Router, uri: &str) -> Reply {
    send(app, Method::GET, uri, &[("authorization", &basic())], None).await
}

async fn post(app: &Router, uri: &str, body: Value) -> Reply {
    send(
        app,
        Method::POST,
        uri,
        &[("authorization", &basic())],
        Some(body),
    )
    .await
}

async fn patch(app: &Router, uri: &str, body: Value) -> Reply {
    send(
        app,
        Method::PATCH,
        uri,
        &[("authorization", &basic())],
        Some(body),
    )
    .await
}

fn setup(count: u8) -> (Router, String, std::sync::Arc<metal_sim::machine::World>) {
    let world = fixture::world(
        count,
        SOCKET.parse::<SocketAddr>().unwrap(),
        false,
        Timing::instant(),
    );
    let app = redfish::app(fixture::state(&world));
    let id = fixture::system_id(&world);
    (app, id, world)
}

fn message_id(body: &Value) -> String {
    body["error"]["@Message.ExtendedInfo"][0]["MessageId"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

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
async fn stale_if_match_is_refused_and_current_etag_accepted() {
    let (app, id, _) = setup(1);
    let uri = format!("/redfish/v1/Systems/{id}");
    let etag = get(&app, &uri).await.headers[header::ETAG]
        .to_str()
        .unwrap()
        .to_string();
    let body =
        json!({"Boot": {"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Once"}});
    let stale = send(
        &app,
        Method::PATCH,
        &uri,
        &[
            ("authorization", &basic()),
            ("if-match", "\"0000000000000000\""),
        ],
        Some(body.clone()),
    )
    .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    assert!(message_id(&stale.body).ends_with("PreconditionFailed"));
    let fresh = send(
        &app,
        Method::PATCH,
        &uri,
        &[("authorization", &basic()), ("if-match", &etag)],
        Some(body),
    )
    .await;
    assert_eq!(fresh.status, StatusCode::OK);
    assert_eq!(fresh.body["Boot"]["BootSourceOverrideTarget"], "Pxe");
    assert_ne!(fresh.headers[header::ETAG].to_str().unwrap(), etag);
}

#[tokio::test]
async fn reset_on_and_force_off_drive_the_machine() {
    let (app, id, world) = setup(1);
    let action = format!("/redfish/v1/Systems/{id}/Actions/ComputerSystem.Reset");
    assert_eq!(
        post(&app, &action, json!({"ResetType": "On"})).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        get(&app, &format!("/redfish/v1/Systems/{id}")).await.body["PowerState"],
        "On"
    );
    assert_eq!(world.hosts()[0].view(world.now()).power.as_str(), "On");
    assert_eq!(
        post(&app, &action, json!({"ResetType": "ForceOff"}))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        get(&app, &format!("/redfish/v1/Systems/{id}")).await.body["PowerState"],
        "Off"
    );
}

#[tokio::test]
async fn graceful_shutdown_of_a_powered_off_system_is_a_conflict() {
    let (app, id, _) = setup(1);
    let action = format!("/redfish/v1/Systems/{id}/Actions/ComputerSystem.Reset");
    let r = post(&app, &action, json!({"ResetType": "GracefulShutdown"})).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.body["error"]["@Message.ExtendedInfo"].is_array());
}

#[tokio::test]
async fn unknown_or_missing_reset_type_is_a_400_naming_the_parameter() {
    let (app, id, _) = setup(1);
    let action = format!("/redfish/v1/Systems/{id}/Actions/ComputerSystem.Reset");
    let unknown = post(&app, &action, json!({"ResetType": "Explode"})).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(message_id(&unknown.body).ends_with("ActionParameterValueNotInList"));
    let missing = post(&app, &action, json!({})).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert!(message_id(&missing.body).ends_with("ActionParameterMissing"));
    let info = get(&app, &format!("/redfish/v1/Systems/{id}/ResetActionInfo")).await;
    assert_eq!(
        info.body["Parameters"][0]["AllowableValues"]
            .as_array()
            .unwrap()
            .len(),
        9
    );
}

#[tokio::test]
async fn once_override_is_cleared_after_the_boot_and_continuous_survives() {
    let (app, id, world) = setup(1);
    let uri = format!("/redfish/v1/Systems/{id}");
    let action = format!("{uri}/Actions/ComputerSystem.Reset");
    let set = patch(
        &app,
        &uri,
        json!({"Boot": {"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Once"}}),
    )
    .await;
    assert_eq!(set.body["Boot"]["BootSourceOverrideEnabled"], "Once");
    post(&app, &action, json!({"ResetType": "On"})).await;
    let after = get(&app, &uri).await;
    assert_eq!(after.body["Boot"]["BootSourceOverrideEnabled"], "Disabled");
    assert_eq!(after.body["Boot"]["BootSourceOverrideTarget"], "None");
    let last = world.hosts()[0].view(world.now()).last_boot.unwrap();
    assert_eq!(last.source.map(|s| s.as_str()), Some("Pxe"));

    patch(&app, &uri, json!({"Boot": {"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Continuous"}})).await;
    post(&app, &action, json!({"ResetType": "ForceRestart"})).await;
    let kept = get(&app, &uri).await;
    assert_eq!(kept.body["Boot"]["BootSourceOverrideEnabled"], "Continuous");
    assert_eq!(kept.body["Boot"]["BootSourceOverrideTarget"], "Pxe");
}

#[tokio::test]
async fn bios_settings_stay_pending_until_the_next_reset() {
    let (app, id, _) = setup(1);
    let bios = format!("/redfish/v1/Systems/{id}/Bios");
    let current = get(&app, &bios).await;
    assert_eq!(current.body["Attributes"]["ProcVirtualization"], "Enabled");
    let settings = current.body["@Redfish.Settings"]["SettingsObject"]["@odata.id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = patch(
        &app,
        &settings,
        json!({"Attributes": {"ProcVirtualization": "Disabled"}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        get(&app, &settings).await.body["Attributes"]["ProcVirtualization"],
        "Disabled"
    );
    assert_eq!(
        get(&app, &bios).await.body["Attributes"]["ProcVirtualization"],
        "Enabled"
    );
    post(
        &app,
        &format!("/redfish/v1/Systems/{id}/Actions/ComputerSystem.Reset"),
        json!({"ResetType": "On"}),
    )
    .await;
    assert_eq!(
        get(&app, &bios).await.body["Attributes"]["ProcVirtualization"],
        "Disabled"
    );
    let unknown = patch(&app, &settings, json!({"Attributes": {"NoSuchKnob": 1}})).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn virtual_media_is_shared_between_system_and_manager_paths() {
    let (app, id, _) = setup(1);
    let sys_cd = format!("/redfish/v1/Systems/{id}/VirtualMedia/Cd");
    let mgr_cd = format!("/redfish/v1/Managers/{id}/VirtualMedia/Cd");
    let insert = post(
        &app,
        &format!("{mgr_cd}/Actions/VirtualMedia.InsertMedia"),
        json!({"Image": "http://127.0.0.1:8080/ipa.iso", "Inserted": true, "WriteProtected": true}),
    )
    .await;
    assert_eq!(insert.status, StatusCode::NO_CONTENT);
    let seen = get(&app, &sys_cd).await;
    assert_eq!(seen.body["Inserted"], true);
    assert_eq!(seen.body["Image"], "http://127.0.0.1:8080/ipa.iso");
    assert_eq!(seen.body["ImageName"], "ipa.iso");
    let bad = post(
        &app,
        &format!("{sys_cd}/Actions/VirtualMedia.InsertMedia"),
        json!({"Image": "not a url"}),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let eject = post(
        &app,
        &format!("{sys_cd}/Actions/VirtualMedia.EjectMedia"),
        json!({}),
    )
    .await;
    assert_eq!(eject.status, StatusCode::NO_CONTENT);
    assert_eq!(get(&app, &mgr_cd).await.body["Inserted"], false);
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
async fn simple_update_runs_a_task_that_installs_the_new_version() {
    let world = fixture::world(1, SOCKET.parse().unwrap(), false, Timing::instant());
    let plan = world.listeners().remove(0);
    let options = ServiceOptions {
        update_duration: Some(Duration::from_millis(150)),
        ..ServiceOptions::default()
    };
    let app = redfish::app(redfish::state_for(&world, &plan, options));
    let started = post(
        &app,
        "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate",
        json!({"ImageURI": "http://127.0.0.1:8080/bios-2.2.0.bin", "Targets": ["/redfish/v1/UpdateService/FirmwareInventory/BIOS"]}),
    )
    .await;
    assert_eq!(started.status, StatusCode::ACCEPTED);
    let monitor = started.headers[header::LOCATION]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(started.body["TaskState"], "Running");
    let mut state = String::new();
    for _ in 0..50 {
        let m = get(&app, &monitor).await;
        state = m.body["TaskState"].as_str().unwrap_or_default().to_string();
        if m.status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(state, "Completed");
    let bios = get(&app, "/redfish/v1/UpdateService/FirmwareInventory/BIOS").await;
    assert_eq!(bios.body["Version"], "2.1.10");
    let id = fixture::system_id(&world);
    let system = get(&app, &format!("/redfish/v1/Systems/{id}")).await;
    assert_eq!(system.body["BiosVersion"], "2.1.10");
}

#[tokio::test]
async fn unreachable_fault_drops_and_5xx_fault_fails_requests() {
    let socket: SocketAddr = SOCKET.parse().unwrap();
    let down = FaultSet {
        unreachable: vec![metal_sim::fault::Window {
            from: Duration::ZERO,
            until: None,
        }],
        ..FaultSet::default()
    };
    let world = fixture::world_with_faults(1, socket, false, Timing::instant(), down);
    let app = redfish::app(fixture::state(&world));
    let r = get(&app, "/redfish/v1/Systems").await;
    assert!(r.dropped, "an unreachable BMC must not answer");

    let failing = FaultSet {
        http_5xx_rate: 1.0,
        ..FaultSet::default()
    };
    let world = fixture::world_with_faults(1, socket, false, Timing::instant(), failing);
    let app = redfish::app(fixture::state(&world));
    let r = get(&app, "/redfish/v1/Systems").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(message_id(&r.body).ends_with("ServiceTemporarilyUnavailable"));
}

#[tokio::test]
async fn power_ack_without_effect_fault_leaves_the_machine_off() {
    let faults = FaultSet {
        power_ack_no_effect_rate: 1.0,
        ..FaultSet::default()
    };
    let world =
        fixture::world_with_faults(1, SOCKET.parse().unwrap(), false, Timing::instant(), faults);
    let app = redfish::app(fixture::state(&world));
    let id = fixture::system_id(&world);
    let r = post(
        &app,
        &format!("/redfish/v1/Systems/{id}/Actions/ComputerSystem.Reset"),
        json!({"ResetType": "On"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        get(&app, &format!("/redfish/v1/Systems/{id}")).await.body["PowerState"],
        "Off"
    );
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
async fn every_reset_type_from_on_ends_in_the_documented_power_state() {
    // (reset type, power state once the transition has completed, boots it caused)
    let table = [
        ("ForceRestart", "On", 1),
        ("GracefulRestart", "On", 1),
        ("PowerCycle", "On", 1),
        ("Nmi", "On", 0),
        ("On", "On", 0),
        ("ForceOn", "On", 0),
        ("GracefulShutdown", "Off", 0),
        ("PushPowerButton", "Off", 0),
        ("ForceOff", "Off", 0),
    ];
    for (reset, expected, boots) in table {
        let (app, id, world) = setup(1);
        let action = format!("/redfish/v1/Systems/{id}/Actions/ComputerSystem.Reset");
        post(&app, &action, json!({"ResetType": "On"})).await;
        let before = world.hosts()[0]
            .view(world.now())
            .last_boot
            .map_or(0, |b| b.count);
        let r = post(&app, &action, json!({"ResetType": reset})).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{reset}: {:?}", r.body);
        let system = get(&app, &format!("/redfish/v1/Systems/{id}")).await;
        assert_eq!(system.body["PowerState"], expected, "{reset}");
        let after = world.hosts()[0]
            .view(world.now())
            .last_boot
            .map_or(0, |b| b.count);
        assert_eq!(after - before, boots, "{reset}: boots");
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
async fn stuck_power_fault_holds_the_system_in_its_transition_until_cleared() {
    let faults = FaultSet {
        power_stick_rate: 1.0,
        ..FaultSet::default()
    };
    let world =
        fixture::world_with_faults(1, SOCKET.parse().unwrap(), false, Timing::instant(), faults);
    let app = redfish::app(fixture::state(&world));
    let id = fixture::system_id(&world);
    let uri = format!("/redfish/v1/Systems/{id}");
    let r = post(
        &app,
        &format!("{uri}/Actions/ComputerSystem.Reset"),
        json!({"ResetType": "On"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(get(&app, &uri).await.body["PowerState"], "PoweringOn");
    world.hosts()[0].set_faults(world.now(), FaultSet::default());
    assert_eq!(get(&app, &uri).await.body["PowerState"], "On");
}
