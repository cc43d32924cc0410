use std::path::Path;

use super::*;
use crate::trace::{CallKind, Protocol, TraceLine};

const SCENARIO: &str = "\
name: t
fleet:
  groups:
    - name: h-{index}
      count: 2
    - name: vm-0
      bmc: {protocol: redfish-virtualmedia}
operator: {provisioning_limit: 1}
timeline:
  - advance: 1s
expect:
  hosts:
    - hosts: [h-0]
      visits: [registering, available]
      final: available
  events:
    - {hosts: [h-0], reason: Registered}
  calls:
    - {hosts: [h-0], action: deploy, exactly: 1}
";

fn scenario() -> Scenario {
    Scenario::parse(SCENARIO, "t.yaml", Path::new(".")).unwrap()
}

struct Build(Trace, u64);

impl Build {
    fn new() -> Self {
        Build(Trace::new(), 0)
    }
    fn at(mut self, secs: u64) -> Self {
        self.1 = secs;
        self
    }
    fn push(mut self, what: Happening) -> Self {
        self.0.events.push(TraceLine {
            t: SimTime::from_secs(self.1),
            what,
        });
        self
    }
    fn state(self, host: &str, from: &str, to: &str) -> Self {
        self.push(Happening::HostState {
            host: host.into(),
            from: from.into(),
            to: to.into(),
            cause: "test".into(),
            revision: None,
        })
    }
    fn status(self, host: &str, op: &str, err: Option<&str>, count: u32) -> Self {
        self.push(Happening::HostStatus {
            host: host.into(),
            operational_status: op.into(),
            error_type: err.map(str::to_string),
            error_count: count,
            powered_on: None,
        })
    }
    fn call(self, host: &str, protocol: Protocol, action: CallKind) -> Self {
        self.push(Happening::Call {
            host: Some(host.into()),
            protocol,
            method: "PUT".into(),
            target: "x".into(),
            status: Some(202),
            action: Some(action),
            detail: None,
        })
    }
}

fn good() -> Build {
    Build::new()
        .state("h-0", "", "registering")
        .push(Happening::Event {
            host: Some("h-0".into()),
            object: "BareMetalHost/h-0".into(),
            reason: "Registered".into(),
            event_type: "Normal".into(),
            message: String::new(),
        })
        .at(1)
        .state("h-0", "registering", "inspecting")
        .at(2)
        .state("h-0", "inspecting", "available")
        .at(3)
        .state("h-0", "available", "provisioning")
        .call("h-0", Protocol::Ironic, CallKind::Deploy)
        .at(4)
        .state("h-0", "provisioning", "provisioned")
        .at(5)
        .state("h-0", "provisioned", "deprovisioning")
        .at(6)
        .state("h-0", "deprovisioning", "available")
}

fn messages(v: &Verdict) -> Vec<String> {
    v.failures.iter().map(|f| f.message.clone()).collect()
}

#[test]
fn a_trace_that_meets_every_expectation_passes() {
    let v = check(&scenario(), &good().0);
    assert!(v.passed(), "{:?}", messages(&v));
}

#[test]
fn a_missing_state_an_event_and_a_wrong_final_state_each_fail_with_their_line() {
    let trace = Build::new()
        .state("h-0", "", "registering")
        .call("h-1", Protocol::Ironic, CallKind::Enroll)
        .0;
    let v = check(&scenario(), &trace);
    let m = messages(&v);
    assert!(
        m.iter().any(|x| x.contains("\"available\" is missing")),
        "{m:?}"
    );
    assert!(m.iter().any(|x| x.contains("final state")), "{m:?}");
    assert!(m.iter().any(|x| x.contains("Registered")), "{m:?}");
    assert!(
        m.iter().any(|x| x.contains("exactly 1 accepted deploy")),
        "{m:?}"
    );
    assert!(v.failures.iter().all(|f| f.line > 10), "{:?}", v.failures);
}

