//! The conductor driving an agent through heartbeats and command results, with no sockets: a scripted
//! agent answers the `AgentCall`s the pure core emits, as the wire shell or the engine would.

use super::tests::{conductor_with, run_calls, t0};
use super::*;
use serde_json::{Map, json};

/// A scripted agent: records commands, answers like IPA (results in order; async steps run until the
/// next status poll, then end with `outcome`).
struct ScriptedAgent {
    commands: Vec<Value>,
    outcome: &'static str,
    deploy_steps: Vec<Value>,
    log: Vec<String>,
}

impl ScriptedAgent {
    fn new(outcome: &'static str) -> Self {
        Self {
            commands: Vec::new(),
            outcome,
            deploy_steps: vec![
                json!({"interface": "deploy", "step": "write_image", "priority": 0, "reboot_requested": false}),
            ],
            log: Vec::new(),
        }
    }

    fn answer(&mut self, call: &AgentCall) -> Result<CallResult, String> {
        assert_eq!(call.callback_url, "http://127.0.0.1:9999");
        assert_eq!(call.token.as_deref(), Some("tok"));
        match &call.op {
            AgentOp::Status => {
                self.log.push("status".into());
                for c in &mut self.commands {
                    if c["command_status"] == "RUNNING" {
                        c["command_status"] = json!(self.outcome);
                        if self.outcome == "FAILED" {
                            c["command_error"] =
                                json!({"message": "m", "details": "checksum mismatch"});
                        }
                    }
                }
                Ok(CallResult::Agent(json!({"commands": self.commands})))
            }
            AgentOp::Execute { name, params, wait } => {
                let label = match params.pointer("/step/step").and_then(Value::as_str) {
                    Some(step) => format!("{name}:{step}"),
                    None => name.clone(),
                };
                self.log.push(label);
                let (ext, cmd) = name.split_once('.').expect("dotted name");
                let result = match cmd {
                    "get_deploy_steps" => {
                        json!({"deploy_steps": {"GenericHardwareManager": self.deploy_steps}, "hardware_manager_version": {"generic_hardware_manager": "1.2"}})
                    }
                    "get_clean_steps" => json!({"clean_steps": {"GenericHardwareManager": [
                        {"interface": "deploy", "step": "erase_devices", "priority": 10},
                        {"interface": "deploy", "step": "erase_devices_metadata", "priority": 99},
                    ]}}),
                    "get_partition_uuids" => json!({"root uuid": "r-1"}),
                    _ => Value::Null,
                };
                let status = if *wait || ext == "standby" {
                    "SUCCEEDED"
                } else {
                    "RUNNING"
                };
                let doc = json!({"id": format!("c{}", self.commands.len()), "command_name": cmd,
                    "command_params": params, "command_status": status, "command_error": null,
                    "command_result": result});
                self.commands.push(doc.clone());
                Ok(CallResult::Agent(doc))
            }
        }
    }
}

/// Drives the node until it parks for the agent (or settles), answering BMC calls with success (power
/// reads report the last power set); `ops` records every call but power reads.
fn drive(
    c: &mut Conductor,
    now: DateTime<Utc>,
    agent: &mut ScriptedAgent,
    ops: &mut Vec<String>,
) -> DateTime<Utc> {
    let mut power = NodePower::Off;
    run_calls(c, now, 300, &mut |call| match call {
        Call::Bmc(b) => Ok(match &b.op {
            BmcOp::GetPower => CallResult::Power(power),
            op => {
                if let BmcOp::SetPower(p) = op {
                    power = p.settled();
                }
                ops.push(format!("{op:?}"));
                CallResult::Done
            }
        }),
        Call::Agent(a) => {
            let r = agent.answer(a);
            ops.push(agent.log.last().cloned().unwrap_or_default());
            r
        }
    })
    .0
}

/// Stands in for lookup + heartbeat through the API: the agent registers, then the conductor resumes.
fn beat(c: &mut Conductor, u: Uuid, now: DateTime<Utc>) -> bool {
    let n = c.nodes.get_mut(&u).expect("node");
    n.agent.token = Some("tok".into());
    n.agent.callback_url = Some("http://127.0.0.1:9999".into());
    c.heartbeat(u, now)
}

