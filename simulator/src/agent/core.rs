//! The pure agent: one [`Agent`] per booted ramdisk. It holds the node binding (uuid + token from
//! the lookup) and the ordered command results, and executes IPA commands against the machine
//! model. No I/O: image bytes come in through [`Agent::finish_image`] (or an [`ImageStore`]).

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value, json};

use super::command::{AgentError, CommandError, CommandResult, Request, Status};
use super::image::{self, Expected, ImageError, ImageInfo};
use crate::machine::{HardwareProfile, Machine, SimTime};

/// The `agent_version` the fake agent reports in heartbeats.
pub const AGENT_VERSION: &str = "11.3.0";
/// Hardware manager name (as IPA's generic manager).
pub const HARDWARE_MANAGER: &str = "generic_hardware_manager";
/// Hardware manager version.
pub const HARDWARE_MANAGER_VERSION: &str = "1.2";
/// Steps are listed under this manager class name.
const MANAGER_CLASS: &str = "GenericHardwareManager";
/// IPA picks the smallest disk at least this big when no root device hint is given.
const MIN_ROOT_BYTES: u64 = 4 << 30;

/// What the lookup told the agent.
#[derive(Clone, PartialEq, Eq)]
pub struct Binding {
    /// The node's UUID.
    pub node_uuid: String,
    /// The agent token Ironic expects on every command.
    pub token: String,
    /// Whether Ironic allows MD5 image checksums (`agent_md5_checksum_enable`).
    pub md5_allowed: bool,
}

impl std::fmt::Debug for Binding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Binding")
            .field("node_uuid", &self.node_uuid)
            .field("token", &"<redacted>")
            .field("md5_allowed", &self.md5_allowed)
            .finish()
    }
}

/// Downloads still needed to finish a `write_image` (done by the shell, then
/// [`Agent::finish_image`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFetch {
    /// The running command.
    pub command_id: String,
    /// Image URLs, to try in order.
    pub urls: Vec<String>,
    /// A checksum file to fetch first, when the checksum is given as a URL.
    pub checksum_url: Option<String>,
}

/// What the shell downloaded for an [`ImageFetch`].
#[derive(Debug, Clone, Copy)]
pub struct Downloaded<'a> {
    /// The URL the image bytes came from.
    pub url: &'a str,
    /// The image.
    pub bytes: &'a [u8],
    /// The checksum file's text, when one was asked for.
    pub checksum_text: Option<&'a str>,
}

/// In-process image source (for the discrete-event engine): URL → bytes.
pub trait ImageStore {
    /// The bytes at `url`, or why not.
    fn fetch(&self, url: &str) -> Result<Vec<u8>, String>;
}

/// What the agent recorded about the image it wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Disk index (into the profile's disks).
    pub disk: usize,
    /// Device name.
    pub device: String,
    /// Image URL.
    pub url: String,
    /// Verified checksum `algo:hex`.
    pub checksum: String,
    /// Configdrive given with the image (length of the string Ironic sent), if any.
    pub configdrive_len: Option<usize>,
    /// The "disk identifier" reported as `root uuid`.
    pub root_uuid: String,
}

#[derive(Debug, Clone)]
struct PendingWrite {
    command_id: String,
    step: Value,
    step_type: &'static str,
    info: ImageInfo,
    disk: usize,
    configdrive_len: Option<usize>,
}

/// One fake ironic-python-agent.
#[derive(Debug)]
pub struct Agent {
    hostname: String,
    profile: HardwareProfile,
    rng: ChaCha8Rng,
    binding: Option<Binding>,
    commands: Vec<CommandResult>,
    pending: Option<PendingWrite>,
    written: Option<Written>,
}

fn versions() -> Value {
    json!({ HARDWARE_MANAGER: HARDWARE_MANAGER_VERSION })
}

fn step(name: &str, priority: u32, interface: &str) -> Value {
    json!({"step": name, "priority": priority, "interface": interface,
           "reboot_requested": false, "abortable": true})
}

