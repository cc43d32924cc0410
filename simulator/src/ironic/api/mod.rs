//! The HTTP face of the mock: routes of API v1, microversion headers, and the conductor's shell loop.

mod agent;
/// Allocations (`/v1/allocations`).
mod allocations;
/// A node's cached BIOS settings.
mod bios;
/// A node's boot mode and secure boot changes.
mod boot_mode;
/// Chassis (`/v1/chassis`).
mod chassis;
/// The conductor service (`/v1/conductors`).
mod conductors;
/// The route table of a resource served whole by synchronous handlers.
mod crud;
/// Deploy templates (`/v1/deploy_templates`).
mod deploy_templates;
/// Hardware types, their properties and vendor passthru.
mod drivers;
/// External events (`/v1/events`).
mod events;
/// The simulator-only API fault switch at `/_sim/faults` (not Ironic).
pub mod fault;
/// A node's firmware components (`/v1/nodes/{id}/firmware`).
mod firmware;
mod hardware;
/// A node's history (`/v1/nodes/{id}/history`).
mod history;
/// The API called in-process (engine mode), through the same router as over HTTP.
pub mod in_process;
/// The simulator-only request journal at `/_sim/requests` (not Ironic).
pub mod journal;
/// A node's management and console sub-resources.
mod management;
/// A node's children and the shards (`/v1/nodes/{id}/children`, `/v1/shards`).
mod node_family;
/// The fields a node PATCH may not read.
mod node_secrets;
mod nodes;
/// Ironic's paging of collections (`limit`, `marker`, `sort_key`, `sort_dir`, `next`).
mod paging;
/// The ports with their address and node indexes.
mod port_table;
/// Port groups (`/v1/portgroups`).
mod portgroups;
mod ports;
mod provision_steps;
mod raid;
/// Runbooks (`/v1/runbooks`).
mod runbooks;
/// The mock's database and the rules every caller (HTTP handlers, engine) applies to it.
mod store;
/// Node traits (`/v1/nodes/{id}/traits`).
mod traits;
/// A node's VIFs (`/v1/nodes/{id}/vifs`).
mod vifs;
/// Volume connectors and targets (`/v1/volume`).
mod volume;
pub use store::{AgentLookup, Store};

