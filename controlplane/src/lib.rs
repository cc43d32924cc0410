//! metal-controlplane: an embedded Kubernetes-compatible API server used as a test double of the
//! Kubernetes REST API, never a production target. It serves discovery, CRDs with structural
//! schemas, the built-in kinds our operator and manifests use, list/watch, patches and Table
//! output over HTTPS on loopback; `metal-sim controlplane` runs it alone, `metal-sim serve
//! --controlplane` next to a fleet, and the scenario runner in-process.
//!
//! Deliberate simplifications (`docs/controlplane-differences.md` lists each difference from
//! kube-apiserver that `tests/controlplane_differential.rs` finds, with its reason): strategic
//! merge patches are applied as JSON merge patches (lists are replaced, `$` directives dropped;
//! custom resources refuse them with 415, as real servers do); server-side apply tracks field
//! ownership per manager with lists as atomic fields (`fields`); list pages read the live state
//! (continue tokens are positions, not snapshots) and lists ignore older `resourceVersion`s;
//! owner-reference garbage collection runs synchronously when the owner is removed (`Orphan` and
//! `Foreground` mark the owner with the collector's finalizer first); protobuf request bodies are
//! accepted only for Namespace, Secret and ConfigMap (kubectl's create generators), responses are
//! always JSON. Not served: authorization (any holder of the bearer token is admin), admission and
//! conversion webhooks, aggregated discovery (kubectl falls back to the legacy documents), OpenAPI
//! v2, Pods and other kinds not listed in `builtin`. Snapshots keep objects, not watch history.

/// What every write passes before it is stored: kind and version, shape rules, schemas.
pub mod admission;
/// The HTTP surface (axum): bearer-token authentication and the resource paths with their verbs.
pub mod api;
/// The built-in kinds the operator and our manifests use, with their shape checks.
pub mod builtin;
/// The arguments and foreground run of `metal-sim controlplane`.
pub mod cli;
/// Requests on a collection: lists (selectors, paging, Tables) and the options of a watch.
pub mod collection;
/// CustomResourceDefinitions: the resources they serve, and their schemas' pruning and validation.
pub mod crd;
/// Deletion: finalizers, namespace termination and owner-reference garbage collection.
pub mod deletion;
/// The watch-disconnect switch (a test control, not Kubernetes API): cut every open watch at once.
pub mod disconnect;
/// Discovery documents (legacy, unaggregated) and the minimal OpenAPI v3 that kubectl consults.
pub mod discovery;
/// Field ownership (`metadata.managedFields`) for server-side apply.
pub mod fields;
/// The fields a built-in kind has (a round trip through its k8s-openapi type).
pub mod known_fields;
/// Object lifecycle: create, update with optimistic concurrency, status and spec, patches.
pub mod lifecycle;
/// Patches: JSON merge patch, JSON patch, and strategic merge patch applied as a merge patch.
pub mod patch;
/// The printer columns of the built-in kinds, as kube-apiserver renders them in Tables.
pub mod printers;
/// Just enough of the Kubernetes protobuf encoding for kubectl's `create` generators.
pub mod protobuf;
/// One served resource: its names, scope, subresources, printer columns and schema.
pub mod resource;
/// The `/scale` subresource: an `autoscaling/v1` Scale view of a resource's replica paths.
pub mod scale;
/// Label and field selectors.
pub mod selector;
/// Starting and stopping: the options, the loopback-only TLS listener, a running server's handle.
pub mod server;
/// Snapshots of the store in a JSON file, written atomically and restored at start.
pub mod snapshot;
/// The state every request shares: objects, served resources, clock, seeded RNG, bearer token.
pub mod state;
/// API errors as `metav1.Status` bodies with the reasons and codes real servers use.
pub mod status;
/// In-memory objects with a global resourceVersion, and watch fan-out with a bounded history.
pub mod store;
/// `meta.k8s.io/v1` Table responses and the JSONPath subset that printer columns use.
pub mod table;
/// The server's identity: a self-signed CA, a serving certificate, a bearer token, the kubeconfig.
pub mod tls;
/// Watch streams: events from a resourceVersion or initial events, and bookmarks.
pub mod watch;

pub use cli::ControlPlaneArgs;
pub use server::{ControlPlaneError, Options, Running, start};
pub use snapshot::{SnapshotError, SnapshotSettings};
pub use state::{Clock, State};
pub use tls::Identity;
