//! Real OpenStack Ironic for end-to-end runs of the operator against it (the launcher is
//! `metal_testkit::ironic`): configured with every hardware type and interface the operator
//! chooses from a BMC address (`metal_operator::bmc`), `ipxe` boot with its PXE/HTTP roots in a
//! temp dir, no DHCP, and the deploy kernel and ramdisk served on loopback (Ironic downloads them
//! into its image cache before each ramdisk boot; the fake agent does not need their bytes).
//!
//! Ironic also needs `ipmitool` for the ipmi hardware type and `genisoimage` (or
//! `mkisofs`/`xorrisofs`) to build the config drive the operator sends. A missing peer is a loud
//! SKIP, or a failure under `REQUIRE_PEERS=1`.

use std::time::Duration;

use anyhow::Context as _;
use metal_testkit::images::{FileServer, deploy_images};
use metal_testkit::ironic::{Ironic, IronicConfig};

pub use metal_testkit::peers::{peer, peers_required};

/// How long Ironic gets to create its schema and to answer.
const STARTUP: Duration = Duration::from_secs(90);

/// What the operator-facing real Ironic enables.
fn config() -> IronicConfig {
    IronicConfig::new("e2e-real")
        .enable("hardware_types", "redfish,ipmi")
        .enable("deploy_interfaces", "direct,ramdisk,custom-agent")
        .enable("boot_interfaces", "ipxe")
        .enable("power_interfaces", "redfish,ipmitool")
        .enable("management_interfaces", "redfish,ipmitool")
        .enable("inspect_interfaces", "agent,redfish,no-inspect")
        .enable("firmware_interfaces", "redfish,no-firmware")
        .enable("raid_interfaces", "redfish,agent,no-raid")
        .enable("bios_interfaces", "redfish,no-bios")
        .enable("vendor_interfaces", "redfish,ipmitool,no-vendor")
        .automated_clean(true)
        .ipxe()
        .needs("ipmitool")
        .config_drives()
        .startup(STARTUP)
}

/// A running real Ironic and its deploy-image server; both are stopped on drop.
pub struct RealIronic {
    ironic: Ironic,
    deploy_images: FileServer,
}

impl RealIronic {
    /// Starts real Ironic, or returns `Ok(None)` after the loud peer-missing SKIP (`ironic`,
    /// `ironic-dbsync`, `ipmitool`, and an ISO tool for config drives).
    pub async fn start() -> anyhow::Result<Option<RealIronic>> {
        let Some(ironic) = tokio::task::spawn_blocking(|| Ironic::start(&config()))
            .await
            .context("starting real Ironic")??
        else {
            return Ok(None);
        };
        // `/ipa.kernel`, `/ipa.initramfs` and `/ipa.iso`, placeholder bytes with the fixed
        // Last-Modified Ironic's image cache asks for.
        let deploy_images = FileServer::start(deploy_images())
            .await
            .context("serving the deploy images")?;
        Ok(Some(RealIronic {
            ironic,
            deploy_images,
        }))
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        self.ironic.url()
    }

    /// The base URL of the deploy kernel and ramdisk (for [`crate::Setup::deploy_images`]).
    pub fn deploy_base(&self) -> &str {
        self.deploy_images.base()
    }

    /// The last `lines` INFO/WARNING/ERROR lines of Ironic's log.
    pub fn log_tail(&self, lines: usize) -> String {
        self.ironic.log_tail(lines)
    }
}
