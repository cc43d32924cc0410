//! THE JUDGE of the fake agent: real OpenStack Ironic 39 (standalone, SQLite) drives a metal-sim
//! Redfish machine and an IPMI machine through manage → provide → deploy (direct, through our
//! fake agent, image served on loopback with a real SHA-256) → active → undeploy → available.
//! Automated cleaning is on for the Redfish machine (its disk is dirty before `provide`, and is
//! wiped by the agent's clean steps) and off for the IPMI one.
//!
//! Boot interface: `ipxe`. With `fake`, Ironic never sets the boot device, so a machine whose disk
//! holds an image would boot the disk (not the ramdisk) for cleaning. `ipxe` makes Ironic set a
//! one-time PXE boot before every agent boot (its PXE files go to a temp dir, `dhcp_provider=none`,
//! deploy kernel/ramdisk come from a loopback HTTP server), exactly as in production.

mod support;

use std::time::Duration;

use metal_sim::machine::{BootOutcome, PowerState, World};
use metal_testkit::images::{FileServer, Image, KERNEL, RAMDISK, deploy_images};
use metal_testkit::ironic::{Ironic, IronicConfig};
use serde_json::{Value, json};
use support::ironic::{IronicApi, StateWait, failed};

const FLEET: &str = "\
seed: 39
time_scale: 0.05
layout: {mode: per-address, base: 127.0.44.1, redfish_port: 18000, ipmi_port: 16230}
groups:
  - name: judge-rf
    profile: compute
    bmc: {protocol: redfish}
  - name: judge-ipmi
    profile: small
    bmc: {protocol: ipmi}
";

