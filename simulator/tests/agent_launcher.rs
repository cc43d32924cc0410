//! The agent launcher against a small scripted Ironic on loopback: an agent starts when a machine
//! boots a ramdisk, looks its node up (retrying through 409s, with API version headers), sends
//! the inspection data, heartbeats with its callback URL, and stops when the machine powers off
//! or boots its disk.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use metal_sim::agent::{AgentOptions, Launcher, RetryPolicy};
use metal_sim::fleet::Fleet;
use metal_sim::machine::{SimClock, World};
use metal_testkit::wait::Wait;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// Never served (no BMC sockets are opened from it): the ports are only names.
const FLEET: &str = "\
seed: 8
time_scale: 0
layout: {mode: single-address, base: 127.0.0.1, redfish_port: 1, ipmi_port: 2}
groups:
  - name: l-{index}
    count: 1
    profile: gpu
";

#[derive(Default)]
struct Seen {
    lookups: Vec<(String, String)>,
    inspections: Vec<Value>,
    heartbeats: Vec<(String, Value, String)>,
}

type Shared = Arc<Mutex<Seen>>;

fn version(h: &HeaderMap) -> String {
    h.get("X-OpenStack-Ironic-API-Version")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

async fn scripted_ironic(seen: Shared) -> String {
    let app = Router::new()
        .route("/", get(support::ironic::scripted_root))
        .route(
            "/v1/lookup",
            get(
                |State(s): State<Shared>, h: HeaderMap, q: axum::extract::RawQuery| async move {
                    let mut seen = s.lock().unwrap();
                    seen.lookups.push((version(&h), q.0.unwrap_or_default()));
                    if seen.lookups.len() <= 2 {
                        return (StatusCode::CONFLICT, "{}").into_response();
                    }
                    axum::Json(json!({"node": {"uuid": "node-1"},
                                      "config": {"agent_token": "tok-1", "heartbeat_timeout": 300}}))
                    .into_response()
                },
            ),
        )
        .route(
            "/v1/continue_inspection",
            post(|State(s): State<Shared>, body: axum::Json<Value>| async move {
                s.lock().unwrap().inspections.push(body.0);
                (
                    StatusCode::ACCEPTED,
                    axum::Json(json!({"node": {"uuid": "node-1"}, "config": {"agent_token": "******"}})),
                )
            }),
        )
        .route(
            "/v1/heartbeat/{uuid}",
            post(
                |State(s): State<Shared>,
                 Path(uuid): Path<String>,
                 h: HeaderMap,
                 body: axum::Json<Value>| async move {
                    s.lock().unwrap().heartbeats.push((uuid, body.0, version(&h)));
                    StatusCode::ACCEPTED
                },
            ),
        )
        .with_state(seen);
    support::ironic::serve_scripted(app).await
}

async fn eventually<T>(what: &str, probe: impl FnMut() -> Option<T>) -> T {
    Wait::new(what, Duration::from_secs(20))
        .every(Duration::from_millis(30))
        .until_some(probe)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ramdisk_boot_starts_an_agent_that_looks_up_inspects_and_heartbeats_until_power_off() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let seen: Shared = Arc::default();
    let ironic = scripted_ironic(Arc::clone(&seen)).await;
    let world: Arc<World> = Arc::new(
        Fleet::parse(FLEET, "l.yaml")
            .unwrap()
            .build_world(SimClock::start_now())
            .unwrap(),
    );
    let mut options = AgentOptions::new(&ironic);
    options.life.heartbeat_interval = Duration::from_millis(100);
    options.life.lookup = RetryPolicy {
        attempts: 50,
        budget: Duration::from_secs(10),
        base: Duration::from_millis(10),
        cap: Duration::from_millis(50),
    };
    let stop = CancellationToken::new();
    let (launcher, task) = Launcher::spawn(Arc::clone(&world), options, stop.clone()).unwrap();
    // As in `serve`: the ticker completes due transitions (boots) even when nobody polls a BMC.
    let ticker = world.spawn_ticker(Duration::from_millis(5), stop.clone());
    let host = Arc::clone(&world.hosts()[0]);
    assert!(
        launcher.running().is_empty(),
        "no agent while the machine is off"
    );

    // Empty disks: the boot order [Hdd, Pxe] falls through to PXE, a ramdisk.
    host.power_action(world.now(), |m| m.power_on(world.now()))
        .unwrap();
    let callback = eventually("agent start", || launcher.callback_url(0)).await;
    let beats = eventually("two heartbeats", || {
        let s = seen.lock().unwrap();
        (s.heartbeats.len() >= 2).then(|| s.heartbeats.clone())
    })
    .await;
    let (uuid, body, version) = &beats[0];
    assert_eq!(uuid, "node-1");
    assert_eq!(body["callback_url"], callback.as_str());
    assert_eq!(
        body["agent_token"], "tok-1",
        "the masked token of the inspection reply is ignored"
    );
    assert!(body["agent_version"].is_string());
    assert_eq!(version, "1.84", "min(Ironic's 1.99, the agent's 1.84)");
    {
        let s = seen.lock().unwrap();
        assert_eq!(s.lookups.len(), 3, "two 409s, then found");
        let macs: Vec<String> = host
            .profile
            .nics
            .iter()
            .map(|n| n.mac.to_ascii_lowercase())
            .collect();
        assert!(
            s.lookups[2].1.contains(&macs[0].replace(':', "%3A")),
            "{:?}",
            s.lookups[2]
        );
        assert_eq!(s.inspections.len(), 1);
        let inv = &s.inspections[0]["inventory"];
        assert_eq!(
            inv["interfaces"].as_array().unwrap().len(),
            host.profile.nics.len()
        );
        assert_eq!(
            s.inspections[0]["pci_devices"].as_array().unwrap().len(),
            host.profile.pcie.len()
        );
        assert_eq!(inv["boot"]["pxe_interface"], macs[0]);
    }
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let r = http
        .get(format!("{callback}/v1/commands/?agent_token=tok-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);

    host.power_action(world.now(), |m| m.force_off(world.now()))
        .unwrap();
    eventually("agent stop", || launcher.running().is_empty().then_some(())).await;
    assert!(
        http.get(format!("{callback}/v1/commands/?agent_token=tok-1"))
            .send()
            .await
            .is_err(),
        "the stopped agent no longer answers"
    );

    // The next ramdisk boot gets a fresh agent on a new port; booting the disk stops it.
    host.power_action(world.now(), |m| m.power_on(world.now()))
        .unwrap();
    let second = eventually("second agent", || launcher.callback_url(0)).await;
    assert_ne!(second, callback);
    host.with_machine(world.now(), |m| {
        m.write_image(world.now(), 0, "http://127.0.0.1:9/os.img", "sha256:0")
    })
    .unwrap();
    host.power_action(world.now(), |m| m.force_restart(world.now()))
        .unwrap();
    eventually("agent stop on disk boot", || {
        launcher.running().is_empty().then_some(())
    })
    .await;

    stop.cancel();
    ticker.await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn an_ironic_url_off_loopback_is_refused() {
    let world: Arc<World> = Arc::new(
        Fleet::parse(FLEET, "l.yaml")
            .unwrap()
            .build_world(SimClock::start_now())
            .unwrap(),
    );
    let err = Launcher::spawn(
        world,
        AgentOptions::new("http://192.0.2.10:6385"),
        CancellationToken::new(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("not a loopback URL"), "{err}");
}

#[tokio::test]
async fn serve_points_the_agents_at_the_served_mock_ironic_unless_an_external_url_is_given() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Its BMC really listens: on an address of its own.
    const SERVED: &str = "\
seed: 8
time_scale: 0
layout: {mode: per-address, base: 127.0.44.21, redfish_port: 18000, ipmi_port: 16230}
groups:
  - name: s-0
";
    let world = || -> Arc<World> {
        Arc::new(
            Fleet::parse(SERVED, "s.yaml")
                .unwrap()
                .build_world(SimClock::start_now())
                .unwrap(),
        )
    };
    let options = |ironic, ironic_url| metal_sim::serve::ServeOptions {
        control: "127.0.0.1:0".parse().unwrap(),
        ironic,
        ironic_url,
        ..metal_sim::serve::ServeOptions::default()
    };
    let none = metal_sim::serve::start(world(), options(None, None))
        .await
        .unwrap();
    assert!(none.agents().is_none(), "no Ironic, no agents");
    assert!(none.endpoints().ironic.is_none());
    none.shutdown().await.unwrap();

    let mock =
        metal_sim::serve::start(world(), options(Some("127.0.0.1:0".parse().unwrap()), None))
            .await
            .unwrap();
    let url = mock
        .endpoints()
        .ironic
        .clone()
        .expect("the mock's URL in the endpoints");
    assert_eq!(mock.agents().map(Launcher::ironic_url), Some(url.as_str()));
    mock.shutdown().await.unwrap();

    let external = "http://127.0.0.1:9".to_string();
    let ext = metal_sim::serve::start(world(), options(None, Some(external.clone())))
        .await
        .unwrap();
    assert_eq!(ext.endpoints().ironic.as_deref(), Some(external.as_str()));
    assert_eq!(
        ext.agents().map(Launcher::ironic_url),
        Some(external.as_str())
    );
    ext.shutdown().await.unwrap();

    let refused =
        metal_sim::serve::start(world(), options(None, Some("http://10.1.2.3:6385".into()))).await;
    assert!(
        refused.is_err(),
        "an external Ironic off loopback is refused"
    );
}
