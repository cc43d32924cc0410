//! Runbooks against REAL Ironic 39.0.0 and the mock, side by side: create (a name that is no
//! trait before 1.112 and any logical name from it, missing or empty steps, a step's bad
//! interface, missing or negative order, a step twice, an owner — refused under noauth —,
//! `public`, a description before 1.112), list (`detail`, `fields`, paging with a name as marker,
//! sorting, `project`), show by UUID and name, PATCH (steps by index, the owner/public rule, names,
//! the refused fields), the traits sub-resource from 1.112, delete, and below 1.92. Same status,
//! same body once UUIDs and times are labels.
//!
//! Left out: a patch leaving a step without `args` (real Ironic answers 500, see
//! docs/ironic-differences.md).

#[path = "ironic_real/mod.rs"]
mod ironic_real;
mod support;

use ironic_real::compare::{Server, Step, replay};
use metal_sim::ironic::conductor::Timings;
use serde_json::{Value, json};

fn step(method: &'static str, path: &str, body: Option<Value>) -> (Step, Option<&'static str>) {
    ((method, path.to_string(), body), None)
}

fn at(version: &'static str, s: (Step, Option<&'static str>)) -> (Step, Option<&'static str>) {
    (s.0, Some(version))
}

fn erase(order: Value) -> Value {
    json!([{"interface": "deploy", "step": "erase_devices", "order": order}])
}

fn create(body: Value) -> (Step, Option<&'static str>) {
    step("POST", "/v1/runbooks", Some(body))
}

fn patch(ident: &str, ops: Value) -> (Step, Option<&'static str>) {
    step("PATCH", &format!("/v1/runbooks/{ident}"), Some(ops))
}

