use std::path::Path;

use super::*;
use crate::Scenario;
use crate::check::check;
use crate::report::summarize;
use crate::trace::{CallKind, Protocol};

const SCENARIO: &str = "\
name: page
fleet:
  groups:
    - name: h-{index}
      count: 2
timeline:
  - advance: 1s
  - wait: {until: {hosts: [h-0], state: available}, within: 10m}
  - assert: {hosts: [h-1], state: available}
expect:
  hosts:
    - hosts: [h-0]
      final: provisioned
  events:
    - {hosts: [h-0], reason: Registered}
  calls:
    - {hosts: [h-0], action: deploy, at_most: 1}
";

fn scenario() -> Scenario {
    Scenario::parse(SCENARIO, "scenarios/page.yaml", Path::new(".")).unwrap()
}

fn state(host: &str, from: &str, to: &str) -> Happening {
    Happening::HostState {
        host: host.into(),
        from: from.into(),
        to: to.into(),
        cause: "test".into(),
        revision: None,
    }
}

fn deploy(host: &str) -> Happening {
    Happening::Call {
        host: Some(host.into()),
        protocol: Protocol::Ironic,
        method: "PUT".into(),
        target: "/v1/nodes/x/states/provision".into(),
        status: Some(202),
        action: Some(CallKind::Deploy),
        detail: None,
    }
}

fn step(index: usize, line: usize, keyword: &str) -> Happening {
    Happening::Step {
        index,
        line,
        keyword: keyword.into(),
        summary: "{}".into(),
    }
}

/// h-0 ends `available` (not `provisioned`), gets no Registered Event and two deploys with no
/// failure between them: the host, Event and call expectations and one invariant fail.
fn failing_trace() -> Trace {
    let mut t = Trace::new();
    let at = SimTime::from_secs;
    t.push(at(0), step(0, 7, "advance"));
    t.push(at(0), state("h-0", "", "registering"));
    t.push(at(0), state("h-1", "", "registering"));
    t.push(at(1), step(1, 8, "wait"));
    t.push(at(5), state("h-0", "registering", "inspecting"));
    t.push(at(9), state("h-0", "inspecting", "available"));
    t.push(at(9), step(2, 9, "assert"));
    t.push(at(10), state("h-0", "available", "provisioning"));
    t.push(at(11), deploy("h-0"));
    t.push(at(12), deploy("h-0"));
    t.push(at(20), state("h-0", "provisioning", "provisioned"));
    t.push(at(30), state("h-0", "provisioned", "deprovisioning"));
    t.push(at(40), state("h-0", "deprovisioning", "available"));
    t
}

fn page_of(sc: &Scenario, trace: &Trace, stopped: Option<&str>) -> String {
    let verdict = check(sc, trace);
    let rerun = crate::report::rerun_command(sc, "engine", None);
    let run = RunReport {
        scenario: sc,
        trace,
        verdict: &verdict,
        mode: "engine",
        operator: None,
        rerun: &rerun,
        wall: Some(Duration::from_millis(42)),
        stopped,
    };
    let summary = summarize(sc.name(), sc.seed(), "engine", None, trace, &verdict);
    report_html(&run, &summary)
}

