//! The pure HostClaim core: host choice, bind patch, later edits, status mirroring, release.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use metal_operator::api::{BareMetalHost, HostClaim};
use metal_operator::claim::choice::{Ineligible, candidates};
use metal_operator::claim::progress::{Binding, ClaimObservation, MissingSecret};
use metal_operator::claim::{
    self, ClaimRef, HostPolicy, Problem, ReleaseStep, Selector, bind_patch, choose, release_step,
    sync, validate,
};
use metal_testkit::hosts::Bmh;
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

const NS: &str = "lab";

fn host_json(name: &str, state: &str, labels: Value) -> Value {
    Bmh::new(name)
        .namespace(NS)
        .labels(labels)
        .set("/metadata/resourceVersion", json!("7"))
        .set("/metadata/uid", json!(format!("uid-{name}")))
        .state(state)
        .json()
}

fn host(name: &str, state: &str, labels: Value) -> BareMetalHost {
    serde_json::from_value(host_json(name, state, labels)).unwrap()
}

fn edit(h: &BareMetalHost, f: impl FnOnce(&mut Value)) -> BareMetalHost {
    let mut v = serde_json::to_value(h).unwrap();
    f(&mut v);
    serde_json::from_value(v).unwrap()
}

fn claim(name: &str, spec: Value) -> HostClaim {
    serde_json::from_value(json!({
        "apiVersion": "metal3.io/v1alpha1", "kind": "HostClaim",
        "metadata": {"name": name, "namespace": NS, "uid": format!("uid-{name}"), "generation": 1},
        "spec": spec,
    }))
    .unwrap()
}

