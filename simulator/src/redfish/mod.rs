//! Fake Redfish BMC (axum, HTTP and HTTPS) on top of the simulated machines.
//!
//! [`app`] builds the router for one listener's [`RedfishState`] (its hosts: one in the
//! per-address layout, many under `/redfish/v1/Systems/<uuid>` in the single-address layout);
//! [`serve`] runs it on an already-bound listener, over HTTP or HTTPS with a self-signed
//! certificate ([`TlsIdentity`]). [`state_for`] builds the state of one [`ListenerPlan`].
//!
//! Concepts, one module each: service root and `$metadata` (`root`, `metadata`), systems
//! (`system`, `inventory`, `storage` with RAID volumes, `bios`, `media`), the BIOS attribute registries (`registry`), managers and chassis (`chassis`), sessions and
//! authentication (`session`, `account`), firmware updates and tasks (`update`, multipart `push`), event subscriptions and their delivery
//! (`events`, `delivery`), documents and
//! errors (`document`, `error`), serialized documents and the System cache (`rendered`), the
//! fault/logging facade (`facade`), the specification's request rules applied before routing
//! (`protocol`: `OData-Version`, `$` queries, POST to `Members`) and TLS (`tls`).

mod account;
/// Bios and SecureBoot; the attribute conversion and refusal texts engine mode shares.
pub mod bios;
mod chassis;
mod delivery;
mod document;
mod error;
mod events;
mod facade;
mod inventory;
mod media;
mod metadata;
mod protocol;
mod push;
pub mod registry;
mod rendered;
mod root;
mod service;
mod session;
mod storage;
mod system;
mod tls;
mod update;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use tokio_util::sync::CancellationToken;

pub use account::Account;
pub use chassis::{bmc_firmware_version, bmc_model};
pub use document::{check_if_match, etag_of};
pub use error::RedfishError;
pub use facade::{DropConnection, DroppedConnection};
pub use metadata::csdl;
pub use service::{RedfishState, ServiceOptions};
pub use session::SessionStore;
pub use system::{RESET_TYPES, ResetType};
pub use tls::{TlsError, TlsIdentity};

use crate::machine::{ListenerPlan, World};

/// The state for one planned Redfish listener: its hosts (session tokens come from the OS, not
/// the world's seed).
pub fn state_for(world: &Arc<World>, plan: &ListenerPlan, options: ServiceOptions) -> RedfishState {
    let hosts = plan
        .hosts
        .iter()
        .filter_map(|&i| world.host(i).cloned())
        .collect();
    RedfishState::new(Arc::clone(world), hosts, options)
}

/// The Redfish router of one listener: the shared route table given this listener's state, behind
/// the middleware every request passes (outermost first: path normalisation, POST to `Members`,
/// method errors, faults and logging, the specification's protocol checks, authentication).
pub fn app(state: RedfishState) -> Router {
    let routes = route_table().clone().with_state(state.clone());
    let service = tower::ServiceBuilder::new()
        .map_request(facade::normalize_path)
        .map_request(protocol::members_as_collection)
        .layer(axum::middleware::from_fn(facade::method_errors))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            facade::faults_and_logging,
        ))
        .layer(axum::middleware::from_fn(protocol::check))
        .layer(axum::middleware::from_fn_with_state(
            state,
            session::require_auth,
        ))
        .service(routes);
    Router::new().fallback_service(service)
}

/// Every route and handler, built once per process: inserting the routes is most of the cost of a
/// router, and a fleet serves one router per listener (a thousand in the per-address layout).
fn route_table() -> &'static Router<RedfishState> {
    static TABLE: OnceLock<Router<RedfishState>> = OnceLock::new();
    TABLE.get_or_init(build_route_table)
}

