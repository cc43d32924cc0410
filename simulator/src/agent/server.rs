//! The agent's command API over HTTP (axum), as IPA serves it on its callback URL:
//! `GET /v1/commands/`, `GET /v1/commands/{id}[?wait=true]`, `POST /v1/commands/[?wait=true]`,
//! every call with `?agent_token=`; errors as `{"faultcode", "faultstring"}`. Image downloads for
//! `write_image` run in the background and complete the command through the pure core.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use super::client::{self, ClientError};
use super::command::{AgentError, CommandResult, Request};
use super::core::{AGENT_VERSION, Agent, Downloaded, ImageFetch};
use crate::machine::{Host, SimClock};

/// Limits of one agent server.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ServerOptions {
    /// Largest image (and checksum file) accepted, in bytes.
    pub max_image_bytes: u64,
    /// Time limit of one download request.
    pub download_timeout: Duration,
    /// Longest a `wait=true` call blocks before answering with the command still running.
    pub wait_limit: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            max_image_bytes: 64 << 20,
            download_timeout: Duration::from_secs(30),
            wait_limit: Duration::from_secs(60),
        }
    }
}

struct Shared {
    agent: Mutex<Agent>,
    host: Arc<Host>,
    clock: SimClock,
    http: reqwest::Client,
    options: ServerOptions,
    changed: watch::Sender<u64>,
    /// Signalled when an asynchronous command finishes: the life forces a heartbeat.
    finished: Notify,
    stop: CancellationToken,
}

fn lock(m: &Mutex<Agent>) -> MutexGuard<'_, Agent> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running agent API server.
pub struct AgentServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for AgentServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentServer")
            .field("addr", &self.addr)
            .field("host", &self.shared.host.name)
            .finish()
    }
}

/// Starts serving `agent` for `host` on `ip:0` (a loopback address; the port is picked by the OS).
pub async fn start(
    ip: IpAddr,
    host: Arc<Host>,
    clock: SimClock,
    agent: Agent,
    http: reqwest::Client,
    options: ServerOptions,
) -> std::io::Result<AgentServer> {
    if !ip.is_loopback() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{ip} is not a loopback address"),
        ));
    }
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(ip, 0)).await?;
    let addr = listener.local_addr()?;
    let stop = CancellationToken::new();
    let shared = Arc::new(Shared {
        agent: Mutex::new(agent),
        host,
        clock,
        http,
        options,
        changed: watch::channel(0).0,
        finished: Notify::new(),
        stop: stop.clone(),
    });
    let app = app(Arc::clone(&shared));
    let listener = listener.into_std()?;
    // A `wait=true` call may block for `wait_limit`: the request timeout leaves it room to answer.
    let limits = metal_guard::Limits {
        request_timeout: shared.options.wait_limit + metal_guard::Limits::REQUEST_TIMEOUT,
        ..metal_guard::Limits::default()
    };
    let task = tokio::spawn(async move {
        let served =
            metal_guard::serve(listener, app, None, limits, stop.cancelled_owned(), None).await;
        if let Err(e) = served {
            tracing::warn!(error = %e, "agent server failed");
        }
    });
    Ok(AgentServer { addr, shared, task })
}

impl AgentServer {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL Ironic calls back (`http://127.0.0.1:PORT`).
    pub fn callback_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Runs `f` on the agent (keep it short).
    pub fn with_agent<T>(&self, f: impl FnOnce(&mut Agent) -> T) -> T {
        f(&mut lock(&self.shared.agent))
    }

    /// A shareable handle on the agent (for the task that looks up and heartbeats).
    pub fn agent_handle(&self) -> AgentHandle {
        AgentHandle(Arc::clone(&self.shared))
    }

    /// A token cancelled when the server stops.
    pub fn stop_token(&self) -> CancellationToken {
        self.shared.stop.clone()
    }

    /// Stops serving: in-flight requests get a short grace period (a machine that powered off
    /// answers nothing more), then the server task is aborted, keep-alive connections included.
    pub async fn shutdown(mut self) {
        self.shared.stop.cancel();
        if tokio::time::timeout(Duration::from_millis(500), &mut self.task)
            .await
            .is_err()
        {
            self.task.abort();
            let _ = self.task.await;
        }
    }
}

