//! Fake IPMI 2.0 BMC (RMCP+ over UDP) and our own RMCP+ client.
//!
//! Layers, innermost first: [`packet`] and [`message`] (framing, pure), [`crypto`] (RAKP and
//! payload protection, pure), [`session`] (handshake state machine, pure), [`command`] (the
//! in-session command handlers over the [`command::Chassis`] trait), [`bmc`] (one BMC's engine:
//! datagram in, datagram out), [`server`] (the UDP shell: one tokio task per socket, faults from
//! the host's facade) and [`client`] (our own async RMCP+ client).
//!
//! Start serving with [`server::bind_all`] + [`server::serve`]; each binding carries the
//! [`bmc::Counters`] (received, answered, malformed, rejected, faulted) of its BMC.

pub mod bmc;
pub mod client;
pub mod command;
pub mod crypto;
pub mod message;
pub mod packet;
pub mod server;
pub mod session;

pub use bmc::{Bmc, BmcConfig, Counters};
pub use client::{Client, ClientConfig, ClientError};
pub use server::{IpmiBinding, IpmiServeError, IpmiSettings, bind_all, serve};