#[tokio::test(flavor = "multi_thread")]
async fn mock_and_real_ironic_serve_runbooks_alike() {
    let Some((real, mock, task)) = ironic_real::start_real_and_mock(Timings::instant(), 7).await
    else {
        return;
    };
    let mut servers = [Server::new(real.url(), "1.92"), Server::new(&mock, "1.92")];
    let steps = vec![
        create(json!({"name": "CUSTOM_RB1", "steps": [
            {"interface": "bios", "step": "apply_configuration", "args": {"settings": [], "password": "x"}, "order": 1},
            {"interface": "raid", "step": "create_configuration", "args": {}, "order": "2"}
        ]})),
        create(
            json!({"name": "CUSTOM_RB2", "steps": erase(json!("3")), "public": true, "extra": {"a": 1}, "disable_ramdisk": true}),
        ),
        create(json!({"name": "rb-3", "steps": erase(json!(1))})),
        create(json!({"name": "CUSTOM_RB3", "steps": []})),
        create(json!({"name": "CUSTOM_RB3"})),
        create(json!({"steps": erase(json!(1))})),
        create(
            json!({"name": "CUSTOM_RB3", "steps": [{"interface": "network", "step": "x", "order": 1}]}),
        ),
        create(
            json!({"name": "CUSTOM_RB3", "steps": [{"interface": "deploy", "step": "x", "priority": 1}]}),
        ),
        create(json!({"name": "CUSTOM_RB3", "steps": [{"interface": "deploy", "step": "x"}]})),
        create(json!({"name": "CUSTOM_RB3", "steps": erase(json!(-1))})),
        create(json!({"name": "CUSTOM_RB3", "steps": erase(json!("a"))})),
        create(
            json!({"name": "CUSTOM_RB3", "steps": [{"interface": "deploy", "step": "", "order": 1}]}),
        ),
        create(json!({"name": "CUSTOM_RB3", "steps": [
            {"interface": "deploy", "step": "x", "order": 1},
            {"interface": "deploy", "step": "x", "order": 2}
        ]})),
        create(json!({"name": "CUSTOM_RB1", "steps": erase(json!(1))})),
        create(json!({"name": "CUSTOM_RB3", "steps": erase(json!(1)), "owner": "p1"})),
        create(json!({"name": "CUSTOM_RB3", "steps": erase(json!(1)), "owner": 5})),
        create(json!({"name": "CUSTOM_RB3", "steps": erase(json!(1)), "public": "yes"})),
        create(json!({"name": "CUSTOM_RB3", "steps": erase(json!(1)), "description": "d"})),
        create(json!({"name": "CUSTOM_RB3", "steps": erase(json!(1)), "uuid": "zz"})),
        create(json!({"name": "CUSTOM_RB3", "steps": erase(json!(1)), "bogus": 1})),
        at(
            "1.91",
            create(json!({"name": "CUSTOM_RB3", "steps": erase(json!(1))})),
        ),
        at("1.91", step("GET", "/v1/runbooks", None)),
        at("1.91", step("GET", "/v1/runbooks/CUSTOM_RB1", None)),
        at("1.91", step("DELETE", "/v1/runbooks/CUSTOM_RB1", None)),
        step("GET", "/v1/runbooks", None),
        step("GET", "/v1/runbooks?detail=True", None),
        step("GET", "/v1/runbooks?limit=1", None),
        step("GET", "/v1/runbooks?limit=1&marker={CUSTOM_RB1}", None),
        step("GET", "/v1/runbooks?marker=CUSTOM_RB1", None),
        step("GET", "/v1/runbooks?marker=bad%20name", None),
        step("GET", "/v1/runbooks?sort_key=name&sort_dir=desc", None),
        step("GET", "/v1/runbooks?sort_key=steps", None),
        step("GET", "/v1/runbooks?sort_key=bogus", None),
        step(
            "GET",
            "/v1/runbooks?sort_key=public&sort_dir=desc&fields=name,public",
            None,
        ),
        step("GET", "/v1/runbooks?fields=bogus", None),
        step("GET", "/v1/runbooks?fields=description", None),
        step("GET", "/v1/runbooks?fields=name&detail=True", None),
        step("GET", "/v1/runbooks?project=True", None),
        step("GET", "/v1/runbooks?project=false", None),
        step("GET", "/v1/runbooks?project=p2", None),
        step("GET", "/v1/runbooks?bogus=1", None),
        step("GET", "/v1/runbooks/CUSTOM_RB1", None),
        step("GET", "/v1/runbooks/{CUSTOM_RB2}", None),
        step("GET", "/v1/runbooks/CUSTOM_RB1?fields=name,steps", None),
        step("GET", "/v1/runbooks/CUSTOM_RB1?fields=bogus", None),
        step("GET", "/v1/runbooks/nope", None),
        step("GET", "/v1/runbooks/bad%20name", None),
        // The owner/public rule.
        patch(
            "CUSTOM_RB2",
            json!([{"op": "replace", "path": "/owner", "value": "p1"}]),
        ),
        patch(
            "CUSTOM_RB2",
            json!([{"op": "replace", "path": "/owner", "value": null}]),
        ),
        patch(
            "CUSTOM_RB2",
            json!([{"op": "replace", "path": "/owner", "value": "p1"}, {"op": "replace", "path": "/public", "value": false}]),
        ),
        patch(
            "CUSTOM_RB1",
            json!([{"op": "replace", "path": "/owner", "value": "p2"}]),
        ),
        patch(
            "CUSTOM_RB1",
            json!([{"op": "replace", "path": "/owner", "value": "p3"}, {"op": "replace", "path": "/public", "value": true}]),
        ),
        patch(
            "CUSTOM_RB1",
            json!([{"op": "replace", "path": "/public", "value": true}]),
        ),
        // Names: free in a patch, whatever the microversion.
        patch(
            "CUSTOM_RB1",
            json!([{"op": "replace", "path": "/name", "value": "rb-one"}, {"op": "add", "path": "/extra/b", "value": 2}]),
        ),
        patch(
            "rb-one",
            json!([{"op": "replace", "path": "/name", "value": "CUSTOM_RB2"}]),
        ),
        patch(
            "rb-one",
            json!([{"op": "replace", "path": "/name", "value": "bad name"}]),
        ),
        patch("rb-one", json!([{"op": "remove", "path": "/name"}])),
        // Steps.
        patch(
            "rb-one",
            json!([{"op": "replace", "path": "/steps/0/order", "value": 5}]),
        ),
        patch(
            "rb-one",
            json!([{"op": "add", "path": "/steps/-", "value": {"interface": "power", "step": "p", "args": {}, "order": "7"}}]),
        ),
        patch(
            "rb-one",
            json!([{"op": "replace", "path": "/steps/0/interface", "value": "bogus"}]),
        ),
        patch(
            "rb-one",
            json!([{"op": "remove", "path": "/steps/0/order"}]),
        ),
        patch(
            "rb-one",
            json!([{"op": "replace", "path": "/steps", "value": []}]),
        ),
        patch(
            "rb-one",
            json!([{"op": "add", "path": "/steps/-", "value": {"interface": "power", "step": "p", "args": {}, "order": 1}}]),
        ),
        // Other fields.
        patch(
            "rb-one",
            json!([{"op": "replace", "path": "/disable_ramdisk", "value": "x"}]),
        ),
        patch(
            "rb-one",
            json!([{"op": "replace", "path": "/disable_ramdisk", "value": true}]),
        ),
        patch(
            "rb-one",
            json!([{"op": "replace", "path": "/extra", "value": "x"}]),
        ),
        patch(
            "rb-one",
            json!([{"op": "replace", "path": "/public", "value": "yes"}]),
        ),
        patch(
            "rb-one",
            json!([{"op": "replace", "path": "/uuid", "value": "0a6bd4f6-0000-4000-8000-000000000009"}]),
        ),
        patch(
            "rb-one",
            json!([{"op": "replace", "path": "/description", "value": "x"}]),
        ),
        patch("rb-one", json!({})),
        patch(
            "nope",
            json!([{"op": "replace", "path": "/public", "value": true}]),
        ),
        patch(
            "bad%20name",
            json!([{"op": "replace", "path": "/public", "value": true}]),
        ),
        step("GET", "/v1/runbooks/rb-one", None),
        // 1.112: free names, descriptions and traits.
        at(
            "1.112",
            create(json!({"name": "rb-4", "description": "desc", "steps": erase(json!(1))})),
        ),
        at(
            "1.112",
            create(json!({"name": "bad name", "steps": erase(json!(1))})),
        ),
        at(
            "1.112",
            create(json!({"name": "rb-5", "description": 5, "steps": erase(json!(1))})),
        ),
        at(
            "1.112",
            create(json!({"name": "rb-5", "traits": ["CUSTOM_A"], "steps": erase(json!(1))})),
        ),
        at("1.112", step("GET", "/v1/runbooks/rb-4", None)),
        at(
            "1.112",
            step("GET", "/v1/runbooks?fields=traits,description", None),
        ),
        at("1.112", step("GET", "/v1/runbooks/rb-4/traits", None)),
        at(
            "1.112",
            step("PUT", "/v1/runbooks/rb-4/traits/CUSTOM_X", None),
        ),
        at("1.112", step("PUT", "/v1/runbooks/rb-4/traits/bogus", None)),
        at(
            "1.112",
            step(
                "PUT",
                "/v1/runbooks/rb-4/traits",
                Some(json!({"traits": ["CUSTOM_B", "CUSTOM_A"]})),
            ),
        ),
        at(
            "1.112",
            step(
                "PUT",
                "/v1/runbooks/rb-4/traits",
                Some(json!({"traits": ["bad"]})),
            ),
        ),
        at(
            "1.112",
            step("PUT", "/v1/runbooks/rb-4/traits", Some(json!({}))),
        ),
        at(
            "1.112",
            step(
                "PUT",
                "/v1/runbooks/rb-4/traits/CUSTOM_X",
                Some(json!({"traits": ["CUSTOM_A"]})),
            ),
        ),
        at(
            "1.112",
            step("PUT", "/v1/runbooks/rb-4/traits/CUSTOM_C", Some(json!({}))),
        ),
        at("1.112", step("GET", "/v1/runbooks/rb-4/traits", None)),
        at(
            "1.112",
            step("DELETE", "/v1/runbooks/rb-4/traits/CUSTOM_NOPE", None),
        ),
        at(
            "1.112",
            step("DELETE", "/v1/runbooks/rb-4/traits/CUSTOM_A", None),
        ),
        at("1.112", step("GET", "/v1/runbooks/rb-4", None)),
        at("1.112", step("DELETE", "/v1/runbooks/rb-4/traits", None)),
        at("1.112", step("GET", "/v1/runbooks/rb-4/traits", None)),
        at("1.111", step("GET", "/v1/runbooks/rb-4/traits", None)),
        at("1.111", step("GET", "/v1/runbooks/rb-4", None)),
        at("1.112", step("GET", "/v1/runbooks/nope/traits", None)),
        at(
            "1.112",
            patch(
                "rb-4",
                json!([{"op": "replace", "path": "/description", "value": "d2"}]),
            ),
        ),
        at(
            "1.112",
            patch(
                "rb-4",
                json!([{"op": "replace", "path": "/traits", "value": []}]),
            ),
        ),
        step("DELETE", "/v1/runbooks/nope", None),
        step("DELETE", "/v1/runbooks/bad%20name", None),
        step("DELETE", "/v1/runbooks/rb-one", None),
        step("GET", "/v1/runbooks/rb-one", None),
        step("GET", "/v1/runbooks", None),
    ];
    let differences = replay(&mut servers, steps, |l| l.to_string()).await;
    task.abort();
    drop(real);
    assert!(
        differences.is_empty(),
        "the mock serves runbooks differently from real Ironic:\n{}",
        differences.join("\n")
    );
}
