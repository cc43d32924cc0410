//! Talking to an Ironic from the simulator's tests, the mock or real Ironic alike: the mock started
//! on loopback or called in-process through its router, an API client, the bounded waits on a
//! node (its provision state, recording the states it passed through; or any condition), and a
//! fleet served with its agents pointed at an Ironic.
#![allow(dead_code)]

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{TimeZone as _, Utc};
use http_body_util::BodyExt as _;
use metal_sim::ironic::conductor::{Settings, Timings};
use metal_sim::ironic::{AppState, Clock};
use metal_testkit::wait::{Check, TimedOut, Wait};
use serde_json::{Value, json};
use tower::ServiceExt as _;

/// The mock Ironic served on a free loopback port.
pub struct MockIronic {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its state (request journal, nodes).
    pub state: AppState,
    /// The server task; abort it when done.
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Starts the mock Ironic with `settings` and `seed` on the wall clock, on 127.0.0.1.
pub async fn start_mock(settings: Settings, seed: u64) -> MockIronic {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let clock: Clock = Arc::new(Utc::now);
    let state = AppState::new(settings, seed, clock).expect("mock Ironic");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the mock Ironic");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let task = tokio::spawn(metal_sim::ironic::serve(listener, state.clone()));
    MockIronic { url, state, task }
}

/// The mock's state for in-process calls through its router: instant timings, no automated
/// cleaning, seed 7, the clock stopped at 2026-01-01T00:00:00Z.
pub fn router_state() -> AppState {
    let clock: Clock = Arc::new(|| {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .expect("time")
    });
    AppState::new(Settings::with(Timings::instant(), false), 7, clock).expect("state")
}

/// One request through the mock's router (no socket), at API version 1.81; the answer's status
/// and JSON (`Null` when the body is not JSON).
pub async fn router_call(
    st: &AppState,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "127.0.0.1:6385")
        .header("X-OpenStack-Ironic-API-Version", "1.81")
        .header("content-type", "application/json")
        .body(match body {
            Some(b) => Body::from(b.to_string()),
            None => Body::empty(),
        })
        .expect("request");
    let resp = metal_sim::ironic::app(st.clone())
        .oneshot(req)
        .await
        .expect("response");
    let status = resp.status();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// An Ironic API client at one base URL and one microversion.
pub struct IronicApi {
    http: reqwest::Client,
    base: String,
    version: String,
}

impl IronicApi {
    /// A client of the Ironic at `base` asking for microversion `version` ("latest", "1.84"),
    /// bypassing proxies, each request bounded by 30 s.
    pub fn new(base: &str, version: &str) -> IronicApi {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client");
        IronicApi::with_client(http, base, version)
    }

    /// The same with a client of the caller's.
    pub fn with_client(http: reqwest::Client, base: &str, version: &str) -> IronicApi {
        IronicApi {
            http,
            base: base.to_owned(),
            version: version.to_owned(),
        }
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The status and body of one request (`Null` for an empty body, a string for text).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("X-OpenStack-Ironic-API-Version", &self.version);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("request to Ironic at {}: {e}", self.base));
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, v)
    }

    /// The body of a request that must succeed (2xx).
    pub async fn ok(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self.call(method, path, body).await;
        assert!((200..300).contains(&status), "{path}: {status} {v}");
        v
    }

    /// `GET /v1/nodes/{node}`, which must succeed.
    pub async fn node(&self, node: &str) -> Value {
        self.ok(reqwest::Method::GET, &format!("/v1/nodes/{node}"), None)
            .await
    }

    /// Asks for provision `target` (`manage`, `provide`, `active`, …), which must be accepted.
    pub async fn provision(&self, node: &str, target: &str) {
        self.ok(
            reqwest::Method::PUT,
            &format!("/v1/nodes/{node}/states/provision"),
            Some(json!({"target": target})),
        )
        .await;
    }

    /// Points the node's `instance_info` at a raw image at `url` with SHA-256 `sha256`.
    pub async fn set_image(&self, node: &str, url: &str, sha256: &str) {
        self.ok(
            reqwest::Method::PATCH,
            &format!("/v1/nodes/{node}"),
            Some(json!([
                {"op": "add", "path": "/instance_info/image_source", "value": url},
                {"op": "add", "path": "/instance_info/image_os_hash_algo", "value": "sha256"},
                {"op": "add", "path": "/instance_info/image_os_hash_value", "value": sha256},
                {"op": "add", "path": "/instance_info/image_disk_format", "value": "raw"},
            ])),
        )
        .await;
    }

    /// Asks for provision `target` (it must answer 202) and waits until the node [`settled`].
    pub async fn provision_settled(
        &self,
        node: &str,
        target: &str,
        limit: Duration,
        every: Duration,
    ) -> Value {
        let (status, body) = self
            .call(
                reqwest::Method::PUT,
                &format!("/v1/nodes/{node}/states/provision"),
                Some(json!({"target": target})),
            )
            .await;
        assert_eq!(status, 202, "{target}: {body}");
        self.wait_node(node, "to settle", limit, every, settled)
            .await
    }

    /// Polls the node every `every` until `settled` holds (at most `limit`); panics naming `what`
    /// and the node last seen.
    pub async fn wait_node(
        &self,
        node: &str,
        what: &str,
        limit: Duration,
        every: Duration,
        settled: impl Fn(&Value) -> bool,
    ) -> Value {
        Wait::new(format!("node {node} {what}"), limit)
            .every(every)
            .until_async(|| async {
                let (_, n) = self
                    .call(reqwest::Method::GET, &format!("/v1/nodes/{node}"), None)
                    .await;
                if settled(&n) {
                    Check::Done(n)
                } else {
                    Check::Pending(n.to_string())
                }
            })
            .await
            .unwrap_or_else(|e| panic!("{} at {}: {e}", self.base, what))
    }
}

