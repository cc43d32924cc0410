//! `report.html` as `metal-sim run` writes it: beside every engine run of a library scenario, an
//! index over a seed sweep, and a failing run's page read in headless chromium
//! (`browser/report.test.mjs`; skipped loudly without `scripts/browser.sh`'s tools, a failure
//! under `REQUIRE_PEERS=1`).

use metal_testkit::browser::run_bounded;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn metal_sim(args: &[&str], out: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_metal-sim"))
        .current_dir(repo())
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn an_engine_run_of_a_library_scenario_writes_its_report_beside_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let out = metal_sim(
        &[
            "run",
            "scenarios/bulk-registration-becomes-available.yaml",
            "--engine",
        ],
        dir.path(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let run = dir
        .path()
        .join("bulk-registration-becomes-available-seed1-engine");
    assert!(
        stdout.contains("summary, timeline and report.html in"),
        "{stdout}"
    );
    let page = read(&run.join("report.html"));
    let summary: serde_json::Value =
        serde_json::from_str(&read(&run.join("summary.json"))).unwrap();
    assert!(
        page.contains("<span class=\"word\">PASSED</span>"),
        "{page}"
    );
    assert!(page.contains(
        "<code id=\"rerun\" class=\"cmd\">metal-sim run scenarios/bulk-registration-becomes-available.yaml --engine --seed 1</code>"
    ));
    // One section per host of the trace, and every trace line as a row.
    let hosts = summary["hosts"].as_u64().unwrap() as usize;
    assert!(hosts > 0);
    assert_eq!(page.matches("<details class=\"host\"").count(), hosts + 1);
    let lines = read(&run.join("trace.jsonl")).lines().count();
    assert_eq!(page.matches("<tr class=\"r ").count(), lines);
    assert!(page.contains("<svg xmlns=\"http://www.w3.org/2000/svg\""));
}

#[test]
fn a_seed_sweep_writes_an_index_linking_each_seeds_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = metal_sim(
        &[
            "run",
            "scenarios/bulk-registration-becomes-available.yaml",
            "--engine",
            "--seeds",
            "3..5",
        ],
        dir.path(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let sweep = dir
        .path()
        .join("bulk-registration-becomes-available-seeds3-5-engine");
    let index = read(&sweep.join("index.html"));
    assert!(
        index.contains("3 seeds: <b class=\"pass\">0 failed</b>, 3 passed"),
        "{index}"
    );
    for seed in 3..=5 {
        let href = format!("seed{seed}/report.html");
        assert!(index.contains(&format!("href=\"{href}\"")), "{index}");
        let page = read(&sweep.join(&href));
        assert!(
            page.contains(&format!("--engine --seed {seed}</code>")),
            "{page}"
        );
    }
}

#[test]
fn an_engine_run_stopped_by_a_step_it_cannot_play_still_writes_its_report_saying_where() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("stops-in-engine.yaml");
    std::fs::write(
        &file,
        "name: stops-in-engine\nseed: 3\nfleet:\n  layout: {base: 127.0.57.1}\n  groups:\n    - name: lone-{index}\n\
         timeline:\n  - register: {hosts: all}\n  - wait: {until: {hosts: all, state: available}, within: 20m}\n\
         \x20 - apply:\n      objects:\n        - {apiVersion: v1, kind: ConfigMap, metadata: {name: x}, data: {a: b}}\n\
         \x20 - advance: 1m\n",
    )
    .unwrap();
    let out = metal_sim(
        &["run", file.to_str().unwrap(), "--engine"],
        &dir.path().join("runs"),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("stopped: "), "{stdout}");
    let page = read(
        &dir.path()
            .join("runs/stops-in-engine-seed3-engine/report.html"),
    );
    assert!(
        page.contains(
            "<p class=\"banner\" id=\"stopped\">The run stopped at step 3 of 4 (line 10)"
        ),
        "{page}"
    );
    assert!(page.contains("not supported in engine mode"), "{page}");
    // The hosts got as far as `available` before it stopped: their rows are on the page.
    assert!(page.contains("inspecting → preparing"), "{page}");
}

/// A scenario that plays to its end and fails an expectation on both hosts.
const FAILING: &str = "\
name: fails-in-the-browser
seed: 5
fleet:
  layout: {base: 127.0.58.1}
  groups:
    - name: lone-{index}
      count: 2
timeline:
  - register: {hosts: all}
  - wait: {until: {hosts: all, state: available}, within: 20m}
expect:
  hosts:
    - hosts: all
      final: provisioned
";

#[test]
fn a_failing_runs_report_reads_right_in_headless_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fails-in-the-browser.yaml");
    std::fs::write(&file, FAILING).unwrap();
    let out = metal_sim(
        &["run", file.to_str().unwrap(), "--engine"],
        &dir.path().join("runs"),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let report = dir
        .path()
        .join("runs/fails-in-the-browser-seed5-engine/report.html");
    assert!(report.exists(), "{stdout}");
    let Some(browser) = metal_testkit::browser::browser("report.html in chromium") else {
        return;
    };
    // The screenshot is kept beside the test's other outputs for a person to look at.
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let shot = shots.join("report-failing-run.png");
    let mut node = browser.script(&repo().join("browser"), "report.test.mjs");
    node.env("REPORT", &report)
        .env(
            "EXPECT_FAILURE",
            "final state \"provisioned\" expected, got \"available\"",
        )
        .env("SCREENSHOT", &shot);
    let out = run_bounded(node, std::time::Duration::from_secs(120));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "node: {stdout}\n{stderr}");
    assert!(stdout.contains("report page checked"), "{stdout}");
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 10_000,
        "a screenshot of the page"
    );
    eprintln!("{stdout}screenshot: {}", shot.display());
}
