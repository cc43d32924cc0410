//! The mock Ironic drives simulated machines through the fake agent over the real IPA wire protocol:
//! a World served by `metal-sim serve` (Redfish and IPMI BMCs, agents started on every ramdisk boot)
//! with its agents pointed at a mock Ironic started here. Agent inspection fills the inventory,
//! automated cleaning wipes the disks' partition tables, a direct deploy writes the image on the root
//! disk (checksum verified by the agent) and the machine boots it; a bad checksum fails the deploy with
//! Ironic's text.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use metal_sim::ironic::AppState;
use metal_sim::ironic::conductor::{Settings, Timings};
use metal_sim::machine::{BootOutcome, PowerState, World};
use metal_sim::serve;
use metal_testkit::images::{FileServer, Image};
use metal_testkit::wait::{Check, Wait};
use serde_json::{Value, json};
use support::ironic::{IronicApi, StateWait};

/// One Redfish and one IPMI machine on their own loopback addresses (`127.0.<net>.x`, a network
/// unique to each test of this file, as tests run concurrently).
fn fleet(net: u8) -> String {
    format!(
        "seed: 57\ntime_scale: 0.05\nlayout: {{mode: per-address, base: 127.0.{net}.1, redfish_port: 18000, ipmi_port: 16230}}\n{GROUPS}"
    )
}

const GROUPS: &str = "\
groups:
  - name: flow-rf
    profile: compute
    bmc: {protocol: redfish}
  - name: flow-ipmi
    profile: small
    bmc: {protocol: ipmi}
";

/// Provision-state waits on the mock are bounded by 90 s.
const LIMIT: Duration = Duration::from_secs(90);

/// Waits (bounded) until the node is at `want` or failed; the node and the states seen.
async fn wait_state(api: &IronicApi, node: &str, want: &str) -> (Value, Vec<String>) {
    match StateWait::new(want, LIMIT).on(api, node).await {
        Ok(reached) => (reached.node, reached.seen),
        Err(stuck) => panic!("{stuck}"),
    }
}

struct Rig {
    world: Arc<World>,
    api: IronicApi,
    running: serve::Running,
    ironic: tokio::task::JoinHandle<std::io::Result<()>>,
    state: AppState,
    image_url: String,
    image_sum: String,
    _files: FileServer,
}

async fn rig(net: u8) -> Rig {
    rig_with(net, metal_sim::agent::LifeSettings::default()).await
}

async fn rig_with(net: u8, agent: metal_sim::agent::LifeSettings) -> Rig {
    let mock = support::ironic::start_mock(Settings::with(Timings::instant(), true), 57).await;
    let base = mock.url.clone();
    let (world, running) =
        support::ironic::serve_world_with(&fleet(net), "flow.yaml", &base, agent).await;
    assert!(running.agents().is_some(), "agents point at the mock");
    let image = Image::new("flow", 256 << 10);
    let files = FileServer::start([("/disk.raw".to_owned(), image.bytes().to_vec())])
        .await
        .expect("image server");
    Rig {
        world,
        api: IronicApi::new(&base, "latest"),
        running,
        ironic: mock.task,
        state: mock.state,
        image_url: files.url("/disk.raw"),
        image_sum: image.sha256(),
        _files: files,
    }
}

impl Rig {
    fn driver_info(&self, host: &str) -> (&'static str, Value) {
        let h = self.world.host_by_name(host).expect("host");
        if host.ends_with("rf") {
            (
                "redfish",
                json!({
                    "redfish_address": format!("http://{}", h.bmc.socket),
                    "redfish_system_id": format!("/redfish/v1/Systems/{}", h.bmc.system_id),
                    "redfish_username": h.bmc.credentials.username,
                    "redfish_password": h.bmc.credentials.password,
                }),
            )
        } else {
            (
                "ipmi",
                json!({
                    "ipmi_address": h.bmc.socket.ip().to_string(),
                    "ipmi_port": h.bmc.socket.port(),
                    "ipmi_username": h.bmc.credentials.username,
                    "ipmi_password": h.bmc.credentials.password,
                }),
            )
        }
    }

