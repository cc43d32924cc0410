//! EventService: subscriptions to loopback destinations only, headers kept but never shown, and
//! events POSTed to a listener in the test after a power action, a health change and a test event.

use std::sync::{Arc, Mutex};

use super::support::*;
use metal_sim::fault::{Degraded, Health, PartKind};
use metal_testkit::wait::Wait;

/// What the test's subscriber received: (header `x-token`, body).
type Inbox = Arc<Mutex<Vec<(Option<String>, Value)>>>;

/// A loopback HTTP listener recording every POSTed event; answers 204.
async fn subscriber() -> (String, Inbox, tokio::task::JoinHandle<()>) {
    let inbox: Inbox = Arc::default();
    let app = axum::Router::new().route(
        "/events",
        axum::routing::post({
            let inbox = Arc::clone(&inbox);
            move |headers: HeaderMap, body: axum::body::Bytes| async move {
                let token = headers
                    .get("x-token")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
                inbox.lock().unwrap().push((token, body));
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/events", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, inbox, task)
}

async fn wait_for(inbox: &Inbox, message: &str) -> (Option<String>, Value) {
    Wait::new(format!("an event {message}"), Duration::from_secs(10))
        .until_some(|| {
            inbox
                .lock()
                .unwrap()
                .iter()
                .find(|(_, b)| {
                    b["Events"][0]["MessageId"]
                        .as_str()
                        .is_some_and(|m| m.ends_with(message))
                })
                .cloned()
        })
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_on_loopback_receives_power_health_and_test_events() {
    let (app, id, world) = setup(1);
    let (url, inbox, task) = subscriber().await;
    let subs = "/redfish/v1/EventService/Subscriptions";
    let created = post(
        &app,
        subs,
        json!({"Destination": url, "Context": "ctx-1", "Protocol": "Redfish",
               "HttpHeaders": [{"X-Token": "hush-123"}]}),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let location = created.headers[header::LOCATION]
        .to_str()
        .unwrap()
        .to_string();
    let shown = get(&app, &location).await;
    assert_eq!(shown.body["Destination"], url.as_str());
    assert_eq!(shown.body["HttpHeaders"], json!([]));
    assert!(!shown.body.to_string().contains("hush-123"));

    post(
        &app,
        &format!("/redfish/v1/Systems/{id}/Actions/ComputerSystem.Reset"),
        json!({"ResetType": "On"}),
    )
    .await;
    world.tick_all(world.now());
    let (token, event) = wait_for(&inbox, "ResourcePoweredOn").await;
    assert_eq!(token.as_deref(), Some("hush-123"));
    assert_eq!(event["Context"], "ctx-1");
    assert_eq!(
        event["Events"][0]["OriginOfCondition"]["@odata.id"],
        format!("/redfish/v1/Systems/{id}")
    );

    world.hosts()[0].set_faults(
        world.now(),
        FaultSet {
            degraded: vec![Degraded {
                part: PartKind::Drive,
                index: 0,
                health: Health::Warning,
            }],
            ..FaultSet::none()
        },
    );
    let (_, alert) = wait_for(&inbox, "ResourceStatusChangedWarning").await;
    assert_eq!(alert["Events"][0]["EventType"], "Alert");

    let test = post(
        &app,
        "/redfish/v1/EventService/Actions/EventService.SubmitTestEvent",
        json!({"Message": "hello"}),
    )
    .await;
    assert_eq!(test.status, StatusCode::NO_CONTENT);
    wait_for(&inbox, "ResourceChanged").await;

    assert_eq!(delete(&app, &location).await.status, StatusCode::NO_CONTENT);
    assert_eq!(get(&app, &location).await.status, StatusCode::NOT_FOUND);
    task.abort();
}

#[tokio::test]
async fn a_subscription_off_loopback_or_malformed_is_refused_naming_the_property() {
    let (app, _, _) = setup(1);
    let subs = "/redfish/v1/EventService/Subscriptions";
    let cases = [
        (
            json!({"Destination": "http://10.1.2.3/events"}),
            "PropertyValueIncorrect",
            "Destination",
        ),
        (
            json!({"Destination": "https://example.com/e"}),
            "PropertyValueIncorrect",
            "Destination",
        ),
        (
            json!({"Destination": "ftp://127.0.0.1/e"}),
            "PropertyValueIncorrect",
            "Destination",
        ),
        (
            json!({"Context": "x"}),
            "CreateFailedMissingReqProperties",
            "Destination",
        ),
        (
            json!({"Destination": "http://127.0.0.1:9/e", "EventTypes": ["Weather"]}),
            "PropertyValueNotInList",
            "EventTypes",
        ),
        (
            json!({"Destination": "http://127.0.0.1:9/e", "Protocol": "SNMPv3"}),
            "PropertyValueNotInList",
            "Protocol",
        ),
        (
            json!({"Destination": "http://127.0.0.1:9/e", "Severity": "high"}),
            "PropertyUnknown",
            "Severity",
        ),
    ];
    for (body, message, property) in cases {
        let r = post(&app, subs, body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.body);
        assert!(message_id(&r.body).ends_with(message), "{body}: {}", r.body);
        assert!(
            message_args(&r.body).iter().any(|a| a == property),
            "{body}: {:?}",
            message_args(&r.body)
        );
    }
    assert_eq!(get(&app, subs).await.body["Members@odata.count"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_subscriber_does_not_block_the_bmc_or_a_live_one() {
    let (app, id, world) = setup(1);
    // Nothing listens on the dead one's port once the listener is dropped.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/events", l.local_addr().unwrap())
    };
    let (url, inbox, task) = subscriber().await;
    let subs = "/redfish/v1/EventService/Subscriptions";
    assert_eq!(
        post(&app, subs, json!({"Destination": dead})).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        post(&app, subs, json!({"Destination": url})).await.status,
        StatusCode::CREATED
    );
    for reset in ["On", "ForceOff", "On"] {
        let r = post(
            &app,
            &format!("/redfish/v1/Systems/{id}/Actions/ComputerSystem.Reset"),
            json!({"ResetType": reset}),
        )
        .await;
        assert!(r.status.is_success(), "{reset}: {}", r.body);
        world.tick_all(world.now());
    }
    wait_for(&inbox, "ResourcePoweredOff").await;
    task.abort();
}
