//! The scenario's own spans in wire mode: with our operator, whose polls follow the fleet's time
//! scale, `advance` and a fault's `for` follow it too (never below the steady-poll floor); a
//! `within` is a deadline and is not scaled.

use std::time::Duration;

use metal_core::statemachine::TESTBED_SPAN_FLOOR;
use metal_scenario::trace::Happening;
use metal_scenario::{Scenario, Trace};
use metal_wire::steps::scenario_span;
use metal_wire::{self as wire, RunOptions};

#[test]
fn a_span_follows_the_time_scale_between_the_floor_and_its_written_length() {
    let s = Duration::from_secs;
    assert_eq!(
        scenario_span(s(150), Some(0.05)),
        Duration::from_millis(7500)
    );
    assert_eq!(scenario_span(s(10), Some(0.05)), TESTBED_SPAN_FLOOR);
    assert_eq!(scenario_span(s(1), Some(0.05)), s(1));
    assert_eq!(scenario_span(s(150), Some(0.0)), TESTBED_SPAN_FLOOR);
    assert_eq!(scenario_span(s(150), Some(1.0)), s(150));
    assert_eq!(scenario_span(s(150), None), s(150));
}

fn at(trace: &Trace, matches: impl Fn(&Happening) -> bool) -> Duration {
    let line = trace
        .events
        .iter()
        .find(|l| matches(&l.what))
        .expect("line in the trace");
    Duration::from_nanos(line.t.as_nanos())
}

/// A host's BMC is unreachable `for: 60s` while the runner `advance`s 80 s: at time scale 0.05
/// the fault lasts 3 s and the advance 4 s of wall time, and the fault still bites (the host
/// goes through its registration error and recovers).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn advance_and_for_follow_the_fleets_time_scale_with_our_operator() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("spans.yaml");
    std::fs::write(
        &file,
        "name: spans\nseed: 31\nfleet:\n  time_scale: 0.05\n  layout: {base: 127.0.62.1}\n  groups:\n    - name: span-0\n\
         timeline:\n  - inject_fault: {name: down, hosts: all, bmc: {unreachable: true}, for: 60s}\n\
         \x20 - register: {hosts: all}\n  - advance: 80s\n  - wait: {until: {hosts: all, state: available}, within: 10m}\n\
         expect:\n  hosts:\n    - hosts: all\n      error_types: [registration error]\n      final: available\n",
    )
    .unwrap();
    let scenario = Scenario::load(&file).unwrap();
    let outcome = wire::run(&scenario, RunOptions::quiet(dir.path().join("out")))
        .await
        .unwrap();
    assert!(outcome.verdict.passed(), "{}", outcome.summary.to_text());
    let trace = &outcome.trace;
    let fault_on = at(trace, |h| {
        matches!(h, Happening::Fault { active: true, .. })
    });
    let fault_off = at(trace, |h| {
        matches!(h, Happening::Fault { active: false, .. })
    });
    let advance = at(
        trace,
        |h| matches!(h, Happening::Step { keyword, .. } if keyword == "advance"),
    );
    let wait = at(
        trace,
        |h| matches!(h, Happening::Step { keyword, .. } if keyword == "wait"),
    );
    // The fault ended 3 s after it started (60 s × 0.05), at the instant the player expired it.
    let fault = fault_off - fault_on;
    assert!(
        fault >= Duration::from_secs(3) && fault < Duration::from_secs(60),
        "the 60 s fault lasted {fault:?}"
    );
    let advanced = wait - advance;
    assert!(
        advanced >= Duration::from_secs(4) && advanced < Duration::from_secs(80),
        "the 80 s advance lasted {advanced:?}"
    );
}
