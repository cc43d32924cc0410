//! Mock versus real Ironic on the agent path: the same request sequence (create a Redfish node and its
//! boot port, manage, provide with automated cleaning, deploy `direct` with a checksummed image,
//! undeploy with cleaning) against real Ironic 39 and against the mock, each driving its own metal-sim
//! machine through the same fake agent. The milestone states each Ironic passes through, the final
//! states, `last_error` and the machine's disks must agree; the wall time of each phase is printed
//! side by side.

#[path = "ironic_real/mod.rs"]
mod ironic_real;
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use chrono::Utc;
use metal_sim::fleet::Fleet;
use metal_sim::ironic::conductor::{Settings, Timings};
use metal_sim::ironic::{AppState, Clock};
use metal_sim::machine::{PowerState, SimClock, World};
use metal_sim::serve::{self, ServeOptions};
use metal_testkit::wait::{Check, Wait};
use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};
use sha2::Digest;

/// One Redfish machine per Ironic, on a loopback network unique to this test.
fn fleet(net: u8) -> String {
    format!(
        "seed: 59\ntime_scale: 0.05\nlayout: {{mode: per-address, base: 127.0.{net}.1, redfish_port: 18000, ipmi_port: 16230}}\ngroups:\n  - name: cmp-rf\n    profile: compute\n    bmc: {{protocol: redfish}}\n"
    )
}

/// States that mark a phase (transient working states are seen or not depending on timing).
const MILESTONES: [&str; 8] = [
    "manageable",
    "clean wait",
    "available",
    "wait call-back",
    "active",
    "deploy failed",
    "clean failed",
    "error",
];