/// Whether the node is settled: unlocked, no power change pending, and no target provision state
/// (or an error).
pub fn settled(node: &Value) -> bool {
    node["target_power_state"].is_null()
        && node["reservation"].is_null()
        && (node["target_provision_state"].is_null() || node["last_error"].is_string())
}

/// Whether the node's provision state is a failure: `… failed`, `error`, or back in `enroll`
/// with a `last_error` (verification failed).
pub fn failed(node: &Value) -> bool {
    let state = node["provision_state"].as_str().unwrap_or("");
    state.ends_with("failed")
        || state == "error"
        || (state == "enroll" && node["last_error"].is_string())
}

/// A node that stopped moving: at the state waited for, or failed.
#[derive(Debug)]
pub struct Reached {
    /// The node as last read.
    pub node: Value,
    /// The provision states seen on the way, in order, each once in a row.
    pub seen: Vec<String>,
    /// How long it took.
    pub took: Duration,
}

/// A node that did not get there in time.
#[derive(Debug)]
pub struct Stuck {
    /// What was awaited and the state last seen.
    pub timed_out: TimedOut,
    /// The provision states seen on the way.
    pub seen: Vec<String>,
}

impl std::fmt::Display for Stuck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}; states seen {:?}", self.timed_out, self.seen)
    }
}

/// A bounded wait for a node's provision state: polls until the node is at `want` with no target
/// state, or [`failed`], recording the states it passes through.
#[derive(Debug, Clone)]
pub struct StateWait {
    want: String,
    limit: Duration,
    every: Duration,
    milestones: Option<&'static [&'static str]>,
}

impl StateWait {
    /// Waits at most `limit` for `want`, polling every 100 ms.
    pub fn new(want: &str, limit: Duration) -> StateWait {
        StateWait {
            want: want.to_owned(),
            limit,
            every: Duration::from_millis(100),
            milestones: None,
        }
    }

    /// Polls every `every` instead.
    pub fn every(mut self, every: Duration) -> StateWait {
        self.every = every;
        self
    }

    /// Records only these states (transient working states are seen or not depending on timing).
    pub fn milestones(mut self, states: &'static [&'static str]) -> StateWait {
        self.milestones = Some(states);
        self
    }

    /// Waits on `node` through `api`.
    pub async fn on(self, api: &IronicApi, node: &str) -> Result<Reached, Stuck> {
        let start = tokio::time::Instant::now();
        let seen = RefCell::new(Vec::<String>::new());
        let reached = Wait::new(format!("node {node} to reach {}", self.want), self.limit)
            .every(self.every)
            .until_async(|| async {
                let n = api.node(node).await;
                let state = n["provision_state"].as_str().unwrap_or("?").to_owned();
                let mut seen = seen.borrow_mut();
                let keep = self.milestones.is_none_or(|m| m.contains(&state.as_str()));
                if keep && seen.last() != Some(&state) {
                    seen.push(state.clone());
                }
                if failed(&n) || (state == self.want && n["target_provision_state"].is_null()) {
                    Check::Done(n)
                } else {
                    Check::Pending(state)
                }
            })
            .await;
        let seen = seen.into_inner();
        match reached {
            Ok(node) => Ok(Reached {
                node,
                seen,
                took: start.elapsed(),
            }),
            Err(timed_out) => Err(Stuck { timed_out, seen }),
        }
    }
}

