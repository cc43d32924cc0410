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
