//! Scenario files: parsing, validation errors with file:line:column, and the committed JSON Schema.

use std::path::Path;

use metal_scenario::format::{self, FaultTarget, HostSelector, Step};
use metal_scenario::{Scenario, ScenarioError};

const SMALL: &str = "\
name: small
description: two hosts register
seed: 7
fleet:
  time_scale: 0.01
  groups:
    - name: rf-{index}
      count: 2
      labels: {role: worker}
    - name: ipmi-0
      bmc: {protocol: ipmi}
timeline:
  - register: {hosts: all}
  - inject_fault:
      name: flaky
      hosts: {labels: {role: worker}}
      bmc: {http_5xx_rate: 0.2}
  - wait:
      until: {hosts: all, state: available}
      within: 10m
  - clear_fault: {name: flaky}
  - advance: 30s
expect:
  hosts:
    - hosts: [rf-0]
      visits: [registering, inspecting, available]
      final: available
";

fn parse(text: &str) -> Result<Scenario, ScenarioError> {
    Scenario::parse(text, "test.yaml", Path::new("."))
}

fn error_at(text: &str) -> (usize, usize, String) {
    match parse(text) {
        Err(ScenarioError::Invalid {
            line,
            column,
            message,
            ..
        }) => (line, column, message),
        other => panic!("expected a positioned error, got {other:?}"),
    }
}

#[test]
fn a_small_scenario_with_an_inline_fleet_parses() {
    let s = parse(SMALL).unwrap();
    assert_eq!(s.name(), "small");
    assert_eq!(s.fleet.hosts().len(), 3);
    assert_eq!(s.fleet.file.seed, 7, "the scenario's seed drives the fleet");
    assert_eq!(s.file.timeline.len(), 5);
    assert_eq!(s.step_line(0), 13);
    assert_eq!(s.step_line(2), 18);
    let Step::InjectFault(f) = &s.file.timeline[1] else {
        panic!("step 2 is a fault")
    };
    assert_eq!(f.target(), Some(FaultTarget::Bmc));
    assert_eq!(
        s.host_names(&f.hosts),
        vec!["rf-0".to_string(), "rf-1".to_string()]
    );
    assert_eq!(s.host_names(&HostSelector::All).len(), 3);
}

#[test]
fn another_seed_changes_the_fleet_identities_but_not_the_names() {
    let s = parse(SMALL).unwrap();
    let t = s.with_seed(8).unwrap();
    assert_eq!(t.seed(), 8);
    assert_eq!(s.fleet.hosts()[0].name, t.fleet.hosts()[0].name);
    assert_ne!(
        s.fleet.hosts()[0].bmc.system_id,
        t.fleet.hosts()[0].bmc.system_id
    );
}

#[test]
fn a_time_scale_out_of_range_is_an_error_at_its_line() {
    let text = SMALL.replace("seed: 7\n", "seed: 7\ntime_scale: 1e12\n");
    let (line, _, message) = error_at(&text);
    assert_eq!(line, 4, "{message}");
    assert!(message.contains("from 0 to 1000"), "{message}");
}

#[test]
fn an_unknown_host_in_a_wait_names_the_line_and_column() {
    let text = SMALL.replace(
        "{hosts: all, state: available}",
        "{hosts: [rf-9], state: available}",
    );
    let (line, column, message) = error_at(&text);
    assert_eq!((line, column), (19, 15), "{message}");
    assert!(message.contains("unknown host \"rf-9\""), "{message}");
}

#[test]
fn an_unknown_state_names_its_place() {
    let text = SMALL.replace("final: available", "final: avail");
    let (line, column, message) = error_at(&text);
    assert_eq!((line, column), (27, 14), "{message}");
    assert!(message.contains("unknown provisioning state"), "{message}");
}

#[test]
fn an_unknown_field_is_a_syntax_error_with_its_position() {
    let text = SMALL.replace("  - advance: 30s", "  - advance: 30s\n  - sleep: 3s");
    let (line, _, message) = error_at(&text);
    assert_eq!(line, 23, "{message}");
    assert!(message.contains("unknown variant `sleep`"), "{message}");
}

