//! Which of Ironic's v1 resources the mock serves, judged against REAL Ironic 39.0.0: one request
//! per resource and sub-resource of the API reference (at microversion 1.115, both servers'
//! maximum), sent to both. A resource the mock claims to serve must answer with real Ironic's
//! status; one it does not serve must answer 404 or 405 there while real Ironic answers it, so
//! the table in docs/ironic-differences.md cannot drift from what both servers do. The printed
//! table is the source of that document's table.

#[path = "ironic_real/mod.rs"]
mod ironic_real;
mod support;

use ironic_real::compare::Server;
use metal_sim::ironic::conductor::Timings;
use serde_json::json;

/// Whether the mock serves a resource: `Yes` (same status as real Ironic), `No` (404/405 on the
/// mock), or `Differs` (served by both, with a status difference documented in
/// docs/ironic-differences.md).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mock {
    Yes,
    No,
    Differs,
}

use Mock::*;

/// The API reference's resources, one request each: area, method, path, what the mock does.
const RESOURCES: &[(&str, &str, &str, Mock)] = &[
    ("API versions", "GET", "/", Yes),
    ("API versions", "GET", "/v1", Yes),
    ("Nodes", "GET", "/v1/nodes", Yes),
    ("Nodes", "GET", "/v1/nodes/detail", Yes),
    ("Nodes", "GET", "/v1/nodes/cov-n1", Yes),
    ("Node states", "GET", "/v1/nodes/cov-n1/states", Yes),
    ("Node validate", "GET", "/v1/nodes/cov-n1/validate", Yes),
    (
        "Node management: boot device",
        "GET",
        "/v1/nodes/cov-n1/management/boot_device",
        Yes,
    ),
    (
        "Node management: supported boot devices",
        "GET",
        "/v1/nodes/cov-n1/management/boot_device/supported",
        Yes,
    ),
    (
        "Node management: indicators",
        "GET",
        "/v1/nodes/cov-n1/management/indicators",
        Yes,
    ),
    (
        "Node management: inject NMI",
        "PUT",
        "/v1/nodes/cov-n1/management/inject_nmi",
        Yes,
    ),
    (
        "Node console",
        "GET",
        "/v1/nodes/cov-n1/states/console",
        Yes,
    ),
    ("Node traits", "GET", "/v1/nodes/cov-n1/traits", Yes),
    ("Node VIFs", "GET", "/v1/nodes/cov-n1/vifs", Yes),
    (
        "Node ports (node by name)",
        "GET",
        "/v1/nodes/cov-n1/ports",
        Differs,
    ),
    (
        "Node ports (node by UUID)",
        "GET",
        "/v1/nodes/{cov-n1}/ports",
        Yes,
    ),
    (
        "Node port groups (node by UUID)",
        "GET",
        "/v1/nodes/{cov-n1}/portgroups",
        Yes,
    ),
    (
        "Node port groups (node by name)",
        "GET",
        "/v1/nodes/cov-n1/portgroups",
        Differs,
    ),
    ("Node volume", "GET", "/v1/nodes/cov-n1/volume", Yes),
    (
        "Node volume connectors",
        "GET",
        "/v1/nodes/{cov-n1}/volume/connectors",
        Yes,
    ),
    (
        "Node volume targets",
        "GET",
        "/v1/nodes/{cov-n1}/volume/targets",
        Yes,
    ),
    ("Node allocation", "GET", "/v1/nodes/cov-n1/allocation", Yes),
    ("Node BIOS", "GET", "/v1/nodes/cov-n1/bios", Yes),
    ("Node inventory", "GET", "/v1/nodes/cov-n1/inventory", Yes),
    ("Node history", "GET", "/v1/nodes/cov-n1/history", Yes),
    (
        "Node virtual media",
        "GET",
        "/v1/nodes/cov-n1/vmedia",
        Differs,
    ),
    ("Node children", "GET", "/v1/nodes/cov-n1/children", Yes),
    ("Node firmware", "GET", "/v1/nodes/cov-n1/firmware", Yes),
    (
        "Node vendor passthru",
        "GET",
        "/v1/nodes/cov-n1/vendor_passthru/methods",
        Yes,
    ),
    ("Ports", "GET", "/v1/ports", Yes),
    ("Ports", "GET", "/v1/ports/detail", Yes),
    ("Port groups", "GET", "/v1/portgroups", Yes),
    ("Port groups", "GET", "/v1/portgroups/detail", Yes),
    ("Volume", "GET", "/v1/volume", Yes),
    ("Volume connectors", "GET", "/v1/volume/connectors", Yes),
    ("Volume targets", "GET", "/v1/volume/targets", Yes),
    ("Chassis", "GET", "/v1/chassis", Yes),
    ("Chassis", "GET", "/v1/chassis/detail", Yes),
    ("Drivers", "GET", "/v1/drivers", Yes),
    ("Drivers", "GET", "/v1/drivers/fake-hardware", Yes),
    (
        "Driver properties",
        "GET",
        "/v1/drivers/fake-hardware/properties",
        Yes,
    ),
    (
        "Driver RAID logical disk properties",
        "GET",
        "/v1/drivers/fake-hardware/raid/logical_disk_properties",
        Yes,
    ),
    (
        "Driver vendor passthru",
        "GET",
        "/v1/drivers/fake-hardware/vendor_passthru/methods",
        Yes,
    ),
    ("Conductors", "GET", "/v1/conductors", Yes),
    ("Allocations", "GET", "/v1/allocations", Yes),
    ("Deploy templates", "GET", "/v1/deploy_templates", Yes),
    ("Runbooks", "GET", "/v1/runbooks", Yes),
    ("Shards", "GET", "/v1/shards", Yes),
    ("Inspection rules", "GET", "/v1/inspection_rules", No),
    ("Events", "POST", "/v1/events", Yes),
    (
        "Lookup",
        "GET",
        "/v1/lookup?addresses=52:54:00:00:00:99",
        Yes,
    ),
    ("Heartbeat", "POST", "/v1/heartbeat/{cov-n1}", Yes),
    (
        "Continue inspection",
        "POST",
        "/v1/continue_inspection",
        Differs,
    ),
];

