//! In-band work: building the agent commands of a plan and reading the agent's answers the way Ironic's
//! agent driver does (steps lists, command results, failure texts).

use super::plan::{AgentPhase, AgentStep};
use super::{AgentOp, python_repr};
use crate::ironic::model::Node;
use serde_json::{Map, Value, json};

/// What the conductor remembers about the in-band steps of a job.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InBand {
    /// Steps chosen from the agent's list, still to run.
    pub queue: std::collections::VecDeque<Value>,
    /// Manual clean steps asked for (None: automated cleaning).
    pub requested: Option<Vec<Value>>,
    /// The partition UUIDs the agent reported after writing the image.
    pub partitions: Map<String, Value>,
    /// The in-band step running now (Ironic's `clean_step` / `deploy_step`).
    pub current: Option<Value>,
    /// Deploy steps come from the agent (`custom-agent`).
    pub custom: bool,
}

/// What reading an agent answer decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Go on with the plan.
    Continue,
    /// Wait for the next heartbeat, then run these steps before the rest of the plan.
    AwaitThen(Vec<AgentStep>),
    /// The job fails with this `last_error`.
    Fail(String),
}

/// The node document Ironic sends along with step commands (secrets left out).
fn node_param(node: &Node) -> Value {
    json!({
        "uuid": node.uuid.to_string(),
        "driver": node.driver,
        "properties": Value::Object(node.properties.clone()),
        "instance_info": Value::Object(node.instance_info.clone()),
        "driver_internal_info": Value::Object(node.driver_internal_info.clone()),
    })
}

/// The command for an in-band step (None for `RunNext`, which is not a call).
pub fn command(step: &AgentStep, node: &Node, inband: &InBand) -> Option<AgentOp> {
    let exec = |name: &str, params: Value, wait: bool| AgentOp::Execute {
        name: name.to_string(),
        params,
        wait,
    };
    let hw = node
        .driver_internal_info
        .get("hardware_manager_version")
        .cloned()
        .unwrap_or(Value::Null);
    Some(match step {
        AgentStep::GetSteps(AgentPhase::Deploy) => exec(
            "deploy.get_deploy_steps",
            json!({"node": node_param(node), "ports": []}),
            true,
        ),
        AgentStep::GetSteps(_) => exec(
            "clean.get_clean_steps",
            json!({"node": node_param(node), "ports": []}),
            true,
        ),
        AgentStep::RunNext(_) => return None,
        AgentStep::Execute(AgentPhase::Deploy, s) => exec(
            "deploy.execute_deploy_step",
            json!({"step": s, "node": node_param(node), "ports": [], "deploy_version": hw}),
            false,
        ),
        AgentStep::Execute(_, s) => exec(
            "clean.execute_clean_step",
            json!({"step": s, "node": node_param(node), "ports": [], "clean_version": hw}),
            false,
        ),
        AgentStep::Poll(..) => AgentOp::Status,
        AgentStep::PartitionUuids => exec("standby.get_partition_uuids", json!({}), true),
        AgentStep::InstallBootloader => {
            let p = |k: &str| inband.partitions.get(k).cloned().unwrap_or(Value::Null);
            let mode = node
                .misc
                .get("boot_mode")
                .and_then(Value::as_str)
                .unwrap_or("uefi")
                .to_string();
            exec(
                "image.install_bootloader",
                json!({
                    "root_uuid": p("root uuid"),
                    "efi_system_part_uuid": p("efi system partition uuid"),
                    "prep_boot_part_uuid": p("PReP Boot partition uuid"),
                    "target_boot_mode": mode,
                }),
                true,
            )
        }
        AgentStep::PowerOff => exec("standby.power_off", json!({}), false),
    })
}

