//! Whole-lifecycle behaviour: a host driven by decide() against a tiny simulated Ironic, the
//! backoff bounds, the capacity gate under a burst, and a property test that decide() never
//! panics.

mod statemachine_support;

use std::time::Duration;

use metal_operator::api::annotations::{
    DETACHED, HARDWARE_DETAILS, INSPECT, PAUSED, REBOOT, STATUS,
};
use metal_operator::api::{BareMetalHost, ErrorType, Image, OperationalStatus};
use metal_operator::provisioner::{NodeView, Observation};
use metal_operator::statemachine::{
    ActionFailure, CapacityView, ConfigData, CredentialsView, Effect, HardwareFetch, Input,
    Settings, SlotChange, decide, error_backoff, holds_provisioning_slot, jittered,
};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use statemachine_support::*;

/// A host and its simulated Ironic node, stepped decision by decision in virtual time.
struct World {
    host: BareMetalHost,
    sim: SimIronic,
    now: chrono::DateTime<chrono::Utc>,
    rng: ChaCha8Rng,
    settings: Settings,
    decisions: usize,
    trace: Vec<S>,
    hardware_writes: usize,
    /// One line per decision: state, cause and effect (the regression oracle).
    log: Vec<String>,
}

impl World {
    fn new(seed: u64) -> Self {
        Self::with_host(fresh_host().build(), seed)
    }

    fn with_host(host: BareMetalHost, seed: u64) -> Self {
        World {
            host,
            sim: SimIronic::default(),
            now: now(),
            rng: ChaCha8Rng::seed_from_u64(seed),
            settings: Settings::default(),
            decisions: 0,
            trace: vec![S::None],
            hardware_writes: 0,
            log: Vec::new(),
        }
    }

    fn state(&self) -> S {
        self.host
            .status
            .as_ref()
            .map(|s| s.provisioning.state)
            .unwrap_or_default()
    }

    fn finalized(&self) -> bool {
        self.host
            .metadata
            .finalizers
            .as_ref()
            .is_none_or(|f| f.is_empty())
    }

    /// One reconcile: decide (again at once when the decision asks for the inventory), apply,
    /// then let virtual time pass until the requested requeue.
    fn reconcile(&mut self) {
        let observation = self.sim.observation();
        let mut hardware = HardwareFetch::NotFetched;
        let requeue = loop {
            let input = Input {
                host: &self.host,
                credentials: creds_ok(),
                observation: &observation,
                now: self.now,
                capacity: CapacityView {
                    in_use: u32::from(holds_provisioning_slot(&self.host)),
                    limit: 20,
                    holds_slot: holds_provisioning_slot(&self.host),
                },
                hardware: hardware.clone(),
                config_data: Ok(ConfigData::default()),
                action_failure: None,
                settings: &self.settings,
            };
            let d = decide(&input, &mut self.rng);
            self.decisions += 1;
            let effect = match &d.effect {
                Effect::Provisioner(a) => format!("act {}", a.name()),
                Effect::FetchHardwareDetails => "fetch hardware details".to_string(),
                Effect::WriteHardwareData(_) => "write HardwareData".to_string(),
                Effect::None => "-".to_string(),
            };
            self.log.push(format!(
                "{:<28} {:<60} {:<24} requeue {:?}",
                format!("[{}]", d.status.provisioning.state),
                d.cause,
                effect,
                d.requeue_after
            ));
            apply(&mut self.host, &d);
            match &d.effect {
                Effect::Provisioner(a) => self.sim.act(a),
                Effect::FetchHardwareDetails => {
                    hardware = match &self.sim.inventory {
                        Some(v) => HardwareFetch::Found(v.clone()),
                        None => HardwareFetch::Missing,
                    };
                    continue;
                }
                Effect::WriteHardwareData(_) => self.hardware_writes += 1,
                Effect::None => {}
            }
            break d.requeue_after;
        };
        let state = self.state();
        if self.trace.last() != Some(&state) {
            self.trace.push(state);
        }
        let wait = requeue.unwrap_or(Duration::from_secs(60));
        if !wait.is_zero() {
            self.now += chrono::Duration::from_std(wait).expect("small duration");
            self.sim.tick();
        }
    }

    fn run_until(&mut self, done: impl Fn(&World) -> bool) {
        for _ in 0..200 {
            if done(self) {
                return;
            }
            self.reconcile();
        }
        panic!(
            "not reached after 200 reconciles; trace {:?}, status {:?}",
            self.trace, self.host.status
        );
    }
}