fn status(line: &str) -> u16 {
    line.split(' ')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_mock_serves_the_resources_the_table_says_and_only_those() {
    let Some((real, mock, task)) = ironic_real::start_real_and_mock(Timings::instant(), 7).await
    else {
        return;
    };
    let mut servers = [
        Server::new(real.url(), "1.115"),
        Server::new(&mock, "1.115"),
    ];
    for s in &mut servers {
        let node = json!({"name": "cov-n1", "driver": "fake-hardware"});
        let created = s.call("POST", "/v1/nodes", Some(node), None).await;
        assert!(created.starts_with("201"), "{created}");
    }
    let mut wrong = Vec::new();
    println!("| area | request | real Ironic | mock |");
    for (area, method, path, claim) in RESOURCES {
        let body = (*method != "GET").then(|| json!({}));
        let mut seen = Vec::new();
        for s in &mut servers {
            seen.push(status(&s.call(method, path, body.clone(), None).await));
        }
        let (r, m) = (seen[0], seen[1]);
        println!("| {area} | `{method} {path}` | {r} | {m} |");
        let unserved = |code: u16| code == 404 || code == 405;
        let holds = match claim {
            Yes => r == m,
            Differs => !unserved(m) || m != r,
            No => unserved(m) && !unserved(r),
        };
        if !holds {
            wrong.push(format!(
                "{area} {method} {path}: real {r}, mock {m}, table says {claim:?}"
            ));
        }
    }
    task.abort();
    drop(real);
    assert!(
        wrong.is_empty(),
        "the coverage table is wrong:\n{}",
        wrong.join("\n")
    );
}
