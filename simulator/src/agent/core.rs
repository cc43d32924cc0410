//! The pure agent: one [`Agent`] per booted ramdisk. It holds the node binding (uuid + token from
//! the lookup) and the ordered command results, and executes IPA commands against the machine
//! model. No I/O: image bytes come in through [`Agent::finish_image`] (or an [`ImageStore`]).

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value, json};

use super::command::{AgentError, CommandError, CommandResult, Request, Status};
use super::image::{self, Expected, ImageError, ImageInfo};
use super::steps::{MANAGER_CLASS, versions};
pub use super::steps::{clean_steps, deploy_steps, root_disk_index};
use crate::guest::ConfigDrive;
use crate::machine::{HardwareProfile, Machine, PowerState, SimTime};

/// The `agent_version` the fake agent reports in heartbeats.
pub const AGENT_VERSION: &str = "11.3.0";
/// Hardware manager name (as IPA's generic manager).
pub const HARDWARE_MANAGER: &str = "generic_hardware_manager";
/// Hardware manager version.
pub const HARDWARE_MANAGER_VERSION: &str = "1.2";

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
    /// The config drive written beside the image, if Ironic sent one.
    pub config_drive: Option<ConfigDrive>,
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
    config_drive: Option<ConfigDrive>,
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

fn failed(kind: &str, message: &str, details: impl Into<String>) -> CommandError {
    CommandError::new(kind, message, details)
}

/// True while the machine is on at `now` (its agent can write its disks).
fn machine_running(machine: &mut Machine, now: SimTime) -> bool {
    machine.tick(now);
    machine.power() == PowerState::On
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
        let configdrive = ConfigDrive::from_agent_argument(
            args.get("configdrive")
                .filter(|v| !v.is_null())
                .or_else(|| info_v.get("configdrive")),
        );
        // As Ironic and IPA choose them: the instance's hints first (what the deployer asked for
        // this deploy), else the node's.
        let node = p.get("node");
        let hints_in = |field: &str| {
            node.and_then(|n| n.get(field))
                .and_then(|f| f.get("root_device"))
                .filter(|h| h.as_object().is_some_and(|o| !o.is_empty()))
        };
        let hints = hints_in("instance_info").or_else(|| hints_in("properties"));
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
            config_drive: configdrive,
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
            // A disk is written only while the machine runs: one that powered off during the
            // download keeps what it had (the shell also abandons the download at once).
            Ok(_) if !machine_running(machine, now) => Err(failed(
                "DeploymentError",
                "Deploy step failed",
                "the machine powered off before the image was written to disk",
            )),
            Ok((url, checksum)) => {
                match machine.write_image_with(now, p.disk, url, &checksum, p.config_drive.clone())
                {
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
                            config_drive: p.config_drive.clone(),
                            root_uuid,
                        });
                        Ok(Some(json!({
                            format!("{}_result", p.step_type): message,
                            format!("{}_step", p.step_type): p.step,
                        })))
                    }
                }
            }
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
#[path = "core_tests.rs"]
mod tests;
