//! metal-testkit: support shared by every test crate of the workspace (the operator's, the
//! simulator's, the control plane's and the end-to-end suite), so a rule tests depend on is
//! written once.

/// Finding the real peer programs (ipmitool, the Python venv's Ironic, sushy, kubectl, …): the
/// pinned venv first, then `PATH`; a missing peer skips loudly, or fails under `REQUIRE_PEERS=1`.
pub mod peers;
