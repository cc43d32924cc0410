//! The claim and pool controllers against the fake API server: running them, the hosts they
//! choose from, and the small fleet most of their tests start with.

use std::sync::Arc;

use metal_operator::controller::claims::{self, ClaimRuntime, ClaimSettings};
use metal_operator::controller::{HostCache, Leadership};
use metal_testkit::hosts::Bmh;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::FakeApiServer;
use super::world::SteppingClock;

/// Runs the claim and pool controllers against `api` (on a stepping clock) until the sender is
/// used.
pub fn spawn(
    api: &FakeApiServer,
    settings: ClaimSettings,
    leadership: Leadership,
) -> (oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let hosts = HostCache::start(&api.client(), settings.watch_namespace.as_deref());
    let runtime = ClaimRuntime {
        clock: Arc::new(SteppingClock::default()),
        settings,
        leadership,
        hosts,
    };
    let (tx, rx) = oneshot::channel::<()>();
    let client = api.client();
    let task = tokio::spawn(async move {
        let _ = claims::run(client, runtime, async {
            let _ = rx.await;
        })
        .await;
    });
    (tx, task)
}

/// A host in `namespace` at provisioning `state` with `labels`, its IPMI port `6` followed by the
/// length of its name; an `externally provisioned` host is online and externally provisioned.
pub fn host(namespace: &str, name: &str, state: &str, labels: Value) -> Value {
    let external = state == "externally provisioned";
    Bmh::new(name)
        .namespace(namespace)
        .labels(labels)
        .bmc(&format!("ipmi://127.0.0.1:6{}", name.len()), "bmc")
        .online(external)
        .externally_provisioned(external)
        .state(state)
        .json()
}

/// An OpenShift-like fleet in `namespace`: three externally provisioned masters
/// (`openshift-master-{0,1,2}`) and one available worker (`openshift-worker-0`).
pub fn seed_openshift_fleet(api: &FakeApiServer, namespace: &str) {
    for i in 0..3 {
        api.upsert(
            "baremetalhosts",
            host(
                namespace,
                &format!("openshift-master-{i}"),
                "externally provisioned",
                json!({}),
            ),
        );
    }
    api.upsert(
        "baremetalhosts",
        host(namespace, "openshift-worker-0", "available", json!({})),
    );
}

/// Sets a host's provisioning state, as the host controller would.
pub fn set_state(api: &FakeApiServer, namespace: &str, host: &str, state: &str) {
    api.modify("baremetalhosts", namespace, host, |h| {
        h["status"]["provisioning"]["state"] = json!(state);
    });
}
