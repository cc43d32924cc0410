//! The agent heartbeat-loss switch, flipped through the control API: the agent of a silenced host
//! sends no heartbeats while the window lasts (its command server keeps answering), then resumes
//! on its own when the window ends; an open-ended loss lasts until `DELETE` clears it.
//!
//! The agent logs when it starts skipping beats and when it resumes; the tests wait for those lines
//! and count the beats that arrived between them, rather than pausing and hoping.

mod logbook;
mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use logbook::LogBook;
use metal_sim::agent::{AgentOptions, HeartbeatSwitch, Launcher, RetryPolicy};
use metal_sim::fleet::Fleet;
use metal_sim::machine::{SimClock, World};
use metal_sim::serve::control::{AgentFaults, app_with_agents};
use metal_testkit::wait::Wait;
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// Never served (no BMC sockets are opened from it): the ports are only names. Each test names
/// its hosts after itself (`{group}-N`), so the log lines of tests sharing a process stay apart.
fn fleet(group: &str) -> String {
    format!(
        "seed: 21
time_scale: 0
layout: {{mode: single-address, base: 127.0.0.1, redfish_port: 1, ipmi_port: 2}}
groups:
  - name: {group}-{{index}}
    count: 2
"
    )
}

/// Heartbeats received: the node UUID (one node per host) and when it arrived.
type Beats = Arc<Mutex<Vec<(String, Instant)>>>;

const SILENCED: &str = "agent heartbeats silenced";
const RESUMED: &str = "agent heartbeats resumed";

async fn scripted_ironic(beats: Beats) -> String {
    let app =
        Router::new()
            .route("/", get(support::ironic::scripted_root))
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
                        b.lock().unwrap().push((uuid, Instant::now()));
                        StatusCode::ACCEPTED
                    },
                ),
            )
            .with_state(beats);
    support::ironic::serve_scripted(app).await
}

async fn serve_control(world: Arc<World>, switch: HeartbeatSwitch) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = app_with_agents(world, switch);
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

async fn eventually<T>(what: &str, probe: impl FnMut() -> Option<T>) -> T {
    Wait::new(what, Duration::from_secs(20))
        .until_some(probe)
        .await
        .unwrap()
}

struct Rig {
    group: String,
    logs: LogBook,
    world: Arc<World>,
    launcher: Launcher,
    beats: Beats,
    control: String,
    http: reqwest::Client,
    stop: CancellationToken,
}