fn available_redfish(deploy: &str) -> (Conductor, Uuid) {
    let (mut c, u) = conductor_with("redfish");
    let n = c.nodes.get_mut(&u).expect("node");
    n.provision_state = ProvisionState::Available;
    n.interfaces.insert("deploy".into(), json!(deploy));
    n.instance_info
        .insert("image_source".into(), json!("http://127.0.0.1:8/img.raw"));
    n.instance_info
        .insert("image_os_hash_algo".into(), json!("sha256"));
    n.instance_info
        .insert("image_os_hash_value".into(), json!("abc"));
    (c, u)
}

#[test]
fn direct_deploy_waits_for_the_agent_and_runs_its_commands_to_active() {
    let (mut c, u) = available_redfish("direct");
    let mut agent = ScriptedAgent::new("SUCCEEDED");
    let mut ops = Vec::new();
    c.provision(u, "active", None, t0()).expect("deploy");
    let mut now = drive(&mut c, t0(), &mut agent, &mut ops);
    assert_eq!(c.nodes[&u].provision_state, ProvisionState::WaitCallBack);
    assert!(!c.is_locked(u), "wait call-back releases the lock");
    assert_eq!(
        c.nodes[&u].target_provision_state,
        Some(ProvisionState::Active)
    );
    for _ in 0..2 {
        assert!(beat(&mut c, u, now));
        now = drive(&mut c, now, &mut agent, &mut ops);
    }
    assert_eq!(c.nodes[&u].provision_state, ProvisionState::Active);
    assert_eq!(c.nodes[&u].power_state, Some(NodePower::On));
    assert_eq!(
        c.nodes[&u].agent.token, None,
        "the agent's token is gone with the agent"
    );
    assert_eq!(
        ops,
        [
            "SetPower(Off)",
            "SetBootDevice(Pxe)",
            "SetPower(On)",
            "deploy.get_deploy_steps",
            "deploy.execute_deploy_step:write_image",
            "status",
            "standby.get_partition_uuids",
            "image.install_bootloader",
            "SetBootDevice(Disk)",
            "standby.power_off",
            "SetPower(Off)",
            "SetPower(On)",
        ]
    );
    let write = &agent.commands[1]["command_params"]["step"]["args"]["image_info"];
    assert_eq!(write["urls"], json!(["http://127.0.0.1:8/img.raw"]));
    assert_eq!(write["os_hash_value"], "abc");
    assert_eq!(
        agent.commands[3]["command_params"]["root_uuid"], "r-1",
        "install_bootloader gets the partition the agent reported"
    );
}

#[test]
fn a_failed_write_image_fails_the_deploy_with_ironics_text() {
    let (mut c, u) = available_redfish("direct");
    let mut agent = ScriptedAgent::new("FAILED");
    let mut ops = Vec::new();
    c.provision(u, "active", None, t0()).expect("deploy");
    let mut now = drive(&mut c, t0(), &mut agent, &mut ops);
    for _ in 0..2 {
        beat(&mut c, u, now);
        now = drive(&mut c, now, &mut agent, &mut ops);
    }
    let n = &c.nodes[&u];
    assert_eq!(n.provision_state, ProvisionState::DeployFailed);
    assert_eq!(
        n.last_error.as_deref(),
        Some(
            format!("Deploy step deploy.write_image failed on node {u}. checksum mismatch")
                .as_str()
        )
    );
    assert!(!c.is_locked(u));
}

#[test]
fn no_heartbeat_within_the_callback_timeout_fails_the_deploy() {
    let (mut c, u) = available_redfish("direct");
    let mut agent = ScriptedAgent::new("SUCCEEDED");
    c.provision(u, "active", None, t0()).expect("deploy");
    let now = drive(&mut c, t0(), &mut agent, &mut Vec::new());
    assert_eq!(c.nodes[&u].provision_state, ProvisionState::WaitCallBack);
    let late = now + Timings::fake_hardware().callback_timeout;
    assert!(
        c.next_due().is_some_and(|d| d > now && d <= late),
        "the shell wakes up for the timeout"
    );
    c.step(now);
    assert_eq!(c.nodes[&u].provision_state, ProvisionState::WaitCallBack);
    c.step(late);
    let n = &c.nodes[&u];
    assert_eq!(n.provision_state, ProvisionState::DeployFailed);
    assert_eq!(
        n.last_error.as_deref(),
        Some(format!("Timeout reached while waiting for callback for node {u}").as_str())
    );
}