fn image() -> Value {
    json!({"url": "http://127.0.0.1/os.qcow2", "checksum": "abc123", "checksumType": "sha256"})
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

fn pick<'a>(
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

fn bound_to(h: &BareMetalHost, c: &HostClaim) -> BareMetalHost {
    let r = ClaimRef::of(c);
    edit(h, |v| {
        v["spec"]["consumerRef"] = serde_json::to_value(r.consumer_ref()).unwrap()
    })
}

#[test]
fn only_free_healthy_available_hosts_are_eligible_and_each_refusal_is_named() {
    let ok = host("ok", "available", json!({}));
    let cases = [
        (
            edit(&ok, |v| v["spec"]["externallyProvisioned"] = json!(true)),
            Ineligible::ExternallyProvisioned,
        ),
        (
            host("master-0", "externally provisioned", json!({})),
            Ineligible::ExternallyProvisioned,
        ),
        (
            edit(&ok, |v| {
                v["spec"]["consumerRef"] = json!({"kind": "Metal3Machine", "name": "m"})
            }),
            Ineligible::Consumed,
        ),
        (
            edit(&ok, |v| {
                v["status"]["errorMessage"] = json!("BMC unreachable")
            }),
            Ineligible::InError,
        ),
        (
            edit(&ok, |v| {
                v["metadata"]["annotations"] = json!({"baremetalhost.metal3.io/paused": ""})
            }),
            Ineligible::Paused,
        ),
        (
            edit(&ok, |v| {
                v["metadata"]["annotations"] = json!({"baremetalhost.metal3.io/detached": ""})
            }),
            Ineligible::Detached,
        ),
        (
            edit(&ok, |v| {
                v["metadata"]["annotations"] = json!({"capm3.metal3.io/unhealthy": ""})
            }),
            Ineligible::Unhealthy,
        ),
        (
            edit(&ok, |v| {
                v["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z")
            }),
            Ineligible::BeingDeleted,
        ),
        (
            host("busy", "provisioned", json!({})),
            Ineligible::NotAvailable,
        ),
        (
            host("new", "inspecting", json!({})),
            Ineligible::NotAvailable,
        ),
        (
            edit(&ok, |v| v["metadata"]["namespace"] = json!("elsewhere")),
            Ineligible::NamespaceNotAllowed,
        ),
    ];
    let all = Selector::default();
    let policy = HostPolicy::default();
    let none = BTreeSet::new();
    assert_eq!(
        claim::choice::eligibility(&ok, NS, NS, &all, &policy, &none),
        Ok(())
    );
    let legacy_ready = host("old", "ready", json!({}));
    assert_eq!(
        claim::choice::eligibility(&legacy_ready, NS, NS, &all, &policy, &none),
        Ok(())
    );
    for (h, why) in cases {
        assert_eq!(
            claim::choice::eligibility(&h, NS, NS, &all, &policy, &none),
            Err(why),
            "{}",
            h.metadata.name.clone().unwrap()
        );
    }
    let reserved: BTreeSet<String> = [format!("{NS}/ok")].into();
    assert_eq!(
        claim::choice::eligibility(&ok, NS, NS, &all, &policy, &reserved),
        Err(Ineligible::Consumed),
        "a host an in-flight claim is taking counts as consumed"
    );
}

#[test]
fn seed_two_masters_are_never_claimed_and_the_worker_is() {
    let hosts = vec![
        host("openshift-master-0", "externally provisioned", json!({})),
        host("openshift-master-1", "externally provisioned", json!({})),
        host("openshift-master-2", "externally provisioned", json!({})),
        host("openshift-worker-0", "available", json!({})),
    ];
    for seed in 0..32 {
        let chosen = pick(&claim("worker", json!({})), &hosts, seed).unwrap();
        assert_eq!(chosen.metadata.name.as_deref(), Some("openshift-worker-0"));
    }
    let taken = vec![
        hosts[0].clone(),
        hosts[1].clone(),
        hosts[2].clone(),
        bound_to(&hosts[3], &claim("other", json!({}))),
    ];
    let none = pick(&claim("worker", json!({})), &taken, 1).unwrap_err();
    assert_eq!(none.matching, 4);
    assert_eq!(
        none.to_string(),
        "4 host(s) match the selector but none is free (1 claimed, 3 externally provisioned)"
    );
}

#[test]
fn node_types_are_chosen_by_labels() {
    let hosts = vec![
        host("gpu-0", "available", json!({"role": "gpu", "rack": "a"})),
        host("gpu-1", "available", json!({"role": "gpu", "rack": "b"})),
        host(
            "cpu-0",
            "available",
            json!({"role": "compute", "rack": "a"}),
        ),
    ];
    let gpu = claim(
        "gpu",
        json!({"hostSelector": {"matchLabels": {"role": "gpu"}}}),
    );
    let compute = claim(
        "compute",
        json!({"hostSelector": {"matchExpressions": [{"key": "role", "operator": "NotIn", "values": ["gpu"]}]}}),
    );
    for seed in 0..16 {
        let g = pick(&gpu, &hosts, seed).unwrap();
        assert!(g.metadata.name.as_deref().unwrap().starts_with("gpu-"));
        assert_eq!(
            pick(&compute, &hosts, seed)
                .unwrap()
                .metadata
                .name
                .as_deref(),
            Some("cpu-0")
        );
    }
    let nothing = claim(
        "fpga",
        json!({"hostSelector": {"matchLabels": {"role": "fpga"}}}),
    );
    let none = pick(&nothing, &hosts, 0).unwrap_err();
    assert_eq!(none.matching, 0);
    assert_eq!(none.to_string(), "no host matches the selector");
}

#[test]
fn the_choice_is_random_from_the_injected_rng_and_repeatable() {
    let hosts: Vec<BareMetalHost> = (0..8)
        .map(|i| host(&format!("h{i}"), "available", json!({})))
        .collect();
    let c = claim("c", json!({}));
    let picks: BTreeSet<String> = (0..64)
        .map(|seed| {
            pick(&c, &hosts, seed)
                .unwrap()
                .metadata
                .name
                .clone()
                .unwrap()
        })
        .collect();
    assert!(
        picks.len() > 4,
        "different seeds spread over the hosts: {picks:?}"
    );
    for seed in 0..8 {
        assert_eq!(
            pick(&c, &hosts, seed).unwrap().metadata.name,
            pick(&c, &hosts, seed).unwrap().metadata.name,
            "same seed, same host"
        );
    }
    let mut reversed = hosts.clone();
    reversed.reverse();
    assert_eq!(
        pick(&c, &hosts, 3).unwrap().metadata.name,
        pick(&c, &reversed, 3).unwrap().metadata.name,
        "the order of the snapshot does not matter"
    );
}

#[test]
fn a_claimed_failure_domain_is_preferred_but_not_required() {
    let fd = claim::FAILURE_DOMAIN_LABEL;
    let hosts = vec![
        host("a0", "available", json!({fd: "zone-a"})),
        host("b0", "available", json!({fd: "zone-b"})),
        host("b1", "available", json!({fd: "zone-b"})),
        host("n0", "available", json!({})),
    ];
    let c = claim("c", json!({"failureDomain": "zone-a"}));
    for seed in 0..32 {
        assert_eq!(
            pick(&c, &hosts, seed).unwrap().metadata.name.as_deref(),
            Some("a0")
        );
    }
    let elsewhere = claim("c", json!({"failureDomain": "zone-z"}));
    assert!(
        pick(&elsewhere, &hosts, 0).is_ok(),
        "no host in the domain: any host will do"
    );
}

#[test]
fn hosts_of_another_namespace_need_the_policy_and_in_namespace() {
    let infra = edit(&host("shared-0", "available", json!({})), |v| {
        v["metadata"]["namespace"] = json!("infra")
    });
    let hosts = vec![infra];
    let c = claim("c", json!({"hostSelector": {"inNamespace": "infra"}}));
    let selector = Selector::default();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let closed = HostPolicy::default();
    assert!(choose(&c, &selector, &hosts, &BTreeSet::new(), &closed, &mut rng).is_err());
    let open = HostPolicy {
        shared_namespaces: ["infra".to_owned()].into(),
    };
    assert!(choose(&c, &selector, &hosts, &BTreeSet::new(), &open, &mut rng).is_ok());
    let own = claim("c", json!({}));
    assert!(
        choose(&own, &selector, &hosts, &BTreeSet::new(), &open, &mut rng).is_err(),
        "without inNamespace a claim looks in its own namespace"
    );
}

#[test]
fn bad_specs_are_named_problems() {
    let no_checksum = claim("c", json!({"image": {"url": "http://127.0.0.1/os.qcow2"}}));
    assert_eq!(
        validate(&no_checksum),
        vec![Problem::ImageWithoutChecksum {
            url: "http://127.0.0.1/os.qcow2".into()
        }]
    );
    assert_eq!(validate(&no_checksum)[0].reason(), "ImageChecksumMissing");
    let live_iso = claim(
        "c",
        json!({"image": {"url": "http://127.0.0.1/x.iso", "format": "live-iso"}}),
    );
    assert_eq!(validate(&live_iso), vec![]);
    let bad_selector = claim(
        "c",
        json!({"hostSelector": {"matchExpressions": [{"key": "role", "operator": "near", "values": ["x"]}]}}),
    );
    assert_eq!(validate(&bad_selector)[0].reason(), "InvalidSelector");
    let foreign = claim(
        "c",
        json!({"userData": {"name": "ud", "namespace": "other"}}),
    );
    assert_eq!(validate(&foreign)[0].reason(), "SecretInOtherNamespace");
    let ok = claim("c", json!({"image": image(), "userData": {"name": "ud"}}));
    assert_eq!(validate(&ok), vec![]);
}

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

fn apply_spec(h: &BareMetalHost, patch: &Value) -> BareMetalHost {
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

fn observe<'a>(h: &'a BareMetalHost) -> ClaimObservation<'a> {
    ClaimObservation {
        problems: &[],
        missing_secrets: &[],
        host: Binding::Bound(h),
        blocked: &[],
        releasing: false,
    }
}

