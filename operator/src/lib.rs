//! metal-operator: a Metal3-compatible BareMetalHost operator that drives OpenStack Ironic.
//!
//! Pure cores (`api`, `bmc`, `statemachine`) decide; thin shells (`provisioner`, `controller`,
//! `telemetry`) carry out the effects.

/// `metal3.io/v1alpha1` types (BareMetalHost, HardwareData, HostClaim) and CRD generation.
pub mod api;
/// BMC address parsing: scheme → Ironic driver, interfaces and driver_info.
pub mod bmc;
/// The pure HostClaim core: host choice, bind patch, status mirroring, release sequence.
pub mod claim;
/// The kube-runtime controller that applies state-machine decisions.
pub mod controller;
/// The Secrets a host names (BMC credentials, config data) read into the state machine's views,
/// over a `SecretSource` (the API server in the controller, in-memory objects in the engine).
pub mod host_secrets;
/// The pure HostPool core: scale plan, deterministic scale-down order, pool status, validation.
pub mod pool;
/// The provisioner trait and its OpenStack Ironic implementation.
pub mod provisioner;
/// One reconcile's rounds with the provisioner (observe, decide → act → decide), shared by the
/// controller and the simulator's engine.
pub mod round;
/// The pure host state machine: (host, credentials, provisioner view, now, rng) → decision.
pub mod statemachine;
/// Prometheus metrics, health probes and logging set-up.
pub mod telemetry;
/// The validating admission webhook (HTTPS) serving the host, claim and pool rules.
pub mod webhook;
