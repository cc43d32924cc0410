//! Whole-lifecycle behaviour: a host driven by decide() against a tiny simulated Ironic (the
//! full lifecycle, adoption, detach and re-registration, the deploy retry limit). Backoff, the
//! capacity gate and the never-panics property are in `statemachine_pacing.rs`.

mod statemachine_support;

use std::time::Duration;

use metal_operator::api::annotations::DETACHED;
use metal_operator::api::{BareMetalHost, ErrorType, Image, OperationalStatus};
use metal_operator::statemachine::{
    CapacityView, ConfigData, Effect, HardwareFetch, Input, Settings, decide,
    holds_provisioning_slot,
};
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
                firmware: Default::default(),
                action_failure: None,
                settings: &self.settings,
            };
            let d = decide(&input, &mut self.rng);
            self.decisions += 1;
            let effect = match &d.effect {
                Effect::Provisioner(a) => format!("act {}", a.name()),
                Effect::FetchHardwareDetails => "fetch hardware details".to_string(),
                Effect::FetchBiosSettings => "fetch BIOS settings".to_string(),
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
                Effect::FetchBiosSettings => panic!("these hosts have no HostFirmwareSettings"),
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