fn cond<'a>(s: &'a metal_operator::api::HostClaimStatus, t: &str) -> (&'a str, &'a str) {
    let c = s.conditions.iter().find(|c| c.type_ == t).unwrap();
    (c.status.as_str(), c.reason.as_str())
}

#[test]
fn the_claim_status_mirrors_the_host_through_provisioning() {
    let mut c = claim("c", json!({"image": image(), "poweredOn": true}));
    let h = bound_to(&host("w0", "provisioning", json!({})), &c);
    let s = claim::status(&c, &observe(&h), now());
    assert_eq!(s.bare_metal_host.as_ref().unwrap().name, "w0");
    assert_eq!(s.hardware_data.as_ref().unwrap().name, "w0");
    assert_eq!(cond(&s, "Bound"), ("True", "HostBound"));
    assert_eq!(cond(&s, "Ready"), ("False", "Provisioning"));
    let events = claim::events(&Default::default(), &s);
    assert!(
        events.iter().any(|e| e.reason == "HostBound" && !e.warning),
        "{events:?}"
    );

    c.status = Some(s.clone());
    let same = claim::status(&c, &observe(&h), now() + chrono::Duration::seconds(30));
    assert_eq!(
        same, s,
        "nothing changed: the status (and lastUpdated) stay as they are"
    );

    let done = edit(&h, |v| {
        v["status"]["provisioning"]["state"] = json!("provisioned");
        v["status"]["poweredOn"] = json!(true);
    });
    let later = now() + chrono::Duration::seconds(60);
    let s2 = claim::status(&c, &observe(&done), later);
    assert_eq!(cond(&s2, "Ready"), ("True", "HostReady"));
    assert_eq!(s2.powered_on, Some(true));
    let bound_cond = s2.conditions.iter().find(|x| x.type_ == "Bound").unwrap();
    let first_bound = s.conditions.iter().find(|x| x.type_ == "Bound").unwrap();
    assert_eq!(
        bound_cond.last_transition_time,
        first_bound.last_transition_time
    );
    assert!(
        claim::events(&s, &s2)
            .iter()
            .any(|e| e.reason == "HostReady")
    );

    let broken = edit(&done, |v| {
        v["status"]["errorMessage"] = json!("power on failed");
        v["status"]["errorType"] = json!("power management error");
    });
    let s3 = claim::status(&c, &observe(&broken), later);
    assert_eq!(cond(&s3, "Ready"), ("False", "HostError"));
    assert!(
        claim::events(&s2, &s3)
            .iter()
            .any(|e| e.reason == "HostError" && e.warning)
    );
}

