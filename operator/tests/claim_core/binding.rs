//! Binding: the bind patch (consumer, deployment, power, version precondition) and the edits
//! that still reach a bound host.

use super::support::*;

#[test]
fn binding_writes_consumer_deployment_power_and_a_version_precondition() {
    let c = claim(
        "worker",
        json!({"image": image(), "userData": {"name": "worker-ud"}, "networkData": {"name": "nd", "namespace": NS}, "poweredOn": true}),
    );
    let h = host("w0", "available", json!({}));
    let patch = bind_patch(&ClaimRef::of(&c), &c, &h);
    assert_eq!(patch["metadata"]["resourceVersion"], "7");
    assert_eq!(
        patch["spec"]["consumerRef"],
        json!({"apiVersion": "metal3.io/v1alpha1", "kind": "HostClaim", "name": "worker", "namespace": NS, "uid": "uid-worker"})
    );
    assert_eq!(patch["spec"]["image"], image());
    assert_eq!(
        patch["spec"]["userData"],
        json!({"name": "worker-ud", "namespace": NS})
    );
    assert_eq!(
        patch["spec"]["networkData"],
        json!({"name": "nd", "namespace": NS})
    );
    assert_eq!(
        patch["spec"]["metaData"],
        Value::Null,
        "absent fields are cleared"
    );
    assert_eq!(patch["spec"]["customDeploy"], Value::Null);
    assert_eq!(patch["spec"]["online"], true);
}

#[test]
fn edits_reach_an_available_host_but_not_one_that_started_deploying() {
    let c = claim("c", json!({"image": image(), "poweredOn": true}));
    let h = host("w0", "available", json!({}));
    let bound = apply_spec(&h, &bind_patch(&ClaimRef::of(&c), &c, &h));
    assert_eq!(
        sync(&c, &bound),
        claim::Sync::default(),
        "in line: nothing to do"
    );

    let mut edited = c.clone();
    edited.spec.image.as_mut().unwrap().url = "http://127.0.0.1/os-v2.qcow2".into();
    let s = sync(&edited, &bound);
    assert!(s.blocked.is_empty());
    assert_eq!(
        s.patch.unwrap()["spec"]["image"]["url"],
        "http://127.0.0.1/os-v2.qcow2"
    );

    let deploying = edit(&bound, |v| {
        v["status"]["provisioning"]["state"] = json!("provisioning")
    });
    let s = sync(&edited, &deploying);
    assert_eq!(s.blocked, vec!["image"]);
    assert_eq!(
        s.patch, None,
        "the host keeps the deployment it started with"
    );

    edited.spec.powered_on = false;
    let s = sync(&edited, &deploying);
    assert_eq!(s.blocked, vec!["image"]);
    assert_eq!(
        s.patch.unwrap()["spec"],
        json!({"online": false}),
        "power is forwarded in any state"
    );
}