/// What an OpenStack client program printed.
#[derive(Debug)]
pub struct Ran {
    /// Whether it exited successfully (in time).
    pub ok: bool,
    /// Its stdout.
    pub stdout: String,
    /// Its stderr.
    pub stderr: String,
}

/// Runs an OpenStack client `program` (the `baremetal` CLI, a Python script) with `args` against
/// the Ironic at `endpoint` (noauth), blocking, killed after 90 s.
pub fn run_client(program: &std::path::Path, args: &[&str], endpoint: &str) -> Ran {
    use std::process::{Command, Stdio};
    let mut child = Command::new(program)
        .args(args)
        .env("OS_AUTH_TYPE", "none")
        .env("OS_ENDPOINT", endpoint)
        .env_remove("OS_CLOUD")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {}: {e}", program.display()));
    let finished = Wait::new(
        format!("{} {args:?} to finish", program.display()),
        Duration::from_secs(90),
    )
    .every(Duration::from_millis(50))
    .blocking(|| Check::from(!matches!(child.try_wait(), Ok(None))));
    if finished.is_err() {
        let _ = child.kill();
    }
    let out = child.wait_with_output().expect("client output");
    Ran {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `baremetal args` against the Ironic at `endpoint`, which must succeed; its stdout.
pub fn baremetal(bin: &std::path::Path, endpoint: &str, args: &[&str]) -> String {
    let ran = run_client(bin, args, endpoint);
    assert!(
        ran.ok,
        "baremetal {args:?} failed:\nstdout: {}\nstderr: {}",
        ran.stdout, ran.stderr
    );
    ran.stdout
}

/// The API root of a scripted Ironic (a test's own small router standing in for Ironic), which
/// agents negotiate their microversion from: maximum 1.99.
pub async fn scripted_root() -> impl axum::response::IntoResponse {
    (
        [("X-OpenStack-Ironic-API-Maximum-Version", "1.99")],
        axum::Json(json!({"default_version": {"version": "1.99"}})),
    )
}

/// Serves a scripted Ironic's router on a free loopback port; its base URL.
pub async fn serve_scripted(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the scripted Ironic");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// The fleet `yaml` (read as from `file`) served on loopback, its agents pointed at the Ironic
/// at `ironic`.
pub async fn serve_world(
    yaml: &str,
    file: &str,
    ironic: &str,
) -> (Arc<metal_sim::machine::World>, metal_sim::serve::Running) {
    serve_world_with(
        yaml,
        file,
        ironic,
        metal_sim::agent::LifeSettings::default(),
    )
    .await
}

/// [`serve_world`] with the agents' life settings given.
pub async fn serve_world_with(
    yaml: &str,
    file: &str,
    ironic: &str,
    agent: metal_sim::agent::LifeSettings,
) -> (Arc<metal_sim::machine::World>, metal_sim::serve::Running) {
    let world = Arc::new(
        metal_sim::fleet::Fleet::parse(yaml, file)
            .expect("fleet")
            .build_world(metal_sim::machine::SimClock::start_now())
            .expect("world"),
    );
    let running = metal_sim::serve::start(
        Arc::clone(&world),
        metal_sim::serve::ServeOptions {
            control: "127.0.0.1:0".parse().expect("addr"),
            ironic_url: Some(ironic.to_owned()),
            agent,
            ..metal_sim::serve::ServeOptions::default()
        },
    )
    .await
    .expect("serve");
    (world, running)
}

/// Leaves an old tenant's image on every disk of `host`.
pub fn dirty_disks(world: &metal_sim::machine::World, host: &str) {
    let h = world.host_by_name(host).expect("host");
    h.with_machine(world.now(), |m| {
        for i in 0..m.disks().len() {
            m.write_image(world.now(), i, "http://127.0.0.1:9/old.raw", "sha256:00")
                .expect("dirty disk");
        }
    });
}
