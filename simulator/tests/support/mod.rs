//! Shared by the simulator's integration tests: finding the real peer programs that judge our
//! fakes (`metal_testkit::peers`), and talking to an Ironic.
#![allow(unused_imports)]

pub use metal_testkit::peers::{csdl_dir, peer, peers_required, venv};

/// The mock Ironic on loopback or through its router, an Ironic API client, bounded waits on a
/// node's provision state; the `baremetal` CLI against an Ironic.
pub mod ironic;
