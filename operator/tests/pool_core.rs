//! The pure HostPool core: scale plan, deterministic scale-down, claims made from the template,
//! pool status and Events; and the committed HostPool CRD.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use metal_operator::api::{BareMetalHost, HostClaim, HostPool, pool_crds, pool_crds_yaml};
use metal_operator::claim::HostPolicy;
use metal_operator::pool::{self, Standing, claim_for, claim_name, plan, standing, summarize};
use metal_testkit::hosts::Bmh;
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

const NS: &str = "lab";

fn pool_of(replicas: i32, selector: Value) -> HostPool {
    serde_json::from_value(json!({
        "apiVersion": "metal-operator.io/v1alpha1", "kind": "HostPool",
        "metadata": {"name": "workers", "namespace": NS, "uid": "pool-uid", "generation": 2},
        "spec": {"replicas": replicas, "template": {
            "metadata": {"labels": {"tier": "worker"}},
            "spec": {"hostSelector": selector, "poweredOn": true,
                     "image": {"url": "http://127.0.0.1/os.qcow2", "checksum": "abc"}}}},
    }))
    .unwrap()
}

fn owned_claim(
    name: &str,
    created: i64,
    bound: Option<&str>,
    ready: Option<(&str, &str)>,
) -> HostClaim {
    let mut status = json!({});
    if let Some(h) = bound {
        status["bareMetalHost"] = json!({"name": h, "namespace": NS});
    }
    if let Some((s, reason)) = ready {
        status["conditions"] = json!([{"type": "Ready", "status": s, "reason": reason, "message": "",
                                       "lastTransitionTime": "2026-01-01T00:00:00Z"}]);
    }
    serde_json::from_value(json!({
        "apiVersion": "metal3.io/v1alpha1", "kind": "HostClaim",
        "metadata": {"name": name, "namespace": NS,
                     "creationTimestamp": DateTime::from_timestamp(1_800_000_000 + created, 0).unwrap().to_rfc3339(),
                     "labels": {"metal-operator.io/pool": "workers"},
                     "ownerReferences": [{"apiVersion": "metal-operator.io/v1alpha1", "kind": "HostPool",
                                          "name": "workers", "uid": "pool-uid", "controller": true}]},
        "spec": {},
        "status": status,
    }))
    .unwrap()
}

fn host(name: &str, state: &str, labels: Value) -> BareMetalHost {
    serde_json::from_value(
        Bmh::new(name)
            .namespace(NS)
            .labels(labels)
            .state(state)
            .json(),
    )
    .unwrap()
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_100, 0).unwrap()
}

#[test]
fn scaling_up_creates_the_missing_claims_and_ignores_claims_being_deleted() {
    let pool = pool_of(3, json!({}));
    let mut leaving = owned_claim("workers-old", 0, Some("w9"), None);
    leaving.metadata.deletion_timestamp =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
        ));
    let claims = [owned_claim("workers-a", 1, None, None), leaving];
    assert_eq!(
        plan(&pool, &claims),
        pool::Plan {
            create: 2,
            delete: vec![]
        }
    );
    assert_eq!(plan(&pool_of(1, json!({})), &claims), pool::Plan::default());
}

#[test]
fn claims_of_another_pool_or_an_older_pool_of_the_same_name_are_not_counted() {
    let pool = pool_of(1, json!({}));
    let mut stranger = owned_claim("other-a", 1, None, None);
    stranger.metadata.labels =
        Some([("metal-operator.io/pool".to_owned(), "other".to_owned())].into());
    let mut orphan = owned_claim("workers-z", 1, None, None);
    orphan.metadata.owner_references.as_mut().unwrap()[0].uid = "older-pool".into();
    assert_eq!(plan(&pool, &[stranger, orphan]).create, 1);
}