#[test]
fn bad_input_gets_a_condition_and_a_warning_event() {
    let c = claim("c", json!({"image": {"url": "http://127.0.0.1/os.qcow2"}}));
    let problems = validate(&c);
    let obs = ClaimObservation {
        problems: &problems,
        missing_secrets: &[],
        host: Binding::NotTried,
        blocked: &[],
        releasing: false,
    };
    let s = claim::status(&c, &obs, now());
    assert_eq!(cond(&s, "Valid"), ("False", "ImageChecksumMissing"));
    assert_eq!(cond(&s, "Bound"), ("False", "InvalidSpec"));
    let events = claim::events(&Default::default(), &s);
    assert!(
        events
            .iter()
            .any(|e| e.warning && e.reason == "ImageChecksumMissing"),
        "{events:?}"
    );

    let missing = [MissingSecret {
        field: "userData",
        name: "worker-ud".into(),
    }];
    let obs = ClaimObservation {
        problems: &[],
        missing_secrets: &missing,
        host: Binding::NotTried,
        blocked: &[],
        releasing: false,
    };
    let s = claim::status(&c, &obs, now());
    assert_eq!(cond(&s, "Valid"), ("False", "UserDataSecretMissing"));
    assert!(s.conditions[0].message.contains("worker-ud"));

    let none = claim::NoHost::default();
    let obs = ClaimObservation {
        problems: &[],
        missing_secrets: &[],
        host: Binding::NoHost(&none),
        blocked: &[],
        releasing: false,
    };
    let s = claim::status(&c, &obs, now());
    assert_eq!(cond(&s, "Bound"), ("False", "NoMatchingHost"));
    assert!(
        claim::events(&Default::default(), &s)
            .iter()
            .any(|e| e.warning && e.reason == "NoMatchingHost")
    );

    let h = bound_to(&host("w0", "provisioning", json!({})), &c);
    let obs = ClaimObservation {
        problems: &[],
        missing_secrets: &[],
        host: Binding::Bound(&h),
        blocked: &["image"],
        releasing: false,
    };
    let s = claim::status(&c, &obs, now());
    assert_eq!(cond(&s, "Synced"), ("False", "ChangedWhileProvisioning"));
    assert!(
        s.conditions
            .iter()
            .any(|x| x.message.contains("image changed"))
    );
}

