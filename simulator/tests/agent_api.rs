//! The fake agent's command API over HTTP, as Ironic calls it: token check, IPA's error bodies,
//! command results in order, `wait=true`, write_image with a real download and checksum.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use metal_sim::agent::image::HashAlgo;
use metal_sim::agent::server::{self, AgentServer, ServerOptions};
use metal_sim::agent::{Agent, Binding};
use metal_sim::fleet::Fleet;
use metal_sim::machine::{SimClock, World, derive_rng};
use serde_json::{Value, json};
use tokio::sync::watch;

const FLEET: &str = "\
seed: 5
time_scale: 0
layout: {mode: single-address, base: 127.0.0.1, redfish_port: 1, ipmi_port: 2}
groups:
  - name: a-{index}
    count: 1
    profile: compute
";

const IMAGE: &[u8] = b"a small but perfectly valid simulated disk image";
const LOOPBACK: [u8; 4] = [127, 0, 0, 1];

struct Fixture {
    world: Arc<World>,
    server: AgentServer,
    images: String,
    /// Holds `/slow.raw` back until set: the download is under way until the test lets it end.
    slow_released: watch::Sender<bool>,
    http: reqwest::Client,
}

async fn image_server(released: watch::Receiver<bool>) -> String {
    let app = Router::new()
        .route("/img.raw", get(|| async { IMAGE.to_vec() }))
        .route(
            "/slow.raw",
            get(move || {
                let mut released = released.clone();
                async move {
                    let _ = released.wait_for(|go| *go).await;
                    IMAGE.to_vec()
                }
            }),
        )
        .route(
            "/SHA256SUMS",
            get(|| async { format!("{}  img.raw\n", HashAlgo::Sha256.hex_digest(IMAGE)) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

async fn fixture() -> Fixture {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let world = Arc::new(
        Fleet::parse(FLEET, "a.yaml")
            .unwrap()
            .build_world(SimClock::start_now())
            .unwrap(),
    );
    let host = Arc::clone(&world.hosts()[0]);
    // An agent runs on a machine that is on (it writes disks only then).
    let now = world.now();
    host.with_machine(now, |m| m.power_on(now)).unwrap();
    let mut agent = Agent::new(&host.name, host.profile.clone(), derive_rng(5, "agent", 0));
    agent.bind(Binding {
        node_uuid: "node-1".into(),
        token: "s3cret".into(),
        md5_allowed: false,
    });
    let http = metal_sim::agent::client::http_client(Duration::from_secs(10)).unwrap();
    let server = server::start(
        IpAddr::from(LOOPBACK),
        host,
        *world.clock(),
        agent,
        http.clone(),
        ServerOptions::default(),
    )
    .await
    .unwrap();
    let (slow_released, released) = watch::channel(false);
    Fixture {
        world,
        server,
        images: image_server(released).await,
        slow_released,
        http,
    }
}

impl Fixture {
    async fn post(&self, wait: bool, name: &str, params: Value) -> (u16, Value) {
        let url = format!(
            "{}/v1/commands/?wait={wait}&agent_token=s3cret",
            self.server.callback_url()
        );
        let r = self
            .http
            .post(url)
            .json(&json!({"name": name, "params": params}))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.server.callback_url()))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    fn write_image_params(&self, file: &str, image_info_extra: Value) -> Value {
        let mut info = json!({"id": "img-1", "urls": [format!("{}/{file}", self.images)],
                              "disk_format": "raw", "container_format": "bare"});
        if let (Some(i), Some(extra)) = (info.as_object_mut(), image_info_extra.as_object()) {
            i.extend(extra.clone());
        }
        json!({"step": {"interface": "deploy", "step": "write_image", "priority": 80,
                        "args": {"image_info": info, "configdrive": "H4sIAAAA"}},
               "node": {"uuid": "node-1", "properties": {}}, "ports": [],
               "deploy_version": {"generic_hardware_manager": "1.2"}})
    }

    async fn wait_done(&self, id: &str) -> Value {
        let (status, body) = self
            .get(&format!("/v1/commands/{id}?wait=true&agent_token=s3cret"))
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }
}

#[tokio::test]
async fn a_wrong_or_missing_token_is_refused_with_ipas_fault_body() {
    let f = fixture().await;
    let (status, body) = f.get("/v1/commands/?agent_token=nope").await;
    assert_eq!(status, 401);
    assert_eq!(body["faultcode"], "Client");
    assert!(
        body["faultstring"]
            .as_str()
            .unwrap()
            .contains("Token invalid")
    );
    let (status, _) = f.get("/v1/commands/").await;
    assert_eq!(status, 401);
    let (status, body) = f.get("/v1/commands/?agent_token=s3cret").await;
    assert_eq!((status, body), (200, json!({"commands": []})));
}

#[tokio::test]
async fn write_image_downloads_verifies_and_lands_on_the_simulated_disk() {
    let f = fixture().await;
    let (status, steps) = f
        .post(
            true,
            "deploy.get_deploy_steps",
            json!({"node": {}, "ports": []}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(steps["command_status"], "SUCCEEDED");
    assert!(
        !steps["command_result"]["deploy_steps"]["GenericHardwareManager"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let sum = HashAlgo::Sha256.hex_digest(IMAGE);
    let params = f.write_image_params(
        "img.raw",
        json!({"os_hash_algo": "sha256", "os_hash_value": sum}),
    );
    let (status, started) = f.post(false, "deploy.execute_deploy_step", params).await;
    assert_eq!(status, 200);
    assert_eq!(started["command_name"], "execute_deploy_step");
    let done = f.wait_done(started["id"].as_str().unwrap()).await;
    assert_eq!(done["command_status"], "SUCCEEDED", "{done}");
    assert_eq!(done["command_result"]["deploy_step"]["step"], "write_image");
    let view = f.world.hosts()[0].view(f.world.now());
    let written: Vec<_> = view.disks.iter().filter(|d| d.image.is_some()).collect();
    assert_eq!(written.len(), 1);
    let image = written[0].image.as_ref().unwrap();
    assert_eq!(image.url, format!("{}/img.raw", f.images));
    assert_eq!(image.checksum, format!("sha256:{sum}"));
    assert!(written[0].partition_table);
    let (_, list) = f.get("/v1/commands/?agent_token=s3cret").await;
    let names: Vec<&str> = list["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["command_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["get_deploy_steps", "execute_deploy_step"]);
    let (_, uuids) = f.post(true, "standby.get_partition_uuids", json!({})).await;
    assert!(uuids["command_result"]["root uuid"].is_string());
    let (_, boot) = f
        .post(
            true,
            "image.install_bootloader",
            json!({"root_uuid": null, "target_boot_mode": "uefi"}),
        )
        .await;
    assert_eq!(boot["command_status"], "SUCCEEDED");
}

#[tokio::test]
async fn a_checksum_file_url_is_fetched_and_used() {
    let f = fixture().await;
    let params = f.write_image_params(
        "img.raw",
        json!({"checksum": format!("{}/SHA256SUMS", f.images)}),
    );
    let (_, started) = f.post(false, "deploy.execute_deploy_step", params).await;
    let done = f.wait_done(started["id"].as_str().unwrap()).await;
    assert_eq!(done["command_status"], "SUCCEEDED", "{done}");
}

#[tokio::test]
async fn a_checksum_mismatch_fails_the_command_and_writes_nothing() {
    let f = fixture().await;
    let params = f.write_image_params(
        "img.raw",
        json!({"os_hash_algo": "sha512", "os_hash_value": "ab".repeat(64)}),
    );
    let (_, started) = f.post(true, "deploy.execute_deploy_step", params).await;
    assert_eq!(started["command_status"], "FAILED", "{started}");
    assert_eq!(started["command_error"]["type"], "ImageChecksumError");
    assert!(
        started["command_error"]["details"]
            .as_str()
            .unwrap()
            .contains("Image failed to verify against checksum")
    );
    let view = f.world.hosts()[0].view(f.world.now());
    assert!(view.disks.iter().all(|d| d.image.is_none()));
}

#[tokio::test]
async fn a_second_command_while_one_runs_gets_409_agent_is_busy() {
    let f = fixture().await;
    let sum = HashAlgo::Sha256.hex_digest(IMAGE);
    let params = f.write_image_params(
        "slow.raw",
        json!({"os_hash_algo": "sha256", "os_hash_value": sum}),
    );
    let (_, started) = f.post(false, "deploy.execute_deploy_step", params).await;
    assert_eq!(started["command_status"], "RUNNING");
    let (status, body) = f.post(false, "standby.sync", json!({})).await;
    assert_eq!(status, 409);
    assert!(
        body["faultstring"]
            .as_str()
            .unwrap()
            .starts_with("Agent is busy")
    );
    f.slow_released.send_replace(true);
    let done = f.wait_done(started["id"].as_str().unwrap()).await;
    assert_eq!(done["command_status"], "SUCCEEDED");
}

#[tokio::test]
async fn bad_requests_get_ipas_status_codes() {
    let f = fixture().await;
    let (status, body) = f.post(false, "nosuch.thing", json!({})).await;
    assert_eq!(status, 404);
    assert!(
        body["faultstring"]
            .as_str()
            .unwrap()
            .contains("Extension with id nosuch")
    );
    let (status, _) = f.post(false, "standby.nosuch", json!({})).await;
    assert_eq!(status, 400);
    let (status, _) = f.post(false, "nodot", json!({})).await;
    assert_eq!(status, 400);
    let (status, _) = f.get("/v1/commands/nope?agent_token=s3cret").await;
    assert_eq!(status, 404);
    let url = format!(
        "{}/v1/commands/?agent_token=s3cret",
        f.server.callback_url()
    );
    let r = f.http.post(url).body("not json").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
}

#[tokio::test]
async fn images_off_loopback_are_never_fetched() {
    let f = fixture().await;
    let mut params = f.write_image_params(
        "img.raw",
        json!({"os_hash_algo": "sha256", "os_hash_value": "00".repeat(32)}),
    );
    params["step"]["args"]["image_info"]["urls"] = json!(["http://192.0.2.1/img.raw"]);
    let (_, started) = f.post(true, "deploy.execute_deploy_step", params).await;
    assert_eq!(started["command_status"], "FAILED");
    assert_eq!(started["command_error"]["type"], "ImageDownloadError");
    assert!(
        started["command_error"]["details"]
            .as_str()
            .unwrap()
            .contains("not a loopback URL")
    );
}

/// An image server that redirects: a redirect to another loopback address is followed, one off
/// loopback is refused before any connection (the target here is 0.0.0.0, which would reach only
/// this machine even if the check were missing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_downloads_follow_redirects_only_on_loopback() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = Router::new()
        .route("/image", get(|| async { IMAGE }))
        .route(
            "/to-loopback",
            get(move || async move {
                axum::response::Redirect::temporary(&format!("http://127.0.0.1:{port}/image"))
            }),
        )
        .route(
            "/off-loopback",
            get(move || async move {
                axum::response::Redirect::temporary(&format!("http://0.0.0.0:{port}/image"))
            }),
        );
    let served = tokio::spawn(async move { axum::serve(listener, app).await });
    let http = metal_sim::agent::client::http_client(Duration::from_secs(5)).unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let got = metal_sim::agent::client::download(&http, &format!("{base}/to-loopback"), 1 << 20)
        .await
        .unwrap();
    assert_eq!(got, IMAGE);
    let refused =
        metal_sim::agent::client::download(&http, &format!("{base}/off-loopback"), 1 << 20)
            .await
            .unwrap_err();
    let mut chain = refused.to_string();
    let mut cause = std::error::Error::source(&refused);
    while let Some(c) = cause {
        chain.push_str(" / ");
        chain.push_str(&c.to_string());
        cause = c.source();
    }
    assert!(
        chain.contains("redirect") && chain.contains("0.0.0.0"),
        "{chain}"
    );
    served.abort();
}
