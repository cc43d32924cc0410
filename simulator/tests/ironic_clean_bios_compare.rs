//! BIOS settings applied by manual cleaning, REAL Ironic 39 and the mock side by side: each
//! drives its own fake Redfish BMC (the same hardware profile) through `manage`, then manual
//! cleans with `bios.apply_configuration` (settings the registry accepts, the same ones again, an
//! unknown setting, a value out of the registry's list, a read-only setting, an integer out of
//! bounds) and `bios.factory_reset`. After each clean: the node's state, `last_error`,
//! maintenance and fault, the cached settings the `bios` API serves, and the BIOS attributes of
//! the machine behind each BMC must be the same. A second test services an adopted (`active`)
//! node with the same steps: the 1.87 gate, a missing `service_steps`, `service failed`, `abort`.

#[path = "ironic_real/mod.rs"]
mod ironic_real;
#[path = "redfish_fixture.rs"]
mod redfish_fixture;
mod support;

use ironic_real::compare::{Server, node_keys};
use metal_sim::ironic::conductor::Timings;
use serde_json::{Value, json};

/// Real Ironic polls a BIOS apply every `firmware_update_status_interval` seconds (60 by default).
const REAL_CONFIG: &str = "[redfish]\nfirmware_update_status_interval=1\n";

/// The fields of the node compared after each clean.
const NODE_FIELDS: [&str; 7] = [
    "provision_state",
    "target_provision_state",
    "last_error",
    "maintenance",
    "fault",
    "clean_step",
    "power_state",
];

/// Creates the redfish node `rf` on `server`, managed through its own fake BMC.
async fn enrolled(server: &mut Server) -> redfish_fixture::Server {
    let bmc = redfish_fixture::Server::start(1, false, metal_sim::machine::Timing::instant()).await;
    let info = json!({
        "redfish_address": bmc.base_url(),
        "redfish_system_id": format!("/redfish/v1/Systems/{}", redfish_fixture::system_id(&bmc.world)),
        "redfish_username": redfish_fixture::USER,
        "redfish_password": redfish_fixture::PASSWORD,
    });
    let created = server
        .call(
            "POST",
            "/v1/nodes",
            Some(json!({"name": "rf", "driver": "redfish", "driver_info": info})),
            None,
        )
        .await;
    assert!(created.starts_with("201"), "create rf: {created}");
    let asked = server
        .call(
            "PUT",
            "/v1/nodes/rf/states/provision",
            Some(json!({"target": "manage"})),
            None,
        )
        .await;
    assert!(asked.starts_with("202"), "manage rf: {asked}");
    server
        .settle("/v1/nodes/rf", "provision_state", json!("manageable"))
        .await;
    bmc
}

/// The machine's current BIOS attributes, as one comparable line.
fn machine_bios(bmc: &redfish_fixture::Server) -> String {
    let attrs = bmc.world.hosts()[0].with_machine(bmc.world.now(), |m| {
        m.bios()
            .current
            .iter()
            .map(|(k, v)| format!("{k}={}", v.to_json()))
            .collect::<Vec<_>>()
    });
    attrs.join(" ")
}

/// One case: a clean with `steps` ending in `end`, then what is compared.
struct Case {
    what: &'static str,
    steps: Value,
    end: &'static str,
}