#[test]
fn release_clears_the_deployment_waits_for_deprovisioning_then_frees_the_host() {
    let c = claim(
        "c",
        json!({"image": image(), "userData": {"name": "ud"}, "poweredOn": true}),
    );
    let me = ClaimRef::of(&c);
    let h = host("w0", "provisioned", json!({}));
    let provisioned = apply_spec(&h, &bind_patch(&me, &c, &h));

    let ReleaseStep::ClearDeployment(patch) = release_step(&me, Some(&provisioned)) else {
        panic!("first the deployment goes");
    };
    assert_eq!(patch["metadata"]["resourceVersion"], "7");
    for field in [
        "image",
        "customDeploy",
        "userData",
        "networkData",
        "metaData",
    ] {
        assert_eq!(patch["spec"][field], Value::Null, "{field}");
    }
    assert_eq!(patch["spec"]["online"], false);
    let cleared = apply_spec(&provisioned, &patch);
    assert!(
        cleared.spec.consumer_ref.is_some(),
        "the host stays claimed meanwhile"
    );

    for state in ["provisioned", "deprovisioning"] {
        let h = edit(&cleared, |v| {
            v["status"]["provisioning"]["state"] = json!(state)
        });
        assert!(
            matches!(release_step(&me, Some(&h)), ReleaseStep::Wait { .. }),
            "{state}"
        );
    }
    let back = edit(&cleared, |v| {
        v["status"]["provisioning"]["state"] = json!("available")
    });
    let ReleaseStep::ClearConsumer(patch) = release_step(&me, Some(&back)) else {
        panic!("an available host loses its consumerRef");
    };
    assert_eq!(patch["spec"], json!({"consumerRef": null}));
    let free = apply_spec(&back, &patch);
    assert_eq!(release_step(&me, Some(&free)), ReleaseStep::Done);
    assert_eq!(
        release_step(&me, None),
        ReleaseStep::Done,
        "a vanished host needs no release"
    );

    let other = claim("other", json!({}));
    let someone_elses = bound_to(&host("x", "provisioned", json!({})), &other);
    assert_eq!(
        release_step(&me, Some(&someone_elses)),
        ReleaseStep::Done,
        "the consumerRef wins"
    );
}

#[test]
fn a_recreated_claim_of_the_same_name_does_not_inherit_the_host() {
    let old = claim("c", json!({}));
    let h = bound_to(&host("w0", "deprovisioning", json!({})), &old);
    let mut new = old.clone();
    new.metadata.uid = Some("uid-new".into());
    assert!(ClaimRef::of(&old).is_consumer_of(&h));
    assert!(!ClaimRef::of(&new).is_consumer_of(&h));
}

fn arb_host(i: usize) -> impl Strategy<Value = BareMetalHost> {
    let states = prop::sample::select(vec![
        "available",
        "available",
        "available",
        "ready",
        "provisioned",
        "externally provisioned",
        "inspecting",
    ]);
    (states, any::<bool>(), any::<bool>(), 0..3u8).prop_map(
        move |(state, consumed, error, role)| {
            let role = ["gpu", "compute", "storage"][usize::from(role)];
            let mut h = host(&format!("h{i:02}"), state, json!({"role": role}));
            if consumed {
                h = bound_to(&h, &claim("someone", json!({})));
            }
            if error {
                h = edit(&h, |v| v["status"]["errorMessage"] = json!("boom"));
            }
            h
        },
    )
}

fn arb_hosts() -> impl Strategy<Value = Vec<BareMetalHost>> {
    (1..12usize).prop_flat_map(|n| (0..n).map(arb_host).collect::<Vec<_>>())
}

proptest! {
    /// Claims bound one after another against one stale snapshot (the cache never catches up),
    /// with only the in-flight set to go by: no host is ever given twice, and every host given
    /// was free, healthy, available and not externally provisioned.
    #[test]
    fn no_two_claims_are_ever_bound_to_one_host(
        hosts in arb_hosts(),
        roles in prop::collection::vec(prop::option::of(0..3u8), 1..16),
        seed in any::<u64>(),
    ) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut reserved = BTreeSet::new();
        let policy = HostPolicy::default();
        for (i, role) in roles.iter().enumerate() {
            let spec = match role {
                Some(r) => {
                    let role = ["gpu", "compute", "storage"][usize::from(*r)];
                    json!({"hostSelector": {"matchLabels": {"role": role}}})
                }
                None => json!({}),
            };
            let c = claim(&format!("c{i}"), spec);
            let selector = Selector::compile(c.spec.host_selector.as_ref()).unwrap();
            let free_before = candidates(&c, &selector, &hosts, &reserved, &policy).map_or(0, |v| v.len());
            match choose(&c, &selector, &hosts, &reserved, &policy, &mut rng) {
                Ok(h) => {
                    let key = claim::host_key(h);
                    prop_assert!(reserved.insert(key.clone()), "{key} given twice");
                    prop_assert!(h.spec.consumer_ref.is_none());
                    let st = h.status.clone().unwrap();
                    prop_assert!(st.error_message.is_empty());
                    prop_assert!(matches!(st.provisioning.state.as_str(), "available" | "ready"));
                    prop_assert!(selector.matches(&h.metadata.labels.clone().unwrap_or_default()));
                }
                Err(_) => prop_assert_eq!(free_before, 0, "a free host existed but none was chosen"),
            }
        }
    }
}