#[test]
fn empty_deploy_steps_are_asked_for_again_on_the_next_heartbeat() {
    let (mut c, u) = available_redfish("direct");
    let mut agent = ScriptedAgent::new("SUCCEEDED");
    agent.deploy_steps.clear();
    let mut ops = Vec::new();
    c.provision(u, "active", None, t0()).expect("deploy");
    let mut now = drive(&mut c, t0(), &mut agent, &mut ops);
    beat(&mut c, u, now);
    now = drive(&mut c, now, &mut agent, &mut ops);
    assert_eq!(c.nodes[&u].provision_state, ProvisionState::WaitCallBack);
    beat(&mut c, u, now);
    drive(&mut c, now, &mut agent, &mut ops);
    let asked = ops
        .iter()
        .filter(|o| *o == "deploy.get_deploy_steps")
        .count();
    assert_eq!(asked, 2);
    assert_eq!(c.nodes[&u].provision_state, ProvisionState::WaitCallBack);
}

#[test]
fn custom_agent_runs_the_agents_own_deploy_steps_and_no_bootloader() {
    let (mut c, u) = available_redfish("custom-agent");
    let mut agent = ScriptedAgent::new("SUCCEEDED");
    agent.deploy_steps = vec![
        json!({"interface": "deploy", "step": "write_image", "priority": 0}),
        json!({"interface": "deploy", "step": "install_coreos", "priority": 80}),
    ];
    let mut ops = Vec::new();
    c.provision(u, "active", None, t0()).expect("deploy");
    let mut now = drive(&mut c, t0(), &mut agent, &mut ops);
    for _ in 0..2 {
        beat(&mut c, u, now);
        now = drive(&mut c, now, &mut agent, &mut ops);
    }
    assert_eq!(c.nodes[&u].provision_state, ProvisionState::Active);
    assert!(ops.contains(&"deploy.execute_deploy_step:install_coreos".to_string()));
    assert!(
        !ops.iter()
            .any(|o| o.contains("write_image") || o.contains("install_bootloader"))
    );
}

#[test]
fn automated_cleaning_wipes_metadata_through_the_agent_and_powers_off() {
    let (mut c, u) = conductor_with("redfish");
    c.nodes.get_mut(&u).expect("node").provision_state = ProvisionState::Manageable;
    c.nodes
        .get_mut(&u)
        .expect("node")
        .misc
        .insert("automated_clean".into(), json!(true));
    let mut agent = ScriptedAgent::new("SUCCEEDED");
    let mut ops = Vec::new();
    c.provision(u, "provide", None, t0()).expect("provide");
    let mut now = drive(&mut c, t0(), &mut agent, &mut ops);
    assert_eq!(c.nodes[&u].provision_state, ProvisionState::CleanWait);
    assert!(!c.is_locked(u));
    for _ in 0..2 {
        assert!(beat(&mut c, u, now));
        now = drive(&mut c, now, &mut agent, &mut ops);
    }
    assert_eq!(c.nodes[&u].provision_state, ProvisionState::Available);
    assert_eq!(
        ops,
        [
            "SetPower(Off)",
            "SetBootDevice(Pxe)",
            "SetPower(On)",
            "clean.get_clean_steps",
            "clean.execute_clean_step:erase_devices_metadata",
            "status",
            "SetPower(Off)",
        ]
    );
}

#[test]
fn clean_wait_times_out_with_ironics_text() {
    let (mut c, u) = conductor_with("redfish");
    c.nodes.get_mut(&u).expect("node").provision_state = ProvisionState::Manageable;
    let mut agent = ScriptedAgent::new("SUCCEEDED");
    let step = json!({"interface": "deploy", "step": "erase_devices"});
    c.provision(u, "clean", Some(vec![step]), t0())
        .expect("clean");
    let now = drive(&mut c, t0(), &mut agent, &mut Vec::new());
    assert_eq!(c.nodes[&u].provision_state, ProvisionState::CleanWait);
    c.step(now + Timings::fake_hardware().callback_timeout);
    let n = &c.nodes[&u];
    assert_eq!(n.provision_state, ProvisionState::CleanFailed);
    assert_eq!(
        n.last_error.as_deref(),
        Some(
            "Timeout reached while cleaning the node. Please check if the ramdisk responsible for the cleaning is running on the node. Failed on step {}."
        )
    );
}

