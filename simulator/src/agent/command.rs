//! The agent command API's data: requests, results exactly as Ironic parses them, and the errors
//! the API answers with (IPA's `{"faultcode", "faultstring"}` bodies).

use serde::Serialize;
use serde_json::{Map, Value, json};

/// A command's state, spelled as IPA sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Status {
    /// Still executing.
    #[serde(rename = "RUNNING")]
    Running,
    /// Finished successfully.
    #[serde(rename = "SUCCEEDED")]
    Succeeded,
    /// Finished with `command_error` set.
    #[serde(rename = "FAILED")]
    Failed,
    /// The hardware manager version changed since the steps were listed.
    #[serde(rename = "CLEAN_VERSION_MISMATCH")]
    VersionMismatch,
}

/// IPA's serialized error (`type`, `code`, `message`, `details`); Ironic shows `details`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommandError {
    /// IPA's error class, e.g. `ImageChecksumError`.
    #[serde(rename = "type")]
    pub kind: String,
    /// HTTP-like code.
    pub code: u16,
    /// Short message.
    pub message: String,
    /// What went wrong, with identifiers.
    pub details: String,
}

impl CommandError {
    /// An error of class `kind` (code 500).
    pub fn new(kind: &str, message: &str, details: impl Into<String>) -> Self {
        CommandError {
            kind: kind.to_string(),
            code: 500,
            message: message.to_string(),
            details: details.into(),
        }
    }
}

/// One entry of `GET /v1/commands/`: `{id, command_name, command_status, command_error,
/// command_result}` (the name carries no extension prefix, as IPA records it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommandResult {
    /// Unique id (a UUID).
    pub id: String,
    /// Command name without the extension, e.g. `execute_deploy_step`.
    pub command_name: String,
    /// State.
    pub command_status: Status,
    /// Error, when failed.
    pub command_error: Option<CommandError>,
    /// Result, when succeeded (command specific).
    pub command_result: Option<Value>,
}

impl CommandResult {
    /// Whether the command has finished (in any way).
    pub fn is_done(&self) -> bool {
        self.command_status != Status::Running
    }

    /// The JSON object sent on the wire.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or_else(|_| json!({"id": self.id}))
    }
}

/// A parsed `POST /v1/commands/` body: `{"name": "<extension>.<command>", "params": {…}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Extension, e.g. `deploy`.
    pub extension: String,
    /// Command, e.g. `execute_deploy_step`.
    pub command: String,
    /// Parameters.
    pub params: Map<String, Value>,
}

impl Request {
    /// Parses a command body as IPA does: `name` and an object `params` are required, and the name
    /// must be `<extension>.<name>`.
    pub fn parse(body: &Value) -> Result<Request, AgentError> {
        let (Some(name), Some(params)) = (
            body.get("name").and_then(Value::as_str),
            body.get("params").and_then(Value::as_object),
        ) else {
            return Err(AgentError::MalformedBody);
        };
        let Some((extension, command)) = name.split_once('.') else {
            return Err(AgentError::InvalidCommand {
                details: "Command name must be of the form <extension>.<name>".into(),
            });
        };
        Ok(Request {
            extension: extension.to_string(),
            command: command.to_string(),
            params: params.clone(),
        })
    }

    /// Whether IPA runs this command asynchronously (its `async_command`s: the step runners,
    /// `write_image`, `prepare_image`, `run_image`, `power_off`, `install_bootloader`,
    /// `collect_system_logs`); when one finishes, IPA forces a heartbeat
    /// ([`Life::command_finished`](super::life::Life::command_finished)). The step lists,
    /// `get_partition_uuids` and `sync` are synchronous.
    pub fn is_async(&self) -> bool {
        matches!(
            (self.extension.as_str(), self.command.as_str()),
            ("deploy", "execute_deploy_step")
                | ("clean", "execute_clean_step")
                | ("service", "execute_service_step")
                | (
                    "standby",
                    "write_image" | "prepare_image" | "run_image" | "power_off"
                )
                | ("image", "install_bootloader")
                | ("log", "collect_system_logs")
        )
    }

    /// Builds a request (for in-process callers).
    pub fn new(name: &str, params: Value) -> Result<Request, AgentError> {
        Request::parse(&json!({"name": name, "params": params}))
    }
}

/// A refusal at the API level (the command is not recorded), with IPA's status and text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentError {
    /// Missing or wrong `agent_token`.
    #[error("401 Unauthorized: Token invalid.")]
    TokenInvalid,
    /// The body is not `{"name", "params": {}}`.
    #[error("400 Bad Request: Missing or invalid name or params")]
    MalformedBody,
    /// Unknown command or badly formed name.
    #[error("Invalid command: {details}")]
    InvalidCommand {
        /// Why.
        details: String,
    },
    /// Parameters a command cannot take.
    #[error("Invalid command parameters: {details}")]
    InvalidParams {
        /// Why.
        details: String,
    },
    /// No such extension.
    #[error("Not found: Extension with id {name} not found.")]
    UnknownExtension {
        /// The extension.
        name: String,
    },
    /// No command result with this id.
    #[error("Not found: Command Result with id {id} not found.")]
    NoSuchCommand {
        /// The id.
        id: String,
    },
    /// A command is still running.
    #[error("Agent is busy: executing command {running}")]
    Busy {
        /// The running command's name.
        running: String,
    },
}

impl AgentError {
    /// The HTTP status IPA answers with.
    pub fn status(&self) -> u16 {
        match self {
            AgentError::TokenInvalid => 401,
            AgentError::MalformedBody
            | AgentError::InvalidCommand { .. }
            | AgentError::InvalidParams { .. } => 400,
            AgentError::UnknownExtension { .. } | AgentError::NoSuchCommand { .. } => 404,
            AgentError::Busy { .. } => 409,
        }
    }

    /// IPA's error body: `{"faultcode": "Client", "faultstring": "…"}`.
    pub fn body(&self) -> Value {
        json!({"faultcode": "Client", "faultstring": self.to_string()})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_names_need_an_extension_and_params_an_object() {
        assert_eq!(
            Request::parse(&json!({"name": "x"})),
            Err(AgentError::MalformedBody)
        );
        let e = Request::parse(&json!({"name": "x", "params": {}})).unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(e.to_string().contains("<extension>.<name>"));
        let r = Request::parse(&json!({"name": "deploy.get_deploy_steps", "params": {}})).unwrap();
        assert_eq!(
            (r.extension.as_str(), r.command.as_str()),
            ("deploy", "get_deploy_steps")
        );
    }

    #[test]
    fn results_serialize_with_ipa_field_names() {
        let r = CommandResult {
            id: "1".into(),
            command_name: "write_image".into(),
            command_status: Status::Failed,
            command_error: Some(CommandError::new("ImageChecksumError", "m", "d")),
            command_result: None,
        };
        let v = r.to_json();
        assert_eq!(v["command_status"], "FAILED");
        assert_eq!(v["command_error"]["type"], "ImageChecksumError");
        assert_eq!(v["command_error"]["details"], "d");
        assert!(v["command_result"].is_null());
        assert_eq!(
            AgentError::Busy {
                running: "execute_deploy_step".into()
            }
            .body()["faultstring"],
            "Agent is busy: executing command execute_deploy_step"
        );
    }
}