    /// Registers the host as Metal3 does (node + boot MAC port) and brings it to `manageable`.
    async fn enroll(&self, host: &str, clean: bool) -> String {
        let (driver, info) = self.driver_info(host);
        let n = self
            .api
            .ok(
                reqwest::Method::POST,
                "/v1/nodes",
                Some(json!({"name": host, "driver": driver, "driver_info": info,
                    "deploy_interface": "direct", "inspect_interface": "agent",
                    "automated_clean": clean})),
            )
            .await;
        let uuid = n["uuid"].as_str().expect("uuid").to_string();
        let h = self.world.host_by_name(host).expect("host");
        let mac = h.profile.boot_mac().expect("boot mac").to_string();
        self.api
            .ok(
                reqwest::Method::POST,
                "/v1/ports",
                Some(json!({"node_uuid": uuid, "address": mac, "pxe_enabled": true})),
            )
            .await;
        self.api.provision(&uuid, "manage").await;
        let (n, seen) = wait_state(&self.api, &uuid, "manageable").await;
        assert_eq!(n["provision_state"], "manageable", "{seen:?} {n}");
        uuid
    }

    /// Leaves an old tenant's image on every disk of the host.
    fn dirty_disks(&self, host: &str) {
        support::ironic::dirty_disks(&self.world, host);
    }

    async fn set_image(&self, uuid: &str, sum: &str) {
        self.api.set_image(uuid, &self.image_url, sum).await;
    }

    async fn stop(self) {
        self.running.shutdown().await.expect("shutdown");
        self.ironic.abort();
    }
}

async fn full_lifecycle(rig: &Rig, host: &str, clean: bool) {
    let uuid = rig.enroll(host, clean).await;

    let continued = |rig: &Rig| {
        rig.state
            .requests()
            .iter()
            .filter(|r| r.path == "/v1/continue_inspection" && r.status < 300)
            .count()
    };
    let before = continued(rig);
    rig.api.provision(&uuid, "inspect").await;
    let (n, seen) = wait_state(&rig.api, &uuid, "manageable").await;
    assert_eq!(n["provision_state"], "manageable", "{host}: {seen:?} {n}");
    // The agent inspected (it posted its inventory). The journal proves it where polling for the
    // short-lived `inspect wait` state could miss it at time scale 0.05.
    assert!(
        continued(rig) > before,
        "{host}: no agent posted continue_inspection; states seen {seen:?}"
    );
    let inv = rig
        .api
        .ok(
            reqwest::Method::GET,
            &format!("/v1/nodes/{uuid}/inventory"),
            None,
        )
        .await;
    let h = rig.world.host_by_name(host).expect("host");
    let inventory = &inv["inventory"];
    let macs: Vec<&str> = inventory["interfaces"]
        .as_array()
        .expect("interfaces")
        .iter()
        .filter_map(|i| i["mac_address"].as_str())
        .collect();
    for nic in &h.profile.nics {
        assert!(
            macs.contains(&nic.mac.to_ascii_lowercase().as_str()),
            "{host}: NIC {} in the agent's inventory {macs:?}",
            nic.mac
        );
    }
    assert_eq!(
        inventory["disks"].as_array().map(Vec::len),
        Some(h.profile.disks.len()),
        "{host}: {inventory}"
    );
    assert_eq!(
        n["properties"]["cpu_arch"],
        inventory["cpu"]["architecture"]
    );

    rig.dirty_disks(host);
    rig.api.provision(&uuid, "provide").await;
    let (n, seen) = wait_state(&rig.api, &uuid, "available").await;
    assert_eq!(n["provision_state"], "available", "{host}: {seen:?} {n}");
    let view = h.view(rig.world.now());
    if clean {
        assert!(seen.iter().any(|s| s == "clean wait"), "{seen:?}");
        assert!(
            view.disks.iter().all(|d| !d.partition_table),
            "{host}: automated cleaning wiped every partition table: {:?}",
            view.disks
        );
    } else {
        assert!(
            view.disks.iter().all(|d| d.partition_table),
            "{host}: untouched"
        );
    }

    rig.set_image(&uuid, &rig.image_sum).await;
    rig.api.provision(&uuid, "active").await;
    let (n, seen) = wait_state(&rig.api, &uuid, "active").await;
    assert_eq!(n["provision_state"], "active", "{host}: {seen:?} {n}");
    assert!(seen.iter().any(|s| s == "wait call-back"), "{seen:?}");
    let root = metal_sim::agent::core::root_disk_index(&h.profile, None).expect("root disk");
    // The BMC may answer the power-on before the machine finishes powering on (IPMI reports "on"
    // at once): wait, bounded, for the boot.
    let view = settled_view(rig, host, PowerState::On).await;
    let written = view.disks[root]
        .image
        .as_ref()
        .expect("image on the root disk");
    assert_eq!(written.url, rig.image_url);
    assert_eq!(written.checksum, format!("sha256:{}", rig.image_sum));
    match view.last_boot.as_ref().map(|b| &b.outcome) {
        Some(BootOutcome::Disk { image, .. }) => assert_eq!(image, &rig.image_url),
        other => panic!("{host} boots its disk after deploy, got {other:?}"),
    }

    rig.api.provision(&uuid, "deleted").await;
    let (n, seen) = wait_state(&rig.api, &uuid, "available").await;
    assert_eq!(n["provision_state"], "available", "{host}: {seen:?} {n}");
    let view = settled_view(rig, host, PowerState::Off).await;
    if clean {
        assert!(
            view.disks.iter().all(|d| !d.partition_table),
            "{host}: cleaning after undeploy wiped the disks: {:?}",
            view.disks
        );
    }
}