/// The deploy steps advertised (IPA's generic manager: in-band `write_image` is reached through
/// Ironic's out-of-band step of the same name, hence priority 0).
pub fn deploy_steps() -> Vec<Value> {
    let mut w = step("write_image", 0, "deploy");
    if let Some(o) = w.as_object_mut() {
        o.remove("abortable");
    }
    vec![step("erase_devices_metadata", 0, "deploy"), w]
}

/// The clean steps advertised: `erase_devices_metadata` (99) and `erase_devices` (10) run during
/// automated cleaning; the others only when asked for.
pub fn clean_steps() -> Vec<Value> {
    vec![
        step("erase_devices", 10, "deploy"),
        step("erase_devices_metadata", 99, "deploy"),
        step("erase_devices_express", 0, "deploy"),
        step("erase_pstore", 0, "deploy"),
    ]
}

/// Picks the root disk as IPA does: the first disk matching every root device hint
/// (`name`, `serial`, `wwn`, `model`, `vendor`, `hctl`, `rotational`, `size` in GiB, possibly
/// with an operator such as `">= 100"`), or without hints the smallest disk of at least 4 GiB.
pub fn root_disk_index(profile: &HardwareProfile, hints: Option<&Value>) -> Result<usize, String> {
    let hints = hints.and_then(Value::as_object).filter(|h| !h.is_empty());
    let Some(hints) = hints else {
        return profile
            .disks
            .iter()
            .enumerate()
            .filter(|(_, d)| d.size_bytes >= MIN_ROOT_BYTES)
            .min_by_key(|(i, d)| (d.size_bytes, *i))
            .map(|(i, _)| i)
            .ok_or_else(|| "No suitable device was found for deployment".to_string());
    };
    let matches = |d: &crate::machine::Disk| {
        hints.iter().all(|(k, v)| {
            let text = v
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string());
            let strip = |s: &str| s.trim_start_matches("s== ").trim().to_string();
            match k.as_str() {
                "name" => {
                    let want = strip(&text);
                    d.name == want || d.name.trim_start_matches("/dev/") == want
                }
                "serial" => d.serial.eq_ignore_ascii_case(&strip(&text)),
                "wwn" | "wwn_with_extension" => d.wwn.eq_ignore_ascii_case(&strip(&text)),
                "model" => d.model == strip(&text),
                "vendor" => d.vendor == strip(&text),
                "hctl" => d.hctl == strip(&text),
                "rotational" => match v {
                    Value::Bool(b) => d.rotational == *b,
                    _ => matches!(
                        (text.to_ascii_lowercase().as_str(), d.rotational),
                        ("true" | "1" | "yes", true) | ("false" | "0" | "no", false)
                    ),
                },
                "size" => size_matches(&text, d.size_bytes >> 30),
                // Hints we do not model (by_path, tran, …) do not exclude a disk.
                _ => true,
            }
        })
    };
    profile
        .disks
        .iter()
        .position(matches)
        .ok_or_else(|| format!("No device found that matches the root device hints {hints:?}"))
}

fn size_matches(hint: &str, gib: u64) -> bool {
    let h = hint.trim();
    let (op, num) = ["<=", ">=", "==", "<", ">"]
        .iter()
        .find_map(|op| h.strip_prefix(op).map(|rest| (*op, rest.trim())))
        .unwrap_or(("==", h));
    let Ok(n) = num.parse::<u64>() else {
        return false;
    };
    match op {
        "<=" => gib <= n,
        ">=" => gib >= n,
        "<" => gib < n,
        ">" => gib > n,
        _ => gib == n,
    }
}

fn failed(kind: &str, message: &str, details: impl Into<String>) -> CommandError {
    CommandError::new(kind, message, details)
}

impl Agent {
    /// A freshly booted agent on the machine named `hostname` with hardware `profile`; `rng` is
    /// its own seeded stream (command ids, disk identifiers).
    pub fn new(hostname: &str, profile: HardwareProfile, rng: ChaCha8Rng) -> Agent {
        Agent {
            hostname: hostname.to_string(),
            profile,
            rng,
            binding: None,
            commands: Vec::new(),
            pending: None,
            written: None,
        }
    }

    /// The host name the agent reports.
    pub fn hostname(&self) -> &str {
        &self.hostname
    }

    /// The hardware it runs on.
    pub fn profile(&self) -> &HardwareProfile {
        &self.profile
    }