#[test]
fn scale_down_releases_unbound_then_failed_then_deploying_then_newest_ready_claims() {
    let claims = [
        owned_claim(
            "workers-ready-old",
            10,
            Some("h1"),
            Some(("True", "HostReady")),
        ),
        owned_claim(
            "workers-ready-new",
            20,
            Some("h2"),
            Some(("True", "HostReady")),
        ),
        owned_claim(
            "workers-deploying",
            5,
            Some("h3"),
            Some(("False", "Provisioning")),
        ),
        owned_claim(
            "workers-broken",
            1,
            Some("h4"),
            Some(("False", "HostError")),
        ),
        owned_claim("workers-unbound", 0, None, None),
    ];
    assert_eq!(standing(&claims[0]), Standing::Ready);
    assert_eq!(standing(&claims[3]), Standing::HostError);
    assert_eq!(standing(&claims[4]), Standing::Unbound);
    let order: Vec<String> = plan(&pool_of(0, json!({})), &claims).delete;
    assert_eq!(
        order,
        [
            "workers-unbound",
            "workers-broken",
            "workers-deploying",
            "workers-ready-new",
            "workers-ready-old"
        ]
    );
    assert_eq!(
        plan(&pool_of(3, json!({})), &claims).delete,
        ["workers-unbound", "workers-broken"]
    );
    let same_age = [
        owned_claim("workers-b", 10, Some("h1"), Some(("True", "HostReady"))),
        owned_claim("workers-a", 10, Some("h2"), Some(("True", "HostReady"))),
    ];
    assert_eq!(
        plan(&pool_of(1, json!({})), &same_age).delete,
        ["workers-a"],
        "ties go by name"
    );
}

#[test]
fn a_claim_made_from_the_template_carries_the_pool_label_owner_and_spec() {
    let pool = pool_of(1, json!({"matchLabels": {"role": "gpu"}}));
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let name = claim_name(&pool, &mut rng);
    assert!(
        name.starts_with("workers-") && name.len() == "workers-".len() + 5,
        "{name}"
    );
    assert_eq!(
        name,
        claim_name(&pool, &mut ChaCha8Rng::seed_from_u64(5)),
        "names come from the RNG"
    );
    let c = claim_for(&pool, name.clone());
    let labels = c.metadata.labels.clone().unwrap();
    assert_eq!(labels["metal-operator.io/pool"], "workers");
    assert_eq!(labels["tier"], "worker");
    let owner = &c.metadata.owner_references.clone().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
        ("HostPool", "pool-uid", Some(true))
    );
    assert_eq!(c.spec, pool.spec.template.spec);
    assert!(pool::belongs_to(&pool, &c));
}

#[test]
fn the_pool_reports_counts_and_a_shortage_until_hosts_become_available() {
    let pool = pool_of(2, json!({"matchLabels": {"role": "gpu"}}));
    let claims = [
        owned_claim("workers-a", 1, Some("gpu-0"), Some(("True", "HostReady"))),
        owned_claim("workers-b", 2, None, None),
    ];
    let hosts = [
        host("gpu-0", "provisioned", json!({"role": "gpu"})),
        host("gpu-1", "provisioning", json!({"role": "gpu"})),
        host("cpu-0", "available", json!({"role": "compute"})),
    ];
    let s = summarize(&pool, &claims, &hosts, &HostPolicy::default(), now());
    assert_eq!(
        (
            s.replicas,
            s.bound_replicas,
            s.ready_replicas,
            s.available_hosts
        ),
        (2, 1, 1, 0)
    );
    assert_eq!(s.claimed_hosts, [format!("{NS}/gpu-0")]);
    assert_eq!(
        s.selector.as_deref(),
        Some("metal-operator.io/pool=workers")
    );
    assert_eq!(s.observed_generation, Some(2));
    let short = s
        .conditions
        .iter()
        .find(|c| c.type_ == "HostsAvailable")
        .unwrap();
    assert_eq!(
        (short.status.as_str(), short.reason.as_str()),
        ("False", "NotEnoughHosts")
    );
    let events = pool::events(&Default::default(), &s);
    assert!(
        events
            .iter()
            .any(|e| e.warning && e.reason == "NotEnoughHosts"),
        "{events:?}"
    );

    let mut waited = pool.clone();
    waited.status = Some(s.clone());
    let freed = [
        hosts[0].clone(),
        host("gpu-1", "available", json!({"role": "gpu"})),
        hosts[2].clone(),
    ];
    let s2 = summarize(&waited, &claims, &freed, &HostPolicy::default(), now());
    assert_eq!(s2.available_hosts, 1);
    let ok = s2
        .conditions
        .iter()
        .find(|c| c.type_ == "HostsAvailable")
        .unwrap();
    assert_eq!(ok.status, "True");
    assert!(
        pool::events(&s, &s2)
            .iter()
            .any(|e| !e.warning && e.reason == "HostsAvailable")
    );
    waited.status = Some(s2.clone());
    assert_eq!(
        summarize(&waited, &claims, &freed, &HostPolicy::default(), now()),
        s2,
        "stable"
    );
}

