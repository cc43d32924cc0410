//! Starts real OpenStack Ironic (standalone, SQLite, noauth, fake-hardware) for comparison tests and benches.
//! Included by `ironic_*.rs` tests with `#[path]` (a folder, so cargo does not build it as a test target).
#![allow(dead_code)]

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running real Ironic; killed (its whole process group) on drop.
pub struct RealIronic {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    // Below Linux's ephemeral range (32768–60999): the many servers that bind port 0 while a real
    // Ironic starts (fake agents, BMCs, mocks) can never be handed the port Ironic was told to use.
    let start = 20_000 + (std::process::id() % 12_000) as u16;
    (0..12_000u16)
        .map(|i| 20_000 + (start - 20_000 + i) % 12_000)
        .find(|p| TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .expect("a free port in 20000..32000")
}

fn config(dir: &Path, port: u16, automated_clean: bool) -> String {
    let d = dir.display();
    format!(
        "[DEFAULT]\nauth_strategy=noauth\nrpc_transport=none\nenabled_hardware_types=fake-hardware,redfish,ipmi\n\
enabled_deploy_interfaces=fake,direct,ramdisk,custom-agent\nenabled_boot_interfaces=fake,ipxe,redfish-virtual-media\n\
enabled_power_interfaces=fake,redfish,ipmitool\nenabled_management_interfaces=fake,redfish,ipmitool\n\
enabled_inspect_interfaces=fake,no-inspect,redfish,agent\ndefault_network_interface=noop\nenabled_network_interfaces=noop\n\
log_file={d}/ironic.log\n\
[api]\nhost_ip=127.0.0.1\nport={port}\napi_workers=1\n\
[database]\nconnection=sqlite:///{d}/ironic.db\n\
[dhcp]\ndhcp_provider=none\n\
[deploy]\nhttp_root={d}/http\nhttp_url=http://127.0.0.1:{port}/\nfast_track=false\n\
[agent]\nrequire_tls=false\ndeploy_logs_collect=never\n\
[conductor]\nautomated_clean={automated_clean}\n\
[service_catalog]\nauth_type=none\nendpoint_override=http://127.0.0.1:{port}\n\
[oslo_concurrency]\nlock_path={d}/locks\n"
    )
}

fn wait_bounded(child: &mut Child, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Ok(Some(status)) = child.try_wait() {
            return status.success();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    false
}

/// Extra settings for agent-driven runs: `ipxe` boot (so Ironic sets a one-time PXE boot before every
/// ramdisk boot; PXE files go to the temp dir), short agent/IPMI poll intervals.
fn agent_config(dir: &Path) -> String {
    let d = dir.display();
    format!(
        "[pxe]\ntftp_root={d}/tftp\ntftp_master_path={d}/tftp/master\nimages_path={d}/images\n\
instance_master_path={d}/master_images\ntftp_server=127.0.0.1\n\
[agent]\npost_deploy_get_power_state_retry_interval=1\ncommand_wait_interval=1\n\
[ipmi]\nmin_command_interval=1\n"
    )
}

impl RealIronic {
    /// Starts real Ironic with the given `[conductor] automated_clean`; None (after a loud skip) if not installed.
    pub fn start(automated_clean: bool) -> Option<Self> {
        Self::start_with(automated_clean, false)
    }

    /// Like `start`, configured for deployments through an agent (`ipxe` boot, TFTP/HTTP roots).
    pub fn start_for_agents(automated_clean: bool) -> Option<Self> {
        Self::start_with(automated_clean, true)
    }

    fn start_with(automated_clean: bool, agents: bool) -> Option<Self> {
        let ironic: PathBuf = crate::support::peer("ironic")?;
        let dbsync = crate::support::peer("ironic-dbsync")?;
        let dir = tempfile::tempdir().expect("tempdir");
        for sub in ["http", "locks", "tftp/master", "images", "master_images"] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("state dir");
        }
        let port = free_port();
        let conf = dir.path().join("ironic.conf");
        let mut text = config(dir.path(), port, automated_clean);
        if agents {
            // oslo.config merges repeated sections, so the agent settings can follow.
            text.push_str(&agent_config(dir.path()));
        }
        std::fs::File::create(&conf)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .expect("config");
        let mut sync = Command::new(&dbsync)
            .args([
                "--config-file",
                conf.to_str().expect("path"),
                "create_schema",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ironic-dbsync");
        assert!(
            wait_bounded(&mut sync, Duration::from_secs(60)),
            "ironic-dbsync create_schema failed"
        );
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new(&ironic);
        // Every request stays on loopback: no proxy may be picked up from the environment.
        for var in [
            "http_proxy",
            "https_proxy",
            "all_proxy",
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
        ] {
            cmd.env_remove(var);
        }
        let child = cmd
            .env("no_proxy", "127.0.0.1,localhost")
            .env("NO_PROXY", "127.0.0.1,localhost")
            .args(["--config-file", conf.to_str().expect("path")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("ironic");
        let url = format!("http://127.0.0.1:{port}");
        let me = Self {
            child,
            url,
            _dir: dir,
        };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(me);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("real Ironic did not answer on {} within 60 s", me.url);
    }
}

impl Drop for RealIronic {
    fn drop(&mut self) {
        let pgid = self.child.id().to_string();
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{pgid}")])
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pgid}")])
            .status();
        let _ = self.child.wait();
    }
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
    let _ = rustls::crypto::ring::default_provider().install_default();
    let real = tokio::task::spawn_blocking(|| RealIronic::start(false))
        .await
        .expect("start real Ironic")?;
    let clock: metal_sim::ironic::Clock = std::sync::Arc::new(chrono::Utc::now);
    let state = metal_sim::ironic::AppState::new(
        metal_sim::ironic::conductor::Settings::with(timings, false),
        seed,
        clock,
    )
    .expect("mock");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let mock = format!("http://{}", listener.local_addr().expect("addr"));
    let server = tokio::spawn(metal_sim::ironic::serve(listener, state));
    Some((real, mock, server))
}