async fn rig(group: &str) -> Rig {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let logs = LogBook::global();
    let beats: Beats = Arc::default();
    let ironic = scripted_ironic(Arc::clone(&beats)).await;
    let world: Arc<World> = Arc::new(
        Fleet::parse(&fleet(group), "quiet.yaml")
            .unwrap()
            .build_world(SimClock::start_now())
            .unwrap(),
    );
    let switch = HeartbeatSwitch::default();
    let mut options = AgentOptions::new(&ironic);
    options.life.heartbeat_interval = Duration::from_millis(50);
    options.heartbeats = switch.clone();
    options.life.lookup = RetryPolicy {
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
        group: group.to_owned(),
        logs,
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
                .map(|(n, _)| n)
                .find(|n| !others.contains(&n.as_str()))
                .cloned()
        })
        .await
    }

    fn host(&self, index: usize) -> String {
        format!("{}-{index}", self.group)
    }

    fn faults_url(&self, index: usize) -> String {
        format!("{}/hosts/{}/agent-faults", self.control, self.host(index))
    }

    /// Beats of `node` that arrived after `from`.
    fn beats_after(&self, node: &str, from: Instant) -> usize {
        self.beats
            .lock()
            .unwrap()
            .iter()
            .filter(|(n, at)| n == node && *at > from)
            .count()
    }

    /// Beats of `node` that arrived between two instants.
    fn beats_between(&self, node: &str, from: Instant, to: Instant) -> usize {
        self.beats
            .lock()
            .unwrap()
            .iter()
            .filter(|(n, at)| n == node && *at > from && *at < to)
            .count()
    }

    /// The agent of host `index` logging `message` (bounded wait).
    async fn agent_says(&self, index: usize, message: &str) -> logbook::Line {
        self.logs
            .wait_for(message, "host", &self.host(index), Duration::from_secs(20))
            .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silenced_agent_stops_heartbeating_for_the_window_then_resumes() {
    let r = rig("window").await;
    let node = r.boot(0, &[]).await;
    let url = r.faults_url(0);
    let resp = r
        .http
        .post(&url)
        .json(&json!({"heartbeat_loss": true, "for": "1500ms"}))
        .send()
        .await
        .unwrap();
    let posted = Instant::now();
    assert_eq!(resp.status().as_u16(), 200);
    let shown: AgentFaults = resp.json().await.unwrap();
    assert!(shown.heartbeat_loss);
    let until = shown.until_seconds.expect("a window has an end");
    // The agent logs its first skipped beat; the beat before it had its answer by then, and a
    // heartbeat already on its way when the switch flipped may still land (at most that one).
    let silenced = r.agent_says(0, SILENCED).await;
    assert!(
        r.beats_between(&node, posted, silenced.at) <= 1,
        "the agent goes quiet at its next beat"
    );
    assert!(
        r.launcher.callback_url(0).is_some(),
        "the agent itself still runs"
    );
    let got: AgentFaults = r.http.get(&url).send().await.unwrap().json().await.unwrap();
    assert!(got.heartbeat_loss);
    // The window ends on its own; heartbeats resume without anyone clearing it.
    let resumed = r.agent_says(0, RESUMED).await;
    let resumed_at = r.world.clock().at(resumed.at).since_start().as_secs_f64();
    assert!(
        resumed_at >= until,
        "silent until the window's end ({until} s), resumed at {resumed_at} s"
    );
    assert_eq!(
        r.beats_between(&node, silenced.at, resumed.at),
        0,
        "no heartbeat inside the window ({} beats skipped)",
        resumed.field("skipped")
    );
    eventually("heartbeats to resume", || {
        (r.beats_after(&node, resumed.at) >= 3).then_some(())
    })
    .await;
    let got: AgentFaults = r.http.get(&url).send().await.unwrap().json().await.unwrap();
    assert!(!got.heartbeat_loss);
    r.stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_ended_loss_silences_one_host_until_cleared() {
    let r = rig("open").await;
    let quiet = r.boot(0, &[]).await;
    let loud = r.boot(1, &[&quiet]).await;
    assert_ne!(quiet, loud, "each host has its own node");
    let url = r.faults_url(0);
    let resp = r
        .http
        .post(&url)
        .json(&json!({"heartbeat_loss": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let silenced = r.agent_says(0, SILENCED).await;
    // The other agent beats on the same interval: five of its beats after the quiet one went
    // silent mean the quiet one has been round its loop about as often, sending nothing.
    eventually("the other host to keep heartbeating", || {
        (r.beats_after(&loud, silenced.at) >= 5).then_some(())
    })
    .await;
    assert_eq!(
        r.beats_after(&quiet, silenced.at),
        0,
        "the silenced host sends nothing"
    );
    let resp = r.http.delete(&url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    let resumed = r.agent_says(0, RESUMED).await;
    assert_eq!(
        r.beats_between(&quiet, silenced.at, resumed.at),
        0,
        "the silenced host sends nothing until cleared"
    );
    eventually("heartbeats to resume after DELETE", || {
        (r.beats_after(&quiet, resumed.at) >= 3).then_some(())
    })
    .await;
    r.stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_fault_requests_for_unknown_hosts_or_bad_bodies_are_refused() {
    let r = rig("refused").await;
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
        .post(r.faults_url(0))
        .json(&json!({"heartbeat_loss": true, "for": "soon"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let resp = r
        .http
        .post(r.faults_url(0))
        .json(&json!({"heartbeat_los": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400, "unknown keys are errors");
    assert!(r.launcher.heartbeats().silenced().is_empty());
    r.stop.cancel();
}
