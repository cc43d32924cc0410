//! metal-sim: a simulation-first bare-metal testbed.
//!
//! Pure models (`machine`, `fault`, the Ironic conductor) take time and randomness as arguments;
//! thin shells (`redfish`, `ipmi`, `ironic`'s API, `agent`, `serve`) do the I/O. The embedded
//! control plane is its own crate, `metal-controlplane`, which uses nothing of this one.
//!
//! Above this crate: `metal-scenario` (the scenario language, the player and engine mode, which
//! steps these fakes and the operator's cores in virtual time) and `metal-wire` (wire mode and the
//! `metal-sim` command, which run the real operator against these fakes over loopback sockets).

/// Fake ironic-python-agent started by a machine that boots a ramdisk.
pub mod agent;
/// Embedded Kubernetes-compatible control plane (a test double): crate `metal-controlplane`,
/// re-exported for `serve` and the tests that start one next to a fleet.
pub use metal_controlplane as controlplane;
/// Which addresses metal-sim may send packets to: loopback, plus networks the user allows.
pub mod egress;
/// Fault injection at the BMC facade, drawn from the seeded RNG.
pub mod fault;
/// Fleet description (YAML): profiles, counts, seeded names/MACs/UUIDs, BMC layout and credentials.
pub mod fleet;
/// The OS a machine boots from disk: cloud-init from the config drive, a kubelet for node images.
pub mod guest;
/// Fake IPMI 2.0 BMC (RMCP+ over UDP) and our own RMCP+ client.
pub mod ipmi;
/// Mock OpenStack Ironic: API v1 and a conductor that drives BMCs over the wire.
pub mod ironic;
/// Simulated machines: hardware profile, power, boot, media and disks, stepped by simulated time.
pub mod machine;
/// Fake Redfish BMC (axum, HTTP and HTTPS).
pub mod redfish;
/// `metal-sim serve`: starts a fleet with its BMCs and writes the endpoints file.
pub mod serve;