#[test]
fn manual_clean_runs_the_requested_step_with_its_args() {
    let (mut c, u) = conductor_with("redfish");
    c.nodes.get_mut(&u).expect("node").provision_state = ProvisionState::Manageable;
    let mut agent = ScriptedAgent::new("SUCCEEDED");
    let mut ops = Vec::new();
    let step = json!({"interface": "deploy", "step": "erase_devices", "args": {"force": true}});
    c.provision(u, "clean", Some(vec![step]), t0())
        .expect("clean");
    let mut now = drive(&mut c, t0(), &mut agent, &mut ops);
    for _ in 0..2 {
        beat(&mut c, u, now);
        now = drive(&mut c, now, &mut agent, &mut ops);
    }
    assert_eq!(c.nodes[&u].provision_state, ProvisionState::Manageable);
    assert!(ops.contains(&"clean.execute_clean_step:erase_devices".to_string()));
    assert_eq!(
        agent.commands[1]["command_params"]["step"]["args"]["force"],
        true
    );
}

#[test]
fn agent_inspection_waits_for_the_inventory_then_powers_off() {
    let (mut c, u) = conductor_with("ipmi");
    c.nodes.get_mut(&u).expect("node").provision_state = ProvisionState::Manageable;
    let mut agent = ScriptedAgent::new("SUCCEEDED");
    let mut ops = Vec::new();
    c.provision(u, "inspect", None, t0()).expect("inspect");
    let now = drive(&mut c, t0(), &mut agent, &mut ops);
    assert_eq!(c.nodes[&u].provision_state, ProvisionState::InspectWait);
    assert!(!beat(&mut c, u, now), "heartbeats do not end inspection");
    let data = json!({
        "inventory": {"interfaces": [{"name": "eth0", "mac_address": "52:54:00:00:00:01"}],
                      "cpu": {"architecture": "x86_64", "count": 4}},
        "extra": "kept as plugin data",
    });
    let Value::Object(data) = data else {
        unreachable!()
    };
    c.continue_inspection(u, data, now)
        .expect("inventory accepted");
    drive(&mut c, now, &mut agent, &mut ops);
    let n = &c.nodes[&u];
    assert_eq!(n.provision_state, ProvisionState::Manageable);
    assert!(n.inspection_finished_at.is_some());
    assert_eq!(n.properties["cpu_arch"], "x86_64");
    let inv = n.inventory.as_ref().expect("inventory").value();
    assert_eq!(inv["inventory"]["cpu"]["count"], 4);
    assert_eq!(inv["plugin_data"]["extra"], "kept as plugin data");
    assert_eq!(
        c.take_discovered_ports(),
        [DiscoveredPort {
            node: u,
            address: "52:54:00:00:00:01".into(),
            pxe_enabled: true
        }]
    );
    assert_eq!(ops.last().map(String::as_str), Some("SetPower(Off)"));
    assert!(
        c.continue_inspection(u, Map::new(), now).is_err(),
        "only in inspect wait"
    );
}

#[test]
fn a_ramdisk_error_fails_inspection() {
    let (mut c, u) = conductor_with("ipmi");
    c.nodes.get_mut(&u).expect("node").provision_state = ProvisionState::Manageable;
    c.provision(u, "inspect", None, t0()).expect("inspect");
    drive(
        &mut c,
        t0(),
        &mut ScriptedAgent::new("SUCCEEDED"),
        &mut Vec::new(),
    );
    let Value::Object(data) = json!({"inventory": {"interfaces": []}, "error": "no disks"}) else {
        unreachable!()
    };
    c.continue_inspection(u, data, t0()).expect("accepted");
    let n = &c.nodes[&u];
    assert_eq!(n.provision_state, ProvisionState::InspectFailed);
    assert_eq!(
        n.last_error.as_deref(),
        Some("Failed to inspect hardware. Reason: Ramdisk reported error: no disks")
    );
}

#[test]
fn abort_in_wait_call_back_drops_the_parked_job() {
    let (mut c, u) = available_redfish("direct");
    c.provision(u, "active", None, t0()).expect("deploy");
    let now = drive(
        &mut c,
        t0(),
        &mut ScriptedAgent::new("SUCCEEDED"),
        &mut Vec::new(),
    );
    c.provision(u, "abort", None, now).expect("abort");
    assert_eq!(c.nodes[&u].provision_state, ProvisionState::DeployFailed);
    assert_eq!(c.parked(u), None);
    assert!(!beat(&mut c, u, now));
    assert!(
        c.step(now + TimeDelta::hours(1))
            .iter()
            .all(|call| matches!(call, Call::Bmc(b) if b.op == BmcOp::GetPower))
    );
}