/// Shared access to a served agent.
#[derive(Clone)]
pub struct AgentHandle(Arc<Shared>);

impl AgentHandle {
    /// Runs `f` on the agent (keep it short).
    pub fn with<T>(&self, f: impl FnOnce(&mut Agent) -> T) -> T {
        f(&mut lock(&self.0.agent))
    }

    /// Completes when an asynchronous command has finished since the last call (IPA forces a
    /// heartbeat then); a finish while nobody waits is kept for the next call.
    pub async fn command_finished(&self) {
        self.0.finished.notified().await;
    }
}

fn app(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(root))
        .route("/v1", get(v1))
        .route("/v1/", get(v1))
        .route("/v1/status", get(status))
        .route("/v1/commands", get(list).post(run))
        .route("/v1/commands/", get(list).post(run))
        .route("/v1/commands/{id}", get(show))
        .fallback(not_found)
        .with_state(shared)
}

#[derive(Deserialize)]
struct Params {
    agent_token: Option<String>,
    wait: Option<String>,
}

impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Params")
            .field(
                "agent_token",
                &self.agent_token.as_ref().map(|_| "<redacted>"),
            )
            .field("wait", &self.wait)
            .finish()
    }
}

impl Params {
    fn wait(&self) -> bool {
        self.wait
            .as_deref()
            .is_some_and(|w| w.eq_ignore_ascii_case("true"))
    }
}

fn json_response(status: StatusCode, v: &Value) -> Response {
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

fn refuse(e: &AgentError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    json_response(status, &e.body())
}

async fn root() -> Response {
    json_response(
        StatusCode::OK,
        &json!({"name": "OpenStack Ironic Python Agent API",
                "description": "Ironic Python Agent is a provisioning agent for OpenStack Ironic",
                "versions": [{"id": "v1"}], "default_version": {"id": "v1"}}),
    )
}

async fn v1() -> Response {
    json_response(
        StatusCode::OK,
        &json!({"id": "v1", "media_types": [{"base": "application/json",
            "type": "application/vnd.openstack.ironic-python-agent.v1+json"}]}),
    )
}

async fn status() -> Response {
    json_response(StatusCode::OK, &json!({"version": AGENT_VERSION}))
}

async fn not_found() -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        &json!({"faultcode": "Client", "faultstring": "404 Not Found: The requested URL was not found on the server."}),
    )
}

async fn list(State(s): State<Arc<Shared>>, Query(q): Query<Params>) -> Response {
    let agent = lock(&s.agent);
    if let Err(e) = agent.authorize(q.agent_token.as_deref()) {
        return refuse(&e);
    }
    let commands: Vec<Value> = agent
        .commands()
        .iter()
        .map(CommandResult::to_json)
        .collect();
    json_response(StatusCode::OK, &json!({ "commands": commands }))
}

async fn show(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    Query(q): Query<Params>,
) -> Response {
    if let Err(e) = lock(&s.agent).authorize(q.agent_token.as_deref()) {
        return refuse(&e);
    }
    match result_after_wait(&s, &id, q.wait()).await {
        Ok(r) => json_response(StatusCode::OK, &r.to_json()),
        Err(e) => refuse(&e),
    }
}

async fn result_after_wait(s: &Shared, id: &str, wait: bool) -> Result<CommandResult, AgentError> {
    let mut rx = s.changed.subscribe();
    let deadline = tokio::time::Instant::now() + s.options.wait_limit;
    loop {
        let current = lock(&s.agent).command(id).cloned()?;
        if !wait || current.is_done() {
            return Ok(current);
        }
        let woke = tokio::time::timeout_at(deadline, rx.changed()).await;
        if !matches!(woke, Ok(Ok(()))) {
            return Ok(current);
        }
    }
}