use super::conductor::Settings;
use super::driver::{DriverError, Drivers, Gate};
use super::encoding::{Doc, to_python_json};
use super::error::ApiError;
use super::model::{Shape, links};
use super::version::{
    self, MAX, MAX_HEADER, MIN, MIN_HEADER, VERSION_HEADER, Version, VersionError,
};
use crate::egress::Network;
use axum::Router;
use axum::extract::{Path, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// The source of "now" (wall clock in `main`, a fixed or scaled clock in tests).
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// Shared state of the mock Ironic.
#[derive(Clone)]
pub struct AppState {
    store: Arc<Mutex<Store>>,
    clock: Clock,
    wake: Arc<Notify>,
    /// The egress rule `validate` checks BMCs against (the drivers' own).
    pub(crate) gate: Gate,
    /// The BMC and agent drivers; none in engine mode, where the engine carries out the calls.
    drivers: Option<Arc<Drivers>>,
    journal: Arc<Mutex<journal::Journal>>,
    faults: Arc<Mutex<fault::FaultSwitch>>,
    /// When the mock's conductor registered (its `created_at` in `/v1/conductors`).
    started: DateTime<Utc>,
}

impl AppState {
    /// A mock with no nodes; `seed` drives generated UUIDs and agent tokens. Its drivers talk to
    /// loopback BMCs only.
    pub fn new(settings: Settings, seed: u64, clock: Clock) -> Result<Self, DriverError> {
        Self::with_bmc_networks(settings, seed, clock, &[])
    }

    /// A mock whose drivers may also reach BMCs in `bmc_networks` (`--allow-bmc-network`).
    pub fn with_bmc_networks(
        settings: Settings,
        seed: u64,
        clock: Clock,
        bmc_networks: &[Network],
    ) -> Result<Self, DriverError> {
        let drivers = Drivers::new(bmc_networks)?;
        Ok(Self::with_drivers(
            settings,
            seed,
            clock,
            drivers.gate().clone(),
            Some(Arc::new(drivers)),
        ))
    }

    fn with_drivers(
        settings: Settings,
        seed: u64,
        clock: Clock,
        gate: Gate,
        drivers: Option<Arc<Drivers>>,
    ) -> Self {
        let started = clock();
        Self {
            store: Arc::new(Mutex::new(Store::new(settings, seed))),
            started,
            clock,
            wake: Arc::new(Notify::new()),
            gate,
            drivers,
            journal: Arc::new(Mutex::new(journal::Journal::default())),
            faults: Arc::new(Mutex::new(fault::FaultSwitch::new(seed))),
        }
    }

    /// A mock for engine mode: the same state as [`AppState::new`] on the engine's virtual
    /// `clock`; the engine steps its conductor and carries out the calls itself.
    pub fn in_process(settings: Settings, seed: u64, clock: Clock) -> Self {
        Self::with_drivers(settings, seed, clock, Gate::default(), None)
    }

    /// Keeps a fraction `rate` of the operator-facing API failing with `status` (default 503)
    /// until changed (engine mode's Ironic API faults); a rate of 0 switches it off.
    pub fn hold_api_fault(&self, rate: f64, status: Option<u16>) {
        let mut switch = self.faults();
        if rate > 0.0 {
            switch.hold(rate, status);
        } else {
            switch.clear();
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Store> {
        // A panic while holding the lock cannot leave the store half-updated in a way readers mind.
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn journal(&self) -> MutexGuard<'_, journal::Journal> {
        self.journal.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn faults(&self) -> MutexGuard<'_, fault::FaultSwitch> {
        self.faults.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Restarts the mock on an empty database (every node and port forgotten; API faults, the
    /// journal and the id streams kept): what `POST /_sim/lose-database` does.
    pub fn lose_database(&self) {
        self.lock().lose_database();
        tracing::info!("Ironic database lost: every node and port forgotten");
    }

    /// The agent tokens handed out so far (the newest 4096), for a run that searches its logs
    /// for them.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.lock().issued_tokens()
    }

    /// A copy of the request journal, oldest first (what `GET /_sim/requests` serves).
    pub fn requests(&self) -> Vec<journal::Entry> {
        self.journal().entries().cloned().collect()
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    /// When the mock's conductor registered.
    pub(crate) fn started(&self) -> DateTime<Utc> {
        self.started
    }

    /// Wakes the conductor loop after a job was started.
    pub(crate) fn kick(&self) {
        self.wake.notify_one();
    }

    /// Steps the conductor once at the clock's now; returns the calls the caller must perform and feed
    /// back with `complete_call` (engine mode, tests).
    pub fn step_conductor(&self) -> Vec<super::conductor::Call> {
        let now = self.now();
        let mut s = self.lock();
        let calls = s.conductor.step(now);
        s.adopt_discovered_ports(now);
        calls
    }

    /// Feeds back the outcome of a call returned by `step_conductor`.
    pub fn complete_call(&self, id: u64, outcome: Result<super::conductor::CallResult, String>) {
        let now = self.now();
        let mut s = self.lock();
        s.conductor.complete(id, outcome, now);
        s.adopt_discovered_ports(now);
    }

    /// Steps node `uuid`'s conductor job at the clock's now; the call to carry out, if any (engine
    /// mode steps each node when it is due, so a step costs the same however large the fleet).
    pub fn step_node(&self, uuid: uuid::Uuid) -> Option<super::conductor::Call> {
        let now = self.now();
        let mut s = self.lock();
        let call = s.conductor.step_node(uuid, now);
        s.adopt_discovered_ports(now);
        call
    }

    /// Feeds back the outcome of node `uuid`'s call `id`, returned by [`AppState::step_node`].
    pub fn complete_node_call(
        &self,
        uuid: uuid::Uuid,
        id: u64,
        outcome: Result<super::conductor::CallResult, String>,
    ) {
        let now = self.now();
        let mut s = self.lock();
        s.conductor.complete_node(uuid, id, outcome, now);
        s.adopt_discovered_ports(now);
    }

    /// Runs `f` on the store (nodes, ports, conductor) under its lock, without an API request:
    /// engine mode's bookkeeping and its agent's in-process lookups.
    pub fn with_store<R>(&self, f: impl FnOnce(&mut Store) -> R) -> R {
        f(&mut self.lock())
    }

    /// Performs one call over the wire (BMC or agent), as the conductor loop does.
    pub async fn perform(
        &self,
        call: &super::conductor::Call,
    ) -> Result<super::conductor::CallResult, String> {
        self.drivers()?.perform_call(call).await
    }

    fn drivers(&self) -> Result<&Drivers, String> {
        self.drivers
            .as_deref()
            .ok_or_else(|| "this mock has no drivers (engine mode carries out its calls)".into())
    }

    /// Runs the conductor loop: steps jobs when due and performs calls concurrently. Never returns.
    pub async fn run_conductor(self) {
        loop {
            let now = self.now();
            let (calls, next) = {
                let mut s = self.lock();
                let calls = s.conductor.step(now);
                (calls, s.conductor.next_due())
            };
            for call in calls {
                let me = self.clone();
                tokio::spawn(async move {
                    let outcome = match me.drivers() {
                        Ok(d) => d.perform_call(&call).await,
                        Err(e) => Err(e),
                    };
                    me.complete_call(call.id(), outcome);
                    me.kick();
                });
            }
            let wait = next
                .map(|d| (d - self.now()).to_std().unwrap_or_default())
                .unwrap_or(std::time::Duration::from_secs(1))
                .min(std::time::Duration::from_secs(1));
            let _ = tokio::time::timeout(wait, self.wake.notified()).await;
        }
    }
}

/// Per-request context: negotiated version and the base URL for links.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    pub(crate) version: Version,
    pub(crate) base: String,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, ApiError> {
        let version = parts.extensions.get::<Version>().copied().unwrap_or(MIN);
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1");
        Ok(Self {
            version,
            base: format!("http://{host}"),
        })
    }
}

/// What every handler of one node's routes takes: the state, the request context, and the node's
/// identifier (UUID, or name from 1.5) from the path.
pub(crate) struct NodeRequest {
    pub(crate) s: AppState,
    pub(crate) ctx: Ctx,
    pub(crate) ident: String,
}

impl axum::extract::FromRequestParts<AppState> for NodeRequest {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Response> {
        let ctx = Ctx::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Path(ident) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Self {
            s: state.clone(),
            ctx,
            ident,
        })
    }
}

/// A JSON response in Python's style.
pub(crate) fn json_response(status: StatusCode, body: &impl serde::Serialize) -> Response {
    json_text_response(status, to_python_json(body))
}

/// A JSON response whose text is already written (by [`to_python_json`]).
pub(crate) fn json_text_response(status: StatusCode, text: impl Into<bytes::Bytes>) -> Response {
    let text: bytes::Bytes = text.into();
    let mut r = (status, text).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// 202 with Ironic's Location header pointing at the node's states.
pub(crate) fn accepted(ctx: &Ctx, ident: &str) -> Response {
    let mut r = StatusCode::ACCEPTED.into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("{}/v1/nodes/{ident}/states", ctx.base)) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// Parses a query string into ordered pairs.
pub(crate) fn query_pairs(q: Option<&str>) -> Vec<(String, String)> {
    q.map(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .collect()
    })
    .unwrap_or_default()
}

/// Parses the `fields` parameter against the known names.
pub(crate) fn parse_fields(raw: &str, known: &[String]) -> Result<Shape, ApiError> {
    let fields: Vec<String> = raw
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if let Some(bad) = fields.iter().find(|f| !known.contains(f)) {
        return Err(ApiError::BadRequest(format!(
            "Field(s) \"{bad}\" are not valid"
        )));
    }
    Ok(Shape::Fields(fields))
}

async fn version_headers(headers: HeaderMap, mut req: Request, next: Next) -> Response {
    let asked = headers
        .get(VERSION_HEADER)
        .map(|h| h.to_str().unwrap_or("\u{0}"));
    match version::negotiate(asked) {
        Ok(v) => {
            req.extensions_mut().insert(v);
            let mut resp = next.run(req).await;
            let h = resp.headers_mut();
            for (name, value) in [(MIN_HEADER, MIN), (MAX_HEADER, MAX), (VERSION_HEADER, v)] {
                if let Ok(val) = HeaderValue::from_str(&value.to_string()) {
                    h.insert(name, val);
                }
            }
            resp
        }
        Err(e) => {
            let unsupported = matches!(e, VersionError::Unsupported(_));
            let mut resp = ApiError::from(e).into_response();
            if unsupported {
                for (name, value) in [(MIN_HEADER, MIN), (MAX_HEADER, MAX)] {
                    if let Ok(val) = HeaderValue::from_str(&value.to_string()) {
                        resp.headers_mut().insert(name, val);
                    }
                }
            }
            resp
        }
    }
}

fn version_doc(ctx: &Ctx) -> Doc {
    let mut d = Doc::new();
    d.put("id", "v1");
    d.put(
        "links",
        serde_json::json!([{"href": format!("{}/v1/", ctx.base), "rel": "self"}]),
    );
    d.put("status", "CURRENT");
    d.put("min_version", MIN.to_string());
    d.put("version", MAX.to_string());
    d
}

async fn root(ctx: Ctx) -> Response {
    let mut d = Doc::new();
    d.put("name", "OpenStack Ironic API");
    d.put(
        "description",
        "Ironic is an OpenStack project which enables the provision and management of baremetal machines.",
    );
    d.put("default_version", version_doc(&ctx).to_value());
    d.put(
        "versions",
        serde_json::json!([version_doc(&ctx).to_value()]),
    );
    json_response(StatusCode::OK, &d)
}

async fn v1(ctx: Ctx) -> Response {
    let b = &ctx.base;
    let mut d = Doc::new();
    d.put("id", "v1");
    d.put(
        "links",
        serde_json::json!([
            {"href": format!("{b}/v1/"), "rel": "self"},
            {"href": "https://docs.openstack.org//ironic/latest/contributor//webapi.html", "rel": "describedby", "type": "text/html"}
        ]),
    );
    d.put(
        "media_types",
        serde_json::json!({"base": "application/json", "type": "application/vnd.openstack.ironic.v1+json"}),
    );
    for r in ["chassis", "nodes", "ports", "drivers"] {
        d.put(r, links(b, &format!("{r}/")));
    }
    d.put("version", version_doc(&ctx).to_value());
    let extra = [
        ("portgroups", 24),
        ("volume", 32),
        ("lookup", 22),
        ("heartbeat", 22),
        ("conductors", 49),
        ("allocations", 52),
        ("events", 54),
        ("deploy_templates", 55),
        ("shards", 82),
        ("runbooks", 92),
        ("inspection_rules", 96),
        ("continue_inspection", 84),
    ];
    for (r, min) in extra {
        if ctx.version.at_least(min) {
            d.put(r, links(b, &format!("{r}/")));
        }
    }
    json_response(StatusCode::OK, &d)
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}

/// The mock Ironic's router: the journal (outermost, every request), then the control routes
/// (journal, faults, database loss), and every other request through fault injection and the
/// version headers to Ironic's API routes. The route tables are built once per process (inserting
/// routes is most of a router's cost; tests and the fuzzer build a mock per case).
pub fn app(state: AppState) -> Router {
    let api = tower::ServiceBuilder::new()
        .layer(middleware::from_fn_with_state(state.clone(), fault::inject))
        .layer(middleware::from_fn(version_headers))
        .service(api_routes().clone().with_state(state.clone()));
    let routes = control_routes()
        .clone()
        .with_state(state.clone())
        .fallback_service(api);
    let journaled = tower::ServiceBuilder::new()
        .layer(middleware::from_fn_with_state(state, journal::record))
        .service(routes);
    Router::new().fallback_service(journaled)
}

/// The mock's own routes: the request journal, the fault switches and the database-loss fault.
fn control_routes() -> &'static Router<AppState> {
    static TABLE: OnceLock<Router<AppState>> = OnceLock::new();
    TABLE.get_or_init(|| {
        Router::new()
            .route(journal::JOURNAL_PATH, get(journal::show))
            .route(
                fault::FAULTS_PATH,
                get(fault::show).post(fault::set).delete(fault::clear),
            )
            .route(
                fault::DATABASE_LOST_PATH,
                axum::routing::post(fault::lose_database),
            )
    })
}

/// Ironic's API routes, and a 404 for the rest.
fn api_routes() -> &'static Router<AppState> {
    static TABLE: OnceLock<Router<AppState>> = OnceLock::new();
    TABLE.get_or_init(build_api_routes)
}

fn build_api_routes() -> Router<AppState> {
    use axum::routing::{post, put};
    Router::new()
        .route("/", get(root))
        .route("/v1", get(v1))
        .route("/v1/", get(v1))
        .route(
            "/v1/drivers/{name}/raid/logical_disk_properties",
            get(raid::logical_disk_properties),
        )
        .route("/v1/chassis", get(chassis::list).post(chassis::create))
        .route("/v1/chassis/", get(chassis::list).post(chassis::create))
        .route("/v1/chassis/detail", get(chassis::list_detail))
        .route(
            "/v1/chassis/{id}",
            get(chassis::show)
                .patch(chassis::patch)
                .delete(chassis::delete),
        )
        .route("/v1/chassis/{id}/nodes", get(chassis::nodes))
        .route("/v1/chassis/{id}/nodes/detail", get(chassis::nodes_detail))
        .route("/v1/nodes", get(nodes::list).post(nodes::create))
        .route("/v1/nodes/", get(nodes::list).post(nodes::create))
        .route("/v1/nodes/detail", get(nodes::list_detail))
        .route(
            "/v1/nodes/{ident}",
            get(nodes::show).patch(nodes::patch).delete(nodes::delete),
        )
        .route("/v1/nodes/{ident}/states", get(nodes::states))
        .route("/v1/nodes/{ident}/states/provision", put(nodes::provision))
        .route("/v1/nodes/{ident}/states/power", put(nodes::power))
        .route("/v1/nodes/{ident}/states/raid", put(raid::set_target))
        .route("/v1/nodes/{ident}/validate", get(hardware::validate))
        .route(
            "/v1/nodes/{ident}/maintenance",
            put(hardware::maintenance_on).delete(hardware::maintenance_off),
        )
        .route(
            "/v1/nodes/{ident}/traits",
            get(traits::list)
                .put(traits::replace)
                .delete(traits::clear)
                .fallback(traits::not_allowed),
        )
        .route(
            "/v1/nodes/{ident}/traits/{name}",
            put(traits::add)
                .delete(traits::remove)
                .fallback(traits::not_allowed),
        )
        .route("/v1/nodes/{ident}/ports", get(ports::list_of_node))
        .route("/v1/nodes/{ident}/ports/detail", get(ports::detail_of_node))
        .route("/v1/nodes/{ident}/inventory", get(hardware::inventory))
        .route(
            "/v1/nodes/{ident}/bios",
            get(bios::list).fallback(traits::not_allowed),
        )
        .route(
            "/v1/nodes/{ident}/bios/{name}",
            get(bios::one).fallback(traits::not_allowed),
        )
        .route(
            "/v1/nodes/{ident}/vmedia",
            get(hardware::vmedia_get)
                .post(hardware::vmedia_attach)
                .delete(hardware::vmedia_detach),
        )
        .route("/v1/ports", get(ports::list).post(ports::create))
        .route("/v1/ports/", get(ports::list).post(ports::create))
        .route("/v1/ports/detail", get(ports::list_detail))
        .route(
            "/v1/ports/{id}",
            get(ports::show)
                .patch(ports::patch)
                .delete(ports::delete)
                .fallback(|| async { ApiError::method_not_allowed() }),
        )
        .route("/v1/lookup", get(agent::lookup))
        .route("/v1/heartbeat/{ident}", post(agent::heartbeat))
        .route("/v1/continue_inspection", post(agent::continue_inspection))
        .merge(portgroups::routes())
        .merge(volume::routes())
        .merge(deploy_templates::routes())
        .merge(allocations::routes())
        .merge(node_family::routes())
        .merge(vifs::routes())
        .merge(runbooks::routes())
        .merge(conductors::routes())
        .merge(history::routes())
        .merge(management::routes())
        .merge(firmware::routes())
        .merge(boot_mode::routes())
        .merge(drivers::routes())
        .merge(events::routes())
        .fallback(not_found)
}

/// The largest request body the mock accepts (2 MiB), enforced by the listener while the body is
/// read: axum's own extractor limit, under which every handler (the provision route's included)
/// already read its body, so no request a handler accepted before is refused now. (The journal
/// used to buffer provision bodies up to 64 MiB before the handler refused all over 2 MiB.)
pub const BODY_LIMIT: usize = 2 * 1024 * 1024;

/// The listener rule the mock serves under: metal-guard's defaults with [`BODY_LIMIT`].
pub fn limits() -> metal_guard::Limits {
    metal_guard::Limits::default().with_body_limit(BODY_LIMIT)
}

/// Serves the mock on an already-bound listener, running the conductor loop alongside.
pub async fn serve(listener: TcpListener, state: AppState) -> std::io::Result<()> {
    let conductor = tokio::spawn(state.clone().run_conductor());
    let result = metal_guard::serve(
        listener.into_std()?,
        app(state),
        None,
        limits(),
        std::future::pending(),
        None,
    )
    .await;
    conductor.abort();
    result
}
