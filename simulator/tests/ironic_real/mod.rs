//! Real OpenStack Ironic (standalone, SQLite, noauth, fake-hardware; started by
//! `metal_testkit::ironic`) as the comparison tests and benches configure it. Included by
//! `ironic_*.rs` tests with `#[path]` (a folder, so cargo does not build it as a test target), beside
//! `mod support`.
#![allow(dead_code)]

/// One request sequence replayed side by side (the per-resource comparisons).
pub mod compare;

use metal_testkit::ironic::{Ironic, IronicConfig};

/// A running real Ironic; killed (its whole process group) on drop.
pub type RealIronic = Ironic;

/// fake-hardware beside redfish and ipmi, with the given `[conductor] automated_clean`.
fn config(automated_clean: bool) -> IronicConfig {
    IronicConfig::new("metal-sim-compare")
        .enable("hardware_types", "fake-hardware,redfish,ipmi")
        .enable("deploy_interfaces", "fake,direct,ramdisk,custom-agent")
        .enable("boot_interfaces", "fake,ipxe,redfish-virtual-media")
        .enable("power_interfaces", "fake,redfish,ipmitool")
        .enable("management_interfaces", "fake,redfish,ipmitool")
        .enable("inspect_interfaces", "fake,no-inspect,redfish,agent")
        // Redfish firmware is enabled for the nodes that ask for it; every node still defaults to
        // `no-firmware`, as with Ironic's own defaults.
        .enable("firmware_interfaces", "no-firmware,redfish")
        .extra("[DEFAULT]\ndefault_firmware_interface=no-firmware")
        .automated_clean(automated_clean)
}

/// Starts real Ironic with the given `[conductor] automated_clean`; None (after a loud skip) if
/// not installed. Blocking.
pub fn start(automated_clean: bool) -> Option<RealIronic> {
    Ironic::start(&config(automated_clean)).expect("start real Ironic")
}

/// Like `start`, configured for deployments through an agent (`ipxe` boot, TFTP/HTTP roots,
/// short agent and IPMI poll intervals).
pub fn start_for_agents(automated_clean: bool) -> Option<RealIronic> {
    Ironic::start(&config(automated_clean).ipxe()).expect("start real Ironic")
}

/// Starts real Ironic (or returns `None` after the peer-missing skip) and a mock Ironic with
/// `timings` and `seed` on a free loopback port: the set-up every mock-versus-real test shares.
/// Returns the real server, the mock's base URL and its task (abort it when done).
pub async fn start_real_and_mock(
    timings: metal_sim::ironic::conductor::Timings,
    seed: u64,
) -> Option<(
    RealIronic,
    String,
    tokio::task::JoinHandle<std::io::Result<()>>,
)> {
    start_real_and_mock_with(timings, seed, "").await
}

/// Like `start_real_and_mock`, with `extra` config text for real Ironic (e.g. a shorter
/// power-state sync to match the mock's `timings`).
pub async fn start_real_and_mock_with(
    timings: metal_sim::ironic::conductor::Timings,
    seed: u64,
    extra: &'static str,
) -> Option<(
    RealIronic,
    String,
    tokio::task::JoinHandle<std::io::Result<()>>,
)> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let real = tokio::task::spawn_blocking(move || {
        let mut cfg = config(false);
        if !extra.is_empty() {
            cfg = cfg.extra(extra);
        }
        Ironic::start(&cfg).expect("start real Ironic")
    })
    .await
    .expect("start real Ironic")?;
    let mock = crate::support::ironic::start_mock(
        metal_sim::ironic::conductor::Settings::with(timings, false),
        seed,
    )
    .await;
    Some((real, mock.url, mock.task))
}