async fn run(State(s): State<Arc<Shared>>, Query(q): Query<Params>, body: Bytes) -> Response {
    if let Err(e) = lock(&s.agent).authorize(q.agent_token.as_deref()) {
        return refuse(&e);
    }
    let parsed = serde_json::from_slice::<Value>(&body)
        .map_err(|_| AgentError::MalformedBody)
        .and_then(|v| Request::parse(&v));
    let req = match parsed {
        Ok(r) => r,
        Err(e) => return refuse(&e),
    };
    let name = format!("{}.{}", req.extension, req.command);
    let forces_heartbeat = req.is_async();
    let now = s.clock.now();
    let executed = {
        let mut agent = lock(&s.agent);
        s.host.with_machine(now, |m| agent.execute(now, m, req))
    };
    let (result, fetch) = match executed {
        Ok(x) => x,
        Err(e) => {
            tracing::info!(host = %s.host.name, command = %name, error = %e, "agent command refused");
            return refuse(&e);
        }
    };
    tracing::debug!(host = %s.host.name, command = %name, status = ?result.command_status, "agent command");
    s.changed.send_modify(|g| *g += 1);
    if forces_heartbeat && result.is_done() {
        s.finished.notify_one();
    }
    if let Some(fetch) = fetch {
        let shared = Arc::clone(&s);
        tokio::spawn(async move { fetch_and_write(shared, fetch).await });
    }
    if q.wait() && !result.is_done() {
        return match result_after_wait(&s, &result.id, true).await {
            Ok(r) => json_response(StatusCode::OK, &r.to_json()),
            Err(e) => refuse(&e),
        };
    }
    json_response(StatusCode::OK, &result.to_json())
}

async fn fetch_once(s: &Shared, url: &str) -> Result<Vec<u8>, ClientError> {
    let limit = s.options.max_image_bytes;
    match tokio::time::timeout(
        s.options.download_timeout,
        client::download(&s.http, url, limit),
    )
    .await
    {
        Ok(r) => r,
        Err(_) => Err(ClientError::BadReply {
            url: url.to_string(),
            reason: format!("no complete answer within {:?}", s.options.download_timeout),
        }),
    }
}

/// Downloads the checksum file (if any) and the image (trying each URL in order), then completes
/// the command through the core. When the agent stops (its machine powered off) the download is
/// abandoned at once and nothing is written: the agent and its commands are gone.
async fn fetch_and_write(s: Arc<Shared>, fetch: ImageFetch) {
    let stop = s.stop.clone();
    let command = fetch.command_id.clone();
    tokio::select! {
        () = stop.cancelled() => {
            tracing::info!(host = %s.host.name, command = %command, "agent stopped: image download abandoned");
        }
        () = download_and_write(Arc::clone(&s), fetch) => {}
    }
}

async fn download_and_write(s: Arc<Shared>, fetch: ImageFetch) {
    let checksum = match &fetch.checksum_url {
        None => Ok(None),
        Some(u) => fetch_once(&s, u)
            .await
            .map(|b| Some(String::from_utf8_lossy(&b).into_owned()))
            .map_err(|e| format!("checksum file: {e}")),
    };
    let mut image: Result<(String, Vec<u8>), String> = Err("no image URL".into());
    if checksum.is_ok() {
        for url in &fetch.urls {
            match fetch_once(&s, url).await {
                Ok(bytes) => {
                    image = Ok((url.clone(), bytes));
                    break;
                }
                Err(e) => image = Err(e.to_string()),
            }
        }
    }
    if s.stop.is_cancelled() {
        return;
    }
    let now = s.clock.now();
    let done = {
        let mut agent = lock(&s.agent);
        let downloaded = match (&checksum, &image) {
            (Err(e), _) | (_, Err(e)) => Err(e.clone()),
            (Ok(text), Ok((url, bytes))) => Ok(Downloaded {
                url,
                bytes,
                checksum_text: text.as_deref(),
            }),
        };
        s.host.with_machine(now, |m| {
            agent.finish_image(now, m, &fetch.command_id, downloaded)
        })
    };
    if let Some(r) = done {
        tracing::info!(host = %s.host.name, command = %r.command_name, status = ?r.command_status, "agent image command finished");
        s.finished.notify_one();
    }
    s.changed.send_modify(|g| *g += 1);
}
