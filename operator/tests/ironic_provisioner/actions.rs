//! The other actions: provision and power targets, detaching and deleting nodes, maintenance and
//! automated cleaning, and the API calls of one host's whole lifecycle.

use super::support::*;

#[tokio::test]
async fn each_provision_action_puts_its_ironic_target() {
    let (double, p) = setup("1.115").await;
    let table = [
        ("enroll", Action::Manage, "manage", "manageable"),
        ("manageable", Action::Inspect, "inspect", "manageable"),
        ("manageable", Action::Provide, "provide", "available"),
        ("active", Action::Undeploy, "deleted", "available"),
        ("manageable", Action::Adopt, "adopt", "active"),
        ("wait call-back", Action::Abort, "abort", "deploy failed"),
    ];
    for (from, action, target, to) in table {
        let id = double.seed_node(Some("metal3~worker-0"), from);
        double.clear();
        let out = p.act(&host(Some(&id)), &action).await.unwrap();
        assert_eq!(out, accepted(&id));
        let reqs = double.requests();
        let last = reqs.last().unwrap();
        assert_eq!(last.line(), format!("PUT /v1/nodes/{id}/states/provision"));
        assert_eq!(last.version.as_deref(), Some("1.110"));
        assert_eq!(last.body.clone().unwrap(), json!({ "target": target }));
        assert_eq!(double.node(&id).unwrap()["provision_state"], to, "{target}");
        double.set(|s| {
            s.nodes.remove(&id);
        });
    }
}

#[tokio::test]
async fn power_changes_put_ironic_power_targets() {
    let (double, p) = setup("1.115").await;
    let id = double.seed_node(Some("metal3~worker-0"), "active");
    let table = [
        (PowerChange::On, json!({ "target": "power on" })),
        (PowerChange::Off, json!({ "target": "power off" })),
        (
            PowerChange::SoftOff,
            json!({ "target": "soft power off", "timeout": 180 }),
        ),
        (PowerChange::Reboot, json!({ "target": "rebooting" })),
        (
            PowerChange::SoftReboot,
            json!({ "target": "soft rebooting" }),
        ),
    ];
    p.client().api_version().await.unwrap();
    for (change, body) in table {
        double.clear();
        p.act(&host(Some(&id)), &Action::Power(change))
            .await
            .unwrap();
        let reqs = double.requests();
        assert_eq!(reqs.len(), 1, "a known node id needs no lookup");
        assert_eq!(reqs[0].line(), format!("PUT /v1/nodes/{id}/states/power"));
        assert_eq!(reqs[0].body.clone().unwrap(), body);
    }
    assert_eq!(double.node(&id).unwrap()["power_state"], "power on");
}

#[tokio::test]
async fn detaching_an_active_node_sets_maintenance_then_deletes_it() {
    let (double, p) = setup("1.115").await;
    let id = double.seed_node(Some("metal3~worker-0"), "active");
    let out = p
        .act(&host(Some(&id)), &Action::Detach { force: false })
        .await
        .unwrap();
    assert_eq!(out, accepted(&id));
    let reqs = double.requests();
    let lines: Vec<String> = reqs.iter().map(|r| r.line()).collect();
    assert_eq!(
        lines[1..],
        [
            format!("GET /v1/nodes/{id}"),
            format!("PUT /v1/nodes/{id}/maintenance"),
            format!("DELETE /v1/nodes/{id}"),
        ]
    );
    assert_eq!(
        reqs[2].body.clone().unwrap(),
        json!({ "reason": "removed by metal3 operator" })
    );
    assert!(double.node(&id).is_none());
    // A second detach finds nothing and succeeds.
    assert_eq!(
        p.act(&host(Some(&id)), &Action::Detach { force: false })
            .await
            .unwrap(),
        Outcome::Accepted { node_id: None }
    );
}

