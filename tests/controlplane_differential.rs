//! The embedded control plane (`metal-sim controlplane`) held to the real kube-apiserver's
//! behaviour: every request shape the operator (kube-rs 5), the e2e harness, the scenario runner and
//! kubectl send is replayed against both — a real v1.36 kube-apiserver with etcd and
//! kube-controller-manager (garbage collector, namespace controller) on loopback, and the embedded
//! one — with the operator's CRDs from `kind/crds/` installed on each. Each shape runs in its own
//! namespace; its facts (status codes, Status reasons, the fields of bodies that matter, watch event
//! sequences) are normalised (uids, resourceVersion values, timestamps, managedFields) and compared.
//! Every difference is printed (shape → fact: real vs embedded); the test fails on any difference
//! that [`ALLOWED`] does not excuse with a reason. `docs/controlplane-differences.md` lists the same
//! differences and reasons.
//!
//! 52 shapes compared; 42 differences found; 37 fixed in the embedded control plane; 5 documented
//! (in `ALLOWED` and the doc, with the same reasons). Not compared, and why, is in the doc too: a
//! watch from a compacted resourceVersion (the real server replays etcd's history until its
//! 5-minute compaction), bookmark cadence without changes, and how long a future resourceVersion
//! is waited for.
//!
//! Skips (loudly) only when the real control plane is not built (`make k8s`) and `REQUIRE_PEERS`
//! is not `1`.

#[path = "controlplane_differential/discovery.rs"]
mod discovery;
#[path = "controlplane_differential/fixtures.rs"]
mod fixtures;
#[path = "controlplane_differential/lifecycle.rs"]
mod lifecycle;
#[path = "controlplane_differential/reads.rs"]
mod reads;
#[path = "controlplane_differential/watches.rs"]
mod watches;
#[path = "controlplane_differential/writes.rs"]
mod writes;

use std::time::Duration;

use anyhow::Context as _;
use metal_e2e::binaries::{Binaries, workspace_root};
use metal_e2e::differential::{Allowed, Case, Facts, Report, Side, compare};
use metal_e2e::kubernetes::Judge;
use metal_e2e::stack::start_embedded_control_plane;
use serde_json::json;

/// The longest one shape may take on one side.
const SHAPE: Duration = Duration::from_secs(120);

macro_rules! case {
    ($shape:literal, $run:path) => {
        Case {
            shape: $shape,
            run: |side, ns| Box::pin($run(side, ns)),
        }
    };
}

/// Every shape compared, in the order they run.
const CASES: &[Case] = &[
    case!("discovery: /api", discovery::core_versions),
    case!("discovery: /apis", discovery::group_list),
    case!("discovery: /apis/<group>", discovery::group),
    case!("discovery: metal3.io/v1alpha1", discovery::metal3),
    case!(
        "discovery: metal-operator.io/v1alpha1",
        discovery::metal_operator
    ),
    case!("discovery: coordination.k8s.io/v1", discovery::coordination),
    case!("discovery: events.k8s.io/v1", discovery::events),
    case!("discovery: core v1 (served kinds)", discovery::core),
    case!("discovery: aggregated (kubectl)", discovery::aggregated),
    case!("openapi v3: the CRD group", discovery::openapi),
    case!("get: an object", reads::get_object),
    case!("get: a missing object", reads::get_missing),
    case!("list: resourceVersion 0 and unset", reads::list_rv0),
    case!("list: label selectors", reads::label_selectors),
    case!("list: field selectors", reads::field_selectors),
    case!("list: limit and continue", reads::paging),
    case!("list: limit with resourceVersion 0", reads::list_rv0_limit),
    case!(
        "list: a resourceVersion from the future",
        reads::list_future_rv
    ),
    case!("list: resourceVersionMatch", reads::list_exact_rv),
    case!("list: pages are one snapshot", reads::paging_snapshot),
    case!("tables: custom resources", reads::tables_custom),
    case!("tables: built-in kinds", reads::tables_builtin),
    case!("watch: from a list's resourceVersion", watches::from_list),
    case!("watch: from 0 and from nothing", watches::from_zero),
    case!("watch: sendInitialEvents", watches::streaming_list),
    case!(
        "watch: bookmarks carry progress",
        watches::bookmark_progress
    ),
    case!("watch: label and field selectors", watches::selectors),
    case!("watch: Tables (kubectl get -w)", watches::table_watch),
    case!("create: generateName", writes::generate_name),
    case!("create: AlreadyExists", writes::already_exists),
    case!("create: refusals", writes::create_refusals),
    case!("update: resourceVersion preconditions", writes::update),
    case!("patch: merge", writes::merge_patch),
    case!("patch: JSON", writes::json_patch),
    case!("patch: strategic merge", writes::strategic_patch),
    case!(
        "apply: field managers and conflicts",
        writes::server_side_apply
    ),
    case!("apply: fields no longer applied", writes::apply_removes),
    case!("dryRun=All", writes::dry_run),
    case!("fieldValidation", writes::field_validation),
    case!("subresource: status", writes::status_subresource),
    case!("subresource: scale", writes::scale_subresource),
    case!("delete: finalizers", lifecycle::finalizers),
    case!("delete: the answer", lifecycle::delete_answers),
    case!("gc: background", lifecycle::gc_background),
    case!("gc: orphan", lifecycle::gc_orphan),
    case!("gc: foreground", lifecycle::gc_foreground),
    case!("namespace: termination", lifecycle::namespace_termination),
    case!("delete: a collection", lifecycle::delete_collection),
    case!("events: kube-runtime Recorder", lifecycle::events_recorder),
    case!("leases: leader election", lifecycle::leases_election),
    case!("secrets", lifecycle::secrets_shapes),
    case!("kubectl: a session", lifecycle::kubectl_session),
];

