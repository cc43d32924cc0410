//! Deploy templates against REAL Ironic 39.0.0 and the mock, side by side: create (and every
//! invalid body: names that are no trait, missing or empty steps, a step's bad interface, name,
//! arguments or priority, a step twice), list with `detail`, `fields`, paging and a name as
//! marker, show by UUID and name, JSON-patch updates (and the refused ones), delete, and the
//! answers below 1.55. Same status, same body once addresses, UUIDs and times are replaced by
//! labels.

#[path = "ironic_real/mod.rs"]
mod ironic_real;
mod support;

use ironic_real::compare::{Server, Step, replay};
use metal_sim::ironic::conductor::Timings;
use serde_json::{Value, json};

fn step(method: &'static str, path: &str, body: Option<Value>) -> (Step, Option<&'static str>) {
    ((method, path.to_string(), body), None)
}

fn deploy_step(interface: &str, name: &str, priority: Value) -> Value {
    json!({"interface": interface, "step": name, "args": {}, "priority": priority})
}

#[tokio::test(flavor = "multi_thread")]
async fn mock_and_real_ironic_serve_deploy_templates_alike() {
    let Some((real, mock, task)) = ironic_real::start_real_and_mock(Timings::instant(), 7).await
    else {
        return;
    };
    let mut servers = [Server::new(real.url(), "1.89"), Server::new(&mock, "1.89")];
    let bios = json!([{"interface": "bios", "step": "apply_configuration", "args": {"settings": [{"name": "LogicalProc", "value": "Enabled"}], "password": "x"}, "priority": 150}]);
    let one = |name: &str| json!({"name": name, "steps": [deploy_step("deploy", "x", json!(1))]});
    let old = Some("1.54");
    let steps = vec![
        step(
            "POST",
            "/v1/deploy_templates",
            Some(
                json!({"name": "CUSTOM_HYPERTHREADING_ON", "steps": bios, "extra": {"a": 1}, "description": "ht"}),
            ),
        ),
        step(
            "POST",
            "/v1/deploy_templates",
            Some(json!({"name": "CUSTOM_HYPERTHREADING_ON", "steps": bios})),
        ),
        step(
            "POST",
            "/v1/deploy_templates",
            Some(json!({"name": "CUSTOM_B", "steps": [deploy_step("deploy", "x", json!("10"))]})),
        ),
        step(
            "POST",
            "/v1/deploy_templates",
            Some(
                json!({"name": "HW_CPU_X86_AVX2", "steps": [deploy_step("raid", "create_configuration", json!(0))]}),
            ),
        ),
        step(
            "POST",
            "/v1/deploy_templates",
            Some(json!({"name": "bad", "steps": bios})),
        ),
        step(
            "POST",
            "/v1/deploy_templates",
            Some(json!({"name": "CUSTOM_C", "steps": []})),
        ),
        step(
            "POST",
            "/v1/deploy_templates",
            Some(json!({"name": "CUSTOM_C"})),
        ),
        step("POST", "/v1/deploy_templates", Some(json!({"steps": bios}))),
        step(
            "POST",
            "/v1/deploy_templates",
            Some(
                json!({"name": "CUSTOM_C", "steps": [deploy_step("bios", "a", json!(1)), deploy_step("bios", "a", json!(2))]}),
            ),
        ),
        step(
            "POST",
            "/v1/deploy_templates",
            Some(json!({"name": "CUSTOM_C", "steps": [deploy_step("bogus", "x", json!(1))]})),
        ),
        step(
            "POST",
            "/v1/deploy_templates",
            Some(json!({"name": "CUSTOM_C", "steps": [deploy_step("deploy", "", json!(1))]})),
        ),
        step(
            "POST",
            "/v1/deploy_templates",
            Some(json!({"name": "CUSTOM_C", "steps": [deploy_step("deploy", "x", json!(-1))]})),
        ),
        step(
            "POST",
            "/v1/deploy_templates",
            Some(json!({"name": "CUSTOM_C", "steps": [deploy_step("deploy", "x", json!("a"))]})),
        ),
        step(
            "POST",
            "/v1/deploy_templates",
            Some(
                json!({"name": "CUSTOM_C", "steps": [{"interface": "deploy", "step": "x", "priority": 1}]}),
            ),
        ),
        step(
            "POST",
            "/v1/deploy_templates",
            Some(
                json!({"name": "CUSTOM_C", "steps": [{"interface": "deploy", "step": "x", "args": {}, "priority": 1, "z": 1}]}),
            ),
        ),
        step(
            "POST",
            "/v1/deploy_templates",
            Some(
                json!({"name": "CUSTOM_C", "steps": [{"interface": "deploy", "step": "x", "args": [], "priority": 1}]}),
            ),
        ),
        step(
            "POST",
            "/v1/deploy_templates",
            Some(json!({"name": "CUSTOM_C", "steps": bios, "bogus": 1})),
        ),
        step(
            "POST",
            "/v1/deploy_templates",
            Some(json!({"name": "CUSTOM_C", "steps": bios, "description": "x".repeat(256)})),
        ),
        step(
            "POST",
            "/v1/deploy_templates",
            Some(json!({"name": "CUSTOM_C", "steps": bios, "uuid": "nope"})),
        ),
        step(
            "POST",
            "/v1/deploy_templates",
            Some(json!({"name": "CUSTOM_C", "steps": "x"})),
        ),
        step(
            "POST",
            "/v1/deploy_templates",
            Some(json!({"name": "CUSTOM_C", "steps": bios, "extra": "s"})),
        ),
        (
            step("POST", "/v1/deploy_templates", Some(one("CUSTOM_OLD"))).0,
            old,
        ),
        (step("GET", "/v1/deploy_templates", None).0, old),
        (step("GET", "/v1/deploy_templates/CUSTOM_B", None).0, old),
        step("GET", "/v1/deploy_templates", None),
        step("GET", "/v1/deploy_templates?detail=True", None),
        step("GET", "/v1/deploy_templates?detail=True&fields=name", None),
        step("GET", "/v1/deploy_templates/detail", None),
        step("GET", "/v1/deploy_templates?limit=1", None),
        step(
            "GET",
            "/v1/deploy_templates?limit=1&marker=CUSTOM_HYPERTHREADING_ON",
            None,
        ),
        step(
            "GET",
            "/v1/deploy_templates?limit=1&marker={CUSTOM_B}&detail=True",
            None,
        ),
        step("GET", "/v1/deploy_templates?marker=nope", None),
        step("GET", "/v1/deploy_templates?fields=bogus", None),
        step("GET", "/v1/deploy_templates?fields=steps,name", None),
        step("GET", "/v1/deploy_templates?sort_key=steps", None),
        step("GET", "/v1/deploy_templates?sort_key=extra", None),
        step("GET", "/v1/deploy_templates?sort_key=bogus", None),
        step(
            "GET",
            "/v1/deploy_templates?sort_key=name&sort_dir=desc",
            None,
        ),
        step("GET", "/v1/deploy_templates?bogus=1", None),
        step("GET", "/v1/deploy_templates/CUSTOM_HYPERTHREADING_ON", None),
        step("GET", "/v1/deploy_templates/{CUSTOM_B}", None),
        step(
            "GET",
            "/v1/deploy_templates/CUSTOM_HYPERTHREADING_ON?fields=name",
            None,
        ),
        step("GET", "/v1/deploy_templates/nope", None),
        step("GET", "/v1/deploy_templates/bad%20name", None),
        step(
            "PATCH",
            "/v1/deploy_templates/CUSTOM_HYPERTHREADING_ON",
            Some(
                json!([{"op": "replace", "path": "/name", "value": "CUSTOM_HT"}, {"op": "add", "path": "/extra/b", "value": 2}]),
            ),
        ),
        step(
            "PATCH",
            "/v1/deploy_templates/CUSTOM_HT",
            Some(json!([{"op": "replace", "path": "/name", "value": "CUSTOM_B"}])),
        ),
        step(
            "PATCH",
            "/v1/deploy_templates/CUSTOM_HT",
            Some(json!([{"op": "replace", "path": "/name", "value": "bad"}])),
        ),
        step(
            "PATCH",
            "/v1/deploy_templates/CUSTOM_HT",
            Some(json!([{"op": "replace", "path": "/steps/0/priority", "value": 5}])),
        ),
        step(
            "PATCH",
            "/v1/deploy_templates/CUSTOM_HT",
            Some(json!([{"op": "replace", "path": "/steps/0/interface", "value": "bogus"}])),
        ),
        step(
            "PATCH",
            "/v1/deploy_templates/CUSTOM_HT",
            Some(
                json!([{"op": "add", "path": "/steps/-", "value": deploy_step("deploy", "y", json!(1))}]),
            ),
        ),
        step(
            "PATCH",
            "/v1/deploy_templates/CUSTOM_HT",
            Some(
                json!([{"op": "add", "path": "/steps/-", "value": deploy_step("deploy", "y", json!(2))}]),
            ),
        ),
        step(
            "PATCH",
            "/v1/deploy_templates/CUSTOM_HT",
            Some(json!([{"op": "replace", "path": "/steps", "value": []}])),
        ),
        step(
            "PATCH",
            "/v1/deploy_templates/CUSTOM_HT",
            Some(json!([{"op": "replace", "path": "/uuid", "value": "x"}])),
        ),
        step(
            "PATCH",
            "/v1/deploy_templates/CUSTOM_HT",
            Some(json!([{"op": "replace", "path": "/extra", "value": "s"}])),
        ),
        step(
            "PATCH",
            "/v1/deploy_templates/nope",
            Some(json!([{"op": "replace", "path": "/extra", "value": {}}])),
        ),
        (
            step(
                "PATCH",
                "/v1/deploy_templates/CUSTOM_HT",
                Some(json!([{"op": "replace", "path": "/extra", "value": {}}])),
            )
            .0,
            old,
        ),
        step("GET", "/v1/deploy_templates/CUSTOM_HT", None),
        step("DELETE", "/v1/deploy_templates/nope", None),
        (step("DELETE", "/v1/deploy_templates/CUSTOM_B", None).0, old),
        step("DELETE", "/v1/deploy_templates/CUSTOM_B", None),
        step("DELETE", "/v1/deploy_templates/{HW_CPU_X86_AVX2}", None),
        step("GET", "/v1/deploy_templates/CUSTOM_B", None),
        step("GET", "/v1/deploy_templates?detail=True", None),
    ];
    let differences = replay(&mut servers, steps, |l| l.to_string()).await;
    task.abort();
    drop(real);
    assert!(
        differences.is_empty(),
        "the mock serves deploy templates differently from real Ironic:\n{}",
        differences.join("\n")
    );
}
