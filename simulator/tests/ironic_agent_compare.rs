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
use std::time::Duration;

use metal_sim::ironic::conductor::{Settings, Timings};
use metal_sim::machine::{PowerState, World};
use metal_sim::serve;
use metal_testkit::images::{FileServer, Image, KERNEL, RAMDISK, deploy_images};
use metal_testkit::wait::{Check, Wait};
use serde_json::{Value, json};
use support::ironic::{IronicApi, StateWait};

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

struct Run {
    /// Milestone states in order, per phase.
    phases: Vec<(String, Vec<String>, Duration)>,
    last_error: Value,
    disks: Vec<(bool, Option<String>)>,
    power: PowerState,
}

/// Runs the sequence against the Ironic at `base`, whose agents run on `world`'s machine.
async fn sequence(base: &str, world: &World, files: &FileServer, image_sum: &str) -> Run {
    let api = IronicApi::new(base, "1.84");
    let h = world.host_by_name("cmp-rf").expect("host");
    // Real Ironic needs a conductor registered before nodes can be created.
    Wait::new(
        format!("{base}: a conductor to register"),
        Duration::from_secs(10),
    )
    .every(Duration::from_millis(100))
    .until_async(|| async {
        let d = api.ok(reqwest::Method::GET, "/v1/drivers", None).await;
        Check::when(
            d["drivers"].as_array().is_some_and(|a| !a.is_empty()),
            || d.to_string(),
        )
    })
    .await
    .unwrap();
    let node = api
        .ok(
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
                "deploy_kernel": files.url(KERNEL),
                "deploy_ramdisk": files.url(RAMDISK),
            },
        })),
    )
    .await;
    let uuid = node["uuid"].as_str().expect("uuid").to_string();
    let mac = h.profile.boot_mac().expect("boot mac").to_string();
    api.ok(
        reqwest::Method::POST,
        "/v1/ports",
        Some(json!({"node_uuid": uuid, "address": mac, "pxe_enabled": true})),
    )
    .await;
    support::ironic::dirty_disks(world, "cmp-rf");
    let mut phases = Vec::new();
    let mut last = Value::Null;
    for (target, want) in [
        ("manage", "manageable"),
        ("provide", "available"),
        ("active", "active"),
        ("deleted", "available"),
    ] {
        if target == "active" {
            api.set_image(&uuid, &files.url("/disk.raw"), image_sum)
                .await;
        }
        api.provision(&uuid, target).await;
        let reached = StateWait::new(want, Duration::from_secs(240))
            .milestones(&MILESTONES)
            .on(&api, &uuid)
            .await
            .unwrap_or_else(|stuck| panic!("{base}: {target} never reached {want}: {stuck}"));
        phases.push((target.to_string(), reached.seen, reached.took));
        last = reached.node;
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
    support::ironic::serve_world(&fleet(net), "cmp.yaml", ironic).await
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
    // Real Ironic runs with stock clean-step priorities here (the agent's own: metadata wipe, then a
    // full erase); the mock is configured alike (its default is Metal3's: metadata only).
    let settings = Settings {
        erase_devices_priority: None,
        erase_devices_metadata_priority: None,
        ..Settings::with(Timings::instant(), true)
    };
    let mock = support::ironic::start_mock(settings, 59).await;
    let (mock, mock_task) = (mock.url, mock.task);

    let image = Image::new("cmp-rf", 256 << 10);
    let image_sum = image.sha256();
    let files = FileServer::start(
        deploy_images().chain([("/disk.raw".to_owned(), image.bytes().to_vec())]),
    )
    .await
    .expect("file server");

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
