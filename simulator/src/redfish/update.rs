//! UpdateService (firmware inventory, `SimpleUpdate`) and TaskService: an update creates a task that
//! progresses with simulated time and installs the new version when it completes.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::document::{self, ALLOW_GET, Document};
use super::error::{BASE_REGISTRY, RedfishError};
use super::metadata::types;
use super::service::RedfishState;
use crate::fault::{FaultKind, Verdict};
use crate::machine::{FirmwareComponent, Host, SimTime};

/// At most this many tasks are kept; the oldest finished ones are dropped first.
const MAX_TASKS: usize = 64;

#[derive(Debug, Clone)]
struct SystemFirmware {
    system: String,
    components: Vec<FirmwareComponent>,
}

/// One firmware update in progress or finished.
#[derive(Debug, Clone)]
struct UpdateTask {
    id: u64,
    system: String,
    component: String,
    image: String,
    version: String,
    started: SimTime,
    duration: Duration,
    installed: bool,
    /// A fault makes it end in `Exception` without installing anything.
    fails: bool,
}

impl UpdateTask {
    fn percent(&self, now: SimTime) -> u64 {
        if self.duration.is_zero() {
            return 100;
        }
        let elapsed = now.saturating_since(self.started).as_nanos();
        let total = self.duration.as_nanos().max(1);
        u64::try_from((elapsed.saturating_mul(100) / total).min(100)).unwrap_or(100)
    }

    fn done(&self, now: SimTime) -> bool {
        self.percent(now) >= 100
    }
}

/// The BMC-side firmware inventory of the systems of one service, and its update tasks.
#[derive(Debug)]
pub struct UpdateState {
    firmware: Vec<SystemFirmware>,
    tasks: VecDeque<UpdateTask>,
    next_task: u64,
    duration: Duration,
}

/// The next version after `version`: its last run of digits incremented (`2.1.9` → `2.1.10`).
pub fn next_version(version: &str) -> String {
    let bytes = version.as_bytes();
    let Some(end) = bytes.iter().rposition(u8::is_ascii_digit) else {
        return format!("{version}.1");
    };
    let start = bytes[..end]
        .iter()
        .rposition(|b| !b.is_ascii_digit())
        .map_or(0, |i| i + 1);
    let digits = &version[start..=end];
    let n: u128 = digits.parse().unwrap_or(0);
    format!(
        "{}{:0width$}{}",
        &version[..start],
        n.saturating_add(1),
        &version[end + 1..],
        width = digits.len()
    )
}

impl UpdateState {
    /// Inventory copied from the hosts' hardware profiles; updates take `duration` of simulated time.
    pub fn new(hosts: &[Arc<Host>], duration: Duration) -> Self {
        Self {
            firmware: hosts
                .iter()
                .map(|h| SystemFirmware {
                    system: h.bmc.system_id.clone(),
                    components: h.profile.firmware.clone(),
                })
                .collect(),
            tasks: VecDeque::new(),
            next_task: 1,
            duration,
        }
    }

    /// Installs the versions of tasks finished by `now`.
    pub fn advance(&mut self, now: SimTime) {
        for task in self.tasks.iter_mut().filter(|t| !t.installed) {
            if !task.done(now) {
                continue;
            }
            task.installed = true;
            if task.fails {
                tracing::info!(system = %task.system, component = %task.component, "redfish firmware update failed (injected fault)");
                continue;
            }
            if let Some(c) = self
                .firmware
                .iter_mut()
                .find(|f| f.system == task.system)
                .and_then(|f| f.components.iter_mut().find(|c| c.id == task.component))
            {
                c.version = task.version.clone();
                tracing::info!(system = %task.system, component = %task.component, version = %task.version, "redfish firmware update installed");
            }
        }
    }

    /// The installed version of `component` on `system`.
    pub fn version_of(&mut self, system: &str, component: &str, now: SimTime) -> Option<String> {
        self.advance(now);
        self.firmware
            .iter()
            .find(|f| f.system == system)?
            .components
            .iter()
            .find(|c| c.id == component)
            .map(|c| c.version.clone())
    }