fn apply(what: &'static str, settings: Value, end: &'static str) -> Case {
    Case {
        what,
        steps: json!([{"interface": "bios", "step": "apply_configuration", "args": {"settings": settings}}]),
        end,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_and_real_ironic_apply_bios_settings_by_manual_cleaning_alike() {
    let Some((real, mock, task)) =
        ironic_real::start_real_and_mock_with(Timings::instant(), 5, REAL_CONFIG).await
    else {
        return;
    };
    let mut servers = [Server::new(real.url(), "1.89"), Server::new(&mock, "1.89")];
    let mut bmcs = Vec::new();
    for s in servers.iter_mut() {
        bmcs.push(enrolled(s).await);
    }
    let cases = [
        apply(
            "settings the registry accepts (an integer given as text)",
            json!([
                {"name": "ProcVirtualization", "value": "Disabled"},
                {"name": "PxeRetryCount", "value": "5"},
                {"name": "AssetTag", "value": "rack-12"},
            ]),
            "manageable",
        ),
        apply(
            "the same settings again",
            json!([{"name": "ProcVirtualization", "value": "Disabled"}]),
            "manageable",
        ),
        apply(
            "a setting the BMC does not know",
            json!([{"name": "NoSuchSetting", "value": "On"}]),
            "clean failed",
        ),
        apply(
            "a value not in the registry's list",
            json!([{"name": "ProcVirtualization", "value": "Maybe"}]),
            "clean failed",
        ),
        apply(
            "a read-only setting and an integer out of bounds",
            json!([
                {"name": "SystemServiceTag", "value": "X"},
                {"name": "PxeRetryCount", "value": 99},
            ]),
            "clean failed",
        ),
        Case {
            what: "factory reset",
            steps: json!([{"interface": "bios", "step": "factory_reset"}]),
            end: "manageable",
        },
    ];
    let bmc_urls: Vec<String> = bmcs.iter().map(redfish_fixture::Server::base_url).collect();
    let shape = |line: &str| {
        let mut line = node_keys(line, &NODE_FIELDS);
        for url in &bmc_urls {
            line = line.replace(url.as_str(), "<bmc>");
        }
        line
    };
    let mut differences = Vec::new();
    for case in &cases {
        let mut seen: Vec<Vec<String>> = Vec::new();
        for (server, bmc) in servers.iter_mut().zip(&bmcs) {
            let mut lines = Vec::new();
            if server
                .call("GET", "/v1/nodes/rf", None, None)
                .await
                .contains("\"maintenance\":true")
            {
                lines.push(
                    server
                        .call("DELETE", "/v1/nodes/rf/maintenance", None, None)
                        .await,
                );
            }
            if !server
                .call("GET", "/v1/nodes/rf", None, None)
                .await
                .contains("\"provision_state\":\"manageable\"")
            {
                lines.push(
                    server
                        .call(
                            "PUT",
                            "/v1/nodes/rf/states/provision",
                            Some(json!({"target": "manage"})),
                            None,
                        )
                        .await,
                );
                server
                    .settle("/v1/nodes/rf", "provision_state", json!("manageable"))
                    .await;
            }
            lines.push(
                server
                    .call(
                        "PUT",
                        "/v1/nodes/rf/states/provision",
                        Some(json!({"target": "clean", "clean_steps": case.steps})),
                        None,
                    )
                    .await,
            );
            server
                .settle("/v1/nodes/rf", "provision_state", json!(case.end))
                .await;
            lines.push(server.call("GET", "/v1/nodes/rf", None, None).await);
            for name in ["ProcVirtualization", "PxeRetryCount", "AssetTag"] {
                lines.push(
                    server
                        .call("GET", &format!("/v1/nodes/rf/bios/{name}"), None, None)
                        .await,
                );
            }
            lines.push(format!("machine: {}", machine_bios(bmc)));
            seen.push(lines.iter().map(|l| shape(l)).collect());
        }
        println!("== {}", case.what);
        for (real, mock) in seen[0].iter().zip(&seen[1]) {
            println!("  real: {real}\n  mock: {mock}");
            if real != mock {
                differences.push(format!("{}\n  real: {real}\n  mock: {mock}", case.what));
            }
        }
        if seen[0].len() != seen[1].len() {
            differences.push(format!(
                "{}: {} answers from real Ironic, {} from the mock",
                case.what,
                seen[0].len(),
                seen[1].len()
            ));
        }
    }
    for bmc in bmcs {
        bmc.stop().await;
    }
    task.abort();
    drop(real);
    assert!(
        differences.is_empty(),
        "answers differ from real Ironic:\n{}",
        differences.join("\n")
    );
}

/// One action of a servicing sequence.
enum Act {
    /// A request (method, path, body, microversion).
    Call(
        &'static str,
        &'static str,
        Option<Value>,
        Option<&'static str>,
    ),
    /// Wait for this provision state.
    Settle(&'static str),
    /// The machine's BIOS attributes.
    Machine,
}

fn service(steps: Value) -> Act {
    Act::Call(
        "PUT",
        "/v1/nodes/rf/states/provision",
        Some(json!({"target": "service", "service_steps": steps})),
        None,
    )
}

const NODE: Act = Act::Call("GET", "/v1/nodes/rf", None, None);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_and_real_ironic_service_an_active_node_with_bios_steps_alike() {
    let Some((real, mock, task)) =
        ironic_real::start_real_and_mock_with(Timings::instant(), 6, REAL_CONFIG).await
    else {
        return;
    };
    let mut servers = [Server::new(real.url(), "1.89"), Server::new(&mock, "1.89")];
    let mut bmcs = Vec::new();
    for s in servers.iter_mut() {
        bmcs.push(enrolled(s).await);
    }
    let apply_steps = |settings: Value| json!([{"interface": "bios", "step": "apply_configuration", "args": {"settings": settings}}]);
    let acts = vec![
        Act::Call(
            "PUT",
            "/v1/nodes/rf/states/provision",
            Some(json!({"target": "adopt"})),
            None,
        ),
        Act::Settle("active"),
        NODE,
        Act::Call(
            "PUT",
            "/v1/nodes/rf/states/provision",
            Some(json!({"target": "service", "service_steps": apply_steps(json!([]))})),
            Some("1.86"),
        ),
        Act::Call(
            "PUT",
            "/v1/nodes/rf/states/provision",
            Some(json!({"target": "service"})),
            None,
        ),
        service(apply_steps(
            json!([{"name": "ProcVirtualization", "value": "Disabled"}]),
        )),
        Act::Settle("active"),
        NODE,
        Act::Call("GET", "/v1/nodes/rf/bios/ProcVirtualization", None, None),
        Act::Machine,
        service(apply_steps(
            json!([{"name": "NoSuchSetting", "value": "On"}]),
        )),
        Act::Settle("service failed"),
        NODE,
        Act::Call(
            "PUT",
            "/v1/nodes/rf/states/provision",
            Some(json!({"target": "abort"})),
            None,
        ),
        Act::Call("DELETE", "/v1/nodes/rf/maintenance", None, None),
        Act::Call(
            "PUT",
            "/v1/nodes/rf/states/provision",
            Some(json!({"target": "abort"})),
            None,
        ),
        Act::Settle("active"),
        NODE,
        service(json!([{"interface": "bios", "step": "factory_reset"}])),
        Act::Settle("active"),
        NODE,
        Act::Call("GET", "/v1/nodes/rf/bios/ProcVirtualization", None, None),
        Act::Machine,
    ];
    let bmc_urls: Vec<String> = bmcs.iter().map(redfish_fixture::Server::base_url).collect();
    let fields = [
        "provision_state",
        "target_provision_state",
        "last_error",
        "maintenance",
        "fault",
        "service_step",
        "power_state",
    ];
    let mut seen: Vec<Vec<String>> = Vec::new();
    for (server, bmc) in servers.iter_mut().zip(&bmcs) {
        let mut lines = Vec::new();
        for act in &acts {
            let line = match act {
                Act::Call(method, path, body, version) => {
                    server.call(method, path, body.clone(), *version).await
                }
                Act::Settle(state) => {
                    server
                        .settle("/v1/nodes/rf", "provision_state", json!(state))
                        .await;
                    // Real Ironic may still hold the lock (an abort's tear-down) after the
                    // state changed.
                    server
                        .settle("/v1/nodes/rf", "reservation", Value::Null)
                        .await;
                    continue;
                }
                Act::Machine => format!("machine: {}", machine_bios(bmc)),
            };
            let mut line = node_keys(&line, &fields);
            for url in &bmc_urls {
                line = line.replace(url.as_str(), "<bmc>");
            }
            lines.push(line);
        }
        seen.push(lines);
    }
    let mut differences = Vec::new();
    for (real, mock) in seen[0].iter().zip(&seen[1]) {
        println!("  real: {real}\n  mock: {mock}");
        if real != mock {
            differences.push(format!("  real: {real}\n  mock: {mock}"));
        }
    }
    for bmc in bmcs {
        bmc.stop().await;
    }
    task.abort();
    drop(real);
    assert!(
        differences.is_empty(),
        "answers differ from real Ironic:\n{}",
        differences.join("\n")
    );
}