/// Why the core subresources below are not served.
const CORE_SUBRESOURCES: &str = "not served: no pods, tokens or service proxying exist in a \
    control plane without nodes, and namespaces are finalized by the control plane itself";
/// Why aggregated discovery is not served.
const AGGREGATED: &str = "aggregated discovery (apidiscovery.k8s.io/v2) is not served; kubectl and \
    client-go fall back to the legacy documents, which match, and kube-rs reads only those";
/// Why strategic merge patches replace lists.
const STRATEGIC_LISTS: &str = "strategic merge patches are applied as merge patches: lists are \
    replaced, not merged by their patchMergeKey (our clients patch custom resources, where real \
    servers refuse strategic merge, or send whole lists)";
/// Why lists are not served from history.
const NO_HISTORY: &str = "the store keeps objects, not versions: lists are of the current state \
    (resourceVersionMatch=Exact is not honoured) and continue tokens are positions, not snapshots \
    (an object created between pages can appear in a later page; its ADDED event follows)";

/// The differences accepted, each with its reason (as in docs/controlplane-differences.md).
const ALLOWED: &[Allowed] = &[
    Allowed {
        shape: "discovery: core v1 (served kinds)",
        fact: "namespaces/finalize",
        reason: CORE_SUBRESOURCES,
    },
    Allowed {
        shape: "discovery: core v1 (served kinds)",
        fact: "serviceaccounts/token",
        reason: CORE_SUBRESOURCES,
    },
    Allowed {
        shape: "discovery: core v1 (served kinds)",
        fact: "services/proxy",
        reason: CORE_SUBRESOURCES,
    },
    Allowed {
        shape: "discovery: aggregated (kubectl)",
        fact: "/api kind",
        reason: AGGREGATED,
    },
    Allowed {
        shape: "discovery: aggregated (kubectl)",
        fact: "/api metal3.io resources",
        reason: AGGREGATED,
    },
    Allowed {
        shape: "discovery: aggregated (kubectl)",
        fact: "/apis kind",
        reason: AGGREGATED,
    },
    Allowed {
        shape: "discovery: aggregated (kubectl)",
        fact: "/apis metal3.io resources",
        reason: AGGREGATED,
    },
    Allowed {
        shape: "list: resourceVersionMatch",
        fact: "Exact at the first list's resourceVersion",
        reason: NO_HISTORY,
    },
    Allowed {
        shape: "list: pages are one snapshot",
        fact: "second page",
        reason: NO_HISTORY,
    },
    Allowed {
        shape: "list: pages are one snapshot",
        fact: "pages share the list's resourceVersion",
        reason: NO_HISTORY,
    },
    Allowed {
        shape: "patch: strategic merge",
        fact: "containers",
        reason: STRATEGIC_LISTS,
    },
];

/// Runs one shape on one side in a fresh namespace; a failure is recorded as a fact.
async fn observe(side: &Side, case: &Case, ns: &str) -> Facts {
    let created = side
        .post("/api/v1/namespaces", &json!({"metadata": {"name": ns}}))
        .await;
    let run = async {
        let created = created?;
        anyhow::ensure!(
            created.code == 201,
            "creating namespace {ns}: {:?}",
            created
        );
        tokio::time::timeout(SHAPE, (case.run)(side, ns))
            .await
            .with_context(|| format!("took over {SHAPE:?}"))?
    };
    match run.await {
        Ok(o) => o,
        Err(e) => {
            let mut o = Facts::new();
            o.fact("shape failed", format!("{e:#}"));
            o
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_control_plane_answers_every_request_shape_as_the_real_kube_apiserver_does()
-> anyhow::Result<()> {
    let Some(judge) = Judge::get("controlplane_differential").await? else {
        return Ok(());
    };
    let bins = Binaries::locate()?;
    let dir = tempfile::Builder::new()
        .prefix("metal-differential-")
        .tempdir()?;
    let _plane = start_embedded_control_plane(&bins, dir.path(), &workspace_root()).await?;
    let real = Side::connect("real", &judge.cluster.admin_kubeconfig).await?;
    let embedded = Side::connect("embedded", &dir.path().join("kubeconfig")).await?;
    // A shared real server (`E2E_CONTROL_PLANE=real`) may have seen an earlier run.
    let run = std::process::id() % 100_000;
    let mut report = Report::default();
    let mut namespaces = Vec::new();
    for (i, case) in CASES.iter().enumerate() {
        let ns = format!("diff-{run}-{i:02}");
        let (r, e) = tokio::join!(observe(&real, case, &ns), observe(&embedded, case, &ns));
        report
            .differences
            .extend(compare(case.shape, &r, &e, ALLOWED));
        report.shapes += 1;
        namespaces.push(ns);
    }
    println!("{}", report.render(ALLOWED));
    for ns in &namespaces {
        let _ = real.delete(&format!("/api/v1/namespaces/{ns}"), None).await;
    }
    let unexpected = report.unexpected();
    assert!(
        unexpected.is_empty(),
        "{} differences between the embedded control plane and kube-apiserver are not in ALLOWED \
         (fix them in controlplane/src/ or document them in docs/controlplane-differences.md \
         and ALLOWED); the report above lists them",
        unexpected.len()
    );
    Ok(())
}