/// Serves the image and the deploy kernel/ramdisk real Ironic's `ipxe` boot wants to cache.
async fn file_server(image: Vec<u8>) -> String {
    use axum::http::header;
    let image = Arc::new(image);
    const MODIFIED: [(header::HeaderName, &str); 1] =
        [(header::LAST_MODIFIED, "Sun, 01 Nov 2026 00:00:00 GMT")];
    let app = Router::new()
        .route(
            "/disk.raw",
            get(move || {
                let image = Arc::clone(&image);
                async move { (MODIFIED, image.as_ref().clone()) }
            }),
        )
        .route(
            "/ipa.kernel",
            get(|| async { (MODIFIED, vec![0x4d_u8; 4096]) }),
        )
        .route(
            "/ipa.initramfs",
            get(|| async { (MODIFIED, vec![0x1f_u8; 8192]) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

struct Run {
    /// Milestone states in order, per phase.
    phases: Vec<(String, Vec<String>, Duration)>,
    last_error: Value,
    disks: Vec<(bool, Option<String>)>,
    power: PowerState,
}

async fn call(
    http: &reqwest::Client,
    base: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let mut req = http
        .request(method, format!("{base}{path}"))
        .header("X-OpenStack-Ironic-API-Version", "1.84");
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
    assert!((200..300).contains(&status), "{path}: {status} {v}");
    v
}

/// Runs the sequence against the Ironic at `base`, whose agents run on `world`'s machine.
async fn sequence(base: &str, world: &World, files: &str, image_sum: &str) -> Run {
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http");
    let h = world.host_by_name("cmp-rf").expect("host");
    let get = reqwest::Method::GET;
    // Real Ironic needs a conductor registered before nodes can be created.
    Wait::new(
        format!("{base}: a conductor to register"),
        Duration::from_secs(10),
    )
    .every(Duration::from_millis(100))
    .until_async(|| async {
        let d = call(&http, base, get.clone(), "/v1/drivers", None).await;
        Check::when(
            d["drivers"].as_array().is_some_and(|a| !a.is_empty()),
            || d.to_string(),
        )
    })
    .await
    .unwrap();
    let node = call(
        &http,
        base,
        reqwest::Method::POST,
        "/v1/nodes",
        Some(json!({
            "name": "cmp-rf", "driver": "redfish",
            "boot_interface": "ipxe", "deploy_interface": "direct", "inspect_interface": "no-inspect",
            "network_interface": "noop", "automated_clean": true,
            "driver_info": {
                "redfish_address": format!("http://{}", h.bmc.socket),
                "redfish_system_id": format!("/redfish/v1/Systems/{}", h.bmc.system_id),
                "redfish_username": h.bmc.credentials.username,
                "redfish_password": h.bmc.credentials.password,
                "deploy_kernel": format!("{files}/ipa.kernel"),
                "deploy_ramdisk": format!("{files}/ipa.initramfs"),
            },
        })),
    )
    .await;
    let uuid = node["uuid"].as_str().expect("uuid").to_string();
    let mac = h.profile.boot_mac().expect("boot mac").to_string();
    call(
        &http,
        base,
        reqwest::Method::POST,
        "/v1/ports",
        Some(json!({"node_uuid": uuid, "address": mac, "pxe_enabled": true})),
    )
    .await;
    h.with_machine(world.now(), |m| {
        for i in 0..m.disks().len() {
            m.write_image(world.now(), i, "http://127.0.0.1:9/old.raw", "sha256:00")
                .expect("dirty disk");
        }
    });
    let mut phases = Vec::new();
    let mut last = Value::Null;
    for (target, want) in [
        ("manage", "manageable"),
        ("provide", "available"),
        ("active", "active"),
        ("deleted", "available"),
    ] {
        if target == "active" {
            call(
                &http,
                base,
                reqwest::Method::PATCH,
                &format!("/v1/nodes/{uuid}"),
                Some(json!([
                    {"op": "add", "path": "/instance_info/image_source", "value": format!("{files}/disk.raw")},
                    {"op": "add", "path": "/instance_info/image_os_hash_algo", "value": "sha256"},
                    {"op": "add", "path": "/instance_info/image_os_hash_value", "value": image_sum},
                    {"op": "add", "path": "/instance_info/image_disk_format", "value": "raw"},
                ])),
            )
            .await;
        }
        call(
            &http,
            base,
            reqwest::Method::PUT,
            &format!("/v1/nodes/{uuid}/states/provision"),
            Some(json!({"target": target})),
        )
        .await;
        let start = Instant::now();
        let mut seen: Vec<String> = Vec::new();
        loop {
            let n = call(&http, base, get.clone(), &format!("/v1/nodes/{uuid}"), None).await;
            let state = n["provision_state"].as_str().unwrap_or("?").to_string();
            if MILESTONES.contains(&state.as_str()) && seen.last() != Some(&state) {
                seen.push(state.clone());
            }
            let failed = state.contains("failed")
                || state == "error"
                || (state == "enroll" && !n["last_error"].is_null());
            if failed || (state == want && n["target_provision_state"].is_null()) {
                last = n;
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(240),
                "{base}: {target} never reached {want}: {seen:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        phases.push((target.to_string(), seen, start.elapsed()));
        if last["provision_state"] != want {
            break;
        }
    }
    // Power settles after the BMC answered (bounded).
    let _ = Wait::new("the machine to be off", Duration::from_secs(10))
        .until(|| Check::from(h.view(world.now()).power == PowerState::Off))
        .await;
    let view = h.view(world.now());
    Run {
        phases,
        last_error: last["last_error"].clone(),
        disks: view
            .disks
            .iter()
            .map(|d| (d.partition_table, d.image.as_ref().map(|i| i.url.clone())))
            .collect(),
        power: view.power,
    }
}

async fn world_pointing_at(net: u8, ironic: &str) -> (Arc<World>, serve::Running) {
    let world = Arc::new(
        Fleet::parse(&fleet(net), "cmp.yaml")
            .expect("fleet")
            .build_world(SimClock::start_now())
            .expect("world"),
    );
    let running = serve::start(
        Arc::clone(&world),
        ServeOptions {
            control: "127.0.0.1:0".parse().expect("addr"),
            ironic_url: Some(ironic.to_string()),
            ..ServeOptions::default()
        },
    )
    .await
    .expect("serve");
    (world, running)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mock_and_real_ironic_clean_deploy_and_undeploy_through_the_fake_agent_alike() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(real) = tokio::task::spawn_blocking(|| ironic_real::start_for_agents(true))
        .await
        .expect("start real Ironic")
    else {
        return;
    };
    let clock: Clock = Arc::new(Utc::now);
    // Real Ironic runs with stock clean-step priorities here (the agent's own: metadata wipe, then a
    // full erase); the mock is configured alike (its default is Metal3's: metadata only).
    let settings = Settings {
        erase_devices_priority: None,
        erase_devices_metadata_priority: None,
        ..Settings::with(Timings::instant(), true)
    };
    let state = AppState::new(settings, 59, clock).expect("mock");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let mock = format!("http://{}", listener.local_addr().expect("addr"));
    let mock_task = tokio::spawn(metal_sim::ironic::serve(listener, state));

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(59);
    let image: Vec<u8> = (0..(256 << 10)).map(|_| rng.random::<u8>()).collect();
    let image_sum: String = sha2::Sha256::digest(&image)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let files = file_server(image).await;

    let (real_world, real_serve) = world_pointing_at(59, real.url()).await;
    let (mock_world, mock_serve) = world_pointing_at(60, &mock).await;
    let (r, m) = tokio::join!(
        sequence(real.url(), &real_world, &files, &image_sum),
        sequence(&mock, &mock_world, &files, &image_sum),
    );
    for ((phase, rs, rt), (_, ms, mt)) in r.phases.iter().zip(&m.phases) {
        eprintln!(
            "FIGURE {phase:<8} real Ironic {:>6.1} s {rs:?} | mock {:>6.1} s {ms:?}",
            rt.as_secs_f64(),
            mt.as_secs_f64()
        );
    }
    let states = |run: &Run| -> Vec<(String, Vec<String>)> {
        run.phases
            .iter()
            .map(|(p, s, _)| (p.clone(), s.clone()))
            .collect()
    };
    assert_eq!(states(&m), states(&r), "milestone states, mock vs real");
    assert_eq!(m.last_error, r.last_error);
    assert_eq!(m.disks, r.disks, "disks after the cycle, mock vs real");
    assert_eq!(m.power, r.power);
    assert_eq!(
        r.phases.last().map(|(p, _, _)| p.as_str()),
        Some("deleted"),
        "the whole cycle ran"
    );
    real_serve.shutdown().await.expect("shutdown");
    mock_serve.shutdown().await.expect("shutdown");
    mock_task.abort();
}
