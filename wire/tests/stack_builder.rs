//! The in-process stack as a user's own test would use it: a fleet, [`StackOptions`], then
//! [`Stack::start`] (control plane, fake BMCs, mock Ironic and the real operator, all on
//! loopback in this process); the fleet's BareMetalHosts go in through the Kubernetes client and
//! reach `available` (registered and inspected by the operator through the mock Ironic).

use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, DynamicObject, PostParams};
use metal_sim::fleet::{Fleet, manifests};
use metal_sim::machine::SimClock;
use metal_testkit::wait::{Check, Wait};
use metal_wire::stack::{Stack, StackOptions, bmh_resource, core_resource};
use serde::Deserialize as _;

const FLEET: &str = "\
seed: 21
time_scale: 0.01
namespace: builder
layout: {mode: per-address, base: 127.0.94.1, redfish_port: 18000, ipmi_port: 16230}
groups:
  - name: kit-rf-{index}
    count: 2
    bmc: {protocol: redfish, username: admin, password: secret}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_test_starts_the_stack_and_its_hosts_become_available() {
    let fleet = Fleet::parse(FLEET, "stack_builder.rs").expect("fleet");
    let work = tempfile::tempdir().unwrap();
    let mut options = StackOptions::new(fleet.file.namespace.clone());
    options.seed = 21;
    let stack = Stack::start(
        &options,
        &fleet,
        SimClock::start_now(),
        Arc::new(chrono::Utc::now),
        work.path(),
    )
    .await
    .expect("the stack starts");
    assert!(stack.mock_ironic);
    assert!(
        stack.ironic_url.starts_with("http://127."),
        "{}",
        stack.ironic_url
    );

    let ns = options.namespace.as_str();
    let secrets: Api<DynamicObject> = Api::namespaced_with(
        stack.client.clone(),
        ns,
        &core_resource("Secret", "secrets"),
    );
    let hosts: Api<DynamicObject> = Api::namespaced_with(stack.client.clone(), ns, &bmh_resource());
    let yaml = manifests(&fleet).expect("manifests");
    let mut names = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(&yaml) {
        let object: DynamicObject = serde_json::from_value(
            serde_json::to_value(serde_yaml::Value::deserialize(doc).unwrap()).unwrap(),
        )
        .unwrap();
        let kind = object
            .types
            .as_ref()
            .map(|t| t.kind.clone())
            .unwrap_or_default();
        match kind.as_str() {
            "Secret" => {
                secrets
                    .create(&PostParams::default(), &object)
                    .await
                    .unwrap();
            }
            "BareMetalHost" => {
                names.push(object.metadata.name.clone().unwrap());
                hosts.create(&PostParams::default(), &object).await.unwrap();
            }
            other => panic!("unexpected kind {other} in the fleet's manifests"),
        }
    }
    assert_eq!(names.len(), 2);

    let states = Wait::new("both hosts available", Duration::from_secs(90))
        .every(Duration::from_millis(200))
        .until_async(|| async {
            let mut states = Vec::new();
            for name in &names {
                let state = match hosts.get(name).await {
                    Ok(h) => h.data["status"]["provisioning"]["state"]
                        .as_str()
                        .unwrap_or("")
                        .to_string(),
                    Err(e) => format!("error: {e}"),
                };
                states.push(state);
            }
            if states.iter().all(|s| s == "available") {
                Check::Done(states)
            } else {
                Check::Pending(format!("{names:?} are {states:?}"))
            }
        })
        .await
        .expect("hosts available");
    assert_eq!(states, ["available", "available"]);
    stack.shutdown().await;
}
