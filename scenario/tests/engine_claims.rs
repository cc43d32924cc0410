//! HostClaims and HostPools in engine mode: the claim and pool scenarios play with the operator's
//! pure claim and pool cores, replay identically, and fail when the behaviour they check is off.

use std::path::Path;

use metal_scenario::check::check;
use metal_scenario::engine::run;
use metal_scenario::trace::Happening;
use metal_scenario::{Mode, Scenario, Trace};

fn load(name: &str) -> Scenario {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(format!("{name}.yaml"));
    Scenario::load(&p).unwrap_or_else(|e| panic!("{e}"))
}

fn play_twice_and_check(name: &str) -> Trace {
    let s = load(name);
    assert!(
        s.runs_in(Mode::Engine),
        "{name} is not marked for engine mode"
    );
    let first = run(&s, s.seed()).unwrap_or_else(|e| panic!("{e}"));
    let second = run(&s, s.seed()).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        first.to_jsonl() == second.to_jsonl(),
        "{name}: two runs differ"
    );
    let verdict = check(&s, &first);
    assert!(verdict.passed(), "{name}: {:#?}", verdict.failures);
    first
}

fn claim_bindings(t: &Trace) -> Vec<(String, Option<String>)> {
    t.events
        .iter()
        .filter_map(|e| match &e.what {
            Happening::Claim { claim, host, .. } => Some((claim.clone(), host.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_released_claim_returns_its_host_for_the_next_claim_in_engine_mode() {
    let t = play_twice_and_check("claim-released-returns-host-to-available");
    let b = claim_bindings(&t);
    assert_eq!(
        b,
        vec![
            ("first".to_owned(), Some("claimable-0".to_owned())),
            ("first".to_owned(), None),
            ("second".to_owned(), Some("claimable-0".to_owned())),
        ]
    );
}

#[test]
fn a_gpu_pool_claims_only_gpu_hosts_in_engine_mode() {
    let t = play_twice_and_check("gpu-hosts-inspected-and-claimed-by-gpu-pool");
    let hosts: Vec<String> = claim_bindings(&t)
        .into_iter()
        .filter_map(|(_, h)| h)
        .collect();
    assert_eq!(hosts.len(), 2, "{hosts:?}");
    assert!(hosts.iter().all(|h| h.starts_with("gpu-")), "{hosts:?}");
    let pool_ready: Vec<u32> = t
        .events
        .iter()
        .filter_map(|e| match &e.what {
            Happening::Pool { ready, .. } => Some(*ready),
            _ => None,
        })
        .collect();
    assert_eq!(pool_ready.last(), Some(&2), "{pool_ready:?}");
}

#[test]
fn seed_two_worker_pool_scales_up_down_and_up_again_in_engine_mode() {
    let t = play_twice_and_check("seed-two-masters-external-worker-pool-scale");
    let b = claim_bindings(&t);
    let bound: Vec<&str> = b.iter().filter_map(|(_, h)| h.as_deref()).collect();
    assert_eq!(bound, vec!["worker-0", "worker-0"], "{b:?}");
    // Two different claims: the pool made a new one after scaling back up.
    assert_ne!(b[0].0, b.last().map(|x| x.0.clone()).unwrap_or_default());
    let counts: Vec<(u32, u32)> = t
        .events
        .iter()
        .filter_map(|e| match &e.what {
            Happening::Pool {
                replicas, ready, ..
            } => Some((*replicas, *ready)),
            _ => None,
        })
        .collect();
    assert_eq!(
        counts,
        vec![(0, 0), (1, 0), (1, 1), (0, 1), (0, 0), (1, 0), (1, 1)],
        "the pool's (replicas, ready) as a pool watch sees them"
    );
}

#[test]
fn a_claim_whose_selector_matches_no_host_fails_its_wait_in_engine_mode() {
    let mut s = load("claim-released-returns-host-to-available");
    for step in &mut s.file.timeline {
        if let metal_scenario::format::Step::CreateClaim(c) = step {
            c.match_labels.insert("pool".into(), "nowhere".into());
        }
    }
    let t = run(&s, s.seed()).unwrap_or_else(|e| panic!("{e}"));
    let failed: Vec<String> = t
        .events
        .iter()
        .filter_map(|e| match &e.what {
            Happening::StepFailed { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(failed[0].contains("claim first is not bound"), "{failed:?}");
    assert!(!check(&s, &t).passed());
}

mod world {
    use std::time::Duration;

    use metal_scenario::engine::{ClaimWorld, Engine, EngineSettings};
    use metal_scenario::trace::Happening;
    use metal_sim::fleet::Fleet;
    use metal_sim::machine::SimTime;
    use serde_json::json;

    const IMAGE: &str = "http://images.example/os.qcow2";

    fn available_fleet(seed: u64) -> (Engine, String, usize) {
        let fleet = Fleet::demo().expect("demo fleet");
        let mut e = Engine::new(&fleet, seed, EngineSettings::default());
        e.register_fleet(&fleet).expect("register");
        let n = fleet.hosts().len();
        e.advance_until(|e| e.count_in("available") == n, SimTime::from_secs(7200))
            .expect("all available");
        let ns = e.rows()[0].key.split('/').next().unwrap().to_owned();
        (e, ns, n)
    }

    fn claim(ns: &str, name: &str) -> serde_json::Value {
        json!({
            "apiVersion": "metal3.io/v1alpha1", "kind": "HostClaim",
            "metadata": {"name": name, "namespace": ns},
            "spec": {
                "image": {"url": IMAGE, "checksum": format!("{IMAGE}.sha256sum")},
                "poweredOn": true,
            },
        })
    }

    fn tick(w: &mut ClaimWorld, e: &mut Engine, times: usize) -> Vec<Happening> {
        let mut out = Vec::new();
        for _ in 0..times {
            e.advance_by(Duration::from_secs(1)).expect("advance");
            w.reconcile_all(e).expect("reconcile");
            out.extend(w.take_happenings());
        }
        out
    }

    fn bound_hosts(h: &[Happening]) -> Vec<String> {
        h.iter()
            .filter_map(|h| match h {
                Happening::Claim { host: Some(x), .. } => Some(x.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn more_claims_than_hosts_bind_each_host_exactly_once() {
        let (mut e, ns, n) = available_fleet(3);
        let mut w = ClaimWorld::new(3);
        let now = metal_core::claim::progress::to_time(e.wall(e.now()));
        for i in 0..n + 2 {
            w.apply_claim(claim(&ns, &format!("c{i}")), now.clone())
                .expect("claim");
        }
        let h = tick(&mut w, &mut e, 3);
        let mut hosts = bound_hosts(&h);
        assert_eq!(hosts.len(), n, "{h:#?}");
        hosts.sort();
        hosts.dedup();
        assert_eq!(hosts.len(), n, "a host was bound twice: {h:#?}");
        let unbound = (0..n + 2)
            .filter(|i| !w.is_bound(&format!("{ns}/c{i}")))
            .count();
        assert_eq!(unbound, 2);
    }

    #[test]
    fn scaling_a_pool_down_releases_its_unbound_claim_first() {
        let (mut e, ns, n) = available_fleet(4);
        let mut w = ClaimWorld::new(4);
        let now = metal_core::claim::progress::to_time(e.wall(e.now()));
        let replicas = u32::try_from(n + 1).unwrap();
        w.apply_pool(
            json!({
                "apiVersion": "metal-operator.io/v1alpha1", "kind": "HostPool",
                "metadata": {"name": "p", "namespace": ns},
                "spec": {"replicas": replicas, "template": {"spec": {
                    "poweredOn": true,
                    "image": {"url": IMAGE, "checksum": format!("{IMAGE}.sha256sum")},
                }}},
            }),
            now,
        )
        .expect("pool");
        let h = tick(&mut w, &mut e, 3);
        assert_eq!(bound_hosts(&h).len(), n, "{h:#?}");
        w.scale_pool(&format!("{ns}/p"), replicas - 1)
            .expect("scale");
        let after = tick(&mut w, &mut e, 3);
        let released: Vec<&Happening> = after
            .iter()
            .filter(|h| matches!(h, Happening::Claim { host: None, .. }))
            .collect();
        assert!(
            released.is_empty(),
            "a bound claim was released: {after:#?}"
        );
        assert!(
            after
                .iter()
                .any(|h| matches!(h, Happening::Pool { replicas: r, .. } if *r == replicas - 1)),
            "{after:#?}"
        );
    }
}

#[test]
fn a_pool_scaled_up_after_an_operator_restart_names_its_new_claim_afresh() {
    let text = r#"
name: pool-after-restart
modes: [engine]
seed: 9
fleet:
  groups:
    - name: w-{index}
      count: 2
      labels: {role: worker}
timeline:
  - register: {hosts: all}
  - wait: {until: {hosts: all, state: available}, within: 5m}
  - apply:
      objects:
        - apiVersion: metal-operator.io/v1alpha1
          kind: HostPool
          metadata: {name: workers}
          spec:
            replicas: 1
            template:
              spec:
                hostSelector: {matchLabels: {role: worker}}
                poweredOn: true
                image: {url: "$IMAGES/os.qcow2", checksum: "$IMAGES/os.qcow2.sha256sum", checksumType: sha256}
  - wait: {until: {pool: workers, ready: 1}, within: 10m}
  - restart_operator: {down_for: 10s}
  - scale_pool: {name: workers, replicas: 2}
  - wait: {until: {pool: workers, ready: 2}, within: 10m}
"#;
    let s = Scenario::parse(text, "<inline>", Path::new(".")).unwrap_or_else(|e| panic!("{e}"));
    let t = run(&s, s.seed()).unwrap_or_else(|e| panic!("{e}"));
    let verdict = check(&s, &t);
    assert!(verdict.passed(), "{:#?}", verdict.failures);
    let b = claim_bindings(&t);
    let mut claims: Vec<&str> = b.iter().map(|(c, _)| c.as_str()).collect();
    let mut hosts: Vec<&str> = b.iter().filter_map(|(_, h)| h.as_deref()).collect();
    assert_eq!(claims.len(), 2, "{b:?}");
    claims.dedup();
    hosts.sort();
    hosts.dedup();
    assert_eq!(
        claims.len(),
        2,
        "the restarted pool reused a claim name: {b:?}"
    );
    assert_eq!(hosts, vec!["w-0", "w-1"], "{b:?}");
}

/// A claim nobody can satisfy, waited on for the reason its Bound condition gives.
fn unmatchable_claim_waiting_for(reasons: &str) -> Scenario {
    let text = format!(
        r#"
name: unmatchable-claim-reason
modes: [engine]
fleet:
  groups:
    - name: general-0
      labels: {{pool: general}}
timeline:
  - register: {{hosts: all}}
  - wait: {{until: {{hosts: all, state: available}}, within: 5m}}
  - create_claim: {{name: nowhere, match_labels: {{pool: gpu}}}}
  - wait: {{until: {{claim: nowhere, bound: false, reason: [{reasons}]}}, within: 1m}}
"#
    );
    Scenario::parse(&text, "reason.yaml", Path::new(".")).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_wait_on_a_claims_reason_holds_only_for_the_reason_the_claim_gives() {
    let s = unmatchable_claim_waiting_for("NoMatchingHost");
    let t = run(&s, s.seed()).unwrap_or_else(|e| panic!("{e}"));
    let verdict = check(&s, &t);
    assert!(verdict.passed(), "{:#?}", verdict.failures);

    // The same claim is not bound, but not for this reason: the wait must fail at its line.
    let s = unmatchable_claim_waiting_for("NoHostAvailable");
    let t = run(&s, s.seed()).unwrap_or_else(|e| panic!("{e}"));
    let verdict = check(&s, &t);
    assert!(!verdict.passed(), "a wrong reason was accepted");
    assert!(
        verdict.failures.iter().any(|f| f.line == 12
            && f.message
                .contains("says NoMatchingHost, not NoHostAvailable")),
        "{:#?}",
        verdict.failures
    );
}