#[test]
fn extension_expectations_are_not_applicable_under_another_operator_never_passed() {
    let text = SCENARIO
        .replace(
            "{hosts: [h-0], reason: Registered}",
            "{hosts: [h-0], reason: Registered, extension: true}",
        )
        .replace(
            "{hosts: [h-0], action: deploy, exactly: 1}",
            "{hosts: [h-0], action: deploy, exactly: 1, extension: true}",
        );
    let s = Scenario::parse(&text, "t.yaml", Path::new(".")).unwrap();
    // A trace with neither the Event nor the deploy: ours fails both, BMO is not judged on them.
    let trace = Build::new()
        .state("h-0", "", "registering")
        .state("h-0", "registering", "available")
        .0;
    let ours = check_under(&s, &trace, OperatorKind::Ours);
    assert_eq!(ours.failures.len(), 2, "{:?}", messages(&ours));
    assert!(ours.not_applicable.is_empty());
    let bmo = check_under(&s, &trace, OperatorKind::Bmo);
    assert!(bmo.passed(), "{:?}", messages(&bmo));
    assert_eq!(bmo.not_applicable.len(), 2, "{:?}", bmo.not_applicable);
    assert!(
        bmo.not_applicable[0].contains("not applicable (extension) under operator bmo")
            && bmo.not_applicable[0].contains("Registered"),
        "{:?}",
        bmo.not_applicable
    );
    let text = crate::report::summarize("t", 1, "wire", Some("bmo"), &trace, &bmo).to_text();
    assert!(text.contains("operator bmo"), "{text}");
    assert!(text.contains("not applicable (extension)"), "{text}");
}

#[test]
fn a_second_deploy_without_a_failure_breaks_one_deploy_per_provisioning() {
    let mut b = good();
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
    let v = check(&scenario(), &b.0);
    assert!(
        messages(&v)
            .iter()
            .any(|m| m.contains("2 accepted deploy requests")),
        "{:?}",
        messages(&v)
    );
}

#[test]
fn a_retry_after_a_deploy_failure_is_allowed() {
    let b = Build::new()
        .state("h-1", "", "inspecting")
        .state("h-1", "inspecting", "available")
        .at(1)
        .state("h-1", "available", "provisioning")
        .call("h-1", Protocol::Ironic, CallKind::Deploy)
        .at(2)
        .status("h-1", "error", Some("provisioning error"), 1)
        .at(3)
        .call("h-1", Protocol::Ironic, CallKind::Deploy)
        .at(4)
        .status("h-1", "OK", None, 0)
        .state("h-1", "provisioning", "provisioned");
    let v = check(&scenario(), &b.0);
    assert!(
        !messages(&v).iter().any(|m| m.contains("deploy requests")),
        "{:?}",
        messages(&v)
    );
}

#[test]
fn provisioned_without_inspection_is_caught_unless_externally_provisioned() {
    let b = Build::new()
        .state("h-1", "", "registering")
        .at(1)
        .state("h-1", "registering", "available")
        .call("h-1", Protocol::Ironic, CallKind::Deploy)
        .state("h-1", "available", "provisioning")
        .at(2)
        .state("h-1", "provisioning", "provisioned");
    let m = messages(&check(&scenario(), &b.0));
    assert!(
        m.iter()
            .any(|x| x.contains("without having been inspected")),
        "{m:?}"
    );
    let exempt = Build::new()
        .push(Happening::HostFacts {
            host: "h-1".into(),
            online: true,
            detached: false,
            inspection_disabled: true,
            externally_provisioned: false,
            consumer: None,
        })
        .state("h-1", "", "available")
        .call("h-1", Protocol::Ironic, CallKind::Deploy)
        .state("h-1", "available", "provisioning")
        .state("h-1", "provisioning", "provisioned");
    let m = messages(&check(&scenario(), &exempt.0));
    assert!(!m.iter().any(|x| x.contains("inspected")), "{m:?}");
}

#[test]
fn a_power_action_on_a_detached_host_is_caught() {
    let b = Build::new().status("h-1", "detached", None, 0).at(1).call(
        "h-1",
        Protocol::Redfish,
        CallKind::PowerOff,
    );
    let m = messages(&check(&scenario(), &b.0));
    assert!(m.iter().any(|x| x.contains("detached host")), "{m:?}");
    let b = Build::new()
        .status("h-1", "detached", None, 0)
        .push(Happening::Machine {
            host: "h-1".into(),
            change: MachineChange::PoweredOff,
        });
    let m = messages(&check(&scenario(), &b.0));
    assert!(
        m.iter().any(|x| x.contains("while its host is detached")),
        "{m:?}"
    );
    let b = Build::new().status("h-1", "OK", None, 0).call(
        "h-1",
        Protocol::Redfish,
        CallKind::PowerOff,
    );
    let m = messages(&check(&scenario(), &b.0));
    assert!(!m.iter().any(|x| x.contains("detached host")), "{m:?}");
}