    /// Records the node found by the lookup. A later lookup that hands out no new token
    /// (Ironic masks it as `******`) keeps the known one.
    pub fn bind(&mut self, binding: Binding) {
        match &mut self.binding {
            Some(b) if binding.token.trim_matches('*').is_empty() => {
                b.node_uuid = binding.node_uuid;
                b.md5_allowed = binding.md5_allowed;
            }
            _ => self.binding = Some(binding),
        }
    }

    /// The node binding, once looked up.
    pub fn binding(&self) -> Option<&Binding> {
        self.binding.as_ref()
    }

    /// Checks the `agent_token` a caller presented. Without a binding nothing is accepted.
    pub fn authorize(&self, token: Option<&str>) -> Result<(), AgentError> {
        let expected = self.binding.as_ref().map(|b| b.token.as_bytes());
        match (expected, token.map(str::as_bytes)) {
            (Some(e), Some(t))
                if e.len() == t.len()
                    && e.iter().zip(t).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0 =>
            {
                Ok(())
            }
            _ => Err(AgentError::TokenInvalid),
        }
    }

    /// Every command result, oldest first.
    pub fn commands(&self) -> &[CommandResult] {
        &self.commands
    }

    /// One command result by id.
    pub fn command(&self, id: &str) -> Result<&CommandResult, AgentError> {
        self.commands
            .iter()
            .find(|c| c.id == id)
            .ok_or_else(|| AgentError::NoSuchCommand { id: id.to_string() })
    }

    /// The image this agent wrote, if any.
    pub fn written(&self) -> Option<&Written> {
        self.written.as_ref()
    }

    /// The download a running `write_image` waits for.
    pub fn pending_fetch(&self) -> Option<ImageFetch> {
        self.pending.as_ref().map(|p| ImageFetch {
            command_id: p.command_id.clone(),
            urls: p.info.urls.clone(),
            checksum_url: match &p.info.expected {
                Expected::File { url } => Some(url.clone()),
                Expected::Digest { .. } => None,
            },
        })
    }

    fn new_id(&mut self) -> String {
        let bytes: [u8; 16] = self.rng.random();
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string()
    }

    fn md5_allowed(&self) -> bool {
        self.binding.as_ref().is_some_and(|b| b.md5_allowed)
    }

    fn record(
        &mut self,
        name: &str,
        outcome: Result<Option<Value>, CommandError>,
    ) -> CommandResult {
        let id = self.new_id();
        let (status, error, result) = match outcome {
            Ok(r) => (Status::Succeeded, None, r),
            Err(e) if e.kind == "VersionMismatch" => (Status::VersionMismatch, Some(e), None),
            Err(e) => (Status::Failed, Some(e), None),
        };
        let r = CommandResult {
            id,
            command_name: name.to_string(),
            command_status: status,
            command_error: error,
            command_result: result,
        };
        self.commands.push(r.clone());
        r
    }

