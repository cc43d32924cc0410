//! redfishtool (DMTF's CLI) raw GETs of the main resources of our fake BMC, over HTTPS with Basic
//! and Session authentication, and over plain HTTP.

#[path = "redfish_fixture.rs"]
mod fixture;
mod support;

use std::path::Path;
use std::time::Duration;

use metal_sim::machine::Timing;
use serde_json::Value;

async fn raw_get(
    tool: &Path,
    server: &fixture::Server,
    secure: &str,
    auth: &str,
    uri: &str,
) -> Value {
    let mut command = tokio::process::Command::new(tool);
    command
        .arg("-r")
        .arg(server.address.to_string())
        .args([
            "-u",
            fixture::USER,
            "-p",
            fixture::PASSWORD,
            "-S",
            secure,
            "-A",
            auth,
            "-T",
            "10",
        ])
        .args(["raw", "GET", uri])
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("redfishtool finished within a minute")
        .expect("redfishtool ran");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "redfishtool GET {uri} failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("GET {uri}: not JSON ({e}): {stdout}"))
}

fn main_resources(id: &str) -> Vec<String> {
    let mut v: Vec<String> = [
        "/redfish/v1/",
        "/redfish/v1/Systems",
        "/redfish/v1/Managers",
        "/redfish/v1/Chassis",
        "/redfish/v1/SessionService",
        "/redfish/v1/AccountService",
        "/redfish/v1/UpdateService",
        "/redfish/v1/TaskService",
    ]
    .map(String::from)
    .to_vec();
    for sub in [
        "",
        "/Processors",
        "/Processors/CPU1",
        "/Memory",
        "/Storage/1",
        "/EthernetInterfaces/eno1",
        "/PCIeDevices/1",
        "/Bios",
        "/SecureBoot",
        "/VirtualMedia/Cd",
    ] {
        v.push(format!("/redfish/v1/Systems/{id}{sub}"));
    }
    v.push(format!("/redfish/v1/Managers/{id}"));
    v.push(format!("/redfish/v1/Chassis/{id}"));
    v
}

async fn check_all(secure: &str, auth: &str, tls: bool) {
    let Some(tool) = support::peer("redfishtool") else {
        return;
    };
    let server = fixture::Server::start(1, tls, Timing::instant()).await;
    let id = fixture::system_id(&server.world);
    for uri in main_resources(&id) {
        let body = raw_get(&tool, &server, secure, auth, &uri).await;
        assert_eq!(
            body["@odata.id"].as_str(),
            Some(uri.as_str()),
            "GET {uri} answered {body}"
        );
        assert!(
            body["@odata.type"]
                .as_str()
                .is_some_and(|t| t.starts_with('#')),
            "GET {uri}: no @odata.type"
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redfishtool_reads_the_main_resources_over_https_with_basic_auth() {
    check_all("Always", "Basic", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redfishtool_reads_the_main_resources_over_https_with_a_session() {
    check_all("Always", "Session", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redfishtool_reads_the_main_resources_over_plain_http() {
    check_all("Never", "Basic", false).await;
}
