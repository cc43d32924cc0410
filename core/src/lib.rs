//! metal-core: the Metal3 operator's pure cores — what to decide and what to ask Ironic — with
//! no async runtime, HTTP stack or Kubernetes client (`scripts/check-layers.sh` holds that line).
//!
//! `metal-operator` supplies the shells around these cores (kube-runtime controller, HTTP(S)
//! transport to Ironic, webhook, telemetry); the simulator's engine supplies in-memory ones.

/// `metal3.io/v1alpha1` types (BareMetalHost, HardwareData, HostClaim) and CRD generation.
pub mod api;
/// BMC address parsing: scheme → Ironic driver, interfaces and driver_info.
pub mod bmc;
/// The pure HostClaim core: host choice, bind patch, status mirroring, release sequence.
pub mod claim;
/// Human durations (`250ms`, `1.5s`): one parser and printer for flags and files.
pub mod duration;
/// The rules of BIOS settings (HostFirmwareSettings, FirmwareSchema): status, schema name,
/// validation and the settings a manual clean applies.
pub mod firmware;
/// The Secrets a host names (BMC credentials, config data) read into the state machine's views,
/// over a `SecretSource` (the API server in the controller, in-memory objects in the engine).
pub mod host_secrets;
/// The pure HostPool core: scale plan, deterministic scale-down order, pool status, validation.
pub mod pool;
/// The provisioner contract and its OpenStack Ironic implementation over a `Transport`.
pub mod provisioner;
/// `spec.raid` in Ironic's terms: the target RAID configuration and the clean steps applying it.
pub mod raid;
/// One reconcile's rounds with the provisioner (observe, decide → act → decide), shared by the
/// controller and the simulator's engine.
pub mod round;
/// The pure host state machine: (host, credentials, provisioner view, now, rng) → decision.
pub mod statemachine;