fn build_route_table() -> Router<RedfishState> {
    let systems = "/redfish/v1/Systems/{id}";
    let managers = "/redfish/v1/Managers/{id}";
    Router::new()
        .route("/redfish", get(root::versions))
        .route("/redfish/v1", get(root::service_root))
        .route("/redfish/v1/", get(root::service_root))
        .route(
            "/redfish/v1/$metadata",
            get(|| async { metadata::metadata_response() }),
        )
        .route(
            "/redfish/v1/odata",
            get(|| async { metadata::service_document() }),
        )
        // Systems
        .route("/redfish/v1/Systems", get(system::list))
        .route(systems, get(system::get).patch(system::patch))
        .route(
            &format!("{systems}/Actions/ComputerSystem.Reset"),
            post(system::reset_action),
        )
        .route(
            &format!("{systems}/ResetActionInfo"),
            get(system::reset_action_info),
        )
        .route(
            &format!("{systems}/BootOptions"),
            get(system::list_boot_options),
        )
        .route(
            &format!("{systems}/BootOptions/{{option}}"),
            get(system::get_boot_option),
        )
        .route(&format!("{systems}/Bios"), get(bios::get))
        .route(
            &format!("{systems}/Bios/Settings"),
            get(bios::get_settings).patch(bios::patch_settings),
        )
        .route(
            &format!("{systems}/Bios/Actions/Bios.ResetBios"),
            post(bios::reset_bios),
        )
        .route(
            &format!("{systems}/SecureBoot"),
            get(bios::get_secure_boot).patch(bios::patch_secure_boot),
        )
        .route(&format!("{systems}/Processors"), get(inventory::processors))
        .route(
            &format!("{systems}/Processors/{{cpu}}"),
            get(inventory::processor),
        )
        .route(&format!("{systems}/Memory"), get(inventory::memories))
        .route(
            &format!("{systems}/Memory/{{dimm}}"),
            get(inventory::memory),
        )
        .route(&format!("{systems}/Storage"), get(storage::storages))
        .route(
            &format!("{systems}/Storage/{{storage}}"),
            get(storage::storage),
        )
        .route(
            &format!("{systems}/Storage/{{storage}}/Controllers"),
            get(storage::controllers),
        )
        .route(
            &format!("{systems}/Storage/{{storage}}/Controllers/{{controller}}"),
            get(storage::controller),
        )
        .route(
            &format!("{systems}/Storage/{{storage}}/Volumes"),
            get(storage::volumes).post(storage::create_volume),
        )
        .route(
            &format!("{systems}/Storage/{{storage}}/Volumes/{{volume}}"),
            get(storage::volume).delete(storage::delete_volume),
        )
        .route(
            &format!("{systems}/EthernetInterfaces"),
            get(inventory::ethernet_interfaces),
        )
        .route(
            &format!("{systems}/EthernetInterfaces/{{nic}}"),
            get(inventory::ethernet_interface),
        )
        .route(
            &format!("{systems}/PCIeDevices"),
            get(inventory::pcie_devices),
        )
        .route(
            &format!("{systems}/PCIeDevices/{{device}}"),
            get(inventory::pcie_device),
        )
        .route(
            &format!("{systems}/VirtualMedia"),
            get(media::system_collection),
        )
        .route(
            &format!("{systems}/VirtualMedia/{{slot}}"),
            get(media::system_get).patch(media::system_patch),
        )
        .route(
            &format!("{systems}/VirtualMedia/{{slot}}/Actions/VirtualMedia.InsertMedia"),
            post(media::system_insert),
        )
        .route(
            &format!("{systems}/VirtualMedia/{{slot}}/Actions/VirtualMedia.EjectMedia"),
            post(media::system_eject),
        )
        // Managers and chassis
        .route("/redfish/v1/Managers", get(chassis::managers))
        .route(managers, get(chassis::manager))
        .route(
            &format!("{managers}/VirtualMedia"),
            get(media::manager_collection),
        )
        .route(
            &format!("{managers}/VirtualMedia/{{slot}}"),
            get(media::manager_get).patch(media::manager_patch),
        )
        .route(
            &format!("{managers}/VirtualMedia/{{slot}}/Actions/VirtualMedia.InsertMedia"),
            post(media::manager_insert),
        )
        .route(
            &format!("{managers}/VirtualMedia/{{slot}}/Actions/VirtualMedia.EjectMedia"),
            post(media::manager_eject),
        )
        .route("/redfish/v1/Chassis", get(chassis::chassis_collection))
        .route("/redfish/v1/Chassis/{id}", get(chassis::chassis))
        .route("/redfish/v1/Chassis/{id}/Drives", get(storage::drives))
        .route(
            "/redfish/v1/Chassis/{id}/Drives/{drive}",
            get(storage::drive),
        )
        // Events
        .route("/redfish/v1/EventService", get(events::get_service))
        .route(
            "/redfish/v1/EventService/Subscriptions",
            get(events::list).post(events::create),
        )
        .route(
            "/redfish/v1/EventService/Subscriptions/{id}",
            get(events::get).delete(events::delete),
        )
        .route(
            "/redfish/v1/EventService/Actions/EventService.SubmitTestEvent",
            post(events::submit_test_event),
        )
        // Registries
        .route("/redfish/v1/Registries", get(registry::collection))
        .route("/redfish/v1/Registries/{file}", get(registry::file))
        .route(
            "/redfish/v1/Registries/{file}/{registry}",
            get(registry::attribute_registry),
        )
        // Sessions and accounts
        .route(
            "/redfish/v1/SessionService",
            get(session::get_service).patch(session::patch_service),
        )
        .route(
            "/redfish/v1/SessionService/Sessions",
            get(session::list).post(session::create),
        )
        .route(
            "/redfish/v1/SessionService/Sessions/{id}",
            get(session::get).delete(session::delete),
        )
        .route("/redfish/v1/AccountService", get(account::get_service))
        .route(
            "/redfish/v1/AccountService/Accounts",
            get(account::list_accounts),
        )
        .route(
            "/redfish/v1/AccountService/Accounts/{id}",
            get(account::get_account),
        )
        .route("/redfish/v1/AccountService/Roles", get(account::list_roles))
        .route(
            "/redfish/v1/AccountService/Roles/{id}",
            get(account::get_role),
        )
        // Updates and tasks
        .route("/redfish/v1/UpdateService", get(update::get_service))
        .route(
            "/redfish/v1/UpdateService/FirmwareInventory",
            get(update::inventory),
        )
        .route(
            "/redfish/v1/UpdateService/FirmwareInventory/{id}",
            get(update::inventory_item),
        )
        .route(
            "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate",
            post(update::simple_update),
        )
        .route(push::PUSH_URI, post(push::push))
        .route("/redfish/v1/TaskService", get(update::get_task_service))
        .route("/redfish/v1/TaskService/Tasks", get(update::tasks))
        .route("/redfish/v1/TaskService/Tasks/{id}", get(update::task))
        .route(
            "/redfish/v1/TaskService/TaskMonitors/{id}",
            get(update::task_monitor),
        )
        .fallback(facade::not_found)
}

