//! Fake ironic-python-agent (IPA), started when a simulated machine boots a ramdisk.
//!
//! # The API in one page
//!
//! **Pure core** ([`core`], no I/O, usable in-process by a discrete-event engine):
//! - [`Agent::new`]`(hostname, profile, rng)` — one per booted ramdisk; `rng` from
//!   `derive_rng(seed, "agent", host_index)` (command ids, disk identifiers).
//! - [`Agent::bind`]`(Binding { node_uuid, token, md5_allowed })` — after the lookup.
//! - [`Agent::authorize`]`(token)` — the `agent_token` check of every command call.
//! - [`Agent::execute`]`(now, &mut Machine, Request)` → the recorded [`CommandResult`] and, for
//!   `write_image`, an [`ImageFetch`] to complete with [`Agent::finish_image`]`(now, &mut Machine,
//!   id, Ok(Downloaded { url, bytes, checksum_text }) | Err(reason))`. Or, in one call,
//!   [`Agent::execute_with`]`(now, &mut Machine, Request, &dyn ImageStore)`.
//! - [`Agent::commands`] — the ordered results exactly as `GET /v1/commands/` lists them.
//! - Requests: [`Request::new`]`("deploy.execute_deploy_step", params_json)`.
//!
//! Commands: `deploy.get_deploy_steps` (non-empty: `write_image`, `erase_devices_metadata`),
//! `deploy.execute_deploy_step` (`write_image`: checksum verified, image lands on the root disk via
//! `Machine::write_image`; `erase_devices_metadata`), `clean.get_clean_steps` /
//! `clean.execute_clean_step` (`erase_devices_metadata` wipes partition tables, `erase_devices`
//! erases), `service.get_service_steps`, `standby.get_partition_uuids`, `standby.sync`,
//! `standby.power_off`, `standby.run_image`, `standby.prepare_image`, `image.install_bootloader`,
//! `log.collect_system_logs`.
//!
//! **Inventory** ([`inventory`]): [`inventory::build`] gives Ironic's `inventory` document from a
//! hardware profile; [`inventory::inspection_data`] the whole `continue_inspection` body.
//!
//! **Life** ([`life`], pure, shared by wire and engine mode): [`Life`] says, from the typed answer
//! to its last call, what to do next — negotiate, look up, post the inspection data, heartbeat,
//! now or after a jittered wait, or stop — under one [`LifeSettings`].
//!
//! **Shells**: [`server`] (the command API over HTTP), [`client`] (lookup, heartbeat, inspection,
//! image download against an Ironic URL: one request each), [`session`] (one running agent:
//! server + its [`Life`] carried out over HTTP), [`launcher`] (starts a session per ramdisk boot of a
//! [`crate::machine::World`] and stops it when the machine powers off or boots something else):
//! `Launcher::spawn(world, AgentOptions::new(ironic_url), stop)`. [`silence`] is the
//! heartbeat-loss fault switch (`AgentOptions::heartbeats`, `Launcher::heartbeats`).

pub mod client;
pub mod command;
pub mod core;
pub mod image;
pub mod inventory;
pub mod launcher;
pub mod life;
pub mod server;
pub mod session;
pub mod silence;
pub mod steps;

pub use command::{AgentError, CommandError, CommandResult, Request, Status};
pub use core::{Agent, Binding, Downloaded, ImageFetch, ImageStore, Written};
pub use launcher::Launcher;
pub use life::{InspectionMode, Life, LifeSettings, RetryPolicy};
pub use session::{AgentOptions, Session};
pub use silence::HeartbeatSwitch;