const INSPECT_FLEET: &str = "\
seed: 40
time_scale: 0.05
layout: {mode: per-address, base: 127.0.44.11, redfish_port: 18000, ipmi_port: 16230}
profiles:
  judge-gpu:
    vendor: Contoso
    model: CG-2 Judge
    sku: CG2
    bios: {vendor: Contoso, version: \"1.0.0\", date: \"2026-01-01\"}
    cpu: {arch: x86_64, model: Judge CPU, count: 2, cores: 8, threads_per_core: 2, mhz: 2600, flags: [fpu, vmx, avx2]}
    memory: {total_mib: 131072, dimms: 8, speed_mts: 3200}
    nics:
      - {name: eno1, speed_mbps: 25000, pxe: true, vendor: Mellanox, model: ConnectX-6, lldp: true}
      - {name: eno2, speed_mbps: 25000, pxe: false, vendor: Mellanox, model: ConnectX-6, lldp: true}
    disks:
      - {kind: ssd, size_gb: 480, vendor: Micron, model: 5300 PRO}
      - {kind: hdd, size_gb: 4000, vendor: Seagate, model: Exos}
    pcie:
      - {class: gpu, count: 2, vendor: NVIDIA, model: A10, vendor_id: \"0x10de\", device_id: \"0x2236\"}
    firmware: []
groups:
  - name: judge-inspect
    profile: judge-gpu
    bmc: {protocol: redfish}
";

/// Real Ironic (`metal_testkit::ironic`; killed, whole process group, on drop; its log is printed
/// when a test fails): the judge's hardware types and interfaces, `ipxe` boot, automated cleaning,
/// and the inspection hooks that turn the agent's data into traits and capabilities.
fn start_ironic() -> Option<Ironic> {
    let config = IronicConfig::new("judge")
        .enable("hardware_types", "redfish,ipmi")
        .enable("deploy_interfaces", "direct,fake")
        .enable("boot_interfaces", "ipxe,fake")
        .enable("power_interfaces", "redfish,ipmitool")
        .enable("management_interfaces", "redfish,ipmitool")
        .enable("inspect_interfaces", "no-inspect,agent")
        .automated_clean(true)
        .ipxe()
        .extra(
            "[inspector]\nhooks=$default_hooks,parse-lldp,local-link-connection,memory,cpus,pci-devices,accelerators,root-device\n",
        )
        // ipmitool must be on PATH for the ipmi hardware type.
        .needs("ipmitool");
    Ironic::start(&config).expect("start real Ironic")
}

/// Serves the instance image at `/disk.raw` and the deploy kernel/ramdisk on loopback.
async fn file_server(image: &Image) -> FileServer {
    FileServer::start(deploy_images().chain([("/disk.raw".to_owned(), image.bytes().to_vec())]))
        .await
        .expect("file server")
}

/// Real Ironic's API at the microversion the judge speaks.
fn api(ironic: &Ironic) -> IronicApi {
    IronicApi::with_client(
        metal_sim::agent::client::http_client(Duration::from_secs(30)).expect("http"),
        ironic.url(),
        "1.84",
    )
}

/// Polls the node until `want` (bounded by `limit`); a failure state fails at once with
/// last_error. Returns how long it took.
async fn wait_state(
    api: &IronicApi,
    ironic: &Ironic,
    node: &str,
    want: &str,
    limit: Duration,
) -> Duration {
    let reached = StateWait::new(want, limit)
        .every(Duration::from_millis(250))
        .on(api, node)
        .await
        .unwrap_or_else(|stuck| panic!("{stuck}\nIronic log:\n{}", ironic.log_tail(80)));
    if failed(&reached.node) {
        panic!(
            "node {node} went to {}: {}\nstates: {:?}\nIronic log:\n{}",
            reached.node["provision_state"],
            reached.node["last_error"],
            reached.seen,
            ironic.log_tail(60)
        );
    }
    reached.took
}

struct Figures {
    name: String,
    provide: Duration,
    deploy: Duration,
    undeploy: Duration,
}

#[allow(clippy::too_many_arguments)]
async fn lifecycle(
    api: &IronicApi,
    ironic: &Ironic,
    world: &World,
    host_name: &str,
    driver_info: Value,
    driver: &str,
    clean: bool,
    image_url: &str,
    image_sum: &str,
) -> Figures {
    let host = world.host_by_name(host_name).expect("host");
    let limit = Duration::from_secs(240);
    let node = api
        .ok(
            reqwest::Method::POST,
            "/v1/nodes",
            Some(
                json!({"name": host_name, "driver": driver, "driver_info": driver_info,
                "boot_interface": "ipxe", "deploy_interface": "direct",
                "inspect_interface": "no-inspect", "network_interface": "noop",
                "automated_clean": clean}),
            ),
        )
        .await;
    let uuid = node["uuid"].as_str().expect("uuid").to_string();
    let mac = host.profile.boot_mac().expect("boot mac").to_string();
    api.ok(
        reqwest::Method::POST,
        "/v1/ports",
        Some(json!({"node_uuid": uuid, "address": mac, "pxe_enabled": true})),
    )
    .await;
    // A previous tenant left an image on every disk.
    support::ironic::dirty_disks(world, host_name);
    api.provision(&uuid, "manage").await;
    wait_state(api, ironic, &uuid, "manageable", limit).await;
    api.provision(&uuid, "provide").await;
    let provide = wait_state(api, ironic, &uuid, "available", limit).await;
    let view = host.view(world.now());
    if clean {
        assert!(
            view.disks.iter().all(|d| !d.partition_table),
            "{host_name}: automated cleaning wiped every partition table: {:?}",
            view.disks
        );
    } else {
        assert!(
            view.disks.iter().all(|d| d.partition_table),
            "{host_name}: no cleaning, disks untouched"
        );
    }

    api.set_image(&uuid, image_url, image_sum).await;
    api.provision(&uuid, "active").await;
    let deploy = wait_state(api, ironic, &uuid, "active", limit).await;
    let view = host.view(world.now());
    let root_index =
        metal_sim::agent::core::root_disk_index(&host.profile, None).expect("root disk");
    let root = &view.disks[root_index];
    let written = root.image.as_ref().expect("an image on the root disk");
    assert_eq!(
        written.url, image_url,
        "{host_name}: the deployed image is on the root disk"
    );
    assert_eq!(written.checksum, format!("sha256:{image_sum}"));
    assert!(root.partition_table);
    assert_eq!(view.power, PowerState::On, "{host_name} is on after deploy");
    match view.last_boot.as_ref().map(|b| &b.outcome) {
        Some(BootOutcome::Disk { image, .. }) => assert_eq!(image, image_url),
        other => panic!("{host_name} boots its disk after deploy, got {other:?}"),
    }

    api.provision(&uuid, "deleted").await;
    let undeploy = wait_state(api, ironic, &uuid, "available", limit).await;
    let view = host.view(world.now());
    if clean {
        assert!(
            view.disks
                .iter()
                .all(|d| !d.partition_table && d.image.is_none()),
            "{host_name}: cleaning after undeploy wiped and erased the disks: {:?}",
            view.disks
        );
    }
    assert_eq!(
        view.power,
        PowerState::Off,
        "{host_name} is off when available"
    );
    Figures {
        name: host_name.to_string(),
        provide,
        deploy,
        undeploy,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn real_ironic_inspects_a_machine_through_the_fake_agents_inventory() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(ironic) = tokio::task::spawn_blocking(start_ironic)
        .await
        .expect("start")
    else {
        return;
    };
    let (world, running) =
        support::ironic::serve_world(INSPECT_FLEET, "inspect.yaml", ironic.url()).await;
    let files = file_server(&Image::new("judge-inspect", 16)).await;
    let api = api(&ironic);
    let host = world.host_by_name("judge-inspect").expect("host");
    let node = api
        .ok(
            reqwest::Method::POST,
            "/v1/nodes",
            Some(json!({"name": "judge-inspect", "driver": "redfish",
                "driver_info": {
                    "redfish_address": format!("http://{}", host.bmc.socket),
                    "redfish_system_id": format!("/redfish/v1/Systems/{}", host.bmc.system_id),
                    "redfish_username": host.bmc.credentials.username,
                    "redfish_password": host.bmc.credentials.password,
                    "deploy_kernel": files.url(KERNEL),
                    "deploy_ramdisk": files.url(RAMDISK)},
                "boot_interface": "ipxe", "deploy_interface": "direct",
                "inspect_interface": "agent", "network_interface": "noop"})),
        )
        .await;
    let uuid = node["uuid"].as_str().expect("uuid").to_string();
    let boot_mac = host.profile.boot_mac().expect("mac").to_string();
    api.ok(
        reqwest::Method::POST,
        "/v1/ports",
        Some(json!({"node_uuid": uuid, "address": boot_mac, "pxe_enabled": true})),
    )
    .await;
    let limit = Duration::from_secs(180);
    api.provision(&uuid, "manage").await;
    wait_state(&api, &ironic, &uuid, "manageable", limit).await;
    api.provision(&uuid, "inspect").await;
    let took = wait_state(&api, &ironic, &uuid, "manageable", limit).await;
    eprintln!(
        "FIGURE real Ironic + fake agent, judge-inspect: inspect {:.1} s",
        took.as_secs_f64()
    );

    let data = api
        .ok(
            reqwest::Method::GET,
            &format!("/v1/nodes/{uuid}/inventory"),
            None,
        )
        .await;
    let inv = &data["inventory"];
    assert_eq!(inv["cpu"]["count"], 32, "{inv}");
    assert_eq!(inv["memory"]["physical_mb"], 131072);
    assert_eq!(inv["system_vendor"]["manufacturer"], "Contoso");
    assert_eq!(inv["interfaces"].as_array().map(Vec::len), Some(2));
    assert_eq!(inv["disks"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        data["plugin_data"]["pci_devices"].as_array().map(Vec::len),
        Some(2)
    );

    let n = api
        .ok(reqwest::Method::GET, &format!("/v1/nodes/{uuid}"), None)
        .await;
    let props = &n["properties"];
    assert_eq!(props["memory_mb"], 131072, "{props}");
    assert_eq!(props["cpu_arch"], "x86_64");
    let gpus = props["accelerators"]
        .as_array()
        .expect("accelerators found by Ironic");
    assert_eq!(gpus.len(), 2);
    assert_eq!(gpus[0]["device_info"], "NVIDIA Corporation A10");
    assert_eq!(
        props["local_gb"], 446,
        "the smallest disk >= 4 GiB, minus 1 GiB"
    );

    let ports = api
        .ok(
            reqwest::Method::GET,
            &format!("/v1/ports/detail?node={uuid}"),
            None,
        )
        .await;
    let port = ports["ports"]
        .as_array()
        .and_then(|p| {
            p.iter()
                .find(|p| p["address"] == boot_mac.to_ascii_lowercase())
        })
        .expect("boot port");
    let lldp = host.profile.nics[0].lldp.as_ref().expect("lldp");
    assert_eq!(
        port["local_link_connection"]["switch_id"],
        lldp.switch_id.to_ascii_lowercase()
    );
    assert_eq!(port["local_link_connection"]["port_id"], lldp.port_id);
    assert_eq!(
        port["local_link_connection"]["switch_info"],
        lldp.switch_name
    );
    assert_eq!(
        host.view(world.now()).power,
        PowerState::Off,
        "Ironic powers the machine off after inspection"
    );
    running.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn real_ironic_deploys_and_undeploys_a_redfish_and_an_ipmi_machine_through_the_fake_agent() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(ironic) = tokio::task::spawn_blocking(start_ironic)
        .await
        .expect("start")
    else {
        return;
    };
    let (world, running) = support::ironic::serve_world(FLEET, "judge.yaml", ironic.url()).await;
    assert_eq!(running.endpoints().ironic.as_deref(), Some(ironic.url()));
    assert!(running.agents().is_some(), "agents point at real Ironic");

    let image = Image::new("judge", 1 << 20);
    let image_sum = image.sha256();
    let files = file_server(&image).await;
    let image_url = files.url("/disk.raw");
    let api = api(&ironic);

    let rf = world.host_by_name("judge-rf").expect("rf");
    let ipmi = world.host_by_name("judge-ipmi").expect("ipmi");
    let boot = json!({"deploy_kernel": files.url(KERNEL),
                      "deploy_ramdisk": files.url(RAMDISK)});
    let mut rf_info = json!({
        "redfish_address": format!("http://{}", rf.bmc.socket),
        "redfish_system_id": format!("/redfish/v1/Systems/{}", rf.bmc.system_id),
        "redfish_username": rf.bmc.credentials.username,
        "redfish_password": rf.bmc.credentials.password,
    });
    let mut ipmi_info = json!({
        "ipmi_address": ipmi.bmc.socket.ip().to_string(),
        "ipmi_port": ipmi.bmc.socket.port(),
        "ipmi_username": ipmi.bmc.credentials.username,
        "ipmi_password": ipmi.bmc.credentials.password,
    });
    for info in [&mut rf_info, &mut ipmi_info] {
        if let (Some(i), Some(b)) = (info.as_object_mut(), boot.as_object()) {
            i.extend(b.clone());
        }
    }
    let (a, b) = tokio::join!(
        lifecycle(
            &api, &ironic, &world, "judge-rf", rf_info, "redfish", true, &image_url, &image_sum
        ),
        lifecycle(
            &api,
            &ironic,
            &world,
            "judge-ipmi",
            ipmi_info,
            "ipmi",
            false,
            &image_url,
            &image_sum
        ),
    );
    for f in [&a, &b] {
        eprintln!(
            "FIGURE real Ironic + fake agent, {}: provide {:.1} s, deploy (to active) {:.1} s, undeploy (to available) {:.1} s",
            f.name,
            f.provide.as_secs_f64(),
            f.deploy.as_secs_f64(),
            f.undeploy.as_secs_f64()
        );
    }
    running.shutdown().await.expect("shutdown");
}