/// The machine's view once its power reached `power` (bounded wait).
async fn settled_view(rig: &Rig, host: &str, power: PowerState) -> metal_sim::machine::MachineView {
    let h = rig.world.host_by_name(host).expect("host");
    Wait::new(
        format!("{host} to reach {power:?}"),
        Duration::from_secs(10),
    )
    .until(|| {
        let view = h.view(rig.world.now());
        if view.power == power {
            Check::Done(view)
        } else {
            Check::Pending(format!("{view:?}"))
        }
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_mock_inspects_cleans_and_deploys_a_redfish_and_an_ipmi_machine_through_the_fake_agent()
{
    let rig = rig(57).await;
    let started = Instant::now();
    tokio::join!(
        full_lifecycle(&rig, "flow-rf", true),
        full_lifecycle(&rig, "flow-ipmi", false),
    );
    eprintln!(
        "FIGURE mock Ironic + fake agent: two machines inspect → clean → deploy → undeploy in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let deploys = rig
        .state
        .requests()
        .iter()
        .filter(|r| r.target.as_deref() == Some("active"))
        .count();
    assert_eq!(deploys, 2, "one deploy request per machine in the journal");
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_wrong_image_checksum_fails_the_direct_deploy_with_the_agents_error() {
    let rig = rig(58).await;
    let uuid = rig.enroll("flow-rf", false).await;
    rig.api.provision(&uuid, "provide").await;
    wait_state(&rig.api, &uuid, "available").await;
    rig.set_image(&uuid, &"0".repeat(64)).await;
    rig.api.provision(&uuid, "active").await;
    let (n, seen) = wait_state(&rig.api, &uuid, "active").await;
    assert_eq!(n["provision_state"], "deploy failed", "{seen:?} {n}");
    let err = n["last_error"].as_str().expect("last_error");
    assert!(
        err.starts_with(&format!(
            "Deploy step deploy.write_image failed on node {uuid}. "
        )),
        "{err}"
    );
    let h = rig.world.host_by_name("flow-rf").expect("host");
    let view = h.view(rig.world.now());
    assert!(
        view.disks
            .iter()
            .all(|d| d.image.as_ref().is_none_or(|i| i.url != rig.image_url)),
        "a rejected image never lands on a disk"
    );
    rig.stop().await;
}

/// IPA forces a heartbeat when an asynchronous command (a deploy step, `write_image`) finishes,
/// at most one per its minimum gap, so the conductor learns of the result at once. With a
/// 10-minute heartbeat interval a deploy needs one heartbeat per step it waits on: without the
/// forced beats it would stall for minutes; with them it finishes within the wait's bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn finished_agent_commands_force_the_heartbeats_a_deploy_waits_on() {
    let agent = metal_sim::agent::LifeSettings {
        heartbeat_interval: Duration::from_secs(600),
        forced_gap: Duration::from_millis(50),
        ..metal_sim::agent::LifeSettings::default()
    };
    let rig = rig_with(64, agent).await;
    let uuid = rig.enroll("flow-rf", false).await;
    rig.api.provision(&uuid, "provide").await;
    wait_state(&rig.api, &uuid, "available").await;
    rig.set_image(&uuid, &rig.image_sum).await;
    rig.api.provision(&uuid, "active").await;
    // Far below the interval: only forced beats can move the deploy on in time.
    let (n, seen) = match StateWait::new("active", Duration::from_secs(60))
        .on(&rig.api, &uuid)
        .await
    {
        Ok(reached) => (reached.node, reached.seen),
        Err(stuck) => panic!("{stuck}"),
    };
    assert_eq!(n["provision_state"], "active", "{seen:?} {n}");
    let beats = rig
        .state
        .requests()
        .iter()
        .filter(|r| r.path.contains("/heartbeat"))
        .count();
    assert!(beats >= 2, "the deploy was moved on by {beats} heartbeats");
    rig.stop().await;
}
