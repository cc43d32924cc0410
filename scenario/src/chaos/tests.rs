use super::*;
use crate::format::Step;

#[test]
fn a_seed_draws_the_same_scenario_every_time_and_another_seed_another() {
    assert_eq!(draw(7, Mode::Engine), draw(7, Mode::Engine));
    assert_ne!(draw(7, Mode::Engine), draw(8, Mode::Engine));
}

#[test]
fn every_drawn_scenario_validates_in_its_mode() {
    for seed in 0..200 {
        for mode in [Mode::Engine, Mode::Wire] {
            let s = scenario(seed, mode).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
            assert_eq!(s.file.modes, vec![mode]);
            assert_eq!(s.seed(), seed);
        }
    }
}

#[test]
fn the_draws_cover_every_operation_and_fault_kind() {
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..100 {
        let s = scenario(seed, Mode::Wire).expect("valid");
        for step in &s.file.timeline {
            let kind = match step {
                Step::InjectFault(f) if f.ironic.as_ref().is_some_and(|i| i.database_lost) => {
                    "database lost".into()
                }
                Step::InjectFault(f) => format!("fault {:?}", f.target()),
                Step::Patch(p) if p.kind.as_deref() == Some("Secret") => "secret".into(),
                other => other.keyword().to_owned(),
            };
            seen.insert(kind);
        }
    }
    for kind in [
        "register",
        "patch",
        "annotate",
        "delete",
        "create_claim",
        "delete_claim",
        "secret",
        "restart_operator",
        "fault Some(Bmc)",
        "fault Some(Ironic)",
        "database lost",
        "fault Some(Agent)",
        "fault Some(ControlPlane)",
        "clear_fault",
        "wait",
    ] {
        assert!(
            seen.contains(kind),
            "no seed in 0..100 drew {kind}: {seen:?}"
        );
    }
}

#[test]
fn engine_draws_leave_out_watch_disconnects_which_engine_mode_cannot_play() {
    for seed in 0..200 {
        let s = scenario(seed, Mode::Engine).expect("valid");
        assert!(!s.file.timeline.iter().any(|step| matches!(
            step,
            Step::InjectFault(f) if f.control_plane.is_some()
        )));
    }
}

#[test]
fn every_host_ends_with_a_bounded_wait_for_its_last_asked_state() {
    let s = scenario(3, Mode::Engine).expect("valid");
    let waits: Vec<_> = s
        .file
        .timeline
        .iter()
        .filter_map(|step| match step {
            Step::Wait(w) => Some(w),
            _ => None,
        })
        .collect();
    assert!(waits.len() >= s.fleet.hosts().len());
    for w in waits {
        assert_eq!(w.within.0, converge_bound(Mode::Engine));
        assert!(
            w.until.gone == Some(true)
                || w.until.error_type.as_deref() == Some("none")
                || w.until.claim.is_some()
        );
    }
}

#[test]
fn claims_compete_for_fewer_claimable_hosts_and_the_settle_waits_for_them() {
    // Some seed draws more live claims than claimable hosts, and then waits for every claimable
    // host provisioned rather than for each claim bound.
    let competing = (0..200).find(|seed| {
        let s = scenario(*seed, Mode::Engine).expect("valid");
        let claims = s
            .file
            .timeline
            .iter()
            .filter(|step| matches!(step, Step::CreateClaim(_)))
            .count();
        let claimable = s
            .fleet
            .hosts()
            .iter()
            .filter(|h| h.labels.get("chaos-pool").map(String::as_str) == Some("claims"))
            .count();
        claims >= 2 && claims > claimable && claimable > 0
    });
    let seed = competing.expect("some seed in 0..200 draws more claims than claimable hosts");
    let s = scenario(seed, Mode::Engine).expect("valid");
    assert!(s.file.timeline.iter().any(|step| matches!(
        step,
        Step::Wait(w) if w.until.at_least.is_some() && w.until.state.as_deref() == Some("provisioned")
    )));
}

#[test]
fn engine_draws_kill_the_operator_inside_reconciles_and_wire_draws_never_do() {
    let mid = |mode| {
        (0..200u64)
            .flat_map(|seed| scenario(seed, mode).expect("valid").file.timeline)
            .filter(|step| matches!(step, Step::RestartOperator(r) if r.mid_reconcile.is_some()))
            .count()
    };
    assert!(mid(Mode::Engine) > 10, "{}", mid(Mode::Engine));
    assert_eq!(mid(Mode::Wire), 0);
}
