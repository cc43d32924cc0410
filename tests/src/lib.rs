//! End-to-end harness: the real `metal-sim` and `metal-operator` binaries as processes, each test on
//! its own loopback addresses and in its own namespace, judged through the Kubernetes API (kube-rs and
//! kubectl), the simulator's control API (the machines' ground truth) and the mock Ironic's journal.
//!
//! Modes:
//! - embedded (default): per test, `metal-sim controlplane` (port 0), `metal-sim serve` with the test's
//!   fleet file on a free 127.A.B.0/24 (control API and mock Ironic on port 0) and the operator(s).
//!   The binaries come from `E2E_BIN_DIR`, else the target directory of the test executable; build them
//!   first with `cargo build --bins`.
//! - external (`E2E_KUBECONFIG` set, e.g. kind): nothing is started; the simulator's control API and the
//!   mock Ironic are reached at `E2E_SIM_CONTROL` and `E2E_IRONIC_URL`, and the cluster's simulator must
//!   serve every host of the tests' fleets (`fleets/e2e-kind.yaml`), and the image to provision is at
//!   `E2E_IMAGE_URL` with its sha256sum file at `E2E_IMAGE_CHECKSUM_URL` (reachable from the simulator's
//!   fake agent). Tests that kill or add operator processes say SKIP in that mode.
//!
//! A test that fails (panics or returns an error before [`Stack::finish`]) prints the BareMetalHosts, the
//! Events, the machines' power and the tail of every process log, and keeps the logs.

pub mod binaries;
pub mod capi;
pub mod compare;
pub mod differential;
pub mod fleet;
pub mod images;
pub mod ironic_real;
pub mod kind;
pub mod kubectl;
pub mod kubernetes;
pub mod loopback;
pub mod mode;
pub mod process;
pub mod sim;
pub mod stack;
pub mod wait;

pub use fleet::FleetHost;
pub use stack::{OperatorUnderTest, Setup, Stack, external_cluster};
pub use wait::{Check, eventually};
