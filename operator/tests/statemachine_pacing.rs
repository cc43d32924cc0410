//! The state machine's pacing and limits: error backoff and poll jitter, the capacity gate under a
//! burst of hosts, and a property test that decide() never panics and keeps its promises.

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
                firmware: Default::default(),
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
            firmware: Default::default(),
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
