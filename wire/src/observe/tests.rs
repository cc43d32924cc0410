//! The recorder turned into a trace from hand-made watch events and journal entries, judged as a
//! wire run's trace is.

use std::path::Path;

use chrono::{DateTime, Utc};
use kube::api::DynamicObject;
use serde_json::{Value, json};

use super::Recorder;
use metal_scenario::Scenario;
use metal_scenario::trace::{CallKind, Happening, Trace};
use metal_sim::machine::SimClock;

const NAMESPACE: &str = "chaos";

fn scenario() -> Scenario {
    let text = "name: t\nfleet:\n  groups:\n    - name: h-{index}\n      count: 2\ninvariants: {inspected_before_provisioned: false}\ntimeline:\n  - advance: 1s\n";
    Scenario::parse(text, "t.yaml", Path::new(".")).expect("scenario")
}

struct Run {
    rec: std::sync::Arc<Recorder>,
    start: DateTime<Utc>,
    journal: Vec<Value>,
}

impl Run {
    fn new() -> Run {
        let start = Utc::now();
        Run {
            rec: Recorder::new(SimClock::start_now(), start, NAMESPACE),
            start,
            journal: Vec::new(),
        }
    }

    /// The watch delivers host `name` in `state`, its status showing node `id`.
    fn host(&self, name: &str, state: &str, id: &str) {
        let obj: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "metal3.io/v1alpha1",
            "kind": "BareMetalHost",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"online": true},
            "status": {"provisioning": {"state": state, "ID": id}},
        }))
        .expect("host object");
        self.rec.observe_host(&obj, false);
    }

    fn host_deleted(&self, name: &str) {
        let obj: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "metal3.io/v1alpha1",
            "kind": "BareMetalHost",
            "metadata": {"name": name, "namespace": NAMESPACE},
        }))
        .expect("host object");
        self.rec.observe_host(&obj, true);
    }

    /// The mock answered a request at `ms` milliseconds into the run; `node` is the node's name
    /// it recorded.
    fn answered(
        &mut self,
        ms: i64,
        method: &str,
        path: &str,
        target: Option<&str>,
        node: &str,
        status: u16,
    ) {
        let time = self.start + chrono::Duration::milliseconds(ms);
        self.journal.push(json!({
            "time": time.to_rfc3339(),
            "method": method,
            "path": path,
            "target": target,
            "node": format!("{NAMESPACE}~{node}"),
            "status": status,
        }));
    }

    /// The observer polls the journal: everything answered since the last poll.
    fn poll(&mut self) {
        let first = self.rec.lock().journal_next;
        let requests = std::mem::take(&mut self.journal);
        self.rec.observe_journal(first, &requests);
    }

    fn trace(&self) -> Trace {
        self.rec.trace()
    }
}

fn failures(trace: &Trace) -> Vec<String> {
    metal_scenario::check::check(&scenario(), trace)
        .failures
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn a_node_created_again_after_ironic_lost_its_database_mid_deploy_is_one_deploy_not_two() {
    let mut run = Run::new();
    run.host("h-0", "provisioning", "old-uuid");
    run.answered(
        100,
        "PUT",
        "/v1/nodes/old-uuid/states/provision",
        Some("active"),
        "h-0",
        202,
    );
    // Ironic restarts empty; the operator enrols the host again and deploys to the new node. The
    // watch shows the new node's ID before the observer reads the journal.
    run.answered(300, "POST", "/v1/nodes", None, "h-0", 201);
    run.answered(
        400,
        "PUT",
        "/v1/nodes/new-uuid/states/provision",
        Some("active"),
        "h-0",
        202,
    );
    run.host("h-0", "provisioning", "new-uuid");
    run.poll();
    run.host("h-0", "provisioned", "new-uuid");
    let trace = run.trace();
    let enrolled: Vec<Option<&str>> = trace
        .events
        .iter()
        .filter_map(|e| match &e.what {
            Happening::Call {
                action: Some(CallKind::Enroll),
                host,
                ..
            } => Some(host.as_deref()),
            _ => None,
        })
        .collect();
    assert_eq!(
        enrolled,
        vec![Some("h-0")],
        "the node creation names its host"
    );
    let f = failures(&trace);
    assert!(f.is_empty(), "{f:?}");
}

#[test]
fn a_host_gone_after_its_node_was_created_but_before_its_status_showed_it_is_an_orphan() {
    let mut run = Run::new();
    run.host("h-1", "registering", "");
    run.answered(100, "POST", "/v1/nodes", None, "h-1", 201);
    run.poll();
    run.host_deleted("h-1");
    let f = failures(&run.trace());
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].contains("its Ironic node was never deleted"), "{f:?}");
}
