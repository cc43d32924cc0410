//! A mocked Kubernetes API server for reconciler tests: an axum app on 127.0.0.1 that keeps
//! objects in memory, answers the handful of verbs the operator uses (list/watch/get/create/
//! replace/patch on objects and `/status`), enforces `resourceVersion` on replace, honours
//! finalizers and deletion, and records every request so tests can assert on the exact calls.

#![allow(dead_code)]

pub mod claims;
pub mod provisioner;
pub mod world;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use metal_testkit::wait::{Check, Wait};
use serde_json::{Value, json};
use tokio::sync::broadcast;

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: String,
    pub body: String,
}

type Key = (String, String, String); // (resource, namespace, name)

#[derive(Clone, Debug)]
struct Change {
    rv: u64,
    resource: String,
    namespace: String,
    line: String,
}

#[derive(Default)]
struct Store {
    objects: BTreeMap<Key, Value>,
    rv: u64,
    uid: u64,
    log: Vec<Change>,
    requests: Vec<Recorded>,
    /// One-shot failures: (method, path fragment, status code).
    injected: Vec<(String, String, u16)>,
    /// One-shot concurrent writes: before the next (method, path fragment) request is served, this
    /// change lands on (resource, namespace, name), as another client's write would.
    interleaved: Vec<Interleaved>,
}

/// A write another client makes just before a matching request is served.
struct Interleaved {
    method: String,
    path_part: String,
    key: (String, String, String),
    change: Box<dyn FnOnce(&mut Value) + Send>,
}

/// The mocked API server. Clone freely; all clones share one store.
#[derive(Clone)]
pub struct FakeApiServer {
    store: Arc<Mutex<Store>>,
    changes: broadcast::Sender<Change>,
    /// Watch streams being served now, per namespace ("" for cluster-wide watches).
    watching: Arc<Mutex<BTreeMap<String, usize>>>,
    pub url: String,
}

/// Counts one open watch stream; dropped with the stream, which the server drops when the
/// client's connection closes.
struct WatchGuard {
    watching: Arc<Mutex<BTreeMap<String, usize>>>,
    namespace: String,
}

impl WatchGuard {
    fn new(watching: &Arc<Mutex<BTreeMap<String, usize>>>, namespace: &str) -> Self {
        *watching
            .lock()
            .unwrap()
            .entry(namespace.to_owned())
            .or_default() += 1;
        Self {
            watching: Arc::clone(watching),
            namespace: namespace.to_owned(),
        }
    }
}

impl Drop for WatchGuard {
    fn drop(&mut self) {
        let mut watching = self.watching.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = watching.get_mut(&self.namespace) {
            *n = n.saturating_sub(1);
        }
    }
}

struct Target {
    resource: String,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
}

fn parse_path(path: &str) -> Option<Target> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let rest = match segs.first() {
        Some(&"api") => segs.get(2..)?,
        Some(&"apis") => segs.get(3..)?,
        _ => return None,
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, tail @ ..] if !tail.is_empty() => (Some((*ns).to_owned()), tail),
        other => (None, other),
    };
    Some(Target {
        resource: (*rest.first()?).to_owned(),
        name: rest.get(1).map(|s| (*s).to_owned()),
        subresource: rest.get(2).map(|s| (*s).to_owned()),
        namespace,
    })
}

fn query_param(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| url_decode(v))
    })
}

