//! The agent heartbeat-loss switch, flipped through the control API: the agent of a silenced host
//! sends no heartbeats while the window lasts (its command server keeps answering), then resumes
//! on its own when the window ends; an open-ended loss lasts until `DELETE` clears it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use metal_sim::agent::client::RetryPolicy;
use metal_sim::agent::{AgentOptions, HeartbeatSwitch, Launcher};
use metal_sim::fleet::Fleet;
use metal_sim::machine::{SimClock, World};
use metal_sim::serve::control::{AgentFaults, app_with_agents};
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// Never served (no BMC sockets are opened from it): the ports are only names.
const FLEET: &str = "\
seed: 21
time_scale: 0
layout: {mode: single-address, base: 127.0.0.1, redfish_port: 1, ipmi_port: 2}
groups:
  - name: quiet-{index}
    count: 2
";

/// Heartbeats per node UUID (the scripted Ironic gives host `quiet-N` the node `node-N`).
type Beats = Arc<Mutex<Vec<String>>>;

async fn scripted_ironic(beats: Beats) -> String {
    let app =
        Router::new()
            .route(
                "/",
                get(|| async {
                    (
                        [("X-OpenStack-Ironic-API-Maximum-Version", "1.99")],
                        axum::Json(json!({"default_version": {"version": "1.99"}})),
                    )
                }),
            )
            .route(
                "/v1/lookup",
                get(|q: axum::extract::RawQuery| async move {
                    // The query carries the host's MACs, which differ per host: one node per host.
                    let text = q.0.unwrap_or_default();
                    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
                    });
                    let node = format!("node-{hash:016x}");
                    axum::Json(json!({"node": {"uuid": node, "query": text},
                                  "config": {"agent_token": "tok", "heartbeat_timeout": 300}}))
                    .into_response()
                }),
            )
            .route(
                "/v1/continue_inspection",
                post(|| async { StatusCode::NOT_FOUND }),
            )
            .route(
                "/v1/heartbeat/{uuid}",
                post(
                    |State(b): State<Beats>,
                     axum::extract::Path(uuid): axum::extract::Path<String>| async move {
                        b.lock().unwrap().push(uuid);
                        StatusCode::ACCEPTED
                    },
                ),
            )
            .with_state(beats);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

async fn serve_control(world: Arc<World>, switch: HeartbeatSwitch) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = app_with_agents(world, switch);
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

async fn eventually<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if let Some(v) = probe() {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

struct Rig {
    world: Arc<World>,
    launcher: Launcher,
    beats: Beats,
    control: String,
    http: reqwest::Client,
    stop: CancellationToken,
}

async fn rig() -> Rig {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let beats: Beats = Arc::default();
    let ironic = scripted_ironic(Arc::clone(&beats)).await;
    let world: Arc<World> = Arc::new(
        Fleet::parse(FLEET, "quiet.yaml")
            .unwrap()
            .build_world(SimClock::start_now())
            .unwrap(),
    );
    let switch = HeartbeatSwitch::default();
    let mut options = AgentOptions::new(&ironic);
    options.heartbeat_interval = Duration::from_millis(50);
    options.heartbeats = switch.clone();
    options.lookup = RetryPolicy {
        attempts: 20,
        budget: Duration::from_secs(10),
        base: Duration::from_millis(10),
        cap: Duration::from_millis(50),
    };
    let stop = CancellationToken::new();
    let (launcher, _task) = Launcher::spawn(Arc::clone(&world), options, stop.clone()).unwrap();
    let _ticker = world.spawn_ticker(Duration::from_millis(5), stop.clone());
    let control = serve_control(Arc::clone(&world), launcher.heartbeats().clone()).await;
    Rig {
        world,
        launcher,
        beats,
        control,
        http: reqwest::Client::builder().no_proxy().build().unwrap(),
        stop,
    }
}

impl Rig {
    /// Powers host `index` on (empty disks: it PXE-boots the ramdisk) and waits for its agent to
    /// heartbeat twice; returns the node UUID its heartbeats carry.
    async fn boot(&self, index: usize, others: &[&str]) -> String {
        let host = Arc::clone(&self.world.hosts()[index]);
        let now = self.world.now();
        host.power_action(now, |m| m.power_on(now)).unwrap();
        eventually("the agent to start", || self.launcher.callback_url(index)).await;
        eventually("a heartbeat from a node not seen before", || {
            self.beats
                .lock()
                .unwrap()
                .iter()
                .find(|n| !others.contains(&n.as_str()))
                .cloned()
        })
        .await
    }

    fn beats_of(&self, node: &str) -> usize {
        self.beats
            .lock()
            .unwrap()
            .iter()
            .filter(|n| *n == node)
            .count()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silenced_agent_stops_heartbeating_for_the_window_then_resumes() {
    let r = rig().await;
    let node = r.boot(0, &[]).await;
    let url = format!("{}/hosts/quiet-0/agent-faults", r.control);
    let resp = r
        .http
        .post(&url)
        .json(&json!({"heartbeat_loss": true, "for": "1500ms"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let shown: AgentFaults = resp.json().await.unwrap();
    assert!(shown.heartbeat_loss);
    assert!(shown.until_seconds.is_some());
    // A heartbeat already on its way may still land; after that, silence.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let silent_from = r.beats_of(&node);
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(
        r.beats_of(&node),
        silent_from,
        "no heartbeat inside the window (at 50 ms intervals ~18 would have been sent)"
    );
    assert!(
        r.launcher.callback_url(0).is_some(),
        "the agent itself still runs"
    );
    let got: AgentFaults = r.http.get(&url).send().await.unwrap().json().await.unwrap();
    assert!(got.heartbeat_loss);
    // The window ends on its own; heartbeats resume without anyone clearing it.
    eventually("heartbeats to resume", || {
        (r.beats_of(&node) >= silent_from + 3).then_some(())
    })
    .await;
    let got: AgentFaults = r.http.get(&url).send().await.unwrap().json().await.unwrap();
    assert!(!got.heartbeat_loss);
    r.stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_ended_loss_silences_one_host_until_cleared() {
    let r = rig().await;
    let quiet = r.boot(0, &[]).await;
    let loud = r.boot(1, &[&quiet]).await;
    assert_ne!(quiet, loud, "each host has its own node");
    let url = format!("{}/hosts/quiet-0/agent-faults", r.control);
    let resp = r
        .http
        .post(&url)
        .json(&json!({"heartbeat_loss": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let (q0, l0) = (r.beats_of(&quiet), r.beats_of(&loud));
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(r.beats_of(&quiet), q0, "the silenced host sends nothing");
    assert!(
        r.beats_of(&loud) >= l0 + 5,
        "the other host keeps heartbeating"
    );
    let resp = r.http.delete(&url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    eventually("heartbeats to resume after DELETE", || {
        (r.beats_of(&quiet) >= q0 + 3).then_some(())
    })
    .await;
    r.stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_fault_requests_for_unknown_hosts_or_bad_bodies_are_refused() {
    let r = rig().await;
    let resp = r
        .http
        .post(format!("{}/hosts/nope/agent-faults", r.control))
        .json(&json!({"heartbeat_loss": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    let resp = r
        .http
        .post(format!("{}/hosts/quiet-0/agent-faults", r.control))
        .json(&json!({"heartbeat_loss": true, "for": "soon"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let resp = r
        .http
        .post(format!("{}/hosts/quiet-0/agent-faults", r.control))
        .json(&json!({"heartbeat_los": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400, "unknown keys are errors");
    assert!(r.launcher.heartbeats().silenced().is_empty());
    r.stop.cancel();
}
