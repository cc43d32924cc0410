//! Finding and running the real Ironic for the operator's peer tests: the pinned venv, a loud
//! skip when it is missing (a failure under `REQUIRE_PEERS=1`), and a standalone Ironic on
//! 127.0.0.1 with every path under a temp dir.
#![allow(dead_code, unused_imports)]

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use metal_testkit::peers::{peer, peers_required};

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A running standalone Ironic (API and conductor in one process group). Stopped on drop.
pub struct Ironic {
    child: Child,
    pub endpoint: String,
    pub dir: tempfile::TempDir,
}

impl Ironic {
    /// Starts Ironic with SQLite, noauth, no message bus and the fake-hardware, redfish and ipmi
    /// hardware types; None when the peer is not installed.
    pub fn start() -> Option<Ironic> {
        let ironic = peer("ironic")?;
        let dbsync = peer("ironic-dbsync")?;
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let endpoint = format!("http://127.0.0.1:{port}");
        let conf = dir.path().join("ironic.conf");
        std::fs::create_dir_all(dir.path().join("http")).unwrap();
        std::fs::create_dir_all(dir.path().join("locks")).unwrap();
        std::fs::write(&conf, config(dir.path(), port)).unwrap();

        let out = Command::new(&dbsync)
            .arg("--config-file")
            .arg(&conf)
            .arg("create_schema")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ironic-dbsync failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let log = std::fs::File::create(dir.path().join("ironic.log")).unwrap();
        let child = Command::new(&ironic)
            .arg("--config-file")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap();
        let mut me = Ironic {
            child,
            endpoint,
            dir,
        };
        me.wait_ready(Duration::from_secs(60));
        Some(me)
    }

    fn wait_ready(&mut self, limit: Duration) {
        let addr = self.endpoint.trim_start_matches("http://").to_string();
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("ironic exited early ({status}); log:\n{}", self.log());
            }
            if std::net::TcpStream::connect(&addr).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "ironic did not listen within {limit:?}; log:\n{}",
            self.log()
        );
    }

    /// The tail of Ironic's log, for failure messages.
    pub fn log(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("ironic.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Ironic {
    fn drop(&mut self) {
        // SIGTERM to the process group we created (API workers included), then SIGKILL after
        // a bounded wait.
        let group = format!("-{}", self.child.id());
        let kill = |signal: &str| {
            let _ = Command::new("kill")
                .args([signal, "--", &group])
                .stderr(Stdio::null())
                .status();
        };
        kill("-TERM");
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                kill("-KILL");
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        kill("-KILL");
        let _ = self.child.wait();
    }
}

fn config(dir: &Path, port: u16) -> String {
    let d = dir.display();
    format!(
        "[DEFAULT]
auth_strategy = noauth
rpc_transport = none
host = metal-operator-test
use_stderr = true
enabled_hardware_types = fake-hardware,redfish,ipmi
enabled_boot_interfaces = fake,ipxe,redfish-virtual-media,redfish-https
enabled_deploy_interfaces = fake,direct,ramdisk,custom-agent
enabled_management_interfaces = fake,redfish,ipmitool
enabled_power_interfaces = fake,redfish,ipmitool
enabled_inspect_interfaces = fake,no-inspect,agent,redfish
enabled_raid_interfaces = fake,no-raid,redfish,agent
enabled_bios_interfaces = fake,no-bios,redfish
enabled_console_interfaces = fake,no-console
enabled_vendor_interfaces = fake,no-vendor,redfish,ipmitool
enabled_firmware_interfaces = fake,no-firmware,redfish
enabled_rescue_interfaces = fake,no-rescue
enabled_network_interfaces = noop
default_network_interface = noop
[api]
host_ip = 127.0.0.1
port = {port}
api_workers = 1
[database]
connection = sqlite:///{d}/ironic.db
[dhcp]
dhcp_provider = none
[deploy]
http_root = {d}/http
http_url = http://127.0.0.1:{port}/images
fast_track = false
[agent]
require_tls = false
deploy_logs_collect = never
[conductor]
automated_clean = false
[service_catalog]
auth_type = none
endpoint_override = http://127.0.0.1:{port}
[oslo_concurrency]
lock_path = {d}/locks
"
    )
}
