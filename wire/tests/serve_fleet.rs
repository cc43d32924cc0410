//! `metal-sim serve` as a process: a small fleet on loopback, its endpoints file, the control API,
//! a Redfish and an IPMI BMC answering, and a clean stop on SIGTERM.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use metal_sim::serve::Endpoints;
use metal_testkit::wait::{Check, Wait};

const FLEET: &str = "\
seed: 5
time_scale: 0.01
layout: {mode: per-address, base: 127.0.91.1, redfish_port: 18000, ipmi_port: 16230}
groups:
  - name: sv-rf-{index}
    count: 2
    bmc: {protocol: redfish, username: admin, password: secret}
  - name: sv-ipmi-0
    profile: small
    bmc: {protocol: ipmi, username: admin, password: secret}
";

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn write_fleet(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("fleet.yaml");
    std::fs::write(&path, FLEET).unwrap();
    path
}

/// A bounded wait for the endpoints file.
fn wait_for_endpoints(path: &Path, server: &mut Server) -> Endpoints {
    let text = Wait::new("the endpoints file", Duration::from_secs(20))
        .every(Duration::from_millis(50))
        .blocking(|| {
            if let Ok(text) = std::fs::read_to_string(path) {
                return Check::Done(text);
            }
            if let Some(status) = server.0.try_wait().unwrap() {
                panic!("metal-sim serve exited early with {status}");
            }
            Check::Pending("no file".into())
        })
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A minimal HTTP/1.1 GET (no client library needed for loopback plain HTTP).
fn http_get(authority: &str, path: &str, basic: Option<(&str, &str)>) -> (u16, String) {
    let mut stream = TcpStream::connect(authority).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let auth = basic
        .map(|(u, p)| {
            let token = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
            format!("Authorization: Basic {token}\r\n")
        })
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let status = raw.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn serve_writes_endpoints_answers_on_every_bmc_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = write_fleet(dir.path());
    let endpoints_path = dir.path().join("endpoints.json");
    let mut server = Server(
        Command::new(env!("CARGO_BIN_EXE_metal-sim"))
            .args(["serve", "--control", "127.0.0.1:0", "--fleet"])
            .arg(&fleet)
            .arg("--endpoints")
            .arg(&endpoints_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let endpoints = wait_for_endpoints(&endpoints_path, &mut server);
    // It holds the BMC passwords: private from creation.
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&endpoints_path)
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "endpoints file mode {mode:o}");
    }

    let names: Vec<&str> = endpoints.bmcs.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["sv-rf-0", "sv-rf-1", "sv-ipmi-0"]);
    let rf = &endpoints.bmcs[0];
    assert!(
        rf.address
            .starts_with("redfish+http://127.0.91.1:18000/redfish/v1/Systems/"),
        "{}",
        rf.address
    );
    assert_eq!(endpoints.bmcs[2].address, "ipmi://127.0.91.3:16230");
    assert_eq!(
        (rf.username.as_str(), rf.password.as_str()),
        ("admin", "secret")
    );
    assert!(rf.boot_mac.as_deref().is_some_and(|m| m.len() == 17));

    let control = endpoints.control.strip_prefix("http://").unwrap();
    let (status, body) = http_get(control, "/hosts", None);
    assert_eq!(status, 200, "{body}");
    let hosts: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(hosts.as_array().unwrap().len(), 3);
    assert_eq!(hosts[0]["address"].as_str().unwrap(), rf.address);
    assert_eq!(hosts[0]["machine"]["power"], "Off");

    // The Redfish BMC answers at the exact address, and refuses a wrong password.
    let url = rf.address.strip_prefix("redfish+http://").unwrap();
    let (authority, path) = url.split_at(url.find('/').unwrap());
    let (status, body) = http_get(authority, path, Some(("admin", "secret")));
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(&rf.boot_mac.clone().unwrap()) || body.contains("ComputerSystem"),
        "{body}"
    );
    let (status, _) = http_get(authority, path, Some(("admin", "wrong")));
    assert_eq!(status, 401);

    // The IPMI BMC answers a real client, when it is installed.
    if let Some(ipmitool) = support::peer("ipmitool") {
        let out = Command::new(ipmitool)
            .args([
                "-I",
                "lanplus",
                "-C",
                "17",
                "-H",
                "127.0.91.3",
                "-p",
                "16230",
                "-U",
                "admin",
                "-P",
                "secret",
            ])
            .args(["-N", "1", "-R", "3", "power", "status"])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("Chassis Power is off"),
            "{stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let pid = server.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = Wait::new("serve to stop after SIGTERM", Duration::from_secs(10))
        .every(Duration::from_millis(50))
        .blocking(|| match server.0.try_wait().unwrap() {
            Some(s) => Check::Done(s),
            None => Check::Pending("running".into()),
        })
        .unwrap();
    assert!(status.success(), "serve exited with {status} after SIGTERM");
}

#[test]
fn exit_after_start_reports_start_up_time_and_memory() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = write_fleet(dir.path());
    let out = Command::new(env!("CARGO_BIN_EXE_metal-sim"))
        .args([
            "serve",
            "--control",
            "127.0.0.1:0",
            "--bind-base",
            "127.0.92.1",
            "--exit-after-start",
            "--fleet",
        ])
        .arg(&fleet)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("started 3 hosts in "), "{stdout}");
    assert!(
        stdout.contains("ipmi://127.0.92.3:16230"),
        "the --bind-base override moves every BMC: {stdout}"
    );
    assert!(stdout.contains("try: ipmitool -I lanplus"), "{stdout}");
    // The banner says where the passwords are; it does not print them.
    assert!(
        stdout.contains("BMC passwords: in the fleet file"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("secret"),
        "a password in the banner: {stdout}"
    );
}

#[test]
fn a_bad_fleet_file_fails_with_its_location() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, "groups:\n  - name: x\n    profile: nope\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_metal-sim"))
        .args(["fleet", "manifests"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:3:5: unknown profile", path.display())),
        "{stderr}"
    );
}

/// The command-line side of the mock Ironic's BMC network gate: a malformed network, or a network
/// without the mock Ironic, is refused before anything starts.
#[test]
fn serve_refuses_a_malformed_bmc_network_and_one_without_the_mock_ironic() {
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_metal-sim"))
            .arg("serve")
            // Were the flag accepted, start nothing lasting.
            .args(["--control", "127.0.0.1:0", "--exit-after-start"])
            .args(args)
            .env_remove("METAL_SIM_ALLOW_BMC_NETWORK")
            .env_remove("METAL_SIM_IRONIC")
            .output()
            .expect("run metal-sim");
        assert!(!out.status.success(), "{args:?} was accepted");
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let bad = run(&[
        "--ironic",
        "127.0.0.1:0",
        "--allow-bmc-network",
        "10.0.0.0/33",
    ]);
    assert!(bad.contains("--allow-bmc-network"), "{bad}");
    assert!(bad.contains("prefix longer than 32 bits"), "{bad}");
    let alone = run(&["--allow-bmc-network", "10.0.0.0/8"]);
    assert!(alone.contains("--ironic"), "{alone}");
}