    fn single(&self) -> bool {
        self.firmware.len() == 1
    }

    /// The inventory id of a component: its own id with one system, `<system>-<id>` with several.
    fn inventory_id(&self, system: &str, component: &str) -> String {
        if self.single() {
            component.to_string()
        } else {
            format!("{system}-{component}")
        }
    }

    fn inventory_ids(&self) -> Vec<String> {
        self.firmware
            .iter()
            .flat_map(|f| {
                f.components
                    .iter()
                    .map(|c| self.inventory_id(&f.system, &c.id))
            })
            .collect()
    }

    fn find(&self, inventory_id: &str) -> Option<(&str, &FirmwareComponent)> {
        self.firmware.iter().find_map(|f| {
            f.components
                .iter()
                .find(|c| self.inventory_id(&f.system, &c.id) == inventory_id)
                .map(|c| (f.system.as_str(), c))
        })
    }

    /// Starts an update of `component` on `system` from `image`; returns the task id. A task
    /// that `fails` runs its course and ends in `Exception` with nothing installed.
    fn start(
        &mut self,
        system: &str,
        component: &str,
        image: &str,
        now: SimTime,
        fails: bool,
    ) -> Result<u64, RedfishError> {
        self.advance(now);
        let current = self
            .firmware
            .iter()
            .find(|f| f.system == system)
            .and_then(|f| f.components.iter().find(|c| c.id == component))
            .ok_or_else(|| RedfishError::ActionParameterValueNotInList {
                action: "UpdateService.SimpleUpdate".into(),
                parameter: "Targets".into(),
                value: format!("{system}/{component}"),
            })?;
        if !current.updateable {
            return Err(RedfishError::ActionNotPossible {
                action: "UpdateService.SimpleUpdate".into(),
                reason: format!("firmware component {component} is not updateable"),
            });
        }
        if self
            .tasks
            .iter()
            .any(|t| !t.installed && t.system == system && t.component == component)
        {
            return Err(RedfishError::Conflict {
                reason: format!("an update of {component} is already running"),
            });
        }
        let id = self.next_task;
        self.next_task += 1;
        let version = next_version(&current.version);
        if self.tasks.len() >= MAX_TASKS
            && let Some(pos) = self.tasks.iter().position(|t| t.installed)
        {
            self.tasks.remove(pos);
        }
        self.tasks.push_back(UpdateTask {
            id,
            system: system.to_string(),
            component: component.to_string(),
            image: image.to_string(),
            version,
            started: now,
            duration: self.duration,
            installed: false,
            fails,
        });
        Ok(id)
    }

    fn task_body(&mut self, id: u64, now: SimTime) -> Option<(Value, bool)> {
        self.advance(now);
        let t = self.tasks.iter().find(|t| t.id == id)?;
        let done = t.done(now);
        let failed = done && t.fails;
        let messages = if failed {
            json!([{
                "MessageId": format!("{BASE_REGISTRY}.GeneralError"),
                "Message": format!(
                    "The firmware image {} was refused by component {}: it failed verification.",
                    t.image, t.component
                ),
                "MessageArgs": [],
                "MessageSeverity": "Critical",
                "Resolution": "Check the image and resubmit the update.",
            }])
        } else {
            json!([])
        };
        let body = json!({
            "@odata.id": format!("/redfish/v1/TaskService/Tasks/{id}"),
            "@odata.type": types::TASK,
            "Id": id.to_string(),
            "Name": format!("Update {} of system {}", t.component, t.system),
            "Description": format!("SimpleUpdate from {}", t.image),
            "TaskState": if failed { "Exception" } else if done { "Completed" } else { "Running" },
            "TaskStatus": if failed { "Critical" } else { "OK" },
            "PercentComplete": t.percent(now),
            "TaskMonitor": format!("/redfish/v1/TaskService/TaskMonitors/{id}"),
            "Messages": messages,
        });
        Some((body, done))
    }
}