/// Runs the lifecycle none → … → available → provisioned → available → deleted.
fn lifecycle(seed: u64) -> World {
    let mut w = World::new(seed);
    w.run_until(|w| w.state() == S::Available);
    w.host.spec.image = Some(image());
    w.run_until(|w| w.state() == S::Provisioned);
    w.host.spec.image = None;
    w.run_until(|w| w.state() == S::Available && w.trace.contains(&S::Deprovisioning));
    w.host.metadata.deletion_timestamp = Some(time(w.now));
    w.run_until(World::finalized);
    w
}

#[test]
fn a_host_walks_the_full_lifecycle_against_a_simulated_ironic() {
    let w = lifecycle(42);
    assert_eq!(
        w.trace,
        vec![
            S::None,
            S::Registering,
            S::Inspecting,
            S::Preparing,
            S::Available,
            S::Provisioning,
            S::Provisioned,
            S::Deprovisioning,
            S::Available,
            S::PoweringOffBeforeDelete,
            S::Deleting,
        ]
    );
    assert_eq!(w.hardware_writes, 1);
    assert!(w.sim.node.is_none(), "the node is deleted");
    let status = w.host.status.as_ref().expect("status");
    assert_eq!(status.error_count, 0);
    assert_eq!(status.operational_status, OperationalStatus::Ok);
    let history = status.operation_history.as_ref().expect("history");
    for (phase, metric) in [
        ("register", &history.register),
        ("inspect", &history.inspect),
        ("provision", &history.provision),
        ("deprovision", &history.deprovision),
    ] {
        let m = metric
            .as_ref()
            .unwrap_or_else(|| panic!("{phase} recorded"));
        assert!(
            m.start.is_some() && m.end.is_some(),
            "{phase} has start and end"
        );
    }
    let calls = &w.sim.calls;
    for expected in [
        "register", "manage", "inspect", "provide", "deploy", "undeploy", "delete",
    ] {
        assert!(
            calls.contains(&expected),
            "{expected} called; calls {calls:?}"
        );
    }
    println!(
        "lifecycle: {} decisions, {} provisioner actions: {:?}",
        w.decisions,
        calls.len(),
        calls
    );
    assert!(w.decisions < 120, "{} decisions", w.decisions);
    insta::assert_snapshot!("lifecycle_trace_seed_42", w.log.join("\n"));
}

#[test]
fn the_lifecycle_is_deterministic_for_a_seed() {
    let a = lifecycle(9);
    let b = lifecycle(9);
    assert_eq!(a.trace, b.trace);
    assert_eq!(a.decisions, b.decisions);
    assert_eq!(a.sim.calls, b.sim.calls);
    assert_eq!(a.now, b.now);
    assert_eq!(a.host.status, b.host.status);
}

#[test]
fn an_externally_provisioned_host_is_adopted_powered_on_and_can_be_taken_over() {
    let mut w = World::with_host(
        fresh_host()
            .spec(|s| s.externally_provisioned = true)
            .build(),
        5,
    );
    w.run_until(|w| {
        w.state() == S::ExternallyProvisioned
            && w.host.status.as_ref().is_some_and(|s| s.powered_on)
    });
    assert_eq!(
        w.trace,
        vec![S::None, S::Registering, S::ExternallyProvisioned]
    );
    assert!(w.sim.calls.contains(&"adopt"), "calls {:?}", w.sim.calls);
    assert!(!w.sim.calls.contains(&"inspect"), "no inspection");
    assert!(!w.sim.calls.contains(&"provide"), "no cleaning");
    w.host.spec.externally_provisioned = false;
    w.host.spec.image = Some(image());
    w.run_until(|w| w.state() == S::Provisioned);
    let status = w.host.status.as_ref().expect("status");
    assert_eq!(status.provisioning.image, Some(image()));
    assert!(
        !w.sim.calls.contains(&"deploy"),
        "taking over does not redeploy"
    );
}

