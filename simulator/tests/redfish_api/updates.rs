//! Firmware updates: images only from loopback (no task otherwise), unknown components refused,
//! a fault ending the task in Exception with nothing installed, and a multipart push.

use super::support::*;
use metal_testkit::wait::{Check, Wait};

const SIMPLE_UPDATE: &str = "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate";
const BIOS: &str = "/redfish/v1/UpdateService/FirmwareInventory/BIOS";

async fn task_count(app: &Router) -> u64 {
    get(app, "/redfish/v1/TaskService/Tasks").await.body["Members@odata.count"]
        .as_u64()
        .unwrap()
}

/// Polls a task monitor until the task leaves Running; its final document.
async fn finished(app: &Router, monitor: &str) -> Value {
    Wait::new("the update task to finish", Duration::from_secs(5))
        .until_async(|| {
            let monitor = monitor.to_string();
            let app = app.clone();
            async move {
                let m = get(&app, &monitor).await;
                if m.body["TaskState"] != "Running" {
                    Check::Done(m.body)
                } else {
                    Check::Pending(format!("{}", m.body["PercentComplete"]))
                }
            }
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn images_off_loopback_or_of_another_scheme_are_refused_with_no_task() {
    let (app, _, _) = setup(1);
    for image in [
        "http://192.0.2.7/bios.bin",
        "https://firmware.example.com/bios.bin",
        "ftp://127.0.0.1/bios.bin",
        "file:///tmp/bios.bin",
    ] {
        let r = post(
            &app,
            SIMPLE_UPDATE,
            json!({"ImageURI": image, "Targets": [BIOS]}),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{image}");
        assert!(
            message_id(&r.body).ends_with("ActionParameterValueError"),
            "{}",
            r.body
        );
        assert!(message_args(&r.body).contains(&"ImageURI".to_string()));
    }
    let unknown = post(
        &app,
        SIMPLE_UPDATE,
        json!({"ImageURI": "http://127.0.0.1/x.bin", "Targets": ["/redfish/v1/UpdateService/FirmwareInventory/NIC.9"]}),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(
        message_args(&unknown.body).contains(&"Targets".to_string()),
        "{}",
        unknown.body
    );
    assert_eq!(task_count(&app).await, 0);
}

#[tokio::test]
async fn a_firmware_fault_ends_the_task_in_exception_and_installs_nothing() {
    let (app, _, world) = setup(1);
    world.hosts()[0].set_faults(
        world.now(),
        FaultSet {
            firmware_update_fail_rate: 1.0,
            ..FaultSet::none()
        },
    );
    let r = post(
        &app,
        SIMPLE_UPDATE,
        json!({"ImageURI": "http://127.0.0.1:8080/bios-next.bin", "Targets": [BIOS]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let monitor = r.headers[header::LOCATION].to_str().unwrap().to_string();
    let task = finished(&app, &monitor).await;
    assert_eq!(task["TaskState"], "Exception", "{task}");
    assert_eq!(task["TaskStatus"], "Critical");
    assert!(
        task["Messages"][0]["Message"]
            .as_str()
            .unwrap()
            .contains("failed verification")
    );
    assert_eq!(
        get(&app, BIOS).await.body["Version"],
        "2.1.9",
        "nothing installed"
    );
}

#[tokio::test]
async fn a_multipart_push_runs_the_same_task_as_simple_update() {
    let (app, _, _) = setup(1);
    let service = get(&app, "/redfish/v1/UpdateService").await;
    let push_uri = service.body["MultipartHttpPushUri"]
        .as_str()
        .unwrap()
        .to_string();
    let send_push = |body: Vec<u8>| {
        let app = app.clone();
        let uri = push_uri.clone();
        async move {
            let request = Request::builder()
                .method(Method::POST)
                .uri(uri)
                .header("authorization", basic())
                .header(header::CONTENT_TYPE, "multipart/form-data; boundary=b0und")
                .body(Body::from(body))
                .unwrap();
            app.oneshot(request).await.unwrap()
        }
    };
    let form = |parameters: &str, file: &[u8]| {
        let mut b = format!(
            "--b0und\r\nContent-Disposition: form-data; name=\"UpdateParameters\"\r\nContent-Type: application/json\r\n\r\n{parameters}\r\n--b0und\r\nContent-Disposition: form-data; name=\"UpdateFile\"; filename=\"bios.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .into_bytes();
        b.extend_from_slice(file);
        b.extend_from_slice(b"\r\n--b0und--\r\n");
        b
    };
    let empty = send_push(form(&format!(r#"{{"Targets": ["{BIOS}"]}}"#), b"")).await;
    assert_eq!(empty.status(), StatusCode::BAD_REQUEST);
    let unknown = send_push(form(r#"{"Targets": [], "Colour": 1}"#, b"\x7fELF")).await;
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    let garbage = send_push(b"not multipart at all".to_vec()).await;
    assert_eq!(garbage.status(), StatusCode::BAD_REQUEST);
    assert_eq!(task_count(&app).await, 0);
    let accepted = send_push(form(
        &format!(r#"{{"Targets": ["{BIOS}"]}}"#),
        b"\x7fELF\x00\x01",
    ))
    .await;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    let monitor = accepted.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_string();
    let task = finished(&app, &monitor).await;
    assert_eq!(task["TaskState"], "Completed", "{task}");
    assert_eq!(get(&app, BIOS).await.body["Version"], "2.1.10");
}
