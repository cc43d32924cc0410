//! The wire run's eyes: watches of BareMetalHosts, HostClaims, HostPools and Events on the control
//! plane, the mock Ironic's request journal, and the fleet's machine events, all turned into trace
//! events stamped with the fleet's clock, plus the latest view of every host for waits and the
//! live table.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use kube::api::{Api, DynamicObject};
use kube::runtime::watcher::{self, Event};
use serde_json::Value;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::stack::{Stack, bmh_resource, claim_resource, core_resource, pool_resource};
use metal_scenario::trace::{CallKind, Happening, MachineChange, Protocol, Trace, TraceLine};
use metal_sim::machine::{BootOutcome, MachineEvent, PowerState, SimClock, SimTime};

/// What the latest watch event says about one host (the columns of `kubectl get bmh` and more).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostRow {
    /// `status.provisioning.state`.
    pub state: String,
    /// `status.operationalStatus`.
    pub operational_status: String,
    /// `status.errorType`.
    pub error_type: Option<String>,
    /// `status.errorCount`.
    pub error_count: u32,
    /// `status.poweredOn`.
    pub powered_on: Option<bool>,
    /// `spec.online`.
    pub online: bool,
    /// `spec.consumerRef.name`.
    pub consumer: Option<String>,
    /// The detached annotation is set.
    pub detached: bool,
    /// `inspect.metal3.io: disabled`.
    pub inspection_disabled: bool,
    /// `spec.externallyProvisioned`.
    pub externally_provisioned: bool,
    /// When the watch first saw it.
    pub created: SimTime,
    /// Deleted.
    pub gone: bool,
}

impl HostRow {
    fn facts(&self) -> (bool, bool, bool, bool, Option<String>) {
        (
            self.online,
            self.detached,
            self.inspection_disabled,
            self.externally_provisioned,
            self.consumer.clone(),
        )
    }

    fn status(&self) -> (String, Option<String>, u32, Option<bool>) {
        (
            self.operational_status.clone(),
            self.error_type.clone(),
            self.error_count,
            self.powered_on,
        )
    }
}

#[derive(Default)]
struct Inner {
    trace: Trace,
    hosts: BTreeMap<String, HostRow>,
    claims: BTreeMap<String, Option<String>>,
    /// Claim name → the reason of its `Bound` condition.
    claim_reasons: BTreeMap<String, String>,
    pools: BTreeMap<String, (u32, u32)>,
    nodes: BTreeMap<String, String>,
    last_action: BTreeMap<String, String>,
    step: String,
    events_seen: BTreeMap<String, i64>,
    bootable: BTreeMap<String, BTreeSet<String>>,
    journal_next: u64,
    journal_lost: u64,
    shown: Vec<TraceLine>,
}

impl Inner {
    /// Appends an event at `t`; the kinds the live display prints are also kept aside, so that
    /// the display reads only what is new instead of copying the whole trace.
    fn push(&mut self, t: SimTime, what: Happening) {
        if shown_live(&what) {
            self.shown.push(TraceLine {
                t: t.max(self.trace.end()),
                what: what.clone(),
            });
        }
        self.trace.push(t, what);
    }
}

/// Whether the live display prints this kind of event: steps, state changes, failures (all
/// appended at their instant, never inserted late like journal calls).
pub fn shown_live(what: &Happening) -> bool {
    matches!(
        what,
        Happening::Step { .. } | Happening::HostState { .. } | Happening::StepFailed { .. }
    )
}

/// The shared record of a wire run.
pub struct Recorder {
    clock: SimClock,
    utc_start: DateTime<Utc>,
    namespace: String,
    inner: Mutex<Inner>,
}

/// The object's resourceVersion as a number (both the embedded control plane and etcd count one
/// revision for every write), if it has one.
fn revision(obj: &DynamicObject) -> Option<u64> {
    obj.metadata.resource_version.as_deref()?.parse().ok()
}