#[test]
fn a_detached_host_is_re_registered_and_adopted_when_the_annotation_goes() {
    let mut w = World::new(6);
    w.run_until(|w| w.state() == S::Available);
    w.host.spec.image = Some(image());
    w.run_until(|w| w.state() == S::Provisioned);
    w.host
        .metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(DETACHED.to_string(), String::new());
    w.run_until(|w| {
        w.host.status.as_ref().map(|s| s.operational_status) == Some(OperationalStatus::Detached)
    });
    assert!(w.sim.node.is_none(), "the node is removed from Ironic");
    let deploys = w.sim.calls.iter().filter(|c| **c == "deploy").count();
    w.host
        .metadata
        .annotations
        .as_mut()
        .expect("annotations")
        .remove(DETACHED);
    let before = w.sim.calls.len();
    w.run_until(|w| {
        w.sim
            .node
            .as_ref()
            .is_some_and(|n| n.provision_state == "active")
            && w.host.status.as_ref().map(|s| s.operational_status) == Some(OperationalStatus::Ok)
    });
    assert_eq!(w.state(), S::Provisioned, "no state change through detach");
    assert_eq!(
        w.sim.calls.iter().filter(|c| **c == "deploy").count(),
        deploys,
        "re-attaching adopts, it does not redeploy"
    );
    let tail = &w.sim.calls[before..];
    assert!(
        tail.starts_with(&["register", "manage"]) && tail.contains(&"adopt"),
        "re-attach calls {tail:?}"
    );
}

#[test]
fn repeated_deploy_failures_stop_at_the_retry_limit_until_the_image_changes() {
    let mut w = World::new(8);
    w.run_until(|w| w.state() == S::Available);
    w.sim.fail_deploys = 100;
    w.host.spec.image = Some(image());
    let stopped = |w: &World| {
        w.host.status.as_ref().is_some_and(|s| {
            s.provisioning.state == S::Available
                && s.provisioning_fail_count == 5
                && s.error_type == Some(ErrorType::Provisioning)
                && s.error_message.contains("retry limit (5) reached")
        })
    };
    w.run_until(stopped);
    let deploys = |w: &World| w.sim.calls.iter().filter(|c| **c == "deploy").count();
    assert_eq!(deploys(&w), 5, "five attempts for one image");
    for _ in 0..5 {
        w.reconcile();
    }
    assert_eq!(deploys(&w), 5, "no further attempt with the same image");
    w.sim.fail_deploys = 0;
    w.host.spec.image = Some(Image {
        url: "http://images.example/fixed.qcow2".into(),
        ..image()
    });
    w.run_until(|w| w.state() == S::Provisioned);
    let status = w.host.status.as_ref().expect("status");
    assert_eq!(status.provisioning_fail_count, 0);
    assert_eq!(status.error_type, None);
}

// ---- backoff ------------------------------------------------------------------------------

#[test]
fn error_backoff_is_two_to_the_n_minutes_minus_up_to_half_with_n_capped_at_nine() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for n in 1..=10i64 {
        let full = 60.0 * f64::from(1u32 << n.min(9));
        let mut seen = Vec::new();
        for _ in 0..200 {
            let d = error_backoff(n, &mut rng).as_secs_f64();
            assert!(
                d >= full / 2.0 && d <= full,
                "n={n}: {d}s outside [{}, {full}]",
                full / 2.0
            );
            seen.push(d);
        }
        let min = seen.iter().copied().fold(f64::MAX, f64::min);
        let max = seen.iter().copied().fold(0.0, f64::max);
        assert!(
            max - min > full * 0.3,
            "n={n}: jitter spread too small ({min}..{max})"
        );
    }
    assert_eq!(
        error_backoff(9, &mut ChaCha8Rng::seed_from_u64(1)),
        error_backoff(10, &mut ChaCha8Rng::seed_from_u64(1)),
        "n is capped at 9"
    );
}

#[test]
fn backoff_and_poll_jitter_repeat_for_the_same_seed() {
    let draw = |seed| {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut out: Vec<Duration> = (1..=10).map(|n| error_backoff(n, &mut rng)).collect();
        out.extend((0..10).map(|_| jittered(Duration::from_secs(10), &mut rng)));
        out
    };
    assert_eq!(draw(11), draw(11));
    assert_ne!(draw(11), draw(12));
}

#[test]
fn poll_jitter_adds_up_to_a_quarter() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for _ in 0..500 {
        let d = jittered(Duration::from_secs(10), &mut rng).as_secs_f64();
        assert!((10.0..=12.5).contains(&d), "{d}");
    }
}

// ---- capacity gate under a burst ------------------------------------------------------------

fn in_use(hosts: &[BareMetalHost]) -> u32 {
    u32::try_from(hosts.iter().filter(|h| holds_provisioning_slot(h)).count()).expect("small")
}

