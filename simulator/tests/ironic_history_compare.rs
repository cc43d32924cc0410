//! A node's history against REAL Ironic 39.0.0 and the mock, side by side: empty at first, then
//! the event a failed manual clean records (fake-hardware refuses the step), listed plain, with
//! `detail`, paged (`limit`, the `next` link), reversed; the invalid queries, a node or an event
//! that does not exist, below 1.78. Same status, same body once UUIDs and times are labels (an
//! event's own UUID, made by each server, reads `<event>`).

#[path = "ironic_real/mod.rs"]
mod ironic_real;
mod support;

use ironic_real::compare::{Server, Step, node_keys, replay};
use metal_sim::ironic::conductor::{Settings, Timings};
use serde_json::{Value, json};

fn step(method: &'static str, path: &str, body: Option<Value>) -> (Step, Option<&'static str>) {
    ((method, path.to_string(), body), None)
}

fn at(version: &'static str, s: (Step, Option<&'static str>)) -> (Step, Option<&'static str>) {
    (s.0, Some(version))
}

const ABSENT: &str = "0a6bd4f6-0000-4000-8000-000000000009";

/// `line` with every UUID no label replaced written `<event>` (the labelled ones are `<name>`
/// already).
fn events_alike(line: &str) -> String {
    let is_uuid = |w: &[u8]| {
        w.len() == 36
            && w.iter().enumerate().all(|(i, b)| match i {
                8 | 13 | 18 | 23 => *b == b'-',
                _ => b.is_ascii_hexdigit(),
            })
    };
    let bytes = line.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < bytes.len() {
        if i + 36 <= bytes.len() && is_uuid(&bytes[i..i + 36]) && &line[i..i + 36] != ABSENT {
            out.push_str("<event>");
            i += 36;
        } else {
            let c = line[i..].chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8();
        }
    }
    node_keys(&out, &["provision_state"])
}

#[tokio::test(flavor = "multi_thread")]
async fn mock_and_real_ironic_keep_node_history_alike() {
    let Some((real, mock, task)) = ironic_real::start_real_and_mock(Timings::instant(), 7).await
    else {
        return;
    };
    let mut servers = [Server::new(real.url(), "1.89"), Server::new(&mock, "1.89")];
    let history = "/v1/nodes/h-n1/history";
    let mut differences = replay(
        &mut servers,
        vec![
            step(
                "POST",
                "/v1/nodes",
                Some(json!({"name": "h-n1", "driver": "fake-hardware"})),
            ),
            step("GET", history, None),
            step(
                "PUT",
                "/v1/nodes/h-n1/states/provision",
                Some(json!({"target": "manage"})),
            ),
        ],
        events_alike,
    )
    .await;
    for s in servers.iter_mut() {
        s.settle("/v1/nodes/h-n1", "provision_state", json!("manageable"))
            .await;
    }
    differences.extend(
        replay(
            &mut servers,
            vec![step(
                "PUT",
                "/v1/nodes/h-n1/states/provision",
                Some(json!({"target": "clean", "clean_steps": [{"interface": "deploy", "step": "nope"}]})),
            )],
            events_alike,
        )
        .await,
    );
    for s in servers.iter_mut() {
        s.settle("/v1/nodes/h-n1", "provision_state", json!("clean failed"))
            .await;
    }
    let steps = vec![
        step("GET", history, None),
        step("GET", &format!("{history}?detail=True"), None),
        step("GET", &format!("{history}?limit=1"), None),
        step("GET", &format!("{history}?detail=True&limit=1"), None),
        step("GET", &format!("{history}?sort_dir=desc"), None),
        step("GET", &format!("{history}?limit=0"), None),
        step("GET", &format!("{history}?marker=zz"), None),
        step("GET", &format!("{history}?marker={ABSENT}"), None),
        step("GET", &format!("{history}?bogus=1"), None),
        step("GET", &format!("{history}/nope"), None),
        step("GET", &format!("{history}/{ABSENT}"), None),
        step("GET", "/v1/nodes/nope/history", None),
        step("GET", "/v1/nodes/{h-n1}/history", None),
        at("1.77", step("GET", history, None)),
    ];
    differences.extend(replay(&mut servers, steps, events_alike).await);
    task.abort();
    drop(real);
    assert!(
        differences.is_empty(),
        "the mock keeps node history differently from real Ironic:\n{}",
        differences.join("\n")
    );
}

/// An event listed can be shown alone, with every field.
#[tokio::test]
async fn the_mock_shows_one_history_event() {
    let mock = support::ironic::start_mock(Settings::with(Timings::instant(), false), 7).await;
    let mut s = Server::new(&mock.url, "1.89");
    let body = json!({"name": "h-n2", "driver": "fake-hardware"});
    assert!(
        s.call("POST", "/v1/nodes", Some(body), None)
            .await
            .starts_with("201")
    );
    let manage = json!({"target": "manage"});
    s.call("PUT", "/v1/nodes/h-n2/states/provision", Some(manage), None)
        .await;
    s.settle("/v1/nodes/h-n2", "provision_state", json!("manageable"))
        .await;
    let clean =
        json!({"target": "clean", "clean_steps": [{"interface": "deploy", "step": "nope"}]});
    s.call("PUT", "/v1/nodes/h-n2/states/provision", Some(clean), None)
        .await;
    s.settle("/v1/nodes/h-n2", "provision_state", json!("clean failed"))
        .await;
    let http = reqwest::Client::new();
    let listed: Value = http
        .get(format!("{}/v1/nodes/h-n2/history", mock.url))
        .header("X-OpenStack-Ironic-API-Version", "1.115")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let event = listed["history"][0]["uuid"]
        .as_str()
        .expect("an event")
        .to_string();
    let shown: Value = http
        .get(format!("{}/v1/nodes/h-n2/history/{event}", mock.url))
        .header("X-OpenStack-Ironic-API-Version", "1.115")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["severity"], "ERROR");
    assert_eq!(shown["event_type"], "cleaning");
    assert_eq!(shown["state"], "clean failed");
    assert!(
        shown["event"]
            .as_str()
            .is_some_and(|e| e.contains("node does not support this clean step")),
        "{shown}"
    );
    mock.task.abort();
}
