//! The agent client: sends the conductor's agent commands to ironic-python-agent's `/v1/commands/` API
//! (or any agent speaking it) at the `callback_url` the agent heartbeated with.

use crate::ironic::conductor::{AgentCall, AgentOp, CallResult};
use serde_json::{Value, json};
use std::time::Duration;

/// Ironic's `[agent] command_timeout` (seconds) bounds every agent request.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// Largest agent answer read (a command list with a big inventory stays far below).
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// True when the URL's host is a loopback address (the simulator never calls anything else, whatever
/// BMC networks are allowed).
fn loopback(url: &reqwest::Url) -> bool {
    url.host()
        .is_some_and(|h| crate::egress::admit_host(&h, &[]).is_ok())
}

/// Builds the request URL: `<callback_url>/v1/commands/` with `wait` and `agent_token`.
fn command_url(call: &AgentCall) -> Result<reqwest::Url, String> {
    let base = call.callback_url.trim_end_matches('/');
    let mut url = reqwest::Url::parse(&format!("{base}/v1/commands/")).map_err(|e| {
        format!(
            "Connection to agent failed: invalid agent URL {} for node {}: {e}",
            call.callback_url, call.node
        )
    })?;
    if !loopback(&url) {
        return Err(format!(
            "Connection to agent failed: the simulator only calls agents on loopback addresses, not {} (node {})",
            call.callback_url, call.node
        ));
    }
    {
        let mut q = url.query_pairs_mut();
        if let AgentOp::Execute { wait, .. } = &call.op {
            q.append_pair("wait", if *wait { "true" } else { "false" });
        }
        if let Some(t) = &call.token {
            q.append_pair("agent_token", t);
        }
    }
    Ok(url)
}

/// Performs one agent call; the error string is what lands in `last_error`.
pub async fn perform(http: &reqwest::Client, call: &AgentCall) -> Result<CallResult, String> {
    let url = command_url(call)?;
    let node = call.node;
    let (req, what) = match &call.op {
        AgentOp::Execute { name, params, .. } => (
            http.post(url)
                .json(&json!({"name": name, "params": params})),
            format!("for invoking command {name}"),
        ),
        AgentOp::Status => (http.get(url), "to collect commands status".to_string()),
    };
    let method = call.op.name().unwrap_or("get_commands_status").to_string();
    let resp = req.timeout(COMMAND_TIMEOUT).send().await.map_err(|e| {
        if e.is_connect() || e.is_timeout() {
            format!(
                "Connection to agent failed: Failed to connect to the agent running on node {node} {what}. Error: {e}"
            )
        } else {
            format!("Error invoking agent command {method} for node {node}. Error: {e}")
        }
    })?;
    let status = resp.status();
    let bytes = resp.bytes().await.map_err(|e| {
        format!("Error invoking agent command {method} for node {node}. Error: {e}")
    })?;
    if bytes.len() > MAX_ANSWER_BYTES {
        return Err(format!(
            "Agent command {method} for node {node} answered {} bytes (more than {MAX_ANSWER_BYTES})",
            bytes.len()
        ));
    }
    let body: Value = serde_json::from_slice(&bytes).map_err(|_| {
        format!(
            "Unable to decode response as JSON. Response status code: {}. Response: \"{}\"",
            status.as_u16(),
            String::from_utf8_lossy(&bytes)
        )
    })?;
    if status.as_u16() >= 400 {
        let fault = body
            .get("faultstring")
            .and_then(Value::as_str)
            .unwrap_or_default();
        return Err(format!(
            "Agent command {method} for node {node} failed. Expected 2xx HTTP status code, got {}. {fault}",
            status.as_u16()
        ));
    }
    Ok(CallResult::Agent(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn call(url: &str, op: AgentOp) -> AgentCall {
        AgentCall {
            id: 1,
            node: Uuid::nil(),
            callback_url: url.into(),
            token: Some("t0k".into()),
            op,
        }
    }

    #[test]
    fn commands_carry_wait_and_the_agent_token() {
        let op = AgentOp::Execute {
            name: "deploy.get_deploy_steps".into(),
            params: json!({}),
            wait: true,
        };
        let url = command_url(&call("http://127.0.0.1:9999/", op)).expect("url");
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:9999/v1/commands/?wait=true&agent_token=t0k"
        );
        let url = command_url(&call("http://127.0.0.1:9999", AgentOp::Status)).expect("url");
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:9999/v1/commands/?agent_token=t0k"
        );
    }

    #[test]
    fn agents_off_loopback_are_never_called() {
        let err =
            command_url(&call("http://192.0.2.1:9999", AgentOp::Status)).expect_err("refused");
        assert!(err.contains("loopback"), "{err}");
    }
}
