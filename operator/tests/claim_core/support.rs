//! What the claim core tests share: hosts and claims built as JSON in one namespace, edits,
//! a fixed clock, and a seeded choice.

pub use chrono::{DateTime, Utc};
pub use metal_operator::api::{BareMetalHost, HostClaim};
pub use metal_operator::claim::choice::{Ineligible, candidates};
pub use metal_operator::claim::progress::{Binding, ClaimObservation, MissingSecret};
pub use metal_operator::claim::{
    self, ClaimRef, HostPolicy, Problem, ReleaseStep, Selector, bind_patch, choose, release_step,
    sync, validate,
};
pub use metal_testkit::hosts::Bmh;
pub use proptest::prelude::*;
pub use rand::SeedableRng;
pub use rand_chacha::ChaCha8Rng;
pub use serde_json::{Value, json};
pub use std::collections::BTreeSet;

pub const NS: &str = "lab";

pub fn host_json(name: &str, state: &str, labels: Value) -> Value {
    Bmh::new(name)
        .namespace(NS)
        .labels(labels)
        .set("/metadata/resourceVersion", json!("7"))
        .set("/metadata/uid", json!(format!("uid-{name}")))
        .state(state)
        .json()
}

pub fn host(name: &str, state: &str, labels: Value) -> BareMetalHost {
    serde_json::from_value(host_json(name, state, labels)).unwrap()
}

pub fn edit(h: &BareMetalHost, f: impl FnOnce(&mut Value)) -> BareMetalHost {
    let mut v = serde_json::to_value(h).unwrap();
    f(&mut v);
    serde_json::from_value(v).unwrap()
}

pub fn claim(name: &str, spec: Value) -> HostClaim {
    serde_json::from_value(json!({
        "apiVersion": "metal3.io/v1alpha1", "kind": "HostClaim",
        "metadata": {"name": name, "namespace": NS, "uid": format!("uid-{name}"), "generation": 1},
        "spec": spec,
    }))
    .unwrap()
}

pub fn image() -> Value {
    json!({"url": "http://127.0.0.1/os.qcow2", "checksum": "abc123", "checksumType": "sha256"})
}

pub fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

pub fn pick<'a>(
    c: &HostClaim,
    hosts: &'a [BareMetalHost],
    seed: u64,
) -> Result<&'a BareMetalHost, claim::NoHost> {
    let selector = Selector::compile(c.spec.host_selector.as_ref()).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    choose(
        c,
        &selector,
        hosts,
        &BTreeSet::new(),
        &HostPolicy::default(),
        &mut rng,
    )
}

pub fn bound_to(h: &BareMetalHost, c: &HostClaim) -> BareMetalHost {
    let r = ClaimRef::of(c);
    edit(h, |v| {
        v["spec"]["consumerRef"] = serde_json::to_value(r.consumer_ref()).unwrap()
    })
}

/// `h` with the spec fields of `patch` applied (a null removes the field).
pub fn apply_spec(h: &BareMetalHost, patch: &Value) -> BareMetalHost {
    edit(h, |v| {
        for (k, val) in patch["spec"].as_object().unwrap() {
            if val.is_null() {
                v["spec"].as_object_mut().unwrap().remove(k);
            } else {
                v["spec"][k] = val.clone();
            }
        }
    })
}