#[test]
fn an_error_inside_an_inline_fleet_points_into_the_scenario_file() {
    let text = SMALL.replace("bmc: {protocol: ipmi}", "profile: gpux");
    let (line, column, message) = error_at(&text);
    assert_eq!((line, column), (11, 7), "{message}");
    assert!(message.contains("unknown profile"), "{message}");
}

#[test]
fn a_fault_with_two_targets_is_refused() {
    let text = SMALL.replace(
        "bmc: {http_5xx_rate: 0.2}",
        "bmc: {http_5xx_rate: 0.2}\n      agent: {heartbeat_loss: true}",
    );
    let (line, _, message) = error_at(&text);
    assert_eq!(line, 15, "{message}");
    assert!(message.contains("exactly one of"), "{message}");
}

#[test]
fn clearing_a_fault_that_was_never_injected_is_refused() {
    let text = SMALL.replace("{name: flaky}", "{name: other}");
    let (line, _, message) = error_at(&text);
    assert_eq!(line, 21, "{message}");
    assert!(message.contains("no fault named \"other\""), "{message}");
}

#[test]
fn a_bad_duration_is_refused_with_its_position() {
    let text = SMALL.replace("within: 10m", "within: ten minutes");
    let (line, _, message) = error_at(&text);
    assert_eq!(line, 20, "{message}");
    assert!(message.contains("duration"), "{message}");
}

#[test]
fn an_external_ironic_only_runs_in_wire_mode() {
    let text = SMALL.replace(
        "seed: 7",
        "seed: 7\nironic: {external: \"http://127.0.0.1:6385\"}",
    );
    let (_, _, message) = error_at(&text);
    assert!(message.contains("modes: [wire]"), "{message}");
    let ok = text.replace("seed: 7", "seed: 7\nmodes: [wire]");
    parse(&ok).unwrap();
}

#[test]
fn a_missing_fleet_file_names_the_file() {
    let text = SMALL.split("fleet:").next().unwrap().to_string()
        + "fleet: nowhere/fleet.yaml\ntimeline:\n  - advance: 1s\n";
    match parse(&text) {
        Err(ScenarioError::Read { file, .. }) => assert!(file.ends_with("nowhere/fleet.yaml")),
        other => panic!("expected a read error, got {other:?}"),
    }
}

#[test]
fn apply_files_are_loaded_and_their_objects_checked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("objs.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n",
    )
    .unwrap();
    let text = SMALL.replace("  - advance: 30s", "  - apply: {file: objs.yaml}");
    let s = Scenario::parse(&text, "t.yaml", dir.path()).unwrap();
    let Step::Apply(o) = &s.file.timeline[4] else {
        panic!("step 5 applies")
    };
    assert_eq!(o.objects.len(), 2);
    std::fs::write(dir.path().join("objs.yaml"), "kind: Secret\n").unwrap();
    let err = Scenario::parse(&text, "t.yaml", dir.path()).unwrap_err();
    assert!(err.to_string().contains("objs.yaml:1:1"), "{err}");
}

#[test]
fn the_committed_json_schema_is_up_to_date() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/scenario.schema.json");
    let fresh = format::json_schema();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &fresh).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "scenarios/scenario.schema.json is stale: rerun with UPDATE_SCHEMA=1"
    );
    let v: serde_json::Value = serde_json::from_str(&committed).unwrap();
    assert!(v["properties"]["timeline"].is_object());
}

#[test]
fn a_claim_reason_that_no_claim_gives_is_refused_at_its_line() {
    let text = r#"name: r
fleet:
  groups:
    - name: h-0
timeline:
  - create_claim: {name: c, match_labels: {a: b}}
  - wait: {until: {claim: c, reason: [NoSuchReason]}, within: 1m}
"#;
    let e = parse(text).unwrap_err().to_string();
    assert!(e.contains("test.yaml:7"), "{e}");
    assert!(e.contains("unknown reason \"NoSuchReason\""), "{e}");
    assert!(e.contains("NoMatchingHost"), "{e}");
}