fn url_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                if let Ok(b) = u8::from_str_radix(hex, 16) {
                    out.push(b);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn labels_match(obj: &Value, selector: Option<&str>) -> bool {
    let Some(selector) = selector.filter(|s| !s.is_empty()) else {
        return true;
    };
    selector.split(',').all(|req| match req.split_once('=') {
        Some((k, v)) => obj["metadata"]["labels"][k.trim_end_matches('=')].as_str() == Some(v),
        None => !obj["metadata"]["labels"][req].is_null(),
    })
}

/// RFC 7386 merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(map) => {
            if !target.is_object() {
                *target = json!({});
            }
            let obj = target.as_object_mut().expect("object");
            for (k, v) in map {
                if v.is_null() {
                    obj.remove(k);
                } else {
                    merge_patch(obj.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

fn status(code: u16, reason: &str, message: &str) -> Response {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code,
    });
    (
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        axum::Json(body),
    )
        .into_response()
}

fn kind_of(resource: &str) -> (&'static str, &'static str) {
    match resource {
        "baremetalhosts" => ("metal3.io/v1alpha1", "BareMetalHost"),
        "hardwaredata" => ("metal3.io/v1alpha1", "HardwareData"),
        "secrets" => ("v1", "Secret"),
        "events" => ("events.k8s.io/v1", "Event"),
        "leases" => ("coordination.k8s.io/v1", "Lease"),
        _ => ("v1", "Unknown"),
    }
}

/// Resources whose `status` is only writable through `/status`.
fn has_status_subresource(resource: &str) -> bool {
    matches!(resource, "baremetalhosts" | "hardwaredata")
}

impl Store {
    fn bump(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    fn emit(
        &mut self,
        tx: &broadcast::Sender<Change>,
        kind: &str,
        resource: &str,
        obj: &Value,
        rv: u64,
    ) {
        let namespace = obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        let line = json!({"type": kind, "object": obj}).to_string();
        let change = Change {
            rv,
            resource: resource.to_owned(),
            namespace,
            line,
        };
        self.log.push(change.clone());
        let _ = tx.send(change);
    }

    /// Stores `obj` (new resourceVersion), emitting ADDED/MODIFIED, or DELETED when a deleted
    /// object has lost its last finalizer.
    fn put(&mut self, tx: &broadcast::Sender<Change>, resource: &str, mut obj: Value) -> Value {
        let ns = obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        let name = obj["metadata"]["name"].as_str().unwrap_or("").to_owned();
        let key = (resource.to_owned(), ns, name);
        let existed = self.objects.contains_key(&key);
        if !existed {
            self.uid += 1;
            let uid = format!("00000000-0000-4000-8000-{:012}", self.uid);
            obj["metadata"]["uid"] = json!(uid);
            obj["metadata"]["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
        }
        let (api_version, kind) = kind_of(resource);
        obj["apiVersion"] = json!(api_version);
        obj["kind"] = json!(kind);
        // As kube-apiserver: a write that changes nothing keeps the resourceVersion and sends no
        // watch event (two controllers putting the same label on a Secret bump it once).
        if let Some(stored) = self.objects.get(&key) {
            let mut unchanged = obj.clone();
            unchanged["metadata"]["resourceVersion"] =
                stored["metadata"]["resourceVersion"].clone();
            unchanged["metadata"]["uid"] = stored["metadata"]["uid"].clone();
            unchanged["metadata"]["creationTimestamp"] =
                stored["metadata"]["creationTimestamp"].clone();
            if &unchanged == stored {
                return unchanged;
            }
        }
        let rv = self.bump();
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        let finalizers_empty = obj["metadata"]["finalizers"]
            .as_array()
            .is_none_or(|f| f.is_empty());
        if !obj["metadata"]["deletionTimestamp"].is_null() && finalizers_empty {
            self.objects.remove(&key);
            self.emit(tx, "DELETED", resource, &obj, rv);
        } else {
            self.objects.insert(key, obj.clone());
            self.emit(
                tx,
                if existed { "MODIFIED" } else { "ADDED" },
                resource,
                &obj,
                rv,
            );
        }
        obj
    }
}

impl FakeApiServer {
    /// Binds 127.0.0.1:0 and serves until the test's runtime ends.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let (changes, _) = broadcast::channel(4096);
        let server = Self {
            store: Arc::new(Mutex::new(Store::default())),
            changes,
            watching: Arc::default(),
            url: format!("http://{addr}"),
        };
        let app = Router::new().fallback(handle).with_state(server.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        server
    }

    /// A kube client talking to this server.
    pub fn client(&self) -> kube::Client {
        let config = kube::Config::new(self.url.parse().expect("server url"));
        kube::Client::try_from(config).expect("kube client")
    }

    /// Creates or replaces an object directly (as `kubectl apply` would), emitting a watch event.
    pub fn upsert(&self, resource: &str, obj: Value) -> Value {
        let mut store = self.store.lock().unwrap();
        store.put(&self.changes, resource, obj)
    }

    pub fn get(&self, resource: &str, namespace: &str, name: &str) -> Option<Value> {
        let store = self.store.lock().unwrap();
        store
            .objects
            .get(&(resource.to_owned(), namespace.to_owned(), name.to_owned()))
            .cloned()
    }

    /// Applies `f` to a stored object and stores the result, emitting MODIFIED.
    pub fn modify(&self, resource: &str, namespace: &str, name: &str, f: impl FnOnce(&mut Value)) {
        let mut store = self.store.lock().unwrap();
        let key = (resource.to_owned(), namespace.to_owned(), name.to_owned());
        let mut obj = store
            .objects
            .get(&key)
            .cloned()
            .expect("object to modify exists");
        f(&mut obj);
        store.put(&self.changes, resource, obj);
    }

    /// `kubectl delete`: sets the deletionTimestamp (or removes the object without finalizers).
    pub fn delete(&self, resource: &str, namespace: &str, name: &str) {
        self.modify(resource, namespace, name, |o| {
            o["metadata"]["deletionTimestamp"] = json!("2026-01-01T01:00:00Z");
        });
    }

    /// Removes an object without a watch event: a deletion the controller's watch has not
    /// delivered yet (its cache still holds the object).
    pub fn remove_unseen(&self, resource: &str, namespace: &str, name: &str) {
        let mut store = self.store.lock().unwrap();
        store
            .objects
            .remove(&(resource.to_owned(), namespace.to_owned(), name.to_owned()));
    }

    /// Just before the next `method` request whose path contains `path_part` is served, applies
    /// `change` to the stored object (new resourceVersion, MODIFIED event): another controller's
    /// write landing between the operator's read and its write.
    pub fn interleave_next(
        &self,
        method: &str,
        path_part: &str,
        (resource, namespace, name): (&str, &str, &str),
        change: impl FnOnce(&mut Value) + Send + 'static,
    ) {
        self.store.lock().unwrap().interleaved.push(Interleaved {
            method: method.to_owned(),
            path_part: path_part.to_owned(),
            key: (resource.to_owned(), namespace.to_owned(), name.to_owned()),
            change: Box::new(change),
        });
    }

    /// Makes the next `method` request whose path contains `path_part` fail with `code`.
    pub fn fail_next(&self, method: &str, path_part: &str, code: u16) {
        self.store
            .lock()
            .unwrap()
            .injected
            .push((method.to_owned(), path_part.to_owned(), code));
    }

    /// How many watch streams in `namespace` ("" for cluster-wide ones) the server is serving
    /// now. A watch ends when its client's connection closes, so this falls to zero once a
    /// controller watching that namespace has stopped.
    pub fn open_watches(&self, namespace: &str) -> usize {
        self.watching
            .lock()
            .unwrap()
            .get(namespace)
            .copied()
            .unwrap_or(0)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.store.lock().unwrap().requests.clone()
    }

    /// Every object of a resource kind (e.g. all Events).
    pub fn list(&self, resource: &str) -> Vec<Value> {
        let store = self.store.lock().unwrap();
        store
            .objects
            .iter()
            .filter(|(k, _)| k.0 == resource)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Polls until `pred` holds, for at most `timeout`; returns whether it held.
    pub async fn wait_until(&self, timeout: Duration, mut pred: impl FnMut(&Self) -> bool) -> bool {
        Wait::new("a condition on the fake API server", timeout)
            .every(Duration::from_millis(10))
            .until(|| Check::from(pred(self)))
            .await
            .is_ok()
    }
}

async fn handle(State(server): State<FakeApiServer>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let headers: HeaderMap = req.headers().clone();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body: Bytes = match axum::body::to_bytes(req.into_body(), 16 << 20).await {
        Ok(b) => b,
        Err(_) => return status(400, "BadRequest", "unreadable body"),
    };
    server.store.lock().unwrap().requests.push(Recorded {
        method: method.to_string(),
        path: path.clone(),
        query: query.clone(),
        content_type: content_type.clone(),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let interleaved = {
        let mut store = server.store.lock().unwrap();
        let hit = store
            .interleaved
            .iter()
            .position(|i| i.method == method.as_str() && path.contains(i.path_part.as_str()));
        hit.map(|i| store.interleaved.remove(i))
    };
    if let Some(i) = interleaved {
        let (resource, namespace, name) = &i.key;
        server.modify(resource, namespace, name, i.change);
    }
    let injected = {
        let mut store = server.store.lock().unwrap();
        let hit = store
            .injected
            .iter()
            .position(|(m, p, _)| *m == method.as_str() && path.contains(p.as_str()));
        hit.map(|i| store.injected.remove(i).2)
    };
    if let Some(code) = injected {
        let reason = if code == 409 {
            "Conflict"
        } else {
            "InternalError"
        };
        return status(code, reason, "injected failure");
    }
    let Some(target) = parse_path(&path) else {
        return status(404, "NotFound", &format!("no route for {path}"));
    };
    let body_json: Option<Value> = if body.is_empty() {
        None
    } else {
        serde_json::from_slice(&body).ok()
    };
    match (method, target.name.as_deref()) {
        (Method::GET, None) if query_param(&query, "watch").as_deref() == Some("true") => {
            watch(server, target, &query)
        }
        (Method::GET, None) => list(&server, &target, &query),
        (Method::GET, Some(name)) => {
            let ns = target.namespace.clone().unwrap_or_default();
            match server.get(&target.resource, &ns, name) {
                Some(obj) => axum::Json(obj).into_response(),
                None => status(
                    404,
                    "NotFound",
                    &format!("{} \"{name}\" not found", target.resource),
                ),
            }
        }
        (Method::POST, None) => {
            let Some(mut obj) = body_json else {
                return status(400, "BadRequest", "no body");
            };
            let ns = target.namespace.clone().unwrap_or_default();
            obj["metadata"]["namespace"] = json!(ns);
            let name = obj["metadata"]["name"].as_str().unwrap_or("").to_owned();
            let mut store = server.store.lock().unwrap();
            if store
                .objects
                .contains_key(&(target.resource.clone(), ns, name.clone()))
            {
                return status(
                    409,
                    "AlreadyExists",
                    &format!("{} \"{name}\" already exists", target.resource),
                );
            }
            let stored = store.put(&server.changes, &target.resource, obj);
            (StatusCode::CREATED, axum::Json(stored)).into_response()
        }
        (Method::PUT, Some(name)) => {
            let Some(obj) = body_json else {
                return status(400, "BadRequest", "no body");
            };
            let ns = target.namespace.clone().unwrap_or_default();
            let key = (target.resource.clone(), ns, name.to_owned());
            let mut store = server.store.lock().unwrap();
            let Some(current) = store.objects.get(&key).cloned() else {
                return status(
                    404,
                    "NotFound",
                    &format!("{} \"{name}\" not found", target.resource),
                );
            };
            if obj["metadata"]["resourceVersion"] != current["metadata"]["resourceVersion"] {
                return status(
                    409,
                    "Conflict",
                    "the object has been modified; please apply your changes to the latest version and try again",
                );
            }
            let mut next = obj;
            next["metadata"]["uid"] = current["metadata"]["uid"].clone();
            let stored = store.put(&server.changes, &target.resource, next);
            axum::Json(stored).into_response()
        }
        (Method::PATCH, Some(name)) => {
            let Some(patch) = body_json else {
                return status(400, "BadRequest", "no body");
            };
            let ns = target.namespace.clone().unwrap_or_default();
            let key = (target.resource.clone(), ns.clone(), name.to_owned());
            let mut store = server.store.lock().unwrap();
            let apply = content_type.starts_with("application/apply-patch");
            let current = match store.objects.get(&key).cloned() {
                Some(c) => c,
                None if apply => json!({"metadata": {"name": name, "namespace": ns}}),
                None => {
                    return status(
                        404,
                        "NotFound",
                        &format!("{} \"{name}\" not found", target.resource),
                    );
                }
            };
            if content_type.starts_with("application/json-patch") {
                // RFC 6902 on the whole object (metadata included), as kube-apiserver applies it.
                let ops: json_patch::Patch = match serde_json::from_value(patch) {
                    Ok(ops) => ops,
                    Err(e) => return status(400, "BadRequest", &e.to_string()),
                };
                let mut next = current.clone();
                if let Err(e) = json_patch::patch(&mut next, &ops) {
                    return status(422, "Invalid", &e.to_string());
                }
                let stored = store.put(&server.changes, &target.resource, next);
                return axum::Json(stored).into_response();
            }
            // A resourceVersion in a merge patch is a precondition, as kube-apiserver has it.
            if let Some(rv) = patch["metadata"]["resourceVersion"].as_str()
                && current["metadata"]["resourceVersion"].as_str() != Some(rv)
            {
                return status(
                    409,
                    "Conflict",
                    "the object has been modified; please apply your changes to the latest version and try again",
                );
            }
            let mut next = current.clone();
            let subresource_status = target.subresource.as_deref() == Some("status");
            if subresource_status {
                if let Some(s) = patch.get("status") {
                    merge_patch(&mut next["status"], s);
                }
            } else {
                let mut patch = patch;
                if has_status_subresource(&target.resource)
                    && let Some(map) = patch.as_object_mut()
                {
                    map.remove("status");
                }
                merge_patch(&mut next, &patch);
            }
            let stored = store.put(&server.changes, &target.resource, next);
            axum::Json(stored).into_response()
        }
        (Method::DELETE, Some(name)) => {
            let ns = target.namespace.clone().unwrap_or_default();
            if server.get(&target.resource, &ns, name).is_none() {
                return status(
                    404,
                    "NotFound",
                    &format!("{} \"{name}\" not found", target.resource),
                );
            }
            server.delete(&target.resource, &ns, name);
            axum::Json(json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}))
                .into_response()
        }
        (m, _) => status(
            405,
            "MethodNotAllowed",
            &format!("{m} not served by this fake"),
        ),
    }
}

fn list(server: &FakeApiServer, target: &Target, query: &str) -> Response {
    let selector = query_param(query, "labelSelector");
    let store = server.store.lock().unwrap();
    let items: Vec<Value> = store
        .objects
        .iter()
        .filter(|((res, ns, _), obj)| {
            *res == target.resource
                && target.namespace.as_ref().is_none_or(|want| want == ns)
                && labels_match(obj, selector.as_deref())
        })
        .map(|(_, v)| v.clone())
        .collect();
    let (api_version, kind) = kind_of(&target.resource);
    axum::Json(json!({
        "apiVersion": api_version,
        "kind": format!("{kind}List"),
        "metadata": {"resourceVersion": store.rv.to_string()},
        "items": items,
    }))
    .into_response()
}

fn watch(server: FakeApiServer, target: Target, query: &str) -> Response {
    let since: u64 = query_param(query, "resourceVersion")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let selector = query_param(query, "labelSelector");
    let rx = server.changes.subscribe();
    let guard = WatchGuard::new(
        &server.watching,
        target.namespace.as_deref().unwrap_or_default(),
    );
    let backlog: Vec<Change> = {
        let store = server.store.lock().unwrap();
        store.log.iter().filter(|c| c.rv > since).cloned().collect()
    };
    let last_backlog = backlog.last().map_or(since, |c| c.rv);
    let wanted = move |c: &Change| {
        let obj: Value = serde_json::from_str(&c.line).unwrap_or(Value::Null);
        c.resource == target.resource
            && target
                .namespace
                .as_ref()
                .is_none_or(|ns| *ns == c.namespace)
            && labels_match(&obj["object"], selector.as_deref())
    };
    let wanted_live = wanted.clone();
    let backlog = futures::stream::iter(backlog.into_iter().filter(wanted));
    let live = tokio_stream_from(rx).filter(move |c| {
        let keep = c.rv > last_backlog && wanted_live(c);
        async move { keep }
    });
    let lines = backlog.chain(live).map(move |c| {
        // The guard lives as long as the stream: it counts the watch until the client is gone.
        let _open = &guard;
        Ok::<_, std::io::Error>(Bytes::from(format!("{}\n", c.line)))
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(lines))
        .unwrap_or_else(|_| status(500, "InternalError", "watch"))
}

fn tokio_stream_from(
    rx: broadcast::Receiver<Change>,
) -> impl futures::Stream<Item = Change> + Send {
    futures::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(c) => return Some((c, rx)),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
}