fn text(v: &Value, pointer: &str) -> String {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

impl Recorder {
    /// A recorder stamping events with `clock`; `utc_start` is the wall time at the clock's start
    /// (to place the mock Ironic's journal times).
    pub fn new(clock: SimClock, utc_start: DateTime<Utc>, namespace: &str) -> Arc<Recorder> {
        Arc::new(Recorder {
            clock,
            utc_start,
            namespace: namespace.to_string(),
            inner: Mutex::new(Inner::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent data (every update is one push).
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Now, on the fleet's clock.
    pub fn now(&self) -> SimTime {
        self.clock.now()
    }

    /// Appends an event at now.
    pub fn push(&self, what: Happening) {
        let now = self.now();
        self.lock().push(now, what);
    }

    /// Notes the step being played (the cause of what follows).
    pub fn set_step(&self, step: String) {
        self.lock().step = step;
    }

    /// A copy of the trace so far.
    pub fn trace(&self) -> Trace {
        self.lock().trace.clone()
    }

    /// The events the live display prints ([`shown_live`]), from the `seen`-th on.
    pub fn shown_since(&self, seen: usize) -> Vec<TraceLine> {
        self.lock().shown.get(seen..).unwrap_or_default().to_vec()
    }

    /// The latest view of every host seen.
    pub fn hosts(&self) -> BTreeMap<String, HostRow> {
        self.lock().hosts.clone()
    }

    /// Claim name → bound host.
    pub fn claims(&self) -> BTreeMap<String, Option<String>> {
        self.lock().claims.clone()
    }

    /// Claim name → the reason of its `Bound` condition, for the claims that have one.
    pub fn claim_reasons(&self) -> BTreeMap<String, String> {
        self.lock().claim_reasons.clone()
    }

    /// Pool name → (replicas, ready).
    pub fn pools(&self) -> BTreeMap<String, (u32, u32)> {
        self.lock().pools.clone()
    }

    /// Journal entries that were dropped before they could be read (the ring overflowed).
    pub fn journal_lost(&self) -> u64 {
        self.lock().journal_lost
    }

    fn observe_host(&self, obj: &DynamicObject, deleted: bool) {
        let Some(name) = obj.metadata.name.clone() else {
            return;
        };
        let now = self.now();
        let v = &obj.data;
        let annotations = obj.metadata.annotations.clone().unwrap_or_default();
        let mut g = self.lock();
        let id = text(v, "/status/provisioning/ID");
        if !id.is_empty() {
            g.nodes.insert(id, name.clone());
        }
        let previous = g.hosts.get(&name).cloned();
        if deleted {
            if previous.as_ref().is_some_and(|p| !p.gone) {
                if let Some(h) = g.hosts.get_mut(&name) {
                    h.gone = true;
                }
                g.push(now, Happening::HostGone { host: name });
            }
            return;
        }
        let view = HostRow {
            state: text(v, "/status/provisioning/state"),
            operational_status: text(v, "/status/operationalStatus"),
            error_type: Some(text(v, "/status/errorType")).filter(|s| !s.is_empty()),
            error_count: v
                .pointer("/status/errorCount")
                .and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(0),
            powered_on: v.pointer("/status/poweredOn").and_then(Value::as_bool),
            online: v
                .pointer("/spec/online")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            consumer: Some(text(v, "/spec/consumerRef/name")).filter(|s| !s.is_empty()),
            detached: annotations.contains_key(metal_operator::api::annotations::DETACHED),
            inspection_disabled: annotations
                .get(metal_operator::api::annotations::INSPECT)
                .is_some_and(|a| a == metal_operator::api::annotations::INSPECT_DISABLED),
            externally_provisioned: v
                .pointer("/spec/externallyProvisioned")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            created: previous
                .as_ref()
                .filter(|p| !p.gone)
                .map_or(now, |p| p.created),
            gone: false,
        };
        let before = previous.filter(|p| !p.gone).unwrap_or_default();
        if before.facts() != view.facts() {
            let (online, detached, inspection_disabled, externally_provisioned, consumer) =
                view.facts();
            g.push(
                now,
                Happening::HostFacts {
                    host: name.clone(),
                    online,
                    detached,
                    inspection_disabled,
                    externally_provisioned,
                    consumer,
                },
            );
        }
        if before.status() != view.status() {
            g.push(
                now,
                Happening::HostStatus {
                    host: name.clone(),
                    operational_status: view.operational_status.clone(),
                    error_type: view.error_type.clone(),
                    error_count: view.error_count,
                    powered_on: view.powered_on,
                },
            );
        }
        if before.state != view.state && !view.state.is_empty() {
            let cause = match g.last_action.get(&name) {
                Some(a) => format!("{}; after Ironic {a}", g.step),
                None => g.step.clone(),
            };
            g.push(
                now,
                Happening::HostState {
                    host: name.clone(),
                    from: before.state.clone(),
                    to: view.state.clone(),
                    cause,
                    revision: revision(obj),
                },
            );
        }
        g.hosts.insert(name, view);
    }

    fn observe_claim(&self, obj: &DynamicObject, deleted: bool) {
        let Some(name) = obj.metadata.name.clone() else {
            return;
        };
        let host = if deleted {
            None
        } else {
            Some(text(&obj.data, "/status/bareMetalHost/name")).filter(|s| !s.is_empty())
        };
        let now = self.now();
        let mut g = self.lock();
        let before = g.claims.get(&name).cloned().flatten();
        if before != host {
            g.push(
                now,
                Happening::Claim {
                    claim: name.clone(),
                    host: host.clone(),
                    revision: revision(obj),
                },
            );
        }
        let reason = obj
            .data
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|all| {
                all.iter()
                    .find(|c| c.get("type").and_then(Value::as_str) == Some("Bound"))
            })
            .map(|c| text(c, "/reason"));
        match reason.filter(|_| !deleted) {
            Some(r) => g.claim_reasons.insert(name.clone(), r),
            None => g.claim_reasons.remove(&name),
        };
        if deleted {
            g.claims.remove(&name);
        } else {
            g.claims.insert(name, host);
        }
    }

    fn observe_pool(&self, obj: &DynamicObject, deleted: bool) {
        let Some(name) = obj.metadata.name.clone() else {
            return;
        };
        let num = |p: &str| {
            obj.data
                .pointer(p)
                .and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(0)
        };
        let counts = (num("/spec/replicas"), num("/status/readyReplicas"));
        let now = self.now();
        let mut g = self.lock();
        if deleted {
            g.pools.remove(&name);
            return;
        }
        if g.pools.get(&name) != Some(&counts) {
            g.push(
                now,
                Happening::Pool {
                    pool: name.clone(),
                    replicas: counts.0,
                    ready: counts.1,
                },
            );
            g.pools.insert(name, counts);
        }
    }

    fn observe_event(&self, obj: &DynamicObject) {
        let uid = obj.metadata.uid.clone().unwrap_or_default();
        let v = &obj.data;
        let count = v.get("count").and_then(Value::as_i64).unwrap_or(1);
        let kind = text(v, "/involvedObject/kind");
        let object_name = text(v, "/involvedObject/name");
        let now = self.now();
        let mut g = self.lock();
        if g.events_seen.get(&uid).is_some_and(|seen| *seen >= count) {
            return;
        }
        g.events_seen.insert(uid, count);
        let host = (kind == "BareMetalHost").then(|| object_name.clone());
        g.push(
            now,
            Happening::Event {
                host,
                object: format!("{kind}/{object_name}"),
                reason: text(v, "/reason"),
                event_type: text(v, "/type"),
                message: text(v, "/message"),
            },
        );
    }

    fn observe_machine(&self, host: &str, event: &MachineEvent) {
        let now = self.now();
        let mut g = self.lock();
        let change = match event {
            MachineEvent::PowerChanged {
                to: PowerState::On, ..
            } => Some(MachineChange::PoweredOn),
            MachineEvent::PowerChanged {
                to: PowerState::Off,
                ..
            } => Some(MachineChange::PoweredOff),
            MachineEvent::Booted { record } => match record.outcome {
                BootOutcome::Ramdisk { .. } => Some(MachineChange::BootedRamdisk),
                BootOutcome::Disk { .. } => Some(MachineChange::BootedDisk),
                _ => None,
            },
            MachineEvent::DiskChanged { disk, bootable, .. } => {
                let set = g.bootable.entry(host.to_string()).or_default();
                if *bootable {
                    set.insert(disk.clone());
                    Some(MachineChange::ImageWritten)
                } else if set.remove(disk) {
                    Some(MachineChange::DisksWiped)
                } else {
                    None
                }
            }
            _ => None,
        };
        if let Some(change) = change {
            g.push(
                now,
                Happening::Machine {
                    host: host.to_string(),
                    change,
                },
            );
        }
    }

    /// Records the journal entries not seen yet; `first` numbers the first of `requests` (the
    /// entries before it that were never read were pushed out of the mock's ring: counted as lost).
    fn observe_journal(&self, first: u64, requests: &[Value]) {
        let mut g = self.lock();
        if g.journal_next < first {
            g.journal_lost += first - g.journal_next;
            g.journal_next = first;
        }
        let skip = usize::try_from(g.journal_next - first).unwrap_or(usize::MAX);
        let prefix = format!("{}~", self.namespace);
        for r in requests.iter().skip(skip) {
            g.journal_next += 1;
            let method = text(r, "/method");
            let path = text(r, "/path");
            let target = text(r, "/target");
            let status = r
                .get("status")
                .and_then(Value::as_u64)
                .and_then(|s| u16::try_from(s).ok());
            let t = r
                .get("time")
                .and_then(Value::as_str)
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .and_then(|at| (at.with_timezone(&Utc) - self.utc_start).to_std().ok())
                .map_or_else(|| self.now(), SimTime::from_duration);
            let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
            let ident = match segments.as_slice() {
                ["v1", "nodes", id, ..] | ["v1", "heartbeat", id] => Some(*id),
                _ => None,
            };
            // The node's name (`namespace~host`) the mock recorded ties node creations, and
            // requests to a node whose ID no host status shows yet (a node created again after
            // Ironic lost its database), to their host; else the ID a host status showed.
            let named = r
                .get("node")
                .and_then(Value::as_str)
                .and_then(|n| n.strip_prefix(&prefix))
                .map(str::to_string);
            let host = named.or_else(|| {
                ident.and_then(|id| {
                    g.nodes
                        .get(id)
                        .cloned()
                        .or_else(|| id.strip_prefix(&prefix).map(str::to_string))
                })
            });
            let action = match (method.as_str(), segments.as_slice()) {
                ("POST", ["v1", "nodes"]) => Some(CallKind::Enroll),
                ("DELETE", ["v1", "nodes", _]) => Some(CallKind::DeleteNode),
                ("PUT", ["v1", "nodes", _, "states", "provision"]) => match target.as_str() {
                    "manage" => Some(CallKind::Manage),
                    "inspect" => Some(CallKind::Inspect),
                    "provide" => Some(CallKind::Provide),
                    "active" | "rebuild" => Some(CallKind::Deploy),
                    "deleted" | "undeploy" => Some(CallKind::Undeploy),
                    "clean" => Some(CallKind::Clean),
                    "adopt" => Some(CallKind::Adopt),
                    "abort" => Some(CallKind::Abort),
                    _ => None,
                },
                _ => None,
            };
            if let (Some(h), Some(a)) = (&host, action)
                && status.is_some_and(|s| s < 300)
            {
                g.last_action.insert(h.clone(), a.as_str().to_string());
            }
            let target = if target.is_empty() {
                path
            } else {
                format!("{path} target={target}")
            };
            g.trace.insert(
                t,
                Happening::Call {
                    host,
                    protocol: Protocol::Ironic,
                    method,
                    target,
                    status,
                    action,
                    detail: None,
                },
            );
        }
    }
}

/// How often the mock Ironic's journal is read.
const JOURNAL_POLL: Duration = Duration::from_millis(200);

/// Starts every observer; they stop when `stop` is cancelled.
pub fn spawn(stack: &Stack, recorder: &Arc<Recorder>, stop: &CancellationToken) -> JoinSet<()> {
    let mut tasks = JoinSet::new();
    let ns = recorder.namespace.clone();
    type Observe = fn(&Recorder, &DynamicObject, bool);
    let watches: [(kube::core::ApiResource, Observe, bool); 3] = [
        (bmh_resource(), Recorder::observe_host, true),
        (claim_resource(), Recorder::observe_claim, stack.claims),
        (pool_resource(), Recorder::observe_pool, stack.pools),
    ];
    // Claims and pools only when the control plane serves them (upstream's CRDs have no pools).
    for (resource, observe, _) in watches.into_iter().filter(|w| w.2) {
        let api: Api<DynamicObject> = Api::namespaced_with(stack.client.clone(), &ns, &resource);
        let (rec, stop) = (Arc::clone(recorder), stop.clone());
        tasks.spawn(async move {
            let mut stream = watcher::watcher(api, watcher::Config::default()).boxed();
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    next = stream.next() => match next {
                        Some(Ok(Event::Apply(o) | Event::InitApply(o))) => observe(&rec, &o, false),
                        Some(Ok(Event::Delete(o))) => observe(&rec, &o, true),
                        Some(Ok(_)) => {}
                        Some(Err(e)) => {
                            tracing::debug!(error = %e, "watch error; the watcher retries");
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                        None => return,
                    }
                }
            }
        });
    }
    {
        let api: Api<DynamicObject> =
            Api::namespaced_with(stack.client.clone(), &ns, &core_resource("Event", "events"));
        let (rec, stop) = (Arc::clone(recorder), stop.clone());
        tasks.spawn(async move {
            let mut stream = watcher::watcher(api, watcher::Config::default()).boxed();
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    next = stream.next() => match next {
                        Some(Ok(Event::Apply(o) | Event::InitApply(o))) => rec.observe_event(&o),
                        Some(Ok(_)) => {}
                        Some(Err(_)) => tokio::time::sleep(Duration::from_millis(200)).await,
                        None => return,
                    }
                }
            }
        });
    }
    {
        let mut events = stack.world().subscribe();
        let (rec, stop) = (Arc::clone(recorder), stop.clone());
        tasks.spawn(async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    e = events.recv() => match e {
                        Ok(e) => rec.observe_machine(&e.name, &e.event),
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                            tracing::warn!(missed = n, "machine events lagged");
                        }
                        Err(_) => return,
                    }
                }
            }
        });
    }
    if stack.mock_ironic {
        let url = format!("{}/_sim/requests", stack.ironic_url.trim_end_matches('/'));
        let (rec, stop) = (Arc::clone(recorder), stop.clone());
        tasks.spawn(async move {
            let Ok(http) = reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .no_proxy()
                .build()
            else {
                return;
            };
            loop {
                poll_journal(&http, &url, &rec).await;
                tokio::select! {
                    () = stop.cancelled() => {
                        // One last read so the trace ends with everything the mock answered.
                        poll_journal(&http, &url, &rec).await;
                        return;
                    }
                    () = tokio::time::sleep(JOURNAL_POLL) => {}
                }
            }
        });
    }
    tasks
}

/// Reads the journal entries not seen yet (`?since=`), so each poll costs what is new.
async fn poll_journal(http: &reqwest::Client, url: &str, rec: &Recorder) {
    let since = rec.lock().journal_next;
    let Ok(resp) = http.get(format!("{url}?since={since}")).send().await else {
        return;
    };
    let Ok(body) = resp.json::<Value>().await else {
        return;
    };
    let dropped = body.get("dropped").and_then(Value::as_u64).unwrap_or(0);
    let first = body.get("first").and_then(Value::as_u64).unwrap_or(dropped);
    if let Some(requests) = body.get("requests").and_then(Value::as_array) {
        rec.observe_journal(first, requests);
    }
}

#[cfg(test)]
mod tests;