#[test]
fn a_burst_of_hosts_never_overshoots_the_provisioning_limit() {
    let settings = Settings::default();
    let mut hosts: Vec<BareMetalHost> = (0..50)
        .map(|i| {
            let mut h = host(S::Available).image().build();
            h.metadata.name = Some(format!("host-{i}"));
            h
        })
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(77);
    let mut peak = 0;
    let mut entered = 0;
    for round in 0..6 {
        for i in 0..hosts.len() {
            let observation = observed(&hosts[i], "manageable");
            let holds = holds_provisioning_slot(&hosts[i]);
            let input = Input {
                host: &hosts[i],
                credentials: creds_ok(),
                observation: &observation,
                now: now() + chrono::Duration::minutes(round * 5),
                capacity: CapacityView {
                    in_use: in_use(&hosts),
                    limit: 20,
                    holds_slot: holds,
                },
                hardware: HardwareFetch::NotFetched,
                config_data: Ok(ConfigData::default()),
                action_failure: None,
                settings: &settings,
            };
            let d = decide(&input, &mut rng);
            if d.slot == SlotChange::Take {
                entered += 1;
            }
            apply(&mut hosts[i], &d);
            let used = in_use(&hosts);
            peak = peak.max(used);
            assert!(used <= 20, "round {round}: {used} slots in use");
        }
        if round == 0 {
            let delayed = hosts
                .iter()
                .filter(|h| {
                    h.status.as_ref().map(|s| s.operational_status)
                        == Some(OperationalStatus::Delayed)
                })
                .count();
            assert_eq!(in_use(&hosts), 20);
            assert_eq!(delayed, 30);
        }
        // Five hosts finish provisioning each round and free their slots.
        let mut freed = 0;
        for h in hosts.iter_mut() {
            if freed < 5 && holds_provisioning_slot(h) {
                let status = h.status.as_mut().expect("status");
                status.provisioning.state = S::Provisioned;
                status.provisioning.image = Some(image());
                freed += 1;
            }
        }
    }
    assert_eq!(peak, 20);
    assert_eq!(entered, 45, "20 at first, then 5 per round for 5 rounds");
}

// ---- never panics ---------------------------------------------------------------------------

const IRONIC_STATES: &[&str] = &[
    "enroll",
    "verifying",
    "manageable",
    "available",
    "active",
    "wait call-back",
    "deploying",
    "deploy failed",
    "deleting",
    "deleted",
    "cleaning",
    "clean wait",
    "clean failed",
    "error",
    "inspecting",
    "inspect wait",
    "inspect failed",
    "adopting",
    "adopt failed",
    "servicing",
    "",
    "no such state",
];

const ADDRESSES: &[&str] = &[
    REDFISH,
    "ipmi://192.0.2.1",
    "libvirt://192.0.2.1",
    "redfish-virtualmedia+http://192.0.2.1:8000/redfish/v1/Systems/x",
    "idrac-virtualmedia://[fe80::1]:443",
    "foo://bar",
    "",
    "ipmi://my-.examplehost.com",
    "::::",
];

const ANNOTATION_VALUES: &[&str] = &[
    "",
    "{}",
    r#"{"mode":"hard"}"#,
    r#"{"mode":"soft","force":true}"#,
    r#"{"deleteAction":"delay"}"#,
    r#"{"force":true}"#,
    "disabled",
    "{not json",
    r#"{"provisioning":{"state":"provisioned"}}"#,
    r#"{"ramMebibytes":1}"#,
];

fn annotation_keys() -> Vec<&'static str> {
    vec![
        PAUSED,
        DETACHED,
        STATUS,
        REBOOT,
        "reboot.metal3.io/phase",
        INSPECT,
        HARDWARE_DETAILS,
    ]
}