/// Ironic's reading of a command's error (`details`, then `message`, then the whole value).
fn command_error(result: &Value) -> String {
    match result.get("command_error") {
        None | Some(Value::Null) => "Invalid agent response".into(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(o)) => o
            .get("details")
            .or_else(|| o.get("message"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| python_repr(&Value::Object(o.clone()))),
        Some(other) => other.to_string(),
    }
}

fn status(result: &Value) -> &str {
    result
        .get("command_status")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// `<interface>.<step>` of a step dictionary.
pub fn step_id(step: &Value) -> String {
    let s = |k: &str| step.get(k).and_then(Value::as_str).unwrap_or_default();
    format!("{}.{}", s("interface"), s("step"))
}

fn step_failed(phase: AgentPhase, uuid: &str, step: &Value, err: &str) -> String {
    let kind = match phase {
        AgentPhase::Deploy => "Deploy",
        AgentPhase::Clean => "Clean",
        AgentPhase::Inspect => "Inspect",
    };
    format!("{kind} step {} failed on node {uuid}. {err}", step_id(step))
}

/// Flattens `{"<phase>_steps": {"<manager>": [steps]}}` into one list.
fn reported_steps(result: &Value, phase: AgentPhase) -> Vec<Value> {
    let key = format!("{}_steps", phase.word());
    result
        .pointer(&format!("/command_result/{key}"))
        .and_then(Value::as_object)
        .map(|m| {
            m.values()
                .filter_map(Value::as_array)
                .flatten()
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

fn priority(step: &Value) -> i64 {
    step.get("priority").and_then(Value::as_i64).unwrap_or(0)
}

/// Chooses the clean steps to run: the requested ones (each must be offered by the agent), or the
/// agent's steps with a positive priority after the conductor's overrides, highest first.
pub fn choose_clean_steps(
    uuid: &str,
    offered: &[Value],
    requested: Option<&[Value]>,
    overrides: &[(&str, Option<i64>)],
) -> Result<Vec<Value>, String> {
    if let Some(req) = requested {
        let mut chosen = Vec::new();
        for r in req {
            let found = offered.iter().find(|o| {
                o.get("interface") == r.get("interface") && o.get("step") == r.get("step")
            });
            let Some(found) = found else {
                return Err(format!(
                    "Cannot clean node {uuid}: node does not support this clean step: {}",
                    python_repr(r)
                ));
            };
            let mut step = found.clone();
            if let (Some(obj), Some(args)) = (step.as_object_mut(), r.get("args")) {
                obj.insert("args".into(), args.clone());
            }
            chosen.push(step);
        }
        return Ok(chosen);
    }
    let mut chosen: Vec<Value> = offered
        .iter()
        .cloned()
        .map(|mut s| {
            let name = s.get("step").and_then(Value::as_str).unwrap_or_default();
            if let Some((_, Some(p))) = overrides.iter().find(|(n, _)| *n == name)
                && let Some(obj) = s.as_object_mut()
            {
                obj.insert("priority".into(), json!(p));
            }
            s
        })
        .filter(|s| priority(s) > 0)
        .collect();
    chosen.sort_by_key(|s| std::cmp::Reverse(priority(s)));
    Ok(chosen)
}

/// Chooses the deploy steps the agent itself runs for `custom-agent` (positive priority, highest first).
pub fn choose_custom_deploy_steps(offered: &[Value]) -> Vec<Value> {
    let mut chosen: Vec<Value> = offered
        .iter()
        .filter(|s| priority(s) > 0)
        .cloned()
        .collect();
    chosen.sort_by_key(|s| std::cmp::Reverse(priority(s)));
    chosen
}

/// Everything `read` needs to know about the job.
pub struct Reading<'a> {
    /// The node's UUID as text.
    pub uuid: &'a str,
    /// The job's in-band memory (updated).
    pub inband: &'a mut InBand,
    /// The node's `write_image` step (direct deploy).
    pub write_image: Value,
    /// Clean-step priority overrides.
    pub overrides: [(&'static str, Option<i64>); 2],
}

/// Reads the agent's answer to an in-band step.
pub fn read(step: &AgentStep, answer: &Value, r: Reading<'_>) -> Verdict {
    match step {
        AgentStep::GetSteps(phase) => {
            if status(answer) == "FAILED" {
                return Verdict::Fail(format!(
                    "Failed to get {} steps from the agent on node {}: {}",
                    phase.word(),
                    r.uuid,
                    command_error(answer)
                ));
            }
            let offered = reported_steps(answer, *phase);
            match phase {
                AgentPhase::Deploy => {
                    if offered.is_empty() {
                        // Ironic keeps asking on every heartbeat until the agent reports steps.
                        return Verdict::AwaitThen(vec![AgentStep::GetSteps(AgentPhase::Deploy)]);
                    }
                    r.inband.queue = if r.inband.custom {
                        choose_custom_deploy_steps(&offered).into()
                    } else {
                        [r.write_image].into()
                    };
                    Verdict::Continue
                }
                _ => match choose_clean_steps(
                    r.uuid,
                    &offered,
                    r.inband.requested.as_deref(),
                    &r.overrides,
                ) {
                    Ok(chosen) => {
                        r.inband.queue = chosen.into();
                        Verdict::Continue
                    }
                    Err(e) => Verdict::Fail(e),
                },
            }
        }
        AgentStep::Execute(phase, s) => {
            if status(answer) == "FAILED" {
                Verdict::Fail(step_failed(*phase, r.uuid, s, &command_error(answer)))
            } else {
                Verdict::Continue
            }
        }
        AgentStep::Poll(phase, s) => {
            let want = match phase {
                AgentPhase::Deploy => "execute_deploy_step",
                _ => "execute_clean_step",
            };
            let last = answer
                .get("commands")
                .and_then(Value::as_array)
                .and_then(|c| c.last());
            match last {
                Some(c) if c.get("command_name").and_then(Value::as_str) == Some(want) => {
                    match status(c) {
                        "SUCCEEDED" => Verdict::Continue,
                        "FAILED" => {
                            Verdict::Fail(step_failed(*phase, r.uuid, s, &command_error(c)))
                        }
                        "RUNNING" => Verdict::AwaitThen(vec![AgentStep::Poll(*phase, s.clone())]),
                        other => Verdict::Fail(format!(
                            "Agent returned unknown status for {} step {} on node {} : {other}.",
                            phase.word(),
                            python_repr(s),
                            r.uuid
                        )),
                    }
                }
                // The step is not the agent's last command yet: wait for the next heartbeat.
                _ => Verdict::AwaitThen(vec![AgentStep::Poll(*phase, s.clone())]),
            }
        }
        AgentStep::PartitionUuids => {
            if let Some(m) = answer.get("command_result").and_then(Value::as_object) {
                r.inband.partitions = m.clone();
            }
            Verdict::Continue
        }
        AgentStep::InstallBootloader => {
            if status(answer) == "FAILED" {
                Verdict::Fail(format!(
                    "Failed to install a bootloader when deploying node {}: {}",
                    r.uuid,
                    command_error(answer)
                ))
            } else {
                Verdict::Continue
            }
        }
        // Ironic forces power off through the BMC whatever the agent answered.
        AgentStep::PowerOff | AgentStep::RunNext(_) => Verdict::Continue,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn automated_cleaning_runs_positive_priorities_highest_first_after_overrides() {
        let offered = vec![
            json!({"interface": "deploy", "step": "erase_devices", "priority": 10}),
            json!({"interface": "deploy", "step": "erase_devices_metadata", "priority": 99}),
            json!({"interface": "deploy", "step": "burnin_cpu", "priority": 0}),
        ];
        let chosen = choose_clean_steps(
            "u",
            &offered,
            None,
            &[
                ("erase_devices", Some(0)),
                ("erase_devices_metadata", Some(10)),
            ],
        )
        .expect("chosen");
        assert_eq!(chosen.len(), 1);
        assert_eq!(step_id(&chosen[0]), "deploy.erase_devices_metadata");
        assert_eq!(chosen[0]["priority"], 10);
        let all = choose_clean_steps("u", &offered, None, &[]).expect("chosen");
        let ids: Vec<String> = all.iter().map(step_id).collect();
        assert_eq!(
            ids,
            ["deploy.erase_devices_metadata", "deploy.erase_devices"]
        );
    }

    #[test]
    fn a_manual_step_the_agent_does_not_offer_is_refused_with_ironics_text() {
        let err = choose_clean_steps(
            "u1",
            &[json!({"interface": "deploy", "step": "erase_devices", "priority": 10})],
            Some(&[json!({"interface": "raid", "step": "delete_configuration"})]),
            &[],
        )
        .expect_err("unsupported");
        assert_eq!(
            err,
            "Cannot clean node u1: node does not support this clean step: {'interface': 'raid', 'step': 'delete_configuration'}"
        );
    }

    #[test]
    fn object_command_errors_read_their_details() {
        assert_eq!(
            command_error(&json!({"command_error": {"message": "m", "details": "d"}})),
            "d"
        );
        assert_eq!(
            command_error(&json!({"command_status": "FAILED"})),
            "Invalid agent response"
        );
    }
}