    /// Executes one command. API-level refusals (unknown command, busy, bad params) come back
    /// as `Err` and are not recorded; everything else is recorded, in order, and returned. A
    /// `write_image` returns `RUNNING` with the [`ImageFetch`] the shell must complete.
    pub fn execute(
        &mut self,
        now: SimTime,
        machine: &mut Machine,
        req: Request,
    ) -> Result<(CommandResult, Option<ImageFetch>), AgentError> {
        if let Some(last) = self.commands.last().filter(|c| !c.is_done()) {
            return Err(AgentError::Busy {
                running: last.command_name.clone(),
            });
        }
        let name = req.command.clone();
        let p = &req.params;
        let unknown = || AgentError::InvalidCommand {
            details: format!("Unknown command: {}", req.command),
        };
        let outcome = match (req.extension.as_str(), req.command.as_str()) {
            ("deploy", "get_deploy_steps") => Ok(Some(json!({
                "deploy_steps": {MANAGER_CLASS: deploy_steps()},
                "hardware_manager_version": versions(),
            }))),
            ("clean", "get_clean_steps") => Ok(Some(json!({
                "clean_steps": {MANAGER_CLASS: clean_steps()},
                "hardware_manager_version": versions(),
            }))),
            ("service", "get_service_steps") => Ok(Some(json!({
                "service_steps": {MANAGER_CLASS: []},
                "hardware_manager_version": versions(),
            }))),
            ("deploy", "execute_deploy_step") => {
                return self.execute_step(now, machine, &name, "deploy", p);
            }
            ("clean", "execute_clean_step") => {
                return self.execute_step(now, machine, &name, "clean", p);
            }
            ("deploy" | "clean" | "service", _) => return Err(unknown()),
            ("standby", "get_partition_uuids") => Ok(Some(
                self.written
                    .as_ref()
                    .map(|w| json!({"root uuid": w.root_uuid}))
                    .unwrap_or_else(|| json!({})),
            )),
            ("standby", "sync") => Ok(None),
            ("standby", "power_off") => machine
                .graceful_shutdown(now)
                .or_else(|_| machine.force_off(now))
                .map(|_| None)
                .map_err(|e| failed("SystemRebootError", "Error rebooting system", e.to_string())),
            ("standby", "run_image") => machine
                .graceful_restart(now)
                .map(|_| None)
                .map_err(|e| failed("SystemRebootError", "Error rebooting system", e.to_string())),
            ("standby", "prepare_image") => {
                let info = p.get("image_info").cloned().unwrap_or(Value::Null);
                let configdrive = p.get("configdrive").cloned();
                let step = json!({"interface": "deploy", "step": "write_image",
                    "args": {"image_info": info, "configdrive": configdrive}});
                return self.begin_write(&name, "deploy", step, p);
            }
            ("standby", _) => return Err(unknown()),
            ("image", "install_bootloader") => match &self.written {
                Some(w) => Ok(Some(json!({"result": format!(
                    "install_bootloader: boot loader installed on {}", w.device)}))),
                None => Err(failed(
                    "CommandExecutionError",
                    "Command execution failed",
                    "Installing the boot loader failed: no image has been written to a disk of this machine",
                )),
            },
            ("image", _) => return Err(unknown()),
            ("log", "collect_system_logs") => Ok(Some(json!({"system_logs": ""}))),
            ("log", _) => return Err(unknown()),
            (other, _) => {
                return Err(AgentError::UnknownExtension {
                    name: other.to_string(),
                });
            }
        };
        Ok((self.record(&name, outcome), None))
    }

    fn execute_step(
        &mut self,
        now: SimTime,
        machine: &mut Machine,
        name: &str,
        step_type: &'static str,
        p: &Map<String, Value>,
    ) -> Result<(CommandResult, Option<ImageFetch>), AgentError> {
        let step = p.get("step").cloned().unwrap_or(Value::Null);
        let Some(step_name) = step.get("step").and_then(Value::as_str).map(str::to_string) else {
            let e = failed(
                "CommandExecutionError",
                "Command execution failed",
                format!("Malformed {step_type}_step, no \"step\" key: {step}"),
            );
            return Ok((self.record(name, Err(e)), None));
        };
        let version_key = format!("{step_type}_version");
        if let Some(given) = p.get(&version_key).filter(|v| !v.is_null())
            && *given != versions()
        {
            let e = failed(
                "VersionMismatch",
                "Hardware managers version mismatch",
                format!(
                    "Hardware managers version mismatch, reload agent with correct version. Agent version: {}, node version: {given}",
                    versions()
                ),
            );
            return Ok((self.record(name, Err(e)), None));
        }
        let wrap = |result: Value, step: &Value| json!({format!("{step_type}_result"): result, format!("{step_type}_step"): step});
        let outcome = match (step_type, step_name.as_str()) {
            ("deploy", "write_image") => return self.begin_write(name, step_type, step, p),
            (_, "erase_devices_metadata") => {
                self.each_disk(|i| machine.wipe_partition_table(now, i))
            }
            ("clean", "erase_devices" | "erase_devices_express") => {
                self.each_disk(|i| machine.erase_disk(now, i))
            }
            ("clean", "erase_pstore") => Ok(()),
            _ => Err(failed(
                "HardwareManagerMethodNotFound",
                "No HardwareManager found to handle method",
                format!("Could not find a hardware manager able to handle method {step_name}"),
            )),
        };
        let outcome = outcome.map(|()| Some(wrap(Value::Null, &step)));
        Ok((self.record(name, outcome), None))
    }