/// Failures running a Redfish listener.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The listener could not be handed to the server.
    #[error("Redfish listener {address:?}: {source}")]
    Listener {
        address: Option<SocketAddr>,
        #[source]
        source: std::io::Error,
    },
    /// The server stopped with an I/O error.
    #[error("Redfish server on {address:?}: {source}")]
    Server {
        address: Option<SocketAddr>,
        #[source]
        source: std::io::Error,
    },
}

/// How long in-flight requests may finish after `stop` is cancelled.
const GRACE: Duration = Duration::from_secs(2);

/// Serves `app` on an already-bound listener until `stop` is cancelled; HTTPS when `tls` is given.
/// The listener rule is metal-guard's with its defaults ([`metal_guard::Limits`]).
pub async fn serve(
    listener: std::net::TcpListener,
    app: Router,
    tls: Option<TlsIdentity>,
    stop: CancellationToken,
) -> Result<(), ServeError> {
    let address = listener.local_addr().ok();
    tracing::info!(address = ?address, tls = tls.is_some(), "redfish listener started");
    metal_guard::serve(
        listener,
        facade::Dropper(app),
        tls.map(|identity| identity.rustls().get_inner()),
        metal_guard::Limits::default(),
        stop.cancelled_owned(),
        Some(GRACE),
    )
    .await
    .map_err(|source| ServeError::Server { address, source })
}
