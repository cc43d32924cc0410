//! Events: a repeat on the same object extends the first Event's series (a PATCH of
//! `series.count`) instead of creating another one; a series whose Event is gone starts anew.

mod controller_support;

use controller_support::FakeApiServer;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Reporter};
use metal_operator::controller::events::Recorder;

fn power_off() -> Event {
    Event {
        type_: EventType::Normal,
        reason: "PowerOff".into(),
        note: Some("Host powered off".into()),
        action: "PowerOff".into(),
        secondary: None,
    }
}

fn host_ref(name: &str) -> ObjectReference {
    ObjectReference {
        api_version: Some("metal3.io/v1alpha1".into()),
        kind: Some("BareMetalHost".into()),
        namespace: Some("metal3".into()),
        name: Some(name.into()),
        uid: Some(format!("uid-{name}")),
        ..ObjectReference::default()
    }
}

fn event_requests(api: &FakeApiServer) -> Vec<(String, String)> {
    api.requests()
        .into_iter()
        .filter(|r| r.path.contains("/events"))
        .map(|r| (r.method, r.body))
        .collect()
}

#[tokio::test]
async fn a_repeated_event_extends_its_series_and_other_objects_get_their_own() {
    let api = FakeApiServer::start().await;
    let reporter = Reporter {
        controller: "metal3-baremetal-controller".into(),
        instance: Some("test".into()),
    };
    let recorder = Recorder::new(api.client(), reporter);
    recorder
        .publish(&power_off(), &host_ref("a"))
        .await
        .unwrap();
    recorder
        .publish(&power_off(), &host_ref("a"))
        .await
        .unwrap();
    recorder
        .publish(&power_off(), &host_ref("a"))
        .await
        .unwrap();
    recorder
        .publish(&power_off(), &host_ref("b"))
        .await
        .unwrap();
    let sent = event_requests(&api);
    let methods: Vec<&str> = sent.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(methods, ["POST", "PATCH", "PATCH", "POST"], "{sent:#?}");
    assert!(sent[2].1.contains("\"count\":3"), "{}", sent[2].1);
    let events = api.list("events");
    assert_eq!(events.len(), 2, "{events:#?}");
    let a = events
        .iter()
        .find(|e| e["regarding"]["name"] == "a")
        .expect("a's event");
    assert_eq!(a["series"]["count"], 3);
    assert_eq!(a["reportingController"], "metal3-baremetal-controller");
    assert_eq!(a["note"], "Host powered off");

    // The apiserver expired a's Event: the next repeat creates a new one.
    let name = a["metadata"]["name"].as_str().unwrap().to_owned();
    api.delete("events", "metal3", &name);
    recorder
        .publish(&power_off(), &host_ref("a"))
        .await
        .unwrap();
    let sent = event_requests(&api);
    let last: Vec<&str> = sent[4..].iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(last, ["PATCH", "POST"], "{sent:#?}");
    assert_eq!(api.list("events").len(), 2);
}
