//! Host choice: which hosts are eligible and why others are not, label selectors, the injected
//! RNG, failure domains, other namespaces, bad specs, and no host ever given twice.

use super::support::*;

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