#[test]
fn two_claims_on_one_host_are_caught_and_a_release_frees_it() {
    let claim = |c: &str, h: Option<&str>| Happening::Claim {
        claim: c.into(),
        host: h.map(str::to_string),
        revision: None,
    };
    let b = Build::new()
        .push(claim("a", Some("h-1")))
        .push(claim("a", None))
        .push(claim("b", Some("h-1")));
    let m = messages(&check(&scenario(), &b.0));
    assert!(!m.iter().any(|x| x.contains("still holds")), "{m:?}");
    let b = Build::new()
        .push(claim("a", Some("h-1")))
        .push(claim("b", Some("h-1")));
    let m = messages(&check(&scenario(), &b.0));
    assert!(m.iter().any(|x| x.contains("still holds")), "{m:?}");
}

#[test]
fn a_claim_letting_its_host_go_before_it_is_deprovisioned_is_caught_unless_the_host_is_deleted() {
    let claim = |c: &str, h: Option<&str>| Happening::Claim {
        claim: c.into(),
        host: h.map(str::to_string),
        revision: None,
    };
    let early = "let the host go while it is provisioned";
    // Released once the host is back `available`: fine.
    let b = Build::new()
        .push(claim("a", Some("h-1")))
        .state("h-1", "available", "provisioning")
        .state("h-1", "provisioning", "provisioned")
        .state("h-1", "provisioned", "deprovisioning")
        .state("h-1", "deprovisioning", "available")
        .push(claim("a", None));
    let m = messages(&check(&scenario(), &b.0));
    assert!(!m.iter().any(|x| x.contains("let the host go")), "{m:?}");
    // Released while still provisioned: caught.
    let b = Build::new()
        .push(claim("a", Some("h-1")))
        .state("h-1", "available", "provisioning")
        .state("h-1", "provisioning", "provisioned")
        .push(claim("a", None));
    let m = messages(&check(&scenario(), &b.0));
    assert!(m.iter().any(|x| x.contains(early)), "{m:?}");
    // Switched to another host while the first is still provisioned: caught too.
    let b = Build::new()
        .push(claim("a", Some("h-1")))
        .state("h-1", "available", "provisioning")
        .state("h-1", "provisioning", "provisioned")
        .push(claim("a", Some("h-0")));
    let m = messages(&check(&scenario(), &b.0));
    assert!(m.iter().any(|x| x.contains(early)), "{m:?}");
    // A host being deleted is let go in whatever state it is in (its claim needs no release).
    let s = Scenario::parse(
        &SCENARIO.replace(
            "  - advance: 1s\n",
            "  - advance: 1s\n  - delete: {hosts: [h-1]}\n",
        ),
        "t.yaml",
        Path::new("."),
    )
    .unwrap();
    let b = Build::new()
        .push(claim("a", Some("h-1")))
        .state("h-1", "available", "provisioning")
        .state("h-1", "provisioning", "provisioned")
        .push(Happening::Step {
            index: 1,
            line: 0,
            keyword: "delete".into(),
            summary: String::new(),
        })
        .push(claim("a", None));
    let m = messages(&check(&s, &b.0));
    assert!(!m.iter().any(|x| x.contains("let the host go")), "{m:?}");
}

#[test]
fn busy_hosts_over_the_limit_are_caught_but_delayed_and_virtual_media_ones_do_not_count() {
    let b = Build::new()
        .state("h-0", "", "inspecting")
        .state("vm-0", "", "inspecting")
        .status("h-1", "delayed", None, 0)
        .state("h-1", "", "inspecting");
    let m = messages(&check(&scenario(), &b.0));
    assert!(!m.iter().any(|x| x.contains("provisioning slot")), "{m:?}");
    let b = Build::new()
        .state("h-0", "", "inspecting")
        .state("h-1", "", "inspecting");
    let m = messages(&check(&scenario(), &b.0));
    assert!(
        m.iter()
            .any(|x| x.contains("2 hosts hold a provisioning slot")),
        "{m:?}"
    );
}

#[test]
fn a_failed_step_in_the_trace_is_a_failure_at_its_line() {
    let b = Build::new().push(Happening::StepFailed {
        index: 0,
        line: 9,
        reason: "not within 10m".into(),
    });
    let v = check(&scenario(), &b.0);
    assert!(
        v.failures
            .iter()
            .any(|f| f.line == 9 && f.message.contains("10m"))
    );
}

const BARE: &str = "\
name: bare
fleet:
  groups:
    - name: h-0
      bmc: {protocol: redfish, username: admin, password: a-long-bmc-password-0}
    - name: short-0
      bmc: {protocol: redfish, username: admin, password: calvin}
timeline:
  - patch: {kind: Secret, name: h-0-bmc-secret, patch: {stringData: {password: rotated-password-0}}}
";

fn bare() -> Scenario {
    Scenario::parse(BARE, "bare.yaml", Path::new(".")).unwrap()
}