    fn each_disk(
        &self,
        mut f: impl FnMut(usize) -> Result<crate::machine::Ack, crate::machine::MachineError>,
    ) -> Result<(), CommandError> {
        for i in 0..self.profile.disks.len() {
            f(i).map_err(|e| {
                failed(
                    "BlockDeviceEraseError",
                    "Error erasing block device",
                    format!("Failed to erase {}: {e}", self.profile.disks[i].name),
                )
            })?;
        }
        Ok(())
    }

    fn begin_write(
        &mut self,
        name: &str,
        step_type: &'static str,
        step: Value,
        p: &Map<String, Value>,
    ) -> Result<(CommandResult, Option<ImageFetch>), AgentError> {
        let args = step.get("args").cloned().unwrap_or(Value::Null);
        let info_v = args.get("image_info").cloned().unwrap_or(Value::Null);
        let configdrive = args
            .get("configdrive")
            .or_else(|| info_v.get("configdrive"))
            .and_then(Value::as_str)
            .map(str::len);
        let hints = p
            .get("node")
            .and_then(|n| n.get("properties"))
            .and_then(|pr| pr.get("root_device"));
        let prepared = ImageInfo::parse(&info_v, self.md5_allowed())
            .map_err(|e| failed(e.kind(), e.message(), e.to_string()))
            .and_then(|info| {
                root_disk_index(&self.profile, hints)
                    .map(|disk| (info, disk))
                    .map_err(|d| {
                        failed(
                            "DeviceNotFound",
                            "Error finding the disk or partition device",
                            d,
                        )
                    })
            });
        let (info, disk) = match prepared {
            Ok(x) => x,
            Err(e) => return Ok((self.record(name, Err(e)), None)),
        };
        let id = self.new_id();
        let r = CommandResult {
            id: id.clone(),
            command_name: name.to_string(),
            command_status: Status::Running,
            command_error: None,
            command_result: None,
        };
        self.commands.push(r.clone());
        self.pending = Some(PendingWrite {
            command_id: id,
            step,
            step_type,
            info,
            disk,
            configdrive_len: configdrive,
        });
        Ok((r, self.pending_fetch()))
    }

    /// Completes the running `write_image` `command_id` with what the shell downloaded (or why the
    /// download failed): verifies the checksum and writes the image to the chosen disk. Returns the
    /// finished result, or `None` when no such command is waiting.
    pub fn finish_image(
        &mut self,
        now: SimTime,
        machine: &mut Machine,
        command_id: &str,
        download: Result<Downloaded<'_>, String>,
    ) -> Option<CommandResult> {
        if self.pending.as_ref().map(|p| p.command_id.as_str()) != Some(command_id) {
            return None;
        }
        let p = self.pending.take()?;
        let md5 = self.md5_allowed();
        let verified = download
            .map_err(|reason| ImageError::Download {
                id: p.info.id.clone(),
                reason,
            })
            .and_then(|d| {
                let expected = match (&p.info.expected, d.checksum_text) {
                    (Expected::File { url }, Some(text)) => p.info.digest_from_file(url, text)?,
                    (Expected::File { url }, None) => {
                        return Err(ImageError::ChecksumFile {
                            url: url.clone(),
                            id: p.info.id.clone(),
                        });
                    }
                    (e, _) => e.clone(),
                };
                image::verify(&p.info, &expected, d.url, d.bytes, md5).map(|sum| (d.url, sum))
            });
        let outcome = match verified {
            Err(e) => Err(failed(e.kind(), e.message(), e.to_string())),
            Ok((url, checksum)) => match machine.write_image(now, p.disk, url, &checksum) {
                Err(e) => Err(failed(
                    "DeploymentError",
                    "Deploy step failed",
                    e.to_string(),
                )),
                Ok(_) => {
                    let bytes: [u8; 4] = self.rng.random();
                    let root_uuid = format!(
                        "0x{}",
                        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
                    );
                    let device = self
                        .profile
                        .disks
                        .get(p.disk)
                        .map(|d| d.name.clone())
                        .unwrap_or_default();
                    let message = format!(
                        "image ({}) written to device {device} root_uuid={root_uuid}",
                        p.info.id
                    );
                    self.written = Some(Written {
                        disk: p.disk,
                        device,
                        url: url.to_string(),
                        checksum,
                        configdrive_len: p.configdrive_len,
                        root_uuid,
                    });
                    Ok(Some(json!({
                        format!("{}_result", p.step_type): message,
                        format!("{}_step", p.step_type): p.step,
                    })))
                }
            },
        };
        let slot = self.commands.iter_mut().find(|c| c.id == p.command_id)?;
        match outcome {
            Ok(r) => {
                slot.command_status = Status::Succeeded;
                slot.command_result = r;
            }
            Err(e) => {
                slot.command_status = Status::Failed;
                slot.command_error = Some(e);
            }
        }
        Some(slot.clone())
    }