/// `GET /redfish/v1/UpdateService`.
pub async fn get_service() -> Document {
    Document::ok(
        json!({
            "@odata.id": "/redfish/v1/UpdateService",
            "@odata.type": types::UPDATE_SERVICE,
            "Id": "UpdateService",
            "Name": "Update Service",
            "ServiceEnabled": true,
            "Status": {"State": "Enabled", "Health": "OK"},
            "FirmwareInventory": {"@odata.id": "/redfish/v1/UpdateService/FirmwareInventory"},
            "MultipartHttpPushUri": super::push::PUSH_URI,
            "Actions": {
                "#UpdateService.SimpleUpdate": {
                    "target": "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate",
                    "TransferProtocol@Redfish.AllowableValues": ["HTTP", "HTTPS"],
                }
            },
        }),
        ALLOW_GET,
    )
}

/// `GET /redfish/v1/UpdateService/FirmwareInventory`.
pub async fn inventory(State(state): State<RedfishState>) -> Document {
    let now = state.now();
    let mut updates = state.updates();
    updates.advance(now);
    let members: Vec<Value> = updates
        .inventory_ids()
        .into_iter()
        .map(|id| json!({"@odata.id": format!("/redfish/v1/UpdateService/FirmwareInventory/{id}")}))
        .collect();
    Document::ok(
        json!({
            "@odata.id": "/redfish/v1/UpdateService/FirmwareInventory",
            "@odata.type": types::SOFTWARE_INVENTORY_COLLECTION,
            "Name": "Firmware Inventory Collection",
            "Members@odata.count": members.len(),
            "Members": members,
        }),
        ALLOW_GET,
    )
}

/// `GET /redfish/v1/UpdateService/FirmwareInventory/{id}`.
pub async fn inventory_item(
    State(state): State<RedfishState>,
    Path(id): Path<String>,
) -> Result<Document, RedfishError> {
    let now = state.now();
    let mut updates = state.updates();
    updates.advance(now);
    let (system, c) = updates.find(&id).ok_or_else(|| RedfishError::NotFound {
        uri: format!("/redfish/v1/UpdateService/FirmwareInventory/{id}"),
    })?;
    Ok(Document::ok(
        json!({
            "@odata.id": format!("/redfish/v1/UpdateService/FirmwareInventory/{id}"),
            "@odata.type": types::SOFTWARE_INVENTORY,
            "Id": id,
            "Name": c.name,
            "Version": c.version,
            "Updateable": c.updateable,
            "Status": {"State": "Enabled", "Health": "OK"},
            "RelatedItem": [{"@odata.id": format!("/redfish/v1/Systems/{system}")}],
            "RelatedItem@odata.count": 1,
        }),
        ALLOW_GET,
    ))
}

/// Resolves one `Targets` entry to (system, component).
fn resolve_target(
    state: &RedfishState,
    updates: &UpdateState,
    target: &str,
) -> Option<(String, String)> {
    let target = target.trim_end_matches('/');
    if let Some(inv) = target.strip_prefix("/redfish/v1/UpdateService/FirmwareInventory/") {
        return updates
            .find(inv)
            .map(|(s, c)| (s.to_string(), c.id.clone()));
    }
    if let Some(system) = target.strip_prefix("/redfish/v1/Systems/") {
        return state
            .host(system)
            .map(|h| (h.bmc.system_id.clone(), "BIOS".into()));
    }
    if let Some(manager) = target.strip_prefix("/redfish/v1/Managers/") {
        return state
            .host(manager)
            .map(|h| (h.bmc.system_id.clone(), "BMC".into()));
    }
    None
}

/// Refuses an image the simulator would not fetch: not an absolute http(s) URL, or a host off
/// loopback (the egress rule with no extra network: the simulator never reaches off the machine).
fn check_image_uri(image: &str) -> Result<(), RedfishError> {
    let refuse = |reason: String| RedfishError::ActionParameterValueError {
        action: "UpdateService.SimpleUpdate".into(),
        parameter: "ImageURI".into(),
        reason,
    };
    let url =
        url::Url::parse(image).map_err(|e| refuse(format!("{image:?} is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(refuse(format!(
            "scheme {:?} is not http or https",
            url.scheme()
        )));
    }
    let host = url
        .host()
        .ok_or_else(|| refuse(format!("{image:?} names no host")))?;
    crate::egress::admit_host(&host, &[])
        .map(|_| ())
        .map_err(|refusal| {
            refuse(format!(
                "{refusal}; images are fetched from loopback (127.0.0.0/8, ::1) only"
            ))
        })
}

