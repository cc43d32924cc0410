//! Engine mode plays the scenario library: every scenario that runs in engine mode and uses only
//! what engine mode models runs twice with its seed, gives byte-identical traces, and passes its
//! checks.

use std::path::Path;

use metal_scenario::check::check;
use metal_scenario::engine::{EngineRunError, run, sweep};
use metal_scenario::{Mode, Scenario};

fn library() -> Vec<Scenario> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("scenarios/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| Scenario::load(p).unwrap_or_else(|e| panic!("{e}")))
        .filter(|s| s.runs_in(Mode::Engine))
        .collect()
}

#[test]
fn library_scenarios_replay_identically_and_pass_in_engine_mode() {
    let mut played = 0;
    let mut skipped = Vec::new();
    let mut failed = Vec::new();
    for s in library() {
        let first = match run(&s, s.seed()) {
            Ok(t) => t,
            Err(e @ EngineRunError::Unsupported { .. }) => {
                skipped.push(e.to_string());
                continue;
            }
            Err(e) => panic!("{}: {e}", s.source),
        };
        let second = run(&s, s.seed()).unwrap_or_else(|e| panic!("{}: {e}", s.source));
        assert!(
            first.to_jsonl() == second.to_jsonl(),
            "{}: two runs with seed {} differ",
            s.source,
            s.seed()
        );
        let verdict = check(&s, &first);
        if !verdict.passed() {
            failed.push(format!(
                "{} (seed {}): {:?}\n  rerun: metal-sim run --engine --seed {} {}",
                s.source,
                s.seed(),
                verdict.failures,
                s.seed(),
                s.source
            ));
        }
        played += 1;
    }
    eprintln!("played {played} scenarios in engine mode; not modelled: {skipped:#?}");
    assert!(
        played >= 5,
        "only {played} scenarios could play in engine mode"
    );
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn a_seed_sweep_reports_no_failure_for_bulk_registration() {
    let s = library()
        .into_iter()
        .find(|s| {
            s.source
                .ends_with("bulk-registration-becomes-available.yaml")
        })
        .expect("the bulk registration scenario");
    let failures = sweep(&s, 1..=3);
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Engine mode runs the operator's own Ironic provisioner against the mock's own API, so it finds
/// what wire mode finds: with the registration fingerprint written before the boot-MAC port exists
/// (the bug fixed in the provisioner), an Ironic 503 on the port leaves a node no agent can look
/// up, and six of these eleven seeds end with hosts stuck `inspecting`.
#[test]
fn a_seed_sweep_of_ironic_5xx_bursts_finds_every_host_registered_with_its_boot_port() {
    let s = library()
        .into_iter()
        .find(|s| s.source.ends_with("ironic-5xx-burst-is-retried.yaml"))
        .expect("the ironic 5xx scenario");
    let failures = sweep(&s, 30..=40);
    assert!(failures.is_empty(), "{failures:#?}");
}