    /// [`Agent::execute`] followed, for `write_image`, by the download from `store`: the whole
    /// command in one call, for in-process drivers without sockets.
    pub fn execute_with(
        &mut self,
        now: SimTime,
        machine: &mut Machine,
        req: Request,
        store: &dyn ImageStore,
    ) -> Result<CommandResult, AgentError> {
        let (result, fetch) = self.execute(now, machine, req)?;
        let Some(fetch) = fetch else {
            return Ok(result);
        };
        let checksum = match &fetch.checksum_url {
            None => Ok(None),
            Some(u) => store
                .fetch(u)
                .map(|b| Some(String::from_utf8_lossy(&b).into_owned())),
        };
        let mut last_err = String::from("no image URL");
        let mut done = None;
        for url in &fetch.urls {
            let attempt = checksum
                .clone()
                .and_then(|c| store.fetch(url).map(|b| (b, c)));
            match attempt {
                Ok((bytes, text)) => {
                    done = self.finish_image(
                        now,
                        machine,
                        &fetch.command_id,
                        Ok(Downloaded {
                            url,
                            bytes: &bytes,
                            checksum_text: text.as_deref(),
                        }),
                    );
                    break;
                }
                Err(e) => last_err = e,
            }
        }
        let done = match done {
            Some(d) => d,
            None => self
                .finish_image(now, machine, &fetch.command_id, Err(last_err))
                .unwrap_or(result),
        };
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::inventory::tests::gpu_profile;
    use crate::machine::{Timing, derive_rng};
    use std::collections::HashMap;

    struct Store(HashMap<String, Vec<u8>>);
    impl ImageStore for Store {
        fn fetch(&self, url: &str) -> Result<Vec<u8>, String> {
            self.0
                .get(url)
                .cloned()
                .ok_or_else(|| format!("404 for {url}"))
        }
    }

    fn setup() -> (Agent, Machine) {
        let p = gpu_profile();
        let m = Machine::new(&p, Timing::instant(), derive_rng(1, "machine", 0));
        let mut a = Agent::new("node-1", p, derive_rng(1, "agent", 0));
        a.bind(Binding {
            node_uuid: "u1".into(),
            token: "tok".into(),
            md5_allowed: false,
        });
        (a, m)
    }

    fn write_req(sum: &str) -> Request {
        Request::new(
            "deploy.execute_deploy_step",
            json!({"step": {"interface": "deploy", "step": "write_image", "args": {
                "image_info": {"id": "img", "urls": ["http://127.0.0.1:1/img.raw"],
                               "os_hash_algo": "sha256", "os_hash_value": sum, "disk_format": "raw"},
                "configdrive": "H4sI"}},
                "node": {"properties": {}}, "ports": [], "deploy_version": versions()}),
        )
        .unwrap()
    }

    fn store() -> Store {
        Store(HashMap::from([(
            "http://127.0.0.1:1/img.raw".to_string(),
            b"disk image bytes".to_vec(),
        )]))
    }

    #[test]
    fn deploy_steps_are_non_empty_and_grouped_by_manager() {
        let (mut a, mut m) = setup();
        let (r, fetch) = a
            .execute(
                SimTime::ZERO,
                &mut m,
                Request::new("deploy.get_deploy_steps", json!({})).unwrap(),
            )
            .unwrap();
        assert!(fetch.is_none());
        assert_eq!(r.command_name, "get_deploy_steps");
        let steps = &r.command_result.unwrap()["deploy_steps"]["GenericHardwareManager"];
        assert!(
            steps
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["step"] == "write_image")
        );
    }

