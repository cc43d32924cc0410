//! The live fleet view of `metal-sim serve` read in headless chromium (`browser/live.test.mjs`;
//! skipped loudly without `scripts/browser.sh`'s tools, a failure under `REQUIRE_PEERS=1`): a
//! machine's row changing state while it powers on and PXE-boots its ramdisk, a fault clicked on
//! the page reaching the machine, a 2 001-machine fleet drawn a screenful at a time.
//! Addresses: 127.0.76.1 (BMCs, control API, mock Ironic).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use metal_sim::serve::Endpoints;
use metal_testkit::browser::run_bounded;
use metal_testkit::wait::{Check, Wait};

/// One machine to watch first in the list, then a crowd. A 4 s power-on (time scale 1) leaves
/// the page time to show it.
const FLEET: &str = "\
seed: 11
time_scale: 1
layout: {mode: single-address, base: 127.0.76.1, redfish_port: 18761}
groups:
  - name: target-0
    bmc: {protocol: redfish, username: admin, password: live-secret}
  - name: crowd-{index}
    count: 2000
    bmc: {protocol: redfish, username: admin, password: live-secret}
";

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn serve(dir: &Path) -> (Server, Endpoints) {
    let fleet = dir.join("fleet.yaml");
    std::fs::write(&fleet, FLEET).unwrap();
    let endpoints = dir.join("endpoints.json");
    let mut server = Server(
        Command::new(env!("CARGO_BIN_EXE_metal-sim"))
            .args([
                "serve",
                "--control",
                "127.0.76.1:0",
                "--ironic",
                "127.0.76.1:0",
            ])
            .arg("--fleet")
            .arg(&fleet)
            .arg("--endpoints")
            .arg(&endpoints)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let text = Wait::new("metal-sim serve's endpoints file", Duration::from_secs(30))
        .every(Duration::from_millis(50))
        .blocking(|| {
            if let Ok(text) = std::fs::read_to_string(&endpoints) {
                return Check::Done(text);
            }
            if let Some(status) = server.0.try_wait().unwrap() {
                panic!("metal-sim serve exited early with {status}");
            }
            Check::Pending("no file yet".into())
        })
        .unwrap();
    (server, serde_json::from_str(&text).unwrap())
}

#[test]
fn the_live_view_shows_a_machine_booting_and_sends_a_clicked_fault_to_it() {
    let Some(browser) = metal_testkit::browser::browser("the live fleet view in chromium") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (_server, endpoints) = serve(dir.path());
    let target = &endpoints.bmcs[0];
    assert_eq!(target.name, "target-0");
    let system = target
        .address
        .strip_prefix("redfish+")
        .expect("a plain Redfish address");
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let shot = shots.join("live-fleet-view.png");
    let mut node = browser.script(&repo().join("browser"), "live.test.mjs");
    node.env("BASE", &endpoints.control)
        .env("HOST", &target.name)
        .env("MACHINES", endpoints.bmcs.len().to_string())
        .env("SYSTEM", system)
        .env("BMC_USER", &target.username)
        .env("BMC_PASSWORD", &target.password)
        .env("SCREENSHOT", &shot);
    let out = run_bounded(node, Duration::from_secs(180));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "node: {stdout}\n{stderr}");
    assert!(stdout.contains("live view checked"), "{stdout}");
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 10_000,
        "a screenshot of the page"
    );
    eprintln!("{stdout}screenshot: {}", shot.display());
}
