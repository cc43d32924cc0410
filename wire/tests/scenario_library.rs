//! The scenario library: every file parses and validates, and every scenario runs in wire mode
//! against the real operator and must pass; four of them also snapshot each host's normalised trace.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use metal_scenario::check::check;
use metal_scenario::format::Mode;
use metal_scenario::{Scenario, Trace};
use metal_wire::{self as wire, Outcome, RunOptions};

fn library_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

fn library() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(library_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_library_scenario_parses_validates_and_is_named_for_its_file() {
    let files = library();
    assert!(files.len() >= 15, "only {} scenarios", files.len());
    let mut names = std::collections::BTreeSet::new();
    for f in &files {
        let s = Scenario::load(f).unwrap_or_else(|e| panic!("{e}"));
        let stem = f.file_stem().unwrap().to_string_lossy().to_string();
        assert_eq!(s.name(), stem, "{}", f.display());
        assert!(
            !s.file.description.is_empty(),
            "{} has no description",
            f.display()
        );
        assert!(names.insert(s.name().to_string()));
        // Every wire-capable scenario is either runnable in wire mode or says why not.
        if s.runs_in(Mode::Wire) {
            assert!(
                wire::unsupported(&s).is_empty(),
                "{:?}",
                wire::unsupported(&s)
            );
        } else {
            assert!(!wire::unsupported(&s).is_empty());
        }
    }
}

#[test]
fn every_scenario_fleet_has_its_own_loopback_range() {
    let mut bases = BTreeMap::new();
    for f in library() {
        let s = Scenario::load(&f).unwrap();
        let base = s.fleet.file.layout.base;
        if let Some(other) = bases.insert(base, s.name().to_string()) {
            panic!("{} and {other} share {base}", s.name());
        }
    }
}

fn load(name: &str) -> Scenario {
    Scenario::load(&library_dir().join(format!("{name}.yaml"))).unwrap()
}

async fn run(name: &str) -> (Scenario, Outcome) {
    let scenario = load(name);
    let out = tempfile::tempdir().unwrap();
    let outcome = wire::run(&scenario, RunOptions::quiet(out.path().to_path_buf()))
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    for file in [
        "trace.jsonl",
        "summary.json",
        "summary.txt",
        "timeline.svg",
        "report.html",
    ] {
        assert!(out.path().join(file).exists(), "{file} not written");
    }
    let written = std::fs::read_to_string(out.path().join("trace.jsonl")).unwrap();
    assert_eq!(Trace::from_jsonl(&written).unwrap(), outcome.trace);
    assert!(
        outcome.verdict.passed(),
        "{}\nrerun: metal-sim run scenarios/{name}.yaml --seed {}",
        outcome.summary.to_text(),
        scenario.seed()
    );
    (scenario, outcome)
}

/// Each host's state changes and, apart, its accepted Ironic actions, repeats collapsed, without
/// times: what wire mode reproduces run after run. The two are kept apart because their
/// interleaving is a race on the wire: an action the operator takes right after writing a state
/// (its first poll comes 20 ms later) may reach the mock Ironic before the runner's watch delivers
/// that state.
fn normalised(trace: &Trace) -> BTreeMap<String, BTreeMap<&'static str, Vec<String>>> {
    trace
        .normalized(None)
        .into_iter()
        .map(|(host, lines)| {
            let mut kept: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
            for l in lines {
                let list = if l.starts_with("state ") {
                    "states"
                } else if l.starts_with("Ironic ") {
                    "ironic"
                } else {
                    continue;
                };
                let list = kept.entry(list).or_default();
                if list.last() != Some(&l) {
                    list.push(l);
                }
            }
            (host, kept)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_registration_runs_on_the_wire_and_its_trace_is_stable() {
    let (scenario, outcome) = run("bulk-registration-becomes-available").await;
    insta::assert_yaml_snapshot!(normalised(&outcome.trace));
    assert_eq!(outcome.summary.hosts, 3);
    assert!(
        outcome
            .summary
            .phases
            .iter()
            .any(|p| p.phase == "inspect" && p.count == 3)
    );
    // The same trace judged against a changed expectation fails, at the expectation's line.
    let text =
        std::fs::read_to_string(library_dir().join("bulk-registration-becomes-available.yaml"))
            .unwrap()
            .replace("      final: available", "      final: provisioned");
    let changed = Scenario::parse(&text, "changed.yaml", &library_dir()).unwrap();
    let verdict = check(&changed, &outcome.trace);
    assert!(!verdict.passed());
    assert!(
        verdict
            .failures
            .iter()
            .any(|f| f.message.contains("final state \"provisioned\"")
                && f.line == changed.expect_host_line(0))
    );
    assert_eq!(scenario.seed(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_two_story_runs_on_the_wire() {
    let (_, outcome) = run("seed-two-masters-external-worker-pool-scale").await;
    insta::assert_yaml_snapshot!(normalised(&outcome.trace));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_crash_mid_provision_runs_on_the_wire() {
    let (_, outcome) = run("operator-crash-mid-provision-deploys-once").await;
    insta::assert_yaml_snapshot!(normalised(&outcome.trace));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn externally_provisioned_adoption_runs_on_the_wire() {
    let (_, outcome) = run("externally-provisioned-hosts-are-adopted").await;
    insta::assert_yaml_snapshot!(normalised(&outcome.trace));
}

#[test]
fn a_failing_scenario_exits_non_zero_and_prints_the_command_that_reruns_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fails-fast.yaml");
    std::fs::write(
        &file,
        "name: fails-fast\nseed: 77\nfleet:\n  layout: {base: 127.0.59.1}\n  groups:\n    - name: lone-0\n\
         timeline:\n  - register: {hosts: all}\n  - assert: {hosts: all, state: provisioned}\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_metal-sim"))
        .args(["run", file.to_str().unwrap(), "--seed", "78", "--out"])
        .arg(dir.path().join("runs"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL line 9:"), "{stdout}");
    // A person can watch the fleet while it plays.
    assert!(
        stdout.lines().next().is_some_and(
            |l| l.starts_with("live fleet view: http://127.0.0.1:") && l.ends_with("/ui")
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "rerun: metal-sim run {} --seed 78",
            file.display()
        )),
        "{stdout}"
    );
    let run_dir = dir.path().join("runs/fails-fast-seed78");
    let trace =
        Trace::from_jsonl(&std::fs::read_to_string(run_dir.join("trace.jsonl")).unwrap()).unwrap();
    assert!(trace.events.iter().any(|e| matches!(
        &e.what,
        metal_scenario::Happening::StepFailed { line: 9, .. }
    )));
    // Wire mode writes the report too, its failed step linked to its `step_failed` line.
    assert!(stdout.contains("report.html"), "{stdout}");
    let page = std::fs::read_to_string(run_dir.join("report.html")).unwrap();
    assert!(
        page.contains("<span class=\"word\">FAILED</span>"),
        "{page}"
    );
    assert!(
        page.contains("<td class=\"status\">fail</td><td>step 2</td><td>9</td>"),
        "{page}"
    );
    let failed_at = trace
        .events
        .iter()
        .position(|e| matches!(e.what, metal_scenario::Happening::StepFailed { .. }))
        .unwrap()
        + 1;
    assert!(
        page.contains(&format!("href=\"#row-{failed_at}\"")),
        "{page}"
    );
    assert!(page.contains("--seed 78</code>"), "{page}");
}

/// The scenarios with a test of their own above (snapshots).
const WITH_SNAPSHOTS: [&str; 4] = [
    "bulk-registration-becomes-available",
    "seed-two-masters-external-worker-pool-scale",
    "operator-crash-mid-provision-deploys-once",
    "externally-provisioned-hosts-are-adopted",
];

#[test]
fn every_library_scenario_plays_on_the_wire() {
    let mut missing = Vec::new();
    for f in library() {
        let s = Scenario::load(&f).unwrap();
        let name = s.name().to_string();
        let listed = PLAYED_ON_THE_WIRE.iter().any(|(_, file)| *file == name)
            || WITH_SNAPSHOTS.contains(&name.as_str());
        if s.runs_in(Mode::Wire) && !listed {
            missing.push(name);
        }
    }
    assert!(
        missing.is_empty(),
        "not played on the wire by any test: {missing:?}"
    );
}

/// Every library scenario that runs on the wire and has no test of its own above, each test named
/// for its file: each must pass against the real operator. `every_library_scenario_plays_on_the_wire`
/// keeps the list complete, and `each_wire_test_is_named_for_the_scenario_it_plays` keeps the
/// names honest (they were once paired by index, and an insertion shifted them).
macro_rules! played_on_the_wire {
    ($($test:ident => $file:literal),* $(,)?) => {
        const PLAYED_ON_THE_WIRE: &[(&str, &str)] = &[$((stringify!($test), $file)),*];
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                run($file).await;
            }
        )*
    };
}

played_on_the_wire! {
    wire_agent_heartbeat_loss_during_deploy_is_retried => "agent-heartbeat-loss-during-deploy-is-retried",
    wire_bad_credentials_then_secret_fixed_recovers => "bad-credentials-then-secret-fixed-recovers",
    wire_bmc_unreachable_during_inspection_recovers => "bmc-unreachable-during-inspection-recovers",
    wire_claim_released_returns_host_to_available => "claim-released-returns-host-to-available",
    wire_delete_during_provisioning_removes_the_host => "delete-during-provisioning-removes-the-host",
    wire_delete_never_stuck_with_wrong_credentials => "delete-never-stuck-with-wrong-credentials",
    wire_detach_and_reattach_keeps_the_host => "detach-and-reattach-keeps-the-host",
    wire_fifty_hosts_provisioning_limit_twenty => "fifty-hosts-provisioning-limit-twenty",
    wire_gpu_hosts_inspected_and_claimed_by_gpu_pool => "gpu-hosts-inspected-and-claimed-by-gpu-pool",
    wire_ipmi_packet_loss_twenty_percent => "ipmi-packet-loss-twenty-percent",
    wire_ironic_5xx_burst_is_retried => "ironic-5xx-burst-is-retried",
    wire_ironic_database_lost_hosts_adopted_not_reprovisioned => "ironic-database-lost-hosts-adopted-not-reprovisioned",
    wire_online_false_powers_off_true_powers_on => "online-false-powers-off-true-powers-on",
    wire_provision_deprovision_reuse_five_cycles => "provision-deprovision-reuse-five-cycles",
    wire_reboot_annotations_soft_hard_phased => "reboot-annotations-soft-hard-phased",
    wire_redfish_5xx_bursts_are_retried => "redfish-5xx-bursts-are-retried",
    wire_watch_disconnect_mid_provision_is_survived => "watch-disconnect-mid-provision-is-survived",
}

#[test]
fn each_wire_test_is_named_for_the_scenario_it_plays() {
    for (test, file) in PLAYED_ON_THE_WIRE {
        assert_eq!(
            test.strip_prefix("wire_"),
            Some(file.replace('-', "_").as_str()),
            "{test} plays {file}"
        );
    }
}