/// `POST /redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate`: 202 with the task monitor.
pub async fn simple_update(
    State(state): State<RedfishState>,
    caller: Option<axum::Extension<super::session::Caller>>,
    body: Bytes,
) -> Result<Response, RedfishError> {
    let caller = caller.map(|c| c.0.0);
    const ACTION: &str = "UpdateService.SimpleUpdate";
    let request = document::parse_object(&body)?;
    let image = match request.get("ImageURI") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => {
            return Err(RedfishError::PropertyValueTypeError {
                property: "ImageURI".into(),
                value: other.to_string(),
            });
        }
        None => {
            return Err(RedfishError::ActionParameterMissing {
                action: ACTION.into(),
                parameter: "ImageURI".into(),
            });
        }
    };
    check_image_uri(&image)?;
    let targets = read_targets(request.get("Targets"))?;
    start_update(&state, caller, ACTION, &targets, &image)
}

/// Reads a `Targets` array of URIs (absent or null = none).
pub(super) fn read_targets(value: Option<&Value>) -> Result<Vec<String>, RedfishError> {
    Ok(match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or_else(|| RedfishError::PropertyValueTypeError {
                property: "Targets".into(),
                value: Value::Array(items.clone()).to_string(),
            })?,
        Some(other) => {
            return Err(RedfishError::PropertyValueTypeError {
                property: "Targets".into(),
                value: other.to_string(),
            });
        }
    })
}

/// Starts the update of the one component `targets` names (or the BIOS of the only system) from
/// `image`, for `caller`, answering 202 with the task monitor. A fault may make the task fail.
pub(super) fn start_update(
    state: &RedfishState,
    caller: Option<usize>,
    action: &str,
    targets: &[String],
    image: &str,
) -> Result<Response, RedfishError> {
    let now = state.now();
    let mut updates = state.updates();
    let (system, component) = match targets {
        [] if updates.single() => {
            let system = state
                .system_ids()
                .find(|id| caller.is_some_and(|c| super::session::may_manage(state, c, id)))
                .map(str::to_string)
                .ok_or_else(|| RedfishError::Internal {
                    reason: "service without systems".into(),
                })?;
            (system, "BIOS".to_string())
        }
        [] => {
            return Err(RedfishError::ActionParameterMissing {
                action: action.into(),
                parameter: "Targets".into(),
            });
        }
        [one] => resolve_target(state, &updates, one).ok_or_else(|| {
            RedfishError::ActionParameterValueNotInList {
                action: action.into(),
                parameter: "Targets".into(),
                value: one.clone(),
            }
        })?,
        _ => {
            return Err(RedfishError::ActionNotPossible {
                action: action.into(),
                reason: "one target per update".into(),
            });
        }
    };
    // An update is an action on the system: only its own login may start one (single-address
    // layouts front several hosts with different logins on one service).
    if !caller.is_some_and(|c| super::session::may_manage(state, c, &system)) {
        tracing::info!(system = %system, "redfish update refused: account is not this system's login");
        return Err(RedfishError::Forbidden);
    }
    let fails = state
        .host(&system)
        .is_some_and(|h| h.fault_verdict(FaultKind::FirmwareUpdate, now) == Verdict::FailTask);
    let id = updates.start(&system, &component, image, now, fails)?;
    let (task, _) = updates
        .task_body(id, now)
        .ok_or_else(|| RedfishError::Internal {
            reason: format!("task {id} vanished"),
        })?;
    drop(updates);
    tracing::info!(system = %system, component = %component, task = id, "redfish firmware update started");
    Ok(
        Document::accepted(task, format!("/redfish/v1/TaskService/TaskMonitors/{id}"))
            .into_response(),
    )
}

