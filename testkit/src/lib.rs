//! metal-testkit: support shared by every test crate of the workspace (the operator's, the
//! simulator's, the control plane's and the end-to-end suite), so a rule tests depend on is
//! written once.

/// Finding the real peer programs (ipmitool, the Python venv's Ironic, sushy, kubectl, …): the
/// pinned venv first, then `PATH`; a missing peer skips loudly, or fails under `REQUIRE_PEERS=1`.
pub mod peers;

/// Free loopback ports: bound on 127.0.0.1 to check, drawn below the ephemeral range, never
/// handed out twice in one process.
pub mod ports;

/// Bounded waits: poll a condition until it holds or a deadline passes, then fail naming what
/// was awaited and what was last seen (async over tokio time, and blocking).
pub mod wait;

/// Real OpenStack Ironic (standalone, SQLite, noauth) on loopback: its config, the schema, the
/// API and conductor process group, readiness, its log on failure, kill on drop.
pub mod ironic;

/// BareMetalHost objects as JSON (or YAML), built step by step.
pub mod hosts;

/// Running kubectl with a kubeconfig: bounded in time, stdout returned, stderr in the error.
pub mod kubectl;

/// A Kubernetes client from a kubeconfig.
pub mod kube;

/// Files served on loopback for provisioning: an OS image and its SHA-256, the deploy kernel,
/// ramdisk and ISO Ironic caches; stopped on drop.
pub mod images;

/// Where the Go-built judges are: the `<target>.env` files their build scripts write.
pub mod judges;

/// Upstream Metal3's baremetal-operator as a judge: where `make bmo` built it, and how it is
/// started on the testbed (flags and environment, every listener on loopback or off).
pub mod bmo;

/// Headless chromium for page tests: Debian's chromium and the pinned playwright-core that
/// `scripts/browser.sh` installs; a missing piece skips loudly, or fails under `REQUIRE_PEERS=1`.
pub mod browser;