fn event(message: &str) -> Happening {
    Happening::Event {
        host: Some("h-0".into()),
        object: "BareMetalHost/h-0".into(),
        reason: "RegistrationError".into(),
        event_type: "Warning".into(),
        message: message.into(),
    }
}

#[test]
fn a_fleet_or_timeline_password_in_any_trace_line_fails_once_without_being_printed() {
    let clean = Build::new().push(event("Failed to get power state: 401 calvin"));
    let v = check(&bare(), &clean.0);
    assert!(
        v.passed(),
        "a short password is not judged: {:?}",
        messages(&v)
    );
    let leaky = Build::new()
        .push(event("login failed for admin:a-long-bmc-password-0"))
        .at(1)
        .push(event("login failed for admin:a-long-bmc-password-0"))
        .status("h-0", "error", Some("rotated-password-0"), 1);
    let v = check(&bare(), &leaky.0);
    let m = messages(&v);
    assert_eq!(m.len(), 2, "{m:?}");
    assert!(m[0].contains("a BMC password appears in a trace line (event)"));
    assert!(m[1].contains("(host_status)"));
    assert!(m.iter().all(|m| !m.contains("password-0")), "{m:?}");
}

#[test]
fn a_host_gone_while_its_ironic_node_was_never_deleted_is_an_orphan() {
    let enrolled = || Build::new().call("h-0", Protocol::Ironic, CallKind::Enroll);
    let orphan = enrolled()
        .at(5)
        .push(Happening::HostGone { host: "h-0".into() });
    let v = check(&bare(), &orphan.0);
    assert_eq!(messages(&v).len(), 1, "{:?}", messages(&v));
    assert!(messages(&v)[0].contains("its Ironic node was never deleted"));

    let deleted = enrolled()
        .at(4)
        .call("h-0", Protocol::Ironic, CallKind::DeleteNode)
        .at(5)
        .push(Happening::HostGone { host: "h-0".into() });
    assert!(check(&bare(), &deleted.0).passed());

    let already_gone = enrolled()
        .at(4)
        .push(Happening::Call {
            host: Some("h-0".into()),
            protocol: Protocol::Ironic,
            method: "DELETE".into(),
            target: "/v1/nodes/x".into(),
            status: Some(404),
            action: Some(CallKind::DeleteNode),
            detail: None,
        })
        .at(5)
        .push(Happening::HostGone { host: "h-0".into() });
    assert!(check(&bare(), &already_gone.0).passed());

    let never_enrolled = Build::new().push(Happening::HostGone { host: "h-0".into() });
    assert!(check(&bare(), &never_enrolled.0).passed());
}

#[test]
fn a_provisioning_cancelled_into_deprovisioning_starts_a_new_deploy_episode() {
    let cancelled_then_again = Build::new()
        .state("h-1", "", "available")
        .at(1)
        .state("h-1", "available", "provisioning")
        .call("h-1", Protocol::Ironic, CallKind::Deploy)
        .at(2)
        .state("h-1", "provisioning", "deprovisioning")
        .at(3)
        .state("h-1", "deprovisioning", "available")
        .at(4)
        .state("h-1", "available", "provisioning")
        .call("h-1", Protocol::Ironic, CallKind::Deploy)
        .at(5)
        .state("h-1", "provisioning", "provisioned");
    let v = check(&bare_for("h-1"), &cancelled_then_again.0);
    assert!(v.passed(), "{:?}", messages(&v));

    let twice_in_one = Build::new()
        .state("h-1", "", "available")
        .at(1)
        .state("h-1", "available", "provisioning")
        .call("h-1", Protocol::Ironic, CallKind::Deploy)
        .call("h-1", Protocol::Ironic, CallKind::Deploy)
        .at(5)
        .state("h-1", "provisioning", "provisioned");
    let v = check(&bare_for("h-1"), &twice_in_one.0);
    assert_eq!(messages(&v).len(), 1, "{:?}", messages(&v));
}

fn bare_for(host: &str) -> Scenario {
    let text = format!(
        "name: bare\nfleet:\n  groups:\n    - name: {host}\ninvariants: {{inspected_before_provisioned: false}}\ntimeline:\n  - advance: 1s\n"
    );
    Scenario::parse(&text, "bare.yaml", Path::new(".")).unwrap()
}

