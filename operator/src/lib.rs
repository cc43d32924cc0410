//! metal-operator: a Metal3-compatible BareMetalHost operator that drives OpenStack Ironic.
//!
//! Pure cores decide; they live in `metal-core` (no async runtime, HTTP stack or Kubernetes
//! client) and are re-exported here at their old paths. Thin shells in this crate carry out the
//! effects.

// Cores, from metal-core.

/// `metal3.io/v1alpha1` types (BareMetalHost, HardwareData, HostClaim) and CRD generation.
pub use metal_core::api;
/// BMC address parsing: scheme → Ironic driver, interfaces and driver_info.
pub use metal_core::bmc;
/// The pure HostClaim core: host choice, bind patch, status mirroring, release sequence.
pub use metal_core::claim;
/// The rules of BIOS settings (HostFirmwareSettings, FirmwareSchema).
pub use metal_core::firmware;
/// The Secrets a host names (BMC credentials, config data) read into the state machine's views,
/// over a `SecretSource` (the API server in the controller, in-memory objects in the engine).
pub use metal_core::host_secrets;
/// The pure HostPool core: scale plan, deterministic scale-down order, pool status, validation.
pub use metal_core::pool;
/// The provisioner contract and its OpenStack Ironic implementation over a `Transport`.
pub use metal_core::provisioner;
/// One reconcile's rounds with the provisioner (observe, decide → act → decide), shared by the
/// controller and the simulator's engine.
pub use metal_core::round;
/// The pure host state machine: (host, credentials, provisioner view, now, rng) → decision.
pub use metal_core::statemachine;

// Shells, with I/O.

/// The kube-runtime controller that applies state-machine decisions.
pub mod controller;
/// The Ironic client over HTTP(S): `HttpTransport` (reqwest, TLS roots, basic auth) and
/// `ClientConfig`.
pub mod ironic_http;
/// Prometheus metrics, health probes and logging set-up.
pub mod telemetry;
/// The validating admission webhook (HTTPS) serving the host, claim and pool rules.
pub mod webhook;