#[test]
fn committed_hostpool_crd_yaml_matches_the_generated_one() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../kind/crds/hostpools.yaml");
    let generated = pool_crds_yaml();
    if std::env::var_os("UPDATE_CRDS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is stale: run `metal-operator crds --pools > kind/crds/hostpools.yaml`",
        path.display()
    );
}

#[test]
fn the_hostpool_crd_has_the_agreed_names_scale_subresource_and_columns() {
    let crd = pool_crds().into_iter().next().unwrap();
    assert_eq!(
        crd.metadata.name.as_deref(),
        Some("hostpools.metal-operator.io")
    );
    assert_eq!(crd.spec.group, "metal-operator.io");
    assert_eq!(crd.spec.scope, "Namespaced");
    assert_eq!(crd.spec.names.kind, "HostPool");
    assert_eq!(
        crd.spec.names.short_names.as_deref(),
        Some(&["hpool".to_owned()][..])
    );
    let v = &crd.spec.versions[0];
    assert_eq!(v.name, "v1alpha1");
    let sub = v.subresources.as_ref().unwrap();
    assert!(sub.status.is_some());
    let scale = sub.scale.as_ref().unwrap();
    assert_eq!(scale.spec_replicas_path, ".spec.replicas");
    assert_eq!(scale.status_replicas_path, ".status.replicas");
    assert_eq!(
        scale.label_selector_path.as_deref(),
        Some(".status.selector")
    );
    let columns: Vec<&str> = v
        .additional_printer_columns
        .as_ref()
        .unwrap()
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(columns, ["Desired", "Bound", "Ready", "Available", "Age"]);
}

fn arb_claims() -> impl Strategy<Value = Vec<HostClaim>> {
    prop::collection::vec((0..5i64, 0..4u8), 0..10).prop_map(|specs| {
        specs
            .into_iter()
            .enumerate()
            .map(|(i, (age, kind))| match kind {
                0 => owned_claim(&format!("workers-{i}"), age, None, None),
                1 => owned_claim(
                    &format!("workers-{i}"),
                    age,
                    Some("h"),
                    Some(("False", "HostError")),
                ),
                2 => owned_claim(
                    &format!("workers-{i}"),
                    age,
                    Some("h"),
                    Some(("False", "Provisioning")),
                ),
                _ => owned_claim(
                    &format!("workers-{i}"),
                    age,
                    Some("h"),
                    Some(("True", "HostReady")),
                ),
            })
            .collect()
    })
}

proptest! {
    /// The scale-down choice depends only on the claims, not on the order they are listed in,
    /// and a ready claim is never released while a less useful one stays.
    #[test]
    fn scale_down_is_deterministic_and_spares_ready_claims(claims in arb_claims(), replicas in 0..6i32, rot in 0..10usize) {
        let pool = pool_of(replicas, json!({}));
        let a = plan(&pool, &claims);
        let mut shuffled = claims.clone();
        if !shuffled.is_empty() {
            let k = rot % shuffled.len();
            shuffled.rotate_left(k);
            shuffled.reverse();
        }
        let b = plan(&pool, &shuffled);
        prop_assert_eq!(&a, &b);
        let kept: Vec<&HostClaim> = claims.iter().filter(|c| !a.delete.contains(&c.metadata.name.clone().unwrap())).collect();
        prop_assert_eq!(kept.len() + a.create, usize::try_from(replicas).unwrap().max(kept.len()));
        for gone in &a.delete {
            let g = claims.iter().find(|c| c.metadata.name.as_ref() == Some(gone)).unwrap();
            for k in &kept {
                prop_assert!(standing(g) <= standing(k), "{gone} released before a less useful claim");
            }
        }
    }
}