#[test]
fn a_node_enrolled_again_mid_provisioning_voids_the_deploys_sent_to_the_lost_node() {
    let lost_then_again = Build::new()
        .state("h-1", "", "available")
        .at(1)
        .state("h-1", "available", "provisioning")
        .call("h-1", Protocol::Ironic, CallKind::Deploy)
        .at(2)
        .call("h-1", Protocol::Ironic, CallKind::Enroll)
        .at(3)
        .call("h-1", Protocol::Ironic, CallKind::Deploy)
        .at(5)
        .state("h-1", "provisioning", "provisioned");
    let v = check(&bare_for("h-1"), &lost_then_again.0);
    assert!(v.passed(), "{:?}", messages(&v));
}

/// A wire trace: each host state and claim change carries the control plane's revision.
fn revised(host: &str, from: &str, to: &str, revision: u64) -> Happening {
    Happening::HostState {
        host: host.into(),
        from: from.into(),
        to: to.into(),
        cause: "test".into(),
        revision: Some(revision),
    }
}

fn claimed(claim: &str, host: Option<&str>, revision: u64) -> Happening {
    Happening::Claim {
        claim: claim.into(),
        host: host.map(str::to_string),
        revision: Some(revision),
    }
}

#[test]
fn a_release_delivered_before_the_hosts_last_state_is_judged_by_revision_not_by_arrival() {
    let early = "let the host go";
    // The host is back `available` (revision 14) before the claim lets it go (15), but the host
    // watch delivers that state after the claim watch delivers the release.
    let late_host_watch = Build::new()
        .push(claimed("a", Some("h-1"), 10))
        .push(revised("h-1", "available", "provisioning", 11))
        .push(revised("h-1", "provisioning", "provisioned", 12))
        .push(revised("h-1", "provisioned", "deprovisioning", 13))
        .at(1)
        .push(claimed("a", None, 15))
        .at(2)
        .push(revised("h-1", "deprovisioning", "available", 14));
    let m = messages(&check(&scenario(), &late_host_watch.0));
    assert!(!m.iter().any(|x| x.contains(early)), "{m:?}");

    // A real early release: written (13) while the host was provisioned (12), delivered before
    // the host's deprovisioning (14, 16).
    let real = Build::new()
        .push(claimed("a", Some("h-1"), 10))
        .push(revised("h-1", "available", "provisioning", 11))
        .push(revised("h-1", "provisioning", "provisioned", 12))
        .at(1)
        .push(claimed("a", None, 13))
        .at(2)
        .push(revised("h-1", "provisioned", "deprovisioning", 14))
        .push(revised("h-1", "deprovisioning", "available", 16));
    let m = messages(&check(&scenario(), &real.0));
    assert_eq!(m.iter().filter(|x| x.contains(early)).count(), 1, "{m:?}");
    assert!(
        m.iter()
            .any(|x| x.contains("let the host go while it is provisioned")),
        "{m:?}"
    );

    // The same early release delivered after the host's later states: still caught.
    let delivered_late = Build::new()
        .push(claimed("a", Some("h-1"), 10))
        .push(revised("h-1", "available", "provisioning", 11))
        .push(revised("h-1", "provisioning", "provisioned", 12))
        .push(revised("h-1", "provisioned", "deprovisioning", 14))
        .push(revised("h-1", "deprovisioning", "available", 16))
        .at(1)
        .push(claimed("a", None, 13));
    let m = messages(&check(&scenario(), &delivered_late.0));
    assert!(
        m.iter()
            .any(|x| x.contains("let the host go while it is provisioned")),
        "{m:?}"
    );
}

#[test]
fn a_log_line_holding_a_password_or_the_bearer_token_fails_once_naming_the_line_not_the_secret() {
    let token = "cp-bearer-token-0123456789";
    let clean = "INFO reconcile host=h-0\nWARN Failed to get power state: 401 calvin\n";
    assert!(
        credentials_in_log(
            &bare(),
            "operator.log",
            clean,
            &[("the bearer token", token)]
        )
        .is_empty()
    );
    let leaky = format!(
        "INFO reconcile host=h-0\nDEBUG bmc login admin:a-long-bmc-password-0\nDEBUG again a-long-bmc-password-0\nDEBUG Authorization: Bearer {token}\n"
    );
    let f = credentials_in_log(
        &bare(),
        "operator.log",
        &leaky,
        &[("the bearer token", token)],
    );
    let m: Vec<String> = f.iter().map(ToString::to_string).collect();
    assert_eq!(
        m,
        vec![
            "line 1: a BMC password appears in operator.log, line 2".to_string(),
            "line 1: the bearer token appears in operator.log, line 4".to_string(),
        ],
        "{m:?}"
    );
    assert!(
        m.iter()
            .all(|x| !x.contains("password-0") && !x.contains(token))
    );
}

/// Which check a failure names.
#[path = "tests_check_ids.rs"]
mod check_ids;