prop_compose! {
    fn arb_node()(
        state in 0..IRONIC_STATES.len(),
        target in proptest::option::of(0..IRONIC_STATES.len()),
        power in proptest::option::of(prop_oneof![Just("power on"), Just("power off"), Just("weird")]),
        target_power in proptest::option::of(Just("power on")),
        last_error in proptest::option::of(prop_oneof![Just("Failed to change power state"), Just("boom"), Just("")]),
        maintenance in any::<bool>(),
        clean in proptest::option::of(any::<bool>()),
        fingerprint_matches in any::<bool>(),
    ) -> (NodeView, bool) {
        (NodeView {
            uuid: "n-1".into(),
            provision_state: IRONIC_STATES[state].into(),
            target_provision_state: target.map(|t| IRONIC_STATES[t].to_string()),
            power_state: power.map(str::to_string),
            target_power_state: target_power.map(str::to_string),
            last_error: last_error.map(str::to_string),
            maintenance,
            automated_clean: clean,
            ..NodeView::default()
        }, fingerprint_matches)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn decide_never_panics_and_keeps_its_promises(
        state in 0..S::ALL.len(),
        op in 0..OperationalStatus::ALL.len(),
        error in proptest::option::of(0..ErrorType::ALL.len()),
        error_count in 0i64..20,
        fail_count in 0i64..8,
        online in any::<bool>(),
        powered in any::<bool>(),
        disable_power_off in any::<bool>(),
        externally in any::<bool>(),
        image_kind in 0u8..4,
        address in 0..ADDRESSES.len(),
        deleting in any::<bool>(),
        finalizer in any::<bool>(),
        annotations in proptest::collection::vec((0usize..7, 0..ANNOTATION_VALUES.len()), 0..4),
        observation in prop_oneof![
            Just(None),
            Just(Some(None)),
            arb_node().prop_map(|n| Some(Some(n))),
        ],
        creds in 0u8..5,
        capacity in (0u32..30, 0u32..25, any::<bool>()),
        hardware in 0u8..4,
        failure in proptest::option::of((0usize..6, any::<bool>())),
        status_present in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let mut b = host(S::ALL[state])
            .op(OperationalStatus::ALL[op])
            .online(online)
            .powered(powered)
            .spec(|s| {
                s.disable_power_off = disable_power_off;
                s.externally_provisioned = externally;
                s.bmc.address = ADDRESSES[address].to_string();
                s.image = match image_kind {
                    0 => None,
                    1 => Some(image()),
                    2 => Some(Image { url: "http://x/y".into(), ..Image::default() }),
                    _ => Some(Image { url: String::new(), ..Image::default() }),
                };
            })
            .status(|st| {
                st.error_type = error.map(|e| ErrorType::ALL[e]);
                st.error_message = if error.is_some() { "earlier failure".into() } else { String::new() };
                st.error_count = error_count;
                st.provisioning_fail_count = fail_count;
            });
        let keys = annotation_keys();
        for (k, v) in annotations {
            b = b.annotation(keys[k], ANNOTATION_VALUES[v]);
        }
        if deleting {
            b = b.deleting();
        }
        if !finalizer {
            b = b.no_finalizer();
        }
        let mut h = b.build();
        if !status_present {
            h.status = None;
        }
        let observation = match observation {
            None => Observation::NotRegistered,
            Some(None) => Observation::Unavailable("connection refused".into()),
            Some(Some((mut n, matches))) => {
                if matches {
                    n.registration_fingerprint = fingerprint(&h);
                }
                Observation::Node(n)
            }
        };
        let credentials = match creds {
            0 => creds_ok(),
            1 => CredentialsView::SecretMissing { name: SECRET.into() },
            2 => CredentialsView::MissingKey { name: SECRET.into(), key: "password" },
            3 => CredentialsView::SecretInOtherNamespace { name: SECRET.into(), namespace: "x".into() },
            _ => CredentialsView::NotRequested,
        };
        let hardware = match hardware {
            0 => HardwareFetch::NotFetched,
            1 => HardwareFetch::Missing,
            2 => HardwareFetch::Found(serde_json::json!({"ramMebibytes": "not a number"})),
            _ => HardwareFetch::Found(serde_json::json!({"ramMebibytes": 1024})),
        };
        let actions = ["register", "deploy", "power", "detach", "delete", "inspect"];
        let settings = Settings::default();
        let input = Input {
            host: &h,
            credentials,
            observation: &observation,
            now: now(),
            capacity: CapacityView { in_use: capacity.0, limit: capacity.1, holds_slot: capacity.2 },
            hardware,
            config_data: Ok(ConfigData::default()),
            action_failure: failure.map(|(a, transient)| ActionFailure {
                action: actions[a],
                message: "refused".into(),
                transient,
            }),
            settings: &settings,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let d = decide(&input, &mut rng);

        let paused = h.metadata.annotations.as_ref().is_some_and(|a| a.contains_key(PAUSED));
        if paused {
            prop_assert_eq!(&d.effect, &Effect::None);
            prop_assert!(d.requeue_after.is_none());
            prop_assert!(!d.status_changed);
        }
        if let Some(after) = d.requeue_after {
            prop_assert!(after <= Duration::from_secs(9 * 3600), "requeue {:?}", after);
        }
        if d.status.error_type.is_some() {
            prop_assert!(!d.status.error_message.is_empty());
        }
        let debug = format!("{:?}", d);
        prop_assert!(!debug.contains(PASSWORD));
        for e in &d.events {
            prop_assert!(!e.message.contains(PASSWORD));
        }
        let again = decide(&input, &mut ChaCha8Rng::seed_from_u64(seed));
        prop_assert_eq!(d, again, "same input and seed, same decision");
    }
}
