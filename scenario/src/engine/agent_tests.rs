//! The engine's agent driver: wakes, forced heartbeats and a powering-off machine.

use super::super::simulation::{Engine, EngineSettings};
use crate::trace::Happening;
use metal_sim::fleet::Fleet;
use metal_sim::ironic::conductor::{AgentCall, AgentOp};
use metal_sim::machine::{PowerState, SimTime};

/// An engine whose one host has booted the ramdisk and whose agent, bound to its node (it has
/// its token), has a call to make.
fn with_a_live_agent() -> Engine {
    let fleet = Fleet::parse("groups:\n  - name: h-0\n", "t.yaml").expect("fleet");
    let mut e = Engine::new(&fleet, 7, EngineSettings::default());
    e.register_fleet(&fleet).expect("register");
    e.advance_until(
        |e| {
            e.machines[0].machine.power() == PowerState::On
                && e.machines[0]
                    .agent
                    .as_ref()
                    .is_some_and(|a| a.next.is_some() && a.core.binding().is_some())
        },
        SimTime::from_secs(1800),
    )
    .expect("an agent runs");
    e
}

fn agent_calls(e: &Engine) -> Vec<Happening> {
    e.trace()
        .iter()
        .filter(|l| matches!(&l.what, Happening::Call { target, .. } if target == "agent"))
        .map(|l| l.what.clone())
        .collect()
}

/// The conductor has the agent of host 0 run command `name` (no parameters, no wait).
fn execute(e: &mut Engine, id: u64, name: &str) {
    let agent = e.machines[0].agent.as_ref().expect("agent");
    let call = AgentCall {
        id,
        node: uuid::Uuid::nil(),
        callback_url: agent.callback_url.clone(),
        token: Some(agent.core.binding().expect("bound").token.clone()),
        op: AgentOp::Execute {
            name: name.into(),
            params: serde_json::json!({}),
            wait: false,
        },
    };
    e.agent_call(uuid::Uuid::nil(), &call);
}

#[test]
fn a_finished_async_command_brings_the_next_heartbeat_forward() {
    use metal_sim::agent::life::{Answer, Call, HeartbeatAnswer};
    use std::time::Duration;
    let mut e = with_a_live_agent();
    let gap = EngineSettings::default().agent.life.forced_gap;
    let now = e.now();
    // The agent has just heartbeaten, and its next beat is planned 8 s later.
    let planned = now + Duration::from_secs(8);
    let agent = e.machines[0].agent.as_mut().expect("agent");
    while agent.life.stage() != metal_sim::agent::life::Stage::Heartbeat {
        let answer = match agent.next.expect("a call to make") {
            Call::Negotiate => Answer::Negotiate(metal_sim::agent::life::Negotiation::Agreed),
            Call::Lookup => Answer::Lookup(metal_sim::agent::life::LookupAnswer::Found),
            Call::Inspect => {
                Answer::Inspect(metal_sim::agent::life::InspectionAnswer::NotInspecting)
            }
            Call::Heartbeat => break,
        };
        agent.next = match agent.life.answer(answer, now.saturating_since(agent.born)) {
            metal_sim::agent::life::Next::Now(c) | metal_sim::agent::life::Next::After(_, c) => {
                Some(c)
            }
            metal_sim::agent::life::Next::Stop(end) => panic!("life ended: {end:?}"),
        };
    }
    agent.life.answer(
        Answer::Heartbeat(HeartbeatAnswer::Accepted),
        now.saturating_since(agent.born),
    );
    agent.next = Some(Call::Heartbeat);
    agent.due = planned;
    // The conductor runs an asynchronous command, which finishes at once: the next beat
    // comes `gap` after the last one instead of at the planned instant.
    execute(&mut e, 1, "log.collect_system_logs");
    assert_eq!(e.machines[0].agent.as_ref().expect("agent").due, now + gap);
    // A synchronous command forces nothing.
    let agent = e.machines[0].agent.as_mut().expect("agent");
    agent.due = planned;
    execute(&mut e, 2, "standby.sync");
    assert_eq!(e.machines[0].agent.as_ref().expect("agent").due, planned);
}

#[test]
fn an_agent_whose_machine_is_powering_off_neither_wakes_nor_answers_the_conductor() {
    let mut e = with_a_live_agent();
    let (boot, callback_url, token) = e.machines[0]
        .agent
        .as_ref()
        .and_then(|a| {
            Some((
                a.boot,
                a.callback_url.clone(),
                a.core.binding()?.token.clone(),
            ))
        })
        .expect("agent");
    let status = |id| AgentCall {
        id,
        node: uuid::Uuid::nil(),
        callback_url: callback_url.clone(),
        token: Some(token.clone()),
        op: AgentOp::Status,
    };
    // While the machine is on, the conductor's call reaches the agent.
    e.agent_call(uuid::Uuid::nil(), &status(1));
    let answered = agent_calls(&e).pop();
    assert!(
        matches!(
            &answered,
            Some(Happening::Call {
                status: Some(200),
                ..
            })
        ),
        "{answered:?}"
    );

    let now = e.now();
    e.machines[0].machine.force_off(now).expect("power off");
    assert_eq!(e.machines[0].machine.power(), PowerState::PoweringOff);
    let calls = agent_calls(&e).len();
    let next = e.machines[0].agent.as_ref().and_then(|a| a.next);
    // Its own wake-up: no request, and its next call still pending (it dies with the machine).
    e.agent_wake(0, boot);
    assert_eq!(
        agent_calls(&e).len(),
        calls,
        "the agent made a call while powering off"
    );
    assert_eq!(e.machines[0].agent.as_ref().and_then(|a| a.next), next);
    // The conductor's call finds no agent.
    e.agent_call(uuid::Uuid::nil(), &status(2));
    let refused = agent_calls(&e).pop();
    assert!(
        matches!(&refused, Some(Happening::Call { status: None, detail: Some(d), .. }) if d.starts_with("error")),
        "{refused:?}"
    );
}
