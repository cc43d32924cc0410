//! A library scenario about pure Metal3 behaviour, played against upstream Metal3
//! baremetal-operator (`metal-sim run --operator bmo`): BMO as `make bmo` built it, on our
//! embedded control plane with upstream's CRDs and the mock Ironic. Skips loudly when BMO is not
//! built; fails under `REQUIRE_PEERS=1`.

use std::path::Path;
use std::time::Duration;

use metal_scenario::Scenario;
use metal_testkit::bmo::Bmo;
use metal_wire::operator::OperatorChoice;
use metal_wire::{self as wire, RunOptions};

/// The whole run, BMO's start included (the scenario's waits, × 3, allow far more; BMO took
/// about 30 s here).
const LIMIT: Duration = Duration::from_secs(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_false_powers_off_and_true_powers_on_under_upstream_bmo() {
    if Bmo::for_test("online_false_powers_off_and_true_powers_on_under_upstream_bmo").is_none() {
        return;
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios/online-false-powers-off-true-powers-on.yaml");
    let scenario = Scenario::load(&path).unwrap();
    let out = tempfile::tempdir().unwrap();
    let run = wire::run(
        &scenario,
        RunOptions {
            // Its own loopback range: the library test may run the same scenario beside it.
            bind_base: Some("127.0.147.1".parse().unwrap()),
            operator: OperatorChoice::Bmo,
            ..RunOptions::quiet(out.path().to_path_buf())
        },
    );
    let outcome = tokio::time::timeout(LIMIT, run)
        .await
        .unwrap_or_else(|_| panic!("the run took over {LIMIT:?}"))
        .unwrap_or_else(|e| panic!("{e}"));
    let log = out.path().join("operator.log");
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("metal3-io/baremetal-operator"),
        "BMO's log is kept in the run's directory"
    );
    assert_eq!(outcome.summary.operator.as_deref(), Some("bmo"));
    assert!(
        outcome.verdict.passed(),
        "{}\nBMO's log: {}",
        outcome.summary.to_text(),
        metal_wire::operator::log_tail(&log, 40)
    );
}

#[test]
fn a_scenario_with_pools_is_refused_for_bmo_naming_the_step() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios/claim-released-returns-host-to-available.yaml");
    let scenario = Scenario::load(&path).unwrap();
    let refused = wire::unsupported_for(&scenario, &OperatorChoice::Bmo);
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(
        refused[0].contains("not applicable to operator bmo")
            && refused[0].contains("create_claim"),
        "{refused:?}"
    );
    assert!(wire::unsupported_for(&scenario, &OperatorChoice::Ours).is_empty());
}
