//! Shared by the simulator's integration tests: finding the real peer programs that judge our
//! fakes (`metal_testkit::peers`).
#![allow(unused_imports)]

pub use metal_testkit::peers::{csdl_dir, peer, peers_required, venv};
