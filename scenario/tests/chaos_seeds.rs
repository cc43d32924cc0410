//! A bounded slice of the seeded chaos (`metal-sim chaos`) in engine mode: each seed draws a fleet
//! and a timeline of host operations and faults, and must end with no invariant broken and every
//! host converged. The 1 000-seed engine run and the wire-mode run are `scripts/chaos.sh`.

use metal_scenario::Mode;
use metal_scenario::chaos::{self, SeedOutcome};

/// Seeds run here: enough to mix every operation and fault, few enough for seconds of test time.
const SEEDS: std::ops::RangeInclusive<u64> = 1..=40;

#[test]
fn forty_chaos_seeds_in_engine_mode_break_no_invariant_and_every_host_converges() {
    let failed: Vec<SeedOutcome> = SEEDS
        .map(chaos::run_engine)
        .filter(|o| !o.violations.is_empty())
        .collect();
    let report: Vec<String> = failed
        .iter()
        .map(|o| {
            format!(
                "seed {} (rerun: metal-sim chaos --seeds {}..{}):\n  {}",
                o.seed,
                o.seed,
                o.seed,
                o.violations.join("\n  ")
            )
        })
        .collect();
    assert!(failed.is_empty(), "{}", report.join("\n"));
}

#[test]
fn a_chaos_seed_plays_to_the_same_trace_twice() {
    let s = chaos::scenario(11, Mode::Engine).expect("the drawn scenario validates");
    let a = metal_scenario::engine::run(&s, 11).expect("plays");
    let b = metal_scenario::engine::run(&s, 11).expect("plays");
    assert_eq!(a.to_jsonl(), b.to_jsonl());
    assert!(
        a.events.len() > 10,
        "a chaos run records its steps and hosts"
    );
}

#[test]
fn chaos_traces_bind_and_release_claims_and_a_second_claim_on_a_bound_host_is_caught() {
    use metal_scenario::Happening;
    // The claim invariants have something to judge: across the seeds, claims bind hosts and let
    // them go again.
    let (mut bound, mut released) = (0, 0);
    let mut with_binding = None;
    for seed in SEEDS {
        let s = chaos::scenario(seed, Mode::Engine).expect("the drawn scenario validates");
        let trace = metal_scenario::engine::run(&s, seed).expect("plays");
        for e in &trace.events {
            if let Happening::Claim { host, .. } = &e.what {
                if host.is_some() {
                    bound += 1;
                    with_binding.get_or_insert((s.clone(), trace.clone()));
                } else {
                    released += 1;
                }
            }
        }
    }
    assert!(
        bound >= 10 && released >= 3,
        "claims bound {bound} and released {released} times over seeds {SEEDS:?}"
    );
    // The same chaos trace with a second claim bound to a host the first still holds breaks
    // one_claim_per_host.
    let (s, mut trace) = with_binding.expect("some seed binds a claim");
    let n = trace
        .events
        .iter()
        .position(|e| matches!(&e.what, Happening::Claim { host: Some(_), .. }))
        .expect("a binding");
    let mut doubled = trace.events[n].clone();
    if let Happening::Claim { claim, .. } = &mut doubled.what {
        claim.push_str("-intruder");
    }
    trace.events.insert(n + 1, doubled);
    let verdict = metal_scenario::check::check(&s, &trace);
    assert!(
        verdict
            .failures
            .iter()
            .any(|f| f.to_string().contains("still holds the host")),
        "{:?}",
        verdict.failures
    );
}