/// The values of `attr="…"` in `page`.
fn attrs<'a>(page: &'a str, attr: &str) -> Vec<&'a str> {
    let key = format!("{attr}=\"");
    page.match_indices(&key)
        .map(|(i, _)| {
            let rest = &page[i + key.len()..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect()
}

#[test]
fn every_check_appears_once_with_its_status() {
    let sc = scenario();
    let page = page_of(&sc, &failing_trace(), None);
    let checks: Vec<&str> = page
        .split("<tr class=\"check ")
        .skip(1)
        .map(|row| row.split("</tr>").next().unwrap())
        .collect();
    // Two checking steps, three expectations, every invariant (all on by default).
    assert_eq!(checks.len(), 2 + 3 + Invariant::ALL.len(), "{page}");
    for id in [
        "step 2",
        "step 3",
        "expect.hosts[0]",
        "expect.events[0]",
        "expect.calls[0]",
        "invariant one_deploy_per_provisioning",
        "invariant max_busy",
    ] {
        let rows: Vec<&&str> = checks
            .iter()
            .filter(|r| r.contains(&format!("<td>{id}</td>")))
            .collect();
        assert_eq!(rows.len(), 1, "{id}: {rows:?}");
    }
    let status = |id: &str| {
        checks
            .iter()
            .find(|r| r.contains(&format!("<td>{id}</td>")))
            .map(|r| r.split('"').next().unwrap())
            .unwrap()
    };
    assert_eq!(status("expect.hosts[0]"), "fail");
    assert_eq!(status("expect.calls[0]"), "fail");
    assert_eq!(status("invariant one_deploy_per_provisioning"), "fail");
    assert_eq!(status("invariant one_claim_per_host"), "pass");
    assert_eq!(status("step 2"), "pass");
    assert!(page.contains("<span class=\"word\">FAILED</span>"));
}

#[test]
fn each_failure_links_an_existing_row_about_what_broke_it() {
    let sc = scenario();
    let trace = failing_trace();
    let page = page_of(&sc, &trace, None);
    let ids: BTreeSet<&str> = attrs(&page, "id").into_iter().collect();
    let links: Vec<&str> = attrs(&page, "href")
        .into_iter()
        .filter(|h| h.starts_with("#row-"))
        .collect();
    assert!(!links.is_empty(), "{page}");
    for l in &links {
        assert!(ids.contains(&l[1..]), "{l} points at no row");
    }
    // The second deploy broke one deploy per provisioning: the first line at or after the
    // `provisioned` it was judged at, about h-0 (line 11 of trace.jsonl).
    let verdict = check(&sc, &trace);
    let f = verdict
        .failures
        .iter()
        .find(|f| f.check == CheckId::Invariant(Invariant::OneDeployPerProvisioning))
        .unwrap();
    assert_eq!(first_row(&trace, f), Some(11));
    assert!(
        matches!(&trace.events[10].what, Happening::HostState { to, .. } if to == "provisioned")
    );
    // The final state expectation: h-0's last state change (line 13).
    let f = verdict
        .failures
        .iter()
        .find(|f| f.check == CheckId::Host(0))
        .unwrap();
    assert_eq!(first_row(&trace, f), Some(13));
    assert!(page.contains("href=\"#row-13\""));
}

#[test]
fn the_rerun_command_and_times_are_on_the_page() {
    let sc = scenario();
    let page = page_of(&sc, &failing_trace(), None);
    assert!(
        page.contains(&format!(
            "<code id=\"rerun\" class=\"cmd\">metal-sim run scenarios/page.yaml --engine --seed {}</code>",
            sc.seed()
        )),
        "{page}"
    );
    assert!(page.contains("40 s simulated"), "{page}");
    assert!(page.contains("42 ms wall"), "{page}");
    // Self-contained: nothing to fetch.
    for needle in ["http://", "https://", "src=", "@import", "url(http"] {
        let outside_svg_ns = page.replace("http://www.w3.org/2000/svg", "");
        assert!(!outside_svg_ns.contains(needle), "{needle}");
    }
}

#[test]
fn everything_from_the_trace_is_escaped() {
    let sc = scenario();
    let mut trace = failing_trace();
    let evil = "<script>alert(1)</script>";
    trace.push(SimTime::from_secs(41), state(evil, "", "registering"));
    trace.push(
        SimTime::from_secs(41),
        Happening::Event {
            host: Some(evil.into()),
            object: "BareMetalHost/x\"onmouseover=\"alert(2)".into(),
            reason: "R".into(),
            event_type: "Warning".into(),
            message: "</td></tr></table><img src=x>".into(),
        },
    );
    let page = page_of(&sc, &trace, None);
    assert_eq!(page.matches("<script").count(), 1, "only the page's own");
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!page.contains("<img"));
    assert!(!page.contains("\"onmouseover"));
    assert!(page.contains("&lt;/td&gt;&lt;/tr&gt;"));
}

#[test]
fn a_run_that_stopped_midway_says_where() {
    let sc = scenario();
    let mut trace = Trace::new();
    trace.push(SimTime::ZERO, step(0, 7, "advance"));
    trace.push(SimTime::from_secs(1), step(1, 8, "wait"));
    trace.push(
        SimTime::from_secs(601),
        Happening::StepFailed {
            index: 1,
            line: 8,
            reason: "h-0 not available within 10m".into(),
        },
    );
    let page = page_of(&sc, &trace, None);
    assert!(
        page.contains("The run stopped at step 2 of 3 (line 8) at 10 min 01 s; the steps after it did not run: h-0 not available within 10m"),
        "{page}"
    );
    let row = |id: &str| {
        page.split("<tr class=\"check ")
            .find(|r| r.contains(&format!("<td>{id}</td>")))
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(row("step 2"), "fail");
    assert_eq!(row("step 3"), "not-run");
    assert!(
        page.contains("href=\"#row-3\""),
        "the failed step's own line"
    );
    // An engine error with no failed step: the banner gives the reason.
    let page = page_of(&sc, &Trace::new(), Some("scenarios/page.yaml:7: boom"));
    assert!(
        page.contains("The run stopped before its timeline ended, after 0 trace lines: scenarios/page.yaml:7: boom"),
        "{page}"
    );
}

#[test]
fn a_long_trace_is_cut_per_host_but_keeps_the_rows_failures_point_to() {
    let sc = scenario();
    let mut trace = failing_trace();
    for i in 0..30_000u64 {
        trace.push(
            SimTime::from_secs(50 + i),
            Happening::HostStatus {
                host: format!("h-{}", i % 2),
                operational_status: "OK".into(),
                error_type: None,
                error_count: 0,
                powered_on: Some(true),
            },
        );
    }
    let page = page_of(&sc, &trace, None);
    let rows = page.matches("<tr class=\"r ").count();
    assert!(rows <= MAX_ROWS + 10, "{rows} rows");
    assert!(rows > MAX_ROWS / 2, "{rows} rows");
    assert!(page.contains("rows left out (see trace.jsonl)"));
    assert!(page.contains("The trace has 30013 lines"));
    let ids: BTreeSet<&str> = attrs(&page, "id").into_iter().collect();
    for l in attrs(&page, "href")
        .into_iter()
        .filter(|h| h.starts_with("#row-"))
    {
        assert!(ids.contains(&l[1..]), "{l} was cut");
    }
    // The last row of each host is kept.
    assert!(ids.contains("row-30013") && ids.contains("row-30012"));
}

#[test]
fn a_rows_kind_is_the_kind_its_json_line_has() {
    for e in &failing_trace().events {
        let json = serde_json::to_value(e).unwrap();
        assert_eq!(json["kind"], e.what.kind());
    }
}
