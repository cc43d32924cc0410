//! Shared by the control plane's integration tests: finding kubectl, the real peer that judges it
//! (`metal_testkit::peers`).
#![allow(unused_imports)]

pub use metal_testkit::peers::{peer, peers_required};