#[tokio::test]
async fn detaching_a_waiting_node_waits_unless_forced_to_abort() {
    let (double, p) = setup("1.115").await;
    let id = double.seed_node(Some("metal3~worker-0"), "wait call-back");
    assert_eq!(
        p.act(&host(Some(&id)), &Action::Detach { force: false })
            .await
            .unwrap(),
        Outcome::Busy
    );
    assert!(!double.lines().iter().any(|l| l.starts_with("PUT")));
    assert_eq!(
        p.act(&host(Some(&id)), &Action::Detach { force: true })
            .await
            .unwrap(),
        Outcome::Busy
    );
    let last = double.requests().pop().unwrap();
    assert_eq!(last.line(), format!("PUT /v1/nodes/{id}/states/provision"));
    assert_eq!(last.body.unwrap(), json!({ "target": "abort" }));
    // Now in `deploy failed`: maintenance, then delete.
    let out = p
        .act(&host(Some(&id)), &Action::Detach { force: true })
        .await
        .unwrap();
    assert_eq!(out, accepted(&id));
    assert!(double.node(&id).is_none());
}

#[tokio::test]
async fn deleting_an_available_node_skips_maintenance() {
    let (double, p) = setup("1.115").await;
    let id = double.seed_node(Some("metal3~worker-0"), "available");
    p.act(&host(Some(&id)), &Action::Delete).await.unwrap();
    let lines = double.lines();
    assert_eq!(
        lines[1..],
        [
            format!("GET /v1/nodes/{id}"),
            format!("DELETE /v1/nodes/{id}")
        ]
    );
}

#[tokio::test]
async fn maintenance_and_automated_clean_reach_the_node() {
    let (double, p) = setup("1.115").await;
    let id = double.seed_node(Some("metal3~worker-0"), "manageable");
    let h = host(Some(&id));
    p.act(
        &h,
        &Action::SetMaintenance {
            on: true,
            reason: Some("paused".into()),
        },
    )
    .await
    .unwrap();
    assert_eq!(double.node(&id).unwrap()["maintenance_reason"], "paused");
    p.act(
        &h,
        &Action::SetMaintenance {
            on: false,
            reason: None,
        },
    )
    .await
    .unwrap();
    p.act(&h, &Action::SetAutomatedClean(false)).await.unwrap();
    let reqs = double.requests();
    let tail: Vec<String> = reqs[reqs.len() - 3..].iter().map(|r| r.line()).collect();
    assert_eq!(
        tail,
        [
            format!("PUT /v1/nodes/{id}/maintenance"),
            format!("DELETE /v1/nodes/{id}/maintenance"),
            format!("PATCH /v1/nodes/{id}"),
        ]
    );
    assert_eq!(
        reqs.last().unwrap().body.clone().unwrap(),
        json!([{ "op": "replace", "path": "/automated_clean", "value": false }])
    );
    let node = double.node(&id).unwrap();
    assert_eq!(node["maintenance"], false);
    assert_eq!(node["automated_clean"], false);
}

/// The figure `make bench` reports: Ironic API calls for one host's whole lifecycle.
#[tokio::test]
async fn one_host_lifecycle_costs_a_small_fixed_number_of_api_calls() {
    let (double, p) = setup("1.115").await;
    double.set(|s| s.inventory = Some(sample_inventory()));
    let pacing = LifecyclePacing {
        poll_interval: Duration::from_millis(1),
        max_polls_per_step: 10,
    };
    let report = full_lifecycle(
        &p,
        &host(None),
        registration("redfish-virtualmedia://10.0.0.7/redfish/v1/Systems/1", "fp"),
        deployment(),
        pacing,
    )
    .await
    .unwrap();
    println!(
        "ironic API calls for one host's lifecycle: {} ({} of them polls)",
        report.total, report.polls
    );
    for (step, calls) in &report.steps {
        println!("  {step:<10} {calls}");
    }
    let roots = double.lines().iter().filter(|l| *l == "GET /").count();
    assert_eq!(roots, 1, "version discovery runs once, not per step");
    assert_eq!(report.total, double.requests().len() as u64);
    // register: discovery + name + port lookup + create + port + fingerprint + 1 poll = 7; each
    // verb 1 + 1 poll;
    // hardware 1; deploy: get + patch + validate + put + 1 poll = 5.
    assert_eq!(
        report.steps,
        vec![
            ("register", 7),
            ("manage", 2),
            ("inspect", 2),
            ("hardware", 1),
            ("provide", 2),
            ("deploy", 5),
            ("undeploy", 2),
        ]
    );
    assert_eq!(report.total, 21);
    assert_eq!(report.polls, 6);
}
