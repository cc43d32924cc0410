//! Engine mode: the operator's state machine and Ironic provisioner, the mock Ironic (its API and
//! conductor), the machine and BMC models stepped by a discrete-event loop in virtual time, with
//! in-process transports instead of sockets and the control plane.
//!
//! Every run is a pure function of its inputs and seed: events are ordered by (virtual time,
//! scheduling order), every random stream is a ChaCha stream derived from the seed, no clock is
//! read and no hash-map order is observed. What engine mode does *not* exercise (serialisation,
//! HTTP, watches, …) is listed in `docs/engine.md`.
//!
//! Entry points: [`Engine::new`] over a [`Fleet`](metal_sim::fleet::Fleet),
//! [`Engine::register_fleet`] / [`Engine::apply_object`] to create objects, the other commands
//! (`patch_host`, `delete_host`, `set_bmc_faults`, `set_ironic_faults`, `restart_operator`), and
//! [`Engine::advance_until`] / [`Engine::advance_to`] to let virtual time pass.

mod agent;
mod bmc;
#[cfg(test)]
mod bmc_tests;
mod claims;
mod commands;
mod conductor;
mod ironic;
mod operator;
mod pools;
mod queue;
mod scenario;
mod simulation;
mod slots;
mod trace;

pub use agent::{AgentFaults, AgentSettings, EngineImages};
pub use bmc::{Approach, BmcDirectory, BmcFailure, Route};
pub use claims::{ClaimWorld, ClaimWorldError};
pub use ironic::{EngineIronic, IronicFaults};
pub use queue::EventQueue;
pub use scenario::{EngineRunError, Played, SeedFailure, play, run, settings_for, sweep};
pub use simulation::{Engine, EngineError, EngineSettings, HostRow, engine_timings};
pub use slots::SlotBook;
pub use trace::{TraceLevel, level};
