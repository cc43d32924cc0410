//! Power and boot: ETag preconditions, every reset type, graceful shutdown of an off system,
//! bad reset types, and one-time and continuous boot overrides.

use super::support::*;

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
