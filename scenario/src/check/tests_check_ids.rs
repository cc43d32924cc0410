//! Each failure names the check it broke: a step, an expectation entry, or an invariant by name.

use super::*;

#[test]
fn two_invariant_failures_at_the_same_line_are_told_apart_by_their_check() {
    // A second deploy (one_deploy_per_provisioning) and a power action on a detached host
    // (no_power_action_when_detached): both at the `invariants:` line.
    let mut b = good().at(7).status("h-1", "detached", None, 0).call(
        "h-1",
        Protocol::Redfish,
        CallKind::PowerOff,
    );
    b.0.events.insert(
        5,
        TraceLine {
            t: SimTime::from_secs(3),
            what: Happening::Call {
                host: Some("h-0".into()),
                protocol: Protocol::Ironic,
                method: "PUT".into(),
                target: "x".into(),
                status: Some(202),
                action: Some(CallKind::Deploy),
                detail: None,
            },
        },
    );
    let s = scenario();
    let v = check(&s, &b.0);
    let invariants: Vec<(CheckId, usize)> = v
        .failures
        .iter()
        .filter(|f| matches!(f.check, CheckId::Invariant(_)))
        .map(|f| (f.check, f.line))
        .collect();
    assert_eq!(
        invariants,
        vec![
            (
                CheckId::Invariant(Invariant::OneDeployPerProvisioning),
                s.invariants_line()
            ),
            (
                CheckId::Invariant(Invariant::NoPowerActionWhenDetached),
                s.invariants_line()
            ),
        ],
        "{:?}",
        v.failures
    );
    let json = serde_json::to_value(&v).unwrap();
    let named: Vec<&str> = json["failures"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["check"].as_str())
        .collect();
    assert!(
        named.contains(&"invariant one_deploy_per_provisioning")
            && named.contains(&"invariant no_power_action_when_detached"),
        "{named:?}"
    );
}

#[test]
fn expectation_and_step_failures_name_their_entry() {
    let trace = Build::new()
        .state("h-0", "", "registering")
        .push(Happening::StepFailed {
            index: 0,
            line: 9,
            reason: "not within 10m".into(),
        })
        .0;
    let v = check(&scenario(), &trace);
    let checks: std::collections::BTreeSet<String> =
        v.failures.iter().map(|f| f.check.to_string()).collect();
    let want: std::collections::BTreeSet<String> = [
        "step 1",
        "expect.hosts[0]",
        "expect.events[0]",
        "expect.calls[0]",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(checks, want, "{:?}", v.failures);
}
