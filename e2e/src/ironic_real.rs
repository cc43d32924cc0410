//! Real OpenStack Ironic (standalone, SQLite, noauth) for end-to-end runs of the operator against it:
//! configured with every hardware type and interface the operator chooses from a BMC address
//! (`metal_operator::bmc`), `ipxe` boot with its PXE/HTTP roots in a temp dir, no DHCP, and the deploy
//! kernel and ramdisk served on loopback (Ironic downloads them into its image cache before each
//! ramdisk boot; the fake agent does not need their bytes).
//!
//! Ironic also needs `genisoimage` (or `mkisofs`/`xorrisofs`) to build the config drive the operator
//! sends. The peer is found as the simulator's peer tests find it: `PEERS_VENV/bin`, the default venv under
//! `~/.cache/metal-peers`, then `PATH`. When it is missing, [`peer`] says SKIP loudly and returns
//! `None`, or fails under `REQUIRE_PEERS=1`.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use axum::Router;
use axum::http::header;
use axum::routing::get;
use tokio::task::JoinHandle;

use crate::wait::{Check, eventually};

/// How long Ironic gets to create its schema and to answer.
const STARTUP: Duration = Duration::from_secs(90);

use metal_testkit::peers::find;
pub use metal_testkit::peers::{peer, peers_required};

/// The `ironic.conf` of an operator-facing real Ironic.
fn config(dir: &Path, port: u16) -> String {
    let d = dir.display();
    format!(
        "[DEFAULT]\nauth_strategy=noauth\nrpc_transport=none\nmy_ip=127.0.0.1\nhost=e2e-real\n\
enabled_hardware_types=redfish,ipmi\n\
enabled_deploy_interfaces=direct,ramdisk,custom-agent\n\
enabled_boot_interfaces=ipxe\n\
enabled_power_interfaces=redfish,ipmitool\n\
enabled_management_interfaces=redfish,ipmitool\n\
enabled_inspect_interfaces=agent,redfish,no-inspect\n\
enabled_firmware_interfaces=redfish,no-firmware\n\
enabled_raid_interfaces=redfish,agent,no-raid\n\
enabled_bios_interfaces=redfish,no-bios\n\
enabled_vendor_interfaces=redfish,ipmitool,no-vendor\n\
default_network_interface=noop\nenabled_network_interfaces=noop\n\
log_file={d}/ironic.log\ndebug=true\n\
[api]\nhost_ip=127.0.0.1\nport={port}\napi_workers=1\n\
[database]\nconnection=sqlite:///{d}/ironic.db\n\
[dhcp]\ndhcp_provider=none\n\
[deploy]\nhttp_root={d}/http\nhttp_url=http://127.0.0.1:{port}/\nfast_track=false\n\
[pxe]\ntftp_root={d}/tftp\ntftp_master_path={d}/tftp/master\nimages_path={d}/images\n\
instance_master_path={d}/master_images\ntftp_server=127.0.0.1\n\
[agent]\nrequire_tls=false\ndeploy_logs_collect=never\npost_deploy_get_power_state_retry_interval=1\n\
command_wait_interval=1\n\
[ipmi]\nmin_command_interval=1\n\
[conductor]\nautomated_clean=true\n\
[service_catalog]\nauth_type=none\nendpoint_override=http://127.0.0.1:{port}\n\
[oslo_concurrency]\nlock_path={d}/locks\n"
    )
}

/// A command for a peer with every proxy variable removed: all its traffic stays on loopback.
fn command(program: &Path) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(program);
    for var in [
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
    ] {
        c.env_remove(var);
    }
    c.env("no_proxy", "127.0.0.1,localhost")
        .env("NO_PROXY", "127.0.0.1,localhost");
    c
}

/// A running real Ironic and its deploy-image server; Ironic's process group is killed on drop.
pub struct RealIronic {
    pid: Option<u32>,
    child: tokio::process::Child,
    url: String,
    deploy_base: String,
    deploy_server: JoinHandle<()>,
    dir: tempfile::TempDir,
}