/// `GET /redfish/v1/TaskService`.
pub async fn get_task_service() -> Document {
    Document::ok(
        json!({
            "@odata.id": "/redfish/v1/TaskService",
            "@odata.type": types::TASK_SERVICE,
            "Id": "TaskService",
            "Name": "Task Service",
            "ServiceEnabled": true,
            "CompletedTaskOverWritePolicy": "Oldest",
            "LifeCycleEventOnTaskStateChange": false,
            "Status": {"State": "Enabled", "Health": "OK"},
            "Tasks": {"@odata.id": "/redfish/v1/TaskService/Tasks"},
        }),
        ALLOW_GET,
    )
}

/// `GET /redfish/v1/TaskService/Tasks`.
pub async fn tasks(State(state): State<RedfishState>) -> Document {
    let now = state.now();
    let mut updates = state.updates();
    updates.advance(now);
    let members: Vec<Value> = updates
        .tasks
        .iter()
        .map(|t| json!({"@odata.id": format!("/redfish/v1/TaskService/Tasks/{}", t.id)}))
        .collect();
    Document::ok(
        json!({
            "@odata.id": "/redfish/v1/TaskService/Tasks",
            "@odata.type": types::TASK_COLLECTION,
            "Name": "Task Collection",
            "Members@odata.count": members.len(),
            "Members": members,
        }),
        ALLOW_GET,
    )
}

fn task_lookup(state: &RedfishState, id: &str, uri: String) -> Result<(Value, bool), RedfishError> {
    let n: u64 = id
        .parse()
        .map_err(|_| RedfishError::NotFound { uri: uri.clone() })?;
    let now = state.now();
    state
        .updates()
        .task_body(n, now)
        .ok_or(RedfishError::NotFound { uri })
}

/// `GET /redfish/v1/TaskService/Tasks/{id}`.
pub async fn task(
    State(state): State<RedfishState>,
    Path(id): Path<String>,
) -> Result<Document, RedfishError> {
    let (body, _) = task_lookup(&state, &id, format!("/redfish/v1/TaskService/Tasks/{id}"))?;
    Ok(Document::ok(body, ALLOW_GET))
}

/// `GET /redfish/v1/TaskService/TaskMonitors/{id}`: 202 while running, 200 with the task when done.
pub async fn task_monitor(
    State(state): State<RedfishState>,
    Path(id): Path<String>,
) -> Result<Response, RedfishError> {
    let uri = format!("/redfish/v1/TaskService/TaskMonitors/{id}");
    let (body, done) = task_lookup(&state, &id, uri.clone())?;
    if done {
        Ok(Document::ok(body, ALLOW_GET).into_response())
    } else {
        let mut response = Document::accepted(body, uri).into_response();
        *response.status_mut() = StatusCode::ACCEPTED;
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_uris_off_loopback_or_not_http_are_refused() {
        for ok in [
            "http://127.0.0.1:8080/bios.bin",
            "https://127.5.6.7/fw.bin",
            "http://localhost/fw.bin",
            "http://[::1]:80/fw.bin",
        ] {
            assert_eq!(check_image_uri(ok), Ok(()), "{ok}");
        }
        for bad in [
            "http://10.0.0.1/fw.bin",
            "https://firmware.example.com/fw.bin",
            "ftp://127.0.0.1/fw.bin",
            "file:///tmp/fw.bin",
            "not a url",
            "http://128.0.0.1/fw.bin",
        ] {
            let e = check_image_uri(bad).unwrap_err();
            assert!(
                matches!(&e, RedfishError::ActionParameterValueError { parameter, .. } if parameter == "ImageURI"),
                "{bad}: {e:?}"
            );
        }
    }

    #[test]
    fn next_version_increments_the_last_number() {
        assert_eq!(next_version("2.1.9"), "2.1.10");
        assert_eq!(
            next_version("U46 v1.20 (2025-01-01)"),
            "U46 v1.20 (2025-01-02)"
        );
        assert_eq!(next_version("A07"), "A08");
        assert_eq!(next_version("beta"), "beta.1");
    }
}