    #[test]
    fn write_image_lands_on_the_root_disk_after_checksum_verification() {
        let (mut a, mut m) = setup();
        let sum = image::HashAlgo::Sha256.hex_digest(b"disk image bytes");
        let r = a
            .execute_with(SimTime::ZERO, &mut m, write_req(&sum), &store())
            .unwrap();
        assert_eq!(r.command_status, Status::Succeeded, "{r:?}");
        let res = r.command_result.unwrap();
        assert_eq!(res["deploy_step"]["step"], "write_image");
        assert!(m.disks()[0].bootable());
        assert_eq!(
            m.disks()[0].image.as_ref().unwrap().url,
            "http://127.0.0.1:1/img.raw"
        );
        assert!(!m.disks()[1].bootable());
        assert_eq!(a.written().unwrap().configdrive_len, Some(4));
        let (uuids, _) = a
            .execute(
                SimTime::ZERO,
                &mut m,
                Request::new("standby.get_partition_uuids", json!({})).unwrap(),
            )
            .unwrap();
        assert!(
            uuids.command_result.unwrap()["root uuid"]
                .as_str()
                .unwrap()
                .starts_with("0x")
        );
    }

    #[test]
    fn checksum_mismatch_fails_the_step_and_leaves_the_disk_empty() {
        let (mut a, mut m) = setup();
        let r = a
            .execute_with(SimTime::ZERO, &mut m, write_req(&"0".repeat(64)), &store())
            .unwrap();
        assert_eq!(r.command_status, Status::Failed);
        let e = r.command_error.unwrap();
        assert_eq!(e.kind, "ImageChecksumError");
        assert!(
            e.details
                .contains("Image failed to verify against checksum"),
            "{}",
            e.details
        );
        assert!(m.disks().iter().all(|d| d.image.is_none()));
        let (boot, _) = a
            .execute(
                SimTime::ZERO,
                &mut m,
                Request::new("image.install_bootloader", json!({})).unwrap(),
            )
            .unwrap();
        assert_eq!(boot.command_status, Status::Failed);
    }

    #[test]
    fn a_running_write_makes_the_agent_busy_until_the_image_arrives() {
        let (mut a, mut m) = setup();
        let sum = image::HashAlgo::Sha256.hex_digest(b"abc");
        let (r, fetch) = a.execute(SimTime::ZERO, &mut m, write_req(&sum)).unwrap();
        assert_eq!(r.command_status, Status::Running);
        let fetch = fetch.unwrap();
        let busy = a
            .execute(
                SimTime::ZERO,
                &mut m,
                Request::new("standby.sync", json!({})).unwrap(),
            )
            .unwrap_err();
        assert_eq!(busy.status(), 409);
        let done = a
            .finish_image(
                SimTime::ZERO,
                &mut m,
                &fetch.command_id,
                Ok(Downloaded {
                    url: &fetch.urls[0],
                    bytes: b"abc",
                    checksum_text: None,
                }),
            )
            .unwrap();
        assert_eq!(done.command_status, Status::Succeeded);
        assert_eq!(a.commands().len(), 1);
        assert_eq!(
            a.command(&fetch.command_id).unwrap().command_status,
            Status::Succeeded
        );
    }