impl RealIronic {
    /// Starts real Ironic, or returns `Ok(None)` after the loud peer-missing SKIP (`ironic`,
    /// `ironic-dbsync`, `ipmitool` for the ipmi hardware type, and an ISO tool for config drives).
    pub async fn start() -> anyhow::Result<Option<RealIronic>> {
        // Ironic builds the config drive the operator sends (meta_data, user_data) into an ISO
        // with whichever of these it finds.
        let iso_tool = ["genisoimage", "mkisofs", "xorrisofs"]
            .into_iter()
            .find_map(find)
            .or_else(|| peer("genisoimage"));
        let (Some(ironic), Some(dbsync), Some(_), Some(_)) = (
            peer("ironic"),
            peer("ironic-dbsync"),
            peer("ipmitool"),
            iso_tool,
        ) else {
            return Ok(None);
        };
        let dir = tempfile::Builder::new()
            .prefix("metal-e2e-real-ironic-")
            .tempdir()
            .context("creating real Ironic's directory")?;
        for sub in ["http", "tftp/master", "images", "master_images", "locks"] {
            std::fs::create_dir_all(dir.path().join(sub))
                .with_context(|| format!("creating {sub}"))?;
        }
        let port = free_port()?;
        let conf = dir.path().join("ironic.conf");
        std::fs::write(&conf, config(dir.path(), port)).context("writing ironic.conf")?;
        let sync = command(&dbsync)
            .arg("--config-file")
            .arg(&conf)
            .arg("create_schema")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(STARTUP, sync)
            .await
            .context("ironic-dbsync create_schema did not finish in time")?
            .context("running ironic-dbsync")?;
        if !out.status.success() {
            bail!(
                "ironic-dbsync create_schema failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let child = command(&ironic)
            .arg("--config-file")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .context("starting ironic")?;
        let (deploy_base, deploy_server) = serve_deploy_images().await?;
        let mut me = RealIronic {
            pid: child.id(),
            child,
            url: format!("http://127.0.0.1:{port}"),
            deploy_base,
            deploy_server,
            dir,
        };
        me.wait_ready().await?;
        Ok(Some(me))
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let http = crate::sim::http_client()?;
        let url = format!("{}/v1", self.url);
        eventually(STARTUP, "real Ironic to answer GET /v1", || {
            let exited = self.child.try_wait().ok().flatten();
            let tail = self.log_tail(20);
            let http = http.clone();
            let url = url.clone();
            async move {
                if let Some(status) = exited {
                    bail!("real Ironic exited ({status}); its log ends with:\n{tail}");
                }
                Ok(match http.get(&url).send().await {
                    Ok(r) if r.status().is_success() => Check::Done(()),
                    Ok(r) => Check::Pending(format!("GET /v1: {}", r.status())),
                    Err(e) => Check::Pending(format!("GET /v1: {e}")),
                })
            }
        })
        .await
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The base URL of the deploy kernel and ramdisk (for [`crate::Setup::deploy_images`]).
    pub fn deploy_base(&self) -> &str {
        &self.deploy_base
    }

    /// The last `lines` INFO/WARNING/ERROR lines of Ironic's log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("ironic.log")).unwrap_or_default();
        let kept: Vec<&str> = text
            .lines()
            .filter(|l| l.contains(" ERROR ") || l.contains(" WARNING ") || l.contains(" INFO "))
            .collect();
        kept[kept.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for RealIronic {
    fn drop(&mut self) {
        self.deploy_server.abort();
        if std::thread::panicking() {
            eprintln!("--- tail of real Ironic's log\n{}", self.log_tail(60));
        }
        // The API and conductor run as one process group: stop all of it.
        if let Some(pid) = self.pid {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", "--", &format!("-{pid}")])
                .status();
            for _ in 0..50 {
                if matches!(self.child.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .status();
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    // Below Linux's ephemeral range (32768–60999): the many servers that bind port 0 while a real
    // Ironic starts (fake agents, BMCs, the stack) can never be handed the port Ironic was told to use.
    let start = (std::process::id() % 12_000) as u16;
    (0..12_000u16)
        .map(|i| 20_000 + (start + i) % 12_000)
        .find(|p| TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .context("no free port in 20000..32000")
}

/// Serves `/ipa.kernel`, `/ipa.initramfs` and `/ipa.iso` (placeholder bytes with a fixed
/// Last-Modified, which Ironic's image cache asks for) on 127.0.0.1.
async fn serve_deploy_images() -> anyhow::Result<(String, JoinHandle<()>)> {
    const MODIFIED: [(header::HeaderName, &str); 1] =
        [(header::LAST_MODIFIED, "Sun, 01 Nov 2026 00:00:00 GMT")];
    let app = Router::new()
        .route(
            "/ipa.kernel",
            get(|| async { (MODIFIED, vec![0x4d_u8; 4096]) }),
        )
        .route(
            "/ipa.initramfs",
            get(|| async { (MODIFIED, vec![0x1f_u8; 8192]) }),
        )
        .route("/ipa.iso", get(|| async { (MODIFIED, vec![0_u8; 8192]) }));
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .context("binding the deploy image server")?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("deploy image server stopped: {e}");
        }
    });
    Ok((format!("http://{addr}"), task))
}