    #[test]
    fn clean_steps_wipe_partition_tables_and_erase_disks() {
        let (mut a, mut m) = setup();
        m.write_image(SimTime::ZERO, 0, "http://x/img", "sha256:1")
            .unwrap();
        m.write_image(SimTime::ZERO, 1, "http://x/img", "sha256:1")
            .unwrap();
        let (steps, _) = a
            .execute(
                SimTime::ZERO,
                &mut m,
                Request::new("clean.get_clean_steps", json!({})).unwrap(),
            )
            .unwrap();
        let list = steps.command_result.unwrap()["clean_steps"]["GenericHardwareManager"].clone();
        assert!(
            list.as_array()
                .unwrap()
                .iter()
                .any(|s| s["step"] == "erase_devices_metadata" && s["priority"] == 99)
        );
        let step = json!({"interface": "deploy", "step": "erase_devices_metadata", "priority": 99});
        let (r, _) = a
            .execute(
                SimTime::ZERO,
                &mut m,
                Request::new(
                    "clean.execute_clean_step",
                    json!({"step": step, "node": {}, "ports": []}),
                )
                .unwrap(),
            )
            .unwrap();
        assert_eq!(r.command_status, Status::Succeeded);
        assert_eq!(
            r.command_result.unwrap()["clean_step"]["step"],
            "erase_devices_metadata"
        );
        assert!(
            m.disks()
                .iter()
                .all(|d| !d.partition_table && d.image.is_some())
        );
        let step = json!({"interface": "deploy", "step": "erase_devices", "priority": 10});
        let (r, _) = a
            .execute(
                SimTime::ZERO,
                &mut m,
                Request::new(
                    "clean.execute_clean_step",
                    json!({"step": step, "node": {}, "ports": []}),
                )
                .unwrap(),
            )
            .unwrap();
        assert_eq!(r.command_status, Status::Succeeded);
        assert!(m.disks().iter().all(|d| d.image.is_none()));
    }

    #[test]
    fn a_changed_hardware_manager_version_is_a_version_mismatch() {
        let (mut a, mut m) = setup();
        let step = json!({"interface": "deploy", "step": "erase_devices", "priority": 10});
        let (r, _) = a
            .execute(SimTime::ZERO, &mut m, Request::new("clean.execute_clean_step",
                json!({"step": step, "node": {}, "ports": [], "clean_version": {"generic_hardware_manager": "0.9"}})).unwrap())
            .unwrap();
        assert_eq!(
            serde_json::to_value(r.command_status).unwrap(),
            "CLEAN_VERSION_MISMATCH"
        );
    }

    #[test]
    fn tokens_are_checked_and_unknown_commands_refused() {
        let (mut a, mut m) = setup();
        assert!(a.authorize(Some("tok")).is_ok());
        assert_eq!(a.authorize(Some("nope")), Err(AgentError::TokenInvalid));
        assert_eq!(a.authorize(None), Err(AgentError::TokenInvalid));
        let unbound = Agent::new("n", gpu_profile(), derive_rng(1, "agent", 1));
        assert_eq!(
            unbound.authorize(Some("tok")),
            Err(AgentError::TokenInvalid)
        );
        let e = a
            .execute(
                SimTime::ZERO,
                &mut m,
                Request::new("bogus.run", json!({})).unwrap(),
            )
            .unwrap_err();
        assert_eq!(e.status(), 404);
        let e = a
            .execute(
                SimTime::ZERO,
                &mut m,
                Request::new("standby.bogus", json!({})).unwrap(),
            )
            .unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(a.commands().is_empty());
    }

    #[test]
    fn root_device_hints_pick_the_matching_disk() {
        let p = gpu_profile();
        assert_eq!(root_disk_index(&p, None), Ok(0));
        assert_eq!(
            root_disk_index(&p, Some(&json!({"name": "/dev/sdb"}))),
            Ok(1)
        );
        assert_eq!(
            root_disk_index(&p, Some(&json!({"size": ">= 1000"}))),
            Ok(1)
        );
        assert_eq!(
            root_disk_index(&p, Some(&json!({"rotational": false}))),
            Ok(0)
        );
        assert!(root_disk_index(&p, Some(&json!({"serial": "nope"}))).is_err());
    }

    #[test]
    fn power_off_shuts_the_machine_down() {
        let (mut a, mut m) = setup();
        m.power_on(SimTime::ZERO).unwrap();
        m.tick(SimTime::ZERO);
        let (r, _) = a
            .execute(
                SimTime::ZERO,
                &mut m,
                Request::new("standby.power_off", json!({})).unwrap(),
            )
            .unwrap();
        assert_eq!(r.command_status, Status::Succeeded);
        m.tick(SimTime::from_secs(1));
        assert_eq!(m.power(), crate::machine::PowerState::Off);
    }
}
